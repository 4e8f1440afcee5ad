//! [`PostgresStore`]: the [`SessionStore`] over a PostgreSQL table.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use sessionkit::store::{
    RotateOutcome, Rotation, RotationNonce, SessionRecord, SessionStore, StoreError, TokenHash,
};
use sessionkit::{ConfigError, SessionHandle};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Row};
use time::OffsetDateTime;

use crate::error::{is_connection_lost, map_error, out_of_range};
use crate::sql::{Identifier, MAX_IDENTIFIER_LEN, MIGRATION_LOCK, PURGE_BATCH, Statements};

/// The default bound on every operation.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest bound accepted by [`PostgresStoreBuilder::timeout`].
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// The default pool size for [`PostgresStoreBuilder::connect`].
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// A [`SessionStore`] that keeps sessions in one PostgreSQL table.
///
/// Every trait method is a single SQL statement (one round trip once the
/// statement is prepared on the connection), and
/// [`compare_and_swap`](SessionStore::compare_and_swap) is one conditional
/// `UPDATE ... WHERE handle = $1 AND version = $2`, so any number of
/// processes can share the table and rotation stays race-free.
///
/// Every operation completes or fails within the configured
/// [`timeout`](PostgresStoreBuilder::timeout) (5 s by default):
/// [`StoreError::Timeout`] when the pool has no connection to give, the
/// server cancels the statement or the bound runs out.
///
/// Cloning is cheap and shares the pool.
///
/// # Runtime
/// Needs a Tokio runtime with the time driver enabled, as sqlx does.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sql: Arc<Statements>,
    timeout: Duration,
}

/// Options for a [`PostgresStore`]: table location, time bound, pool size.
///
/// ```
/// # fn main() -> Result<(), sessionkit::ConfigError> {
/// let builder = sessionkit_postgres::PostgresStore::builder()
///     .schema("auth")?
///     .table("sessions")?
///     .timeout(std::time::Duration::from_secs(2))?;
/// # let _ = builder;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStoreBuilder {
    schema: Identifier,
    table: Identifier,
    timeout: Duration,
    max_connections: u32,
    application_name: String,
}

impl PostgresStore {
    /// The default table name, `sessionkit_sessions`.
    pub const DEFAULT_TABLE: &'static str = "sessionkit_sessions";
    /// The default schema, `public`.
    pub const DEFAULT_SCHEMA: &'static str = "public";

    /// Starts configuring a store.
    pub fn builder() -> PostgresStoreBuilder {
        PostgresStoreBuilder {
            schema: Identifier::from_static(Self::DEFAULT_SCHEMA),
            table: Identifier::from_static(Self::DEFAULT_TABLE),
            timeout: DEFAULT_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            application_name: "sessionkit".to_owned(),
        }
    }

    /// Connects with the default options (table `public.sessionkit_sessions`,
    /// 5 s bound, up to 10 connections) and checks that the server answers.
    /// Call [`migrate`](Self::migrate) once before use.
    ///
    /// `url` is a libpq-style URL, e.g. `postgres://user@host:5432/db`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for a malformed URL or a server that refuses
    /// the connection; [`StoreError::Timeout`] if no connection could be made
    /// within the bound.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// Uses an existing pool, with the default table and bound.
    ///
    /// The pool's own settings apply: the store cannot set a server-side
    /// `statement_timeout` on connections it did not open (the client-side
    /// bound still holds), and sqlx's default `test_before_acquire` adds a
    /// round trip to every operation.
    pub fn from_pool(pool: PgPool) -> Self {
        Self::builder().from_pool(pool)
    }

