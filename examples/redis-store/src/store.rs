//! [`RedisStore`]: the store over one server or a cluster, its settings and
//! its connection; the [`SessionStore`](sessionkit::store::SessionStore)
//! operations are in [`crate::ops`].

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{FromRedisValue, RedisError, ScriptInvocation};
use sessionkit::store::StoreError;

use crate::connection::StoreConnection;
use crate::keys::Keys;
use crate::placement::{PLACEMENT_KEY_LEN, PlacementKey};

/// The key prefix used unless another is configured: `sessionkit`.
pub const DEFAULT_PREFIX: &str = "sessionkit";

/// How long one operation may take before it fails with
/// [`StoreError::Timeout`], unless configured otherwise: 5 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long establishing a connection may take, unless configured otherwise:
/// 2 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest serialized record accepted, unless configured otherwise:
/// 64 KiB. Records whose JSON part (everything but the rotation fields:
/// ids, times, claims, session data) is larger are refused with
/// [`StoreError::InvalidData`] before anything is sent.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024;

/// How long one attempt of a cluster command may wait for its answer
/// before the cluster connection tries again (on the new primary, after a
/// failover); the operation as a whole is bounded by the store's timeout.
const CLUSTER_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// Sessions in Redis, on one server or a Redis Cluster, shared by every
/// process that uses the same server (or cluster) and prefix.
///
/// Cloning is cheap and shares the connection. Every operation is bounded
/// by the configured timeout. See the [crate documentation](crate) for the
/// key layout, the placement of sessions in hash slots and the round trips
/// of each operation.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) conn: StoreConnection,
    pub(crate) keys: Keys,
    pub(crate) timeout: Duration,
    pub(crate) max_record_bytes: usize,
    /// Loaded from Redis on connect (or on first use, for a lazy store).
    pub(crate) placement: Arc<OnceLock<PlacementKey>>,
    op_ids: Arc<OpIds>,
}

/// Settings for a [`RedisStore`]: prefix, timeouts and size limit.
///
/// ```no_run
/// # async fn demo() -> Result<(), sessionkit::store::StoreError> {
/// use std::time::Duration;
/// let store = sessionkit_redis::RedisStore::builder()
///     .prefix("myapp:sessions")
///     .timeout(Duration::from_secs(2))
///     .connect("redis://127.0.0.1:6379")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RedisStoreBuilder {
    prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
    max_record_bytes: usize,
}

