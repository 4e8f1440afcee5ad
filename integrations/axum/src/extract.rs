//! The session extractors: [`Session`] (stateless), [`StrictSession`]
//! (checked against the store) and `Option<Session>`.

use std::ops::Deref;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, header};
use sessionkit::web::{TokenSourceError, token_from_authorization};
use sessionkit::{SessionHandle, Verified};

use crate::config::{Sessions, Transport};
use crate::response::SessionRejection;

/// Where a request's access token came from.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum TokenSource {
    /// The access cookie.
    Cookie,
    /// `Authorization: Bearer`.
    Bearer,
}

/// The caller's verified session: the access token passed every check of
/// `SessionManager::verify` (or of the `Verifier`, in verify-only mode),
/// without a store round trip. A revoked session's access token keeps
/// working until it expires; use [`StrictSession`] where revocation must
/// be immediate.
///
/// In cookie mode, a state-changing request (anything but `GET`, `HEAD`,
/// `OPTIONS`) must also pass the CSRF policy first (SEC-38).
///
/// Rejections, as JSON: 401 `try_refresh_token` (the token expired: the
/// client refreshes and retries), 401 `unauthorized`, 403 `csrf`, 503
/// `unavailable`.
///
/// `Option<Session>` is `None` when the request carries no token at all; a
/// token that fails is still rejected, so that a client refreshes.
///
/// ```
/// use sessionkit_axum::Session;
///
/// async fn me(session: Session) -> String {
///     format!("{} (session {})", session.user_id(), session.handle())
/// }
///
/// async fn home(session: Option<Session>) -> String {
///     session.map_or_else(|| "welcome, stranger".to_owned(), |s| s.user_id().to_owned())
/// }
/// # let _ = (me, home);
/// ```
#[derive(Clone, Debug)]
pub struct Session {
    verified: Verified,
    source: TokenSource,
}

/// Like [`Session`], and the session is also live in the store (strict
/// verification): a revoked session is refused at once. One store read per
/// request. In verify-only mode there is no store: it answers 500.
///
/// ```
/// use sessionkit_axum::StrictSession;
///
/// async fn change_password(session: StrictSession) -> String {
///     // A session revoked a second ago is already refused here.
///     session.user_id().to_owned()
/// }
/// # let _ = change_password;
/// ```
#[derive(Clone, Debug)]
pub struct StrictSession(Session);

impl Session {
    /// The verified claims.
    pub fn verified(&self) -> &Verified {
        &self.verified
    }

    /// The claims, by value.
    pub fn into_verified(self) -> Verified {
        self.verified
    }

    /// The user.
    pub fn user_id(&self) -> &str {
        self.verified.user_id()
    }

    /// The session's handle.
    pub fn handle(&self) -> SessionHandle {
        self.verified.session_handle()
    }

    /// Where the token came from.
    pub fn source(&self) -> TokenSource {
        self.source
    }
}

impl Deref for Session {
    type Target = Verified;

    fn deref(&self) -> &Verified {
        &self.verified
    }
}

impl StrictSession {
    /// The session.
    pub fn into_inner(self) -> Session {
        self.0
    }
}

impl Deref for StrictSession {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.0
    }
}

fn values(headers: &HeaderMap, name: header::HeaderName) -> impl Iterator<Item = &[u8]> {
    headers.get_all(name).into_iter().map(HeaderValue::as_bytes)
}

/// Whether a method changes state, for the CSRF check.
pub(crate) fn is_state_changing(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

impl Sessions {
    /// The CSRF check for a cookie-authenticated request (SEC-38).
    ///
    /// # Errors
    /// 403 `csrf`; 500 when no policy is configured (headers-only mode
    /// never calls this).
    pub(crate) fn check_csrf(&self, headers: &HeaderMap) -> Result<(), SessionRejection> {
        let policy = self
            .inner
            .csrf
            .as_ref()
            .ok_or_else(SessionRejection::internal)?;
        policy.check(
            values(headers, header::ORIGIN),
            values(headers, header::HeaderName::from_static("sec-fetch-site")),
        )?;
        Ok(())
    }

    /// The access token of a request: `Authorization: Bearer` when headers
    /// are allowed and the request has one, the access cookie otherwise,
    /// after the CSRF check for a state-changing method (SEC-06, SEC-38).
    pub(crate) fn access_token<'a>(
        &self,
        method: &Method,
        headers: &'a HeaderMap,
    ) -> Result<(&'a str, TokenSource), SessionRejection> {
        let transport = self.inner.transport;
        let bearer_allowed = transport != Transport::Cookies;
        if transport == Transport::Headers
            || (bearer_allowed && headers.contains_key(header::AUTHORIZATION))
        {
            let token = token_from_authorization(values(headers, header::AUTHORIZATION))?;
            return Ok((token, TokenSource::Bearer));
        }
        if is_state_changing(method) {
            self.check_csrf(headers)?;
        }
        let token = self
            .inner
            .cookies
            .access_token_from_cookies(values(headers, header::COOKIE))?;
        Ok((token, TokenSource::Cookie))
    }

    /// The refresh cookie's value, if any.
    pub(crate) fn refresh_cookie<'a>(
        &self,
        headers: &'a HeaderMap,
    ) -> Result<&'a str, TokenSourceError> {
        self.inner
            .cookies
            .refresh_token_from_cookies(values(headers, header::COOKIE))
    }

    async fn session(&self, parts: &Parts, strict: bool) -> Result<Session, SessionRejection> {
        let (token, source) = self.access_token(&parts.method, &parts.headers)?;
        let verified = if strict {
            let engine = self.inner.engine().ok_or_else(SessionRejection::internal)?;
            engine.verify_strict(token).await?
        } else {
            self.inner.backend.verify(token).await?
        };
        Ok(Session { verified, source })
    }
}

impl<S> FromRequestParts<S> for Session
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Sessions::from_ref(state).session(parts, false).await
    }
}

impl<S> OptionalFromRequestParts<S> for Session
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let sessions = Sessions::from_ref(state);
        match sessions.session(parts, false).await {
            Ok(session) => Ok(Some(session)),
            Err(e) if e.code() == "unauthorized" && carries_no_token(&sessions, &parts.headers) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

fn carries_no_token(sessions: &Sessions, headers: &HeaderMap) -> bool {
    let no_bearer = !headers.contains_key(header::AUTHORIZATION);
    let no_cookie = sessions
        .inner
        .cookies
        .access_token_from_cookies(values(headers, header::COOKIE))
        == Err(TokenSourceError::Missing);
    no_bearer && no_cookie
}

impl<S> FromRequestParts<S> for StrictSession
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Sessions::from_ref(state)
            .session(parts, true)
            .await
            .map(StrictSession)
    }
}
