//! [`PostgresStoreBuilder`]: where the table lives, the time bound, the pool.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sessionkit::ConfigError;
use sessionkit::store::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::liveness::Liveness;
use crate::sql::{Identifier, MAX_IDENTIFIER_LEN, Statements};
use crate::store::PostgresStore;
use crate::timeouts::{MIN_TOTAL, Timeouts};

/// The default bound on every operation.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest bound accepted by [`PostgresStoreBuilder::timeout`].
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// The default pool size for [`PostgresStoreBuilder::connect`].
const DEFAULT_MAX_CONNECTIONS: u32 = 10;
/// The default number of rows one purge statement deletes at most.
pub(crate) const DEFAULT_PURGE_BATCH: u32 = 1000;
/// The largest purge batch accepted.
const MAX_PURGE_BATCH: u32 = 100_000;

/// Options for a [`PostgresStore`]: table location, time bound, pool size,
/// purge batch size.
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
    purge_batch_size: u32,
}

impl PostgresStoreBuilder {
    pub(crate) fn new() -> Self {
        Self {
            schema: Identifier::from_static(PostgresStore::DEFAULT_SCHEMA),
            table: Identifier::from_static(PostgresStore::DEFAULT_TABLE),
            timeout: DEFAULT_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            application_name: "sessionkit".to_owned(),
            purge_batch_size: DEFAULT_PURGE_BATCH,
        }
    }

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

    /// The bound `T` on every operation (default 5 s), split so that the
    /// server gives up before the client does:
    ///
    /// | | share of `T` | at 5 s |
    /// |---|---|---|
    /// | waiting for a pool connection (connecting included) | 1/5 | 1 s |
    /// | server `lock_timeout` (any lock wait) | 2/5 | 2 s |
    /// | server `statement_timeout` (each statement) | 3/5 | 3 s |
    /// | margin for the server's answer to arrive | at least 1/5 | 1 s |
    /// | the client gives up on the operation | 1 | 5 s |
    ///
    /// Once it has a connection, the client waits the statement bound plus
    /// the margin, so a statement held up by a lock or a slow server is
    /// cancelled by the server, which then applies nothing, and the
    /// [`StoreError::Timeout`] means "not applied". The margin absorbs the
    /// network and scheduling delays of the answer; a bound of a few
    /// hundred milliseconds or more keeps it comfortable.
    ///
    /// What remains ambiguous: a timeout after the server finished the
    /// statement, during its commit (a slow WAL flush takes longer than the
    /// margin) or while its answer was in flight (a network partition, a
    /// client stalled for longer than the margin). The write may then be
    /// applied, as after any lost answer; the core's contract allows it and
    /// reads the record back where it matters (SEC-24).
    ///
    /// The server bounds are only set on connections the store opens
    /// ([`connect`](Self::connect), [`connect_lazy`](Self::connect_lazy)),
    /// not on a pool passed to [`from_pool`](Self::from_pool).
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] unless 10 ms <= `timeout` <= 10 min.
    pub fn timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        if !(MIN_TOTAL..=MAX_TIMEOUT).contains(&timeout) {
            return Err(ConfigError::InvalidSetting {
                name: "timeout",
                reason: "must be between 10 ms and 10 minutes",
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

    /// The most rows one purge statement deletes (default 1000): see
    /// [`PostgresStore::purge_expired_batches`]. A batch holds its rows'
    /// locks until it commits, so smaller batches hold them for less time;
    /// larger ones pay less per row.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] unless 1 <= `rows` <= 100,000.
    pub fn purge_batch_size(mut self, rows: u32) -> Result<Self, ConfigError> {
        if !(1..=MAX_PURGE_BATCH).contains(&rows) {
            return Err(ConfigError::InvalidSetting {
                name: "purge_batch_size",
                reason: "must be between 1 and 100,000",
            });
        }
        self.purge_batch_size = rows;
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
    /// within the pool's share of the bound (a fifth: 1 s by default).
    pub async fn connect(self, url: &str) -> Result<PostgresStore, StoreError> {
        let store = self.connect_lazy(url)?;
        store.check_connection().await?;
        Ok(store)
    }

    /// Prepares a pool to `url` without connecting: the first operation
    /// connects.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for a malformed URL.
    pub fn connect_lazy(self, url: &str) -> Result<PostgresStore, StoreError> {
        let timeouts = Timeouts::new(self.timeout);
        let options = PgConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .application_name(&self.application_name)
            .options(timeouts.server_options());
        let liveness = Arc::new(Liveness::default());
        let check = Arc::clone(&liveness);
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(timeouts.acquire)
            // Every operation is a single statement (or one short
            // transaction): a failure on a dead connection is reported (and
            // the connection dropped) rather than paying a ping round trip
            // on every acquire; after such a failure, idle connections are
            // tested until they answer (see `Liveness`).
            .test_before_acquire(false)
            .before_acquire(move |conn, _| {
                let check = Arc::clone(&check);
                Box::pin(async move { Ok(check.check(conn).await) })
            })
            .connect_lazy_with(options);
        Ok(self.with_pool(pool, liveness))
    }

    /// Uses an existing pool (see [`PostgresStore::from_pool`]).
    pub fn from_pool(self, pool: PgPool) -> PostgresStore {
        // Without the store's `before_acquire`, nothing reads it.
        self.with_pool(pool, Arc::default())
    }

    fn with_pool(self, pool: PgPool, liveness: Arc<Liveness>) -> PostgresStore {
        PostgresStore::new(
            pool,
            Arc::new(Statements::new(self.schema, self.table)),
            Timeouts::new(self.timeout),
            self.purge_batch_size,
            liveness,
        )
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
            .field("purge_batch_size", &self.purge_batch_size)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_config_errors() {
        let b = PostgresStoreBuilder::new;
        assert!(b().schema("Robert'); DROP").is_err());
        assert!(b().table("").is_err());
        assert!(b().timeout(Duration::ZERO).is_err());
        assert!(b().timeout(Duration::from_millis(9)).is_err());
        assert!(b().timeout(Duration::from_millis(10)).is_ok());
        assert!(b().timeout(Duration::from_secs(601)).is_err());
        assert!(b().max_connections(0).is_err());
        assert!(b().purge_batch_size(0).is_err());
        assert!(b().purge_batch_size(100_001).is_err());
        assert!(b().purge_batch_size(1).is_ok());
    }

    #[test]
    fn defaults_are_valid_identifiers() {
        assert!(
            Identifier::new(PostgresStore::DEFAULT_SCHEMA, "schema", MAX_IDENTIFIER_LEN).is_ok()
        );
        assert!(Identifier::new(PostgresStore::DEFAULT_TABLE, "table", MAX_IDENTIFIER_LEN).is_ok());
    }
}
