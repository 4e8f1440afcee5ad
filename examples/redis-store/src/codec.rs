//! Records to and from the fields of a session hash (see [`crate::scripts`]).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sessionkit::SessionHandle;
use sessionkit::store::{RotationNonce, SessionRecord, StoreError, TokenHash};
use time::OffsetDateTime;

/// The record as the session hash's field/value pairs (all but `u` and
/// `op`), refused when its JSON part is over `max_record_bytes`.
pub(crate) fn encode(
    record: &SessionRecord,
    max_record_bytes: usize,
) -> Result<[(&'static str, String); 10], StoreError> {
    let body = Body {
        handle: record.handle,
        user_id: Cow::Borrowed(&record.user_id),
        created_at: record.created_at.unix_timestamp(),
        auth_time: record.auth_time.unix_timestamp(),
        access_claims: Cow::Borrowed(&record.access_claims),
        session_data: Cow::Borrowed(&record.session_data),
    };
    let json = serde_json::to_string(&body).map_err(StoreError::invalid_data)?;
    if json.len() > max_record_bytes {
        return Err(StoreError::invalid_data(RecordTooLarge {
            size: json.len(),
            max: max_record_bytes,
        }));
    }
    Ok([
        ("g", record.generation.to_string()),
        ("ch", encode_bytes(record.current_hash.as_bytes())),
        (
            "ph",
            record
                .prev_hash
                .map(|h| encode_bytes(h.as_bytes()))
                .unwrap_or_default(),
        ),
        (
            "ra",
            record
                .rotated_at
                .map(|t| t.unix_timestamp().to_string())
                .unwrap_or_default(),
        ),
        ("n", encode_bytes(record.nonce.as_bytes())),
        ("re", record.refresh_expires_at.unix_timestamp().to_string()),
        (
            "ae",
            record.absolute_expires_at.unix_timestamp().to_string(),
        ),
        ("v", record.version.to_string()),
        ("e", record.expires_at().unix_timestamp().to_string()),
        ("d", json),
    ])
}

/// The part of a record no rotation changes, stored as JSON in `d`; the
/// rest has a hash field each (see [`crate::scripts`]).
#[derive(Deserialize, Serialize)]
struct Body<'a> {
    handle: SessionHandle,
    user_id: Cow<'a, str>,
    created_at: i64,
    auth_time: i64,
    access_claims: Cow<'a, Map<String, Value>>,
    session_data: Cow<'a, Value>,
}

pub(crate) fn encode_bytes(bytes: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn corrupt(what: &'static str) -> StoreError {
    StoreError::backend(CorruptRecord(what))
}

/// [`assemble`], checking that the record is the one under `handle`'s key.
pub(crate) fn assemble_for(
    values: &[Option<String>],
    handle: &SessionHandle,
) -> Result<SessionRecord, StoreError> {
    let record = assemble(values)?;
    if record.handle != *handle {
        return Err(corrupt("record under another handle's key"));
    }
    Ok(record)
}

/// A record from the values of [`RECORD_FIELDS`](crate::scripts::RECORD_FIELDS),
/// in that order.
pub(crate) fn assemble(values: &[Option<String>]) -> Result<SessionRecord, StoreError> {
    let [g, ch, ph, ra, n, re, ae, v, d] = values else {
        return Err(corrupt("wrong number of session fields"));
    };
    let body: Body<'static> = serde_json::from_str(field(d, "missing d")?)
        .map_err(|e| StoreError::backend(CorruptRecord(e.to_string())))?;
    Ok(SessionRecord {
        handle: body.handle,
        user_id: body.user_id.into_owned(),
        created_at: timestamp(body.created_at)?,
        auth_time: timestamp(body.auth_time)?,
        absolute_expires_at: timestamp(number(field(ae, "missing ae")?)?)?,
        refresh_expires_at: timestamp(number(field(re, "missing re")?)?)?,
        generation: number(field(g, "missing g")?)?,
        current_hash: hash(field(ch, "missing ch")?)?,
        prev_hash: optional(field(ph, "missing ph")?).map(hash).transpose()?,
        rotated_at: optional(field(ra, "missing ra")?)
            .map(|t| number(t).and_then(timestamp))
            .transpose()?,
        nonce: RotationNonce::from_bytes(bytes32(field(n, "missing n")?)?),
        access_claims: body.access_claims.into_owned(),
        session_data: body.session_data.into_owned(),
        version: number(field(v, "missing v")?)?,
    })
}

/// A field's value, which must be present.
fn field<'a>(value: &'a Option<String>, missing: &'static str) -> Result<&'a str, StoreError> {
    value.as_deref().ok_or_else(|| corrupt(missing))
}

/// An optional value: stored as the empty string when absent.
fn optional(text: &str) -> Option<&str> {
    (!text.is_empty()).then_some(text)
}

pub(crate) fn number<T: std::str::FromStr>(text: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| corrupt("a session field is not a number"))
}

fn timestamp(unix: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| corrupt("timestamp out of range"))
}

fn bytes32(text: &str) -> Result<[u8; 32], StoreError> {
    let mut out = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut out) {
        Ok(32) => Ok(out),
        _ => Err(corrupt("a hash or nonce is not 32 bytes of base64url")),
    }
}

fn hash(text: &str) -> Result<TokenHash, StoreError> {
    bytes32(text).map(TokenHash::from_bytes)
}

/// A record over the configured size limit.
#[derive(Debug)]
struct RecordTooLarge {
    size: usize,
    max: usize,
}

impl fmt::Display for RecordTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session record of {} bytes exceeds the limit of {} bytes",
            self.size, self.max
        )
    }
}

impl StdError for RecordTooLarge {}

/// A stored value that is not a record written by this store.
#[derive(Debug)]
pub(crate) struct CorruptRecord<M>(pub(crate) M);

impl<M: fmt::Display> fmt::Display for CorruptRecord<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt session record in redis: {}", self.0)
    }
}

impl<M: fmt::Debug + fmt::Display> StdError for CorruptRecord<M> {}
