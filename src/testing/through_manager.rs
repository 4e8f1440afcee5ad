//! Rotation, theft detection and concurrent refreshes through a
//! [`SessionManager`](crate::manager::SessionManager) over the store: a
//! store that passes gets theft detection that works.

use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::json;
use time::Duration;

use crate::clock::ManualClock;
use crate::error::RefreshError;
use crate::store::SessionStore;
use crate::testing::fixtures::{T0, create, create_with, manager, unique_user};

pub(super) async fn rotation_and_theft_detection_work_through_the_store<S: SessionStore>(store: S) {
    let clock = Arc::new(ManualClock::at_unix(T0));
    let m = manager(store, Arc::clone(&clock), 10);
    let user = unique_user("theft");
    let s = create_with(&m, &user, json!({"role": "user"}), json!({"k": "v"}))
        .await
        .expect("create");
    m.verify(s.access_token.expose())
        .expect("fresh access token verifies");
    clock.advance(Duration::seconds(1));
    let r2 = m
        .refresh(s.refresh_token.expose())
        .await
        .expect("first refresh");
    clock.advance(Duration::seconds(1));
    let r3 = m
        .refresh(r2.refresh_token.expose())
        .await
        .expect("second refresh");
    clock.advance(Duration::seconds(30));
    match m.refresh(s.refresh_token.expose()).await {
        Err(RefreshError::TokenTheftDetected { handle, user_id }) => {
            assert_eq!(handle, s.handle);
            assert_eq!(user_id, user);
        }
        other => panic!("replaying a retired token must be theft, got {other:?}"),
    }
    assert!(
        matches!(
            m.refresh(r3.refresh_token.expose()).await,
            Err(RefreshError::Unauthorized(_))
        ),
        "after theft the newest token must fail too"
    );
    assert!(
        m.store()
            .load(&s.handle)
            .await
            .expect("load")
            .is_none_or(|r| crate::rotation::is_burned(&r)),
        "theft revokes the session: only its tombstone is left"
    );
    assert!(
        matches!(
            m.refresh(s.refresh_token.expose()).await,
            Err(RefreshError::Unauthorized(crate::Rejection::TheftRevoked))
        ),
        "a later presentation is told the session ended for a theft"
    );
}

async fn concurrent_refreshes<S: SessionStore>(store: S, grace: i64) {
    let clock = Arc::new(ManualClock::at_unix(T0));
    let m = manager(store, Arc::clone(&clock), grace);
    let s = create(&m, &unique_user("race")).await;
    let token = s.refresh_token.expose().to_owned();
    let results = join_all((0..64).map(|_| m.refresh(&token))).await;
    let successes: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|t| t.refresh_token.expose().to_owned()))
        .collect();
    if grace > 0 {
        assert_eq!(
            successes.len(),
            64,
            "inside the grace every concurrent refresh succeeds"
        );
        assert!(
            successes.iter().all(|t| *t == successes[0]),
            "every concurrent refresh receives the same successor"
        );
        let record = m
            .store()
            .load(&s.handle)
            .await
            .expect("load")
            .expect("alive");
        assert_eq!(record.generation, 1, "exactly one rotation happened");
        m.refresh(&successes[0])
            .await
            .expect("the single lineage continues");
    } else {
        assert!(
            successes.len() <= 1,
            "without grace at most one refresh succeeds, got {}",
            successes.len()
        );
        if let Some(winner) = successes.first() {
            // Every loser presented a retired token: theft, so the session is gone.
            assert!(
                m.refresh(winner).await.is_err(),
                "a theft verdict revoked the lineage"
            );
        }
    }
}

pub(super) async fn concurrent_refreshes_never_fork_a_lineage_with_grace<S: SessionStore>(
    store: S,
) {
    concurrent_refreshes(store, 10).await;
}

pub(super) async fn concurrent_refreshes_never_fork_a_lineage_without_grace<S: SessionStore>(
    store: S,
) {
    concurrent_refreshes(store, 0).await;
}

pub(super) async fn two_managers_share_sessions_through_the_store<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let clock = Arc::new(ManualClock::at_unix(T0));
    let a = manager(Arc::clone(&store), Arc::clone(&clock), 10);
    let b = manager(Arc::clone(&store), Arc::clone(&clock), 10);
    let s = create(&a, &unique_user("pair")).await;
    b.verify(s.access_token.expose())
        .expect("instance B verifies A's token");
    let r2 = a
        .refresh(s.refresh_token.expose())
        .await
        .expect("rotate on A");
    clock.advance(Duration::seconds(11));
    assert!(
        matches!(
            b.refresh(s.refresh_token.expose()).await,
            Err(RefreshError::TokenTheftDetected { .. })
        ),
        "replay on B of a token rotated on A is theft"
    );
    assert!(a.refresh(r2.refresh_token.expose()).await.is_err());

    let s = create(&a, &unique_user("pair")).await;
    assert!(b.revoke(&s.handle).await.expect("revoke"));
    assert!(
        matches!(
            a.refresh(s.refresh_token.expose()).await,
            Err(RefreshError::Unauthorized(_))
        ),
        "a revocation on B stops a refresh on A"
    );
    assert!(a.verify_strict(s.access_token.expose()).await.is_err());
}
