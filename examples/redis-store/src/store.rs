//! [`RedisStore`]: the [`SessionStore`] over one auto-reconnecting connection.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, RedisError, ScriptInvocation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sessionkit::SessionHandle;
use sessionkit::store::{
    RotateOutcome, Rotation, RotationNonce, SessionRecord, SessionStore, StoreError, TokenHash,
};
use time::OffsetDateTime;

use crate::keys::{Keys, index_member};
use crate::scripts::{self, RECORD_FIELDS};

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

/// How many expiry-index entries one purge script examines before it hands
/// control back to Redis (and to other clients).
const PURGE_BATCH: usize = 500;

/// Sessions in Redis (standalone or a single primary), shared by every
/// process that uses the same server and prefix.
///
/// Cloning is cheap and shares the connection. Every operation is one Lua
/// script or one command (one round trip, atomic), bounded by the
/// configured timeout. See the [crate documentation](crate) for the key
/// layout.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    keys: Keys,
    timeout: Duration,
    max_record_bytes: usize,
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

    /// Starts configuring a store.
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::default()
    }

    /// A store over an existing connection manager, with the default
    /// settings.
    ///
    /// The manager's own response timeout is kept; the store adds its own
    /// bound of [`DEFAULT_TIMEOUT`] around every operation.
    pub fn from_connection_manager(conn: ConnectionManager) -> Self {
        Self::builder().build(conn)
    }

    /// The prefix of every key this store writes.
    pub fn prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// A handle on the underlying connection (shared, not a new one), for
    /// health checks and diagnostics.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Runs `op` on a clone of the connection, within the timeout.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        match tokio::time::timeout(self.timeout, op(self.conn.clone())).await {
            Ok(result) => result.map_err(map_redis_error),
            Err(_elapsed) => Err(StoreError::Timeout),
        }
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    /// The record as the session hash's field/value pairs (all but `u`),
    /// refused when its JSON part is over the size limit.
    fn encode(&self, record: &SessionRecord) -> Result<[(&'static str, String); 10], StoreError> {
        let body = Body {
            handle: record.handle,
            user_id: std::borrow::Cow::Borrowed(&record.user_id),
            created_at: record.created_at.unix_timestamp(),
            auth_time: record.auth_time.unix_timestamp(),
            access_claims: std::borrow::Cow::Borrowed(&record.access_claims),
            session_data: std::borrow::Cow::Borrowed(&record.session_data),
        };
        let json = serde_json::to_string(&body).map_err(StoreError::invalid_data)?;
        if json.len() > self.max_record_bytes {
            return Err(StoreError::invalid_data(RecordTooLarge {
                size: json.len(),
                max: self.max_record_bytes,
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
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.keys.prefix())
            .field("timeout", &self.timeout)
            .field("max_record_bytes", &self.max_record_bytes)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    /// Sets the prefix of every key (default [`DEFAULT_PREFIX`]).
    ///
    /// Stores with different prefixes on one server do not see each other's
    /// sessions. A prefix in braces (`{sessionkit}`) is a Redis Cluster hash
    /// tag that puts every key in one slot; see the crate documentation.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets how long one operation may take before it fails with
    /// [`StoreError::Timeout`] (default [`DEFAULT_TIMEOUT`]). It bounds the
    /// whole operation, reconnection included.
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

    /// Connects to the server at `url` and checks that it answers.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for an invalid URL or an unreachable server;
    /// [`StoreError::Timeout`] if connecting takes longer than the
    /// configured timeout.
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
        Ok(self.build(conn))
    }

    /// A store for the server at `url` that connects on first use, so that
    /// an application can start while Redis is down. Operations fail with
    /// a [`StoreError`] until the server is reachable.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for an invalid URL.
    pub fn connect_lazy(self, url: &str) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(StoreError::backend)?;
        let conn = ConnectionManager::new_lazy_with_config(client, self.manager_config())
            .map_err(StoreError::backend)?;
        Ok(self.build(conn))
    }

    /// A store over an existing connection manager.
    pub fn build(self, conn: ConnectionManager) -> RedisStore {
        RedisStore {
            conn,
            keys: Keys::new(&self.prefix),
            timeout: self.timeout,
            max_record_bytes: self.max_record_bytes,
        }
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

#[async_trait::async_trait]
impl SessionStore for RedisStore {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let fields = self.encode(record)?;
        let (secs, millis) = expiry(record);
        let session = self.keys.session(&record.handle);
        let user = self.keys.user(&record.user_id);
        let member = index_member(&record.handle, &user);
        let mut call = scripts::INSERT.prepare_invoke();
        call.key(&session)
            .key(&user)
            .key(self.keys.expiry_index())
            .arg(secs)
            .arg(millis)
            .arg(record.handle.to_string())
            .arg(member);
        for (name, value) in fields {
            call.arg(name).arg(value);
        }
        match self.invoke::<i64>(&call).await? {
            1 => Ok(()),
            _ => Err(StoreError::AlreadyExists),
        }
    }

    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        let key = self.keys.session(handle);
        let values: Vec<Option<String>> = self
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&RECORD_FIELDS[..])
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        assemble_for(&values, handle).map(Some)
    }

    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError> {
        let fields = self.encode(record)?;
        let (secs, millis) = expiry(record);
        let session = self.keys.session(&record.handle);
        let user = self.keys.user(&record.user_id);
        let member = index_member(&record.handle, &user);
        let mut call = scripts::COMPARE_AND_SWAP.prepare_invoke();
        call.key(&session)
            .key(&user)
            .key(self.keys.expiry_index())
            .arg(expected_version.to_string())
            .arg(secs)
            .arg(millis)
            .arg(member);
        for (name, value) in fields {
            call.arg(name).arg(value);
        }
        match self.invoke::<i64>(&call).await? {
            1 => Ok(true),
            0 => Ok(false),
            // The core never moves a session to another user; refuse rather
            // than corrupt the user index.
            _ => Err(StoreError::invalid_data(
                "the user id of a session cannot change",
            )),
        }
    }

    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        let mut call = scripts::DELETE.prepare_invoke();
        call.key(self.keys.session(handle))
            .key(self.keys.expiry_index())
            .arg(handle.to_string());
        Ok(self.invoke::<i64>(&call).await? == 1)
    }

    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let mut call = scripts::LIST_BY_USER.prepare_invoke();
        call.key(self.keys.user(user_id))
            .key(self.keys.expiry_index())
            .arg(self.keys.session_prefix());
        let found: Vec<Option<String>> = self.invoke(&call).await?;
        let chunks = found.chunks_exact(RECORD_FIELDS.len());
        if !chunks.remainder().is_empty() {
            return Err(StoreError::backend(CorruptRecord(
                "a listing that is not whole records",
            )));
        }
        chunks.map(assemble).collect()
    }

    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        let keep = keep.map(ToString::to_string).unwrap_or_default();
        let mut call = scripts::DELETE_BY_USER.prepare_invoke();
        call.key(self.keys.user(user_id))
            .key(self.keys.expiry_index())
            .arg(self.keys.session_prefix())
            .arg(keep);
        self.invoke(&call).await
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut total = 0u64;
        loop {
            let mut call = scripts::PURGE_BATCH.prepare_invoke();
            call.key(self.keys.expiry_index())
                .arg(now.unix_timestamp())
                .arg(PURGE_BATCH)
                .arg(self.keys.session_prefix());
            let (deleted, examined): (u64, usize) = self.invoke(&call).await?;
            total = total.saturating_add(deleted);
            if examined < PURGE_BATCH {
                return Ok(total);
            }
        }
    }

    /// One `EVALSHA`: the check and the rotation run in one script, which
    /// returns the record (rotated, or as found), so a refresh is one round
    /// trip.
    async fn rotate_if_current(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        let Some(new_generation) = rotation.new_generation() else {
            // No generation follows: the rotation can never apply.
            return Ok(RotateOutcome::Unchanged(self.load(&rotation.handle).await?));
        };
        let mut call = scripts::ROTATE_IF_CURRENT.prepare_invoke();
        call.key(self.keys.session(&rotation.handle))
            .key(self.keys.expiry_index())
            .arg(rotation.handle.to_string())
            .arg(rotation.expected_generation.to_string())
            .arg(encode_bytes(rotation.expected_hash.as_bytes()))
            .arg(new_generation.to_string())
            .arg(encode_bytes(rotation.new_hash.as_bytes()))
            .arg(rotation.now.unix_timestamp().to_string())
            .arg(
                rotation
                    .idle_expiry()
                    .map(|t| t.unix_timestamp().to_string())
                    .unwrap_or_default(),
            )
            .arg(encode_bytes(rotation.nonce.as_bytes()));
        let reply: Vec<Option<String>> = self.invoke(&call).await?;
        match reply.split_first() {
            Some((Some(status), values)) if status == "1" => Ok(RotateOutcome::Rotated(
                assemble_for(values, &rotation.handle)?,
            )),
            Some((Some(status), [])) if status == "0" => Ok(RotateOutcome::Unchanged(None)),
            Some((Some(status), values)) if status == "0" => Ok(RotateOutcome::Unchanged(Some(
                assemble_for(values, &rotation.handle)?,
            ))),
            _ => Err(StoreError::backend(CorruptRecord(
                "unexpected reply from the rotation script",
            ))),
        }
    }
}

