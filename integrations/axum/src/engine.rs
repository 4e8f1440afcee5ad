//! The session manager behind an object-safe trait, so that nothing in the
//! integration carries the store's type.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use sessionkit::jwks::Jwks;
use sessionkit::store::SessionStore;
use sessionkit::{
    RefreshError, SessionError, SessionHandle, SessionInfo, SessionManager, SessionTokens,
    Verified, Verifier, VerifyError,
};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the routes and extractors need of a [`SessionManager`].
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
    fn revoke(&self, handle: SessionHandle) -> BoxFuture<'_, Result<bool, SessionError>>;
    fn revoke_all_for_user<'a>(&'a self, user: &'a str)
    -> BoxFuture<'a, Result<u64, SessionError>>;
    fn sessions_for_user<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, SessionError>>;
    fn session(
        &self,
        handle: SessionHandle,
    ) -> BoxFuture<'_, Result<Option<SessionInfo>, SessionError>>;
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
        Box::pin(async move {
            SessionManager::create(self, user_id)
                .claims(claims)
                .session_data(data)
                .await
        })
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

    fn revoke(&self, handle: SessionHandle) -> BoxFuture<'_, Result<bool, SessionError>> {
        Box::pin(async move { SessionManager::revoke(self, &handle).await })
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

    fn session(
        &self,
        handle: SessionHandle,
    ) -> BoxFuture<'_, Result<Option<SessionInfo>, SessionError>> {
        Box::pin(async move { SessionManager::session(self, &handle).await })
    }

    fn jwks(&self) -> Jwks {
        SessionManager::jwks(self)
    }
}

/// Where tokens are verified: a manager (the issuing application) or a
/// verifier (a resource service with public keys only).
pub(crate) enum Backend {
    Manager(Box<dyn Engine>),
    VerifyOnly(Verifier),
}

impl Backend {
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
