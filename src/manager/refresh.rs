//! [`SessionManager::refresh`]: the refresh table (see the `rotation` module), applied.
//!
//! One loop. Each round asks the store for the one write the table allows
//! (row 4, [`SessionStore::rotate_if_current`]); when it does not apply,
//! the record the store found decides the answer through the pure
//! [`decide`] (grace, theft, expiry, a lost write). A round that finds the
//! session still rotatable lost a race to another writer or read a
//! snapshot from before one, and asks again: at most `MAX_ROUNDS`. A
//! store failure is followed by one read-back ([`SessionManager::read_back`])
//! that finds out whether the rotation was applied with its answer lost.

use time::OffsetDateTime;

use super::state::{MAX_ROUNDS, ROUNDS_EXHAUSTED, SessionManager, SessionTokens};
use crate::config::TheftPolicy;
use crate::error::{RandomError, RefreshError, Rejection, StoreError};
use crate::events::{RevokeReason, SessionEvent};
use crate::log::{log_debug, log_warn};
use crate::random;
use crate::record::{RotationNonce, SessionRecord};
use crate::refresh_token::Presented;
use crate::rotation::{
    Decision, PresentedToken, RotateOutcome, Rotation, Tombstone, burned, decide, tombstone,
};
use crate::store::SessionStore;

/// How many times revoking every session of a user after a theft is tried
/// before the revocation is reported incomplete.
const REVOKE_ALL_ATTEMPTS: usize = 3;

impl<S: SessionStore> SessionManager<S> {
    /// Exchanges a refresh token for new tokens, rotating it.
    ///
    /// The presented token is retired. Presenting it again is only
    /// accepted inside the grace window, where it returns the very same
    /// successor; after that, or for any older token, it is treated as
    /// theft and the session is revoked.
    ///
    /// The common case, a current token, is one store call:
    /// [`SessionStore::rotate_if_current`] (one round trip for a store that
    /// implements it). Otherwise the record that call found decides the
    /// answer (grace, theft, expiry).
    ///
    /// # Errors
    /// [`RefreshError::Unauthorized`] for an invalid, forged, expired or
    /// unknown token (nothing is revoked);
    /// [`RefreshError::TokenTheftDetected`] for a reused token (the session
    /// has been revoked); [`RefreshError::TheftRevocationIncomplete`] when,
    /// under [`TheftPolicy::RevokeAllForUser`], the user's other sessions
    /// could not all be revoked (the stolen session is dead; the next
    /// presentation of any of its tokens tries again);
    /// [`RefreshError::Store`] if the store failed (SEC-24). Then either
    /// nothing was written and the presented token still works, or the
    /// rotation was written but could not be confirmed (the store failed
    /// again when read back): a retry with the presented token inside the
    /// grace window then receives the persisted successor. With a grace
    /// window of 0 such a retry is treated as reuse, which is why the
    /// default window is not 0.
    pub async fn refresh(&self, refresh_token: &str) -> Result<SessionTokens, RefreshError> {
        let inner = &self.inner;
        let presented = inner
            .refresh_keys
            .open(refresh_token, inner.config.max_token_len)
            .map_err(RefreshError::Unauthorized)?;
        // One successor per request: every round asks for the same
        // rotation, so a write applied with its answer lost is recognised.
        let nonce = new_nonce()?;
        // None only at the end of the generation range, which no session
        // reaches: there is nothing the token could be the current one of.
        let secret = inner
            .refresh_keys
            .successor(&presented, &nonce)
            .ok_or(RefreshError::Unauthorized(Rejection::FutureGeneration))?;
        let token = PresentedToken {
            generation: presented.generation,
            hash: &presented.hash,
        };
        for _ in 0..MAX_ROUNDS {
            let now = self.now();
            let rotation = Rotation::new(
                presented.handle,
                presented.generation,
                presented.hash,
                secret.hash(),
                nonce,
                now,
                inner.config.refresh_idle_ttl,
            );
            let found = match self.rotate(&rotation).await? {
                RotateOutcome::Rotated(next) => {
                    log_debug!(session = %next.handle, generation = next.generation, "refresh token rotated");
                    return Ok(self.issue(&next, &secret, now));
                }
                RotateOutcome::Unchanged(found) => found,
            };
            match (
                decide(found.as_ref(), token, now, inner.config.grace),
                found,
            ) {
                (Decision::Rotate, _) => {
                    log_debug!(session = %presented.handle, "lost a rotation race, asking again");
                }
                (Decision::Grace, Some(record)) => return self.grace(&presented, &record, now),
                (Decision::Theft, Some(record)) => {
                    return Err(self.theft(&presented, record).await);
                }
                (Decision::TheftRevoked, Some(record)) => {
                    return Err(self.theft_revoked(record).await);
                }
                // Not deleted here: the record read may be a snapshot from
                // before a concurrent rotation that extended the session,
                // and expired records go with purge_expired (or a TTL).
                (Decision::Expired, _) => {
                    return Err(RefreshError::Unauthorized(Rejection::Expired));
                }
                (Decision::FutureGeneration, _) => {
                    log_warn!(session = %presented.handle, "refresh token from a generation the store never reached");
                    return Err(RefreshError::Unauthorized(Rejection::FutureGeneration));
                }
                (
                    Decision::NotFound | Decision::Grace | Decision::Theft | Decision::TheftRevoked,
                    _,
                ) => {
                    return Err(RefreshError::Unauthorized(Rejection::SessionNotFound));
                }
            }
        }
        Err(RefreshError::Store(StoreError::backend(ROUNDS_EXHAUSTED)))
    }

