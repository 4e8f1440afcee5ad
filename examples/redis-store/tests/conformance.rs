//! The store contract, checked against a real Redis: the shared conformance
//! and instance suites, then what is specific to this store (TTLs, lazy
//! index repair, key encoding).

#![cfg(test)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use std::collections::HashMap;

use redis::AsyncCommands as _;
use serde_json::json;
use sessionkit::SessionHandle;
use sessionkit::store::{
    RotateOutcome, Rotation, RotationNonce, SessionRecord, SessionStore, StoreError, TokenHash,
};
use sessionkit::testing::{
    run_fault_suite, run_history_suite_with, run_instance_suite_with, run_store_suite,
    sample_record,
};
use sessionkit_redis::RedisStore;
use time::{Duration, OffsetDateTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_passes_the_conformance_suite() {
    let Some((probe, cleanup)) = common::store_or_skip("suite").await else {
        return;
    };
    // One connection, a fresh prefix per check: the suite purges everything
    // expired in its store, so checks must not see each other's records.
    run_store_suite(common::fresh_stores(probe.connection(), cleanup.prefix())).await;
}

/// Several instances of an application (two connections, one prefix):
/// theft detection, revocation and concurrent refreshes across them, the
/// refreshes racing on threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_passes_the_instance_suite() {
    let Some((_probe, cleanup)) = common::store_or_skip("instances").await else {
        return;
    };
    let root = cleanup.prefix().to_owned();
    let n = AtomicU64::new(0);
    run_instance_suite_with(
        || {
            let prefix = format!("{root}:{}", n.fetch_add(1, Ordering::Relaxed));
            async move {
                let url = common::redis_url();
                let connect = || RedisStore::builder().prefix(prefix.clone()).connect(&url);
                let a = connect().await.expect("first connection");
                let b = connect().await.expect("second connection");
                (a, b)
            }
        },
        common::tokio_spawn(),
    )
    .await;
}

/// SEC-24: a fault at every store call of create, refresh, revoke and
/// revoke-all, over Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_24_fault_suite() {
    let Some((probe, cleanup)) = common::store_or_skip("faults").await else {
        return;
    };
    let started = std::time::Instant::now();
    let report = run_fault_suite(common::fresh_stores(probe.connection(), cleanup.prefix())).await;
    assert!(report.errors_injected > 0);
    println!("fault suite took {:?}", started.elapsed());
}

/// SEC-20, SEC-21: 10,000 operations in concurrent histories, each
/// linearizable against the model of the refresh table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_20_histories_are_linearizable() {
    let Some((store, _cleanup)) = common::store_or_skip("history").await else {
        return;
    };
    let started = std::time::Instant::now();
    let report = run_history_suite_with(
        move || std::future::ready(store.clone()),
        10_000,
        common::tokio_spawn(),
    )
    .await;
    assert!(report.operations >= 10_000);
    println!("history suite took {:?}", started.elapsed());
}

/// A record of `user` whose handle the store placed (as the manager does),
/// so that its session and its user's index share one slot.
fn placed(store: &RedisStore, user: &str) -> SessionRecord {
    let mut r = sample_record(user);
    let mut random = [0u8; 16];
    random.copy_from_slice(&r.handle.as_bytes()[..16]);
    r.handle = SessionHandle::new(random, store.placement_tag(user));
    r
}

