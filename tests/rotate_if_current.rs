//! `SessionStore::rotate_if_current` (the default implementation, over the
//! memory store) against the refresh table written out independently:
//! rows 2 to 4 of the rotation spec. It must rotate exactly when row 4
//! applies, write exactly the row 4 record, and otherwise change nothing
//! and return the record as stored. A fault injected into its
//! compare-and-swap surfaces as an error, never as a rotation.

#![cfg(test)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use sessionkit::store::{
    RotateOutcome, Rotation, RotationNonce, SessionRecord, SessionStore, TokenHash,
};
use sessionkit::testing::{Fault, FaultyStore, Op};
use sessionkit::{MemoryStore, SessionHandle};
use time::{Duration, OffsetDateTime};

const T0: i64 = 1_893_456_000;

fn at(offset: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + offset).unwrap()
}

fn hash(n: u8) -> TokenHash {
    TokenHash::from_bytes([n; 32])
}

fn handle() -> SessionHandle {
    SessionHandle::from_bytes([3; 18])
}

/// Row 4 of the table: the session exists, `now` is before both expiries,
/// and the token names the current generation and hash.
fn spec_rotates(record: Option<&SessionRecord>, generation: u64, h: &TokenHash, now: i64) -> bool {
    record.is_some_and(|r| {
        at(now) < r.refresh_expires_at
            && at(now) < r.absolute_expires_at
            && r.generation == generation
            && r.current_hash == *h
    })
}

/// The row 4 record, field by field.
fn spec_rotated(
    r: &SessionRecord,
    new_hash: TokenHash,
    nonce: RotationNonce,
    now: i64,
    idle: i64,
) -> SessionRecord {
    SessionRecord {
        generation: r.generation + 1,
        prev_hash: Some(r.current_hash),
        current_hash: new_hash,
        rotated_at: Some(at(now)),
        nonce,
        refresh_expires_at: at(now + idle).min(r.absolute_expires_at),
        version: r.version + 1,
        ..r.clone()
    }
}

prop_compose! {
    fn record()(
        generation in 0u64..4,
        current in 0u8..4,
        prev in proptest::option::of(0u8..4),
        rotated_at in proptest::option::of(-20i64..20),
        refresh in -5i64..40,
        absolute in -5i64..40,
        version in 1u64..5,
        data in prop_oneof![Just(Value::Null), Just(json!({"n": 1.5, "big": u64::MAX}))],
    ) -> SessionRecord {
        SessionRecord {
            handle: handle(),
            user_id: "alice".into(),
            created_at: at(-100),
            auth_time: at(-100),
            absolute_expires_at: at(absolute),
            refresh_expires_at: at(refresh),
            generation,
            current_hash: hash(current),
            prev_hash: prev.map(hash),
            rotated_at: rotated_at.map(at),
            nonce: RotationNonce::from_bytes([1; 32]),
            access_claims: Map::new(),
            session_data: data,
            version,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn rotates_exactly_when_row_4_applies(
        stored in proptest::option::of(record()),
        generation in 0u64..6,
        presented in 0u8..4,
        now in -10i64..45,
        idle in 1i64..60,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let store = MemoryStore::new();
        if let Some(r) = &stored {
            rt.block_on(store.insert(r)).unwrap();
        }
        let presented = hash(presented);
        let new_hash = hash(200);
        let nonce = RotationNonce::from_bytes([2; 32]);
        let rotation = Rotation::new(
            handle(),
            generation,
            presented,
            new_hash,
            nonce,
            at(now),
            Duration::seconds(idle),
        );
        let outcome = rt.block_on(store.rotate_if_current(&rotation)).unwrap();
        let after = rt.block_on(store.load(&handle())).unwrap();
        if spec_rotates(stored.as_ref(), generation, &presented, now) {
            let expected = spec_rotated(stored.as_ref().unwrap(), new_hash, nonce, now, idle);
            prop_assert_eq!(&outcome, &RotateOutcome::Rotated(expected.clone()));
            prop_assert_eq!(after, Some(expected));
        } else {
            prop_assert_eq!(&outcome, &RotateOutcome::Unchanged(stored.clone()));
            prop_assert_eq!(after, stored);
        }
    }
}

#[tokio::test]
async fn a_failed_swap_is_an_error_not_a_rotation() {
    let store = FaultyStore::new(MemoryStore::new());
    let mut r = SessionRecord {
        handle: handle(),
        user_id: "alice".into(),
        created_at: at(0),
        auth_time: at(0),
        absolute_expires_at: at(1000),
        refresh_expires_at: at(500),
        generation: 0,
        current_hash: hash(1),
        prev_hash: None,
        rotated_at: None,
        nonce: RotationNonce::from_bytes([1; 32]),
        access_claims: Map::new(),
        session_data: Value::Null,
        version: 1,
    };
    store.insert(&r).await.unwrap();
    let rotation = Rotation::new(
        handle(),
        0,
        hash(1),
        hash(2),
        RotationNonce::from_bytes([2; 32]),
        at(10),
        Duration::seconds(100),
    );
    store.fail_next(Op::CompareAndSwap, Fault::Before);
    assert!(store.rotate_if_current(&rotation).await.is_err());
    assert_eq!(store.load(&handle()).await.unwrap().as_ref(), Some(&r));
    // Applied, answer lost: still an error; the caller reads back.
    store.fail_next(Op::CompareAndSwap, Fault::After);
    assert!(store.rotate_if_current(&rotation).await.is_err());
    r = spec_rotated(&r, hash(2), RotationNonce::from_bytes([2; 32]), 10, 100);
    assert_eq!(store.load(&handle()).await.unwrap(), Some(r));
}
