//! A Redis [`SessionStore`](sessionkit::store::SessionStore) for sessionkit,
//! on one server or a Redis Cluster.
//!
//! ```no_run
//! use sessionkit::store::SessionStore;
//! use sessionkit::{RefreshKey, SessionManager, SigningKey};
//! use sessionkit_redis::RedisStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
//! // or, on a cluster, through any of its nodes:
//! // let store = RedisStore::connect_cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]).await?;
//! let manager = SessionManager::builder(store)
//!     .signing_key(SigningKey::hs256("k1", &[7; 32])?)
//!     .refresh_key(RefreshKey::new(1, &[9; 32])?)
//!     .build()?;
//! let tokens = manager.create("alice").await?;
//! let next = manager.refresh(tokens.refresh_token.expose()).await?;
//! # let _ = next;
//! // Once in a while (Redis expires sessions by itself; this trims the indexes):
//! manager.store().purge_expired(time::OffsetDateTime::now_utc()).await?;
//! # Ok(()) }
//! ```
//!
//! Every process that connects to the same server (or cluster) with the
//! same prefix sees the same sessions, so refresh-token rotation and theft
//! detection work across instances. The store passes
//! `sessionkit::testing::run_store_suite`, `run_instance_suite`,
//! `run_fault_suite` and `run_history_suite` on a single server and on a
//! cluster. An application configured with `SESSIONKIT_STORE=redis-cluster`
//! and `REDIS_CLUSTER_NODES=redis://host:port,...` connects with
//! [`RedisStore::connect_cluster`]`(nodes.split(','))`.
//!
//! # Key layout
//!
//! One layout, one code path, for a single server and a cluster. Keys are
//! grouped in 16,384 **buckets**, one per Redis Cluster hash slot: the keys
//! of bucket `b` carry a hash tag `{t}` whose slot is `b` (`t` is the
//! smallest decimal number that hashes there), so they all live on the node
//! that serves slot `b`. With prefix `p` (default `sessionkit`):
//!
//! | key | type | content |
//! |-----|------|---------|
//! | `p:{t}:s:{handle}` | hash | one session (fields below), in the bucket of its handle's placement tag; expires (`PEXPIREAT`) at the session's expiry |
//! | `p:{t}:u:{hex(user_id)}` | sorted set | the user's handles (hex of their 18 bytes), scored by creation time, in the user's bucket; expires with the user's latest absolute expiry |
//! | `p:{t}:e` | sorted set | the bucket's sessions, `hex(handle) ++ hex(user_id)` scored by expiry: what `purge_expired` reads |
//! | `p:placement-key` | string | the 32-byte secret (hex) that places users in buckets |
//!
//! The handle's text is base64url and the user id is hex-encoded, so no user
//! id can contain `:`, `*` or a hash tag, or be a prefix of another's key;
//! the prefix itself must not contain `{` or `}`. There is no global key
//! that every write touches: the expiry index is per bucket.
//!
//! The session hash keeps what a rotation changes or checks in fields of
//! its own, and the rest as JSON, so that the scripts never parse JSON
//! (Lua's JSON would round large or precise numbers in session data):
//!
//! | field | content |
//! |-------|---------|
//! | `d` | JSON of what no rotation changes: handle, user id, `created_at`, `auth_time` (unix s), access claims, session data |
//! | `u` | the user id in hex |
//! | `g` | generation (decimal) |
//! | `ch`, `ph` | current and previous refresh-secret hash (base64url; `ph` empty at generation 0) |
//! | `ra` | rotated at (unix s; empty before the first rotation) |
//! | `n` | rotation nonce (base64url) |
//! | `re`, `ae` | refresh (idle) and absolute expiry (unix s) |
//! | `v` | compare-and-swap version (decimal) |
//! | `e` | expiry, the earlier of `re` and `ae` (unix s) |
//! | `op` | the id of the write that last changed the session (see "Failover") |
//!
//! # Placement: the tag in the handle
//!
//! A refresh token carries only the session handle, yet a refresh must be
//! one round trip to the one node that holds the session, and the per-user
//! operations (list, revoke all, the session limit) must be atomic, so all
//! of a user's sessions must share one slot. So the store chooses the
//! handle's 16-bit placement tag
//! ([`placement_tag`](sessionkit::store::SessionStore::placement_tag)) as
//! the user's bucket: the first 14 bits of HMAC-SHA256 of the user id,
//! keyed with a 32-byte secret that the first store to connect generates
//! and keeps in Redis (`SET ... NX`), and that every store of the prefix
//! reads on connect.
//!
//! - **Why keyed.** The tag travels in every token, and must not reveal
//!   the user id (SEC-02). An unkeyed hash (the user id's own slot, a CRC)
//!   could be tested against a dictionary of user ids; without the secret,
//!   a tag says nothing about whose it is. A random tag per user remembered
//!   in Redis would do as well, but `placement_tag` is synchronous (no round
//!   trip at login) and the keyed hash needs no per-user state; the secret
//!   is loaded once per process.
//! - **Linkability.** Two sessions of one user share a tag, so whoever sees
//!   two tokens can tell they *may* belong to one user; two users share a
//!   tag with probability 1/16,384, so the tag narrows nothing down to a
//!   person. Access tokens carry the user id in `sub` anyway; the refresh
//!   token is opaque apart from this.
//! - **Distribution.** The keyed hash spreads users uniformly over the
//!   16,384 buckets, one per slot, so sessions spread over the primaries in
//!   proportion to the slots each serves, and resharding moves users in
//!   steps of 1/16,384. A single user's sessions stay on one node (bounded
//!   by the session limit, 100 by default).
//! - **Keep the secret.** If `p:placement-key` were lost while sessions
//!   remain, new sessions of a user would go to another bucket than the
//!   old ones and the per-user operations would miss the old ones. It has no
//!   TTL, so it survives every eviction policy but `allkeys-*`: do not use
//!   those (they could evict sessions too). `FLUSHALL` loses both together.
//!
//! A record whose handle the store did not place (its tag is not its
//! user's bucket: records made by hand, by another store, or created by a
//! [lazy store](RedisStoreBuilder::connect_lazy) before it reached Redis)
//! is still stored under its handle's bucket and indexed in its user's:
//! everything works, but operations that span both are not atomic and
//! take extra round trips (its index entry is written first, so it is
//! never missing from a listing or a revocation).
//!
//! # Atomicity and round trips
//!
//! Every Lua script declares every key it touches in `KEYS`, and all of
//! them are in one slot (the `scripts` module of the source lists the keys
//! and the cost of each). For sessions the store placed:
//!
//! | operation | round trips | atomic | cost |
//! |---|---:|---|---|
//! | `load` | 1 (`HMGET`) | yes | O(1) |
//! | [`rotate_if_current`](sessionkit::store::SessionStore::rotate_if_current) (every refresh) | 1 script | yes | O(log N) |
//! | `insert`, `compare_and_swap`, `delete` | 1 script | yes | O(log N) |
//! | `insert_capped` below the limit | 1 script | yes | O(log N) |
//! | `insert_capped` at the limit | 2 runs of one script | yes | O(n + log N) |
//! | `list_by_user` | 2 (`ZRANGE`, script) | yes | O(n) |
//! | `delete_by_user` | 2 (`ZRANGE`, script) | yes | O(n log N) |
//! | `purge_expired` | 16,384 reads, then per 500 expired: a script and one `ZREM` per user | per batch | O(expired) |
//!
//! n is the number of the user's sessions (at most the manager's session
//! limit, 100 by default, so every per-user script does bounded work), N
//! the number of sessions in the bucket. A script may only touch keys it
//! declares, and the user's sessions are not known before reading the
//! index, so the per-user operations read the index first and then run a
//! script over exactly the sessions it named; the script checks that the
//! index still holds exactly those (else it writes nothing and the store
//! reads again, up to 32 times). So `delete_by_user` is one atomic step:
//! a session created while it runs is either deleted or created after it,
//! never missed. `insert_capped` first runs optimistically; when the user
//! is at the limit, that run writes nothing and names the user's sessions,
//! and the second run, with them declared, evicts the oldest (by creation
//! time, then handle; never the new one; sessions already gone do not
//! count) and inserts, in one step: the user is never over the limit.
//!
//! `compare_and_swap` checks the version and replaces the record, its TTL
//! and its expiry entry in one script, so two callers, in any processes,
//! can never both win one version. `rotate_if_current` checks the
//! generation, the current hash and the expiry, rotates, moves the TTL and
//! the expiry entry, and returns the record, all in one script: a refresh
//! with a current token is one round trip. It compares the stored hash with
//! `==`, not in constant time; only tokens whose MAC the core has already
//! verified reach it. `delete` cannot name the user's index (the handle is
//! all it has), so the entry stays until the next operation that reads the
//! index drops it (each checks every member's session).
//!
//! # Expiry
//!
//! Redis deletes a session at its expiry by itself (by the server's clock),
//! so [`purge_expired`](sessionkit::store::SessionStore::purge_expired) is only
//! needed to trim the indexes of sessions Redis has already dropped, and to
//! delete sessions expired at a `now` that is ahead of the server's clock
//! (an injected clock): the expiry is kept beside the record and compared in
//! Lua. It counts only the sessions it deleted itself. It visits every
//! bucket (so every primary of a cluster), 64 at a time. Call it
//! periodically: the expiry indexes keep one entry per session until a
//! purge or a delete removes it. The user index expires with the latest
//! absolute expiry of its sessions, which no rotation extends, so it
//! outlives every session it names.
//!
//! Because TTLs follow the server's clock, a record already expired by that
//! clock when it is written is not written at all, which the contract
//! allows. A test with a [`ManualClock`](sessionkit::clock::ManualClock)
//! should therefore start in the future (the conformance suite uses 2030),
//! not the past.
//!
//! # Redis Cluster
//!
//! [`RedisStore::connect_cluster`] uses the `redis` crate's cluster
//! connection: commands go to the primary serving their slot, `MOVED` and
//! `ASK` redirections are followed and `TRYAGAIN` (a script whose keys are
//! split by a slot migration in progress) waited out, in many short waits
//! bounded by the store's timeout, and a failover is followed once the
//! cluster has promoted a replica. Reads go to primaries only (the contract
//! wants fresh reads). Tested on a six-node local cluster
//! (`.ci/redis-cluster.sh`): the four suites, a slot holding live sessions
//! migrated key by key and back under refreshes, a manual failover and a
//! killed primary under refreshes, and a rotation lost with its primary.
//!
//! **Replayed commands.** The cluster connection re-sends a command whose
//! connection dropped or timed out, so a script can run twice for one call
//! (the first run applied, its answer lost, the second sent to the new
//! primary). Every write carries a fresh operation id, kept in the session
//! as `op`: a rotation, insert or swap that finds its own id answers as its
//! first run did, rather than reporting a conflict with itself (which, for
//! a rotation, would look like a token used twice). A replayed `delete` or
//! `delete_by_user` reports fewer deletions than it made.
//!
//! **What a failover can lose.** Replication is asynchronous: a primary
//! acknowledges a script before its replica has it. If the primary dies in
//! that window and the replica is promoted, the write is gone. For a
//! rotation, the client holds a token of a generation the store never
//! reached: its refresh fails as unauthorized
//! ([`Rejection::FutureGeneration`](sessionkit::Rejection::FutureGeneration),
//! the refresh table's row 6), never as theft, and the user logs in again; and the
//! token it replaced is current again, so a thief holding that token could
//! refresh once without being detected. A lost create is a session whose
//! tokens do not work; a lost revocation is a session that works again
//! until it expires. `WAIT 1 <ms>` after each write would make the primary
//! wait for a replica's acknowledgement before the client gets its answer:
//! it narrows the window (a failover can still pick a replica that missed
//! it, and `WAIT` can time out with the write applied), at the cost of a
//! replica round trip on every refresh (about the latency of one more
//! `EVALSHA` on a local network) and of refreshes stalling when a replica
//! is down. This store does not wait; the loss is the one case row 6 of the
//! refresh table exists for.
//!
//! # Limits
//!
//! A record whose JSON part (`d`) is over [`DEFAULT_MAX_RECORD_BYTES`] (64 KiB,
//! configurable with [`RedisStoreBuilder::max_record_bytes`]) is refused with
//! [`StoreError::InvalidData`](sessionkit::store::StoreError::InvalidData) before
//! anything is sent. Every operation is bounded by a timeout
//! ([`DEFAULT_TIMEOUT`], 5 s) and fails with
//! [`StoreError::Timeout`](sessionkit::store::StoreError::Timeout) when it runs
//! out; the operation may or may not have been applied then, which the core
//! tolerates. A version past `i64::MAX` cannot be incremented by `HINCRBY`:
//! a rotation of such a record fails with a backend error, writing nothing.
//! A refused, dropped or failing connection is
//! [`StoreError::Backend`](sessionkit::store::StoreError::Backend); the
//! connection reconnects in the background, so the next operation can
//! succeed. Without a session limit (`max_sessions_per_user(0)`), the
//! per-user operations cost in proportion to the user's sessions, however
//! many there are.
//!
//! # Security
//!
//! Records hold only token hashes, never tokens. The store logs nothing.
//! Anyone who can write to the Redis keyspace can forge or revoke sessions,
//! and anyone who can read it can read the placement key: protect the
//! servers with authentication, TLS (`rediss://`, after enabling one of
//! the `redis` crate's TLS features in your own manifest) and network
//! isolation, and use a prefix no other application writes to.
#![forbid(unsafe_code)]

mod codec;
mod connection;
mod insert;
mod keys;
mod ops;
mod placement;
mod purge;
mod scripts;
mod store;

pub use crate::connection::StoreConnection;
pub use crate::store::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RECORD_BYTES, DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisStore,
    RedisStoreBuilder,
};
/// The `redis` crate this store is built on, for
/// [`RedisStoreBuilder::build`] and [`RedisStore::connection`].
pub use redis;