impl RedisStore {
    /// Connects to the server at `url` (`redis://host:port/db`) with the
    /// default settings.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for an invalid URL or an unreachable server;
    /// [`StoreError::Timeout`] if connecting takes longer than
    /// [`DEFAULT_CONNECT_TIMEOUT`] (plus retries, bounded by
    /// [`DEFAULT_TIMEOUT`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::builder().connect(url).await
    }

    /// Connects to a Redis Cluster through any of its `nodes`
    /// (`redis://host:port` each; one reachable node is enough, the others
    /// are found from it) with the default settings.
    ///
    /// Empty entries are skipped and spaces trimmed, so a comma-separated
    /// list such as the `REDIS_CLUSTER_NODES` variable can be passed split:
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let nodes = std::env::var("REDIS_CLUSTER_NODES")?;
    /// let store = sessionkit_redis::RedisStore::connect_cluster(nodes.split(',')).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`StoreError::Backend`] for an empty list, an invalid URL or when no
    /// node answers; [`StoreError::Timeout`] if connecting takes longer
    /// than [`DEFAULT_TIMEOUT`].
    pub async fn connect_cluster<I>(nodes: I) -> Result<Self, StoreError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::builder().connect_cluster(nodes).await
    }

    /// Starts configuring a store.
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// The prefix of every key this store writes.
    pub fn prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// A handle on the underlying connection (shared, not a new one), for
    /// health checks and diagnostics.
    pub fn connection(&self) -> StoreConnection {
        self.conn.clone()
    }

    /// Runs `op` on a clone of the connection, within the timeout.
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(StoreConnection) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        match tokio::time::timeout(self.timeout, op(self.conn.clone())).await {
            Ok(result) => result.map_err(map_redis_error),
            Err(_elapsed) => Err(StoreError::Timeout),
        }
    }

    pub(crate) async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    /// A fresh id for one write: what lets a script recognise a replay of
    /// its own call (see [`crate::scripts`]).
    pub(crate) fn op_id(&self) -> String {
        let n = self.op_ids.next.fetch_add(1, Ordering::Relaxed);
        format!("{}{n:x}", self.op_ids.base)
    }

    /// The placement key, loaded from Redis the first time (created there
    /// by the first store that needs it).
    pub(crate) async fn placement(&self) -> Result<&PlacementKey, StoreError> {
        if let Some(key) = self.placement.get() {
            return Ok(key);
        }
        let key = self.load_placement_key().await?;
        Ok(self.placement.get_or_init(|| key))
    }

    /// `SET key value NX GET`: ours if none existed, else the existing one,
    /// in one round trip, so that every process sharing the prefix agrees.
    async fn load_placement_key(&self) -> Result<PlacementKey, StoreError> {
        let mut fresh = [0u8; PLACEMENT_KEY_LEN];
        getrandom::fill(&mut fresh).map_err(|e| StoreError::backend(e.to_string()))?;
        let name = self.keys.placement_key();
        let proposed = hex::encode(fresh);
        let existing: Option<String> = self
            .run(|mut conn| async move {
                redis::cmd("SET")
                    .arg(&name)
                    .arg(&proposed)
                    .arg("NX")
                    .arg("GET")
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let Some(existing) = existing else {
            return Ok(PlacementKey::new(&fresh));
        };
        let mut key = [0u8; PLACEMENT_KEY_LEN];
        hex::decode_to_slice(&existing, &mut key)
            .map_err(|_| StoreError::backend(BadPlacementKey))?;
        Ok(PlacementKey::new(&key))
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.keys.prefix())
            .field("cluster", &self.conn.is_cluster())
            .field("timeout", &self.timeout)
            .field("max_record_bytes", &self.max_record_bytes)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    /// Sets the prefix of every key (default [`DEFAULT_PREFIX`]).
    ///
    /// Stores with different prefixes on one server do not see each other's
    /// sessions. The prefix must not contain `{` or `}`: the store puts a
    /// hash tag of its own in every key (see the crate documentation).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets how long one operation may take before it fails with
    /// [`StoreError::Timeout`] (default [`DEFAULT_TIMEOUT`]). It bounds the
    /// whole operation, reconnection and cluster redirections included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how long one connection attempt may take (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the largest serialized record accepted, in bytes (default
    /// [`DEFAULT_MAX_RECORD_BYTES`]).
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Connects to the server at `url`, checks that it answers and loads
    /// the placement key.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for an invalid URL or prefix, or an
    /// unreachable server; [`StoreError::Timeout`] if connecting takes
    /// longer than the configured timeout.
    pub async fn connect(self, url: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::backend)?;
        let config = self.manager_config();
        let conn = tokio::time::timeout(
            self.timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_elapsed| StoreError::Timeout)?
        .map_err(map_redis_error)?;
        self.build(conn).await
    }

    /// Connects to a Redis Cluster through any of its `nodes` and loads
    /// the placement key. See [`RedisStore::connect_cluster`].
    ///
    /// # Errors
    /// As [`RedisStore::connect_cluster`], and [`StoreError::Backend`] for
    /// an invalid prefix.
    pub async fn connect_cluster<I>(self, nodes: I) -> Result<RedisStore, StoreError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let nodes: Vec<String> = nodes
            .into_iter()
            .map(|n| n.as_ref().trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        if nodes.is_empty() {
            return Err(StoreError::backend("no Redis Cluster node given"));
        }
        let client = ClusterClientBuilder::new(nodes)
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.timeout.min(CLUSTER_ATTEMPT_TIMEOUT))
            // Redirections and TRYAGAIN during a slot migration, and the
            // seconds a failover takes: many short waits (10 to 500 ms, not
            // the crate's default of 1.28 s at least), bounded by the
            // store's timeout.
            .retries(64)
            .min_retry_wait(10)
            .max_retry_wait(500)
            // The store's own timeout bounds the operation as a whole,
            // redirections and failovers included.
            .overall_response_timeout(None)
            .build()
            .map_err(StoreError::backend)?;
        let conn: ClusterConnection =
            tokio::time::timeout(self.timeout, client.get_async_connection())
                .await
                .map_err(|_elapsed| StoreError::Timeout)?
                .map_err(map_redis_error)?;
        self.build(conn).await
    }

    /// A store for the server at `url` that connects on first use, so that
    /// an application can start while Redis is down. Operations fail with
    /// a [`StoreError`] until the server is reachable.
    ///
    /// The placement key is loaded by the first operation that reaches
    /// Redis; a session created before that is placed in a bucket that is
    /// not its user's (see "Sessions not placed by the store" in the crate
    /// documentation).
    ///
    /// # Errors
    /// [`StoreError::Backend`] for an invalid URL or prefix.
    pub fn connect_lazy(self, url: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::backend)?;
        let conn = ConnectionManager::new_lazy_with_config(client, self.manager_config())
            .map_err(StoreError::backend)?;
        self.assemble(StoreConnection::single(conn))
    }

    /// A store over an existing connection: a [`ConnectionManager`], a
    /// [`ClusterConnection`] or another store's [`StoreConnection`]. Loads
    /// the placement key.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for an invalid prefix or when the placement
    /// key cannot be read; [`StoreError::Timeout`].
    pub async fn build(self, conn: impl Into<StoreConnection>) -> Result<RedisStore, StoreError> {
        let store = self.assemble(conn.into())?;
        store.placement().await?;
        Ok(store)
    }

    fn assemble(self, conn: StoreConnection) -> Result<RedisStore, StoreError> {
        if self.prefix.contains(['{', '}']) {
            return Err(StoreError::backend(
                "a key prefix must not contain `{` or `}`",
            ));
        }
        let mut base = [0u8; 8];
        getrandom::fill(&mut base).map_err(|e| StoreError::backend(e.to_string()))?;
        Ok(RedisStore {
            conn,
            keys: Keys::new(&self.prefix),
            timeout: self.timeout,
            max_record_bytes: self.max_record_bytes,
            placement: Arc::new(OnceLock::new()),
            op_ids: Arc::new(OpIds {
                base: hex::encode(base),
                next: AtomicU64::new(0),
            }),
        })
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        // Few, short retries: the operation timeout is the real bound, and a
        // down server should be reported, not waited for.
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500))
    }
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

impl From<ConnectionManager> for StoreConnection {
    fn from(conn: ConnectionManager) -> Self {
        Self::single(conn)
    }
}

impl From<ClusterConnection> for StoreConnection {
    fn from(conn: ClusterConnection) -> Self {
        Self::cluster(conn)
    }
}

/// Where write ids come from: 64 random bits per store, then a counter.
struct OpIds {
    base: String,
    next: AtomicU64,
}

/// Timeouts are [`StoreError::Timeout`]; every other failure (refused or
/// dropped connection, I/O, server error) is [`StoreError::Backend`].
pub(crate) fn map_redis_error(err: RedisError) -> StoreError {
    if err.is_timeout() {
        StoreError::Timeout
    } else {
        StoreError::backend(err)
    }
}

/// The placement key in Redis is not 32 bytes of hex.
#[derive(Debug)]
struct BadPlacementKey;

impl fmt::Display for BadPlacementKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the placement key in redis is not 64 hex digits")
    }
}

impl StdError for BadPlacementKey {}