/// The record's expiry as unix seconds (for the index and the scripts) and
/// unix milliseconds (for `PEXPIREAT`).
fn expiry(record: &SessionRecord) -> (i64, i64) {
    let secs = record.expires_at().unix_timestamp();
    (secs, secs.saturating_mul(1000))
}

/// The part of a record no rotation changes, stored as JSON in `d`; the
/// rest has a hash field each (see [`crate::scripts`]).
#[derive(Deserialize, Serialize)]
struct Body<'a> {
    handle: SessionHandle,
    user_id: std::borrow::Cow<'a, str>,
    created_at: i64,
    auth_time: i64,
    access_claims: std::borrow::Cow<'a, Map<String, Value>>,
    session_data: std::borrow::Cow<'a, Value>,
}

fn encode_bytes(bytes: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn corrupt(what: &'static str) -> StoreError {
    StoreError::backend(CorruptRecord(what))
}

/// [`assemble`], checking that the record is the one under `handle`'s key.
fn assemble_for(
    values: &[Option<String>],
    handle: &SessionHandle,
) -> Result<SessionRecord, StoreError> {
    let record = assemble(values)?;
    if record.handle != *handle {
        return Err(corrupt("record under another handle's key"));
    }
    Ok(record)
}

/// A record from the values of [`RECORD_FIELDS`], in that order.
fn assemble(values: &[Option<String>]) -> Result<SessionRecord, StoreError> {
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

fn number<T: std::str::FromStr>(text: &str) -> Result<T, StoreError> {
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

/// Timeouts are [`StoreError::Timeout`]; every other failure (refused or
/// dropped connection, I/O, server error) is [`StoreError::Backend`].
fn map_redis_error(err: RedisError) -> StoreError {
    if err.is_timeout() {
        StoreError::Timeout
    } else {
        StoreError::backend(err)
    }
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
struct CorruptRecord<M>(M);

impl<M: fmt::Display> fmt::Display for CorruptRecord<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt session record in redis: {}", self.0)
    }
}

impl<M: fmt::Debug + fmt::Display> StdError for CorruptRecord<M> {}