    /// The underlying pool, to share it or close it.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the schema (if missing), the table and its indexes, if they
    /// do not exist yet. Idempotent and safe to run from several processes
    /// at once (they take turns on an advisory lock).
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the server refuses (for example missing
    /// privileges), [`StoreError::Timeout`] past the bound.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let sql = Arc::clone(&self.sql);
        self.bounded(async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
            // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE
            // privilege even when the schema exists.
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                    .bind(sql.schema.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
            if !exists {
                sqlx::query(AssertSqlSafe(Arc::clone(&sql.create_schema)))
                    .execute(&mut *tx)
                    .await?;
            }
            for statement in &sql.migration {
                sqlx::query(AssertSqlSafe(Arc::clone(statement)))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })
        .await
    }

    /// Runs `op` within the bound and classifies its failure.
    async fn bounded<T>(
        &self,
        op: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(result) => result.map_err(map_error),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    fn query(&self, sql: &Arc<str>) -> Query<'static, Postgres, PgArguments> {
        sqlx::query(AssertSqlSafe(Arc::clone(sql)))
    }

    /// Runs an idempotent read, once more on a fresh connection if the
    /// first one turns out to be dead (after a server restart or a
    /// terminated backend): reads have no effect to duplicate.
    async fn read(
        &self,
        sql: &Arc<str>,
        bind: impl Fn(Query<'static, Postgres, PgArguments>) -> Query<'static, Postgres, PgArguments>,
    ) -> Result<Vec<PgRow>, StoreError> {
        self.bounded(async {
            match bind(self.query(sql)).fetch_all(&self.pool).await {
                Err(e) if is_connection_lost(&e) => {
                    bind(self.query(sql)).fetch_all(&self.pool).await
                }
                other => other,
            }
        })
        .await
    }
}

impl PostgresStoreBuilder {
    /// The schema holding the table (default `public`); [`migrate`]
    /// creates it if missing.
    ///
    /// [`migrate`]: PostgresStore::migrate
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] unless `name` is 1 to 48 bytes of
    /// `a-z`, `0-9` and `_`, not starting with a digit.
    pub fn schema(mut self, name: &str) -> Result<Self, ConfigError> {
        self.schema = Identifier::new(name, "schema", MAX_IDENTIFIER_LEN)?;
        Ok(self)
    }

    /// The table name (default `sessionkit_sessions`).
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] unless `name` is 1 to 48 bytes of
    /// `a-z`, `0-9` and `_`, not starting with a digit.
    pub fn table(mut self, name: &str) -> Result<Self, ConfigError> {
        self.table = Identifier::new(name, "table", MAX_IDENTIFIER_LEN)?;
        Ok(self)
    }

    /// The bound on every operation (default 5 s): waiting for a pool
    /// connection, the server-side `statement_timeout` of connections the
    /// store opens, and the whole operation on the client side.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] unless 1 ms <= `timeout` <= 10 min.
    pub fn timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        if timeout < Duration::from_millis(1) || timeout > MAX_TIMEOUT {
            return Err(ConfigError::InvalidSetting {
                name: "timeout",
                reason: "must be between 1 ms and 10 minutes",
            });
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// The most connections the store's pool opens (default 10).
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] for 0.
    pub fn max_connections(mut self, max: u32) -> Result<Self, ConfigError> {
        if max == 0 {
            return Err(ConfigError::InvalidSetting {
                name: "max_connections",
                reason: "must be at least 1",
            });
        }
        self.max_connections = max;
        Ok(self)
    }

    /// The `application_name` the store's connections report to the server
    /// (default `sessionkit`), visible in `pg_stat_activity`.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Opens a pool to `url` and checks that the server answers.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for a malformed URL or a server that refuses
    /// the connection; [`StoreError::Timeout`] if no connection could be made
    /// within the bound.
    pub async fn connect(self, url: &str) -> Result<PostgresStore, StoreError> {
        let store = self.connect_lazy(url)?;
        store
            .bounded(async { store.pool.acquire().await.map(drop) })
            .await?;
        Ok(store)
    }

    /// Prepares a pool to `url` without connecting: the first operation
    /// connects.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for a malformed URL.
    pub fn connect_lazy(self, url: &str) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .application_name(&self.application_name)
            .options([("statement_timeout", self.timeout.as_millis().to_string())]);
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.timeout)
            // Every operation is a single statement: a failure on a dead
            // connection is reported (and the connection dropped) rather
            // than paying a ping round trip on every acquire.
            .test_before_acquire(false)
            .connect_lazy_with(options);
        Ok(self.from_pool(pool))
    }

    /// Uses an existing pool (see [`PostgresStore::from_pool`]).
    pub fn from_pool(self, pool: PgPool) -> PostgresStore {
        PostgresStore {
            pool,
            sql: Arc::new(Statements::new(self.schema, self.table)),
            timeout: self.timeout,
        }
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URL, no pool options: they may hold a password.
        f.debug_struct("PostgresStore")
            .field("schema", &self.sql.schema)
            .field("table", &self.sql.table)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStoreBuilder")
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("timeout", &self.timeout)
            .field("max_connections", &self.max_connections)
            .field("application_name", &self.application_name)
            .finish()
    }
}

