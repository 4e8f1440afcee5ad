//! The plain store contract: insert, load, compare-and-swap, delete, the
//! user index, purge, expiry, exact user ids, and the atomicity of
//! concurrent swaps and inserts.

use futures_util::future::join_all;
use serde_json::{Map, Value, json};

use crate::error::StoreError;
use crate::store::{SessionHandle, SessionRecord, SessionStore};
use crate::testing::fixtures::{at, random_bytes, sample_record, unique_user};

pub(super) async fn insert_then_load_round_trips<S: SessionStore>(store: S) {
    let r = sample_record(&unique_user("round-trip"));
    store.insert(&r).await.expect("insert");
    let loaded = store
        .load(&r.handle)
        .await
        .expect("load")
        .expect("record present");
    assert_eq!(loaded, r, "load must return exactly what was inserted");

    let mut fresh = sample_record(&r.user_id);
    fresh.prev_hash = None;
    fresh.rotated_at = None;
    fresh.generation = 0;
    fresh.access_claims = Map::new();
    fresh.session_data = Value::Null;
    store.insert(&fresh).await.expect("insert");
    let loaded = store
        .load(&fresh.handle)
        .await
        .expect("load")
        .expect("present");
    assert_eq!(
        loaded, fresh,
        "optional fields and empty values must round trip"
    );
}

pub(super) async fn insert_existing_handle_fails_and_keeps_the_original<S: SessionStore>(store: S) {
    let r = sample_record(&unique_user("dup"));
    store.insert(&r).await.expect("insert");
    let mut other = sample_record(&unique_user("dup-other"));
    other.handle = r.handle;
    match store.insert(&other).await {
        Err(StoreError::AlreadyExists) => {}
        other => panic!("insert of an existing handle must fail with AlreadyExists, got {other:?}"),
    }
    let loaded = store.load(&r.handle).await.expect("load").expect("present");
    assert_eq!(
        loaded, r,
        "a failed insert must leave the original untouched"
    );
    assert!(
        store
            .list_by_user(&other.user_id)
            .await
            .expect("list")
            .is_empty(),
        "a failed insert must not enter the user index"
    );
}

pub(super) async fn load_of_unknown_handle_is_none<S: SessionStore>(store: S) {
    let h = SessionHandle::from_bytes(random_bytes());
    assert!(store.load(&h).await.expect("load").is_none());
}

pub(super) async fn compare_and_swap_follows_the_version<S: SessionStore>(store: S) {
    let r = sample_record(&unique_user("cas"));
    store.insert(&r).await.expect("insert");
    let mut next = r.clone();
    next.generation = 4;
    next.version = 2;
    next.session_data = json!({"changed": true});
    assert!(
        store.compare_and_swap(1, &next).await.expect("cas"),
        "CAS on the stored version must succeed"
    );
    assert_eq!(
        store.load(&r.handle).await.expect("load").expect("present"),
        next
    );

    let mut stale = next.clone();
    stale.generation = 99;
    stale.version = 2;
    assert!(
        !store.compare_and_swap(1, &stale).await.expect("cas"),
        "CAS on a stale version must fail"
    );
    assert_eq!(
        store.load(&r.handle).await.expect("load").expect("present"),
        next,
        "a failed CAS must not change the record"
    );

    let mut missing = sample_record(&r.user_id);
    missing.version = 2;
    assert!(
        !store.compare_and_swap(1, &missing).await.expect("cas"),
        "CAS on a missing handle must fail"
    );
    assert!(
        store.load(&missing.handle).await.expect("load").is_none(),
        "CAS must never insert"
    );
}

pub(super) async fn delete_reports_whether_it_existed<S: SessionStore>(store: S) {
    let r = sample_record(&unique_user("delete"));
    store.insert(&r).await.expect("insert");
    assert!(store.delete(&r.handle).await.expect("delete"));
    assert!(!store.delete(&r.handle).await.expect("delete"));
    assert!(store.load(&r.handle).await.expect("load").is_none());
    assert!(
        store
            .list_by_user(&r.user_id)
            .await
            .expect("list")
            .is_empty(),
        "delete must update the user index"
    );
}

pub(super) async fn list_by_user_sees_exactly_the_users_records<S: SessionStore>(store: S) {
    let alice = unique_user("alice");
    let bob = unique_user("bob");
    let mut mine = Vec::new();
    for _ in 0..5 {
        let r = sample_record(&alice);
        store.insert(&r).await.expect("insert");
        mine.push(r.handle);
    }
    let b = sample_record(&bob);
    store.insert(&b).await.expect("insert");
    let mut listed: Vec<SessionHandle> = store
        .list_by_user(&alice)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.handle)
        .collect();
    listed.sort();
    mine.sort();
    assert_eq!(
        listed, mine,
        "list_by_user must return exactly the user's records"
    );
    assert!(
        store
            .list_by_user(&unique_user("nobody"))
            .await
            .expect("list")
            .is_empty()
    );
    // A user id that is a prefix of another must not match it.
    assert!(
        store
            .list_by_user(&alice[..alice.len() - 1])
            .await
            .expect("list")
            .is_empty()
    );
}