#[tokio::test]
async fn session_and_user_keys_expire_with_the_session() {
    let Some((store, _cleanup)) = common::store_or_skip("ttl").await else {
        return;
    };
    let mut conn = store.connection();
    let r = placed(&store, "ttl-user");
    store.insert(&r).await.expect("insert");
    let session_key = common::find_key(&store, &format!(":{{*}}:s:{}", r.handle))
        .await
        .expect("session key");
    let user_key = common::find_key(&store, &format!(":{{*}}:u:{}", hex::encode("ttl-user")))
        .await
        .expect("user key");
    let expiry_ms = r.expires_at().unix_timestamp() * 1000;
    let absolute_ms = r.absolute_expires_at.unix_timestamp() * 1000;
    let at: i64 = conn.pexpire_time(&session_key).await.expect("PEXPIRETIME");
    assert_eq!(
        at, expiry_ms,
        "the session key expires at the session's expiry"
    );
    let at: i64 = conn.pexpire_time(&user_key).await.expect("PEXPIRETIME");
    assert_eq!(
        at, absolute_ms,
        "the user index lives as long as the absolute lifetime, which no rotation extends"
    );

    // A swap that slides the expiry moves the session's TTL.
    let mut next = r.clone();
    next.refresh_expires_at += Duration::days(1);
    next.version = 2;
    assert!(store.compare_and_swap(1, &next).await.expect("cas"));
    let moved = next.expires_at().unix_timestamp() * 1000;
    assert!(moved > expiry_ms);
    let at: i64 = conn.pexpire_time(&session_key).await.expect("PEXPIRETIME");
    assert_eq!(at, moved);

    // A second, shorter-lived session does not shorten the index's life.
    let mut short = placed(&store, "ttl-user");
    short.absolute_expires_at = short.created_at + Duration::hours(1);
    short.refresh_expires_at = short.absolute_expires_at;
    store.insert(&short).await.expect("insert");
    let at: i64 = conn.pexpire_time(&user_key).await.expect("PEXPIRETIME");
    assert_eq!(at, absolute_ms);
    // All of the user's keys and the bucket's expiry index share a slot.
    let tag = |key: &str| key.split(['{', '}']).nth(1).map(str::to_owned);
    assert_eq!(tag(&session_key), tag(&user_key));
}

#[tokio::test]
async fn rotation_rewrites_only_its_fields_and_moves_every_expiry() {
    let Some((store, _cleanup)) = common::store_or_skip("rotate").await else {
        return;
    };
    let mut conn = store.connection();
    let mut r = placed(&store, "rotate-user");
    // What Lua's JSON would round: the script must never re-encode `d`.
    r.session_data = json!({
        "big": 12_345_678_901_234_567_890u64,
        "neg": -9_007_199_254_740_993i64,
        "f": 0.1,
    });
    store.insert(&r).await.expect("insert");
    let session_key = common::find_key(&store, &format!(":{{*}}:s:{}", r.handle))
        .await
        .expect("session key");
    let index = session_key.replace(&format!(":s:{}", r.handle), ":e");
    let json_before: String = conn.hget(&session_key, "d").await.expect("HGET");

    let rotation = Rotation::new(
        r.handle,
        r.generation,
        r.current_hash,
        TokenHash::from_bytes([7; 32]),
        RotationNonce::from_bytes([8; 32]),
        r.created_at + Duration::seconds(60),
        Duration::days(10),
    );
    let RotateOutcome::Rotated(next) = store.rotate_if_current(&rotation).await.expect("rotate")
    else {
        panic!("a matching rotation must apply");
    };
    assert_eq!(next.session_data, r.session_data, "numbers survive exactly");
    let json_after: String = conn.hget(&session_key, "d").await.expect("HGET");
    assert_eq!(json_before, json_after, "the JSON part is not rewritten");

    let fields: HashMap<String, String> = conn.hgetall(&session_key).await.expect("HGETALL");
    let expiry = next.expires_at().unix_timestamp();
    assert!(expiry > r.expires_at().unix_timestamp(), "the expiry slid");
    assert_eq!(fields["g"], (r.generation + 1).to_string());
    assert_eq!(fields["v"], "2");
    assert_eq!(fields["re"], expiry.to_string());
    assert_eq!(fields["e"], expiry.to_string());
    assert_eq!(
        fields["ra"],
        rotation.now.unix_timestamp().to_string(),
        "rotated_at is now"
    );
    let at: i64 = conn.pexpire_time(&session_key).await.expect("PEXPIRETIME");
    assert_eq!(at, expiry * 1000, "the session key's TTL moves");
    let member = format!(
        "{}{}",
        hex::encode(r.handle.as_bytes()),
        hex::encode("rotate-user")
    );
    let score: Option<f64> = conn.zscore(&index, &member).await.expect("ZSCORE");
    assert_eq!(score, Some(expiry as f64), "the expiry index moves");
    assert_eq!(store.load(&r.handle).await.expect("load"), Some(next));
}

