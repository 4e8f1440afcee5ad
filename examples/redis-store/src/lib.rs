//! A Redis [`SessionStore`](sessionkit::SessionStore) for sessionkit.
//!
//! ```no_run
//! use sessionkit::{RefreshKey, SessionManager, SessionStore, SigningKey};
//! use sessionkit_redis::RedisStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
//! let manager = SessionManager::builder(store)
//!     .signing_key(SigningKey::hs256("k1", &[7; 32])?)
//!     .refresh_key(RefreshKey::new(1, &[9; 32])?)
//!     .build()?;
//! let tokens = manager.create("alice", serde_json::Value::Null, serde_json::Value::Null).await?;
//! let next = manager.refresh(tokens.refresh_token.expose()).await?;
//! # let _ = next;
//! // Once in a while (Redis expires sessions by itself; this trims the indexes):
//! manager.store().purge_expired(time::OffsetDateTime::now_utc()).await?;
//! # Ok(()) }
//! ```
//!
//! Every process that connects to the same server with the same prefix sees
//! the same sessions, so refresh-token rotation and theft detection work
//! across instances. The store passes `sessionkit::testing::run_store_suite`.
//!
//! # Key layout
//!
//! With prefix `p` (default `sessionkit`):
//!
//! | key | type | content |
//! |-----|------|---------|
//! | `p:s:{handle}` | hash | `v` version, `e` expiry (unix s), `u` user key, `d` record as JSON; expires (`PEXPIREAT`) at the session's expiry |
//! | `p:u:{hex(user_id)}` | set | the user's handles; expires with the user's longest-lived session |
//! | `p:exp` | sorted set | `handle ++ user key`, scored by expiry: what `purge_expired` scans |
//!
//! The handle's text is base64url and the user id is hex-encoded, so no user
//! id can contain `:`, `*` or a hash tag, or be a prefix of another's key.
//! The version and expiry sit beside the JSON so the scripts never parse it.
//!
//! # Atomicity and round trips
//!
//! Each [`SessionStore`](sessionkit::SessionStore) method is one round trip
//! and one atomic step: `load` is one `HGET`; the others are Lua scripts
//! (`EVALSHA`, falling back to loading the script after a `NOSCRIPT`, e.g.
//! after a server restart). `compare_and_swap` checks the version and
//! replaces the record, its TTL and its index entry in one script, so two
//! callers, in any processes, can never both win one version.
//! `purge_expired` runs in batches of 500 index entries (one round trip per
//! batch) so that no script blocks the server for long.
//!
//! # Expiry
//!
//! Redis deletes a session at its expiry by itself, so
//! [`purge_expired`](sessionkit::SessionStore::purge_expired) is only needed
//! to trim the expiry index (and user sets) of sessions Redis has already
//! dropped, and to delete sessions that are expired at a `now` earlier than
//! Redis's own clock (an injected clock). It counts only the sessions it
//! deleted itself. Call it periodically: the expiry index keeps one entry per
//! session until a purge (or a delete) removes it. A user set member whose
//! session Redis expired is also dropped lazily by `list_by_user` and
//! `delete_by_user`.
//!
//! # Limits
//!
//! A serialized record over [`DEFAULT_MAX_RECORD_BYTES`] (64 KiB,
//! configurable with [`RedisStoreBuilder::max_record_bytes`]) is refused with
//! [`StoreError::InvalidData`](sessionkit::StoreError::InvalidData) before
//! anything is sent. Every operation is bounded by a timeout
//! ([`DEFAULT_TIMEOUT`], 5 s) and fails with
//! [`StoreError::Timeout`](sessionkit::StoreError::Timeout) when it runs
//! out; the operation may or may not have been applied then, which the core
//! tolerates. A refused, dropped or failing connection is
//! [`StoreError::Backend`](sessionkit::StoreError::Backend); the
//! [`ConnectionManager`](redis::aio::ConnectionManager) reconnects in the
//! background, so the next operation can succeed.
//!
//! # Redis Cluster
//!
//! This store targets a standalone server (or a primary with replicas,
//! reached through its primary). It is not cluster-ready as is, and the
//! layout is chosen so that it can become so:
//!
//! - A Lua script may only touch keys of one hash slot. `insert`,
//!   `compare_and_swap`, `delete`, `delete_by_user`, `list_by_user` and
//!   `purge_expired` each touch a session hash, a user set and the expiry
//!   index, which hash to different slots; the list, delete and purge
//!   scripts also build session key names inside Lua, which cluster mode
//!   does not route.
//! - The simplest cluster deployment is a prefix in braces,
//!   `RedisStore::builder().prefix("{sessionkit}")`: every key then shares
//!   one hash tag, so one slot, and every script stays atomic; it gives up
//!   sharding (all sessions live on one primary) but keeps failover.
//! - Sharding would need per-slot layout: the session key can only carry the
//!   handle (`load` knows nothing else), so a user's set and their sessions
//!   cannot share a slot unless handles embed a user tag, which the core
//!   does not do. What must stay atomic is `compare_and_swap` on one key: it
//!   is single-key once the index updates move out of it (the hash carries
//!   `e`, so an index entry can be re-scored lazily, as the purge already
//!   does). `insert` would become `HSETNX`-style creation followed by a
//!   separate `SADD`, and the user index would be repaired lazily: stale
//!   members are already dropped on read, and a member missing after a
//!   crash between the two steps would hide a session from `list_by_user`
//!   until it expires, which breaks the contract's "sees every record"
//!   unless the `SADD` goes first. The expiry index would be split into one
//!   sorted set per slot tag.
//!
//! # Security
//!
//! Records hold only token hashes, never tokens. The store logs nothing.
//! Anyone who can write to the Redis keyspace can forge or revoke sessions:
//! protect the server with authentication, TLS (`rediss://`, after enabling
//! one of the `redis` crate's TLS features in your own manifest) and network
//! isolation, and use a prefix no other application writes to.
#![forbid(unsafe_code)]

mod keys;
mod scripts;
mod store;

pub use crate::store::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RECORD_BYTES, DEFAULT_PREFIX, DEFAULT_TIMEOUT, RedisStore,
    RedisStoreBuilder,
};
/// The `redis` crate this store is built on, for
/// [`RedisStore::from_connection_manager`] and [`RedisStore::connection`].
pub use redis;
