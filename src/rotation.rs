//! The rotation decision: one pure function implementing the refresh table.
//!
//! Given the stored record (if any), a genuine presented token, the time and
//! the settings, [`decide`] says what refresh must do. It touches no store,
//! no clock and no randomness, so every row of the table is tested here
//! directly; the manager only applies the decision.
//!
//! | row | condition | decision |
//! |---|---|---|
//! | 2 | no record for the handle | [`Decision::NotFound`] |
//! | 3 | `now` at or past either expiry | [`Decision::Expired`] |
//! | 4 | current generation, current hash | [`Decision::Rotate`] |
//! | 5 | previous generation, previous hash, inside a non-zero grace | [`Decision::Grace`] |
//! | 6 | a generation the store never reached | [`Decision::FutureGeneration`] |
//! | 7 | anything else | [`Decision::Theft`] |
//!
//! Row 1 (malformed, forged, unknown key) is decided before the store is
//! read, when the token is opened.

use time::{Duration, OffsetDateTime};

use crate::store::{RotationNonce, SessionRecord, TokenHash};

/// What a refresh must do.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Decision {
    /// Row 2: unauthorized, store untouched.
    NotFound,
    /// Row 3: unauthorized; the record may be deleted.
    Expired,
    /// Row 4: rotate with one compare-and-swap.
    Rotate,
    /// Row 5: return the current successor again, no write.
    Grace,
    /// Row 6: unauthorized, not theft (the store lost a write).
    FutureGeneration,
    /// Row 7: revoke, report theft.
    Theft,
}

/// The token as the decision needs it: which generation, and the hash of its
/// secret.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PresentedToken<'a> {
    pub(crate) generation: u64,
    pub(crate) hash: &'a TokenHash,
}

/// Decides rows 2 to 7 of the refresh table.
pub(crate) fn decide(
    record: Option<&SessionRecord>,
    token: PresentedToken<'_>,
    now: OffsetDateTime,
    grace: Duration,
) -> Decision {
    let Some(record) = record else {
        return Decision::NotFound;
    };
    if record.is_expired(now) {
        return Decision::Expired;
    }
    let g = record.generation;
    if token.generation == g && token.hash.ct_eq(&record.current_hash) {
        return Decision::Rotate;
    }
    if token.generation > g {
        return Decision::FutureGeneration;
    }
    if g.checked_sub(1) == Some(token.generation) && in_grace(record, token.hash, now, grace) {
        return Decision::Grace;
    }
    Decision::Theft
}

fn in_grace(
    record: &SessionRecord,
    hash: &TokenHash,
    now: OffsetDateTime,
    grace: Duration,
) -> bool {
    // Grace 0 disables the window entirely, even within the same second.
    if grace <= Duration::ZERO {
        return false;
    }
    let (Some(prev), Some(rotated_at)) = (&record.prev_hash, record.rotated_at) else {
        return false;
    };
    prev.ct_eq(hash) && now - rotated_at <= grace
}

