//! The refresh decision and the rotation it leads to, as pure functions.
//!
//! Given the stored record (if any), a genuine presented token, the time and
//! the settings, [`decide`] says what refresh must do. [`Rotation`] is the
//! write that row 4 makes: its precondition ([`Rotation::applies_to`]) and
//! its result ([`Rotation::apply`]) are defined here once, for the manager,
//! for the default [`SessionStore::rotate_if_current`] and for stores that
//! run the step in their own language. Nothing here touches a store, a
//! clock or randomness, so every row of the table is tested directly.
//!
//! | row | condition | decision |
//! |---|---|---|
//! | 2 | no record for the handle | [`Decision::NotFound`] |
//! | 3 | `now` at or past either expiry | [`Decision::Expired`] |
//! | after 7 | the session was revoked for a theft (its [tombstone](burned)) | [`Decision::TheftRevoked`] |
//! | 4 | current generation, current hash | [`Decision::Rotate`] |
//! | 5 | previous generation, previous hash, inside a non-zero grace | [`Decision::Grace`] |
//! | 6 | a generation the store never reached | [`Decision::FutureGeneration`] |
//! | 7 | anything else | [`Decision::Theft`] |
//!
//! Row 1 (malformed, forged, unknown key) is decided before the store is
//! read, when the token is opened.
//!
//! [`SessionStore::rotate_if_current`]: crate::store::SessionStore::rotate_if_current

use time::{Duration, OffsetDateTime};

use crate::clock::whole_seconds;
use crate::record::{RotationNonce, SessionHandle, SessionRecord, TokenHash};

/// What a refresh must do.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Decision {
    /// Row 2: unauthorized, store untouched.
    NotFound,
    /// Row 3: unauthorized; the record may be deleted.
    Expired,
    /// A token of a session already revoked for a theft (row 7 happened
    /// before): unauthorized, and the holder may be told why.
    TheftRevoked,
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
    if is_burned(record) {
        return Decision::TheftRevoked;
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
    // The window is symmetric so that an instance whose clock runs ahead
    // cannot stretch it: a rotation stamped in the future by more than the
    // grace is not trusted to be recent.
    let age = now - rotated_at;
    prev.ct_eq(hash) && age <= grace && age >= -grace
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

/// A request to rotate one session's refresh token, as the core makes it
/// after opening a genuine refresh token: "if the session is still at the
/// generation and hash the token names, and not expired, move it to the
/// next generation".
///
/// Stores that implement [`SessionStore::rotate_if_current`](crate::store::SessionStore::rotate_if_current) themselves
/// read its fields; [`applies_to`](Self::applies_to) and
/// [`apply`](Self::apply) give the exact precondition and result, for
/// stores that can run Rust inside their atomic step (a transaction, a
/// lock) and for tests.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Rotation {
    /// The session to rotate.
    pub handle: SessionHandle,
    /// The generation the presented token names: the stored generation
    /// must equal it.
    pub expected_generation: u64,
    /// The hash of the presented secret: the stored `current_hash` must
    /// equal it.
    pub expected_hash: TokenHash,
    /// The hash of the successor's secret: the new `current_hash`.
    pub new_hash: TokenHash,
    /// The nonce the successor was derived with: the new `nonce`.
    pub nonce: RotationNonce,
    /// The time of the refresh, whole seconds: the new `rotated_at`, and
    /// the instant at which the record must not be expired.
    pub now: OffsetDateTime,
    /// The refresh idle lifetime: the new `refresh_expires_at` is
    /// `min(now + idle, absolute_expires_at)`.
    pub idle: Duration,
}

impl Rotation {
    /// A rotation request. `now` is truncated to whole seconds, the
    /// resolution at which stores keep time.
    pub fn new(
        handle: SessionHandle,
        expected_generation: u64,
        expected_hash: TokenHash,
        new_hash: TokenHash,
        nonce: RotationNonce,
        now: OffsetDateTime,
        idle: Duration,
    ) -> Self {
        Self {
            handle,
            expected_generation,
            expected_hash,
            new_hash,
            nonce,
            now: whole_seconds(now),
            idle,
        }
    }

