//! Failures: terminated connections, an unreachable server, a blocked row,
//! data PostgreSQL refuses.

#![cfg(test)]

mod common;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use serde_json::json;
use sessionkit::clock::ManualClock;
use sessionkit::store::{SessionStore, StoreError};
use sessionkit::testing::sample_record;
use sessionkit::{RefreshKey, SessionError, SessionManager, SigningKey};
use sessionkit_postgres::PostgresStore;
use sqlx::{AssertSqlSafe, PgPool};

use common::{TestSchema, admin};

/// Far above every bound configured here: reaching it means a hang.
const HANG: StdDuration = StdDuration::from_secs(30);

async fn no_hang<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung for {HANG:?}"))
}

/// `f`, which must end (with whatever answer) within `bound`, plus five
/// seconds for a busy machine.
async fn within<T>(what: &str, bound: StdDuration, f: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = no_hang(what, f).await;
    let took = started.elapsed();
    assert!(
        took < bound + StdDuration::from_secs(5),
        "{what} took {took:?} against a bound of {bound:?}"
    );
    out
}

async fn terminate(admin: &PgPool, application_name: &str) -> u64 {
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND application_name = $1",
    )
    .bind(application_name)
    .fetch_all(admin)
    .await
    .expect("terminate");
    killed.into_iter().filter(|k| *k).count() as u64
}

#[tokio::test]
async fn terminated_connections_fail_typed_then_recover() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let app = common::unique_name("sk_fault_kill");
    let store = schema.store(&app).await;
    let r = sample_record("kill-user");
    store.insert(&r).await.expect("insert");

    // A read after the kill: retried once on a fresh connection, or a typed error.
    assert!(
        terminate(&admin, &app).await >= 1,
        "the store had a live connection"
    );
    match no_hang("load after kill", store.load(&r.handle)).await {
        Ok(loaded) => assert_eq!(loaded.as_ref(), Some(&r)),
        Err(e) => println!("load after kill: typed error {e:?}"),
    }
    let loaded = no_hang("load after recovery", store.load(&r.handle))
        .await
        .expect("recovered");
    assert_eq!(loaded.as_ref(), Some(&r));

    // A write after the kill: never retried (it may have been applied).
    assert!(terminate(&admin, &app).await >= 1);
    let mut next = r.clone();
    next.version = 2;
    next.generation += 1;
    match no_hang(
        "compare-and-swap after kill",
        store.compare_and_swap(1, &next),
    )
    .await
    {
        Ok(swapped) => println!("compare-and-swap after kill: {swapped}"),
        Err(e) => println!("compare-and-swap after kill: typed error {e:?}"),
    }
    let stored = no_hang("load after recovery", store.load(&r.handle))
        .await
        .expect("recovered")
        .expect("present");
    assert!(
        stored == r || stored == next,
        "old or new state, nothing else"
    );
    let v = stored.version;
    let mut after = stored.clone();
    after.version = v + 1;
    assert!(
        no_hang("write after recovery", store.compare_and_swap(v, &after))
            .await
            .expect("recovered"),
        "writes work again without a restart"
    );
}

/// After every connection of the pool was terminated, the first write
/// meets a dead connection and fails (typed; the store never retries a
/// write, which may have been applied). From then on the pool tests idle
/// connections before use, so the writes that follow all get live ones
/// instead of failing one dead connection at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_connection_writes_get_live_connections() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let app = common::unique_name("sk_fault_idle");
    let store = schema.store(&app).await;
    // Several connections in the pool, all idle.
    let r = sample_record("idle-user");
    store.insert(&r).await.expect("insert");
    for loaded in futures_util::future::join_all((0..6).map(|_| store.load(&r.handle))).await {
        loaded.expect("load");
    }
    let killed = terminate(&admin, &app).await;
    assert!(killed >= 2, "several connections were open: {killed}");

    let first = no_hang(
        "write after kill",
        store.insert(&sample_record("idle-user")),
    )
    .await;
    println!("first write after the kill: {first:?}");
    for i in 0..8 {
        no_hang(
            "write after kill",
            store.insert(&sample_record("idle-user")),
        )
        .await
        .unwrap_or_else(|e| panic!("write {i} after the first: {e:?}"));
    }
}