/// The record after rotating to the next generation (row 4).
///
/// The refresh expiry slides to `now + idle` but never past the absolute
/// expiry (SEC-09, SEC-10, SEC-22).
pub(crate) fn rotated(
    record: &SessionRecord,
    now: OffsetDateTime,
    idle: Duration,
    new_hash: TokenHash,
    nonce: RotationNonce,
) -> Option<SessionRecord> {
    Some(SessionRecord {
        generation: record.generation.checked_add(1)?,
        prev_hash: Some(record.current_hash),
        current_hash: new_hash,
        rotated_at: Some(now),
        nonce,
        refresh_expires_at: now
            .checked_add(idle)
            .unwrap_or(record.absolute_expires_at)
            .min(record.absolute_expires_at),
        version: record.version.checked_add(1)?,
        ..record.clone()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Map, Value};

    use super::*;
    use crate::store::SessionHandle;

    const T0: i64 = 1_700_000_000;

    fn at(offset: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(T0 + offset).unwrap()
    }

    fn h(n: u8) -> TokenHash {
        TokenHash::from_bytes([n; 32])
    }

    /// A session at generation 2 (current hash 2, previous hash 1), rotated
    /// at t=100, refresh expiry t=1000, absolute expiry t=2000.
    fn record() -> SessionRecord {
        SessionRecord {
            handle: SessionHandle::from_bytes([1; 16]),
            user_id: "u".into(),
            created_at: at(0),
            auth_time: at(0),
            absolute_expires_at: at(2000),
            refresh_expires_at: at(1000),
            generation: 2,
            current_hash: h(2),
            prev_hash: Some(h(1)),
            rotated_at: Some(at(100)),
            nonce: RotationNonce::from_bytes([0; 32]),
            access_claims: Map::new(),
            session_data: Value::Null,
            version: 3,
        }
    }

    fn decide_at(generation: u64, hash: u8, now: i64, grace: i64) -> Decision {
        let hash = h(hash);
        decide(
            Some(&record()),
            PresentedToken {
                generation,
                hash: &hash,
            },
            at(now),
            Duration::seconds(grace),
        )
    }

    #[test]
    fn row_2_missing_session() {
        let hash = h(2);
        let token = PresentedToken {
            generation: 2,
            hash: &hash,
        };
        assert_eq!(
            decide(None, token, at(0), Duration::seconds(10)),
            Decision::NotFound
        );
    }

    #[test]
    fn row_3_expiry_is_checked_before_anything_else() {
        assert_eq!(decide_at(2, 2, 999, 10), Decision::Rotate);
        assert_eq!(decide_at(2, 2, 1000, 10), Decision::Expired);
        // Even a replayed token on an expired session is not theft.
        assert_eq!(decide_at(0, 0, 1000, 10), Decision::Expired);
        let mut r = record();
        r.refresh_expires_at = at(5000);
        let hash = h(2);
        let token = PresentedToken {
            generation: 2,
            hash: &hash,
        };
        assert_eq!(
            decide(Some(&r), token, at(1999), Duration::ZERO),
            Decision::Rotate
        );
        assert_eq!(
            decide(Some(&r), token, at(2000), Duration::ZERO),
            Decision::Expired
        );
    }

    #[test]
    fn row_4_current_token_rotates() {
        assert_eq!(decide_at(2, 2, 101, 10), Decision::Rotate);
        assert_eq!(decide_at(2, 2, 101, 0), Decision::Rotate);
    }

    #[test]
    fn row_5_previous_token_inside_grace() {
        assert_eq!(decide_at(1, 1, 100, 10), Decision::Grace);
        assert_eq!(decide_at(1, 1, 110, 10), Decision::Grace);
    }

    #[test]
    fn row_6_future_generation_is_not_theft() {
        assert_eq!(decide_at(3, 3, 101, 10), Decision::FutureGeneration);
        assert_eq!(decide_at(u64::MAX, 9, 101, 10), Decision::FutureGeneration);
    }

    #[test]
    fn row_7_sec_18_previous_token_after_grace_is_theft() {
        assert_eq!(decide_at(1, 1, 111, 10), Decision::Theft);
    }

    #[test]
    fn row_7_sec_21_grace_zero_disables_the_window() {
        assert_eq!(decide_at(1, 1, 100, 0), Decision::Theft);
    }

    #[test]
    fn row_7_sec_21_two_generations_back_is_theft_inside_grace() {
        assert_eq!(decide_at(0, 0, 101, 60), Decision::Theft);
    }

    #[test]
    fn row_7_same_generation_other_secret_is_theft() {
        assert_eq!(decide_at(2, 7, 101, 10), Decision::Theft);
    }

    #[test]
    fn row_7_previous_generation_with_wrong_hash_is_theft() {
        assert_eq!(decide_at(1, 2, 101, 10), Decision::Theft);
    }

    #[test]
    fn generation_zero_has_no_previous() {
        let mut r = record();
        r.generation = 0;
        r.prev_hash = None;
        r.rotated_at = None;
        r.current_hash = h(0);
        let hash = h(5);
        let token = PresentedToken {
            generation: 0,
            hash: &hash,
        };
        assert_eq!(
            decide(Some(&r), token, at(1), Duration::seconds(10)),
            Decision::Theft
        );
    }

    #[test]
    fn sec_22_rotation_slides_idle_expiry_but_never_past_absolute() {
        let r = record();
        let next = rotated(
            &r,
            at(500),
            Duration::seconds(300),
            h(3),
            RotationNonce::from_bytes([1; 32]),
        )
        .unwrap();
        assert_eq!(next.generation, 3);
        assert_eq!(next.prev_hash, Some(h(2)));
        assert_eq!(next.current_hash, h(3));
        assert_eq!(next.rotated_at, Some(at(500)));
        assert_eq!(next.refresh_expires_at, at(800));
        assert_eq!(next.version, 4);
        assert_eq!(next.absolute_expires_at, r.absolute_expires_at);
        let late = rotated(
            &r,
            at(1900),
            Duration::seconds(300),
            h(3),
            RotationNonce::from_bytes([1; 32]),
        )
        .unwrap();
        assert_eq!(late.refresh_expires_at, at(2000));
    }

    #[test]
    fn rotation_never_overflows() {
        let mut r = record();
        r.generation = u64::MAX;
        assert!(
            rotated(
                &r,
                at(500),
                Duration::seconds(1),
                h(3),
                RotationNonce::from_bytes([1; 32])
            )
            .is_none()
        );
    }
}
