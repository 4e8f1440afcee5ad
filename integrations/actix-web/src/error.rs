//! [`SessionRejection`]: every refusal as `{"error": CODE}` with its
//! status, the shape every sessionkit integration answers with; and the
//! small handlers and middleware that answer the same way.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, ResponseError};
use sessionkit::web::{Answer, CookieConfig, CsrfError, Refusal, TokenSourceError};
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
#[derive(Clone, Debug)]
pub struct SessionRejection(Refusal);

impl SessionRejection {
    /// An answer with this status and error code.
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Self(Refusal::new(status.as_u16(), code))
    }

    /// The same answer with `Retry-After: seconds` (at least 1), for a
    /// rate-limited request.
    pub fn retry_after(self, seconds: u64) -> Self {
        Self(self.0.retry_after(seconds))
    }

    /// `500 {"error":"internal_error"}`.
    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
    }

    /// The same answer, also clearing both session cookies.
    pub fn clearing(self, cookies: &CookieConfig) -> Self {
        Self(self.0.clearing(cookies))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        status(self.0.status())
    }

    /// The error code of the body.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }
}

impl fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for SessionRejection {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        respond(self.0.clone().into_answer())
    }
}

impl From<Refusal> for SessionRejection {
    fn from(refusal: Refusal) -> Self {
        Self(refusal)
    }
}

macro_rules! from_error {
    ($($error:ty),*) => {$(
        impl From<$error> for SessionRejection {
            fn from(e: $error) -> Self {
                Self(Refusal::from(e))
            }
        }
    )*};
}

from_error!(
    VerifyError,
    TokenSourceError,
    CsrfError,
    SessionError,
    RefreshError
);

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The protocol's answer as a response.
pub(crate) fn respond(answer: Answer) -> HttpResponse {
    let (code, headers, body) = answer.into_parts();
    let mut response = HttpResponse::build(status(code));
    for (name, value) in headers {
        if name == "set-cookie" {
            response.append_header((name, value));
        } else {
            response.insert_header((name, value));
        }
    }
    response.body(body)
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
