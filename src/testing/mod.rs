//! The store conformance suite, for every [`SessionStore`], ours or yours.
//!
//! ```
//! # #[cfg(feature = "memory-store")]
//! # fn main() {
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! sessionkit::testing::run_store_suite(|| async { sessionkit::MemoryStore::new() }).await;
//! # });
//! # }
//! # #[cfg(not(feature = "memory-store"))]
//! # fn main() {}
//! ```
//!
//! The suite checks every rule of the [`SessionStore`] contract, including
//! that 64 concurrent compare-and-swaps with one expected version have
//! exactly one winner, and that
//! [`rotate_if_current`](SessionStore::rotate_if_current), whether the store
//! implements it or keeps the default, behaves exactly as the default does;
//! then it runs the rotation and theft-detection
//! scenarios through a [`SessionManager`] over the store, so a store that
//! passes gets theft detection that works.
//!
//! A failed check panics with the name of the rule it broke: this module is
//! meant to be called from tests.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a test kit reports failures by panicking"
)]

mod fault;
mod fault_suite;
pub mod fuzz;
mod history;

use std::future::Future;
use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

pub use self::fault::{Fault, FaultyStore, Op, SleepFn};
pub use self::fault_suite::FaultReport;
pub use self::history::{HistoryReport, Spawn};
use crate::clock::ManualClock;
use crate::store::{
    RotateOutcome, Rotation, RotationNonce, SessionHandle, SessionRecord, SessionStore, StoreError,
    TokenHash,
};
use crate::{RefreshError, RefreshKey, SessionManager, SigningKey};

/// Runs every conformance check against stores made by `make_store`.
///
/// `make_store` is called once per check and should return an empty,
/// isolated store (its own schema, key prefix or database), because some
/// checks purge every expired record. Checks print their names as they run.
///
/// # Panics
/// When the store breaks a rule of the contract, naming the rule.
pub async fn run_store_suite<S, F, Fut>(make_store: F)
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! check {
        ($name:ident) => {
            println!("store suite: {}", stringify!($name));
            $name(make_store().await).await;
        };
    }
    check!(insert_then_load_round_trips);
    check!(insert_existing_handle_fails_and_keeps_the_original);
    check!(load_of_unknown_handle_is_none);
    check!(compare_and_swap_follows_the_version);
    check!(delete_reports_whether_it_existed);
    check!(list_by_user_sees_exactly_the_users_records);
    check!(delete_by_user_keeps_the_kept_and_other_users);
    check!(purge_removes_only_expired_records);
    check!(compare_and_swap_moves_the_expiry);
    check!(user_ids_match_byte_for_byte);
    check!(concurrent_compare_and_swap_has_one_winner);
    check!(concurrent_insert_of_one_handle_has_one_winner);
    check!(rotate_if_current_rotates_a_matching_record);
    check!(rotate_if_current_leaves_a_mismatch_unchanged);
    check!(rotate_if_current_respects_both_expiries_to_the_second);
    check!(rotate_if_current_of_a_missing_handle_is_none);
    check!(rotate_if_current_caps_the_refresh_expiry_and_moves_the_store_expiry);
    check!(concurrent_rotate_if_current_has_one_winner);
    check!(rotation_and_theft_detection_work_through_the_store);
    check!(concurrent_refreshes_never_fork_a_lineage_with_grace);
    check!(concurrent_refreshes_never_fork_a_lineage_without_grace);
    check!(two_managers_share_sessions_through_the_store);
}

/// Runs create, refresh, revoke and revoke-all through a store that fails
/// at every call they make, and checks SEC-24 after each.
///
/// For each operation, the suite runs it once without faults and counts its
/// store calls ([`FaultyStore::calls`]); then, for every call index and
/// every [`Fault`] kind, runs it again on a fresh session with that fault at
/// that call, and again with a second fault at each later call (so the
/// recovery a fault triggers, such as the read-back of an unconfirmed
/// compare-and-swap, fails too). After each run it checks that:
///
/// - the session is in its old or its new state, never in between;
/// - the client received the new tokens, or an error and nothing;
/// - a failed create left no session, a failed revoke left the session
///   whole or gone;
/// - a retry with the presented refresh token inside the grace window
///   receives the persisted successor (the same one every time, and the
///   same one the client received if it did); after the window, it is
///   theft exactly when the rotation was persisted (ROTATION.md row 7);
///   with nothing persisted, the old token still works.
///
/// `make_store` is called once per operation and should return an empty,
/// isolated store. The number of runs and of faults injected is printed and
/// returned.
///
/// # Panics
/// When a check fails, with the planned faults, the injected faults and the
/// call log.
pub async fn run_fault_suite<S, F, Fut>(make_store: F) -> FaultReport
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    fault_suite::run(make_store).await
}

