//! A store wrapper that counts calls per operation, for tests and
//! benchmarks that count round trips.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;

use crate::error::StoreError;
use crate::store::{RotateOutcome, Rotation, SessionHandle, SessionRecord, SessionStore};
use crate::testing::fault::Op;

/// Every operation, in the order [`CountingStore`]'s `Debug` prints them.
const OPS: [Op; 9] = [
    Op::Insert,
    Op::InsertCapped,
    Op::Load,
    Op::CompareAndSwap,
    Op::Delete,
    Op::ListByUser,
    Op::DeleteByUser,
    Op::PurgeExpired,
    Op::RotateIfCurrent,
];

/// Wraps a store, forwards every call to it and counts the calls of each
/// [`Op`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use sessionkit::testing::{CountingStore, Op};
/// use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
///
/// let store = Arc::new(CountingStore::new(MemoryStore::new()));
/// let manager = SessionManager::builder(Arc::clone(&store))
///     .signing_key(SigningKey::hs256("k", &[1; 32]).unwrap())
///     .refresh_key(RefreshKey::new(1, &[2; 32]).unwrap())
///     .build()
///     .unwrap();
/// let session = manager.create("user").await.unwrap();
///
/// store.reset();
/// manager.refresh(session.refresh_token.expose()).await.unwrap();
/// assert_eq!(store.count(Op::RotateIfCurrent), 1);
/// assert_eq!(store.total(), 1, "a refresh is one store call");
/// # }
/// ```
///
/// Every method of [`SessionStore`] is forwarded, `rotate_if_current` and
/// `insert_capped` included, so the inner store's own implementation runs
/// and is counted as one [`Op::RotateIfCurrent`] or [`Op::InsertCapped`]. Calls the inner store makes to itself (the
/// load and compare-and-swap of a default `rotate_if_current`) are not seen:
/// the counts are the calls made on the wrapper. A call is counted when it
/// starts, whether it succeeds or not.
///
/// Counters are relaxed atomics, cheap enough for benchmarks. Each count is
/// exact once the calls it covers have returned; read while calls are in
/// flight, the counts are not one consistent snapshot.
pub struct CountingStore<S> {
    inner: S,
    counts: [AtomicU64; OPS.len()],
}

impl<S> CountingStore<S> {
    /// Wraps `inner`, with every count at zero.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            counts: Default::default(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The wrapped store, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Calls of `op` since the store was made or last [`reset`](Self::reset).
    pub fn count(&self, op: Op) -> u64 {
        self.counter(op).load(Ordering::Relaxed)
    }

    /// Calls of every operation since the store was made or last
    /// [`reset`](Self::reset).
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Sets every count back to zero.
    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
    }

    fn counter(&self, op: Op) -> &AtomicU64 {
        let [
            insert,
            insert_capped,
            load,
            cas,
            delete,
            list,
            delete_by_user,
            purge,
            rotate,
        ] = &self.counts;
        match op {
            Op::Insert => insert,
            Op::InsertCapped => insert_capped,
            Op::Load => load,
            Op::CompareAndSwap => cas,
            Op::Delete => delete,
            Op::ListByUser => list,
            Op::DeleteByUser => delete_by_user,
            Op::PurgeExpired => purge,
            Op::RotateIfCurrent => rotate,
        }
    }

    fn hit(&self, op: Op) {
        self.counter(op).fetch_add(1, Ordering::Relaxed);
    }
}

impl<S> fmt::Debug for CountingStore<S> {
    /// The counts only: neither the inner store nor anything it holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts: Vec<(Op, u64)> = OPS.iter().map(|&op| (op, self.count(op))).collect();
        f.debug_struct("CountingStore")
            .field("counts", &counts)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl<S: SessionStore> SessionStore for CountingStore<S> {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.hit(Op::Insert);
        self.inner.insert(record).await
    }
    async fn insert_capped(
        &self,
        record: &SessionRecord,
        max_per_user: usize,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        self.hit(Op::InsertCapped);
        self.inner.insert_capped(record, max_per_user).await
    }
    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        self.hit(Op::Load);
        self.inner.load(handle).await
    }
    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError> {
        self.hit(Op::CompareAndSwap);
        self.inner.compare_and_swap(expected_version, record).await
    }
    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        self.hit(Op::Delete);
        self.inner.delete(handle).await
    }
    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.hit(Op::ListByUser);
        self.inner.list_by_user(user_id).await
    }
    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        self.hit(Op::DeleteByUser);
        self.inner.delete_by_user(user_id, keep).await
    }
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.hit(Op::PurgeExpired);
        self.inner.purge_expired(now).await
    }
    fn placement_tag(&self, user_id: &str) -> u16 {
        self.inner.placement_tag(user_id)
    }
    async fn rotate_if_current(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        self.hit(Op::RotateIfCurrent);
        self.inner.rotate_if_current(rotation).await
    }
}

