//! Operations that skip a check on purpose, kept apart so that every use
//! reads as what it is (compare rustls' `dangerous()` and jsonwebtoken's
//! `dangerous` module).

use std::fmt;

use super::state::SessionManager;
use crate::access_token::{self, Expiry, Verified};
use crate::error::VerifyError;
use crate::store::SessionStore;

/// Access to a [`SessionManager`]'s deliberately dangerous operations, from
/// [`SessionManager::dangerous`].
///
/// Nothing here is needed for logging in, verifying, refreshing or logging
/// out: [`SessionManager::revoke_with_access_token`] and
/// [`SessionManager::revoke_with_refresh_token`] identify the session to log
/// out with the checks that are safe for that purpose.
pub struct DangerousSessionManager<'a, S> {
    manager: &'a SessionManager<S>,
}

impl<S: SessionStore> SessionManager<S> {
    /// Deliberately dangerous operations, named so that they read as such
    /// where they are used: see [`DangerousSessionManager`].
    pub fn dangerous(&self) -> DangerousSessionManager<'_, S> {
        DangerousSessionManager { manager: self }
    }
}

impl<S: SessionStore> DangerousSessionManager<'_, S> {
    /// Verifies an access token that may have expired: every check of
    /// [`SessionManager::verify`] but `exp`.
    ///
    /// # Security
    /// Never use this to authorize anything: an expired token proves
    /// nothing about the present, and it may belong to a session that has
    /// since been revoked. It is meant for diagnostics and for reading the
    /// claims of a token that is known to be stale.
    ///
    /// # Errors
    /// [`VerifyError::Unauthorized`] for anything but expiry.
    pub fn verify_ignoring_expiry(&self, access_token: &str) -> Result<Verified, VerifyError> {
        let inner = &self.manager.inner;
        access_token::verify(
            &inner.keys,
            access_token,
            self.manager.now(),
            &inner.validation,
            Expiry::Ignore,
        )
    }
}

impl<S> fmt::Debug for DangerousSessionManager<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DangerousSessionManager")
            .finish_non_exhaustive()
    }
}