/// Runs randomized concurrent histories against the store until `ops`
/// operations have been checked, and checks that each history is
/// linearizable against a reference model of the refresh table.
///
/// Each round creates a session, rotates it zero to two times, then runs at
/// once: the owner refreshing with its newest token, a thief replaying a
/// copy of any token of the lineage, sometimes a revoke or revoke-all,
/// sometimes a strict verification, and a clock that moves (grace 0, 5 or
/// 10 s; idle lifetime 30 s, absolute 60 s, so rounds cross the edges). The
/// model tracks the generation, the current and previous tokens, the grace
/// window, expiry and revocation; a backtracking search finds a serial order
/// of the operations, each between its call and its return, that gives
/// every answer that was observed, or the suite panics.
///
/// Operations are joined in the calling task, and the store is wrapped in a
/// [`FaultyStore`] that yields to the executor before one call in two, so
/// they interleave at every store call even over a store that never waits.
/// Operations of a network store also overlap inside the server. For real
/// parallelism (an in-memory store on a multi-thread runtime), use
/// [`run_history_suite_with`].
///
/// Round `i` uses seed `seed + i`; the seed is printed first, and taken
/// from the `SESSIONKIT_SEED` environment variable when it is set, so a
/// failure replays with the same operations (the interleaving may differ).
///
/// # Panics
/// When a history is not linearizable (printing the history and its seed),
/// or when an operation fails with a store error.
pub async fn run_history_suite<S, F, Fut>(make_store: F, ops: usize) -> HistoryReport
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    history::run(make_store().await, ops, None).await
}

/// [`run_history_suite`], with each participant of a round spawned as its
/// own task by `spawn`, so that they run in parallel on a multi-thread
/// runtime:
///
/// ```
/// # #[cfg(feature = "memory-store")]
/// # fn main() {
/// use std::sync::Arc;
/// use sessionkit::testing::{Spawn, run_history_suite_with};
///
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// rt.block_on(async {
///     let spawn: Spawn = Arc::new(|task| {
///         let handle = tokio::spawn(task);
///         Box::pin(async move { handle.await.expect("participant panicked") })
///     });
///     run_history_suite_with(|| async { sessionkit::MemoryStore::new() }, 200, spawn).await;
/// });
/// # }
/// # #[cfg(not(feature = "memory-store"))]
/// # fn main() {}
/// ```
///
/// The kit has no runtime of its own, which is why the caller spawns.
///
/// # Panics
/// As [`run_history_suite`].
pub async fn run_history_suite_with<S, F, Fut>(
    make_store: F,
    ops: usize,
    spawn: Spawn,
) -> HistoryReport
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    history::run(make_store().await, ops, Some(spawn)).await
}

const T0: i64 = 1_900_000_000;

fn at(offset: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + offset).expect("in range")
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    crate::random::fill(&mut b).expect("OS random number generator");
    b
}

/// Signs the access token the manager would issue for a record with these
/// claims, without a store or a clock: for benchmarks and interop tests that
/// measure or check signing alone.
#[doc(hidden)]
#[expect(clippy::too_many_arguments, reason = "one argument per claim")]
pub fn sign_access_token(
    key: &SigningKey,
    user_id: &str,
    handle: &SessionHandle,
    generation: u64,
    issued_at: i64,
    expires_at: i64,
    auth_time: i64,
    custom: &Map<String, Value>,
) -> crate::AccessToken {
    crate::access_token::sign(
        key,
        &crate::access_token::Claims {
            sub: user_id,
            sid: handle,
            generation,
            iat: issued_at,
            exp: expires_at,
            auth_time,
            iss: None,
            aud: None,
            custom,
        },
    )
}

fn unique_user(label: &str) -> String {
    format!("{label}-{}", SessionHandle::from_bytes(random_bytes()))
}