#[cfg(all(test, feature = "memory-store"))]
mod tests {
    use std::sync::Arc;

    use time::Duration;

    use super::*;
    use crate::memory_store::MemoryStore;
    use crate::store::{RotationNonce, TokenHash};
    use crate::testing::fixtures::{at, create, manager, sample_record};

    #[tokio::test]
    async fn every_operation_is_counted_once_under_its_own_op() {
        let store = CountingStore::new(MemoryStore::new());
        let r = sample_record("counted");
        store.insert(&r).await.unwrap();
        store
            .insert_capped(&sample_record("counted"), 10)
            .await
            .unwrap();
        store.load(&r.handle).await.unwrap();
        let mut next = r.clone();
        next.version = 2;
        store.compare_and_swap(1, &next).await.unwrap();
        store.list_by_user("counted").await.unwrap();
        let rotation = Rotation::new(
            r.handle,
            next.generation,
            next.current_hash,
            TokenHash::from_bytes([7; 32]),
            RotationNonce::from_bytes([8; 32]),
            at(100),
            Duration::days(1),
        );
        store.rotate_if_current(&rotation).await.unwrap();
        store.delete(&r.handle).await.unwrap();
        store.delete_by_user("counted", None).await.unwrap();
        store.purge_expired(at(0)).await.unwrap();
        for op in OPS {
            assert_eq!(store.count(op), 1, "{op:?}");
        }
        assert_eq!(store.total(), 9);
        store.reset();
        assert_eq!(store.total(), 0);
        for op in OPS {
            assert_eq!(store.count(op), 0, "{op:?}");
        }
    }

    #[tokio::test]
    async fn rotate_if_current_is_forwarded_not_defaulted() {
        // The inner counter sees what the outer one forwards: one
        // rotate_if_current, and neither the load nor the swap a default
        // implementation in the wrapper would make.
        let store = CountingStore::new(CountingStore::new(MemoryStore::new()));
        let r = sample_record("forwarded");
        store.insert(&r).await.unwrap();
        let rotation = Rotation::new(
            r.handle,
            r.generation,
            r.current_hash,
            TokenHash::from_bytes([7; 32]),
            RotationNonce::from_bytes([8; 32]),
            at(100),
            Duration::days(1),
        );
        let outcome = store.rotate_if_current(&rotation).await.unwrap();
        assert!(matches!(outcome, RotateOutcome::Rotated(_)));
        let inner = store.inner();
        assert_eq!(inner.count(Op::RotateIfCurrent), 1);
        assert_eq!(inner.count(Op::Load), 0);
        assert_eq!(inner.count(Op::CompareAndSwap), 0);
        assert_eq!(store.count(Op::RotateIfCurrent), 1);
        assert_eq!(store.total(), 2, "the insert and the rotation");
    }

    #[tokio::test]
    async fn a_refresh_through_a_manager_is_one_counted_call() {
        let store = Arc::new(CountingStore::new(MemoryStore::new()));
        let clock = Arc::new(crate::clock::ManualClock::at_unix(1_900_000_000));
        let m = manager(Arc::clone(&store), clock, 10);
        let s = create(&m, "u").await;
        assert_eq!(store.count(Op::InsertCapped), 1, "a login is one call");
        assert_eq!(store.total(), 1);
        store.reset();
        m.refresh(s.refresh_token.expose()).await.unwrap();
        assert_eq!(store.count(Op::RotateIfCurrent), 1);
        assert_eq!(store.total(), 1);
    }

    #[tokio::test]
    async fn debug_prints_counts_and_no_record_content() {
        let store = CountingStore::new(MemoryStore::new());
        let r = sample_record("debug-user-secret");
        store.insert(&r).await.unwrap();
        let text = format!("{store:?}");
        assert!(text.contains("Insert, 1"), "{text}");
        assert!(!text.contains("debug-user-secret"), "{text}");
        assert!(!text.contains(&r.handle.to_string()), "{text}");
        assert!(!text.contains("admin"), "{text}");
    }
}
