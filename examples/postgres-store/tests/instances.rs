//! Several sessionkit instances (separate managers over separate pools)
//! sharing one table.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;

use std::sync::Arc;

use sessionkit::clock::ManualClock;
use sessionkit::store::SessionStore;
use sessionkit::{RefreshError, RefreshKey, SessionManager, SigningKey};
use sessionkit_postgres::PostgresStore;
use time::Duration;

use common::{TestSchema, admin};

const T0: i64 = 1_900_000_000;

fn manager(
    store: PostgresStore,
    clock: &Arc<ManualClock>,
    grace: i64,
) -> SessionManager<PostgresStore> {
    SessionManager::builder(store)
        .signing_key(SigningKey::hs256("k", &[1; 32]).expect("valid key"))
        .refresh_key(RefreshKey::new(1, &[2; 32]).expect("valid key"))
        .grace(Duration::seconds(grace))
        .clock(Arc::clone(clock))
        .build()
        .expect("valid configuration")
}

/// Two managers, each over its own store and pool, on one schema.
async fn pair(
    schema: &TestSchema,
    grace: i64,
) -> (
    SessionManager<PostgresStore>,
    SessionManager<PostgresStore>,
    Arc<ManualClock>,
) {
    let clock = Arc::new(ManualClock::at_unix(T0));
    let a = manager(
        schema.store(&common::unique_name("sk_inst_a")).await,
        &clock,
        grace,
    );
    let b = manager(
        schema.store(&common::unique_name("sk_inst_b")).await,
        &clock,
        grace,
    );
    (a, b, clock)
}

#[tokio::test]
async fn replay_on_b_of_a_token_rotated_on_a_is_theft() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let (a, b, clock) = pair(&schema, 10).await;
    let s = a.create("alice").await.expect("create");
    clock.advance(Duration::seconds(1));
    let r2 = a
        .refresh(s.refresh_token.expose())
        .await
        .expect("rotate on A");
    clock.advance(Duration::seconds(11));
    match b.refresh(s.refresh_token.expose()).await {
        Err(RefreshError::TokenTheftDetected { handle, user_id }) => {
            assert_eq!(handle, s.handle);
            assert_eq!(user_id, "alice");
        }
        other => panic!("replay on B after the grace must be theft, got {other:?}"),
    }
    assert!(
        matches!(
            a.refresh(r2.refresh_token.expose()).await,
            Err(RefreshError::Unauthorized(_))
        ),
        "theft revoked the lineage for A too"
    );
    assert!(a.store().load(&s.handle).await.expect("load").is_none());
}

#[tokio::test]
async fn revoke_on_b_stops_refresh_on_a() {
    let Some(admin) = admin().await else { return };
    let schema = TestSchema::create(&admin).await;
    let (a, b, _clock) = pair(&schema, 10).await;
    let s = a.create("bob").await.expect("create");
    assert!(b.revoke(&s.handle).await.expect("revoke on B"));
    assert!(
        matches!(
            a.refresh(s.refresh_token.expose()).await,
            Err(RefreshError::Unauthorized(_))
        ),
        "a revocation on B stops a refresh on A"
    );
}

/// 64 refreshes of one token, spawned on a multi-thread runtime and spread
/// over both managers; returns the successful successors.
async fn concurrent_refreshes(
    grace: i64,
) -> (Vec<String>, SessionManager<PostgresStore>, TestSchema) {
    let admin = admin().await.expect("checked by the caller");
    let schema = TestSchema::create(&admin).await;
    let (a, b, _clock) = pair(&schema, grace).await;
    let s = a.create("carol").await.expect("create");
    let token = s.refresh_token.expose().to_owned();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let m = if i % 2 == 0 { a.clone() } else { b.clone() };
            let token = token.clone();
            tokio::spawn(async move { m.refresh(&token).await })
        })
        .collect();
    let mut successes = Vec::new();
    for task in tasks {
        match task.await.expect("task did not panic") {
            Ok(t) => successes.push(t.refresh_token.expose().to_owned()),
            Err(RefreshError::Store(e)) => panic!("no store error expected: {e:?}"),
            Err(_) => {}
        }
    }
    let record = a.store().load(&s.handle).await.expect("load");
    if grace > 0 {
        assert_eq!(
            record.map(|r| r.generation),
            Some(1),
            "exactly one rotation happened"
        );
    }
    (successes, a, schema)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_on_two_instances_share_one_successor_inside_the_grace() {
    if admin().await.is_none() {
        return;
    }
    let (successes, a, _schema) = concurrent_refreshes(10).await;
    assert_eq!(
        successes.len(),
        64,
        "inside the grace every concurrent refresh succeeds"
    );
    assert!(
        successes.iter().all(|t| *t == successes[0]),
        "one successor for all"
    );
    a.refresh(&successes[0])
        .await
        .expect("the single lineage continues");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_on_two_instances_without_grace_have_at_most_one_winner() {
    if admin().await.is_none() {
        return;
    }
    let (successes, a, _schema) = concurrent_refreshes(0).await;
    assert!(
        successes.len() <= 1,
        "at most one refresh succeeds, got {}",
        successes.len()
    );
    if let Some(winner) = successes.first() {
        assert!(
            a.refresh(winner).await.is_err(),
            "the losers' theft verdict revoked the lineage"
        );
    }
}
