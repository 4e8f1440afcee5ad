//! Ending sessions (logout, logout everywhere, logout after a privilege
//! change elsewhere), listing them, and changing what they carry.

use serde::Serialize;

use super::create::claims_object;
use super::state::{MAX_ROUNDS, ROUNDS_EXHAUSTED, SessionInfo, SessionManager};
use crate::error::{Rejection, SessionError, StoreError, VerifyError};
use crate::events::{RevokeReason, SessionEvent};
use crate::log::log_debug;
use crate::record::{SessionHandle, SessionRecord};
use crate::rotation::{accepts_generation, is_burned, is_live};
use crate::store::SessionStore;

impl<S: SessionStore> SessionManager<S> {
    /// Revokes one session (logout). Returns whether it existed.
    ///
    /// Its refresh token stops working at once, and so do its access tokens
    /// under [`verify_strict`](Self::verify_strict). A session already
    /// revoked for a theft stays a tombstone until it would have expired.
    ///
    /// # Errors
    /// [`SessionError::Store`].
    pub async fn revoke(&self, handle: &SessionHandle) -> Result<bool, SessionError> {
        let found = self.inner.store.load(handle).await?;
        self.revoke_found(handle, found.as_ref()).await
    }

    /// Revokes the live session `handle` if it belongs to `user_id` (a
    /// user ending one of their own sessions), with one read of the store.
    /// Whether it was revoked.
    pub(crate) async fn revoke_if_owned(
        &self,
        handle: &SessionHandle,
        user_id: &str,
    ) -> Result<bool, SessionError> {
        let found = self.inner.store.load(handle).await?;
        match found {
            Some(record) if is_live(&record, self.now()) && record.user_id == user_id => {
                self.revoke_found(handle, Some(&record)).await
            }
            _ => Ok(false),
        }
    }

    /// [`revoke`](Self::revoke) with the session's record as just loaded.
    async fn revoke_found(
        &self,
        handle: &SessionHandle,
        found: Option<&SessionRecord>,
    ) -> Result<bool, SessionError> {
        // A session already revoked for a theft keeps its tombstone (later
        // tokens of it are told why it ended), and a revocation of the
        // user's other sessions it still owes is done now.
        if let Some(record) = found
            && is_burned(record)
        {
            if let Some(e) = self.finish_pending_revoke_all(record).await {
                return Err(e.into());
            }
            return Ok(true);
        }
        let existed = self.inner.store.delete(handle).await?;
        if existed {
            log_debug!(session = %handle, "session revoked");
            self.emit(SessionEvent::Revoked {
                handle: *handle,
                reason: RevokeReason::Requested,
            });
        }
        Ok(existed)
    }

    /// Revokes every session of a user, except `keep` (for "log out other
    /// devices"). Returns how many were revoked.
    ///
    /// # Errors
    /// [`SessionError::Store`]; some sessions may then have been revoked,
    /// and calling again finishes the job.
    pub async fn revoke_all_for_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, SessionError> {
        Ok(self.inner.store.delete_by_user(user_id, keep).await?)
    }

    /// The user's live sessions, oldest first.
    ///
    /// # Errors
    /// [`SessionError::Store`].
    pub async fn sessions_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, SessionError> {
        let now = self.now();
        let mut records = self.inner.store.list_by_user(user_id).await?;
        records.retain(|r| is_live(r, now) && r.user_id == user_id);
        records.sort_by_key(|r| (r.created_at, r.handle));
        Ok(records.into_iter().map(SessionInfo::from).collect())
    }

    /// One live session, `None` if it does not exist or has expired.
    ///
    /// # Errors
    /// [`SessionError::Store`].
    pub async fn session(
        &self,
        handle: &SessionHandle,
    ) -> Result<Option<SessionInfo>, SessionError> {
        let now = self.now();
        Ok(self
            .inner
            .store
            .load(handle)
            .await?
            .filter(|r| is_live(r, now))
            .map(SessionInfo::from))
    }

    /// Replaces the server-only data of a session.
    ///
    /// # Errors
    /// [`SessionError::NotFound`]; [`SessionError::Store`] (the data is then
    /// unchanged, or the store rejected it with [`StoreError::InvalidData`]).
    pub async fn update_session_data(
        &self,
        handle: &SessionHandle,
        data: impl Serialize,
    ) -> Result<(), SessionError> {
        let data =
            serde_json::to_value(data).map_err(|e| SessionError::InvalidClaims(e.to_string()))?;
        self.update(handle, |r| r.session_data = data.clone()).await
    }

