//! The extractors: a handler takes the caller's session as an argument.

use std::future::{Future, Ready, ready};
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use sessionkit::{SessionHandle, Verified};

use sessionkit::web::TokenSource;

use crate::config::{Head, Sessions};
use crate::error::SessionRejection;

type ExtractFuture<T> = Pin<Box<dyn Future<Output = Result<T, SessionRejection>>>>;

/// The caller's verified session: the access token passed every check of
/// `SessionManager::verify` (or of the `Verifier`, in verify-only mode),
/// without a store round trip. A revoked session's access token keeps
/// working until it expires (the access lifetime); use [`StrictSession`]
/// where revocation must take effect at once.
///
/// The token comes from `Authorization: Bearer` or the access cookie, as
/// the [`Transport`](crate::Transport) allows, never from the URL (SEC-06).
/// In cookie mode a state-changing request (anything but `GET`, `HEAD`,
/// `OPTIONS`, `TRACE`) passes the CSRF policy first (SEC-38).
///
/// Rejections, as JSON: `401 try_refresh_token` (the token expired: the
/// client refreshes and retries), `401 unauthorized`, `403 csrf`, `503
/// unavailable`.
#[derive(Clone, Debug)]
pub struct Session {
    verified: Verified,
    source: TokenSource,
}

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

impl FromRequest for Session {
    type Error = SessionRejection;
    type Future = ExtractFuture<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let sessions = Sessions::from_app_data(&request)?;
            let head = Head(request.headers());
            let protocol = sessions;
            let (verified, source) = protocol
                .verify_request(request.method().as_str(), &head)
                .await?;
            Ok(Self { verified, source })
        })
    }
}

/// The caller's session if the request carries a token at all: `None`
/// when it has neither an `Authorization` header nor the access cookie,
/// and otherwise exactly as [`Session`]. A token that fails is rejected,
/// not ignored, so that the client refreshes or logs in again rather than
/// carrying on as nobody.
///
/// Use it instead of `Option<Session>`: actix-web's blanket extractor for
/// `Option<T>` turns every rejection into `None`, a CSRF refusal and an
/// expired token included.
#[derive(Clone, Debug)]
pub struct OptionalSession(pub Option<Session>);

impl OptionalSession {
    /// The session, if any.
    pub fn into_inner(self) -> Option<Session> {
        self.0
    }
}

impl Deref for OptionalSession {
    type Target = Option<Session>;

    fn deref(&self) -> &Option<Session> {
        &self.0
    }
}

impl FromRequest for OptionalSession {
    type Error = SessionRejection;
    type Future = ExtractFuture<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let sessions = Sessions::from_app_data(&request)?;
            let head = Head(request.headers());
            let method = request.method().as_str();
            let session = sessions.verify_request_if_any(method, &head).await?;
            Ok(Self(
                session.map(|(verified, source)| Session { verified, source }),
            ))
        })
    }
}

/// Like [`Session`], and the session is also live in the store (strict
/// verification: `SessionManager::verify_strict`): a revoked session is
/// refused at once. One store read per request. In verify-only mode there
/// is no store: it answers `500 internal_error`.
#[derive(Clone, Debug)]
pub struct StrictSession(Session);

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

impl FromRequest for StrictSession {
    type Error = SessionRejection;
    type Future = ExtractFuture<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let sessions = Sessions::from_app_data(&request)?;
            let head = Head(request.headers());
            let method = request.method().as_str();
            let (verified, source) = sessions.verify_request_strict(method, &head).await?;
            Ok(Self(Session { verified, source }))
        })
    }
}

/// The configuration itself, from the app data that
/// [`Sessions::configure`] (or `App::app_data(sessions)`) registered.
impl FromRequest for Sessions {
    type Error = SessionRejection;
    type Future = Ready<Result<Self, SessionRejection>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_app_data(request))
    }
}
