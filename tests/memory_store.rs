//! The store conformance, instance, fault and history suites, run against
//! the in-memory store.

#![cfg(test)]

use std::sync::Arc;
use std::time::Instant;

use sessionkit::store::{SessionRecord, SessionStore, StoreError};
use sessionkit::testing::{
    Spawn, run_fault_suite, run_history_suite, run_history_suite_with, run_instance_suite,
    run_instance_suite_with,
};
use sessionkit::{MemoryStore, SessionHandle};
use time::OffsetDateTime;

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    sessionkit::testing::run_store_suite(|| async { MemoryStore::new() }).await;
}

/// Two instances sharing sessions: one `MemoryStore` behind an `Arc` each
/// (the store is one process's memory, so this checks the scenarios, not
/// what separate instances keep apart). Racing refreshes on threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_instance_suite_on_threads() {
    let spawn = tokio_spawn();
    run_instance_suite_with(shared_pair, spawn).await;
}

/// The same, with the racing refreshes joined in one task.
#[tokio::test]
async fn memory_store_passes_the_instance_suite_in_one_task() {
    run_instance_suite(shared_pair).await;
}

async fn shared_pair() -> (Arc<MemoryStore>, Arc<MemoryStore>) {
    let shared = Arc::new(MemoryStore::new());
    (Arc::clone(&shared), shared)
}

/// Two stores that share nothing are not two instances of one store: the
/// instance suite says so instead of reporting a scenario's failure.
#[tokio::test]
async fn instance_suite_refuses_a_pair_that_shares_no_data() {
    let run = tokio::spawn(run_instance_suite(|| async {
        (MemoryStore::new(), MemoryStore::new())
    }));
    let err = run
        .await
        .expect_err("a pair over separate data must fail the instance suite");
    let message = err.into_panic();
    let message = message
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(
        message.contains("make_pair must return two stores over the same data"),
        "{message}"
    );
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
    let spawn = tokio_spawn();
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

/// Runs each task the suites hand over as a tokio task.
fn tokio_spawn() -> Spawn {
    Arc::new(|task| {
        let handle = tokio::spawn(task);
        Box::pin(async move { handle.await.expect("task panicked") })
    })
}
