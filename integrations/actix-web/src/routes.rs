//! The session routes: refresh, logout, logout everywhere, the session
//! list and revoking one session, the JWKS.

use std::future::Future;

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes, ServiceConfig};
use actix_web::{FromRequest as _, HttpRequest, HttpResponse, Route};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sessionkit::web::{BROWSER_CLIENT_JS, token_from_authorization};
use sessionkit::{SessionError, SessionHandle};

use crate::config::{Sessions, Transport, values};
use crate::error::{SessionRejection, method_not_allowed};
use crate::extract::StrictSession;
use crate::respond::{logged_out, no_store, private_json, with_tokens};

type Answer = Result<HttpResponse, SessionRejection>;

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
    /// | `GET /sessionkit.js` | the browser client, [`BROWSER_CLIENT_JS`] |
    ///
    /// Every answer has `Cache-Control: no-store`, errors are
    /// `{"error": code}`, and a method a route does not have is a JSON 405.
    /// In verify-only mode only the browser client is served.
    pub fn configure(&self) -> impl FnOnce(&mut ServiceConfig) + 'static {
        let sessions = self.clone();
        move |config: &mut ServiceConfig| {
            config.app_data(sessions.clone());
            let paths = sessions.paths().clone();
            config.service(resource(
                &paths.client_js,
                Method::GET,
                &sessions,
                client_js,
            ));
            if sessions.inner.backend.manager().is_none() {
                return;
            }
            config
                .service(resource(&paths.refresh, Method::POST, &sessions, refresh))
                .service(resource(&paths.logout, Method::POST, &sessions, logout))
                .service(resource(
                    &paths.logout_all,
                    Method::POST,
                    &sessions,
                    logout_all,
                ))
                .service(resource(&paths.sessions, Method::GET, &sessions, list))
                .service(resource(
                    &format!("{}/{{handle}}", paths.sessions),
                    Method::DELETE,
                    &sessions,
                    revoke_one,
                ))
                .service(resource(&paths.jwks, Method::GET, &sessions, jwks));
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
) -> impl actix_web::dev::HttpServiceFactory + 'static
where
    F: Fn(Sessions, HttpRequest, Bytes) -> Fut + Clone + 'static,
    Fut: Future<Output = Answer> + 'static,
{
    let sessions = sessions.clone();
    let allow = method.to_string();
    web::resource(path)
        .wrap(crate::error::no_store())
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
                let mut response = method_not_allowed().await;
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
        }))
}

/// The caller of an operation on sessions, checked against the store.
async fn strict_caller(request: &HttpRequest) -> Result<StrictSession, SessionRejection> {
    StrictSession::extract(request).await
}

async fn client_js(_: Sessions, _: HttpRequest, _: Bytes) -> Answer {
    Ok(HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(BROWSER_CLIENT_JS))
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
    let clearing = |e: SessionRejection| sessions.clearing(e);
    let from_body;
    let token = if header_mode {
        from_body =
            refresh_from_body(&body).ok_or_else(|| clearing(SessionRejection::unauthorized()))?;
        from_body.as_str()
    } else {
        sessions.check_csrf(request.headers())?;
        sessions
            .refresh_cookie(request.headers())
            .map_err(|e| clearing(e.into()))?
    };
    match manager.refresh(token).await {
        Ok(tokens) => Ok(with_tokens(&sessions, &tokens, header_mode)),
        Err(e) if e.http_status() == 401 => Err(clearing(SessionRejection::from(e))),
        Err(e) => Err(SessionRejection::from(e)),
    }
}

/// Revokes with the refresh token if the request carries a genuine one,
/// else with the access token (expired or not, but of the session's
/// current or previous generation). 401, clearing the cookies, when
/// neither is genuine.
async fn logout(sessions: Sessions, request: HttpRequest, body: Bytes) -> Answer {
    let manager = sessions.manager()?;
    let headers = request.headers();
    let unauthorized = || sessions.clearing(SessionRejection::unauthorized());
    let bearer =
        sessions.transport() != Transport::Cookies && headers.contains_key(header::AUTHORIZATION);
    // A request with `Authorization` (or in header mode) is authenticated
    // by its headers and body alone; otherwise by its cookies, after the
    // CSRF check.
    let (refresh, access) = if sessions.is_header_mode(&request) || bearer {
        let access = if bearer {
            Some(
                token_from_authorization(values(headers, header::AUTHORIZATION.as_str()))
                    .map_err(|e| sessions.clearing(e.into()))?,
            )
        } else {
            None
        };
        (refresh_from_body(&body), access)
    } else {
        sessions.check_csrf(headers)?;
        let access = sessions
            .cookies()
            .access_token_from_cookies(values(headers, header::COOKIE.as_str()))
            .ok();
        (
            sessions.refresh_cookie(headers).ok().map(str::to_owned),
            access,
        )
    };
    let revoked = 'revoked: {
        if let Some(token) = refresh {
            match manager.revoke_with_refresh_token(&token).await {
                Ok(handle) => break 'revoked handle.is_some(),
                Err(SessionError::Unauthorized(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let token = access.ok_or_else(unauthorized)?;
        match manager.revoke_with_access_token(token).await {
            Ok(handle) => handle.is_some(),
            Err(SessionError::Unauthorized(_)) => return Err(unauthorized()),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(logged_out(
        &sessions,
        json!({ "revoked": u8::from(revoked) }),
    ))
}

async fn logout_all(sessions: Sessions, request: HttpRequest, _: Bytes) -> Answer {
    let caller = strict_caller(&request).await?;
    let revoked = sessions
        .manager()?
        .revoke_all_for_user(caller.user_id())
        .await?;
    Ok(logged_out(&sessions, json!({ "revoked": revoked })))
}

async fn list(sessions: Sessions, request: HttpRequest, _: Bytes) -> Answer {
    let caller = strict_caller(&request).await?;
    let current = caller.handle();
    let list: Vec<Value> = sessions
        .manager()?
        .sessions_for_user(caller.user_id())
        .await?
        .into_iter()
        .map(|s| {
            let mut entry = match &sessions.inner.session_fields {
                Some(fields) => fields(&s),
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
    let caller = strict_caller(&request).await?;
    let manager = sessions.manager()?;
    let handle: SessionHandle = request
        .match_info()
        .get("handle")
        .and_then(|h| h.parse().ok())
        .ok_or_else(SessionRejection::not_found_error)?;
    // Another user's session is answered exactly like a missing one.
    let owned = manager
        .session(&handle)
        .await?
        .is_some_and(|s| s.user_id == caller.user_id());
    if !owned || !manager.revoke(&handle).await? {
        return Err(SessionRejection::not_found_error());
    }
    if handle == caller.handle() {
        return Ok(logged_out(&sessions, json!({ "revoked": 1 })));
    }
    Ok(private_json(json!({ "revoked": 1 })))
}

async fn jwks(sessions: Sessions, _: HttpRequest, _: Bytes) -> Answer {
    let jwks = sessions.manager()?.jwks();
    if jwks.keys().is_empty() {
        // HS256: there is no public key to publish.
        return Err(SessionRejection::not_found_error());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/jwk-set+json"))
        .insert_header(no_store())
        .body(jwks.to_json()))
}
