//! The login helper: after the application has checked the credentials,
//! one call creates the session and answers with it.

use std::fmt;
use std::future::{Future, IntoFuture, Ready, ready};
use std::pin::Pin;

use actix_web::body::BoxBody;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder};
use serde::Serialize;
use serde_json::Value;
use sessionkit::{SessionError, SessionHandle, SessionTokens};

use crate::config::Sessions;
use crate::error::SessionRejection;
use crate::respond::with_tokens;

/// A login request, taken as a handler argument before the body: in cookie
/// mode it has already passed the CSRF policy (login CSRF: another site
/// must not sign the browser into an account of its choosing), so the
/// application spends a password hash only on requests from its own
/// origins.
///
/// ```
/// use actix_web::{HttpResponse, web};
/// use serde_json::json;
/// use sessionkit_actix_web::{LoggedIn, Login, SessionRejection};
///
/// async fn login(login: Login, body: web::Bytes) -> Result<LoggedIn, SessionRejection> {
///     // ... parse `body`, rate-limit, check the password ...
///     let user_id = "alice";
///     login
///         .create(user_id)
///         .session_data(json!({ "device": "Firefox on Linux" }))
///         .await
/// }
/// ```
///
/// Awaited, [`create`](Self::create) first revokes the session whose
/// cookie the browser still sends, if it is genuine (a new login replaces
/// it), then creates the new session and gives the answer:
/// `{"user_id","session_handle"}` and both cookies, or in header mode the
/// tokens in the body; `Cache-Control: no-store`.
pub struct Login {
    sessions: Sessions,
    header_mode: bool,
    refresh_cookie: Option<String>,
    access_cookie: Option<String>,
    user_agent: Option<String>,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("header_mode", &self.header_mode)
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

impl FromRequest for Login {
    type Error = SessionRejection;
    type Future = Ready<Result<Self, SessionRejection>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Sessions::from_app_data(request).and_then(|s| Self::from_request_head(s, request)))
    }
}

impl Login {
    fn from_request_head(
        sessions: Sessions,
        request: &HttpRequest,
    ) -> Result<Self, SessionRejection> {
        let headers = request.headers();
        let header_mode = sessions.is_header_mode(request);
        let (mut refresh_cookie, mut access_cookie) = (None, None);
        if !header_mode {
            sessions.check_csrf(headers)?;
            refresh_cookie = sessions.refresh_cookie(headers).ok().map(str::to_owned);
            access_cookie = sessions
                .cookies()
                .access_token_from_cookies(crate::config::values(headers, "cookie"))
                .ok()
                .map(str::to_owned);
        }
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self {
            sessions,
            header_mode,
            refresh_cookie,
            access_cookie,
            user_agent,
        })
    }

    /// Whether the answer carries the tokens in its body (header mode)
    /// rather than in cookies.
    pub fn is_header_mode(&self) -> bool {
        self.header_mode
    }

    /// The request's `User-Agent`, if it is text.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// Creates a session for `user_id`, whose credentials the application
    /// has just checked. Await it; name custom claims and server-side data
    /// first if needed.
    ///
    /// # Errors
    /// (When awaited.) `503 unavailable` if the store failed (no session
    /// was created); `500 internal_error` for claims that are not a JSON
    /// object or use a reserved name, an empty user id, or a verify-only
    /// configuration.
    pub fn create(self, user_id: impl Into<String>) -> CreateLogin {
        CreateLogin {
            login: self,
            user_id: user_id.into(),
            claims: Ok(Value::Null),
            data: Ok(Value::Null),
        }
    }

    /// Revokes the session the browser still holds, if its cookie is
    /// genuine (SEC-08): a new login replaces it, and it would otherwise
    /// linger in the session list with nobody able to use it.
    async fn revoke_previous(&self) -> Result<(), SessionRejection> {
        let manager = self.sessions.manager()?;
        if let Some(token) = &self.refresh_cookie {
            match manager.revoke_with_refresh_token(token).await {
                Ok(_) => return Ok(()),
                Err(SessionError::Unauthorized(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(token) = &self.access_cookie {
            match manager.revoke_with_access_token(token).await {
                Ok(_) | Err(SessionError::Unauthorized(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// A login about to create its session, from [`Login::create`]; await it.
#[must_use = "the session is only created when this is awaited"]
pub struct CreateLogin {
    login: Login,
    user_id: String,
    claims: Result<Value, String>,
    data: Result<Value, String>,
}

impl fmt::Debug for CreateLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateLogin")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl CreateLogin {
    /// Custom claims for every access token of the session (see
    /// [`CreateSession::claims`](sessionkit::CreateSession::claims)).
    pub fn claims(mut self, claims: impl Serialize) -> Self {
        self.claims = serde_json::to_value(claims).map_err(|e| e.to_string());
        self
    }

    /// Server-side data kept with the session, never sent to the client
    /// (see [`CreateSession::session_data`](sessionkit::CreateSession::session_data)).
    pub fn session_data(mut self, data: impl Serialize) -> Self {
        self.data = serde_json::to_value(data).map_err(|e| e.to_string());
        self
    }

    async fn run(self) -> Result<LoggedIn, SessionRejection> {
        let login = self.login;
        let manager = login.sessions.manager()?;
        let claims = self.claims.map_err(SessionError::InvalidClaims)?;
        let data = self.data.map_err(SessionError::InvalidClaims)?;
        login.revoke_previous().await?;
        let tokens = manager.create(self.user_id, claims, data).await?;
        Ok(LoggedIn {
            response: with_tokens(&login.sessions, &tokens, login.header_mode),
            tokens,
        })
    }
}

impl IntoFuture for CreateLogin {
    type Output = Result<LoggedIn, SessionRejection>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// A created session and its answer (a [`Responder`]): the cookies and
/// `{"user_id","session_handle"}` (cookie mode), or both tokens in the
/// JSON body (header mode), always with `Cache-Control: no-store`.
pub struct LoggedIn {
    response: HttpResponse,
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

    /// The answer.
    pub fn into_response(self) -> HttpResponse {
        self.response
    }
}

impl Responder for LoggedIn {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        self.response
    }
}
