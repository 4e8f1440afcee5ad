//! The session routes: refresh, logout, logout everywhere, the session
//! list and revoking one session, the JWKS.

use std::future::Future;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse, Route};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sessionkit::web::TokenSourceError;
use sessionkit::{SessionError, SessionHandle, Verified};

use crate::config::Sessions;
use crate::error::ApiError;
use crate::respond::{logged_out, no_store, private_json, with_tokens};

type Answer = Result<HttpResponse, ApiError>;

impl Sessions {
    /// Registers this configuration as app data (for the extractors) and
    /// mounts the session routes at the paths of its [`SessionRoutes`](crate::SessionRoutes):
    ///
    /// | route | answer |
    /// |---|---|
    /// | `POST /auth/refresh` | new tokens (cookies, or the body in header mode with `{"refresh_token"}`); `401 {"error","reason"?}` clearing both cookies |
    /// | `POST /auth/logout` | revokes the session of the refresh token, or else of the access token (an expired one will do); clears the cookies; `Clear-Site-Data: "cookies"` |
    /// | `POST /auth/logout-all` | `{"revoked": N}`: every session of the caller |
    /// | `GET /auth/sessions` | `[{"session_handle","created_at","last_active_at","current"}]`, times in Unix seconds, oldest first |
    /// | `DELETE /auth/sessions/{handle}` | revokes one of the caller's sessions; `404 not_found` for any other |
    /// | `GET /.well-known/jwks.json` | the public keys (EdDSA); `404 not_found` with HS256 |
    ///
    /// Other methods on these paths answer `405 {"error":"method_not_allowed"}`.
    /// A verify-only configuration registers the app data and no route.
    pub fn configure(&self) -> impl FnOnce(&mut ServiceConfig) + 'static {
        let sessions = self.clone();
        move |config: &mut ServiceConfig| {
            config.app_data(sessions.clone());
            if sessions.inner.backend.manager().is_none() {
                return;
            }
            let routes = sessions.routes().clone();
            config
                .service(resource(&routes.refresh, Method::POST, &sessions, refresh))
                .service(resource(&routes.logout, Method::POST, &sessions, logout))
                .service(resource(
                    &routes.logout_all,
                    Method::POST,
                    &sessions,
                    logout_all,
                ))
                .service(resource(&routes.sessions, Method::GET, &sessions, list))
                .service(resource(
                    &format!("{}/{{handle}}", routes.sessions),
                    Method::DELETE,
                    &sessions,
                    revoke_one,
                ));
            if let Some(path) = &routes.jwks {
                config.service(resource(path, Method::GET, &sessions, jwks));
            }
        }
    }
}

