//! A PostgreSQL [`SessionStore`](sessionkit::store::SessionStore) for
//! [`sessionkit`], on [sqlx](https://docs.rs/sqlx) 0.9.
//!
//! ```no_run
//! use sessionkit::{RefreshKey, SessionManager, SigningKey};
//! use sessionkit_postgres::PostgresStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::builder()
//!     .schema("auth")?
//!     .timeout(std::time::Duration::from_secs(2))?
//!     .connect("postgres://app@127.0.0.1:5432/app")
//!     .await?;
//! store.migrate().await?; // idempotent: creates auth.sessionkit_sessions
//!
//! let manager = SessionManager::builder(store)
//!     .signing_key(SigningKey::hs256("k1", &[7; 32])?)
//!     .refresh_key(RefreshKey::new(1, &[9; 32])?)
//!     .build()?;
//! let tokens = manager.create("user-42").await?;
//! let next = manager.refresh(tokens.refresh_token.expose()).await?;
//! # let _ = next;
//! # Ok(())
//! # }
//! ```
//!
//! # How it keeps the contract
//!
//! - One row per session in one table (default `public.sessionkit_sessions`);
//!   the session handle is the primary key, with indexes on `user_id` (for
//!   [`list_by_user`](sessionkit::store::SessionStore::list_by_user) and
//!   [`delete_by_user`](sessionkit::store::SessionStore::delete_by_user)) and on a
//!   generated `expires_at` column (for
//!   [`purge_expired`](sessionkit::store::SessionStore::purge_expired)).
//! - Every method but one is one SQL statement; compare-and-swap is one
//!   `UPDATE ... WHERE handle = $1 AND version = $2`, so concurrent
//!   refreshes across any number of processes have exactly one winner.
//! - [`rotate_if_current`](sessionkit::store::SessionStore::rotate_if_current) is
//!   one statement too, so a refresh is one round trip: an
//!   `UPDATE ... WHERE handle = $1 AND generation = $2 AND current_hash = $3
//!   AND expires_at > $now RETURNING ...` in a CTE, with a `UNION ALL` that
//!   returns the row as found when the update did not apply. Under READ
//!   COMMITTED that row comes from the statement's snapshot, so after losing
//!   a race it may be the row from before the concurrent rotation; the core
//!   then sees a record that still looks current and falls back to `load`
//!   and compare-and-swap, which settle it. `expires_at` is a generated
//!   column and follows the new refresh expiry.
//! - [`insert_capped`](sessionkit::store::SessionStore::insert_capped) (every
//!   login, with the manager's session limit) is one short transaction: a
//!   transaction-scoped advisory lock on the user, then one statement that
//!   inserts and deletes the user's oldest sessions beyond the limit. The
//!   statement's snapshot is taken after the lock, so concurrent logins of
//!   one user, from any number of processes, never leave more sessions than
//!   the limit, not even for a moment (SEC-43).
//! - Purging deletes in batches (1000 rows by default,
//!   [`PostgresStoreBuilder::purge_batch_size`]), each its own statement,
//!   oldest expiry first, each starting in the expiry index where the
//!   previous one ended; a batch skips rows a writer holds and never waits
//!   for a refresh. `purge_expired` rests after each batch as long as the
//!   batch took, so that a large purge leaves refreshes most of the
//!   server's write-ahead log and CPU;
//!   [`PostgresStore::purge_expired_batches`] runs the batches one at a
//!   time for an application that paces its purge itself.
//! - Every operation is bounded ([`PostgresStoreBuilder::timeout`], 5 s by
//!   default) and fails with [`StoreError::Timeout`](sessionkit::store::StoreError)
//!   past it. The server's `lock_timeout` (2 s) and `statement_timeout`
//!   (3 s) are shorter than the client's bound, so a timeout normally means
//!   the server cancelled the statement and nothing was applied; a lost
//!   answer after the server finished stays ambiguous, as the store
//!   contract allows. Values the server rejects (for example a JSON string
//!   holding `\u0000`, which `jsonb` cannot store, or a counter above
//!   `i64::MAX`) give [`StoreError::InvalidData`](sessionkit::store::StoreError);
//!   anything else [`StoreError::Backend`](sessionkit::store::StoreError) with
//!   the sqlx error as its source.
//! - Only hashes of refresh secrets are stored, never a token; the store
//!   logs nothing.
//!
//! # Tests
//!
//! `cargo test -p sessionkit-postgres` runs sessionkit's conformance suite
//! and the multi-instance and fault tests against `DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), each in its own throwaway
//! schema. Without a server they print `skipped` and pass, unless
//! `SESSIONKIT_REQUIRE_SERVICES=1`.
#![forbid(unsafe_code)]

mod builder;
mod error;
mod liveness;
mod purge;
mod row;
mod sql;
mod store;
mod timeouts;

pub use crate::builder::PostgresStoreBuilder;
pub use crate::purge::PurgeBatches;
pub use crate::store::PostgresStore;
