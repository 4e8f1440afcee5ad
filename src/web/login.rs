//! The login flow: read the request's head before its body (the CSRF check
//! and the session the browser still holds), then, once the application
//! has checked the credentials, revoke that session, create the new one
//! and answer with it.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::answer::{Answer, Refusal};
use super::protocol::SessionProtocol;
use super::transport::RequestHeaders;
use crate::error::SessionError;
use crate::manager::SessionTokens;

/// The head of a login request, read before its body: in cookie mode it
/// has passed the CSRF policy (login CSRF: another site must not sign the
/// browser into an account of its choosing), and it remembers the session
/// cookies the browser still sends. From [`SessionProtocol::login_request`].
pub struct LoginRequest {
    header_mode: bool,
    refresh_cookie: Option<String>,
    access_cookie: Option<String>,
    user_agent: Option<String>,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("header_mode", &self.header_mode)
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

impl LoginRequest {
    /// Whether the answer carries the tokens in its body (header mode)
    /// rather than in cookies.
    pub fn is_header_mode(&self) -> bool {
        self.header_mode
    }

    /// The request's `User-Agent`, if it is text.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The session to create for `user_id`, whose credentials the
    /// application has just checked; [`SessionProtocol::login`] creates it.
    pub fn create(self, user_id: impl Into<String>) -> PendingLogin {
        PendingLogin {
            request: self,
            user_id: user_id.into(),
            claims: Ok(Value::Null),
            data: Ok(Value::Null),
        }
    }
}

/// A login about to create its session, from [`LoginRequest::create`]:
/// name custom claims and server-side data, then give it to
/// [`SessionProtocol::login`].
#[must_use = "the session is only created by `SessionProtocol::login`"]
pub struct PendingLogin {
    request: LoginRequest,
    user_id: String,
    claims: Result<Value, String>,
    data: Result<Value, String>,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl PendingLogin {
    /// Custom claims for every access token of the session (see
    /// [`CreateSession::claims`](crate::CreateSession::claims)). A value
    /// that does not serialize fails the login with 500 `internal_error`.
    pub fn claims(mut self, claims: impl Serialize) -> Self {
        self.claims = serde_json::to_value(claims).map_err(|e| e.to_string());
        self
    }

    /// Server-side data kept with the session, never sent to the client
    /// (see [`CreateSession::session_data`](crate::CreateSession::session_data)).
    pub fn session_data(mut self, data: impl Serialize) -> Self {
        self.data = serde_json::to_value(data).map_err(|e| e.to_string());
        self
    }
}

impl SessionProtocol {
    /// Reads the head of a login request: header mode or not, the CSRF
    /// check in cookie mode, the session cookies the browser still sends,
    /// the `User-Agent`.
    ///
    /// # Errors
    /// 403 `csrf`.
    pub fn login_request(&self, headers: &impl RequestHeaders) -> Result<LoginRequest, Refusal> {
        let header_mode = self.is_header_mode(headers);
        let (mut refresh_cookie, mut access_cookie) = (None, None);
        if !header_mode {
            self.check_csrf(headers)?;
            refresh_cookie = self.refresh_cookie(headers).ok().map(str::to_owned);
            let access = self
                .cookies()
                .access_token_from_cookies(headers.values("cookie"));
            access_cookie = access.ok().map(str::to_owned);
        }
        Ok(LoginRequest {
            header_mode,
            refresh_cookie,
            access_cookie,
            user_agent: headers.text("user-agent").map(str::to_owned),
        })
    }

    /// Creates the session of a login: first revokes the session the
    /// browser still holds, if its cookie is genuine (SEC-48: a new login
    /// replaces it), then answers as [`tokens_answer`](Self::tokens_answer):
    /// the cookies and `{"user_id","session_handle","session_expires_in"}`,
    /// or in header mode both tokens in the body.
    ///
    /// # Errors
    /// 503 `unavailable` if the store failed (no session was created); 500
    /// `internal_error` for claims that are not a JSON object or use a
    /// reserved name, an empty user id, or a verify-only configuration.
    pub async fn login(&self, login: PendingLogin) -> Result<(SessionTokens, Answer), Refusal> {
        let engine = self.engine()?;
        let claims = login.claims.map_err(SessionError::InvalidClaims)?;
        let data = login.data.map_err(SessionError::InvalidClaims)?;
        self.revoke_previous(&login.request).await?;
        let tokens = engine.create(login.user_id, claims, data).await?;
        let answer = self.tokens_answer(&tokens, login.request.header_mode);
        Ok((tokens, answer))
    }

    /// Revokes the session whose cookie the browser still sends, if it is
    /// genuine; it would otherwise linger in the session list with nobody
    /// able to use it.
    async fn revoke_previous(&self, request: &LoginRequest) -> Result<(), Refusal> {
        self.revoke_by_tokens(
            request.refresh_cookie.as_deref(),
            request.access_cookie.as_deref(),
        )
        .await
        .map(|_| ())
    }
}
