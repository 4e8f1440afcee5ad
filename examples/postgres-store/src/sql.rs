//! The SQL text of every statement, built once per store from validated
//! identifiers.

use std::fmt;
use std::sync::Arc;

use sessionkit::ConfigError;

/// A schema or table name: lowercase ASCII letters, digits and `_`, starting
/// with a letter or `_`, so that it means the same quoted and unquoted and can
/// never carry SQL.
#[derive(Clone, Eq, PartialEq)]
pub(crate) struct Identifier(String);

impl Identifier {
    /// Validates `name`, at most `max_len` bytes long.
    pub(crate) fn new(
        name: &str,
        setting: &'static str,
        max_len: usize,
    ) -> Result<Self, ConfigError> {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !first_ok || !rest_ok || name.len() > max_len {
            return Err(ConfigError::InvalidSetting {
                name: setting,
                reason: "must be 1 to 48 bytes of a-z, 0-9 and _, not starting with a digit",
            });
        }
        Ok(Self(name.to_owned()))
    }

    /// A compile-time constant name; the unit tests check that every one
    /// passes [`Identifier::new`].
    pub(crate) fn from_static(name: &'static str) -> Self {
        Self(name.to_owned())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always quoted: a valid identifier contains no `"`.
        write!(f, "\"{}\"", self.0)
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest schema or table name accepted: leaves room for the index name
/// suffixes within PostgreSQL's 63-byte identifier limit.
pub(crate) const MAX_IDENTIFIER_LEN: usize = 48;

/// A key for `pg_advisory_xact_lock`, so concurrent migrations queue up
/// instead of racing on the catalog ("sessionk" in ASCII).
pub(crate) const MIGRATION_LOCK: i64 = 0x7365_7373_696f_6e6b;

/// Every column the core writes, in bind order `$1..$14`.
const COLUMNS: &str = "handle, user_id, created_at, auth_time, absolute_expires_at, \
     refresh_expires_at, generation, current_hash, prev_hash, rotated_at, nonce, \
     access_claims, session_data, version";

/// The same columns, read back; timestamps as whole unix seconds.
const SELECT_COLUMNS: &str = "handle, user_id, \
     EXTRACT(EPOCH FROM created_at)::int8, \
     EXTRACT(EPOCH FROM auth_time)::int8, \
     EXTRACT(EPOCH FROM absolute_expires_at)::int8, \
     EXTRACT(EPOCH FROM refresh_expires_at)::int8, \
     generation, current_hash, prev_hash, \
     EXTRACT(EPOCH FROM rotated_at)::int8, \
     nonce, access_claims, session_data, version";

/// The statements of one store.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) schema: Identifier,
    pub(crate) table: Identifier,
    pub(crate) insert: Arc<str>,
    pub(crate) lock_user: Arc<str>,
    pub(crate) insert_capped: Arc<str>,
    pub(crate) load: Arc<str>,
    pub(crate) compare_and_swap: Arc<str>,
    pub(crate) rotate_if_current: Arc<str>,
    pub(crate) delete: Arc<str>,
    pub(crate) list_by_user: Arc<str>,
    pub(crate) delete_by_user: Arc<str>,
    pub(crate) purge_expired: Arc<str>,
    pub(crate) create_schema: Arc<str>,
    pub(crate) migration: Vec<Arc<str>>,
}

impl Statements {
    pub(crate) fn new(schema: Identifier, table: Identifier) -> Self {
        let t = format!("{schema}.{table}");
        let values = "$1, $2, to_timestamp($3::int8), to_timestamp($4::int8), \
             to_timestamp($5::int8), to_timestamp($6::int8), $7, $8, $9, \
             to_timestamp($10::int8), $11, $12, $13, $14";
        let set = "user_id = $2, created_at = to_timestamp($3::int8), \
             auth_time = to_timestamp($4::int8), \
             absolute_expires_at = to_timestamp($5::int8), \
             refresh_expires_at = to_timestamp($6::int8), generation = $7, \
             current_hash = $8, prev_hash = $9, rotated_at = to_timestamp($10::int8), \
             nonce = $11, access_claims = $12, session_data = $13, version = $14";
        let user_idx = Identifier(format!("{}_user_id_idx", table.as_str()));
        let expiry_idx = Identifier(format!("{}_expires_at_idx", table.as_str()));
        Self {
            insert: format!(
                "INSERT INTO {t} ({COLUMNS}) VALUES ({values}) ON CONFLICT (handle) DO NOTHING"
            )
            .into(),
            // The table's oid names the lock space (two int4 keys, apart
            // from the int8 key of the migration lock), `hashtext` the user:
            // two users that collide only take turns.
            lock_user: format!(
                "SELECT pg_advisory_xact_lock('{t}'::regclass::oid::int4, hashtext($1))"
            )
            .into(),
            // Run after `lock_user`, in the same transaction: under READ
            // COMMITTED this statement's snapshot is taken after the lock,
            // so it sees every record committed by the creates that held
            // it before. The new row is invisible to the statement's own
            // SELECT, so it is never among the victims; $15 is how many
            // others to keep (the limit minus the new record).
            insert_capped: format!(
                "WITH inserted AS (\
                     INSERT INTO {t} ({COLUMNS}) VALUES ({values}) \
                     ON CONFLICT (handle) DO NOTHING RETURNING 1\
                 ), evicted AS (\
                     DELETE FROM {t} WHERE handle IN (\
                         SELECT handle FROM {t} \
                         WHERE user_id = $2 AND EXISTS (SELECT 1 FROM inserted) \
                         ORDER BY created_at DESC, handle DESC OFFSET $15\
                     ) RETURNING handle, created_at\
                 ) \
                 SELECT EXISTS (SELECT 1 FROM inserted), \
                     COALESCE((SELECT array_agg(handle ORDER BY created_at, handle) \
                         FROM evicted), '{{}}'::bytea[])"
            )
            .into(),
            load: format!("SELECT {SELECT_COLUMNS} FROM {t} WHERE handle = $1").into(),
            compare_and_swap: format!("UPDATE {t} SET {set} WHERE handle = $1 AND version = $15")
                .into(),
            // $1 handle, $2 expected generation, $3 expected hash, $4 new
            // hash, $5 now, $6 nonce, $7 now + idle (NULL when out of
            // range: LEAST ignores it). Every right-hand side reads the old
            // row, so `prev_hash = current_hash` keeps the hash being
            // retired; `expires_at` is generated and follows. The row comes
            // back with `true` when rotated; otherwise the row as found,
            // with `false`, from the statement's snapshot (under READ
            // COMMITTED a concurrent rotation that made the UPDATE miss may
            // not be visible there; the core then falls back to load and
            // compare-and-swap).
            rotate_if_current: format!(
                "WITH rotated AS (\
                     UPDATE {t} SET generation = generation + 1, \
                         prev_hash = current_hash, current_hash = $4, \
                         rotated_at = to_timestamp($5::int8), nonce = $6, \
                         refresh_expires_at = LEAST(to_timestamp($7::int8), absolute_expires_at), \
                         version = version + 1 \
                     WHERE handle = $1 AND generation = $2 AND current_hash = $3 \
                         AND expires_at > to_timestamp($5::int8) \
                     RETURNING {SELECT_COLUMNS}\
                 ) \
                 SELECT *, true FROM rotated \
                 UNION ALL \
                 SELECT {SELECT_COLUMNS}, false FROM {t} \
                 WHERE handle = $1 AND NOT EXISTS (SELECT 1 FROM rotated)"
            )
            .into(),
            delete: format!("DELETE FROM {t} WHERE handle = $1").into(),
            list_by_user: format!("SELECT {SELECT_COLUMNS} FROM {t} WHERE user_id = $1").into(),
            delete_by_user: format!(
                "DELETE FROM {t} WHERE user_id = $1 AND ($2::bytea IS NULL OR handle <> $2)"
            )
            .into(),
            // One batch of the records expired at $1, from expiry $3 on
            // (NULL: from the start), at most $2 rows. Returns how many it
            // deleted and the last expiry it reached, whole seconds rounded
            // down, where the next batch starts: the index range then skips
            // the dead entries of earlier batches instead of walking them
            // again each time. SKIP LOCKED passes over rows a writer holds,
            // so a batch never waits for one. The rows go by the tuple ids
            // just locked (a TID scan, not a primary-key lookup per row: a
            // third of the time). A row updated in between no longer
            // matches its id and waits for the next purge; the outer
            // predicate is re-checked on what is deleted.
            purge_expired: format!(
                "WITH purged AS (\
                     DELETE FROM {t} WHERE ctid = ANY(ARRAY(\
                         SELECT ctid FROM {t} \
                         WHERE expires_at >= COALESCE(to_timestamp($3::int8), '-infinity') \
                             AND expires_at <= to_timestamp($1::int8) \
                         ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED\
                     )) AND expires_at <= to_timestamp($1::int8) \
                     RETURNING expires_at\
                 ) \
                 SELECT count(*), floor(EXTRACT(EPOCH FROM max(expires_at)))::int8 FROM purged"
            )
            .into(),
            create_schema: format!("CREATE SCHEMA IF NOT EXISTS {schema}").into(),
            migration: vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     handle bytea PRIMARY KEY CHECK (octet_length(handle) = 18), \
                     user_id text NOT NULL, \
                     created_at timestamptz NOT NULL, \
                     auth_time timestamptz NOT NULL, \
                     absolute_expires_at timestamptz NOT NULL, \
                     refresh_expires_at timestamptz NOT NULL, \
                     expires_at timestamptz NOT NULL \
                         GENERATED ALWAYS AS (LEAST(refresh_expires_at, absolute_expires_at)) STORED, \
                     generation bigint NOT NULL CHECK (generation >= 0), \
                     current_hash bytea NOT NULL, \
                     prev_hash bytea, \
                     rotated_at timestamptz, \
                     nonce bytea NOT NULL, \
                     access_claims jsonb NOT NULL, \
                     session_data jsonb NOT NULL, \
                     version bigint NOT NULL CHECK (version >= 1))"
                )
                .into(),
                format!("CREATE INDEX IF NOT EXISTS {user_idx} ON {t} (user_id)").into(),
                format!("CREATE INDEX IF NOT EXISTS {expiry_idx} ON {t} (expires_at)").into(),
            ],
            schema,
            table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_reject_anything_but_plain_lowercase_names() {
        for ok in ["sessions", "_x", "a1_b2", &"a".repeat(48)] {
            assert!(
                Identifier::new(ok, "table", MAX_IDENTIFIER_LEN).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "",
            "1abc",
            "Sessions",
            "a-b",
            "a b",
            "a\"b",
            "x; DROP TABLE y",
            "é",
            &"a".repeat(49),
        ] {
            assert!(
                Identifier::new(bad, "table", MAX_IDENTIFIER_LEN).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn statements_quote_the_qualified_name() {
        let s = Statements::new(Identifier("auth".into()), Identifier("sessions".into()));
        assert!(
            s.load
                .contains("FROM \"auth\".\"sessions\" WHERE handle = $1")
        );
        assert!(
            s.migration
                .iter()
                .any(|m| m.contains("\"sessions_user_id_idx\""))
        );
    }
}