    /// The generation after the rotation, `None` if it would overflow (the
    /// rotation can then never apply).
    pub fn new_generation(&self) -> Option<u64> {
        self.expected_generation.checked_add(1)
    }

    /// `now + idle`, `None` past the representable range (the refresh
    /// expiry is then the absolute expiry).
    pub fn idle_expiry(&self) -> Option<OffsetDateTime> {
        self.now.checked_add(self.idle)
    }

    /// Whether the rotation applies to `record`: same handle, not expired at
    /// `now` (`now < min(refresh_expires_at, absolute_expires_at)`), stored
    /// generation and current hash equal to the expected ones.
    pub fn applies_to(&self, record: &SessionRecord) -> bool {
        record.handle == self.handle
            && !record.is_expired(self.now)
            && record.generation == self.expected_generation
            && record.current_hash.ct_eq(&self.expected_hash)
    }

    /// Whether `record` is the result of this rotation: the session it
    /// names, at the next generation, holding the new hash (which only the
    /// request that made the rotation knows). Used to recognise a rotation
    /// that was applied although the store reported a failure.
    pub fn produced(&self, record: &SessionRecord) -> bool {
        record.handle == self.handle
            && Some(record.generation) == self.new_generation()
            && record.current_hash.ct_eq(&self.new_hash)
    }

    /// The record after the rotation, or `None` when it does not
    /// [apply](Self::applies_to) or a counter would overflow.
    ///
    /// Exactly: `generation + 1`, `prev_hash := current_hash`,
    /// `current_hash := new_hash`, `rotated_at := now`, `nonce := nonce`,
    /// `refresh_expires_at := min(now + idle, absolute_expires_at)`,
    /// `version + 1`; every other field unchanged.
    pub fn apply(&self, record: &SessionRecord) -> Option<SessionRecord> {
        if !self.applies_to(record) {
            return None;
        }
        rotated(record, self.now, self.idle, self.new_hash, self.nonce)
    }
}

/// Whether access tokens of `generation` still speak for the session under
/// strict verification: the current generation, or the previous one (whose
/// holder may not have received the current tokens yet).
pub(crate) fn accepts_generation(record: &SessionRecord, generation: u64) -> bool {
    generation == record.generation || Some(generation) == record.generation.checked_sub(1)
}

/// The current hash of a [burned](burned) record: a label, not a hash. No
/// secret hashes to it (that would take a SHA-256 preimage), so no token
/// matches it.
const BURNED_HASH: TokenHash = TokenHash::from_bytes(*b"sessionkit tombstone: no secret.");

/// The previous hash of a tombstone whose user's other sessions are still
/// to be revoked ([`Tombstone::RevokeAllPending`]). Never a real hash, for
/// the same reason as [`BURNED_HASH`].
const PENDING_HASH: TokenHash = TokenHash::from_bytes(*b"sessionkit tombstone: revoke all");

/// What a tombstone still asks for.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Tombstone {
    /// Nothing: the theft's revocation is complete.
    Final,
    /// The theft policy revokes every session of the user, and that has
    /// not been confirmed yet: the next presentation of a token of this
    /// session tries again.
    RevokeAllPending,
}

/// The tombstone of a session revoked for a theft (row 7): two
/// generations on and a current hash no token has, kept until the session
/// would have expired. No token of it rotates again, none of its access
/// tokens passes strict verification, and every later presentation is
/// [`Decision::TheftRevoked`], so its holder (the owner as much as the
/// thief) learns why the session ended. `None` when a counter would
/// overflow.
///
/// `rotated_at` of a tombstone is the time of the theft (`now` when a live
/// record is burned; kept when a tombstone changes state): a revocation of
/// the user's sessions finished later spares the ones created after it.
pub(crate) fn burned(
    record: &SessionRecord,
    state: Tombstone,
    now: OffsetDateTime,
) -> Option<SessionRecord> {
    let (generation, theft_at) = if is_burned(record) {
        (record.generation, record.rotated_at)
    } else {
        (record.generation.checked_add(2)?, Some(now))
    };
    Some(SessionRecord {
        generation,
        rotated_at: theft_at,
        current_hash: BURNED_HASH,
        prev_hash: match state {
            Tombstone::Final => None,
            Tombstone::RevokeAllPending => Some(PENDING_HASH),
        },
        version: record.version.checked_add(1)?,
        ..record.clone()
    })
}