pub(super) async fn delete_by_user_keeps_the_kept_and_other_users<S: SessionStore>(store: S) {
    let alice = unique_user("alice");
    let bob = unique_user("bob");
    let mut handles = Vec::new();
    for _ in 0..4 {
        let r = sample_record(&alice);
        store.insert(&r).await.expect("insert");
        handles.push(r.handle);
    }
    let b = sample_record(&bob);
    store.insert(&b).await.expect("insert");
    let keep = handles[0];
    assert_eq!(
        store
            .delete_by_user(&alice, Some(&keep))
            .await
            .expect("delete_by_user"),
        3
    );
    let left: Vec<SessionHandle> = store
        .list_by_user(&alice)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.handle)
        .collect();
    assert_eq!(left, vec![keep], "only the kept session survives");
    for h in &handles[1..] {
        assert!(store.load(h).await.expect("load").is_none());
    }
    assert!(
        store.load(&b.handle).await.expect("load").is_some(),
        "other users are unaffected"
    );
    assert_eq!(
        store
            .delete_by_user(&alice, None)
            .await
            .expect("delete_by_user"),
        1
    );
    assert_eq!(
        store
            .delete_by_user(&alice, None)
            .await
            .expect("delete_by_user"),
        0
    );
}

pub(super) async fn purge_removes_only_expired_records<S: SessionStore>(store: S) {
    let user = unique_user("purge");
    let live = sample_record(&user);
    let mut idle_dead = sample_record(&user);
    idle_dead.refresh_expires_at = at(100);
    let mut absolute_dead = sample_record(&user);
    absolute_dead.absolute_expires_at = at(100);
    idle_dead.absolute_expires_at = at(1000);
    for r in [&live, &idle_dead, &absolute_dead] {
        store.insert(r).await.expect("insert");
    }
    assert_eq!(
        store.purge_expired(at(99)).await.expect("purge"),
        0,
        "nothing is expired before its expiry"
    );
    assert_eq!(
        store.purge_expired(at(100)).await.expect("purge"),
        2,
        "records expire at their expiry instant"
    );
    assert!(store.load(&live.handle).await.expect("load").is_some());
    assert!(store.load(&idle_dead.handle).await.expect("load").is_none());
    assert!(
        store
            .load(&absolute_dead.handle)
            .await
            .expect("load")
            .is_none()
    );
    let listed = store.list_by_user(&user).await.expect("list");
    assert_eq!(listed.len(), 1, "purge must update the user index");
}

pub(super) async fn compare_and_swap_moves_the_expiry<S: SessionStore>(store: S) {
    let mut r = sample_record(&unique_user("slide"));
    r.refresh_expires_at = at(100);
    store.insert(&r).await.expect("insert");
    let mut next = r.clone();
    next.refresh_expires_at = at(1000);
    next.version = 2;
    assert!(store.compare_and_swap(1, &next).await.expect("cas"));
    store.purge_expired(at(100)).await.expect("purge");
    assert_eq!(
        store.load(&r.handle).await.expect("load"),
        Some(next),
        "a swap that extends the expiry must move the store's expiry (TTL, index) too"
    );
}

pub(super) async fn user_ids_match_byte_for_byte<S: SessionStore>(store: S) {
    let base = unique_user("exact");
    let variants = [
        base.clone(),
        base.to_uppercase(),
        format!("{base} "),
        format!(" {base}"),
        format!("{base}\u{301}"),
    ];
    for v in &variants {
        store.insert(&sample_record(v)).await.expect("insert");
    }
    for v in &variants {
        let listed = store.list_by_user(v).await.expect("list");
        assert_eq!(
            listed.len(),
            1,
            "user ids must match exactly (case, spaces, unicode): {v:?}"
        );
        assert_eq!(&listed[0].user_id, v);
    }
    assert_eq!(
        store
            .delete_by_user(&base, None)
            .await
            .expect("delete_by_user"),
        1
    );
    for v in &variants[1..] {
        assert_eq!(
            store.list_by_user(v).await.expect("list").len(),
            1,
            "other users are untouched"
        );
    }
}

pub(super) async fn concurrent_compare_and_swap_has_one_winner<S: SessionStore>(store: S) {
    let r = sample_record(&unique_user("race"));
    store.insert(&r).await.expect("insert");
    let candidates: Vec<SessionRecord> = (0..64u64)
        .map(|i| {
            let mut c = r.clone();
            c.generation = 100 + i;
            c.version = 2;
            c
        })
        .collect();
    let results = join_all(candidates.iter().map(|c| store.compare_and_swap(1, c))).await;
    let winners: Vec<usize> = results
        .into_iter()
        .enumerate()
        .filter_map(|(i, res)| res.expect("cas").then_some(i))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "64 concurrent CAS with one expected version must have exactly one winner"
    );
    let stored = store.load(&r.handle).await.expect("load").expect("present");
    assert_eq!(
        stored, candidates[winners[0]],
        "the stored record is the winner's"
    );
}

