//! The session manager behind an object-safe trait, so that the protocol
//! (and every handler of an integration) carries no store type; or a
//! verifier alone, in a service that only verifies.

use std::future::{Future, IntoFuture as _};
use std::pin::Pin;

use serde_json::Value;

use crate::access_token::Verified;
use crate::error::{RefreshError, SessionError, VerifyError};
use crate::jwks::Jwks;
use crate::manager::{SessionInfo, SessionManager, SessionTokens};
use crate::record::SessionHandle;
use crate::store::SessionStore;
use crate::verifier::Verifier;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The operations of a [`SessionManager`] the protocol needs, over any
/// store.
pub(crate) trait Engine: Send + Sync + 'static {
    fn verify(&self, token: &str) -> Result<Verified, VerifyError>;
    fn verify_strict<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Verified, VerifyError>>;
    fn create(
        &self,
        user_id: String,
        claims: Value,
        data: Value,
    ) -> BoxFuture<'_, Result<SessionTokens, SessionError>>;
    fn refresh<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<SessionTokens, RefreshError>>;
    fn revoke_with_refresh_token<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionHandle>, SessionError>>;
    fn revoke_with_access_token<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionHandle>, SessionError>>;
    fn revoke_if_owned<'a>(
        &'a self,
        handle: &'a SessionHandle,
        user: &'a str,
    ) -> BoxFuture<'a, Result<bool, SessionError>>;
    fn revoke_all_for_user<'a>(&'a self, user: &'a str)
    -> BoxFuture<'a, Result<u64, SessionError>>;
    fn sessions_for_user<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, SessionError>>;
    fn jwks(&self) -> Jwks;
}

impl<S: SessionStore> Engine for SessionManager<S> {
    fn verify(&self, token: &str) -> Result<Verified, VerifyError> {
        SessionManager::verify(self, token)
    }

    fn verify_strict<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Verified, VerifyError>> {
        Box::pin(SessionManager::verify_strict(self, token))
    }

    fn create(
        &self,
        user_id: String,
        claims: Value,
        data: Value,
    ) -> BoxFuture<'_, Result<SessionTokens, SessionError>> {
        Box::pin(
            SessionManager::create(self, user_id)
                .claims(claims)
                .session_data(data)
                .into_future(),
        )
    }

    fn refresh<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<SessionTokens, RefreshError>> {
        Box::pin(SessionManager::refresh(self, token))
    }

    fn revoke_with_refresh_token<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionHandle>, SessionError>> {
        Box::pin(SessionManager::revoke_with_refresh_token(self, token))
    }

    fn revoke_with_access_token<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionHandle>, SessionError>> {
        Box::pin(SessionManager::revoke_with_access_token(self, token))
    }

    fn revoke_if_owned<'a>(
        &'a self,
        handle: &'a SessionHandle,
        user: &'a str,
    ) -> BoxFuture<'a, Result<bool, SessionError>> {
        Box::pin(SessionManager::revoke_if_owned(self, handle, user))
    }

    fn revoke_all_for_user<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<u64, SessionError>> {
        Box::pin(SessionManager::revoke_all_for_user(self, user, None))
    }

    fn sessions_for_user<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, SessionError>> {
        Box::pin(SessionManager::sessions_for_user(self, user))
    }

    fn jwks(&self) -> Jwks {
        SessionManager::jwks(self)
    }
}

/// Where tokens are verified: a manager (the issuing application, every
/// operation) or a verifier (a resource service: public keys only, no
/// store, no secret).
pub(crate) enum Backend {
    Manager(Box<dyn Engine>),
    VerifyOnly(Verifier),
}

impl Backend {
    /// Stateless verification; a verifier fetches keys it does not know
    /// yet from its source, and its keys again once they are older than
    /// its maximum key age (rate limited by the verifier).
    pub(crate) async fn verify(&self, token: &str) -> Result<Verified, VerifyError> {
        match self {
            Self::Manager(engine) => engine.verify(token),
            Self::VerifyOnly(verifier) => verifier.verify_or_fetch_keys(token).await,
        }
    }

    pub(crate) fn engine(&self) -> Option<&dyn Engine> {
        match self {
            Self::Manager(engine) => Some(engine.as_ref()),
            Self::VerifyOnly(_) => None,
        }
    }
}
