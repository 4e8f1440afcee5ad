//! The protocol's answers, framework-free: a status, headers (the
//! `Set-Cookie` values among them) and a body, for an integration to turn
//! into its own response type; and [`Refusal`], every error answer as
//! `{"error": code}`.

use std::fmt;

use serde_json::{Map, Value};

use crate::cookies::CookieConfig;
use crate::error::{
    CsrfError, LogoutReason, RefreshError, SessionError, TokenSourceError, VerifyError,
};
use crate::log::log_error;

/// `Content-Type` of the JSON answers.
const JSON: &str = "application/json";

/// An answer of the session protocol: status, headers and body, ready for
/// a framework's response type. Every answer has `Cache-Control: no-store`
/// (SEC-35), and a `Content-Type`.
///
/// ```
/// use sessionkit::web::Refusal;
///
/// let answer = Refusal::new(403, "csrf").into_answer();
/// assert_eq!(answer.status(), 403);
/// assert_eq!(answer.body(), r#"{"error":"csrf"}"#);
/// assert!(answer.headers().any(|(n, v)| n == "cache-control" && v == "no-store"));
/// ```
#[derive(Clone)]
pub struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Answer {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: &Value) -> Self {
        Self::with_body(status, JSON, body.to_string())
    }

    /// `status` with a body of another type.
    pub fn with_body(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type", content_type.to_owned()),
                ("cache-control", "no-store".to_owned()),
            ],
            body: body.into(),
        }
    }

    /// Adds a header; `set-cookie` may appear several times, the others
    /// once (the protocol never sets one twice).
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds a `Set-Cookie` header.
    pub fn set_cookie(self, cookie: impl Into<String>) -> Self {
        self.header("set-cookie", cookie)
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, names in lowercase, in order; `set-cookie` once per
    /// cookie.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.headers.iter().map(|(n, v)| (*n, v.as_str()))
    }

    /// The body.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Status, headers and body, by value.
    pub fn into_parts(self) -> (u16, Vec<(&'static str, String)>, String) {
        (self.status, self.headers, self.body)
    }
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body and cookies may carry tokens.
        f.debug_struct("Answer")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// An error answer: a status and `{"error": code}` (with `"reason"` when a
/// refresh failed for a reason its holder may be told), optionally clearing
/// the session cookies, with `Retry-After` or `Allow` when they apply.
/// [`into_answer`](Self::into_answer) makes the [`Answer`].
///
/// Every error of the session operations converts into one (`From`), with
/// the status and code the error names.
///
/// ```
/// use sessionkit::web::Refusal;
///
/// let refusal = Refusal::new(429, "rate_limited").retry_after(30);
/// let answer = refusal.into_answer();
/// assert!(answer.headers().any(|(n, v)| n == "retry-after" && v == "30"));
/// ```
#[derive(Clone)]
pub struct Refusal {
    status: u16,
    code: &'static str,
    reason: Option<LogoutReason>,
    clear: Option<[String; 2]>,
    retry_after: Option<u64>,
    allow: Option<String>,
}

impl Refusal {
    /// `{"error": code}` with `status`.
    pub fn new(status: u16, code: &'static str) -> Self {
        Self {
            status,
            code,
            reason: None,
            clear: None,
            retry_after: None,
            allow: None,
        }
    }

    /// `401 {"error":"unauthorized"}`.
    pub fn unauthorized() -> Self {
        Self::new(401, "unauthorized")
    }

    /// `404 {"error":"not_found"}`.
    pub fn not_found() -> Self {
        Self::new(404, "not_found")
    }

    /// `405 {"error":"method_not_allowed"}` with `Allow: allow` (the
    /// methods the route has, comma-separated).
    pub fn method_not_allowed(allow: impl Into<String>) -> Self {
        let mut refusal = Self::new(405, "method_not_allowed");
        refusal.allow = Some(allow.into());
        refusal
    }

    /// `500 {"error":"internal_error"}`: a mistake of the server's
    /// configuration. The cause goes to the log (feature `tracing`), never
    /// to the client.
    pub fn internal(cause: &str) -> Self {
        log_error!(cause, "sessionkit: internal error");
        let _ = cause;
        Self::new(500, "internal_error")
    }

    /// The same answer, also clearing both session cookies of `cookies`.
    pub fn clearing(mut self, cookies: &CookieConfig) -> Self {
        self.clear = Some([
            cookies.clear_access_cookie(),
            cookies.clear_refresh_cookie(),
        ]);
        self
    }

    /// The same answer with `Retry-After: seconds` (at least 1), for a
    /// rate-limited request.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// The same answer with `"reason"` in the body: why the session ended.
    pub fn reason(mut self, reason: Option<LogoutReason>) -> Self {
        self.reason = reason;
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The error code (`unauthorized`, `try_refresh_token`,
    /// `token_theft_detected`, `csrf`, `not_found`, `unavailable`, ...).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Whether the answer clears the session cookies.
    pub fn is_clearing(&self) -> bool {
        self.clear.is_some()
    }

    /// The answer: `{"error": code}` (and `"reason"`), the cleared cookies,
    /// `Retry-After`, `Allow`, `Cache-Control: no-store`.
    pub fn into_answer(self) -> Answer {
        let mut body = Map::new();
        body.insert("error".to_owned(), Value::from(self.code));
        if let Some(reason) = self.reason {
            body.insert("reason".to_owned(), Value::from(reason.as_str()));
        }
        let mut answer = Answer::json(self.status, &Value::Object(body));
        for cookie in self.clear.into_iter().flatten() {
            answer = answer.set_cookie(cookie);
        }
        if let Some(seconds) = self.retry_after {
            answer = answer.header("retry-after", seconds.to_string());
        }
        if let Some(allow) = self.allow {
            answer = answer.header("allow", allow);
        }
        answer
    }
}

impl fmt::Debug for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refusal")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("reason", &self.reason)
            .field("clears_cookies", &self.clear.is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.code)
    }
}

impl std::error::Error for Refusal {}

impl From<VerifyError> for Refusal {
    fn from(e: VerifyError) -> Self {
        Self::new(e.http_status(), e.error_code())
    }
}

impl From<TokenSourceError> for Refusal {
    fn from(e: TokenSourceError) -> Self {
        Self::new(e.http_status(), e.error_code())
    }
}

impl From<CsrfError> for Refusal {
    fn from(e: CsrfError) -> Self {
        Self::new(e.http_status(), e.error_code())
    }
}

impl From<SessionError> for Refusal {
    fn from(e: SessionError) -> Self {
        if matches!(
            e,
            SessionError::InvalidClaims(_) | SessionError::InvalidUserId
        ) {
            log_error!(error = %e, "sessionkit: a login the application got wrong");
        }
        Self::new(e.http_status(), e.error_code())
    }
}

impl From<RefreshError> for Refusal {
    /// The status and code, and why the session ended when the token was
    /// genuine (`"reason"`). A refusal of the refresh route also clears
    /// the cookies on a 401; converting does not.
    fn from(e: RefreshError) -> Self {
        Self::new(e.http_status(), e.error_code()).reason(e.logout_reason())
    }
}
