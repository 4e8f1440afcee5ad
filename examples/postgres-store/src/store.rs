//! [`PostgresStore`]: the [`SessionStore`] over a PostgreSQL table.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use sessionkit::SessionHandle;
use sessionkit::store::{RotateOutcome, Rotation, SessionRecord, SessionStore, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgPool, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Connection, Row};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::builder::PostgresStoreBuilder;
use crate::error::{is_connection_lost, map_error};
use crate::liveness::Liveness;
use crate::purge::PurgeBatches;
use crate::row::{ROTATED_COLUMN, bind_record, decode_record, handle, to_i64};
use crate::sql::{MIGRATION_LOCK, Statements};
use crate::timeouts::Timeouts;

/// A [`SessionStore`] that keeps sessions in one PostgreSQL table.
///
/// Every trait method but one is a single SQL statement (one round trip
/// once the statement is prepared on the connection), and
/// [`compare_and_swap`](SessionStore::compare_and_swap) is one conditional
/// `UPDATE ... WHERE handle = $1 AND version = $2`, so any number of
/// processes can share the table and rotation stays race-free. The
/// exception is [`insert_capped`](SessionStore::insert_capped), one short
/// transaction that holds a per-user lock.
///
/// # Timeouts
///
/// Every operation completes or fails within the configured
/// [`timeout`](PostgresStoreBuilder::timeout) (5 s by default), with
/// [`StoreError::Timeout`] when the pool has no connection to give, the
/// server cancels the statement or the bound runs out. The server's
/// `statement_timeout` and `lock_timeout` are set shorter than the
/// client's bound, with a margin, so a timeout normally means that the
/// server cancelled the statement and nothing was applied. It stays
/// ambiguous when the answer is lost after the server finished: a commit
/// slower than the margin, a network partition, a client stalled for
/// longer than the margin. The write may then have been applied, as the
/// store contract allows for any failed operation; the core reads the
/// record back where that matters.
///
/// Cloning is cheap and shares the pool.
///
/// # Runtime
/// Needs a Tokio runtime with the time driver enabled, as sqlx does.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    sql: Arc<Statements>,
    timeouts: Timeouts,
    purge_batch_size: u32,
    liveness: Arc<Liveness>,
}

impl PostgresStore {
    /// The default table name, `sessionkit_sessions`.
    pub const DEFAULT_TABLE: &'static str = "sessionkit_sessions";
    /// The default schema, `public`.
    pub const DEFAULT_SCHEMA: &'static str = "public";

    pub(crate) fn new(
        pool: PgPool,
        sql: Arc<Statements>,
        timeouts: Timeouts,
        purge_batch_size: u32,
        liveness: Arc<Liveness>,
    ) -> Self {
        Self {
            pool,
            sql,
            timeouts,
            purge_batch_size,
            liveness,
        }
    }

    /// Starts configuring a store.
    pub fn builder() -> PostgresStoreBuilder {
        PostgresStoreBuilder::new()
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
    /// within the pool's share of the bound (a fifth: 1 s).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// Uses an existing pool, with the default table and bound.
    ///
    /// The pool's own settings apply: the store cannot set the server-side
    /// `statement_timeout` and `lock_timeout` on connections it did not
    /// open, so only the client-side bound holds and a
    /// [`StoreError::Timeout`] may be a write the server applied later. To
    /// keep "timeout means not applied", open the pool's connections with
    /// both settings below three fifths of the store's bound and a pool
    /// `acquire_timeout` of at most a fifth (see
    /// [`PostgresStoreBuilder::timeout`]). sqlx's default
    /// `test_before_acquire` adds a round trip to every operation.
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

    /// Starts a purge of the records expired at `now`, to run one batch at
    /// a time ([`PurgeBatches::next_batch`]) and pace yourself: back to
    /// back in a quiet hour, or with longer rests than
    /// [`purge_expired`](SessionStore::purge_expired), which rests after
    /// each batch as long as the batch took.
    ///
    /// Each batch is one statement that deletes at most
    /// [`purge_batch_size`](PostgresStoreBuilder::purge_batch_size) rows
    /// (1000 by default), oldest expiry first, starting where the previous
    /// batch ended. A batch passes over rows another statement has locked
    /// (`SKIP LOCKED`), so it never waits for a refresh; it locks only
    /// expired rows, which a refresh does not touch, and only until it
    /// commits.
    pub fn purge_expired_batches(&self, now: OffsetDateTime) -> PurgeBatches<'_> {
        PurgeBatches::new(self, now.unix_timestamp())
    }

