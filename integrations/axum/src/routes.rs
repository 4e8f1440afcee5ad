//! The session routes: refresh, logout, logout everywhere, the session
//! list, revoking one session, the JWKS and the browser client.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use http::{HeaderMap, Method};

use crate::config::{Head, Sessions};
use crate::response::{method_not_allowed, no_store, respond};

impl Sessions {
    /// The session routes, at the configured [`Paths`](crate::Paths):
    ///
    /// | route | answer |
    /// |---|---|
    /// | `POST /auth/refresh` | new tokens (cookies, or JSON in header mode with `{"refresh_token"}`); 401 `{"error","reason"}` clearing both cookies; `token_theft_detected` for a theft |
    /// | `POST /auth/logout` | revokes the session of whichever genuine token the request carries (refresh token first, then access token, expired or not), clears both cookies, `Clear-Site-Data: "cookies"` |
    /// | `POST /auth/logout-all` | `{"revoked": N}`: every session of the caller (strict) |
    /// | `GET /auth/sessions` | `[{"session_handle","created_at","last_active_at","current", ...}]` (strict) |
    /// | `DELETE /auth/sessions/{handle}` | revokes one of the caller's sessions; 404 `not_found` for anybody else's |
    /// | `GET /.well-known/jwks.json` | the public keys (EdDSA); 404 with HS256 |
    /// | `GET /sessionkit.js` | the browser client |
    ///
    /// Every answer has `Cache-Control: no-store`, errors are
    /// `{"error": code}`, and a method a route does not have is a JSON 405.
    /// In verify-only mode only the browser client is served.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let paths = self.paths();
        let mut router = Router::new().route(paths.client_js_path(), get(client_js));
        if !self.is_verify_only() {
            router = router
                .route(paths.refresh_path(), post(refresh))
                .route(paths.logout_path(), post(logout))
                .route(paths.logout_all_path(), post(logout_all))
                .route(paths.sessions_path(), get(sessions))
                .route(
                    &format!("{}/{{handle}}", paths.sessions_path()),
                    delete(revoke_session),
                )
                .route(paths.jwks_path(), get(jwks));
        }
        router
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::map_response(no_store))
            .with_state(self.clone())
    }
}

async fn client_js(State(sessions): State<Sessions>) -> Response {
    respond(sessions.client_js())
}

async fn refresh(State(sessions): State<Sessions>, headers: HeaderMap, body: Bytes) -> Response {
    respond(sessions.refresh(&Head(&headers), &body).await)
}

async fn logout(State(sessions): State<Sessions>, headers: HeaderMap, body: Bytes) -> Response {
    respond(sessions.logout(&Head(&headers), &body).await)
}

async fn logout_all(
    State(sessions): State<Sessions>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let head = Head(&headers);
    respond(sessions.logout_all(method.as_str(), &head).await)
}

async fn sessions(
    State(sessions): State<Sessions>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let head = Head(&headers);
    respond(sessions.list_sessions(method.as_str(), &head).await)
}

async fn revoke_session(
    State(sessions): State<Sessions>,
    method: Method,
    headers: HeaderMap,
    Path(handle): Path<String>,
) -> Response {
    let head = Head(&headers);
    let protocol = sessions;
    respond(
        protocol
            .revoke_session(method.as_str(), &head, &handle)
            .await,
    )
}

async fn jwks(State(sessions): State<Sessions>) -> Response {
    respond(sessions.jwks())
}
