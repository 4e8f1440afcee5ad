//! How the memory store keeps a record: compact, with timestamps as Unix
//! seconds and the user id inline when short.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::store::{RotationNonce, SessionHandle, SessionRecord, TokenHash};

/// `rotated_at` of a session that never rotated. Unix times of an
/// `OffsetDateTime` are far from `i64::MIN`.
pub(super) const NEVER: i64 = i64::MIN;

/// A [`SessionRecord`] as kept here: timestamps as Unix seconds (the
/// contract's resolution), the user id inline or shared with the user index,
/// and the custom claims and data only when there are any.
pub(super) struct Compact {
    /// The placement tag of the handle (the table is keyed by its random
    /// part: see `SessionShard`).
    pub(super) tag: u16,
    pub(super) user_id: UserKey,
    pub(super) created_at: i64,
    pub(super) auth_time: i64,
    pub(super) absolute_expires_at: i64,
    pub(super) refresh_expires_at: i64,
    /// [`NEVER`] for none.
    pub(super) rotated_at: i64,
    pub(super) generation: u64,
    pub(super) version: u64,
    pub(super) current_hash: [u8; 32],
    pub(super) prev_hash: Option<[u8; 32]>,
    pub(super) nonce: [u8; 32],
    pub(super) extra: Option<Box<Extra>>,
}

/// User ids up to this many bytes are held inside the record.
const INLINE_USER_ID: usize = 30;

/// A record's user id: inline when short, so that loading a record reads no
/// other allocation (one cache miss fewer in a large store); longer ones
/// share the user index's copy.
#[derive(Clone)]
pub(super) enum UserKey {
    Inline {
        len: u8,
        bytes: [u8; INLINE_USER_ID],
    },
    Shared(Arc<str>),
}

impl UserKey {
    /// `shared` is the user index's copy of the same id.
    pub(super) fn new(shared: &Arc<str>) -> Self {
        let mut bytes = [0u8; INLINE_USER_ID];
        match (bytes.get_mut(..shared.len()), u8::try_from(shared.len())) {
            (Some(slot), Ok(len)) => {
                slot.copy_from_slice(shared.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Shared(Arc::clone(shared)),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            // Copied from a `str` whole: always UTF-8, the fallback is never
            // taken.
            Self::Inline { len, bytes } => bytes
                .get(..usize::from(*len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
            Self::Shared(id) => id,
        }
    }
}

/// What most sessions do not have.
pub(super) struct Extra {
    pub(super) access_claims: serde_json::Map<String, serde_json::Value>,
    pub(super) session_data: serde_json::Value,
}

impl Compact {
    pub(super) fn new(record: &SessionRecord, user_id: UserKey) -> Self {
        let extra = if record.access_claims.is_empty() && record.session_data.is_null() {
            None
        } else {
            Some(Box::new(Extra {
                access_claims: record.access_claims.clone(),
                session_data: record.session_data.clone(),
            }))
        };
        Self {
            tag: record.handle.tag(),
            user_id,
            created_at: record.created_at.unix_timestamp(),
            auth_time: record.auth_time.unix_timestamp(),
            absolute_expires_at: record.absolute_expires_at.unix_timestamp(),
            refresh_expires_at: record.refresh_expires_at.unix_timestamp(),
            rotated_at: record
                .rotated_at
                .map_or(NEVER, OffsetDateTime::unix_timestamp),
            generation: record.generation,
            version: record.version,
            current_hash: *record.current_hash.as_bytes(),
            prev_hash: record.prev_hash.map(|h| *h.as_bytes()),
            nonce: *record.nonce.as_bytes(),
            extra,
        }
    }

    pub(super) fn to_record(&self, handle: SessionHandle) -> SessionRecord {
        let (access_claims, session_data) = match &self.extra {
            Some(extra) => (extra.access_claims.clone(), extra.session_data.clone()),
            None => (serde_json::Map::new(), serde_json::Value::Null),
        };
        SessionRecord {
            handle,
            user_id: String::from(self.user_id.as_str()),
            created_at: time_at(self.created_at),
            auth_time: time_at(self.auth_time),
            absolute_expires_at: time_at(self.absolute_expires_at),
            refresh_expires_at: time_at(self.refresh_expires_at),
            generation: self.generation,
            current_hash: TokenHash::from_bytes(self.current_hash),
            prev_hash: self.prev_hash.map(TokenHash::from_bytes),
            rotated_at: (self.rotated_at != NEVER).then(|| time_at(self.rotated_at)),
            nonce: RotationNonce::from_bytes(self.nonce),
            access_claims,
            session_data,
            version: self.version,
        }
    }

    pub(super) fn expires_at(&self) -> i64 {
        self.refresh_expires_at.min(self.absolute_expires_at)
    }
}

/// Seconds back to a time: they came from an `OffsetDateTime`, so they are
/// in range.
pub(super) fn time_at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