    /// Replaces the custom claims of a session. Tokens already issued keep
    /// the old claims; the next access token (after the next refresh)
    /// carries the new ones. For a privilege change, use
    /// [`reissue`](Self::reissue) instead.
    ///
    /// # Errors
    /// [`SessionError::InvalidClaims`], [`SessionError::NotFound`],
    /// [`SessionError::Store`].
    pub async fn update_access_claims(
        &self,
        handle: &SessionHandle,
        claims: impl Serialize,
    ) -> Result<(), SessionError> {
        let claims = claims_object(claims)?;
        self.update(handle, |r| r.access_claims = claims.clone())
            .await
    }

    async fn update(
        &self,
        handle: &SessionHandle,
        change: impl Fn(&mut SessionRecord),
    ) -> Result<(), SessionError> {
        let store = &self.inner.store;
        for _ in 0..MAX_ROUNDS {
            let now = self.now();
            let Some(mut record) = store.load(handle).await?.filter(|r| is_live(r, now)) else {
                return Err(SessionError::NotFound);
            };
            let expected = record.version;
            change(&mut record);
            record.version = expected.checked_add(1).ok_or(SessionError::NotFound)?;
            if store.compare_and_swap(expected, &record).await? {
                return Ok(());
            }
        }
        Err(SessionError::Store(StoreError::backend(ROUNDS_EXHAUSTED)))
    }

    /// Logs out the session a refresh token belongs to: the logout route
    /// should receive the refresh cookie too, so that logout works even
    /// when the access token is missing, expired or signed with a key that
    /// has since been retired. Returns the handle of the revoked session,
    /// `None` if it no longer existed.
    ///
    /// Any genuine refresh token of the session is accepted, current or
    /// retired: presenting a retired one to [`refresh`](Self::refresh)
    /// would revoke the session as a theft anyway. The store is not read
    /// before the delete, and the token is not rotated.
    ///
    /// # Errors
    /// [`SessionError::Unauthorized`] for a token that is not a genuine
    /// refresh token of this server (nothing is revoked);
    /// [`SessionError::Store`].
    pub async fn revoke_with_refresh_token(
        &self,
        refresh_token: &str,
    ) -> Result<Option<SessionHandle>, SessionError> {
        let inner = &self.inner;
        let presented = inner
            .refresh_keys
            .open(refresh_token, inner.config.max_token_len)
            .map_err(SessionError::Unauthorized)?;
        Ok(self
            .revoke(&presented.handle)
            .await?
            .then_some(presented.handle))
    }

    /// Logs out the session an access token belongs to, whether or not the
    /// token has expired. Returns the handle of the revoked session, `None`
    /// if it no longer existed.
    ///
    /// The token must pass every check of [`verify`](Self::verify) but
    /// expiry, and belong to the session's current or previous generation,
    /// as [`verify_strict`](Self::verify_strict) requires: an old access
    /// token found in a log cannot end a session that has been refreshed
    /// since. An access token signed with a retired key is accepted for as
    /// long as the key is configured, so rotating keys never prevents a
    /// logout.
    ///
    /// # Errors
    /// [`SessionError::Unauthorized`] for a token that is not genuine, or of
    /// a stale generation (nothing is revoked); [`SessionError::Store`].
    pub async fn revoke_with_access_token(
        &self,
        access_token: &str,
    ) -> Result<Option<SessionHandle>, SessionError> {
        let verified = self
            .dangerous()
            .verify_ignoring_expiry(access_token)
            .map_err(|e| match e {
                VerifyError::Unauthorized(r) => SessionError::Unauthorized(r),
                _ => SessionError::Unauthorized(Rejection::Malformed),
            })?;
        let handle = verified.session_handle();
        let Some(record) = self.inner.store.load(&handle).await? else {
            return Ok(None);
        };
        // A tombstone (already revoked, for a theft) has nothing to check.
        if !is_burned(&record) {
            if record.user_id != verified.user_id() {
                return Err(SessionError::Unauthorized(Rejection::SessionNotFound));
            }
            if !accepts_generation(&record, verified.generation()) {
                return Err(SessionError::Unauthorized(Rejection::StaleGeneration));
            }
        }
        Ok(self
            .revoke_found(&handle, Some(&record))
            .await?
            .then_some(handle))
    }
}
