//! SEC-43, bounded work per user: the session limit as one script, on a
//! single server and on the cluster, for sessions the store placed (as the
//! manager creates them) and for a user with sessions it did not place.

#![cfg(test)]

mod common;

use std::collections::HashSet;

use futures_util::future::join_all;
use sessionkit::SessionHandle;
use sessionkit::store::{SessionRecord, SessionStore, StoreError};
use sessionkit::testing::sample_record;
use sessionkit_redis::RedisStore;
use time::{Duration, OffsetDateTime};

/// Runs `check` on the single server and on the cluster.
macro_rules! on_both {
    ($single:ident, $cluster:ident, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $single() {
            if let Some((store, _cleanup)) = common::store_or_skip(stringify!($single)).await {
                $check(store).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $cluster() {
            if let Some((store, _cleanup)) =
                common::cluster_store_or_skip(stringify!($cluster)).await
            {
                $check(store).await;
            }
        }
    };
}

on_both!(
    sec_43_the_limit_evicts_exactly_the_oldest,
    sec_43_the_limit_evicts_exactly_the_oldest_on_the_cluster,
    evicts_exactly_the_oldest
);
on_both!(
    sec_43_concurrent_logins_never_exceed_the_limit,
    sec_43_concurrent_logins_never_exceed_the_limit_on_the_cluster,
    concurrent_logins_never_exceed_the_limit
);
on_both!(
    sec_43_sessions_already_gone_do_not_count,
    sec_43_sessions_already_gone_do_not_count_on_the_cluster,
    sessions_already_gone_do_not_count
);
on_both!(
    sec_43_sessions_placed_elsewhere_still_count,
    sec_43_sessions_placed_elsewhere_still_count_on_the_cluster,
    sessions_placed_elsewhere_still_count
);

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_900_000_000).expect("in range")
}

/// A record of `user` created at `t0 + offset` seconds, whose handle the
/// store placed in its user's slot (as the manager does), with the given
/// first random byte (to order handles of equal creation time).
fn placed(store: &RedisStore, user: &str, offset: i64, first: u8) -> SessionRecord {
    let mut r = sample_record(user);
    let mut random = [0u8; 16];
    random.copy_from_slice(&r.handle.as_bytes()[..16]);
    random[0] = first;
    r.handle = SessionHandle::new(random, store.placement_tag(user));
    r.created_at = t0() + Duration::seconds(offset);
    r
}

fn user(label: &str) -> String {
    format!("{label}-{}", common::unique_prefix("u"))
}

async fn handles_of(store: &RedisStore, user: &str) -> Vec<SessionHandle> {
    let mut handles: Vec<SessionHandle> = store
        .list_by_user(user)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.handle)
        .collect();
    handles.sort();
    handles
}

async fn evicts_exactly_the_oldest(store: RedisStore) {
    let alice = user("alice");
    // Two created in the same second: the smaller handle is older.
    let olds = [
        placed(&store, &alice, 30, 0x50),
        placed(&store, &alice, 10, 0xf0),
        placed(&store, &alice, 40, 0x50),
        placed(&store, &alice, 10, 0x10),
    ];
    for r in &olds {
        store.insert(r).await.expect("insert");
    }
    let fifth = placed(&store, &alice, 50, 0x50);
    assert!(
        store
            .insert_capped(&fifth, 5)
            .await
            .expect("insert_capped")
            .is_empty(),
        "at the limit nothing is evicted"
    );
    let sixth = placed(&store, &alice, 60, 0x50);
    let evicted = store.insert_capped(&sixth, 4).await.expect("insert_capped");
    assert_eq!(
        evicted,
        vec![olds[3].handle, olds[1].handle],
        "the oldest by creation time, then by handle, oldest first"
    );
    let mut expected = vec![olds[0].handle, olds[2].handle, fifth.handle, sixth.handle];
    expected.sort();
    assert_eq!(handles_of(&store, &alice).await, expected);
    for r in [&olds[1], &olds[3]] {
        assert!(store.load(&r.handle).await.expect("load").is_none());
    }

    // The new session is never evicted, even when it is the oldest.
    let early = placed(&store, &alice, 0, 0x50);
    let evicted = store.insert_capped(&early, 1).await.expect("insert_capped");
    assert_eq!(evicted.len(), 4);
    assert_eq!(handles_of(&store, &alice).await, vec![early.handle]);
    assert!(matches!(
        store.insert_capped(&early, 1).await,
        Err(StoreError::AlreadyExists)
    ));
}

