//! The extractors: a handler takes the caller's session as an argument.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use sessionkit::Verified;

use crate::config::Sessions;
use crate::error::ApiError;

type ExtractFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// The caller's session, verified statelessly (no store read): the access
/// token's signature and claims are checked, so a revoked session's token
/// keeps working until it expires (the access lifetime). Use
/// [`StrictSession`] where revocation must take effect at once.
///
/// The token comes from `Authorization: Bearer` or the access cookie, as
/// the [`Transport`](crate::Transport) allows. A cookie-authenticated
/// `POST`, `PUT`, `PATCH` or `DELETE` passes the CSRF policy first.
///
/// Refusals: `401 {"error":"try_refresh_token"}` for an expired but
/// otherwise valid token (refresh, then retry), `401
/// {"error":"unauthorized"}` for none or any other, `403
/// {"error":"csrf"}`.
#[derive(Clone, Debug)]
pub struct Session(Verified);

impl Session {
    /// The verified claims.
    pub fn verified(&self) -> &Verified {
        &self.0
    }

    /// The verified claims, by value.
    pub fn into_inner(self) -> Verified {
        self.0
    }
}

impl Deref for Session {
    type Target = Verified;

    fn deref(&self) -> &Verified {
        &self.0
    }
}

impl FromRequest for Session {
    type Error = ApiError;
    type Future = ExtractFuture<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            verify(&request, Strictness::Stateless, false)
                .await?
                .map(Self)
                .ok_or_else(unauthorized)
        })
    }
}

/// The caller's session if the request carries a token at all: `None`
/// without one, and otherwise exactly as [`Session`] (an invalid or expired
/// token is refused, not ignored, so that the client refreshes or logs in
/// again rather than silently browsing as nobody).
///
/// A request without the access cookie carries no ambient authority, so
/// it skips the CSRF check: an anonymous cross-site `POST` gets `None`,
/// while one with the cookie is refused with `403 csrf`.
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
    type Error = ApiError;
    type Future = ExtractFuture<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            Ok(Self(
                verify(&request, Strictness::Stateless, true)
                    .await?
                    .map(Session),
            ))
        })
    }
}

/// The caller's session, verified with the store as well
/// ([`SessionManager::verify_strict`](sessionkit::SessionManager::verify_strict)):
/// the session must be alive and the token of its current or previous
/// generation, so revocation takes effect at once. Costs one store read.
///
/// Refusals as [`Session`]'s, and `503 {"error":"unavailable"}` when the
/// store cannot be read. Needs a session manager: in a verify-only
/// configuration it answers `500 {"error":"internal_error"}`.
#[derive(Clone, Debug)]
pub struct StrictSession(Verified);

impl StrictSession {
    /// The verified claims.
    pub fn verified(&self) -> &Verified {
        &self.0
    }

    /// The verified claims, by value.
    pub fn into_inner(self) -> Verified {
        self.0
    }
}

impl Deref for StrictSession {
    type Target = Verified;

    fn deref(&self) -> &Verified {
        &self.0
    }
}

impl FromRequest for StrictSession {
    type Error = ApiError;
    type Future = ExtractFuture<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            verify(&request, Strictness::Strict, false)
                .await?
                .map(Self)
                .ok_or_else(unauthorized)
        })
    }
}

/// The configuration itself, from the app data that
/// [`Sessions::configure`] (or `App::app_data(sessions)`) registered: a
/// login handler takes it as an argument to call [`Sessions::login`].
impl FromRequest for Sessions {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::from_app_data(request))
    }
}

#[derive(Clone, Copy)]
enum Strictness {
    Stateless,
    Strict,
}

fn unauthorized() -> ApiError {
    ApiError::from(sessionkit::web::TokenSourceError::Missing)
}

/// The verified access token of the request, `None` when it has none.
async fn verify(
    request: &HttpRequest,
    strictness: Strictness,
    anonymous_ok: bool,
) -> Result<Option<Verified>, ApiError> {
    let sessions = Sessions::from_app_data(request)?;
    let Some(token) = sessions.access_token(request, anonymous_ok)? else {
        return Ok(None);
    };
    let verified = match strictness {
        Strictness::Stateless => sessions.inner.backend.verify(token).await?,
        Strictness::Strict => sessions.manager()?.verify_strict(token).await?,
    };
    Ok(Some(verified))
}
