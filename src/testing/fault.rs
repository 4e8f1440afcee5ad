//! A store wrapper that fails on command, for testing what a store failure
//! does to sessions (SEC-24).

use std::fmt;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use time::OffsetDateTime;

use crate::error::StoreError;
use crate::store::{SessionHandle, SessionRecord, SessionStore};

/// A store operation.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// [`SessionStore::insert`]
    Insert,
    /// [`SessionStore::insert_capped`]
    ///
    /// Counted by [`CountingStore`](super::CountingStore). A
    /// [`FaultyStore`] keeps the default `insert_capped`, so faults land
    /// on the insert, list and deletes that make it up.
    InsertCapped,
    /// [`SessionStore::load`]
    Load,
    /// [`SessionStore::compare_and_swap`]
    CompareAndSwap,
    /// [`SessionStore::delete`]
    Delete,
    /// [`SessionStore::list_by_user`]
    ListByUser,
    /// [`SessionStore::delete_by_user`]
    DeleteByUser,
    /// [`SessionStore::purge_expired`]
    PurgeExpired,
    /// [`SessionStore::rotate_if_current`]
    ///
    /// Counted by [`CountingStore`](super::CountingStore). A
    /// [`FaultyStore`] keeps the default `rotate_if_current`, so its call
    /// log shows the load and compare-and-swap that make it up instead,
    /// and faults land on those.
    RotateIfCurrent,
}

/// How an injected fault behaves.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// The operation is not applied and an error is returned.
    Before,
    /// The operation is applied, then an error is returned (an ambiguous
    /// commit: the caller cannot know it happened).
    After,
    /// The operation waits, then runs normally: other callers overtake it.
    ///
    /// The wait uses the sleep function given to
    /// [`FaultyStore::with_sleep`], so the kit stays runtime-agnostic;
    /// without one, the operation only yields to the executor once, which
    /// is still enough to reorder concurrent calls joined in one task.
    Delay(std::time::Duration),
}

impl Fault {
    /// Whether this fault makes the call return an error.
    pub fn is_error(self) -> bool {
        matches!(self, Self::Before | Self::After)
    }
}

/// How a [`FaultyStore`] waits for [`Fault::Delay`]: given the delay,
/// returns a future that completes after it (for example
/// `|d| Box::pin(tokio::time::sleep(d))`).
pub type SleepFn =
    Box<dyn Fn(std::time::Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Debug)]
enum Planned {
    /// The `skip + 1`-th next call of `op`.
    ByOp { op: Op, skip: usize, fault: Fault },
    /// The call at this index of [`FaultyStore::calls`].
    AtCall { index: usize, fault: Fault },
}

/// A seeded random fault plan: each call fails with probability
/// `1 / one_in`, with a fault drawn from `kinds`.
#[derive(Debug)]
struct RandomPlan {
    rng: SplitMix64,
    one_in: u64,
    kinds: Vec<Fault>,
}

/// Wraps a store and makes chosen calls fail.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use sessionkit::testing::{Fault, FaultyStore, Op};
///
/// let store = FaultyStore::new(sessionkit::MemoryStore::new());
/// store.fail_next(Op::CompareAndSwap, Fault::After);
/// # }
/// ```
///
/// Faults are planned three ways: by operation ([`fail_next`](Self::fail_next),
/// [`fail_after`](Self::fail_after)), by position in the call log
/// ([`fail_call`](Self::fail_call), used by [`run_fault_suite`](super::run_fault_suite)
/// to put a fault at every call of an operation), or at random from a seed
/// ([`fail_randomly`](Self::fail_randomly)).
pub struct FaultyStore<S> {
    inner: S,
    plan: Mutex<Vec<Planned>>,
    random: Mutex<Option<RandomPlan>>,
    calls: Mutex<Vec<Op>>,
    injected: Mutex<Vec<(usize, Op, Fault)>>,
    sleep: Option<SleepFn>,
}