/// A resource answering one method with `handler`, and every other with a
/// JSON 405.
fn resource<F, Fut>(
    path: &str,
    method: Method,
    sessions: &Sessions,
    handler: F,
) -> actix_web::Resource
where
    F: Fn(Sessions, HttpRequest, Bytes) -> Fut + Clone + 'static,
    Fut: Future<Output = Answer> + 'static,
{
    let sessions = sessions.clone();
    let allow = method.to_string();
    web::resource(path)
        .route(
            Route::new()
                .method(method)
                .to(move |request: HttpRequest, body: Bytes| {
                    handler(sessions.clone(), request, body)
                }),
        )
        .default_service(web::to(move || {
            let allow = allow.clone();
            async move {
                let mut response =
                    actix_web::ResponseError::error_response(&ApiError::method_not_allowed());
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
        }))
}

/// The caller of an operation on sessions, checked against the store.
async fn strict_caller(sessions: &Sessions, request: &HttpRequest) -> Result<Verified, ApiError> {
    let token = sessions
        .access_token(request, false)?
        .ok_or(TokenSourceError::Missing)?;
    Ok(sessions.manager()?.verify_strict(token).await?)
}

/// `{"refresh_token": ...}`, the body of refresh and logout in header mode.
#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

fn refresh_from_body(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<RefreshBody>(body)
        .ok()
        .map(|b| b.refresh_token)
}

async fn refresh(sessions: Sessions, request: HttpRequest, body: Bytes) -> Answer {
    let manager = sessions.manager()?;
    let header_mode = sessions.is_header_mode(&request);
    let clearing = |e: ApiError| {
        if sessions.uses_cookies() {
            e.clearing(sessions.cookies())
        } else {
            e
        }
    };
    let unauthorized = || clearing(ApiError::from(TokenSourceError::Missing));
    let from_body;
    let token = if header_mode {
        from_body = refresh_from_body(&body).ok_or_else(unauthorized)?;
        from_body.as_str()
    } else {
        match sessions.refresh_cookie(&request) {
            Ok(Some(token)) => token,
            Ok(None) => return Err(unauthorized()),
            Err(e) if e.status() == StatusCode::FORBIDDEN => return Err(e),
            Err(e) => return Err(clearing(e)),
        }
    };
    match manager.refresh(token).await {
        Ok(tokens) => Ok(with_tokens(&sessions, &tokens, header_mode)),
        Err(e) if e.http_status() == 401 => Err(clearing(ApiError::from(e))),
        Err(e) => Err(ApiError::from(e)),
    }
}

async fn logout(sessions: Sessions, request: HttpRequest, body: Bytes) -> Answer {
    let manager = sessions.manager()?;
    let clearing = |e: ApiError| {
        if sessions.uses_cookies() && e.status() == StatusCode::UNAUTHORIZED {
            e.clearing(sessions.cookies())
        } else {
            e
        }
    };
    // A request with `Authorization` is authenticated by it alone; in
    // cookie mode, both cookies (after the CSRF check).
    let access = sessions.access_token(&request, false).map_err(clearing)?;
    let bearer = request.headers().contains_key(header::AUTHORIZATION);
    let from_body;
    let refresh = if sessions.is_header_mode(&request) {
        from_body = refresh_from_body(&body);
        from_body.as_deref()
    } else if bearer {
        None
    } else {
        sessions.refresh_cookie(&request).map_err(clearing)?
    };
    // The refresh token first: it is what the client holds longest, and
    // it identifies the session even when the access token is missing or
    // was signed with a key that has since been retired.
    // `Some(revoked)` once a genuine token was presented.
    let mut outcome = None;
    if let Some(token) = refresh {
        outcome = genuine_outcome(manager.revoke_with_refresh_token(token).await)?;
    }
    if outcome != Some(true)
        && let Some(token) = access
        && let Some(revoked) = genuine_outcome(manager.revoke_with_access_token(token).await)?
    {
        outcome = Some(revoked);
    }
    let Some(revoked) = outcome else {
        return Err(clearing(ApiError::from(TokenSourceError::Missing)));
    };
    Ok(logged_out(
        &sessions,
        json!({ "revoked": u8::from(revoked) }),
    ))
}

/// `Some(revoked)` for a genuine token, `None` for one that is not.
fn genuine_outcome(
    outcome: Result<Option<SessionHandle>, SessionError>,
) -> Result<Option<bool>, ApiError> {
    match outcome {
        Ok(handle) => Ok(Some(handle.is_some())),
        Err(SessionError::Unauthorized(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn logout_all(sessions: Sessions, request: HttpRequest, _: Bytes) -> Answer {
    let caller = strict_caller(&sessions, &request).await?;
    let revoked = sessions
        .manager()?
        .revoke_all_for_user(caller.user_id())
        .await?;
    Ok(logged_out(&sessions, json!({ "revoked": revoked })))
}

async fn list(sessions: Sessions, request: HttpRequest, _: Bytes) -> Answer {
    let caller = strict_caller(&sessions, &request).await?;
    let current = caller.session_handle();
    let list: Vec<Value> = sessions
        .manager()?
        .sessions_for_user(caller.user_id())
        .await?
        .into_iter()
        .map(|s| {
            let mut entry = match &sessions.inner.list_fields {
                Some(fields) => fields(&s.session_data),
                None => Map::new(),
            };
            entry.insert("session_handle".to_owned(), s.handle.to_string().into());
            entry.insert(
                "created_at".to_owned(),
                s.created_at.unix_timestamp().into(),
            );
            let last_active = s.last_refreshed_at.unwrap_or(s.created_at);
            entry.insert(
                "last_active_at".to_owned(),
                last_active.unix_timestamp().into(),
            );
            entry.insert("current".to_owned(), (s.handle == current).into());
            Value::Object(entry)
        })
        .collect();
    Ok(private_json(Value::Array(list)))
}

async fn revoke_one(sessions: Sessions, request: HttpRequest, _: Bytes) -> Answer {
    let caller = strict_caller(&sessions, &request).await?;
    let manager = sessions.manager()?;
    let handle: SessionHandle = request
        .match_info()
        .get("handle")
        .and_then(|h| h.parse().ok())
        .ok_or_else(ApiError::not_found)?;
    // Another user's session is answered exactly like a missing one.
    let owned = manager
        .session(&handle)
        .await?
        .is_some_and(|s| s.user_id == caller.user_id());
    if !owned || !manager.revoke(&handle).await? {
        return Err(ApiError::not_found());
    }
    if handle == caller.session_handle() {
        return Ok(logged_out(&sessions, json!({ "revoked": 1 })));
    }
    Ok(private_json(json!({ "revoked": 1 })))
}

async fn jwks(sessions: Sessions, _: HttpRequest, _: Bytes) -> Answer {
    let jwks = sessions.manager()?.jwks();
    if jwks.keys().is_empty() {
        // HS256: there is no public key to publish.
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/jwk-set+json"))
        .insert_header(no_store())
        .body(jwks.to_json()))
}
