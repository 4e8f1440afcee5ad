//! The session routes: refresh, logout, logout everywhere, the session
//! list, revoking one session, the JWKS and the browser client.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::{HeaderMap, header};
use serde::Deserialize;
use serde_json::{Value, json};
use sessionkit::web::{BROWSER_CLIENT_JS, token_from_authorization};
use sessionkit::{SessionError, SessionHandle};

use crate::config::{Sessions, Transport};
use crate::engine::Engine;
use crate::extract::StrictSession;
use crate::response::{SessionRejection, logged_out, method_not_allowed, no_store, with_tokens};

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
        let paths = &self.inner.paths;
        let mut router = Router::new().route(&paths.client_js, get(client_js));
        if self.inner.engine().is_some() {
            router = router
                .route(&paths.refresh, post(refresh))
                .route(&paths.logout, post(logout))
                .route(&paths.logout_all, post(logout_all))
                .route(&paths.sessions, get(sessions))
                .route(
                    &format!("{}/{{handle}}", paths.sessions),
                    delete(revoke_session),
                )
                .route(&paths.jwks, get(jwks));
        }
        router
            .method_not_allowed_fallback(method_not_allowed)
            .layer(axum::middleware::map_response(no_store))
            .with_state(self.clone())
    }

    fn manager(&self) -> Result<&dyn Engine, SessionRejection> {
        self.inner.engine().ok_or_else(SessionRejection::internal)
    }
}

async fn client_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        BROWSER_CLIENT_JS,
    )
        .into_response()
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

/// The refresh token of a header-mode body, if it has one.
fn body_refresh_token(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<RefreshBody>(body)
        .ok()
        .map(|b| b.refresh_token)
}

async fn refresh(State(sessions): State<Sessions>, headers: HeaderMap, body: Bytes) -> Response {
    refresh_inner(&sessions, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn refresh_inner(
    sessions: &Sessions,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, SessionRejection> {
    let engine = sessions.manager()?;
    let header_mode = sessions.is_header_mode(headers);
    let cookies = sessions.cookies();
    let from_body;
    let token = if header_mode {
        from_body = body_refresh_token(body)
            .ok_or_else(|| SessionRejection::unauthorized().clearing(cookies))?;
        from_body.as_str()
    } else {
        sessions.check_csrf(headers)?;
        sessions
            .refresh_cookie(headers)
            .map_err(|e| SessionRejection::from(e).clearing(cookies))?
    };
    match engine.refresh(token).await {
        Ok(tokens) => Ok(with_tokens(sessions, &tokens, header_mode)),
        Err(e) => Err(SessionRejection::refresh_failed(&e, cookies)),
    }
}

async fn logout(State(sessions): State<Sessions>, headers: HeaderMap, body: Bytes) -> Response {
    match logout_inner(&sessions, &headers, &body).await {
        Ok(revoked) => logged_out(&sessions, json!({ "revoked": u8::from(revoked) })),
        Err(e) => e.into_response(),
    }
}

/// Revokes with the refresh token if the request carries a genuine one,
/// else with the access token (SEC-44, SEC-45). Whether a session was
/// revoked; 401 (clearing the cookies) when neither token is genuine.
async fn logout_inner(
    sessions: &Sessions,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<bool, SessionRejection> {
    let engine = sessions.manager()?;
    let cookies = sessions.cookies();
    let unauthorized = || SessionRejection::unauthorized().clearing(cookies);
    let transport = sessions.transport();
    let bearer = headers.contains_key(header::AUTHORIZATION) && transport != Transport::Cookies;
    let (refresh, access) = if sessions.is_header_mode(headers) || bearer {
        let access = if bearer {
            Some(token_from_authorization(
                headers
                    .get_all(header::AUTHORIZATION)
                    .iter()
                    .map(|v| v.as_bytes()),
            )?)
        } else {
            None
        };
        (body_refresh_token(body), access)
    } else {
        sessions.check_csrf(headers)?;
        let access = cookies
            .access_token_from_cookies(headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes()))
            .ok();
        (
            sessions.refresh_cookie(headers).ok().map(str::to_owned),
            access,
        )
    };
    if let Some(token) = refresh {
        match engine.revoke_with_refresh_token(&token).await {
            Ok(revoked) => return Ok(revoked.is_some()),
            Err(SessionError::Unauthorized(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let token = access.ok_or_else(unauthorized)?;
    match engine.revoke_with_access_token(token).await {
        Ok(revoked) => Ok(revoked.is_some()),
        Err(SessionError::Unauthorized(_)) => Err(unauthorized()),
        Err(e) => Err(e.into()),
    }
}

async fn logout_all(
    State(sessions): State<Sessions>,
    caller: StrictSession,
) -> Result<Response, SessionRejection> {
    let revoked = sessions
        .manager()?
        .revoke_all_for_user(caller.user_id())
        .await?;
    Ok(logged_out(&sessions, json!({ "revoked": revoked })))
}

async fn sessions(
    State(sessions): State<Sessions>,
    caller: StrictSession,
) -> Result<Json<Value>, SessionRejection> {
    let current = caller.handle();
    let fields = sessions.inner.session_fields.as_deref();
    let list: Vec<Value> = sessions
        .manager()?
        .sessions_for_user(caller.user_id())
        .await?
        .into_iter()
        .map(|s| {
            let mut entry = json!({
                "session_handle": s.handle.to_string(),
                "created_at": s.created_at.unix_timestamp(),
                "last_active_at": s.last_refreshed_at.unwrap_or(s.created_at).unix_timestamp(),
                "current": s.handle == current,
            });
            if let (Some(fields), Value::Object(map)) = (fields, &mut entry) {
                for (name, value) in fields(&s) {
                    map.entry(name).or_insert(value);
                }
            }
            entry
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn revoke_session(
    State(sessions): State<Sessions>,
    caller: StrictSession,
    Path(handle): Path<String>,
) -> Result<Response, SessionRejection> {
    let engine = sessions.manager()?;
    let handle: SessionHandle = handle.parse().map_err(|_| SessionRejection::not_found())?;
    // Another user's session is answered exactly like a missing one.
    let owned = engine
        .session(handle)
        .await?
        .is_some_and(|s| s.user_id == caller.user_id());
    if !owned || !engine.revoke(handle).await? {
        return Err(SessionRejection::not_found());
    }
    if handle == caller.handle() {
        return Ok(logged_out(&sessions, json!({ "revoked": 1 })));
    }
    Ok(Json(json!({ "revoked": 1 })).into_response())
}

async fn jwks(State(sessions): State<Sessions>) -> Result<Response, SessionRejection> {
    let jwks = sessions.manager()?.jwks();
    if jwks.keys().is_empty() {
        // HS256: there is no public key to publish.
        return Err(SessionRejection::not_found());
    }
    Ok((
        [(header::CONTENT_TYPE, "application/jwk-set+json")],
        jwks.to_json(),
    )
        .into_response())
}
