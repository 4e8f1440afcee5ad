//! The store conformance, fault and history suites, run against the
//! in-memory store.

#![allow(clippy::expect_used, reason = "tests")]

use std::sync::Arc;
use std::time::Instant;

use sessionkit::store::{SessionRecord, SessionStore, StoreError};
use sessionkit::testing::{Spawn, run_fault_suite, run_history_suite, run_history_suite_with};
use sessionkit::{MemoryStore, SessionHandle};
use time::OffsetDateTime;

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    sessionkit::testing::run_store_suite(|| async { MemoryStore::new() }).await;
}

/// SEC-24: a fault at every store call of create, refresh, revoke and
/// revoke-all never half-applies an operation.
#[tokio::test]
async fn sec_24_memory_store_passes_the_fault_suite() {
    let started = Instant::now();
    let report = run_fault_suite(|| async { MemoryStore::new() }).await;
    assert!(report.errors_injected > 0);
    println!("fault suite took {:?}", started.elapsed());
}

/// SEC-20, SEC-21: concurrent histories with real threads are
/// linearizable against the model of the refresh table.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sec_20_memory_store_histories_are_linearizable_on_threads() {
    let started = Instant::now();
    let spawn: Spawn = Arc::new(|task| {
        let handle = tokio::spawn(task);
        Box::pin(async move { handle.await.expect("participant panicked") })
    });
    let report = run_history_suite_with(|| async { MemoryStore::new() }, 10_000, spawn).await;
    assert!(report.operations >= 10_000);
    println!("history suite (threads) took {:?}", started.elapsed());
}

/// The same, interleaved in one task at the store calls.
#[tokio::test]
async fn sec_20_memory_store_histories_are_linearizable_in_one_task() {
    let started = Instant::now();
    let report = run_history_suite(|| async { MemoryStore::new() }, 10_000).await;
    assert!(report.operations >= 10_000);
    println!("history suite (one task) took {:?}", started.elapsed());
}

/// A store whose compare-and-swap ignores the version: concurrent
/// refreshes fork the lineage, which the history suite must notice.
#[derive(Debug, Default)]
struct ForkingStore(MemoryStore);

#[async_trait::async_trait]
impl SessionStore for ForkingStore {
    async fn insert(&self, r: &SessionRecord) -> Result<(), StoreError> {
        self.0.insert(r).await
    }
    async fn load(&self, h: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        self.0.load(h).await
    }
    async fn compare_and_swap(&self, _: u64, r: &SessionRecord) -> Result<bool, StoreError> {
        let Some(stored) = self.0.load(&r.handle).await? else {
            return Ok(false);
        };
        self.0.compare_and_swap(stored.version, r).await
    }
    async fn delete(&self, h: &SessionHandle) -> Result<bool, StoreError> {
        self.0.delete(h).await
    }
    async fn list_by_user(&self, u: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.0.list_by_user(u).await
    }
    async fn delete_by_user(&self, u: &str, k: Option<&SessionHandle>) -> Result<u64, StoreError> {
        self.0.delete_by_user(u, k).await
    }
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.0.purge_expired(now).await
    }
}

#[tokio::test]
async fn history_suite_catches_a_store_that_forks_lineages() {
    let run = tokio::spawn(run_history_suite(
        || async { ForkingStore::default() },
        2_000,
    ));
    let err = run
        .await
        .expect_err("a forking store must fail the history suite");
    assert!(err.is_panic());
}
