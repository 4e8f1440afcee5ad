//! The identity and record types every other module builds on: the session
//! handle, the hashes and nonces a record holds, and the record itself.
//!
//! This is the bottom layer: it imports nothing from the rest of the crate,
//! so the rotation decision, the store contract, the errors and the manager
//! can all name these types without importing each other.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// The identifier of a session: 128 random bits and a 16-bit placement
/// tag, not secret.
///
/// It is the primary key in the store and is safe to log. Its text form is
/// 24 characters of unpadded base64url.
///
/// The tag is chosen by the store when the session is created
/// ([`SessionStore::placement_tag`](crate::store::SessionStore::placement_tag)):
/// a store that shards its data (Redis Cluster) puts all of a user's
/// sessions in one shard and finds it from the handle alone, so that a
/// refresh, which carries only the handle, stays one round trip. Stores
/// that do not shard leave it 0. The 128 random bits are never fewer.
#[derive(Clone, Copy, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct SessionHandle([u8; 18]);

impl SessionHandle {
    /// The length of the binary form, in bytes.
    pub const LEN: usize = 18;

    /// The length of the random part, in bytes.
    pub const RANDOM_LEN: usize = 16;

    /// A handle from its random part and its placement tag.
    pub const fn new(random: [u8; 16], tag: u16) -> Self {
        let t = tag.to_be_bytes();
        let r = random;
        Self([
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
            r[14], r[15], t[0], t[1],
        ])
    }

    /// A handle from its 18 raw bytes: the random part, then the tag (big
    /// endian).
    pub const fn from_bytes(bytes: [u8; 18]) -> Self {
        Self(bytes)
    }

    /// The 18 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 18] {
        &self.0
    }

    /// The placement tag the store chose at creation.
    pub const fn tag(&self) -> u16 {
        u16::from_be_bytes([self.0[16], self.0[17]])
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 24];
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
        if s.len() != 24 {
            return Err(ParseHandleError);
        }
        let mut out = [0u8; 18];
        match URL_SAFE_NO_PAD.decode_slice(s, &mut out) {
            Ok(18) => Ok(Self(out)),
            _ => Err(ParseHandleError),
        }
    }
}

impl Serialize for SessionHandle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // On the stack: every access token carries a handle.
        let mut buf = [0u8; 24];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_text_round_trip() {
        let h = SessionHandle::from_bytes([7u8; 18]);
        let text = h.to_string();
        assert_eq!(text.len(), 24);
        assert_eq!(text.parse::<SessionHandle>(), Ok(h));
        assert!("short".parse::<SessionHandle>().is_err());
        assert!("!!!!!!!!!!!!!!!!!!!!!!!!".parse::<SessionHandle>().is_err());
        // The old 16-byte form is not a handle.
        assert!("BwcHBwcHBwcHBwcHBwcHBw".parse::<SessionHandle>().is_err());
    }

    #[test]
    fn the_tag_is_the_last_two_bytes() {
        let h = SessionHandle::new([1; 16], 0xabcd);
        assert_eq!(h.tag(), 0xabcd);
        assert_eq!(&h.as_bytes()[..16], &[1; 16]);
        assert_eq!(SessionHandle::from_bytes(*h.as_bytes()), h);
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
