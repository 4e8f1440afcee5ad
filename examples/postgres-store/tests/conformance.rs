//! sessionkit's store conformance and instance suites, and the store's own
//! checks of migration and purging.

#![cfg(test)]

mod common;

use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use sessionkit::store::SessionStore;
use sessionkit::testing::{
    Spawn, run_fault_suite, run_history_suite_with, run_instance_suite_with, run_store_suite,
    sample_record,
};
use sessionkit_postgres::PostgresStore;
use sqlx::AssertSqlSafe;
use time::OffsetDateTime;

use common::{TestSchema, admin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_conformance_suite() {
    let Some(admin) = admin().await else { return };
    let schemas: Arc<Mutex<Vec<TestSchema>>> = Arc::default();
    run_store_suite(|| {
        let admin = admin.clone();
        let schemas = Arc::clone(&schemas);
        async move {
            let schema = TestSchema::create(&admin).await;
            let store = schema.store(&common::unique_name("sk_suite")).await;
            schemas.lock().expect("not poisoned").push(schema);
            store
        }
    })
    .await;
}

/// Several instances of an application (separate stores, each with its own
/// pool) on one schema: theft detection, revocation and concurrent
/// refreshes across them, the refreshes racing on threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_instance_suite() {
    let Some(admin) = admin().await else { return };
    let schemas: Arc<Mutex<Vec<TestSchema>>> = Arc::default();
    run_instance_suite_with(
        || {
            let admin = admin.clone();
            let schemas = Arc::clone(&schemas);
            async move {
                let schema = TestSchema::create(&admin).await;
                let a = schema.store(&common::unique_name("sk_inst_a")).await;
                let b = schema.store(&common::unique_name("sk_inst_b")).await;
                schemas.lock().expect("not poisoned").push(schema);
                (a, b)
            }
        },
        tokio_spawn(),
    )
    .await;
}

/// SEC-24: a fault at every store call of create, refresh, revoke and
/// revoke-all, over PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_24_fault_suite() {
    let Some(admin) = admin().await else { return };
    let schemas: Arc<Mutex<Vec<TestSchema>>> = Arc::default();
    let started = std::time::Instant::now();
    let report = run_fault_suite(|| {
        let admin = admin.clone();
        let schemas = Arc::clone(&schemas);
        async move {
            let schema = TestSchema::create(&admin).await;
            let store = schema.store(&common::unique_name("sk_faults")).await;
            schemas.lock().expect("not poisoned").push(schema);
            store
        }
    })
    .await;
    assert!(report.errors_injected > 0);
    println!("fault suite took {:?}", started.elapsed());
}

/// SEC-20, SEC-21: 10,000 operations in concurrent histories, each
/// linearizable against the model of the refresh table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_20_histories_are_linearizable() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let store = schema.store(&common::unique_name("sk_history")).await;
    let started = std::time::Instant::now();
    let report = run_history_suite_with(
        move || std::future::ready(store.clone()),
        10_000,
        tokio_spawn(),
    )
    .await;
    assert!(report.operations >= 10_000);
    println!("history suite took {:?}", started.elapsed());
}

/// Runs each task the suites hand over as a tokio task.
fn tokio_spawn() -> Spawn {
    Arc::new(|task| {
        let handle = tokio::spawn(task);
        Box::pin(async move { handle.await.expect("task panicked") })
    })
}

#[tokio::test]
async fn migrate_is_idempotent_and_safe_to_run_concurrently() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let a = schema.store("sk_migrate_a").await;
    let b = schema.store("sk_migrate_b").await;
    let results =
        join_all((0..8).map(|i| if i % 2 == 0 { a.migrate() } else { b.migrate() })).await;
    for r in results {
        r.expect("concurrent migrate");
    }
    let r = sample_record("migrate-user");
    a.insert(&r).await.expect("insert");
    a.migrate().await.expect("migrate again");
    assert_eq!(
        b.load(&r.handle).await.expect("load"),
        Some(r),
        "migrate keeps the data"
    );
}

#[tokio::test]
async fn migrate_creates_a_missing_schema() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema {
        name: common::unique_name("sk_test"),
    };
    // Not created beforehand: migrate must create it (and Drop removes it).
    let store = schema.store("sk_migrate_schema").await;
    assert!(store.list_by_user("nobody").await.expect("list").is_empty());
    drop(admin);
}

#[tokio::test]
async fn purge_deletes_more_than_one_batch() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let store = schema.store("sk_purge").await;
    let user = common::unique_name("purge_user");
    let mut records: Vec<_> = (0..2_345).map(|_| sample_record(&user)).collect();
    for r in &mut records {
        r.refresh_expires_at = OffsetDateTime::UNIX_EPOCH;
    }
    let live = sample_record(&user);
    for chunk in records.chunks(100) {
        for r in join_all(chunk.iter().map(|r| store.insert(r))).await {
            r.expect("insert");
        }
    }
    store.insert(&live).await.expect("insert");
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1);
    assert_eq!(store.purge_expired(now).await.expect("purge"), 2_345);
    assert_eq!(store.purge_expired(now).await.expect("purge"), 0);
    let left = store.list_by_user(&user).await.expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].handle, live.handle);
}

