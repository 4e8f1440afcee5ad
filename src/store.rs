//! The storage contract: what a backend must keep and the atomic operations
//! sessionkit needs from it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::StoreError;

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
