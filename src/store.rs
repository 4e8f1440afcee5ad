//! The storage contract: what a backend must keep and the atomic operations
//! sessionkit needs from it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::error::StoreError;

/// How many times the default [`SessionStore::rotate_if_current`] loads and
/// swaps again after losing a compare-and-swap to another writer while the
/// record still matched.
const DEFAULT_ROTATE_ROUNDS: usize = 8;

/// The identifier of a session: 128 random bits, not secret.
///
/// It is the primary key in the store and is safe to log. Its text form is
/// 22 characters of unpadded base64url.
#[derive(Clone, Copy, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct SessionHandle([u8; 16]);

impl SessionHandle {
    /// The length of the binary form, in bytes.
    pub const LEN: usize = 16;

    /// A handle from its 16 raw bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 22];
        let n = URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut buf)
            .map_err(|_| fmt::Error)?;
        let text = std::str::from_utf8(buf.get(..n).ok_or(fmt::Error)?).map_err(|_| fmt::Error)?;
        f.write_str(text)
    }
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionHandle({self})")
    }
}

/// The text is not a session handle.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("invalid session handle")]
pub struct ParseHandleError;

impl FromStr for SessionHandle {
    type Err = ParseHandleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 22 {
            return Err(ParseHandleError);
        }
        let mut out = [0u8; 16];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut out) {
            Ok(16) => Ok(Self(out)),
            _ => Err(ParseHandleError),
        }
    }
}

impl Serialize for SessionHandle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // On the stack: every access token carries a handle.
        let mut buf = [0u8; 22];
        let text = URL_SAFE_NO_PAD
            .encode_slice(self.0, &mut buf)
            .ok()
            .and_then(|n| buf.get(..n))
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| serde::ser::Error::custom("session handle encoding"))?;
        s.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for SessionHandle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! bytes32 {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Eq, PartialEq)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps 32 raw bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The 32 raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Builds the value from a slice, which must be 32 bytes long.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; 32]>::try_from(bytes).ok().map(Self)
            }

            /// Compares in constant time.
            pub fn ct_eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&URL_SAFE_NO_PAD.encode(self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                let mut out = [0u8; 32];
                match URL_SAFE_NO_PAD.decode_slice(s.as_bytes(), &mut out) {
                    Ok(32) => Ok(Self(out)),
                    _ => Err(serde::de::Error::custom(concat!("invalid ", stringify!($name)))),
                }
            }
        }
    };
}

bytes32!(
    /// SHA-256 of a refresh secret. The store keeps only these, never a token.
    TokenHash
);

bytes32!(
    /// The random value mixed into the derivation of the current generation's
    /// refresh secret, so that a leaked server key alone cannot predict
    /// successors.
    RotationNonce
);

/// Everything the store keeps about one session.
///
/// Stores persist every field and give it back unchanged (timestamps at
/// one-second resolution). They interpret only `handle`, `user_id`,
/// `version` and the two expiries; the rest is opaque to them.
#[derive(Clone, Deserialize, PartialEq, Serialize)]
pub struct SessionRecord {
    /// The session's identifier (primary key).
    pub handle: SessionHandle,
    /// The owner.
    pub user_id: String,
    /// When the session was created.
    #[serde(with = "time::serde::timestamp")]
    pub created_at: OffsetDateTime,
    /// When the user last authenticated (carried as `auth_time`).
    #[serde(with = "time::serde::timestamp")]
    pub auth_time: OffsetDateTime,
    /// The absolute end of the session, never extended.
    #[serde(with = "time::serde::timestamp")]
    pub absolute_expires_at: OffsetDateTime,
    /// The end of the current refresh token's life; slides with each
    /// rotation, never past `absolute_expires_at`.
    #[serde(with = "time::serde::timestamp")]
    pub refresh_expires_at: OffsetDateTime,
    /// The generation of the current refresh token (0 at creation).
    pub generation: u64,
    /// Hash of the current generation's refresh secret.
    pub current_hash: TokenHash,
    /// Hash of the previous generation's refresh secret (none at generation 0).
    pub prev_hash: Option<TokenHash>,
    /// When the last rotation happened (none at generation 0).
    #[serde(with = "time::serde::timestamp::option")]
    pub rotated_at: Option<OffsetDateTime>,
    /// The nonce that derived the current secret from the previous one.
    pub nonce: RotationNonce,
    /// Custom claims carried by every access token of this session.
    pub access_claims: serde_json::Map<String, serde_json::Value>,
    /// Server-only data; never sent to the client.
    pub session_data: serde_json::Value,
    /// Compare-and-swap version: 1 at insert, +1 with every successful swap.
    pub version: u64,
}