impl<S: fmt::Debug> fmt::Debug for FaultyStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStore")
            .field("inner", &self.inner)
            .field("plan", &self.plan)
            .field("calls", &self.calls)
            .field("injected", &self.injected)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore> FaultyStore<S> {
    /// Wraps `inner`; no fault is planned.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            plan: Mutex::new(Vec::new()),
            random: Mutex::new(None),
            calls: Mutex::new(Vec::new()),
            injected: Mutex::new(Vec::new()),
            sleep: None,
        }
    }

    /// Waits with `sleep` for [`Fault::Delay`] (otherwise a delay only
    /// yields once).
    #[must_use]
    pub fn with_sleep(
        mut self,
        sleep: impl Fn(std::time::Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.sleep = Some(Box::new(sleep));
        self
    }

    /// The call at position `index` of [`calls`](Self::calls) (0 is the
    /// first call this store sees) fails as `fault` says.
    pub fn fail_call(&self, index: usize, fault: Fault) {
        lock(&self.plan).push(Planned::AtCall { index, fault });
    }

    /// From now on, each call fails with probability `1 / one_in` (never
    /// when `one_in` is 0), with a fault drawn from `kinds`, using a
    /// generator seeded with `seed`: the same seed and the same sequence of
    /// calls give the same faults. Planned faults take precedence.
    pub fn fail_randomly(&self, seed: u64, one_in: u64, kinds: &[Fault]) {
        *lock(&self.random) = Some(RandomPlan {
            rng: SplitMix64(seed),
            one_in,
            kinds: kinds.to_vec(),
        });
    }

    /// Every fault injected so far: the call index, the operation and the
    /// fault.
    pub fn injected(&self) -> Vec<(usize, Op, Fault)> {
        lock(&self.injected).clone()
    }

    /// How many faults have been injected so far.
    pub fn faults_injected(&self) -> usize {
        lock(&self.injected).len()
    }

    /// The next call of `op` fails as `fault` says. Several plans queue up.
    pub fn fail_next(&self, op: Op, fault: Fault) {
        self.fail_after(op, 0, fault);
    }

    /// Lets `skip` calls of `op` through, then the next one fails as
    /// `fault` says.
    pub fn fail_after(&self, op: Op, skip: usize, fault: Fault) {
        lock(&self.plan).push(Planned::ByOp { op, skip, fault });
    }

    /// Every call made so far, in order.
    pub fn calls(&self) -> Vec<Op> {
        lock(&self.calls).clone()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn planned(&self, op: Op) -> Option<Fault> {
        let index = {
            let mut calls = lock(&self.calls);
            calls.push(op);
            calls.len() - 1
        };
        let fault = self
            .take_planned(op, index)
            .or_else(|| self.draw_random())?;
        lock(&self.injected).push((index, op, fault));
        Some(fault)
    }

    fn take_planned(&self, op: Op, index: usize) -> Option<Fault> {
        let mut plan = lock(&self.plan);
        if let Some(i) = plan
            .iter()
            .position(|p| matches!(p, Planned::AtCall { index: at, .. } if *at == index))
            && let Planned::AtCall { fault, .. } = plan.remove(i)
        {
            return Some(fault);
        }
        let i = plan
            .iter()
            .position(|p| matches!(p, Planned::ByOp { op: o, .. } if *o == op))?;
        if let Some(Planned::ByOp { skip, .. }) = plan.get_mut(i)
            && *skip > 0
        {
            *skip -= 1;
            return None;
        }
        match plan.remove(i) {
            Planned::ByOp { fault, .. } | Planned::AtCall { fault, .. } => Some(fault),
        }
    }

    fn draw_random(&self) -> Option<Fault> {
        let mut random = lock(&self.random);
        let plan = random.as_mut()?;
        if plan.one_in == 0 || plan.kinds.is_empty() {
            return None;
        }
        if plan.rng.next() % plan.one_in != 0 {
            return None;
        }
        let k = usize::try_from(plan.rng.next() % plan.kinds.len() as u64).unwrap_or(0);
        plan.kinds.get(k).copied()
    }

    async fn run<T>(
        &self,
        op: Op,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match self.planned(op) {
            None => call.await,
            Some(Fault::Before) => Err(injected(op, Fault::Before)),
            Some(Fault::After) => {
                call.await?;
                Err(injected(op, Fault::After))
            }
            Some(Fault::Delay(d)) => {
                match &self.sleep {
                    Some(sleep) => sleep(d).await,
                    None => YieldOnce(false).await,
                }
                call.await
            }
        }
    }
}

/// A future that returns `Pending` once (waking itself), then `Ready`.
#[derive(Debug, Default)]
pub(crate) struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A small, seedable generator (SplitMix64): reproducible plans, no
/// dependency.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn injected(op: Op, fault: Fault) -> StoreError {
    StoreError::backend(format!("injected fault: {op:?} {fault:?}"))
}

