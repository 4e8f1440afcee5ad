//! A Redis [`SessionStore`](sessionkit::store::SessionStore) for sessionkit.
//!
//! ```no_run
//! use sessionkit::store::SessionStore;
//! use sessionkit::{RefreshKey, SessionManager, SigningKey};
//! use sessionkit_redis::RedisStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
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
//! Every process that connects to the same server with the same prefix sees
//! the same sessions, so refresh-token rotation and theft detection work
//! across instances. The store passes `sessionkit::testing::run_store_suite`
//! and, over two connections with one prefix, `run_instance_suite`.
//!
//! # Key layout
//!
//! With prefix `p` (default `sessionkit`):
//!
//! | key | type | content |
//! |-----|------|---------|
//! | `p:s:{handle}` | hash | the session (fields below); expires (`PEXPIREAT`) at the session's expiry |
//! | `p:u:{hex(user_id)}` | set | the user's handles; expires with the user's longest-lived session |
//! | `p:exp` | sorted set | `handle ++ user key`, scored by expiry: what `purge_expired` scans |
//!
//! The handle's text is base64url and the user id is hex-encoded, so no user
//! id can contain `:`, `*` or a hash tag, or be a prefix of another's key.
//!
//! The session hash keeps what a rotation changes or checks in fields of
//! its own, and the rest as JSON, so that the scripts never parse JSON
//! (Lua's JSON would round large or precise numbers in session data):
//!
//! | field | content |
//! |-------|---------|
//! | `d` | JSON of what no rotation changes: handle, user id, `created_at`, `auth_time` (unix s), access claims, session data |
//! | `u` | the key of the user's set |
//! | `g` | generation (decimal) |
//! | `ch`, `ph` | current and previous refresh-secret hash (base64url; `ph` empty at generation 0) |
//! | `ra` | rotated at (unix s; empty before the first rotation) |
//! | `n` | rotation nonce (base64url) |
//! | `re`, `ae` | refresh (idle) and absolute expiry (unix s) |
//! | `v` | compare-and-swap version (decimal) |
//! | `e` | expiry, the earlier of `re` and `ae` (unix s) |
//!
//! # Atomicity and round trips
//!
//! Each [`SessionStore`](sessionkit::store::SessionStore) method is one round trip
//! and one atomic step: `load` is one `HMGET`; the others are Lua scripts
//! (`EVALSHA`, falling back to loading the script after a `NOSCRIPT`, e.g.
//! after a server restart). `compare_and_swap` checks the version and
//! replaces the record, its TTL and its index entry in one script, so two
//! callers, in any processes, can never both win one version.
//! [`rotate_if_current`](sessionkit::store::SessionStore::rotate_if_current) checks
//! the generation, the current hash and the expiry, rotates, moves the TTLs
//! and the index entry, and returns the record, all in one script: a
//! refresh with a current token is one round trip. It compares the stored
//! hash with `==`, not in constant time; only tokens whose MAC the core has
//! already verified reach it.
//! `purge_expired` runs in batches of 500 index entries (one round trip per
//! batch) so that no script blocks the server for long.
//!
//! # Expiry
//!
//! Redis deletes a session at its expiry by itself (by the server's clock),
//! so [`purge_expired`](sessionkit::store::SessionStore::purge_expired) is only
//! needed to trim the indexes of sessions Redis has already dropped, and to
//! delete sessions expired at a `now` that is ahead of the server's clock
//! (an injected clock): the expiry is kept beside the record and compared in
//! Lua. It counts only the sessions it deleted itself. Call it periodically:
//! the expiry index keeps one entry per session until a purge or a delete
//! removes it. A user set member whose session Redis expired is also dropped
//! lazily by `list_by_user` and `delete_by_user`, and each user set expires
//! with the user's longest-lived session.
//!
//! Because TTLs follow the server's clock, a record already expired by that
//! clock when it is written is dropped at once, which the contract allows. A
//! test with a [`ManualClock`](sessionkit::clock::ManualClock) should therefore
//! start in the future (the conformance suite uses 2030), not the past.
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
//! [`ConnectionManager`](redis::aio::ConnectionManager) reconnects in the
//! background, so the next operation can succeed.
//!
//! # Redis Cluster
//!
//! This store targets a standalone server (or a primary with replicas,
//! reached through its primary) and is not cluster-ready: it holds a
//! [`ConnectionManager`](redis::aio::ConnectionManager), which does not
//! follow `MOVED` redirections, and its scripts touch several keys. The
//! layout keeps a cluster port possible; what it would take:
//!
//! - **A script may only touch keys of one hash slot.** Every script but
//!   `load` touches a session hash, a user set and the expiry index, which
//!   hash to different slots; `list_by_user`, `delete_by_user` and
//!   `purge_expired` also reach session keys they discover inside Lua (they
//!   cannot be declared in advance), and `rotate_if_current` reaches the
//!   user set through the session's `u` field.
//! - **Single slot, no sharding.** A prefix in braces,
//!   `RedisStore::builder().prefix("{sessionkit}")`, makes every key share
//!   one hash tag, so one slot: each script stays one atomic step (the keys
//!   built in Lua are in the declared keys' slot). It keeps failover but puts
//!   every session on one primary. It needs a cluster client in place of the
//!   `ConnectionManager`, and is untested here.
//! - **Sharded.** `load` knows only the handle, so a session key can carry
//!   no user hash tag, and a user's set and sessions land in different
//!   slots; they cannot be updated atomically together. What must stay
//!   atomic is `compare_and_swap` and `rotate_if_current`, and both can be
//!   single-key: the hash keeps `e` beside `v`, so the expiry index (and
//!   the user set's TTL) can be repaired lazily (the purge
//!   already re-scores entries that lag) instead of being written in the
//!   same script. `insert` would become two steps, `SADD` to the user set
//!   first and then a create-if-absent of the session, so that a crash in
//!   between leaves a stale member (dropped on the next read, as today)
//!   rather than a session `list_by_user` cannot see. The expiry index would
//!   be split into one sorted set per slot tag, purged node by node.
//!
//! # Security
//!
//! Records hold only token hashes, never tokens. The store logs nothing.
//! Anyone who can write to the Redis keyspace can forge or revoke sessions:
//! protect the server with authentication, TLS (`rediss://`, after enabling
//! one of the `redis` crate's TLS features in your own manifest) and network
//! isolation, and use a prefix no other application writes to.
#![forbid(unsafe_code)]

mod codec;
mod connection;
mod keys;
mod ops;
mod placement;
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