#[tokio::test]
async fn unreachable_server_fails_within_the_bound() {
    let bound = StdDuration::from_millis(500);
    let builder = PostgresStore::builder()
        .timeout(bound)
        .expect("valid timeout");
    let url = "postgres://postgres@127.0.0.1:1/test";
    match within(
        "connect to a closed port",
        bound,
        builder.clone().connect(url),
    )
    .await
    {
        Err(StoreError::Backend(_) | StoreError::Timeout) => {}
        other => panic!("expected Backend or Timeout, got {other:?}"),
    }
    let lazy = builder.connect_lazy(url).expect("valid url");
    let h = sample_record("nobody").handle;
    match within("load from a closed port", bound, lazy.load(&h)).await {
        Err(StoreError::Backend(_) | StoreError::Timeout) => {}
        other => panic!("expected Backend or Timeout, got {other:?}"),
    }
    match within(
        "insert to a closed port",
        bound,
        lazy.insert(&sample_record("nobody")),
    )
    .await
    {
        Err(StoreError::Backend(_) | StoreError::Timeout) => {}
        other => panic!("expected Backend or Timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_url_is_a_backend_error() {
    assert!(matches!(
        PostgresStore::builder().connect_lazy("not a url"),
        Err(StoreError::Backend(_))
    ));
}

/// A store over `schema` with a 1 s bound (pool 200 ms, server lock
/// 400 ms and statement 600 ms, margin 200 ms) and its own
/// `application_name`.
async fn short_bound_store(schema: &TestSchema, application_name: &str) -> PostgresStore {
    // Migrated with the default bound: parallel tests queue on the
    // database-wide migration lock for longer than 1 s allows.
    schema.store(application_name).await;
    PostgresStore::builder()
        .schema(&schema.name)
        .expect("valid schema")
        .timeout(StdDuration::from_secs(1))
        .expect("valid timeout")
        .application_name(application_name)
        .connect(&common::database_url())
        .await
        .expect("connect")
}

/// Waits until no statement of `application_name` is running on the
/// server, so that a statement the client gave up on has ended (it does
/// within the server's `statement_timeout`) and what is read next is final.
async fn wait_until_idle(admin: &PgPool, application_name: &str) {
    no_hang("the abandoned statement to end", async {
        loop {
            let busy: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND state <> 'idle'",
            )
            .bind(application_name)
            .fetch_one(admin)
            .await
            .expect("pg_stat_activity");
            if busy == 0 {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
    })
    .await;
}

/// Locks the row of `handle` in a transaction of its own until rolled back.
async fn lock_row<'a>(
    admin: &'a PgPool,
    schema: &TestSchema,
    handle: &sessionkit::SessionHandle,
) -> sqlx::Transaction<'a, sqlx::Postgres> {
    let mut blocker = admin.begin().await.expect("begin");
    sqlx::query(AssertSqlSafe(format!(
        "SELECT 1 FROM \"{}\".sessionkit_sessions WHERE handle = $1 FOR UPDATE",
        schema.name
    )))
    .bind(handle.as_bytes().as_slice())
    .execute(&mut *blocker)
    .await
    .expect("lock the row");
    blocker
}

#[tokio::test]
async fn the_server_gives_up_before_the_client() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let store = short_bound_store(&schema, "sk_fault_settings").await;
    let show = |setting: &'static str| {
        let pool = store.pool().clone();
        async move {
            sqlx::query_scalar::<_, String>(AssertSqlSafe(format!("SHOW {setting}")))
                .fetch_one(&pool)
                .await
                .expect("show")
        }
    };
    assert_eq!(show("lock_timeout").await, "400ms");
    assert_eq!(show("statement_timeout").await, "600ms");
    assert_eq!(show("idle_in_transaction_session_timeout").await, "1s");
}

/// SEC-24: a write held up by a row lock past the bound fails with
/// `Timeout`. The server's bounds are shorter than the client's, so
/// normally the server cancelled it and nothing was applied; but an answer
/// can still be lost after the server finished (a stalled client, a
/// partition), so all the test may require is that the row is then in its
/// old or its new state, never anything else, and that the next operations
/// all see that one state.
#[tokio::test]
async fn sec_24_a_row_locked_past_the_bound_times_out_then_recovers() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let app = common::unique_name("sk_fault_lock");
    let store = short_bound_store(&schema, &app).await;
    let r = sample_record("lock-user");
    store.insert(&r).await.expect("insert");

    let blocker = lock_row(&admin, &schema, &r.handle).await;
    let mut next = r.clone();
    next.version = 2;
    match no_hang(
        "compare-and-swap on a locked row",
        store.compare_and_swap(1, &next),
    )
    .await
    {
        Err(StoreError::Timeout) => {}
        other => panic!("expected Timeout, got {other:?}"),
    }
    blocker.rollback().await.expect("rollback");
    wait_until_idle(&admin, &app).await;

    let stored = store
        .load(&r.handle)
        .await
        .expect("recovered")
        .expect("present");
    assert!(
        stored == r || stored == next,
        "old or new state, nothing else"
    );
    println!(
        "after the timeout the write was {}",
        if stored == r {
            "not applied"
        } else {
            "applied"
        }
    );
    // Every later operation sees that same state: a swap from its version
    // applies, from the other one does not, and a load returns the swap.
    let other_version = if stored == r { 2 } else { 1 };
    let mut after = stored.clone();
    after.version = stored.version + 1;
    after.generation += 1;
    assert!(
        !store
            .compare_and_swap(other_version, &after)
            .await
            .expect("recovered"),
        "the state not stored does not match"
    );
    assert!(
        store
            .compare_and_swap(stored.version, &after)
            .await
            .expect("recovered"),
        "writes from the stored state go through"
    );
    assert_eq!(
        store.load(&r.handle).await.expect("load").as_ref(),
        Some(&after)
    );
}