    /// Row 4: the one write of a refresh. An `Unchanged` record is only
    /// ever the session the token names; a `Rotated` one only ever this
    /// rotation's result.
    async fn rotate(&self, rotation: &Rotation) -> Result<RotateOutcome, RefreshError> {
        let failure = match self.inner.store.rotate_if_current(rotation).await {
            Ok(RotateOutcome::Rotated(next)) if rotation.produced(&next) => {
                return Ok(RotateOutcome::Rotated(next));
            }
            Ok(RotateOutcome::Unchanged(found)) => {
                return Ok(RotateOutcome::Unchanged(
                    found.filter(|r| r.handle == rotation.handle),
                ));
            }
            // Never issue from a record that is not the one asked for.
            Ok(RotateOutcome::Rotated(_)) => {
                StoreError::backend("the store reported a rotation other than the one requested")
            }
            Err(e) => e,
        };
        self.read_back(rotation, failure).await
    }

    /// After a store failure, the rotation may have been applied with its
    /// answer lost. Handing the client an error would leave it holding a
    /// retired token, which a retry after the grace window (or any retry
    /// with grace 0) would present as theft. So read the record back: if it
    /// is this rotation's result (which holds a hash only this request
    /// knows), the rotation happened and its tokens are issued; otherwise
    /// the failure is reported and nothing was issued (SEC-24).
    async fn read_back(
        &self,
        rotation: &Rotation,
        failure: StoreError,
    ) -> Result<RotateOutcome, RefreshError> {
        match self.inner.store.load(&rotation.handle).await {
            Ok(Some(record)) if rotation.produced(&record) => Ok(RotateOutcome::Rotated(record)),
            _ => Err(failure.into()),
        }
    }

    /// Row 5: re-derive the successor that the first request received.
    fn grace(
        &self,
        presented: &Presented,
        record: &SessionRecord,
        now: OffsetDateTime,
    ) -> Result<SessionTokens, RefreshError> {
        let secret = self
            .inner
            .refresh_keys
            .successor(presented, &record.nonce)
            .ok_or(RefreshError::Unauthorized(Rejection::StaleGeneration))?;
        // The current hash was made from exactly this derivation; if it does
        // not match, the lineage was not ours to continue.
        if !secret.hash().ct_eq(&record.current_hash) {
            return Err(RefreshError::Unauthorized(Rejection::StaleGeneration));
        }
        log_debug!(session = %record.handle, "refresh retried inside the grace window");
        Ok(self.issue(record, &secret, now))
    }

    /// Row 7: revoke per policy and report. The stolen session becomes a
    /// [tombstone](burned) (not deleted: its later tokens are then told
    /// why it ended); under [`TheftPolicy::RevokeAllForUser`] every other
    /// session of the user is deleted as well. A theft is reported only
    /// once the stolen session is known to be dead; when even that failed,
    /// the store error is returned and the session is as it was, so the
    /// next presentation of the copied token tries again.
    async fn theft(&self, presented: &Presented, record: SessionRecord) -> RefreshError {
        log_warn!(
            session = %record.handle,
            presented_generation = presented.generation,
            current_generation = record.generation,
            "refresh token reuse detected, revoking"
        );
        let policy = self.inner.config.theft_policy;
        let state = match policy {
            TheftPolicy::RevokeSession => Tombstone::Final,
            TheftPolicy::RevokeAllForUser => Tombstone::RevokeAllPending,
        };
        if let Err(e) = self.set_tombstone(&record, state, false).await {
            return RefreshError::Store(e);
        }
        let incomplete = match policy {
            TheftPolicy::RevokeSession => None,
            TheftPolicy::RevokeAllForUser => self.finish_revoke_all(&record, false).await,
        };
        self.emit(SessionEvent::TheftDetected {
            handle: record.handle,
            user_id: record.user_id.clone(),
            presented_generation: presented.generation,
            current_generation: record.generation,
        });
        self.emit(SessionEvent::Revoked {
            handle: record.handle,
            reason: RevokeReason::Theft,
        });
        match incomplete {
            None => RefreshError::TokenTheftDetected {
                handle: record.handle,
                user_id: record.user_id,
            },
            Some(source) => self.revocation_incomplete(record, source),
        }
    }