/// Whether the record is a live session at `now`: neither expired nor
/// [burned](burned).
pub(crate) fn is_live(record: &SessionRecord, now: OffsetDateTime) -> bool {
    !record.is_expired(now) && !is_burned(record)
}

/// Whether the record is [burned](burned): the tombstone of a session
/// revoked for a theft, not a live one.
pub(crate) fn is_burned(record: &SessionRecord) -> bool {
    record.current_hash.ct_eq(&BURNED_HASH)
}

/// What a [burned](burned) record still asks for; `None` for a live one.
pub(crate) fn tombstone(record: &SessionRecord) -> Option<Tombstone> {
    if !is_burned(record) {
        return None;
    }
    Some(match &record.prev_hash {
        Some(hash) if hash.ct_eq(&PENDING_HASH) => Tombstone::RevokeAllPending,
        _ => Tombstone::Final,
    })
}

/// What [`SessionStore::rotate_if_current`](crate::store::SessionStore::rotate_if_current) did.
#[derive(Clone, Debug, PartialEq)]
pub enum RotateOutcome {
    /// The rotation applied; this is the record as now stored.
    Rotated(SessionRecord),
    /// The rotation did not apply and nothing was written; this is the
    /// record as found (`None`: no record with that handle).
    Unchanged(Option<SessionRecord>),
}

#[cfg(test)]
mod tests {

    use serde_json::{Map, Value};

    use super::*;

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
            handle: SessionHandle::from_bytes([1; 18]),
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
    fn row_7_clock_skew_cannot_stretch_the_grace() {
        // Rotated at t=100 by an instance running ahead: a replay "before"
        // the rotation by more than the grace is not inside the window.
        assert_eq!(decide_at(1, 1, 90, 10), Decision::Grace);
        assert_eq!(decide_at(1, 1, 89, 10), Decision::Theft);
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

    #[test]
    fn a_tombstone_answers_theft_revoked_to_every_token() {
        for state in [Tombstone::Final, Tombstone::RevokeAllPending] {
            let dead = burned(&record(), state, at(150)).unwrap();
            assert_eq!(dead.rotated_at, Some(at(150)), "the theft time");
            assert_eq!(tombstone(&dead), Some(state));
            assert_eq!(tombstone(&record()), None);
            for (generation, hash) in [(2, 2), (1, 1), (0, 0), (4, 0), (3, 9)] {
                let hash = h(hash);
                let token = PresentedToken {
                    generation,
                    hash: &hash,
                };
                assert_eq!(
                    decide(Some(&dead), token, at(101), Duration::seconds(60)),
                    Decision::TheftRevoked,
                    "{state:?} {generation}"
                );
            }
            // Expiry still comes first: then the tombstone may go.
            let hash = h(2);
            let token = PresentedToken {
                generation: 2,
                hash: &hash,
            };
            assert_eq!(
                decide(Some(&dead), token, at(1000), Duration::ZERO),
                Decision::Expired
            );
            // Burning a tombstone again keeps its generation.
            let again = burned(&dead, Tombstone::Final, at(170)).unwrap();
            assert_eq!(again.generation, dead.generation);
            assert_eq!(again.rotated_at, Some(at(150)), "the theft time stays");
            assert_eq!(tombstone(&again), Some(Tombstone::Final));
            assert!(!accepts_generation(&dead, 2) && !accepts_generation(&dead, 1));
        }
    }
}