/// SEC-24, SEC-43: a capped insert that has to evict a row another
/// transaction holds waits on the row lock past the bound. It never sent
/// its commit, so its `Timeout` is certain to mean "not applied": the new
/// record is absent and the old one is still there. Once the lock is gone
/// the same insert evicts it.
#[tokio::test]
async fn sec_43_a_capped_insert_that_times_out_before_its_commit_applies_nothing() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let app = common::unique_name("sk_fault_cap");
    let store = short_bound_store(&schema, &app).await;
    let old = sample_record("cap-lock-user");
    store.insert(&old).await.expect("insert");
    let mut new = sample_record("cap-lock-user");
    new.created_at += time::Duration::seconds(1);

    let blocker = lock_row(&admin, &schema, &old.handle).await;
    match no_hang(
        "capped insert on a locked row",
        store.insert_capped(&new, 1),
    )
    .await
    {
        Err(StoreError::Timeout) => {}
        other => panic!("expected Timeout, got {other:?}"),
    }
    blocker.rollback().await.expect("rollback");
    wait_until_idle(&admin, &app).await;
    assert_eq!(store.load(&new.handle).await.expect("load"), None);
    assert_eq!(
        store.load(&old.handle).await.expect("load").as_ref(),
        Some(&old)
    );

    let evicted = store.insert_capped(&new, 1).await.expect("recovered");
    assert_eq!(evicted, vec![old.handle]);
    let left = store.list_by_user("cap-lock-user").await.expect("list");
    assert_eq!(left, vec![new]);
}

#[tokio::test]
async fn session_data_jsonb_refuses_is_invalid_data_and_changes_nothing() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let store = schema.store("sk_fault_data").await;
    let m = SessionManager::builder(store)
        .signing_key(SigningKey::hs256("k", &[1; 32]).expect("valid key"))
        .refresh_key(RefreshKey::new(1, &[2; 32]).expect("valid key"))
        .clock(Arc::new(ManualClock::at_unix(1_900_000_000)))
        .build()
        .expect("valid configuration");
    let s = m
        .create("dave")
        .session_data(json!({"cart": [1]}))
        .await
        .expect("create");
    let before = m
        .store()
        .load(&s.handle)
        .await
        .expect("load")
        .expect("present");
    match m
        .update_session_data(&s.handle, json!({"bad": "nul \u{0000} inside"}))
        .await
    {
        Err(SessionError::Store(StoreError::InvalidData(_))) => {}
        other => panic!("expected InvalidData, got {other:?}"),
    }
    let after = m
        .store()
        .load(&s.handle)
        .await
        .expect("load")
        .expect("present");
    assert_eq!(after, before, "the stored session is unchanged");
    m.update_session_data(&s.handle, json!({"cart": [2]}))
        .await
        .expect("valid data still works");
}

#[tokio::test]
async fn values_postgres_cannot_hold_are_invalid_data() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let store = schema.store("sk_fault_range").await;

    let mut huge_generation = sample_record("range-user");
    huge_generation.generation = u64::MAX;
    assert!(matches!(
        store.insert(&huge_generation).await,
        Err(StoreError::InvalidData(_))
    ));
    assert!(
        store
            .load(&huge_generation.handle)
            .await
            .expect("load")
            .is_none()
    );

    // Incompressible and far above the b-tree row limit of the user index.
    let long_user: String = (0..800)
        .map(|_| sample_record("x").handle.to_string())
        .collect();
    match store.insert(&sample_record(&long_user)).await {
        Err(StoreError::InvalidData(_)) => {}
        other => panic!("expected InvalidData, got {other:?}"),
    }
    let r = sample_record("range-user");
    store.insert(&r).await.expect("the store still works");
}