/// One purge batch deletes at most the configured number of rows, oldest
/// expiry first; batches pass over a row another transaction holds instead
/// of waiting for it (waiting would end in the store's lock timeout, an
/// error), and a purge started later picks it up.
#[tokio::test]
async fn purge_batches_go_oldest_first_and_pass_over_locked_rows() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    schema.store("sk_purge_batch_migrate").await;
    let store = PostgresStore::builder()
        .schema(&schema.name)
        .expect("valid schema")
        .purge_batch_size(100)
        .expect("valid size")
        .connect(&common::database_url())
        .await
        .expect("connect");
    let user = common::unique_name("purge_batch_user");
    // Expired 1..=250 s after the epoch, inserted newest first.
    let mut records: Vec<_> = (1..=250)
        .rev()
        .map(|s| {
            let mut r = sample_record(&user);
            r.refresh_expires_at = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s);
            r
        })
        .collect();
    for chunk in records.chunks(50) {
        for r in join_all(chunk.iter().map(|r| store.insert(r))).await {
            r.expect("insert");
        }
    }
    records.reverse(); // oldest expiry first
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1000);

    let mut batches = store.purge_expired_batches(now);
    assert_eq!(batches.next_batch().await.expect("purge"), Some(100));
    let left = store.list_by_user(&user).await.expect("list");
    let mut expected: Vec<_> = records[100..].iter().map(|r| r.handle).collect();
    let mut got: Vec<_> = left.iter().map(|r| r.handle).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "the oldest expiries went first");

    let locked = &records[100];
    let mut blocker = admin.begin().await.expect("begin");
    sqlx::query(AssertSqlSafe(format!(
        "SELECT 1 FROM \"{}\".sessionkit_sessions WHERE handle = $1 FOR UPDATE",
        schema.name
    )))
    .bind(locked.handle.as_bytes().as_slice())
    .execute(&mut *blocker)
    .await
    .expect("lock the row");
    assert_eq!(
        store.purge_expired(now).await.expect("purge never waits"),
        149
    );
    let left = store.list_by_user(&user).await.expect("list");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].handle, locked.handle);
    blocker.rollback().await.expect("rollback");
    assert_eq!(store.purge_expired(now).await.expect("purge"), 1);
}

/// A purge racing compare-and-swaps that bring expired records back to
/// life deletes none of them: a swap that succeeded left its record in
/// place with the new expiry, and a swap that failed found it purged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_never_deletes_a_record_revived_concurrently() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    schema.store("sk_purge_race_migrate").await;
    let store = PostgresStore::builder()
        .schema(&schema.name)
        .expect("valid schema")
        .purge_batch_size(50)
        .expect("valid size")
        .connect(&common::database_url())
        .await
        .expect("connect");
    let user = common::unique_name("purge_race_user");
    let records: Vec<_> = (0..600)
        .map(|i| {
            let mut r = sample_record(&user);
            r.refresh_expires_at = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(i);
            r
        })
        .collect();
    for chunk in records.chunks(100) {
        for r in join_all(chunk.iter().map(|r| store.insert(r))).await {
            r.expect("insert");
        }
    }
    let now = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1000);
    let revived: Vec<_> = records
        .iter()
        .step_by(3)
        .map(|r| {
            let mut next = r.clone();
            next.version = 2;
            next.refresh_expires_at = now + time::Duration::days(1);
            next
        })
        .collect();
    let purge = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut batches = store.purge_expired_batches(now);
            let mut total = 0;
            while let Some(n) = batches.next_batch().await.expect("purge") {
                total += n;
            }
            total
        })
    };
    let swaps = join_all(revived.iter().map(|r| store.compare_and_swap(1, r))).await;
    let purged = purge.await.expect("purge task");
    // What the purge could not see yet (rows it passed over) goes now.
    let purged = purged + store.purge_expired(now).await.expect("purge");

    let left = store.list_by_user(&user).await.expect("list");
    let mut revived_count = 0;
    for (r, swapped) in revived.iter().zip(swaps) {
        let stored = left.iter().find(|s| s.handle == r.handle);
        if swapped.expect("swap") {
            revived_count += 1;
            assert_eq!(stored, Some(r), "a revived record was purged");
        } else {
            assert_eq!(stored, None, "a failed swap means the record was purged");
        }
    }
    assert_eq!(left.len(), revived_count, "every other record was purged");
    assert_eq!(purged as usize, records.len() - revived_count);
    println!(
        "{revived_count} of {} swaps won against the purge",
        revived.len()
    );
}