#[tokio::test]
async fn rotation_counts_versions_exactly_beyond_a_doubles_range() {
    let Some((store, _cleanup)) = common::store_or_skip("rotate-version").await else {
        return;
    };
    let rotation_of = |r: &sessionkit::store::SessionRecord| {
        Rotation::new(
            r.handle,
            r.generation,
            r.current_hash,
            TokenHash::from_bytes([7; 32]),
            RotationNonce::from_bytes([8; 32]),
            r.created_at + Duration::seconds(60),
            Duration::days(1),
        )
    };
    for version in [
        999_999_999_999_999u64,
        1_000_000_000_000_000,
        9_007_199_254_740_993,
        i64::MAX.unsigned_abs() - 1,
    ] {
        let mut r = sample_record("version-user");
        r.version = version;
        store.insert(&r).await.expect("insert");
        match store.rotate_if_current(&rotation_of(&r)).await {
            Ok(RotateOutcome::Rotated(next)) => {
                assert_eq!(next.version, version + 1, "from {version}");
                assert_eq!(store.load(&r.handle).await.expect("load"), Some(next));
            }
            other => panic!("rotation from version {version}: {other:?}"),
        }
    }
    // Past i64::MAX, HINCRBY refuses: an error, and nothing written.
    let mut r = sample_record("version-user");
    r.version = i64::MAX.unsigned_abs();
    store.insert(&r).await.expect("insert");
    assert!(store.rotate_if_current(&rotation_of(&r)).await.is_err());
    assert_eq!(store.load(&r.handle).await.expect("load"), Some(r));
}

#[tokio::test]
async fn sessions_dropped_by_redis_leave_no_stale_index_entries() {
    let Some((store, _cleanup)) = common::store_or_skip("stale").await else {
        return;
    };
    let mut conn = store.connection();
    let user = "stale-user";
    let live = placed(&store, user);
    store.insert(&live).await.expect("insert");
    let session_key = common::find_key(&store, &format!(":{{*}}:s:{}", live.handle))
        .await
        .expect("session key");
    let key_of =
        |r: &SessionRecord| session_key.replace(&live.handle.to_string(), &r.handle.to_string());
    let index = session_key.replace(&format!(":s:{}", live.handle), ":e");
    let user_key = session_key.replace(
        &format!(":s:{}", live.handle),
        &format!(":u:{}", hex::encode(user)),
    );

    // Expired by the server's clock at insert: nothing is written at all.
    let now = OffsetDateTime::now_utc();
    let mut dead = placed(&store, user);
    dead.created_at = now - Duration::days(2);
    dead.refresh_expires_at = now - Duration::days(1);
    store.insert(&dead).await.expect("insert");
    assert!(store.load(&dead.handle).await.expect("load").is_none());
    assert_eq!(conn.zcard::<_, u64>(&index).await.expect("ZCARD"), 1);
    assert_eq!(conn.zcard::<_, u64>(&user_key).await.expect("ZCARD"), 1);

    // A session whose TTL fired (simulated: deleted behind the store's
    // back) leaves index entries; the purge cleans them without counting a
    // session it did not delete.
    let mut gone = placed(&store, user);
    gone.refresh_expires_at = gone.created_at + Duration::seconds(100);
    store.insert(&gone).await.expect("insert");
    let _: i64 = conn.del(key_of(&gone)).await.expect("DEL");
    assert_eq!(
        store.purge_expired(gone.expires_at()).await.expect("purge"),
        0
    );
    assert_eq!(conn.zcard::<_, u64>(&index).await.expect("ZCARD"), 1);
    assert_eq!(conn.zcard::<_, u64>(&user_key).await.expect("ZCARD"), 1);

    // A member whose session vanished is dropped by the next listing.
    let _: i64 = conn.del(key_of(&live)).await.expect("DEL");
    assert!(store.list_by_user(user).await.expect("list").is_empty());
    assert_eq!(conn.zcard::<_, u64>(&user_key).await.expect("ZCARD"), 0);
}

