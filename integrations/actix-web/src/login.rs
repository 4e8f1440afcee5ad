//! The login helper: after the application has checked the credentials,
//! one call creates the session and answers.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use sessionkit::SessionError;

use crate::config::Sessions;
use crate::error::ApiError;
use crate::respond::with_tokens;

impl Sessions {
    /// Logs `user_id` in, once your handler has checked their credentials:
    /// creates the session (with the custom claims and server-side data
    /// you name on the returned [`Login`]) and, awaited, gives the answer
    /// to send: `{"user_id","session_handle"}` and both cookies, or in
    /// header mode the tokens in the body; `Cache-Control: no-store`.
    ///
    /// In cookie mode the request first passes the CSRF check (a forged
    /// login must not sign the browser into an account of the attacker's
    /// choosing), and a session whose cookie the browser still holds is
    /// revoked once the new one exists (SEC-08): one browser, one session.
    ///
    /// ```no_run
    /// # use actix_web::{HttpRequest, HttpResponse, web};
    /// # use sessionkit_actix_web::{ApiError, Sessions};
    /// # fn check_password(_: &[u8]) -> Option<String> { None }
    /// async fn login(
    ///     sessions: Sessions,
    ///     request: HttpRequest,
    ///     body: web::Bytes,
    /// ) -> Result<HttpResponse, ApiError> {
    ///     sessions.check_csrf(&request)?; // before spending time on a hash
    ///     let user = check_password(&body).ok_or(ApiError::new(
    ///         actix_web::http::StatusCode::UNAUTHORIZED,
    ///         "invalid_credentials",
    ///     ))?;
    ///     sessions
    ///         .login(&request, user)
    ///         .session_data(serde_json::json!({ "device": "Firefox on Linux" }))
    ///         .await
    /// }
    /// ```
    ///
    /// # Errors
    /// (When awaited.) `403 csrf`; `503 unavailable` if the store failed
    /// (no session was created); `500 internal_error` for claims that are
    /// not a JSON object or use a reserved name, an empty user id, or a
    /// verify-only configuration.
    pub fn login(&self, request: &HttpRequest, user_id: impl Into<String>) -> Login<'_> {
        Login {
            sessions: self,
            request: request.clone(),
            user_id: user_id.into(),
            claims: Ok(Value::Null),
            session_data: Ok(Value::Null),
        }
    }
}

/// A login about to happen, from [`Sessions::login`]; await it.
#[must_use = "the session is only created when this is awaited"]
pub struct Login<'a> {
    sessions: &'a Sessions,
    request: HttpRequest,
    user_id: String,
    claims: Result<Value, SessionError>,
    session_data: Result<Value, SessionError>,
}

impl Login<'_> {
    /// Custom claims for every access token of the session (see
    /// [`CreateSession::claims`](sessionkit::CreateSession::claims)).
    pub fn claims(mut self, claims: impl Serialize) -> Self {
        self.claims = to_value(claims);
        self
    }

    /// Server-side data kept with the session, never sent to the client
    /// (see [`CreateSession::session_data`](sessionkit::CreateSession::session_data)).
    pub fn session_data(mut self, data: impl Serialize) -> Self {
        self.session_data = to_value(data);
        self
    }

    async fn run(self) -> Result<HttpResponse, ApiError> {
        let sessions = self.sessions;
        let request = &self.request;
        let manager = sessions.manager()?;
        let header_mode = sessions.is_header_mode(request);
        // A cookie-mode login is state-changing and authenticated by
        // nothing but its origin.
        sessions.check_csrf(request)?;
        let tokens = manager
            .create(self.user_id, self.claims?, self.session_data?)
            .await?;
        if !header_mode {
            revoke_previous(sessions, request).await;
        }
        Ok(with_tokens(sessions, &tokens, header_mode))
    }
}

/// Revokes the session whose cookies the browser sends along with a new
/// login: its cookies are about to be replaced, so nobody could use it
/// again, and it would linger in the session list. Best effort: a forged
/// cookie revokes nothing, and a store failure leaves the old session to
/// expire on its own.
async fn revoke_previous(sessions: &Sessions, request: &HttpRequest) {
    let Ok(manager) = sessions.manager() else {
        return;
    };
    let cookies = sessions.cookies();
    let headers = || crate::config::values(request.headers(), "cookie");
    if let Ok(token) = cookies.refresh_token_from_cookies(headers()) {
        match manager.revoke_with_refresh_token(token).await {
            Ok(Some(_)) => return,
            Ok(None) | Err(SessionError::Unauthorized(_)) => {}
            Err(e) => log_not_revoked(&e),
        }
    }
    if let Ok(token) = cookies.access_token_from_cookies(headers())
        && let Err(e @ (SessionError::Store(_) | SessionError::Random(_))) =
            manager.revoke_with_access_token(token).await
    {
        log_not_revoked(&e);
    }
}

fn log_not_revoked(e: &SessionError) {
    log::warn!("sessionkit-actix-web: the previous session was not revoked at login: {e}");
}

impl<'a> IntoFuture for Login<'a> {
    type Output = Result<HttpResponse, ApiError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl fmt::Debug for Login<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

fn to_value(value: impl Serialize) -> Result<Value, SessionError> {
    serde_json::to_value(value).map_err(|e| SessionError::InvalidClaims(e.to_string()))
}
