//! [`ApiError`]: every refusal as `{"error": CODE}` with its status, the
//! shape every sessionkit integration answers with.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
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
/// use sessionkit_actix_web::ApiError;
///
/// let e = ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials");
/// assert_eq!(e.code(), "invalid_credentials");
/// ```
#[derive(Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    reason: Option<LogoutReason>,
    clear: Option<[String; 2]>,
    retry_after: Option<u64>,
}

impl ApiError {
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

    /// `404 {"error":"not_found"}`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found")
    }

    /// `405 {"error":"method_not_allowed"}`.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
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

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("reason", &self.reason)
            .field("clears_cookies", &self.clear.is_some())
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)
    }
}

impl ResponseError for ApiError {
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

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl From<TokenSourceError> for ApiError {
    fn from(e: TokenSourceError) -> Self {
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl From<CsrfError> for ApiError {
    fn from(e: CsrfError) -> Self {
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl From<SessionError> for ApiError {
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

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        Self::from_parts(e.http_status(), e.error_code()).with_reason(e.logout_reason())
    }
}