    /// After row 7: a token of a session already revoked for a theft. Its
    /// holder is told so (`Unauthorized(TheftRevoked)`); if the user's
    /// other sessions were still to be revoked, this call tries again.
    async fn theft_revoked(&self, record: SessionRecord) -> RefreshError {
        if let Some(source) = self.finish_pending_revoke_all(&record).await {
            return self.revocation_incomplete(record, source);
        }
        RefreshError::Unauthorized(Rejection::TheftRevoked)
    }

    fn revocation_incomplete(&self, record: SessionRecord, source: StoreError) -> RefreshError {
        log_warn!(session = %record.handle, "revoking every session of the user after a theft did not complete");
        self.emit(SessionEvent::TheftRevocationIncomplete {
            handle: record.handle,
            user_id: record.user_id.clone(),
        });
        RefreshError::TheftRevocationIncomplete {
            handle: record.handle,
            user_id: record.user_id,
            source,
        }
    }

    /// If `record` is a tombstone whose user's other sessions are still to
    /// be revoked (and the policy is still [`TheftPolicy::RevokeAllForUser`]),
    /// revokes them now; the last store error when that fails again.
    pub(super) async fn finish_pending_revoke_all(
        &self,
        record: &SessionRecord,
    ) -> Option<StoreError> {
        if self.inner.config.theft_policy == TheftPolicy::RevokeAllForUser
            && tombstone(record) == Some(Tombstone::RevokeAllPending)
        {
            self.finish_revoke_all(record, true).await
        } else {
            None
        }
    }

    /// [`TheftPolicy::RevokeAllForUser`]: deletes every session of the
    /// user but the stolen session's tombstone, trying a few times, then
    /// marks the tombstone final. Until then it says the job is pending,
    /// so that if the store keeps failing, the next presentation of any
    /// token of the stolen session tries again: the job is finished by a
    /// later call, never forgotten. A job finished later (`deferred`)
    /// spares the sessions created after the theft (a new login of the
    /// user, told of the theft), which the tombstone's time tells. Returns
    /// the last error when the user's sessions could not all be deleted.
    async fn finish_revoke_all(
        &self,
        stolen: &SessionRecord,
        deferred: bool,
    ) -> Option<StoreError> {
        let store = &self.inner.store;
        let mut last = None;
        for _ in 0..REVOKE_ALL_ATTEMPTS {
            let done = if deferred {
                self.delete_sessions_before(stolen).await
            } else {
                store
                    .delete_by_user(&stolen.user_id, Some(&stolen.handle))
                    .await
                    .map(|_| ())
            };
            match done {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if last.is_none() {
            // Failing to record it only means a later presentation of a
            // token of the stolen session goes over the user's sessions
            // again.
            if let Ok(Some(current)) = store.load(&stolen.handle).await {
                let _ = self.set_tombstone(&current, Tombstone::Final, true).await;
            }
        }
        last
    }

    /// Deletes the stolen session's user's sessions created up to the
    /// theft (the tombstone's time), but the tombstone.
    async fn delete_sessions_before(&self, stolen: &SessionRecord) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let cutoff = stolen.rotated_at.unwrap_or(stolen.created_at);
        for record in store.list_by_user(&stolen.user_id).await? {
            if record.handle != stolen.handle
                && record.user_id == stolen.user_id
                && record.created_at <= cutoff
            {
                store.delete(&record.handle).await?;
            }
        }
        Ok(())
    }

    /// Deletes the stolen session. A failed delete may have happened with
    /// its answer lost: if the session is gone, the revocation took effect.
    async fn delete_stolen(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let store = &self.inner.store;
        match store.delete(&record.handle).await {
            Ok(_) => Ok(()),
            Err(e) => match store.load(&record.handle).await {
                Ok(None) => Ok(()),
                _ => Err(e),
            },
        }
    }

    /// Makes the session's record its [tombstone](burned) in `state` with a
    /// compare-and-swap. Done when the stored record is that tombstone (any
    /// tombstone, unless `exact`) or gone; an error when the store failed
    /// and it is not.
    async fn set_tombstone(
        &self,
        record: &SessionRecord,
        state: Tombstone,
        exact: bool,
    ) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let mut current = record.clone();
        for _ in 0..MAX_ROUNDS {
            let Some(next) = burned(&current, state, self.now()) else {
                // Counters at the end of their range: deleting is the only
                // way to make it unusable.
                return self.delete_stolen(&current).await;
            };
            let failure = match store.compare_and_swap(current.version, &next).await {
                Ok(true) => return Ok(()),
                Ok(false) => None,
                Err(e) => Some(e),
            };
            match (store.load(&record.handle).await, failure) {
                (Ok(None), _) => return Ok(()),
                (Ok(Some(found)), _) if tombstone(&found).is_some_and(|t| !exact || t == state) => {
                    return Ok(());
                }
                (Ok(Some(found)), None) => current = found,
                (_, Some(e)) | (Err(e), None) => return Err(e),
            }
        }
        Err(StoreError::backend(ROUNDS_EXHAUSTED))
    }
}

fn new_nonce() -> Result<RotationNonce, RandomError> {
    let mut b = [0u8; 32];
    random::fill(&mut b)?;
    Ok(RotationNonce::from_bytes(b))
}
