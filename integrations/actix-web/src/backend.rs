//! What the extractors and routes need of a session manager, as an
//! object-safe trait, so that [`Sessions`](crate::Sessions) carries no store
//! type parameter and handlers name no store type.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use sessionkit::jwks::Jwks;
use sessionkit::store::SessionStore;
use sessionkit::{
    RefreshError, SessionError, SessionHandle, SessionInfo, SessionManager, SessionTokens,
    Verified, Verifier, VerifyError,
};

/// A boxed future; actix-web runs handlers on a single thread, so it need
/// not be `Send`.
pub(crate) type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The operations of a [`SessionManager`], over any store.
pub(crate) trait Manager: Send + Sync + 'static {
    fn verify(&self, access_token: &str) -> Result<Verified, VerifyError>;
    fn verify_strict<'a>(
        &'a self,
        access_token: &'a str,
    ) -> LocalFuture<'a, Result<Verified, VerifyError>>;
    fn create(
        &self,
        user_id: String,
        claims: Value,
        session_data: Value,
    ) -> LocalFuture<'_, Result<SessionTokens, SessionError>>;
    fn refresh<'a>(
        &'a self,
        refresh_token: &'a str,
    ) -> LocalFuture<'a, Result<SessionTokens, RefreshError>>;
    fn revoke<'a>(
        &'a self,
        handle: &'a SessionHandle,
    ) -> LocalFuture<'a, Result<bool, SessionError>>;
    fn revoke_with_refresh_token<'a>(
        &'a self,
        refresh_token: &'a str,
    ) -> LocalFuture<'a, Result<Option<SessionHandle>, SessionError>>;
    fn revoke_with_access_token<'a>(
        &'a self,
        access_token: &'a str,
    ) -> LocalFuture<'a, Result<Option<SessionHandle>, SessionError>>;
    fn revoke_all_for_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> LocalFuture<'a, Result<u64, SessionError>>;
    fn sessions_for_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> LocalFuture<'a, Result<Vec<SessionInfo>, SessionError>>;
    fn session<'a>(
        &'a self,
        handle: &'a SessionHandle,
    ) -> LocalFuture<'a, Result<Option<SessionInfo>, SessionError>>;
    fn jwks(&self) -> Jwks;
}

impl<S: SessionStore> Manager for SessionManager<S> {
    fn verify(&self, access_token: &str) -> Result<Verified, VerifyError> {
        SessionManager::verify(self, access_token)
    }

    fn verify_strict<'a>(
        &'a self,
        access_token: &'a str,
    ) -> LocalFuture<'a, Result<Verified, VerifyError>> {
        Box::pin(SessionManager::verify_strict(self, access_token))
    }

    fn create(
        &self,
        user_id: String,
        claims: Value,
        session_data: Value,
    ) -> LocalFuture<'_, Result<SessionTokens, SessionError>> {
        Box::pin(
            SessionManager::create(self, user_id)
                .claims(claims)
                .session_data(session_data)
                .into_future(),
        )
    }

    fn refresh<'a>(
        &'a self,
        refresh_token: &'a str,
    ) -> LocalFuture<'a, Result<SessionTokens, RefreshError>> {
        Box::pin(SessionManager::refresh(self, refresh_token))
    }

    fn revoke<'a>(
        &'a self,
        handle: &'a SessionHandle,
    ) -> LocalFuture<'a, Result<bool, SessionError>> {
        Box::pin(SessionManager::revoke(self, handle))
    }

    fn revoke_with_refresh_token<'a>(
        &'a self,
        refresh_token: &'a str,
    ) -> LocalFuture<'a, Result<Option<SessionHandle>, SessionError>> {
        Box::pin(SessionManager::revoke_with_refresh_token(
            self,
            refresh_token,
        ))
    }

    fn revoke_with_access_token<'a>(
        &'a self,
        access_token: &'a str,
    ) -> LocalFuture<'a, Result<Option<SessionHandle>, SessionError>> {
        Box::pin(SessionManager::revoke_with_access_token(self, access_token))
    }

    fn revoke_all_for_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> LocalFuture<'a, Result<u64, SessionError>> {
        Box::pin(SessionManager::revoke_all_for_user(self, user_id, None))
    }

    fn sessions_for_user<'a>(
        &'a self,
        user_id: &'a str,
    ) -> LocalFuture<'a, Result<Vec<SessionInfo>, SessionError>> {
        Box::pin(SessionManager::sessions_for_user(self, user_id))
    }

    fn session<'a>(
        &'a self,
        handle: &'a SessionHandle,
    ) -> LocalFuture<'a, Result<Option<SessionInfo>, SessionError>> {
        Box::pin(SessionManager::session(self, handle))
    }

    fn jwks(&self) -> Jwks {
        SessionManager::jwks(self)
    }
}

/// Where verification comes from: a manager (everything), or a
/// [`Verifier`] alone (verify only: no store, no secret).
pub(crate) enum Backend {
    Manager(Box<dyn Manager>),
    Verifier(Verifier),
}

impl Backend {
    /// Stateless verification; a verifier fetches keys it does not know
    /// yet from its source (rate limited by the verifier).
    pub(crate) async fn verify(&self, access_token: &str) -> Result<Verified, VerifyError> {
        match self {
            Self::Manager(m) => m.verify(access_token),
            Self::Verifier(v) => v.verify_or_fetch_keys(access_token).await,
        }
    }

    pub(crate) fn manager(&self) -> Option<&dyn Manager> {
        match self {
            Self::Manager(m) => Some(m.as_ref()),
            Self::Verifier(_) => None,
        }
    }
}