    /// Runs one purge batch of the records expired at `now` (unix seconds),
    /// from expiry `from` on. Returns how many it deleted, the expiry where
    /// the next batch starts, and whether the batch was full.
    pub(crate) async fn purge_batch(
        &self,
        now: i64,
        from: Option<i64>,
    ) -> Result<(u64, Option<i64>, bool), StoreError> {
        let q = self
            .query(&self.sql.purge_expired)
            .bind(now)
            .bind(i64::from(self.purge_batch_size))
            .bind(from);
        let row = self.bounded(q.fetch_one(&self.pool)).await?;
        let deleted: i64 = row.try_get(0).map_err(map_error)?;
        let last: Option<i64> = row.try_get(1).map_err(map_error)?;
        let deleted = deleted.unsigned_abs();
        Ok((deleted, last, deleted >= u64::from(self.purge_batch_size)))
    }

    /// Checks that a connection can be had within the bound.
    pub(crate) async fn check_connection(&self) -> Result<(), StoreError> {
        self.bounded(async { self.pool.acquire().await.map(drop) })
            .await
    }

    /// Runs `op` within the bound and classifies its failure.
    ///
    /// The pool gives up on a connection after a fifth of the bound, and
    /// the server on a statement after three fifths, so the statement is
    /// cancelled by the server, normally, before this gives up on it.
    async fn bounded<T>(
        &self,
        op: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeouts.total, op).await {
            Ok(result) => result.map_err(|e| self.failed(e)),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// Classifies a failure, and after a lost connection has the pool test
    /// idle connections before use.
    fn failed(&self, err: sqlx::Error) -> StoreError {
        if is_connection_lost(&err) {
            self.liveness.connection_lost(self.pool.size());
        }
        map_error(err)
    }

    fn query(&self, sql: &Arc<str>) -> Query<'static, Postgres, PgArguments> {
        sqlx::query(AssertSqlSafe(Arc::clone(sql)))
    }