#[async_trait::async_trait]
impl SessionStore for PostgresStore {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let q = bind_record(self.query(&self.sql.insert), record)?;
        let done = self.bounded(q.execute(&self.pool)).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AlreadyExists);
        }
        Ok(())
    }

    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        let rows = self
            .read(&self.sql.load, |q| q.bind(handle.as_bytes().as_slice()))
            .await?;
        rows.first().map(decode_record).transpose()
    }

    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError> {
        let expected = to_i64(expected_version, "expected version")?;
        let q = bind_record(self.query(&self.sql.compare_and_swap), record)?.bind(expected);
        let done = self.bounded(q.execute(&self.pool)).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        let q = self
            .query(&self.sql.delete)
            .bind(handle.as_bytes().as_slice());
        let done = self.bounded(q.execute(&self.pool)).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = self
            .read(&self.sql.list_by_user, |q| q.bind(user_id))
            .await?;
        rows.iter().map(decode_record).collect()
    }

    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        let q = self
            .query(&self.sql.delete_by_user)
            .bind(user_id)
            .bind(keep.map(|h| h.as_bytes().as_slice()));
        let done = self.bounded(q.execute(&self.pool)).await?;
        Ok(done.rows_affected())
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let now = now.unix_timestamp();
        let mut total = 0u64;
        loop {
            // One bounded statement per batch: a large backlog never holds
            // many locks or runs into the bound.
            let q = self
                .query(&self.sql.purge_expired)
                .bind(now)
                .bind(PURGE_BATCH);
            let deleted = self.bounded(q.execute(&self.pool)).await?.rows_affected();
            total = total.saturating_add(deleted);
            if deleted < PURGE_BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }

    /// One statement: a conditional `UPDATE ... RETURNING` that also
    /// returns the row as found when it does not apply, so a refresh is one
    /// round trip.
    async fn rotate_if_current(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        let Ok(expected) = i64::try_from(rotation.expected_generation) else {
            // No stored generation is that large: the rotation cannot apply.
            return Ok(RotateOutcome::Unchanged(self.load(&rotation.handle).await?));
        };
        let q = self
            .query(&self.sql.rotate_if_current)
            .bind(rotation.handle.as_bytes().as_slice())
            .bind(expected)
            .bind(rotation.expected_hash.as_bytes().as_slice())
            .bind(rotation.new_hash.as_bytes().as_slice())
            .bind(rotation.now.unix_timestamp())
            .bind(rotation.nonce.as_bytes().as_slice())
            .bind(rotation.idle_expiry().map(OffsetDateTime::unix_timestamp));
        let row = self.bounded(q.fetch_optional(&self.pool)).await?;
        let Some(row) = row else {
            return Ok(RotateOutcome::Unchanged(None));
        };
        let record = decode_record(&row)?;
        let rotated: bool = row.try_get(ROTATED_COLUMN).map_err(map_error)?;
        Ok(if rotated {
            RotateOutcome::Rotated(record)
        } else {
            RotateOutcome::Unchanged(Some(record))
        })
    }
}

/// The column after the record's in the `rotate_if_current` statement: whether
/// the row was rotated.
const ROTATED_COLUMN: usize = 14;

/// Binds `$1..$14` in the order of the statements' column list.
fn bind_record(
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
fn decode_record(row: &PgRow) -> Result<SessionRecord, StoreError> {
    let get_err = |e: sqlx::Error| map_error(e);
    let handle: Vec<u8> = row.try_get(0).map_err(get_err)?;
    let handle = <[u8; SessionHandle::LEN]>::try_from(handle.as_slice())
        .map_err(|_| out_of_range("session handle length"))?;
    let prev_hash: Option<Vec<u8>> = row.try_get(8).map_err(get_err)?;
    let rotated_at: Option<i64> = row.try_get(9).map_err(get_err)?;
    let Json(access_claims): Json<Map<String, Value>> = row.try_get(11).map_err(get_err)?;
    let Json(session_data): Json<Value> = row.try_get(12).map_err(get_err)?;
    Ok(SessionRecord {
        handle: SessionHandle::from_bytes(handle),
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

fn to_i64(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| out_of_range(what))
}

fn to_u64(value: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| out_of_range(what))
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
    fn defaults_are_valid_identifiers() {
        assert!(
            Identifier::new(PostgresStore::DEFAULT_SCHEMA, "schema", MAX_IDENTIFIER_LEN).is_ok()
        );
        assert!(Identifier::new(PostgresStore::DEFAULT_TABLE, "table", MAX_IDENTIFIER_LEN).is_ok());
    }

    #[test]
    fn counters_above_i64_are_invalid_data_not_wrapped() {
        assert!(matches!(
            to_i64(u64::MAX, "v"),
            Err(StoreError::InvalidData(_))
        ));
        assert_eq!(to_i64(i64::MAX.unsigned_abs(), "v").ok(), Some(i64::MAX));
        assert!(matches!(to_u64(-1, "v"), Err(StoreError::InvalidData(_))));
    }

    #[test]
    fn bad_settings_are_config_errors() {
        assert!(PostgresStore::builder().schema("Robert'); DROP").is_err());
        assert!(PostgresStore::builder().table("").is_err());
        assert!(PostgresStore::builder().timeout(Duration::ZERO).is_err());
        assert!(
            PostgresStore::builder()
                .timeout(Duration::from_secs(601))
                .is_err()
        );
        assert!(PostgresStore::builder().max_connections(0).is_err());
    }
}
