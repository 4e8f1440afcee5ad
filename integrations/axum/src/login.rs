//! The login helper: after the application has checked the credentials,
//! one call creates the session and answers with it.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::ops::Deref;
use std::pin::Pin;

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::Serialize;
use sessionkit::web::{LoginRequest, PendingLogin};
use sessionkit::{SessionHandle, SessionTokens};

use crate::config::{Head, Sessions};
use crate::response::{SessionRejection, respond};

/// A login request, taken as a handler argument before the body: in cookie
/// mode it has already passed the CSRF policy (login CSRF: another site
/// must not sign the browser into an account of its choosing), so the
/// application checks the credentials only for requests from its own
/// origins.
///
/// ```
/// # use axum::response::Response;
/// # use axum::body::Bytes;
/// use sessionkit_axum::Login;
/// use serde_json::json;
///
/// async fn login(login: Login, body: Bytes) -> Response {
///     // ... parse `body`, rate-limit, check the password ...
///     let user_id = "alice";
///     match login.create(user_id).session_data(json!({ "device": "Firefox on Linux" })).await {
///         Ok(logged_in) => logged_in.into_response(),
///         Err(rejection) => rejection.into_response(),
///     }
/// }
/// # use axum::response::IntoResponse;
/// ```
#[derive(Debug)]
pub struct Login {
    sessions: Sessions,
    request: LoginRequest,
}

impl<S> FromRequestParts<S> for Login
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let sessions = Sessions::from_ref(state);
        let request = sessions.login_request(&Head(&parts.headers))?;
        Ok(Self { sessions, request })
    }
}

/// The request's head: `is_header_mode()` (the answer carries the tokens
/// in its body rather than in cookies) and `user_agent()`.
impl Deref for Login {
    type Target = LoginRequest;

    fn deref(&self) -> &LoginRequest {
        &self.request
    }
}

impl Login {
    /// Creates a session for `user_id`, whose credentials the application
    /// has just checked. Await it; name custom claims and server-side
    /// data first if needed. It first revokes the session the browser
    /// still holds, if its cookie is genuine (SEC-48).
    ///
    /// # Errors
    /// (When awaited.) `503 unavailable` if the store failed (no session
    /// was created); `500 internal_error` for claims that are not a JSON
    /// object or use a reserved name, an empty user id, or a verify-only
    /// configuration.
    pub fn create(self, user_id: impl Into<String>) -> CreateLogin {
        CreateLogin {
            sessions: self.sessions,
            pending: self.request.create(user_id),
        }
    }
}

/// A login about to create its session, from [`Login::create`].
#[derive(Debug)]
#[must_use = "the session is only created when this is awaited"]
pub struct CreateLogin {
    sessions: Sessions,
    pending: PendingLogin,
}

impl CreateLogin {
    /// Custom claims for every access token of the session (see
    /// `sessionkit::CreateSession::claims`).
    pub fn claims(self, claims: impl Serialize) -> Self {
        let pending = self.pending.claims(claims);
        Self { pending, ..self }
    }

    /// Server-side data kept with the session, never sent to the client.
    pub fn session_data(self, data: impl Serialize) -> Self {
        let pending = self.pending.session_data(data);
        Self { pending, ..self }
    }

    async fn run(self) -> Result<LoggedIn, SessionRejection> {
        let (tokens, answer) = self.sessions.login(self.pending).await?;
        Ok(LoggedIn {
            response: respond(answer),
            tokens,
        })
    }
}

impl IntoFuture for CreateLogin {
    type Output = Result<LoggedIn, SessionRejection>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// A created session and its answer: the cookies and
/// `{"user_id","session_handle","session_expires_in"}` (cookie mode), or
/// both tokens in the JSON body (header mode), always with
/// `Cache-Control: no-store`.
pub struct LoggedIn {
    response: Response,
    tokens: SessionTokens,
}

impl fmt::Debug for LoggedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggedIn")
            .field("handle", &self.tokens.handle)
            .field("user_id", &self.tokens.user_id)
            .finish_non_exhaustive()
    }
}

impl LoggedIn {
    /// The new session's handle.
    pub fn handle(&self) -> SessionHandle {
        self.tokens.handle
    }

    /// The user.
    pub fn user_id(&self) -> &str {
        &self.tokens.user_id
    }
}

impl IntoResponse for LoggedIn {
    fn into_response(self) -> Response {
        self.response
    }
}
