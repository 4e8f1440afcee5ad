//! Several application instances (separate connections, one prefix) share
//! sessions: rotation, theft detection, revocation and concurrent refreshes
//! work across them.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests report failures by panicking"
)]

mod common;

use std::sync::Arc;

use sessionkit::clock::ManualClock;
use sessionkit::store::SessionStore;
use sessionkit::{RefreshError, RefreshKey, SessionManager, SigningKey};
use sessionkit_redis::RedisStore;
use time::Duration;

/// A fixed start in the future of any test run, so Redis's own TTLs never
/// fire during a test.
const T0: i64 = 1_900_000_000;

struct Pair {
    a: SessionManager<RedisStore>,
    b: SessionManager<RedisStore>,
    clock: Arc<ManualClock>,
    _cleanup: common::Cleanup,
}

/// Two managers with the same keys over two separate connections with the
/// same prefix.
async fn pair(label: &str, grace: i64) -> Option<Pair> {
    let (store_a, cleanup) = common::store_or_skip(label).await?;
    let store_b = RedisStore::builder()
        .prefix(store_a.prefix())
        .connect(&common::redis_url())
        .await
        .expect("second connection");
    let clock = Arc::new(ManualClock::at_unix(T0));
    let manager = |store| {
        SessionManager::builder(store)
            .signing_key(SigningKey::hs256("k", &[1; 32]).expect("key"))
            .refresh_key(RefreshKey::new(1, &[2; 32]).expect("key"))
            .grace(Duration::seconds(grace))
            .clock(Arc::clone(&clock))
            .build()
            .expect("manager")
    };
    Some(Pair {
        a: manager(store_a),
        b: manager(store_b),
        clock: Arc::clone(&clock),
        _cleanup: cleanup,
    })
}

#[tokio::test]
async fn replay_on_one_instance_of_a_token_rotated_on_another_is_theft() {
    let Some(p) = pair("theft", 10).await else {
        return;
    };
    let s = p.a.create("alice").await.expect("create");
    let r2 =
        p.a.refresh(s.refresh_token.expose())
            .await
            .expect("rotate on A");
    p.clock.advance(Duration::seconds(11));
    match p.b.refresh(s.refresh_token.expose()).await {
        Err(RefreshError::TokenTheftDetected { handle, user_id }) => {
            assert_eq!(handle, s.handle);
            assert_eq!(user_id, "alice");
        }
        other => panic!("replay on B after the grace must be theft, got {other:?}"),
    }
    assert!(
        matches!(
            p.a.refresh(r2.refresh_token.expose()).await,
            Err(RefreshError::Unauthorized(_))
        ),
        "theft revoked the lineage for A too"
    );
    assert!(p.a.store().load(&s.handle).await.expect("load").is_none());
}

#[tokio::test]
async fn revocation_on_one_instance_stops_refresh_on_the_other() {
    let Some(p) = pair("revoke", 10).await else {
        return;
    };
    let s = p.a.create("bob").await.expect("create");
    assert!(p.b.revoke(&s.handle).await.expect("revoke on B"));
    assert!(
        matches!(
            p.a.refresh(s.refresh_token.expose()).await,
            Err(RefreshError::Unauthorized(_))
        ),
        "a revocation on B stops a refresh on A"
    );
}

/// 64 refreshes of one token, spread over both instances and spawned on the
/// multi-thread runtime.
async fn refresh_race(p: &Pair) -> (sessionkit::SessionHandle, Vec<Result<String, String>>) {
    let s = p.a.create("carol").await.expect("create");
    let token = s.refresh_token.expose().to_owned();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let m = if i % 2 == 0 { p.a.clone() } else { p.b.clone() };
            let token = token.clone();
            tokio::spawn(async move {
                m.refresh(&token)
                    .await
                    .map(|t| t.refresh_token.expose().to_owned())
                    .map_err(|e| format!("{e:?}"))
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("task"));
    }
    (s.handle, results)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_across_instances_share_one_successor_within_grace() {
    let Some(p) = pair("race-grace", 10).await else {
        return;
    };
    let (handle, results) = refresh_race(&p).await;
    let successes: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "every refresh inside the grace succeeds: {failures:?}"
    );
    assert_eq!(successes.len(), 64);
    assert!(
        successes.iter().all(|t| *t == successes[0]),
        "one successor for all"
    );
    let record =
        p.a.store()
            .load(&handle)
            .await
            .expect("load")
            .expect("alive");
    assert_eq!(record.generation, 1, "exactly one rotation happened");
    p.b.refresh(successes[0])
        .await
        .expect("the single lineage continues on B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_across_instances_without_grace_have_at_most_one_winner() {
    let Some(p) = pair("race-nograce", 0).await else {
        return;
    };
    let (_, results) = refresh_race(&p).await;
    let successes: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert!(
        successes.len() <= 1,
        "at most one refresh succeeds, got {}",
        successes.len()
    );
    for failure in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            failure.starts_with("TokenTheftDetected") || failure.starts_with("Unauthorized"),
            "losers are refused, not failed: {failure}"
        );
    }
    if let Some(winner) = successes.first() {
        assert!(
            p.a.refresh(winner).await.is_err(),
            "a theft verdict revoked the lineage"
        );
    }
}