impl SessionRecord {
    /// The moment the session stops being usable: the earlier of the two
    /// expiries.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.refresh_expires_at.min(self.absolute_expires_at)
    }

    /// Whether the session is expired at `now` (expiry instant included).
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at()
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("handle", &self.handle)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("auth_time", &self.auth_time)
            .field("absolute_expires_at", &self.absolute_expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("generation", &self.generation)
            .field("rotated_at", &self.rotated_at)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A request to rotate one session's refresh token, as the core makes it
/// after opening a genuine refresh token: "if the session is still at the
/// generation and hash the token names, and not expired, move it to the
/// next generation".
///
/// Stores that implement [`SessionStore::rotate_if_current`] themselves
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
            now: crate::clock::whole_seconds(now),
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
        crate::rotation::rotated(record, self.now, self.idle, self.new_hash, self.nonce)
    }
}

/// What [`SessionStore::rotate_if_current`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum RotateOutcome {
    /// The rotation applied; this is the record as now stored.
    Rotated(SessionRecord),
    /// The rotation did not apply and nothing was written; this is the
    /// record as found (`None`: no record with that handle).
    Unchanged(Option<SessionRecord>),
}

/// Where sessions live. Implement it for your database, or use a store that
/// ships with sessionkit.
///
/// # The contract
///
/// Every implementation must keep these rules; the conformance suite
/// (`sessionkit::testing::run_store_suite`, feature `testing`) checks them.
///
/// - **Atomic operations.** Each method is one atomic step as seen by every
///   other caller, in every process sharing the store. In particular
///   [`compare_and_swap`](Self::compare_and_swap) must never let two callers
///   both succeed with the same `expected_version`: this is what makes refresh
///   token rotation race-free and theft detection work for every backend.
/// - **Version.** `version` is a counter owned by the core: `insert` stores a
///   record with `version == 1`; `compare_and_swap(expected, record)` replaces
///   the stored record only if its stored version equals `expected`, and
///   stores `record` as given (whose version is `expected + 1`).
/// - **Round trip.** `load` returns exactly what was written (timestamps at
///   one-second resolution).
/// - **Expiry.** A store may drop a record at or after
///   [`SessionRecord::expires_at`], eagerly (TTL) or in
///   [`purge_expired`](Self::purge_expired), and may also return expired
///   records: the core checks expiry itself and never trusts the store for it.
/// - **No raw tokens.** Records only contain hashes; stores must not log
///   records at a level that ends up in shared logs.
/// - **Errors.** A failure is reported as [`StoreError`], never as a panic,
///   and within a bounded time ([`StoreError::Timeout`]). An operation that
///   failed must either not have been applied or be safe to observe as
///   applied: the core is written so that both outcomes are safe.
/// - **Fresh reads.** `load` sees every write that has completed, from any
///   process (no lagging replica): the grace and theft decisions are made
///   on what it returns.
/// - **Expiry moves.** A swap may extend `refresh_expires_at`; a store that
///   expires records by TTL or an index must move that expiry with the swap.
/// - **User index.** `list_by_user` and `delete_by_user` see every record of
///   the user that has not been deleted, match user ids byte for byte (no
///   case folding, trimming or normalisation), and cost in proportion to
///   that user's sessions, not to the total.
/// - **One-step rotation (optional).**
///   [`rotate_if_current`](Self::rotate_if_current) has a default built on
///   `load` and `compare_and_swap`. A store that overrides it (to refresh in
///   one round trip) must apply exactly [`Rotation::apply`], atomically, and
///   move the expiry as a swap would.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Inserts a new record.
    ///
    /// # Errors
    /// [`StoreError::AlreadyExists`] if a record with the same handle exists
    /// (expired or not); the stored record is then unchanged.
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// Loads a record by handle, `None` if there is none.
    ///
    /// # Errors
    /// A backend failure.
    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError>;

    /// Replaces the record with the same handle if, and only if, its stored
    /// version is `expected_version`. Returns whether it was replaced
    /// (`false` when the version differs or there is no such record).
    ///
    /// # Errors
    /// A backend failure; the record may then be in the old or the new state.
    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError>;

    /// Deletes a record. Returns whether one existed.
    ///
    /// # Errors
    /// A backend failure.
    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError>;

    /// Every record of a user (expired ones may be included).
    ///
    /// # Errors
    /// A backend failure.
    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError>;

    /// Deletes every record of a user except `keep`. Returns how many were
    /// deleted.
    ///
    /// # Errors
    /// A backend failure; some records may then have been deleted.
    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError>;

    /// Deletes records that are expired at `now`. Returns how many were
    /// deleted.
    ///
    /// # Errors
    /// A backend failure.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    /// Rotates a session's refresh token in one atomic step, if and only if
    /// the session is still where the presented token says it is.
    ///
    /// Atomically: if a record with `rotation.handle` exists, is not
    /// expired at `rotation.now` (`now < min(refresh_expires_at,
    /// absolute_expires_at)`), and has `generation ==
    /// rotation.expected_generation` and `current_hash ==
    /// rotation.expected_hash`, replace it with exactly
    /// [`rotation.apply(record)`](Rotation::apply) and return
    /// [`RotateOutcome::Rotated`] with the new record; otherwise change
    /// nothing and return [`RotateOutcome::Unchanged`] with the record as
    /// found (`None` when there is none). The new record moves the store's
    /// expiry (TTL, index) like a [`compare_and_swap`](Self::compare_and_swap).
    ///
    /// This is the refresh's first and, in the common case, only store
    /// call: the core runs the full rotation decision on an `Unchanged`
    /// record (grace, theft, expiry), so the record should be as fresh as a
    /// [`load`](Self::load) at the time of the call. A record read just
    /// before a concurrent rotation (a snapshot from the start of the
    /// statement) is acceptable: when it still looks rotatable, the core
    /// falls back to `load` and `compare_and_swap`.
    ///
    /// # Default
    /// [`load`](Self::load), check, then
    /// [`compare_and_swap`](Self::compare_and_swap) on the loaded version,
    /// starting again (a few times at most) when the swap loses to another
    /// writer while the record still matches: correct for every store that
    /// keeps the contract, at two round trips. Implement it when the
    /// backend can check and write in one round trip (a conditional
    /// `UPDATE ... RETURNING`, a server-side script); the conformance suite
    /// checks that an implementation behaves exactly as this default does.
    ///
    /// # Errors
    /// A backend failure; the rotation may then have been applied or not
    /// (the core reads the record back to find out). Never an error for a
    /// rotation that does not apply: that is `Unchanged`.
    async fn rotate_if_current(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        for _ in 0..DEFAULT_ROTATE_ROUNDS {
            let Some(record) = self.load(&rotation.handle).await? else {
                return Ok(RotateOutcome::Unchanged(None));
            };
            let Some(next) = rotation.apply(&record) else {
                return Ok(RotateOutcome::Unchanged(Some(record)));
            };
            if self.compare_and_swap(record.version, &next).await? {
                return Ok(RotateOutcome::Rotated(next));
            }
        }
        Err(StoreError::backend(
            "compare-and-swap kept failing: the store does not keep its contract",
        ))
    }
}

