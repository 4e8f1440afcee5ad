//! [`SessionStore::rotate_if_current`], whether the store implements it or
//! keeps the default: it must behave exactly as the default does.

use futures_util::future::join_all;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

use crate::store::{
    RotateOutcome, Rotation, RotationNonce, SessionRecord, SessionStore, TokenHash,
};
use crate::testing::fixtures::{at, random_bytes, sample_record, unique_user};

/// A rotation of `r` from its current generation and hash, to a fresh hash
/// and nonce.
fn rotation_of(r: &SessionRecord, now: OffsetDateTime, idle: Duration) -> Rotation {
    Rotation::new(
        r.handle,
        r.generation,
        r.current_hash,
        TokenHash::from_bytes(random_bytes()),
        RotationNonce::from_bytes(random_bytes()),
        now,
        idle,
    )
}

/// What the default `rotate_if_current` stores for a matching `r`, written
/// out field by field.
fn rotated_by_hand(r: &SessionRecord, rotation: &Rotation) -> SessionRecord {
    let mut next = r.clone();
    next.generation = r.generation + 1;
    next.prev_hash = Some(r.current_hash);
    next.current_hash = rotation.new_hash;
    next.rotated_at = Some(rotation.now);
    next.nonce = rotation.nonce;
    next.refresh_expires_at = (rotation.now + rotation.idle).min(r.absolute_expires_at);
    next.version = r.version + 1;
    assert_eq!(
        rotation.apply(r).as_ref(),
        Some(&next),
        "Rotation::apply is the rotation written out here"
    );
    next
}

async fn expect_rotated<S: SessionStore>(
    store: &S,
    r: &SessionRecord,
    rotation: &Rotation,
    what: &str,
) -> SessionRecord {
    let expected = rotated_by_hand(r, rotation);
    let outcome = store
        .rotate_if_current(rotation)
        .await
        .expect("rotate_if_current");
    assert_eq!(
        outcome,
        RotateOutcome::Rotated(expected.clone()),
        "rotate_if_current must rotate {what} and return the new record"
    );
    assert_eq!(
        store.load(&r.handle).await.expect("load"),
        Some(expected.clone()),
        "the rotated record must round trip through load ({what})"
    );
    expected
}

async fn expect_unchanged<S: SessionStore>(
    store: &S,
    r: &SessionRecord,
    rotation: &Rotation,
    what: &str,
) {
    let outcome = store
        .rotate_if_current(rotation)
        .await
        .expect("rotate_if_current");
    assert_eq!(
        outcome,
        RotateOutcome::Unchanged(Some(r.clone())),
        "rotate_if_current must not rotate {what}, and must return the record as stored"
    );
    assert_eq!(
        store.load(&r.handle).await.expect("load"),
        Some(r.clone()),
        "a rotation that does not apply must change nothing ({what})"
    );
}

pub(super) async fn rotate_if_current_rotates_a_matching_record<S: SessionStore>(store: S) {
    let user = unique_user("rotate");
    let mut r = sample_record(&user);
    // Numbers a double cannot hold, and one it cannot hold exactly: a store
    // must carry session data through a rotation untouched.
    r.session_data = json!({
        "big": 12_345_678_901_234_567_890u64,
        "neg": -9_007_199_254_740_993i64,
        "f": 0.1,
        "nested": {"s": "ünïcödé \" \\"},
    });
    store.insert(&r).await.expect("insert");
    let first = rotation_of(&r, at(100), Duration::days(1));
    let r2 = expect_rotated(&store, &r, &first, "a matching record").await;
    let second = rotation_of(&r2, at(200), Duration::days(1));
    let r3 = expect_rotated(&store, &r2, &second, "a record rotated before").await;
    let listed = store.list_by_user(&user).await.expect("list");
    assert_eq!(listed, vec![r3], "list_by_user must see the rotated record");

    // A record that never rotated (no previous hash, no rotation time), at
    // a version other than 1.
    let mut fresh = sample_record(&user);
    fresh.generation = 0;
    fresh.prev_hash = None;
    fresh.rotated_at = None;
    fresh.session_data = Value::Null;
    fresh.access_claims = Map::new();
    store.insert(&fresh).await.expect("insert");
    let mut bumped = fresh.clone();
    bumped.version = 2;
    assert!(store.compare_and_swap(1, &bumped).await.expect("cas"));
    let rotation = rotation_of(&bumped, at(5), Duration::minutes(10));
    expect_rotated(&store, &bumped, &rotation, "a record at generation 0").await;
}

pub(super) async fn rotate_if_current_leaves_a_mismatch_unchanged<S: SessionStore>(store: S) {
    let r = sample_record(&unique_user("rotate-mismatch"));
    store.insert(&r).await.expect("insert");
    let idle = Duration::days(1);
    let mut wrong = rotation_of(&r, at(100), idle);
    wrong.expected_generation = r.generation - 1;
    expect_unchanged(&store, &r, &wrong, "on an older generation").await;
    wrong.expected_generation = r.generation + 1;
    expect_unchanged(&store, &r, &wrong, "on a newer generation").await;
    wrong.expected_generation = u64::MAX;
    expect_unchanged(&store, &r, &wrong, "on the last generation").await;
    let mut wrong = rotation_of(&r, at(100), idle);
    wrong.expected_hash = TokenHash::from_bytes(random_bytes());
    expect_unchanged(&store, &r, &wrong, "on another hash").await;
    let mut wrong = rotation_of(&r, at(100), idle);
    wrong.expected_hash = r.prev_hash.expect("sample has a previous hash");
    expect_unchanged(&store, &r, &wrong, "on the previous hash").await;
    wrong.expected_generation = r.generation - 1;
    expect_unchanged(&store, &r, &wrong, "on the previous generation and hash").await;

    // The expectation that rotated once never rotates again.
    let first = rotation_of(&r, at(100), idle);
    let next = expect_rotated(&store, &r, &first, "a matching record").await;
    let mut again = rotation_of(&r, at(101), idle);
    again.new_hash = first.new_hash;
    expect_unchanged(
        &store,
        &next,
        &again,
        "a second time with the same expectation",
    )
    .await;
}

