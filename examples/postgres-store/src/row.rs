//! Encoding a [`SessionRecord`] as statement parameters and decoding it
//! from a row.

use serde_json::{Map, Value};
use sessionkit::SessionHandle;
use sessionkit::store::{RotationNonce, SessionRecord, StoreError, TokenHash};
use sqlx::Row;
use sqlx::postgres::{PgArguments, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::error::{map_error, out_of_range};

/// The column after the record's in the `rotate_if_current` statement: whether
/// the row was rotated.
pub(crate) const ROTATED_COLUMN: usize = 14;

/// Binds `$1..$14` in the order of the statements' column list.
pub(crate) fn bind_record(
    q: Query<'static, Postgres, PgArguments>,
    r: &SessionRecord,
) -> Result<Query<'static, Postgres, PgArguments>, StoreError> {
    let generation = to_i64(r.generation, "generation")?;
    let version = to_i64(r.version, "version")?;
    Ok(q.bind(r.handle.as_bytes().as_slice())
        .bind(r.user_id.as_str())
        .bind(r.created_at.unix_timestamp())
        .bind(r.auth_time.unix_timestamp())
        .bind(r.absolute_expires_at.unix_timestamp())
        .bind(r.refresh_expires_at.unix_timestamp())
        .bind(generation)
        .bind(r.current_hash.as_bytes().as_slice())
        .bind(r.prev_hash.as_ref().map(|h| h.as_bytes().as_slice()))
        .bind(r.rotated_at.map(OffsetDateTime::unix_timestamp))
        .bind(r.nonce.as_bytes().as_slice())
        .bind(Json(&r.access_claims))
        .bind(Json(&r.session_data))
        .bind(version))
}

/// Reads a row selected with the statements' `SELECT_COLUMNS`.
pub(crate) fn decode_record(row: &PgRow) -> Result<SessionRecord, StoreError> {
    let get_err = |e: sqlx::Error| map_error(e);
    let handle = handle(&row.try_get::<Vec<u8>, _>(0).map_err(get_err)?)?;
    let prev_hash: Option<Vec<u8>> = row.try_get(8).map_err(get_err)?;
    let rotated_at: Option<i64> = row.try_get(9).map_err(get_err)?;
    let Json(access_claims): Json<Map<String, Value>> = row.try_get(11).map_err(get_err)?;
    let Json(session_data): Json<Value> = row.try_get(12).map_err(get_err)?;
    Ok(SessionRecord {
        handle,
        user_id: row.try_get(1).map_err(get_err)?,
        created_at: timestamp(row.try_get(2).map_err(get_err)?)?,
        auth_time: timestamp(row.try_get(3).map_err(get_err)?)?,
        absolute_expires_at: timestamp(row.try_get(4).map_err(get_err)?)?,
        refresh_expires_at: timestamp(row.try_get(5).map_err(get_err)?)?,
        generation: to_u64(row.try_get(6).map_err(get_err)?, "generation")?,
        current_hash: hash(&row.try_get::<Vec<u8>, _>(7).map_err(get_err)?)?,
        prev_hash: prev_hash.as_deref().map(hash).transpose()?,
        rotated_at: rotated_at.map(timestamp).transpose()?,
        nonce: RotationNonce::from_slice(&row.try_get::<Vec<u8>, _>(10).map_err(get_err)?)
            .ok_or_else(|| out_of_range("rotation nonce length"))?,
        access_claims,
        session_data,
        version: to_u64(row.try_get(13).map_err(get_err)?, "version")?,
    })
}

pub(crate) fn to_i64(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| out_of_range(what))
}

pub(crate) fn to_u64(value: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| out_of_range(what))
}

/// A stored handle, which the table's CHECK keeps at the right length.
pub(crate) fn handle(bytes: &[u8]) -> Result<SessionHandle, StoreError> {
    <[u8; SessionHandle::LEN]>::try_from(bytes)
        .map(SessionHandle::from_bytes)
        .map_err(|_| out_of_range("session handle length"))
}

fn timestamp(unix: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| out_of_range("timestamp"))
}

fn hash(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    TokenHash::from_slice(bytes).ok_or_else(|| out_of_range("token hash length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_above_i64_are_invalid_data_not_wrapped() {
        assert!(matches!(
            to_i64(u64::MAX, "v"),
            Err(StoreError::InvalidData(_))
        ));
        assert_eq!(to_i64(i64::MAX.unsigned_abs(), "v").ok(), Some(i64::MAX));
        assert!(matches!(to_u64(-1, "v"), Err(StoreError::InvalidData(_))));
    }
}
