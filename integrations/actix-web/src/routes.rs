//! The session routes: refresh, logout, logout everywhere, the session
//! list and revoking one session, the JWKS.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::Method;
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, Route};
use sessionkit::web::{Answer, Refusal};

use crate::config::{Head, Sessions};
use crate::error::respond;

type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

impl Sessions {
    /// Registers this configuration as app data (for the extractors) and
    /// mounts the session routes at its [`Paths`](crate::Paths):
    ///
    /// | route | answer |
    /// |---|---|
    /// | `POST /auth/refresh` | new tokens (cookies, or the body in header mode with `{"refresh_token"}`); `401 {"error","reason"?}` clearing both cookies |
    /// | `POST /auth/logout` | revokes the session of whichever genuine token the request carries (refresh token first, then access token, expired or not); clears both cookies; `Clear-Site-Data: "cookies"` |
    /// | `POST /auth/logout-all` | `{"revoked": N}`: every session of the caller |
    /// | `GET /auth/sessions` | `[{"session_handle","created_at","last_active_at","current"}]`, times in Unix seconds, oldest first |
    /// | `DELETE /auth/sessions/{handle}` | revokes one of the caller's sessions; `404 not_found` for any other |
    /// | `GET /.well-known/jwks.json` | the public keys (EdDSA); `404 not_found` with HS256 |
    /// | `GET /sessionkit.js` | the browser client, [`BROWSER_CLIENT_JS`](sessionkit::web::BROWSER_CLIENT_JS) |
    ///
    /// Every answer has `Cache-Control: no-store`, errors are
    /// `{"error": code}`, and a method a route does not have is a JSON 405.
    /// In verify-only mode only the browser client is served.
    pub fn configure(&self) -> impl FnOnce(&mut ServiceConfig) + 'static {
        let sessions = self.clone();
        move |config: &mut ServiceConfig| {
            config.app_data(sessions.clone());
            let paths = sessions.paths().clone();
            let mut mount = |path: &str, method: Method, handler: Handler| {
                config.service(resource(path, method, &sessions, handler));
            };
            mount(paths.client_js_path(), Method::GET, client_js);
            if sessions.is_verify_only() {
                return;
            }
            mount(paths.refresh_path(), Method::POST, refresh);
            mount(paths.logout_path(), Method::POST, logout);
            mount(paths.logout_all_path(), Method::POST, logout_all);
            mount(paths.sessions_path(), Method::GET, list);
            let one = format!("{}/{{handle}}", paths.sessions_path());
            mount(&one, Method::DELETE, revoke_one);
            mount(paths.jwks_path(), Method::GET, jwks);
        }
    }
}

/// A session route: the protocol's answer to a request and its body.
type Handler = fn(Sessions, HttpRequest, Bytes) -> LocalBoxFuture<'static, Answer>;

/// A resource answering one method with `handler`, and every other with a
/// JSON 405 naming the method in `Allow`.
fn resource(
    path: &str,
    method: Method,
    sessions: &Sessions,
    handler: Handler,
) -> impl actix_web::dev::HttpServiceFactory + 'static {
    let sessions = sessions.clone();
    let allow = method.to_string();
    web::resource(path)
        .wrap(crate::error::no_store())
        .route(
            Route::new()
                .method(method)
                .to(move |request: HttpRequest, body: Bytes| {
                    let answer = handler(sessions.clone(), request, body);
                    async move { respond(answer.await) }
                }),
        )
        .default_service(web::to(move || {
            let refusal = Refusal::method_not_allowed(allow.as_str());
            async move { respond(refusal.into_answer()) }
        }))
}

fn client_js(sessions: Sessions, _: HttpRequest, _: Bytes) -> LocalBoxFuture<'static, Answer> {
    Box::pin(async move { sessions.client_js() })
}

fn refresh(
    sessions: Sessions,
    request: HttpRequest,
    body: Bytes,
) -> LocalBoxFuture<'static, Answer> {
    Box::pin(async move {
        let head = Head(request.headers());
        sessions.refresh(&head, &body).await
    })
}

fn logout(
    sessions: Sessions,
    request: HttpRequest,
    body: Bytes,
) -> LocalBoxFuture<'static, Answer> {
    Box::pin(async move {
        let head = Head(request.headers());
        sessions.logout(&head, &body).await
    })
}

fn logout_all(
    sessions: Sessions,
    request: HttpRequest,
    _: Bytes,
) -> LocalBoxFuture<'static, Answer> {
    Box::pin(async move {
        let head = Head(request.headers());
        let method = request.method().as_str();
        sessions.logout_all(method, &head).await
    })
}

fn list(sessions: Sessions, request: HttpRequest, _: Bytes) -> LocalBoxFuture<'static, Answer> {
    Box::pin(async move {
        let head = Head(request.headers());
        let method = request.method().as_str();
        sessions.list_sessions(method, &head).await
    })
}

fn revoke_one(
    sessions: Sessions,
    request: HttpRequest,
    _: Bytes,
) -> LocalBoxFuture<'static, Answer> {
    Box::pin(async move {
        let head = Head(request.headers());
        let method = request.method().as_str();
        let handle = request.match_info().get("handle").unwrap_or_default();
        sessions.revoke_session(method, &head, handle).await
    })
}

fn jwks(sessions: Sessions, _: HttpRequest, _: Bytes) -> LocalBoxFuture<'static, Answer> {
    Box::pin(async move { sessions.jwks() })
}
