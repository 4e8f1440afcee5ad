//! The storage contract: what a backend must keep and the atomic operations
//! sessionkit needs from it.
//!
//! This module is what a store author needs: the [`SessionStore`] trait and
//! the types it speaks of. An application only names a store's type.

use std::sync::Arc;

use time::OffsetDateTime;

pub use crate::error::StoreError;
pub use crate::record::{ParseHandleError, RotationNonce, SessionHandle, SessionRecord, TokenHash};
pub use crate::rotation::{RotateOutcome, Rotation};

/// Where sessions live. Implement it for your database, or use a store that
/// ships with sessionkit.
///
/// # The contract
///
/// Every implementation must keep these rules; the conformance suite
/// (`sessionkit::testing::run_store_suite`, feature `testing`) checks them.
///
/// - **Atomic operations.** Each method is one atomic step as seen by every
///   other caller, in every process sharing the store. In particular
///   [`compare_and_swap`](Self::compare_and_swap) must never let two callers
///   both succeed with the same `expected_version`: this is what makes refresh
///   token rotation race-free and theft detection work for every backend.
/// - **Version.** `version` is a counter owned by the core: `insert` stores a
///   record with `version == 1`; `compare_and_swap(expected, record)` replaces
///   the stored record only if its stored version equals `expected`, and
///   stores `record` as given (whose version is `expected + 1`).
/// - **Round trip.** `load` returns exactly what was written (timestamps at
///   one-second resolution).
/// - **Expiry.** A store may drop a record at or after
///   [`SessionRecord::expires_at`], eagerly (TTL) or in
///   [`purge_expired`](Self::purge_expired), and may also return expired
///   records: the core checks expiry itself and never trusts the store for it.
/// - **No raw tokens.** Records only contain hashes; stores must not log
///   records at a level that ends up in shared logs.
/// - **Errors.** A failure is reported as [`StoreError`], never as a panic,
///   and within a bounded time ([`StoreError::Timeout`]). An operation that
///   failed must either not have been applied or be safe to observe as
///   applied: the core is written so that both outcomes are safe.
/// - **Fresh reads.** `load` sees every write that has completed, from any
///   process (no lagging replica): the grace and theft decisions are made
///   on what it returns.
/// - **Expiry moves.** A swap may extend `refresh_expires_at`; a store that
///   expires records by TTL or an index must move that expiry with the swap.
/// - **User index.** `list_by_user` and `delete_by_user` see every record of
///   the user that has not been deleted, match user ids byte for byte (no
///   case folding, trimming or normalisation), and cost in proportion to
///   that user's sessions, not to the total.
/// - **One-step rotation (optional).**
///   [`rotate_if_current`](Self::rotate_if_current) has a default built on
///   `load` and `compare_and_swap`. A store that overrides it (to refresh in
///   one round trip) must apply exactly [`Rotation::apply`], atomically, and
///   move the expiry as a swap would.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts a new record.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if a record with the same handle exists
    /// (expired or not); the stored record is then unchanged.
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// Inserts a new record, then deletes the oldest records of the same
    /// user beyond `max_per_user` (the new one included in the count, and
    /// never deleted). Returns the handles it deleted, oldest first.
    /// "Oldest" is by `created_at`, then by handle.
    ///
    /// The manager calls this instead of [`insert`](Self::insert) when a
    /// limit is configured, so that the number of records per user, and
    /// with it the work of every per-user operation, stays bounded.
    ///
    /// # Default
    /// [`insert`](Self::insert), then [`list_by_user`](Self::list_by_user)
    /// and [`delete`](Self::delete) of the oldest records beyond the
    /// limit. It is not atomic: creates for one user running at the same
    /// time may each see the same list, leaving the user over the limit
    /// until the next create. A failure after the insert stops the
    /// deletions and is not reported (the next create catches up). A store
    /// that can do it in one atomic step (one script, one transaction)
    /// should.
    ///
    /// # Errors
    /// As [`insert`](Self::insert): an error means the record may or may
    /// not have been inserted.
    async fn insert_capped(
        &self,
        record: &SessionRecord,
        max_per_user: usize,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        self.insert(record).await?;
        Ok(evict_beyond_limit(self, record, max_per_user).await)
    }

    /// Loads a record by handle, `None` if there is none.
    ///
    /// # Errors
    /// A backend failure.
    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError>;

    /// Replaces the record with the same handle if, and only if, its stored
    /// version is `expected_version`. Returns whether it was replaced
    /// (`false` when the version differs or there is no such record).
    ///
    /// # Errors
    /// A backend failure; the record may then be in the old or the new state.
    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError>;

    /// Deletes a record. Returns whether one existed.
    ///
    /// # Errors
    /// A backend failure.
    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError>;

    /// Every record of a user (expired ones may be included).
    ///
    /// # Errors
    /// A backend failure.
    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError>;

    /// Deletes every record of a user except `keep`. Returns how many were
    /// deleted.
    ///
    /// # Errors
    /// A backend failure; some records may then have been deleted.
    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError>;

    /// Deletes records that are expired at `now`. Returns how many were
    /// deleted.
    ///
    /// # Errors
    /// A backend failure.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    /// The placement tag for a new session of `user_id`, carried in its
    /// [`SessionHandle`] (see [`SessionHandle::tag`]).
    ///
    /// A store that shards its data by user returns the shard of the user's
    /// sessions, so that every operation on one session finds its shard
    /// from the handle alone, and every operation on one user's sessions
    /// runs in one shard. The tag must not reveal the user id (SEC-02: it
    /// travels in tokens): derive it with a keyed hash, or draw it at
    /// random and remember it. Called once per created session, outside
    /// any other operation.
    ///
    /// # Default
    /// 0: the store does not shard.
    fn placement_tag(&self, user_id: &str) -> u16 {
        let _ = user_id;
        0
    }

    /// Rotates a session's refresh token in one atomic step, if and only if
    /// the session is still where the presented token says it is.
    ///
    /// Atomically: if a record with `rotation.handle` exists, is not
    /// expired at `rotation.now` (`now < min(refresh_expires_at,
    /// absolute_expires_at)`), and has `generation ==
    /// rotation.expected_generation` and `current_hash ==
    /// rotation.expected_hash`, replace it with exactly
    /// [`rotation.apply(record)`](Rotation::apply) and return
    /// [`RotateOutcome::Rotated`] with the new record; otherwise change
    /// nothing and return [`RotateOutcome::Unchanged`] with the record as
    /// found (`None` when there is none). The new record moves the store's
    /// expiry (TTL, index) like a [`compare_and_swap`](Self::compare_and_swap).
    ///
    /// This is the refresh's first and, in the common case, only store
    /// call: the core runs the full rotation decision on an `Unchanged`
    /// record (grace, theft, expiry), so the record should be as fresh as a
    /// [`load`](Self::load) at the time of the call. A record read just
    /// before a concurrent rotation (a snapshot from the start of the
    /// statement) is acceptable: when it still looks rotatable, the core
    /// asks again.
    ///
    /// # Default
    /// [`load`](Self::load), check, then
    /// [`compare_and_swap`](Self::compare_and_swap) on the loaded version,
    /// once; when the swap loses to another writer, the loaded record is
    /// returned as `Unchanged` (a snapshot from before that write). Correct
    /// for every store that keeps the contract, at two round trips; the
    /// manager alone decides whether to try again. Implement it when the
    /// backend can check and write in one round trip (a conditional
    /// `UPDATE ... RETURNING`, a server-side script); the conformance suite
    /// checks that an implementation behaves exactly as this default does.
    ///
    /// # Errors
    /// A backend failure; the rotation may then have been applied or not
    /// (the core reads the record back to find out). Never an error for a
    /// rotation that does not apply: that is `Unchanged`.
    async fn rotate_if_current(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        let Some(record) = self.load(&rotation.handle).await? else {
            return Ok(RotateOutcome::Unchanged(None));
        };
        let Some(next) = rotation.apply(&record) else {
            return Ok(RotateOutcome::Unchanged(Some(record)));
        };
        if self.compare_and_swap(record.version, &next).await? {
            Ok(RotateOutcome::Rotated(next))
        } else {
            // Another writer got in between: what was loaded is a snapshot
            // from before that write, which the contract allows. The
            // manager decides on it and, when it still looks rotatable,
            // asks again.
            Ok(RotateOutcome::Unchanged(Some(record)))
        }
    }
}

