//! Failures are typed errors in bounded time, never panics or hangs: a
//! killed connection, an unreachable server, a paused server and data too
//! large to store.

#![cfg(test)]

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::json;
use sessionkit::store::{SessionStore, StoreError};
use sessionkit::testing::sample_record;
use sessionkit::{RefreshKey, SessionError, SessionManager, SigningKey};
use sessionkit_redis::RedisStore;

/// Guards against a hang only: far above every configured bound, so it is
/// not a timing assertion.
async fn no_hang<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// `fut`, which must end (with whatever answer) within `bound`, plus five
/// seconds for a busy machine.
async fn within<T>(what: &str, bound: Duration, fut: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let out = no_hang(what, fut).await;
    let took = started.elapsed();
    assert!(
        took < bound + Duration::from_secs(5),
        "{what} took {took:?} against a bound of {bound:?}"
    );
    out
}

async fn admin_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(common::redis_url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection")
}

async fn client_id(store: &RedisStore) -> i64 {
    let mut conn = store.connection();
    redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut conn)
        .await
        .expect("CLIENT ID")
}

#[tokio::test]
async fn a_killed_connection_gives_a_typed_error_then_reconnects() {
    let Some((store, _cleanup)) = common::store_or_skip("kill").await else {
        return;
    };
    let r = sample_record("kill-user");
    store.insert(&r).await.expect("insert");
    let id = client_id(&store).await;
    let mut admin = admin_connection().await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut admin)
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1);

    // The first operation after the kill may see the dead socket: success
    // or a typed error are both fine, a panic or a hang is not.
    let first = no_hang("load after kill", store.load(&r.handle)).await;
    println!("first operation after the kill: {first:?}");
    match first {
        Ok(loaded) => assert_eq!(loaded.as_ref(), Some(&r)),
        Err(StoreError::Backend(_) | StoreError::Timeout) => {}
        Err(other) => panic!("unexpected error after a kill: {other:?}"),
    }
    // The connection manager reconnects: the next operation succeeds.
    let loaded = no_hang("load after reconnect", store.load(&r.handle))
        .await
        .expect("the store reconnects");
    assert_eq!(loaded, Some(r));
    assert_ne!(client_id(&store).await, id, "a new connection");
}

#[tokio::test]
async fn a_closed_port_gives_a_typed_error_within_the_bound() {
    let url = "redis://127.0.0.1:1";
    let bound = Duration::from_millis(500);
    let builder = RedisStore::builder()
        .timeout(bound)
        .connect_timeout(Duration::from_millis(200));

    match within("connect", bound, builder.clone().connect(url)).await {
        Err(StoreError::Backend(_) | StoreError::Timeout) => {}
        other => panic!("connecting to a closed port must fail with a typed error, got {other:?}"),
    }

    let lazy = builder
        .connect_lazy(url)
        .expect("a lazy store needs no server");
    let r = sample_record("nobody");
    for _ in 0..2 {
        match within("insert", bound, lazy.insert(&r)).await {
            Err(StoreError::Backend(_) | StoreError::Timeout) => {}
            other => panic!("an unreachable server must give a typed error, got {other:?}"),
        }
        match within("load", bound, lazy.load(&r.handle)).await {
            Err(StoreError::Backend(_) | StoreError::Timeout) => {}
            other => panic!("an unreachable server must give a typed error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_paused_server_gives_a_timeout() {
    let Some((store, _cleanup)) = common::store_or_skip("pause").await else {
        return;
    };
    let store = RedisStore::builder()
        .prefix(store.prefix())
        .timeout(Duration::from_millis(200))
        .build(store.connection())
        .await
        .expect("store");
    let mut admin = admin_connection().await;
    // Pauses writes (scripts included) of every client for one second:
    // other users of the server are delayed, not failed.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1000)
        .arg("WRITE")
        .query_async(&mut admin)
        .await
        .expect("CLIENT PAUSE");
    let r = sample_record("pause-user");
    let outcome = no_hang("insert while paused", store.insert(&r)).await;
    let _: Result<(), _> = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async(&mut admin)
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Timeout)),
        "got {outcome:?}"
    );
    // The timed-out insert may still have been applied when the pause ended:
    // both outcomes are allowed by the contract.
    let _ = no_hang("load after pause", store.load(&r.handle))
        .await
        .expect("the store works again");
}

#[tokio::test]
async fn session_data_over_the_limit_is_invalid_data_and_changes_nothing() {
    let Some((store, _cleanup)) = common::store_or_skip("large").await else {
        return;
    };
    let m = SessionManager::builder(store)
        .signing_key(SigningKey::hs256("k", &[1; 32]).expect("key"))
        .refresh_key(RefreshKey::new(1, &[2; 32]).expect("key"))
        .build()
        .expect("manager");
    let s = m
        .create("dave")
        .session_data(json!({"small": true}))
        .await
        .expect("create");

    let huge = json!({ "blob": "x".repeat(sessionkit_redis::DEFAULT_MAX_RECORD_BYTES) });
    match m.update_session_data(&s.handle, huge).await {
        Err(SessionError::Store(StoreError::InvalidData(e))) => {
            assert!(e.to_string().contains("exceeds the limit"), "{e}");
        }
        other => panic!("data over the limit must be InvalidData, got {other:?}"),
    }
    let info = m
        .session(&s.handle)
        .await
        .expect("session")
        .expect("still alive");
    assert_eq!(
        info.session_data,
        json!({"small": true}),
        "the stored session is unchanged"
    );

    // Just under the limit is fine.
    let fits = json!({ "blob": "x".repeat(sessionkit_redis::DEFAULT_MAX_RECORD_BYTES / 2) });
    m.update_session_data(&s.handle, fits.clone())
        .await
        .expect("update");
    let info = m.session(&s.handle).await.expect("session").expect("alive");
    assert_eq!(info.session_data, fits);

    // The store refuses an oversized insert the same way, and stores nothing.
    let mut record = sample_record("erin");
    record.session_data = json!({ "blob": "x".repeat(sessionkit_redis::DEFAULT_MAX_RECORD_BYTES) });
    assert!(matches!(
        m.store().insert(&record).await,
        Err(StoreError::InvalidData(_))
    ));
    assert!(
        m.store()
            .load(&record.handle)
            .await
            .expect("load")
            .is_none()
    );
    assert!(
        m.store()
            .list_by_user("erin")
            .await
            .expect("list")
            .is_empty()
    );
}

/// A record the store refuses is reported by `create`, and no tokens are
/// handed out for a session that was never stored.
#[tokio::test]
async fn create_reports_a_refused_insert() {
    let Some((store, _cleanup)) = common::store_or_skip("create-large").await else {
        return;
    };
    let m = SessionManager::builder(store)
        .signing_key(SigningKey::hs256("k", &[1; 32]).expect("key"))
        .refresh_key(RefreshKey::new(1, &[2; 32]).expect("key"))
        .build()
        .expect("manager");
    let huge = json!({ "blob": "x".repeat(sessionkit_redis::DEFAULT_MAX_RECORD_BYTES) });
    let outcome = m.create("frank").session_data(huge).await;
    let stored = m.sessions_for_user("frank").await.expect("list").len();
    assert!(
        matches!(
            outcome,
            Err(SessionError::Store(StoreError::InvalidData(_)))
        ),
        "create must report the refusal (stored sessions: {stored}), got {outcome:?}"
    );
}