/// A record as the core would write it, with awkward content: unicode,
/// nesting, every optional field set.
pub fn sample_record(user_id: &str) -> SessionRecord {
    let mut claims = Map::new();
    claims.insert("role".into(), json!("admin"));
    claims.insert("scopes".into(), json!(["read", "write", "ünïcödé ✓"]));
    SessionRecord {
        handle: SessionHandle::from_bytes(random_bytes()),
        user_id: user_id.to_owned(),
        created_at: at(0),
        auth_time: at(-5),
        absolute_expires_at: at(30 * 86_400),
        refresh_expires_at: at(7 * 86_400),
        generation: 3,
        current_hash: TokenHash::from_bytes(random_bytes()),
        prev_hash: Some(TokenHash::from_bytes(random_bytes())),
        rotated_at: Some(at(60)),
        nonce: RotationNonce::from_bytes(random_bytes()),
        access_claims: claims,
        session_data: json!({"cart": [1, 2, 3], "nested": {"a": null, "b": 1.5}, "s": "quote\" and \\"}),
        version: 1,
    }
}

async fn insert_then_load_round_trips<S: SessionStore>(store: S) {
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

async fn insert_existing_handle_fails_and_keeps_the_original<S: SessionStore>(store: S) {
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

async fn load_of_unknown_handle_is_none<S: SessionStore>(store: S) {
    let h = SessionHandle::from_bytes(random_bytes());
    assert!(store.load(&h).await.expect("load").is_none());
}

async fn compare_and_swap_follows_the_version<S: SessionStore>(store: S) {
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

async fn delete_reports_whether_it_existed<S: SessionStore>(store: S) {
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

async fn list_by_user_sees_exactly_the_users_records<S: SessionStore>(store: S) {
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

async fn delete_by_user_keeps_the_kept_and_other_users<S: SessionStore>(store: S) {
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

async fn purge_removes_only_expired_records<S: SessionStore>(store: S) {
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

async fn compare_and_swap_moves_the_expiry<S: SessionStore>(store: S) {
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

async fn user_ids_match_byte_for_byte<S: SessionStore>(store: S) {
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

async fn concurrent_compare_and_swap_has_one_winner<S: SessionStore>(store: S) {
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

async fn concurrent_insert_of_one_handle_has_one_winner<S: SessionStore>(store: S) {
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

async fn rotate_if_current_rotates_a_matching_record<S: SessionStore>(store: S) {
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

async fn rotate_if_current_leaves_a_mismatch_unchanged<S: SessionStore>(store: S) {
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

async fn rotate_if_current_respects_both_expiries_to_the_second<S: SessionStore>(store: S) {
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

async fn rotate_if_current_of_a_missing_handle_is_none<S: SessionStore>(store: S) {
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

async fn rotate_if_current_caps_the_refresh_expiry_and_moves_the_store_expiry<S: SessionStore>(
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

async fn concurrent_rotate_if_current_has_one_winner<S: SessionStore>(store: S) {
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

fn manager<S: SessionStore>(store: S, clock: Arc<ManualClock>, grace: i64) -> SessionManager<S> {
    SessionManager::builder(store)
        .signing_key(SigningKey::hs256("suite", &[0x5a; 32]).expect("valid key"))
        .refresh_key(RefreshKey::new(1, &[0xa5; 32]).expect("valid key"))
        .grace(Duration::seconds(grace))
        .clock(clock)
        .build()
        .expect("valid configuration")
}

async fn rotation_and_theft_detection_work_through_the_store<S: SessionStore>(store: S) {
    let clock = Arc::new(ManualClock::at_unix(T0));
    let m = manager(store, Arc::clone(&clock), 10);
    let user = unique_user("theft");
    let s = m
        .create(&user)
        .claims(json!({"role": "user"}))
        .session_data(json!({"k": "v"}))
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
        m.store().load(&s.handle).await.expect("load").is_none(),
        "theft revokes the session"
    );
}

async fn concurrent_refreshes<S: SessionStore>(store: S, grace: i64) {
    let clock = Arc::new(ManualClock::at_unix(T0));
    let m = manager(store, Arc::clone(&clock), grace);
    let s = m.create(unique_user("race")).await.expect("create");
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

async fn concurrent_refreshes_never_fork_a_lineage_with_grace<S: SessionStore>(store: S) {
    concurrent_refreshes(store, 10).await;
}

async fn concurrent_refreshes_never_fork_a_lineage_without_grace<S: SessionStore>(store: S) {
    concurrent_refreshes(store, 0).await;
}

async fn two_managers_share_sessions_through_the_store<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    let clock = Arc::new(ManualClock::at_unix(T0));
    let a = manager(Arc::clone(&store), Arc::clone(&clock), 10);
    let b = manager(Arc::clone(&store), Arc::clone(&clock), 10);
    let s = a.create(unique_user("pair")).await.expect("create");
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

    let s = a.create(unique_user("pair")).await.expect("create");
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
