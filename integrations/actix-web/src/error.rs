//! [`SessionRejection`]: every refusal as `{"error": CODE}` with its
//! status, the shape every sessionkit integration answers with; and the
//! small handlers and middleware that answer the same way.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use sessionkit::web::{CookieConfig, CsrfError, LogoutReason, TokenSourceError};
use sessionkit::{RefreshError, SessionError, VerifyError};

/// An error answer: a status and `{"error": code}` (with `"reason"` when
/// a refresh failed for a reason its holder may know), optionally clearing
/// the session cookies. Every answer has `Cache-Control: no-store`.
///
/// The extractors and the session routes answer with it; handlers can
/// return it too (it is an actix-web [`ResponseError`]):
///
/// ```
/// use actix_web::http::StatusCode;
/// use sessionkit_actix_web::SessionRejection;
///
/// let e = SessionRejection::new(StatusCode::UNAUTHORIZED, "invalid_credentials");
/// assert_eq!(e.code(), "invalid_credentials");
/// ```
#[derive(Clone)]
pub struct SessionRejection {
    status: StatusCode,
    code: &'static str,
    reason: Option<LogoutReason>,
    clear: Option<[String; 2]>,
    retry_after: Option<u64>,
}

impl SessionRejection {
    /// An answer with this status and error code.
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Self {
            status,
            code,
            reason: None,
            clear: None,
            retry_after: None,
        }
    }

    pub(crate) fn not_found_error() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found")
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized")
    }

    /// The same answer with `Retry-After: seconds` (at least 1), for a
    /// rate-limited request.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// `500 {"error":"internal_error"}`; the cause goes to the log only.
    pub(crate) fn internal(cause: &str) -> Self {
        log::error!("sessionkit-actix-web: {cause}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
    }

    /// The same answer, also clearing both session cookies.
    pub fn clearing(mut self, cookies: &CookieConfig) -> Self {
        self.clear = Some([
            cookies.clear_access_cookie(),
            cookies.clear_refresh_cookie(),
        ]);
        self
    }

    pub(crate) fn with_reason(mut self, reason: Option<LogoutReason>) -> Self {
        self.reason = reason;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code of the body.
    pub fn code(&self) -> &'static str {
        self.code
    }

    fn from_parts(status: u16, code: &'static str) -> Self {
        Self::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
        )
    }
}

impl fmt::Debug for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRejection")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("reason", &self.reason)
            .field("clears_cookies", &self.clear.is_some())
            .finish()
    }
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)
    }
}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        builder.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        for cookie in self.clear.iter().flatten() {
            builder.append_header((header::SET_COOKIE, cookie.as_str()));
        }
        if let Some(secs) = self.retry_after {
            builder.insert_header((header::RETRY_AFTER, secs));
        }
        let body = match self.reason {
            Some(reason) => json!({ "error": self.code, "reason": reason.as_str() }),
            None => json!({ "error": self.code }),
        };
        builder.json(body)
    }
}

impl From<VerifyError> for SessionRejection {
    fn from(e: VerifyError) -> Self {
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl From<TokenSourceError> for SessionRejection {
    fn from(e: TokenSourceError) -> Self {
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl From<CsrfError> for SessionRejection {
    fn from(e: CsrfError) -> Self {
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl From<SessionError> for SessionRejection {
    fn from(e: SessionError) -> Self {
        if matches!(
            e,
            SessionError::InvalidClaims(_) | SessionError::InvalidUserId
        ) {
            log::error!("sessionkit-actix-web: {e}");
        }
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl From<RefreshError> for SessionRejection {
    fn from(e: RefreshError) -> Self {
        Self::from_parts(e.http_status(), e.error_code()).with_reason(e.logout_reason())
    }
}

/// The JSON error answer `{"error": code}` with `status` (and
/// `Cache-Control: no-store`).
pub fn error_response(status: StatusCode, code: &'static str) -> HttpResponse {
    SessionRejection::new(status, code).error_response()
}

/// `404 {"error":"not_found"}`, for the application's default service:
/// `App::new().default_service(web::to(sessionkit_actix_web::not_found))`.
pub async fn not_found() -> HttpResponse {
    error_response(StatusCode::NOT_FOUND, "not_found")
}

/// `405 {"error":"method_not_allowed"}`, for a resource's default
/// service: `web::resource("/x").route(..).default_service(web::to(method_not_allowed))`.
pub async fn method_not_allowed() -> HttpResponse {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
}

/// Middleware that gives every answer `Cache-Control: no-store` unless it
/// has a `Cache-Control` of its own (the session routes' answers already
/// say `no-store`): `App::new().wrap(sessionkit_actix_web::no_store())`.
/// Nothing that carries tokens or per-user data may be cached (SEC-35).
pub fn no_store() -> DefaultHeaders {
    DefaultHeaders::new().add((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
}
