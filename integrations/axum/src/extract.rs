//! The session extractors: [`Session`] (stateless), [`StrictSession`]
//! (checked against the store) and `Option<Session>`.

use std::ops::Deref;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use sessionkit::web::TokenSource;
use sessionkit::{SessionHandle, Verified};

use crate::config::{Head, Sessions};
use crate::response::SessionRejection;

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

impl<S> FromRequestParts<S> for Session
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let sessions = Sessions::from_ref(state);
        let head = Head(&parts.headers);
        let (verified, source) = sessions
            .verify_request(parts.method.as_str(), &head)
            .await?;
        Ok(Self { verified, source })
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
        let head = Head(&parts.headers);
        let session = sessions
            .verify_request_if_any(parts.method.as_str(), &head)
            .await?;
        Ok(session.map(|(verified, source)| Self { verified, source }))
    }
}

impl<S> FromRequestParts<S> for StrictSession
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let sessions = Sessions::from_ref(state);
        let head = Head(&parts.headers);
        let (verified, source) = sessions
            .verify_request_strict(parts.method.as_str(), &head)
            .await?;
        Ok(Self(Session { verified, source }))
    }
}
