//! A store wrapper that fails on command, for testing what a store failure
//! does to sessions (SEC-24).

use std::sync::Mutex;

use time::OffsetDateTime;

use crate::{SessionHandle, SessionRecord, SessionStore, StoreError};

/// A store operation.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// [`SessionStore::insert`]
    Insert,
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
}

#[derive(Debug)]
struct Planned {
    op: Op,
    skip: usize,
    fault: Fault,
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
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    plan: Mutex<Vec<Planned>>,
    calls: Mutex<Vec<Op>>,
}

impl<S: SessionStore> FaultyStore<S> {
    /// Wraps `inner`; no fault is planned.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            plan: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The next call of `op` fails as `fault` says. Several plans queue up.
    pub fn fail_next(&self, op: Op, fault: Fault) {
        self.fail_after(op, 0, fault);
    }

    /// Lets `skip` calls of `op` through, then the next one fails as
    /// `fault` says.
    pub fn fail_after(&self, op: Op, skip: usize, fault: Fault) {
        lock(&self.plan).push(Planned { op, skip, fault });
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
        lock(&self.calls).push(op);
        let mut plan = lock(&self.plan);
        let i = plan.iter().position(|p| p.op == op)?;
        let entry = plan.get_mut(i)?;
        if entry.skip > 0 {
            entry.skip -= 1;
            return None;
        }
        Some(plan.remove(i).fault)
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
        }
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
}