#[async_trait::async_trait]
impl<S: SessionStore> SessionStore for FaultyStore<S> {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.run(Op::Insert, self.inner.insert(record)).await
    }
    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        self.run(Op::Load, self.inner.load(handle)).await
    }
    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError> {
        self.run(
            Op::CompareAndSwap,
            self.inner.compare_and_swap(expected_version, record),
        )
        .await
    }
    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        self.run(Op::Delete, self.inner.delete(handle)).await
    }
    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.run(Op::ListByUser, self.inner.list_by_user(user_id))
            .await
    }
    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        self.run(Op::DeleteByUser, self.inner.delete_by_user(user_id, keep))
            .await
    }
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.run(Op::PurgeExpired, self.inner.purge_expired(now))
            .await
    }
    fn placement_tag(&self, user_id: &str) -> u16 {
        self.inner.placement_tag(user_id)
    }
}

#[cfg(all(test, feature = "memory-store"))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::memory_store::MemoryStore;
    use crate::testing::fixtures::sample_record;

    #[tokio::test]
    async fn fail_call_hits_exactly_that_call() {
        let store = FaultyStore::new(MemoryStore::new());
        let r = sample_record("u");
        store.fail_call(1, Fault::After);
        store.insert(&r).await.unwrap();
        assert!(store.delete(&r.handle).await.is_err(), "call 1 fails");
        assert!(
            store.load(&r.handle).await.unwrap().is_none(),
            "after: applied"
        );
        assert_eq!(store.calls(), vec![Op::Insert, Op::Delete, Op::Load]);
        assert_eq!(store.injected(), vec![(1, Op::Delete, Fault::After)]);
    }

    #[tokio::test]
    async fn a_random_plan_is_reproducible_from_its_seed() {
        async fn faults(seed: u64) -> Vec<(usize, Op, Fault)> {
            let store = FaultyStore::new(MemoryStore::new());
            store.fail_randomly(seed, 3, &[Fault::Before, Fault::After]);
            let r = sample_record("u");
            for _ in 0..200 {
                let _ = store.load(&r.handle).await;
            }
            store.injected()
        }
        let a = faults(42).await;
        assert_eq!(a, faults(42).await);
        assert_ne!(a, faults(43).await);
        assert!(
            (40..100).contains(&a.len()),
            "about one call in three: {}",
            a.len()
        );
    }

    #[tokio::test]
    async fn a_delay_uses_the_given_sleep_and_then_applies() {
        let slept = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&slept);
        let store = FaultyStore::new(MemoryStore::new()).with_sleep(move |d| {
            assert_eq!(d, std::time::Duration::from_millis(5));
            counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {})
        });
        store.fail_next(
            Op::Insert,
            Fault::Delay(std::time::Duration::from_millis(5)),
        );
        let r = sample_record("u");
        store.insert(&r).await.unwrap();
        assert_eq!(slept.load(Ordering::SeqCst), 1);
        assert!(store.load(&r.handle).await.unwrap().is_some());
        assert_eq!(store.faults_injected(), 1);
    }
}