/// Atomic: no moment where the user is over the limit, so after 16
/// concurrent logins with a limit of 4 exactly 4 remain, without another
/// insert to catch up, and every other session was evicted exactly once.
async fn concurrent_logins_never_exceed_the_limit(store: RedisStore) {
    let bob = user("bob");
    let records: Vec<SessionRecord> = (0..16).map(|i| placed(&store, &bob, i, 0x50)).collect();
    let results = join_all(records.iter().map(|r| store.insert_capped(r, 4))).await;
    let mut evicted = Vec::new();
    for r in results {
        evicted.extend(r.expect("every login succeeds"));
    }
    let left = handles_of(&store, &bob).await;
    assert_eq!(left.len(), 4, "exactly the limit remains");
    let evicted_set: HashSet<SessionHandle> = evicted.iter().copied().collect();
    assert_eq!(evicted_set.len(), evicted.len(), "no session evicted twice");
    assert_eq!(evicted.len(), 12);
    assert!(left.iter().all(|h| !evicted_set.contains(h)));
}

/// Sessions deleted (their index entries left behind) or expired by Redis
/// do not count toward the limit and are never reported as evicted.
async fn sessions_already_gone_do_not_count(store: RedisStore) {
    let carol = user("carol");
    let records: Vec<SessionRecord> = (0..4).map(|i| placed(&store, &carol, i, 0x50)).collect();
    for r in &records {
        store.insert_capped(r, 4).await.expect("insert_capped");
    }
    assert!(store.delete(&records[2].handle).await.expect("delete"));
    assert!(store.delete(&records[3].handle).await.expect("delete"));
    let new = placed(&store, &carol, 10, 0x50);
    let evicted = store.insert_capped(&new, 4).await.expect("insert_capped");
    assert!(evicted.is_empty(), "3 live sessions fit: {evicted:?}");
    let mut expected = vec![records[0].handle, records[1].handle, new.handle];
    expected.sort();
    assert_eq!(handles_of(&store, &carol).await, expected);
    let newer = placed(&store, &carol, 11, 0x50);
    let evicted = store.insert_capped(&newer, 3).await.expect("insert_capped");
    assert_eq!(evicted, vec![records[0].handle]);
}

/// A user with a session whose handle the store did not place (its key
/// is in another slot): the limit still counts it, through the slower
/// path the trait's default takes.
async fn sessions_placed_elsewhere_still_count(store: RedisStore) {
    let dave = user("dave");
    let mut elsewhere = sample_record(&dave);
    elsewhere.created_at = t0();
    store.insert(&elsewhere).await.expect("insert");
    let records: Vec<SessionRecord> = (1..4).map(|i| placed(&store, &dave, i, 0x50)).collect();
    for r in &records {
        store.insert_capped(r, 4).await.expect("insert_capped");
    }
    assert_eq!(handles_of(&store, &dave).await.len(), 4);
    let new = placed(&store, &dave, 10, 0x50);
    let evicted = store.insert_capped(&new, 4).await.expect("insert_capped");
    assert_eq!(
        evicted,
        vec![elsewhere.handle],
        "the oldest, wherever it is"
    );
    assert_eq!(handles_of(&store, &dave).await.len(), 4);
    assert_eq!(
        store
            .delete_by_user(&dave, None)
            .await
            .expect("delete_by_user"),
        4
    );
    assert!(handles_of(&store, &dave).await.is_empty());
}