    /// Runs an idempotent read, again on another connection while the one
    /// it got turns out to be dead (after a server restart or terminated
    /// backends): reads have no effect to duplicate. A dead connection
    /// fails at once and the pool drops it, so this tries at most once per
    /// connection the pool held, plus a new one, all within the bound.
    async fn read(
        &self,
        sql: &Arc<str>,
        bind: impl Fn(Query<'static, Postgres, PgArguments>) -> Query<'static, Postgres, PgArguments>,
    ) -> Result<Vec<PgRow>, StoreError> {
        self.bounded(async {
            let mut retries = self.pool.size();
            loop {
                match bind(self.query(sql)).fetch_all(&self.pool).await {
                    Err(e) if retries > 0 && is_connection_lost(&e) => {
                        self.liveness.connection_lost(self.pool.size());
                        retries -= 1;
                    }
                    other => return other,
                }
            }
        })
        .await
    }

    /// The `insert_capped` transaction on `conn`: the user's lock, then the
    /// insert and the evictions in one statement, then the commit, sent
    /// only while at least the margin is left before `deadline` (a commit
    /// the client gives up on is the one ambiguous case). Returns the
    /// statement's row, or `None` when too little time was left to commit
    /// (nothing applied). Dropping the transaction unfinished rolls it back.
    async fn capped_transaction(
        &self,
        conn: &mut PoolConnection<Postgres>,
        lock: Query<'static, Postgres, PgArguments>,
        insert: Query<'static, Postgres, PgArguments>,
        deadline: Instant,
    ) -> Result<Option<PgRow>, sqlx::Error> {
        let mut tx = conn.begin().await?;
        lock.execute(&mut *tx).await?;
        let row = insert.fetch_one(&mut *tx).await?;
        if row.try_get::<bool, _>(0)? {
            if Instant::now() + self.timeouts.margin > deadline {
                return Ok(None);
            }
            tx.commit().await?;
        }
        Ok(Some(row))
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URL, no pool options: they may hold a password.
        f.debug_struct("PostgresStore")
            .field("schema", &self.sql.schema)
            .field("table", &self.sql.table)
            .field("timeout", &self.timeouts.total)
            .field("purge_batch_size", &self.purge_batch_size)
            .finish_non_exhaustive()
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

    /// One transaction: a transaction-scoped advisory lock on the user
    /// (the table's oid and a hash of the user id), then one statement
    /// that inserts the record and deletes the user's oldest others beyond
    /// the limit, then the commit. Creates for one user take turns on the
    /// lock, and each one's statement sees every record the previous ones
    /// committed, so the user never holds more than `max_per_user` records
    /// (from every process sharing the table), even for a moment. A
    /// single statement cannot promise that under READ COMMITTED: its
    /// snapshot predates any lock it takes, so it would miss records
    /// inserted concurrently.
    ///
    /// Four round trips (`BEGIN`, lock, statement, `COMMIT`). A timeout
    /// before the commit was sent applies nothing: the connection is
    /// closed and the server rolls back. Records inserted with
    /// [`insert`](SessionStore::insert) take no lock; they count towards
    /// the limit from the next create.
    async fn insert_capped(
        &self,
        record: &SessionRecord,
        max_per_user: usize,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        let keep_others = i64::try_from(max_per_user.saturating_sub(1)).unwrap_or(i64::MAX);
        let insert = bind_record(self.query(&self.sql.insert_capped), record)?.bind(keep_others);
        let lock = self.query(&self.sql.lock_user).bind(record.user_id.clone());
        let deadline = Instant::now() + self.timeouts.total;
        let mut conn = match tokio::time::timeout_at(deadline, self.pool.acquire()).await {
            Ok(conn) => conn.map_err(|e| self.failed(e))?,
            Err(_) => return Err(StoreError::Timeout),
        };
        let outcome = tokio::time::timeout_at(
            deadline,
            self.capped_transaction(&mut conn, lock, insert, deadline),
        )
        .await;
        let row = match outcome {
            Ok(Ok(Some(row))) => row,
            Ok(Ok(None)) => return Err(StoreError::Timeout),
            Ok(Err(e)) => return Err(self.failed(e)),
            Err(_) => {
                // The transaction may be anywhere, even in `BEGIN`: never
                // hand this connection to anyone else.
                conn.close_on_drop();
                return Err(StoreError::Timeout);
            }
        };
        if !row.try_get::<bool, _>(0).map_err(map_error)? {
            return Err(StoreError::AlreadyExists);
        }
        let evicted: Vec<Vec<u8>> = row.try_get(1).map_err(map_error)?;
        evicted.iter().map(|h| handle(h)).collect()
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

    /// Every batch of [`purge_expired_batches`](PostgresStore::purge_expired_batches),
    /// each followed by a rest as long as the batch took. Each batch is
    /// its own bounded statement, so a large backlog never holds many locks
    /// or runs into the bound; the rests leave the server half of the time
    /// and halve the purge's write-ahead log rate, which is what slows
    /// refreshes down while a large backlog goes (the purge takes at least
    /// twice as long). They grow with the batches when the server is busy.
    /// Run the batches yourself to purge back to back.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut batches = self.purge_expired_batches(now);
        let mut total = 0u64;
        loop {
            let started = Instant::now();
            let Some(deleted) = batches.next_batch().await? else {
                return Ok(total);
            };
            total = total.saturating_add(deleted);
            if !batches.is_finished() {
                tokio::time::sleep(started.elapsed()).await;
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