#[async_trait::async_trait]
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        (**self).insert(record).await
    }
    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        (**self).load(handle).await
    }
    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError> {
        (**self).compare_and_swap(expected_version, record).await
    }
    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        (**self).delete(handle).await
    }
    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        (**self).list_by_user(user_id).await
    }
    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        (**self).delete_by_user(user_id, keep).await
    }
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        (**self).purge_expired(now).await
    }
    async fn rotate_if_current(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        (**self).rotate_if_current(rotation).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_text_round_trip() {
        let h = SessionHandle::from_bytes([7u8; 16]);
        let text = h.to_string();
        assert_eq!(text.len(), 22);
        assert_eq!(text.parse::<SessionHandle>(), Ok(h));
        assert!("short".parse::<SessionHandle>().is_err());
        assert!("!!!!!!!!!!!!!!!!!!!!!!".parse::<SessionHandle>().is_err());
    }

    /// SEC: the one-step rotation, as the default implementation runs it
    /// over the memory store, rotates exactly when the pure decision says
    /// `Rotate`, and writes exactly the record `rotation::rotated` makes.
    #[cfg(feature = "memory-store")]
    mod rotate_if_current_matches_the_decision {
        #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

        use proptest::prelude::*;
        use serde_json::{Map, Value};

        use super::*;
        use crate::MemoryStore;
        use crate::rotation::{Decision, PresentedToken, decide, rotated};

        const T0: i64 = 1_900_000_000;

        fn at(offset: i64) -> OffsetDateTime {
            OffsetDateTime::from_unix_timestamp(T0 + offset).unwrap()
        }

        fn hash(n: u8) -> TokenHash {
            TokenHash::from_bytes([n; 32])
        }

        prop_compose! {
            /// Small values, so that matches, near misses and expiry
            /// instants are all common.
            fn record()(
                generation in 0u64..4,
                current in 0u8..4,
                prev in proptest::option::of(0u8..4),
                rotated_at in proptest::option::of(-20i64..20),
                refresh in -5i64..40,
                absolute in -5i64..40,
                version in 1u64..5,
            ) -> SessionRecord {
                SessionRecord {
                    handle: SessionHandle::from_bytes([9; 16]),
                    user_id: "u".into(),
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
                    session_data: Value::Null,
                    version,
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

            #[test]
            fn never_rotates_what_the_decision_would_not(
                stored in proptest::option::of(record()),
                generation in 0u64..6,
                presented in 0u8..4,
                now in -10i64..45,
                idle in 1i64..60,
                grace in 0i64..15,
            ) {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let store = MemoryStore::new();
                if let Some(r) = &stored {
                    rt.block_on(store.insert(r)).unwrap();
                }
                let presented_hash = hash(presented);
                let now = at(now);
                let idle = Duration::seconds(idle);
                let new_hash = hash(200);
                let nonce = RotationNonce::from_bytes([2; 32]);
                let rotation = Rotation::new(
                    SessionHandle::from_bytes([9; 16]),
                    generation,
                    presented_hash,
                    new_hash,
                    nonce,
                    now,
                    idle,
                );
                let token = PresentedToken { generation, hash: &presented_hash };
                let decision = decide(stored.as_ref(), token, now, Duration::seconds(grace));
                let outcome = rt.block_on(store.rotate_if_current(&rotation)).unwrap();
                let after = rt.block_on(store.load(&rotation.handle)).unwrap();
                match outcome {
                    RotateOutcome::Rotated(next) => {
                        prop_assert_eq!(decision, Decision::Rotate);
                        let expected = rotated(stored.as_ref().unwrap(), now, idle, new_hash, nonce);
                        prop_assert_eq!(Some(&next), expected.as_ref());
                        prop_assert_eq!(after, Some(next));
                    }
                    RotateOutcome::Unchanged(found) => {
                        prop_assert_ne!(decision, Decision::Rotate);
                        prop_assert_eq!(&found, &stored);
                        prop_assert_eq!(after, stored);
                    }
                }
            }
        }
    }

    #[test]
    fn hashes_do_not_debug_print_their_bytes() {
        let h = TokenHash::from_bytes([0xab; 32]);
        let s = format!("{h:?}");
        assert!(
            !s.contains("171") && !s.to_lowercase().contains("ab"),
            "{s}"
        );
    }
}
