//! A browser application with sessionkit and axum: password login with
//! rate limits, the session in two cookies, silent refresh, CSRF checks,
//! the list of the user's sessions (device, start, last activity) with
//! "sign out", "sign out everywhere" and revoking one session.
//!
//! What is left here is the glue only: the session routes, extractors and
//! cookie handling come from [`sessionkit_axum`]; the settings, store,
//! users, rate limits and page from [`app_common`], shared with the other
//! example applications.
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the page |
//! | `POST /auth/login` | `{"user_id","session_handle"}` and both cookies (or the tokens in the body with `X-Auth-Mode: header`); 401 `invalid_credentials`; 429 `rate_limited` with `Retry-After` |
//! | `GET /api/me` | `{"user_id","session_handle"}` (stateless verification) |
//! | `/auth/refresh`, `/auth/logout`, `/auth/logout-all`, `/auth/sessions`, `/.well-known/jwks.json`, `/sessionkit.js` | [`sessionkit_axum::Sessions::router`] |

use std::net::SocketAddr;

use app_common::{App, AppError, PAGE, PAGE_CSP, RunningServer, Settings};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, State};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use sessionkit_axum::{
    Login, Session, SessionRejection, Sessions, method_not_allowed, no_store, not_found,
};

/// What the handlers share.
#[derive(Clone, Debug)]
struct AppState {
    app: App,
    sessions: Sessions,
}

impl FromRef<AppState> for Sessions {
    fn from_ref(state: &AppState) -> Self {
        state.sessions.clone()
    }
}

/// The application's routes.
///
/// # Errors
/// As [`App::sessions`].
pub fn router(app: App) -> Result<Router, AppError> {
    let sessions: Sessions = app.sessions()?;
    Ok(Router::new()
        .route("/", get(page))
        .route("/auth/login", post(login))
        .route("/api/me", get(me))
        .merge(sessions.router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(no_store))
        .with_state(AppState { app, sessions }))
}

/// Serves `app` on `listener` (on the current tokio runtime) until the
/// returned server is dropped.
///
/// # Errors
/// The listener cannot be used, or a setting is invalid.
pub fn start(app: App, listener: std::net::TcpListener) -> Result<RunningServer, AppError> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let service = router(app)?.into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    Ok(RunningServer::new(addr, move || task.abort()))
}

/// Connects the configured store and serves the application until Ctrl-C.
///
/// # Errors
/// The store cannot be reached, the address cannot be bound, or a setting
/// is invalid.
pub async fn serve(settings: Settings) -> Result<(), AppError> {
    let listener = std::net::TcpListener::bind(settings.addr)?;
    let app = App::connect(settings).await?;
    let _maintenance = app.spawn_maintenance();
    let server = start(app, listener)?;
    println!("listening on {}", server.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn page() -> Response {
    ([(CONTENT_SECURITY_POLICY, PAGE_CSP)], Html(PAGE)).into_response()
}

async fn me(session: Session) -> Json<Value> {
    Json(json!({
        "user_id": session.user_id(),
        "session_handle": session.handle().to_string(),
    }))
}

/// The integration's [`Login`] has passed the CSRF check; the credentials
/// are rate-limited and checked here, then the session is created with the
/// device it was created on.
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    login: Login,
    body: Bytes,
) -> Response {
    match state.app.login_attempt(peer.ip(), &body).await {
        Ok(user_id) => {
            let device = app_common::session_data(login.user_agent());
            login
                .create(user_id)
                .session_data(device)
                .await
                .into_response()
        }
        Err(e) => SessionRejection::from(e.refusal()).into_response(),
    }
}