/// After `record` was inserted, revokes its user's oldest other sessions
/// beyond `max_per_user` (at least 1: the new one stays), oldest first, and
/// returns their handles: the limit as
/// [`SessionStore::insert_capped`]'s default applies it, with
/// [`list_by_user`](SessionStore::list_by_user) then
/// [`delete`](SessionStore::delete). Not atomic; a failure stops it
/// silently (the next create catches up). For a store that overrides
/// `insert_capped` and falls back to the default's way in some cases.
pub async fn evict_beyond_limit<S: SessionStore + ?Sized>(
    store: &S,
    record: &SessionRecord,
    max_per_user: usize,
) -> Vec<SessionHandle> {
    let Ok(mut records) = store.list_by_user(&record.user_id).await else {
        return Vec::new();
    };
    records.retain(|r| r.handle != record.handle && r.user_id == record.user_id);
    records.sort_by_key(|r| (r.created_at, r.handle));
    let excess = (records.len() + 1).saturating_sub(max_per_user.max(1));
    let mut deleted = Vec::with_capacity(excess);
    for old in records.iter().take(excess) {
        match store.delete(&old.handle).await {
            Ok(true) => deleted.push(old.handle),
            Ok(false) => {}
            Err(_) => break,
        }
    }
    deleted
}

#[async_trait::async_trait]
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        (**self).insert(record).await
    }
    async fn insert_capped(
        &self,
        record: &SessionRecord,
        max_per_user: usize,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        (**self).insert_capped(record, max_per_user).await
    }
    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        (**self).load(handle).await
    }
    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError> {
        (**self).compare_and_swap(expected_version, record).await
    }
    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        (**self).delete(handle).await
    }
    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        (**self).list_by_user(user_id).await
    }
    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        (**self).delete_by_user(user_id, keep).await
    }
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        (**self).purge_expired(now).await
    }
    fn placement_tag(&self, user_id: &str) -> u16 {
        (**self).placement_tag(user_id)
    }
    async fn rotate_if_current(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        (**self).rotate_if_current(rotation).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SEC: the one-step rotation, as the default implementation runs it
    /// over the memory store, rotates exactly when the pure decision says
    /// `Rotate`, and writes exactly the record `rotation::rotated` makes.
    #[cfg(feature = "memory-store")]
    mod rotate_if_current_matches_the_decision {

        use proptest::prelude::*;
        use serde_json::{Map, Value};

        use super::*;
        use crate::MemoryStore;
        use crate::rotation::{Decision, PresentedToken, decide, rotated};
        use time::Duration;

        const T0: i64 = 1_900_000_000;

        fn at(offset: i64) -> OffsetDateTime {
            OffsetDateTime::from_unix_timestamp(T0 + offset).unwrap()
        }

        fn hash(n: u8) -> TokenHash {
            TokenHash::from_bytes([n; 32])
        }

        prop_compose! {
            /// Small values, so that matches, near misses and expiry
            /// instants are all common.
            fn record()(
                generation in 0u64..4,
                current in 0u8..4,
                prev in proptest::option::of(0u8..4),
                rotated_at in proptest::option::of(-20i64..20),
                refresh in -5i64..40,
                absolute in -5i64..40,
                version in 1u64..5,
            ) -> SessionRecord {
                SessionRecord {
                    handle: SessionHandle::from_bytes([9; 18]),
                    user_id: "u".into(),
                    created_at: at(-100),
                    auth_time: at(-100),
                    absolute_expires_at: at(absolute),
                    refresh_expires_at: at(refresh),
                    generation,
                    current_hash: hash(current),
                    prev_hash: prev.map(hash),
                    rotated_at: rotated_at.map(at),
                    nonce: RotationNonce::from_bytes([1; 32]),
                    access_claims: Map::new(),
                    session_data: Value::Null,
                    version,
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn never_rotates_what_the_decision_would_not(
                stored in proptest::option::of(record()),
                generation in 0u64..6,
                presented in 0u8..4,
                now in -10i64..45,
                idle in 1i64..60,
                grace in 0i64..15,
            ) {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let store = MemoryStore::new();
                if let Some(r) = &stored {
                    rt.block_on(store.insert(r)).unwrap();
                }
                let presented_hash = hash(presented);
                let now = at(now);
                let idle = Duration::seconds(idle);
                let new_hash = hash(200);
                let nonce = RotationNonce::from_bytes([2; 32]);
                let rotation = Rotation::new(
                    SessionHandle::from_bytes([9; 18]),
                    generation,
                    presented_hash,
                    new_hash,
                    nonce,
                    now,
                    idle,
                );
                let token = PresentedToken { generation, hash: &presented_hash };
                let decision = decide(stored.as_ref(), token, now, Duration::seconds(grace));
                let outcome = rt.block_on(store.rotate_if_current(&rotation)).unwrap();
                let after = rt.block_on(store.load(&rotation.handle)).unwrap();
                match outcome {
                    RotateOutcome::Rotated(next) => {
                        prop_assert_eq!(decision, Decision::Rotate);
                        let expected = rotated(stored.as_ref().unwrap(), now, idle, new_hash, nonce);
                        prop_assert_eq!(Some(&next), expected.as_ref());
                        prop_assert_eq!(after, Some(next));
                    }
                    RotateOutcome::Unchanged(found) => {
                        prop_assert_ne!(decision, Decision::Rotate);
                        prop_assert_eq!(&found, &stored);
                        prop_assert_eq!(after, stored);
                    }
                }
            }
        }
    }
}
