//! Answers: JSON errors, tokens (cookies or JSON), logging out, and
//! `Cache-Control: no-store`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use sessionkit::web::{CookieConfig, CsrfError, TokenSourceError};
use sessionkit::{RefreshError, SessionError, SessionTokens, VerifyError};

use crate::config::Sessions;

/// An error answer: `{"error": code}` (and `"reason"` when a refresh
/// failed for a reason the client may be told), with
/// `Cache-Control: no-store`, clearing the session cookies when the
/// session is over.
///
/// Every extractor and route of this crate rejects with it; applications
/// can answer with it too ([`SessionRejection::new`]).
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
pub struct SessionRejection {
    status: StatusCode,
    code: &'static str,
    reason: Option<&'static str>,
    clear: Option<[String; 2]>,
}

impl SessionRejection {
    /// `{"error": code}` with `status`.
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        Self {
            status,
            code,
            reason: None,
            clear: None,
        }
    }

    pub(crate) fn from_parts(status: u16, code: &'static str) -> Self {
        Self::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
        )
    }

    /// Also clears both session cookies of `cookies`.
    pub fn clearing(mut self, cookies: &CookieConfig) -> Self {
        self.clear = Some([
            cookies.clear_access_cookie(),
            cookies.clear_refresh_cookie(),
        ]);
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code (`unauthorized`, `try_refresh_token`,
    /// `token_theft_detected`, `csrf`, `not_found`, `unavailable`, ...).
    pub fn code(&self) -> &'static str {
        self.code
    }

    pub(crate) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized")
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found")
    }

    /// A failed refresh: 401 clears the cookies and says why when the token
    /// was genuine; 503 leaves them (the token still works).
    pub(crate) fn refresh_failed(e: &RefreshError, cookies: &CookieConfig) -> Self {
        let mut rejection = Self::from_parts(e.http_status(), e.error_code());
        rejection.reason = e.logout_reason().map(|r| r.as_str());
        if e.http_status() == 401 {
            rejection = rejection.clearing(cookies);
        }
        rejection
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
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("error".to_owned(), Value::from(self.code));
        if let Some(reason) = self.reason {
            body.insert("reason".to_owned(), Value::from(reason));
        }
        let mut response = (self.status, Json(Value::Object(body))).into_response();
        let headers = response.headers_mut();
        for cookie in self.clear.iter().flatten() {
            append_cookie(headers, cookie);
        }
        set_no_store(headers);
        response
    }
}

impl std::fmt::Display for SessionRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)
    }
}

impl std::error::Error for SessionRejection {}

/// The JSON error answer `{"error": code}` with `status`.
pub fn error_response(status: StatusCode, code: &'static str) -> Response {
    SessionRejection::new(status, code).into_response()
}

/// `404 {"error":"not_found"}`: a router fallback.
pub async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found")
}

/// `405 {"error":"method_not_allowed"}`: a router's
/// `method_not_allowed_fallback`.
pub async fn method_not_allowed() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
}

/// Sets `Cache-Control: no-store`, for `axum::middleware::map_response`:
/// nothing that carries tokens or per-user data may be cached (SEC-35).
pub async fn no_store(mut response: Response) -> Response {
    set_no_store(response.headers_mut());
    response
}

fn set_no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

pub(crate) fn append_cookie(headers: &mut HeaderMap, cookie: &str) {
    // Our cookies are names, tokens and attributes: always valid header text.
    if let Ok(value) = HeaderValue::from_str(cookie) {
        headers.append(header::SET_COOKIE, value);
    }
}

/// A success answer that ends the session in this browser: both cookies
/// cleared, `Clear-Site-Data: "cookies"`, `no-store`.
pub(crate) fn logged_out(sessions: &Sessions, body: Value) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    let cookies = sessions.cookies();
    append_cookie(headers, &cookies.clear_access_cookie());
    append_cookie(headers, &cookies.clear_refresh_cookie());
    headers.insert(
        HeaderName::from_static("clear-site-data"),
        HeaderValue::from_static("\"cookies\""),
    );
    set_no_store(headers);
    response
}

/// The answer to a login or a refresh: the cookies and
/// `{"user_id","session_handle"}`, or in header mode both tokens in the
/// body; always `no-store`.
pub(crate) fn with_tokens(
    sessions: &Sessions,
    tokens: &SessionTokens,
    header_mode: bool,
) -> Response {
    let mut body = Map::new();
    body.insert("user_id".to_owned(), Value::from(tokens.user_id.as_str()));
    body.insert(
        "session_handle".to_owned(),
        Value::from(tokens.handle.to_string()),
    );
    if header_mode {
        let access = Value::from(tokens.access_token.expose());
        body.insert("access_token".to_owned(), access);
        let refresh = Value::from(tokens.refresh_token.expose());
        body.insert("refresh_token".to_owned(), refresh);
    }
    let mut response = Json(Value::Object(body)).into_response();
    let headers = response.headers_mut();
    if !header_mode {
        let now = sessions.now();
        let cookies = sessions.cookies();
        // The access cookie lives as long as the refresh token: once the
        // access token expires, the server must still see it to answer
        // `try_refresh_token` and to find the session at logout.
        let access = cookies.access_cookie(&tokens.access_token, tokens.refresh_expires_at, now);
        let refresh = cookies.refresh_cookie(&tokens.refresh_token, tokens.refresh_expires_at, now);
        append_cookie(headers, &access);
        append_cookie(headers, &refresh);
    }
    set_no_store(headers);
    response
}
