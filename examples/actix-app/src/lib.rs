//! A browser application with sessionkit and actix-web: the same HTTP
//! contract, page, users and settings as `axum-app`, with the session glue
//! from `sessionkit-actix-web` and everything else from `app-common`. What
//! is left here is configuration, the login handler and the server.
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /sessionkit.js` | the browser client |
//! | `POST /auth/login` | `{"user_id","session_handle"}` and both cookies (or the tokens in the body with `X-Auth-Mode: header`); `401 invalid_credentials`, `429 rate_limited` with `Retry-After` |
//! | `GET /api/me` | `{"user_id","session_handle"}` |
//! | `POST /auth/refresh`, `POST /auth/logout`, `POST /auth/logout-all`, `GET /auth/sessions`, `DELETE /auth/sessions/{handle}`, `GET /.well-known/jwks.json` | the session routes of [`sessionkit_actix_web::Sessions::configure`] |
//!
//! Errors are `{"error": CODE}`; every answer has `Cache-Control: no-store`.
//!
//! Tests run the application in-process with [`start`]: actix-web needs a
//! runtime of its own (its `System`), so the server runs on a dedicated
//! thread and [`start`] hands back the bound address and a stop handle.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::mpsc;

use actix_web::dev::ServerHandle;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, HttpServer};
use app_common::{App, AppError, PAGE, PAGE_CSP, RunningServer, Settings};
use serde_json::json;
use sessionkit_actix_web::{
    Login, Session, SessionRejection, Sessions, method_not_allowed, no_store, not_found,
};

/// The application's routes, for `actix_web::App::configure`: the page,
/// login, `/api/me` and the session routes. Pair it with
/// [`not_found`] as the default service
/// and [`no_store`] around everything, as
/// [`start`] does.
pub fn routes(app: App, sessions: Sessions) -> impl FnOnce(&mut ServiceConfig) + 'static {
    move |config: &mut ServiceConfig| {
        config
            .app_data(web::Data::new(app))
            .configure(sessions.configure())
            .service(
                web::resource("/")
                    .route(web::get().to(page))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/auth/login")
                    .route(web::post().to(login))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/api/me")
                    .route(web::get().to(me))
                    .default_service(web::to(method_not_allowed)),
            );
    }
}

/// Serves `app` on `listener` in-process: a new thread runs an actix
/// `System` with one worker. Returns once the server is listening; it
/// stops when the returned [`RunningServer`] is dropped.
///
/// The store's connections may belong to the caller's tokio runtime: the
/// server's tasks use them from their own, which works as long as the
/// caller's runtime keeps running.
///
/// # Errors
/// [`AppError::Io`] when the listener cannot be used or the thread not
/// started; [`AppError::Config`] for an invalid allowed origin.
pub fn start(app: App, listener: TcpListener) -> Result<RunningServer, AppError> {
    let addr = listener.local_addr()?;
    let sessions: Sessions = app.sessions()?;
    let (ready, handle) = mpsc::channel::<std::io::Result<ServerHandle>>();
    let thread = std::thread::Builder::new()
        .name(format!("actix-app-{}", addr.port()))
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = match server(app, sessions, listener, 1) {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(server.handle()));
                let _ = server.await;
            });
        })?;
    let handle = handle
        .recv()
        .map_err(|_| std::io::Error::other("the server thread ended before it listened"))??;
    Ok(RunningServer::new(addr, move || {
        // Sends the stop command at once; the returned future only waits
        // for it, and the thread's end is what is waited for here.
        drop(handle.stop(false));
        let _ = thread.join();
    }))
}

/// Connects the store the environment names and serves the application on
/// `SESSIONKIT_ADDR` until Ctrl-C.
///
/// # Errors
/// A setting cannot be understood, the store cannot be reached, or the
/// address cannot be bound.
pub async fn serve_from_env() -> Result<(), AppError> {
    let settings = Settings::from_env()?;
    let addr = settings.addr;
    let app = App::connect(settings).await?;
    let _maintenance = app.spawn_maintenance();
    let sessions: Sessions = app.sessions()?;
    let listener = TcpListener::bind(addr)?;
    println!("listening on http://{}", listener.local_addr()?);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    server(app, sessions, listener, workers)?.await?;
    Ok(())
}

fn server(
    app: App,
    sessions: Sessions,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        actix_web::App::new()
            // Nothing this application answers may be cached: answers
            // carry tokens or per-user data (SEC-35).
            .wrap(no_store())
            .configure(routes(app.clone(), sessions.clone()))
            .default_service(web::to(not_found))
    })
    .workers(workers)
    .listen(listener)?;
    Ok(server.run())
}

// ---- handlers -----------------------------------------------------------------

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        ))
        .body(PAGE)
}

/// The integration's [`Login`] has passed the CSRF check (a forged login
/// costs no password hash); the credentials are rate-limited and checked
/// here, then the session is created with the device it was created on.
async fn login(
    app: web::Data<App>,
    request: HttpRequest,
    login: Login,
    body: web::Bytes,
) -> Result<HttpResponse, SessionRejection> {
    let client = request
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
    let user_id = app
        .login_attempt(client, &body)
        .await
        .map_err(|e| SessionRejection::from(e.refusal()))?;
    let device = app_common::session_data(login.user_agent());
    Ok(login
        .create(user_id)
        .session_data(device)
        .await?
        .into_response())
}

async fn me(session: Session) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": session.user_id(),
        "session_handle": session.handle().to_string(),
    }))
}