#[tokio::test]
async fn purge_deletes_sessions_expired_at_an_injected_now_in_batches() {
    let Some((store, _cleanup)) = common::store_or_skip("purge").await else {
        return;
    };
    // More than one purge batch (500), all expiring at the same instant.
    let mut handles = Vec::new();
    let first = sample_record("purge-user");
    let expiry = first.expires_at();
    for i in 0..1201u32 {
        let r = sample_record(&format!("purge-user-{}", i % 7));
        store.insert(&r).await.expect("insert");
        handles.push(r.handle);
    }
    assert_eq!(
        store
            .purge_expired(expiry - Duration::seconds(1))
            .await
            .expect("purge"),
        0
    );
    assert_eq!(store.purge_expired(expiry).await.expect("purge"), 1201);
    for h in handles.iter().step_by(97) {
        assert!(store.load(h).await.expect("load").is_none());
    }
    for i in 0..7 {
        assert!(
            store
                .list_by_user(&format!("purge-user-{i}"))
                .await
                .expect("list")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn user_ids_with_separators_and_globs_do_not_collide() {
    let Some((store, _cleanup)) = common::store_or_skip("ids").await else {
        return;
    };
    let ids = ["a", "a:", "a:*", "*", "{a}", "a b", "ü", "a\u{0}b", ":u:61"];
    for id in ids {
        store.insert(&sample_record(id)).await.expect("insert");
    }
    for id in ids {
        let listed = store.list_by_user(id).await.expect("list");
        assert_eq!(listed.len(), 1, "{id:?}");
        assert_eq!(listed[0].user_id, id);
    }
    assert_eq!(
        store
            .delete_by_user("a", None)
            .await
            .expect("delete_by_user"),
        1
    );
    for id in &ids[1..] {
        assert_eq!(
            store.list_by_user(id).await.expect("list").len(),
            1,
            "{id:?}"
        );
    }
}

#[tokio::test]
async fn a_swap_cannot_move_a_session_to_another_user() {
    let Some((store, _cleanup)) = common::store_or_skip("move").await else {
        return;
    };
    let r = sample_record("owner");
    store.insert(&r).await.expect("insert");
    let mut moved = r.clone();
    moved.user_id = "thief".to_owned();
    moved.version = 2;
    assert!(matches!(
        store.compare_and_swap(1, &moved).await,
        Err(StoreError::InvalidData(_))
    ));
    assert_eq!(store.load(&r.handle).await.expect("load"), Some(r));
    assert!(store.list_by_user("thief").await.expect("list").is_empty());
}

#[tokio::test]
async fn stores_with_different_prefixes_do_not_see_each_other() {
    let Some((a, _cleanup_a)) = common::store_or_skip("prefix-a").await else {
        return;
    };
    let Some((b, _cleanup_b)) = common::store_or_skip("prefix-b").await else {
        return;
    };
    let r = sample_record("shared-user");
    a.insert(&r).await.expect("insert");
    assert!(b.load(&r.handle).await.expect("load").is_none());
    assert!(
        b.list_by_user("shared-user")
            .await
            .expect("list")
            .is_empty()
    );
    b.insert(&r)
        .await
        .expect("the same handle is free under another prefix");
    assert_eq!(b.purge_expired(r.expires_at()).await.expect("purge"), 1);
    assert!(a.load(&r.handle).await.expect("load").is_some());
}