pub(super) async fn concurrent_insert_of_one_handle_has_one_winner<S: SessionStore>(store: S) {
    let user = unique_user("insert-race");
    let first = sample_record(&user);
    let candidates: Vec<SessionRecord> = (0..16u64)
        .map(|i| {
            let mut c = first.clone();
            c.generation = i;
            c
        })
        .collect();
    let results = join_all(candidates.iter().map(|c| store.insert(c))).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        ok, 1,
        "concurrent inserts of one handle must have exactly one winner"
    );
    assert_eq!(store.list_by_user(&user).await.expect("list").len(), 1);
}

/// A record of `user` created at `offset` seconds.
fn created_at(user: &str, offset: i64) -> SessionRecord {
    let mut r = sample_record(user);
    r.created_at = at(offset);
    r
}

fn sorted_handles(records: &[SessionRecord]) -> Vec<SessionHandle> {
    let mut handles: Vec<SessionHandle> = records.iter().map(|r| r.handle).collect();
    handles.sort();
    handles
}

pub(super) async fn insert_capped_deletes_exactly_the_oldest_beyond_the_limit<S: SessionStore>(
    store: S,
) {
    let alice = unique_user("cap");
    let bob = unique_user("cap-other");
    // Inserted out of creation order, so the store must order by
    // created_at, not by insertion.
    let olds: Vec<SessionRecord> = [30, 10, 40, 20]
        .into_iter()
        .map(|t| created_at(&alice, t))
        .collect();
    for r in &olds {
        store.insert(r).await.expect("insert");
    }
    let b = created_at(&bob, 0);
    store.insert(&b).await.expect("insert");

    // Under the limit: nothing goes.
    let fifth = created_at(&alice, 50);
    let deleted = store.insert_capped(&fifth, 5).await.expect("insert_capped");
    assert!(
        deleted.is_empty(),
        "at the limit nothing is deleted: {deleted:?}"
    );

    // Two over: the two oldest go, oldest first.
    let sixth = created_at(&alice, 60);
    let deleted = store.insert_capped(&sixth, 4).await.expect("insert_capped");
    assert_eq!(
        deleted,
        vec![olds[1].handle, olds[3].handle],
        "the oldest records beyond the limit, oldest first"
    );
    let mut expected = vec![olds[0].handle, olds[2].handle, fifth.handle, sixth.handle];
    expected.sort();
    let left = store.list_by_user(&alice).await.expect("list");
    assert_eq!(sorted_handles(&left), expected);
    assert!(
        store.load(&b.handle).await.expect("load").is_some(),
        "other users are unaffected"
    );
    assert_eq!(
        store.load(&sixth.handle).await.expect("load").as_ref(),
        Some(&sixth),
        "the new record is stored exactly"
    );
}

pub(super) async fn insert_capped_never_deletes_the_new_record<S: SessionStore>(store: S) {
    let user = unique_user("cap-new");
    for t in [100, 200] {
        store.insert(&created_at(&user, t)).await.expect("insert");
    }
    // Created "before" the others (another instance's clock): still kept.
    let new = created_at(&user, 0);
    let deleted = store.insert_capped(&new, 1).await.expect("insert_capped");
    assert_eq!(deleted.len(), 2, "both older-stamped others go");
    let left = store.list_by_user(&user).await.expect("list");
    assert_eq!(sorted_handles(&left), vec![new.handle]);

    let again = store.insert_capped(&new, 1).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists)),
        "an existing handle fails as insert does: {again:?}"
    );
    assert_eq!(
        store.load(&new.handle).await.expect("load").as_ref(),
        Some(&new)
    );
}

pub(super) async fn insert_capped_under_concurrency_ends_within_the_limit<S: SessionStore>(
    store: S,
) {
    let user = unique_user("cap-race");
    let records: Vec<SessionRecord> = (0..16).map(|t| created_at(&user, t)).collect();
    let results = join_all(records.iter().map(|r| store.insert_capped(r, 4))).await;
    for r in &results {
        assert!(r.is_ok(), "every insert succeeds: {r:?}");
    }
    // A store that is not atomic may be over the limit now; the next
    // insert brings it back within.
    let last = created_at(&user, 100);
    store.insert_capped(&last, 4).await.expect("insert_capped");
    let left = store.list_by_user(&user).await.expect("list");
    assert!(
        left.len() <= 4,
        "after a quiet insert the user is within the limit: {}",
        left.len()
    );
    assert!(left.iter().any(|r| r.handle == last.handle));
}
