//! Answers: the protocol's [`Answer`]s as axum responses, JSON errors, and
//! `Cache-Control: no-store`.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{self, HeaderName, HeaderValue};
use sessionkit::web::{Answer, CookieConfig, CsrfError, Refusal, TokenSourceError};
use sessionkit::{RefreshError, SessionError, VerifyError};

/// An error answer: `{"error": code}` (and `"reason"` when a refresh
/// failed for a reason the client may be told), with
/// `Cache-Control: no-store`, clearing the session cookies when the
/// session is over.
///
/// Every extractor and route of this crate rejects with it; applications
/// can answer with it too ([`SessionRejection::new`]). It is a
/// [`Refusal`] of the session protocol, as an axum response.
///
/// ```
/// use axum::response::IntoResponse as _;
/// use http::StatusCode;
/// use sessionkit_axum::SessionRejection;
///
/// let answer = SessionRejection::new(StatusCode::FORBIDDEN, "not_an_admin").into_response();
/// assert_eq!(answer.status(), StatusCode::FORBIDDEN);
/// assert_eq!(answer.headers()["cache-control"], "no-store");
/// ```
#[derive(Clone, Debug)]
pub struct SessionRejection(Refusal);

impl SessionRejection {
    /// `{"error": code}` with `status`.
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Self(Refusal::new(status.as_u16(), code))
    }

    /// Also clears both session cookies of `cookies`.
    pub fn clearing(self, cookies: &CookieConfig) -> Self {
        Self(self.0.clearing(cookies))
    }

    /// The same answer with `Retry-After: seconds` (at least 1), for a
    /// rate-limited request.
    pub fn retry_after(self, seconds: u64) -> Self {
        Self(self.0.retry_after(seconds))
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        status(self.0.status())
    }

    /// The error code (`unauthorized`, `try_refresh_token`,
    /// `token_theft_detected`, `csrf`, `not_found`, `unavailable`, ...).
    pub fn code(&self) -> &'static str {
        self.0.code()
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

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        respond(self.0.into_answer())
    }
}

impl std::fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SessionRejection {}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The protocol's answer as a response.
pub(crate) fn respond(answer: Answer) -> Response {
    let (code, headers, body) = answer.into_parts();
    let mut response = (status(code), body).into_response();
    let map = response.headers_mut();
    for (name, value) in headers {
        // The protocol's headers are names, tokens and attributes: always
        // valid header text.
        let Ok(value) = HeaderValue::try_from(value) else {
            continue;
        };
        let name = HeaderName::from_static(name);
        if name == header::SET_COOKIE {
            map.append(name, value);
        } else {
            map.insert(name, value);
        }
    }
    response
}

/// The JSON error answer `{"error": code}` with `status`.
pub fn error_response(status: StatusCode, code: &'static str) -> Response {
    SessionRejection::new(status, code).into_response()
}

/// `404 {"error":"not_found"}`: a router fallback.
pub async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found")
}

/// `405 {"error":"method_not_allowed"}`: a router's
/// `method_not_allowed_fallback` (axum adds the `Allow` header).
pub async fn method_not_allowed() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
}

/// Sets `Cache-Control: no-store`, for `axum::middleware::map_response`:
/// nothing that carries tokens or per-user data may be cached (SEC-35).
pub async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