pub(super) async fn rotate_if_current_respects_both_expiries_to_the_second<S: SessionStore>(
    store: S,
) {
    let user = unique_user("rotate-expiry");
    let idle = Duration::seconds(300);
    let mut idle_bound = sample_record(&user);
    idle_bound.refresh_expires_at = at(1000);
    idle_bound.absolute_expires_at = at(2000);
    // Not the usual order, but the contract compares against the earlier
    // of the two, whichever it is.
    let mut absolute_bound = sample_record(&user);
    absolute_bound.refresh_expires_at = at(2000);
    absolute_bound.absolute_expires_at = at(1000);
    for (r, what) in [
        (&idle_bound, "at its refresh expiry"),
        (&absolute_bound, "at its absolute expiry"),
    ] {
        store.insert(r).await.expect("insert");
        expect_unchanged(&store, r, &rotation_of(r, at(1000), idle), what).await;
        expect_unchanged(&store, r, &rotation_of(r, at(1001), idle), what).await;
        expect_rotated(
            &store,
            r,
            &rotation_of(r, at(999), idle),
            "one second before expiry",
        )
        .await;
    }
}

pub(super) async fn rotate_if_current_of_a_missing_handle_is_none<S: SessionStore>(store: S) {
    let r = sample_record(&unique_user("rotate-missing"));
    let outcome = store
        .rotate_if_current(&rotation_of(&r, at(100), Duration::days(1)))
        .await
        .expect("rotate_if_current");
    assert_eq!(
        outcome,
        RotateOutcome::Unchanged(None),
        "rotate_if_current of a missing handle is Unchanged(None)"
    );
    assert!(
        store.load(&r.handle).await.expect("load").is_none(),
        "rotate_if_current must never insert"
    );
    store.insert(&r).await.expect("insert");
    assert!(store.delete(&r.handle).await.expect("delete"));
    let outcome = store
        .rotate_if_current(&rotation_of(&r, at(100), Duration::days(1)))
        .await
        .expect("rotate_if_current");
    assert_eq!(
        outcome,
        RotateOutcome::Unchanged(None),
        "rotate_if_current of a deleted session is Unchanged(None)"
    );
}

pub(super) async fn rotate_if_current_caps_the_refresh_expiry_and_moves_the_store_expiry<
    S: SessionStore,
>(
    store: S,
) {
    let user = unique_user("rotate-slide");
    // Capped: now + idle is past the absolute expiry.
    let mut capped = sample_record(&user);
    capped.refresh_expires_at = at(100);
    capped.absolute_expires_at = at(1000);
    store.insert(&capped).await.expect("insert");
    let next = expect_rotated(
        &store,
        &capped,
        &rotation_of(&capped, at(50), Duration::days(1)),
        "near its absolute expiry",
    )
    .await;
    assert_eq!(
        next.refresh_expires_at,
        at(1000),
        "the refresh expiry never passes the absolute expiry"
    );
    // Sliding: the refresh expiry moves past the old one, and the store's
    // own expiry (TTL, index) with it.
    let mut sliding = sample_record(&user);
    sliding.refresh_expires_at = at(100);
    store.insert(&sliding).await.expect("insert");
    let slid = expect_rotated(
        &store,
        &sliding,
        &rotation_of(&sliding, at(50), Duration::seconds(500)),
        "with a sliding expiry",
    )
    .await;
    assert_eq!(slid.refresh_expires_at, at(550));
    store.purge_expired(at(100)).await.expect("purge");
    assert_eq!(
        store.load(&sliding.handle).await.expect("load"),
        Some(slid),
        "a rotation that extends the expiry must move the store's expiry (TTL, index) too"
    );
    assert_eq!(store.load(&capped.handle).await.expect("load"), Some(next));
    store.purge_expired(at(550)).await.expect("purge");
    assert!(
        store.load(&sliding.handle).await.expect("load").is_none(),
        "the rotated record expires at its new expiry"
    );
}

pub(super) async fn concurrent_rotate_if_current_has_one_winner<S: SessionStore>(store: S) {
    let r = sample_record(&unique_user("rotate-race"));
    store.insert(&r).await.expect("insert");
    let rotations: Vec<Rotation> = (0..64)
        .map(|_| rotation_of(&r, at(100), Duration::days(1)))
        .collect();
    let outcomes = join_all(rotations.iter().map(|x| store.rotate_if_current(x))).await;
    let mut winners = Vec::new();
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome.expect("rotate_if_current") {
            RotateOutcome::Rotated(next) => winners.push((i, next)),
            RotateOutcome::Unchanged(Some(found)) => assert_eq!(found.handle, r.handle),
            RotateOutcome::Unchanged(None) => {
                panic!("a concurrent rotation must not report the session missing")
            }
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "64 concurrent rotate_if_current with one expectation must have exactly one winner"
    );
    let (i, next) = &winners[0];
    assert_eq!(*next, rotated_by_hand(&r, &rotations[*i]));
    assert_eq!(
        store.load(&r.handle).await.expect("load").as_ref(),
        Some(next),
        "the stored record is the winner's"
    );
}
