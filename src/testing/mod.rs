//! The store test kit, for every [`SessionStore`], ours or yours.
//!
//! ```
//! # #[cfg(feature = "memory-store")]
//! # fn main() {
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! use std::sync::Arc;
//! use sessionkit::MemoryStore;
//! use sessionkit::testing::{run_instance_suite, run_store_suite};
//!
//! // The contract, one fresh store per check.
//! run_store_suite(|| async { MemoryStore::new() }).await;
//! // Two instances of an application over the same sessions.
//! run_instance_suite(|| async {
//!     let shared = Arc::new(MemoryStore::new());
//!     (Arc::clone(&shared), shared)
//! })
//! .await;
//! # });
//! # }
//! # #[cfg(not(feature = "memory-store"))]
//! # fn main() {}
//! ```
//!
//! [`run_store_suite`] checks every rule of the store contract, including
//! that 64 concurrent compare-and-swaps with one expected version have
//! exactly one winner, and that
//! [`rotate_if_current`](crate::store::SessionStore::rotate_if_current),
//! whether the store implements it or keeps the default, behaves exactly as
//! the default does; then it runs the rotation and theft-detection
//! scenarios through a [`SessionManager`](crate::manager::SessionManager)
//! over the store, so a store that passes gets theft detection that works.
//! [`run_instance_suite`] runs theft detection, revocation and concurrent
//! refreshes across two instances over the same data; [`run_fault_suite`]
//! puts a failure at every store call of each operation; and
//! [`run_history_suite`] checks randomized concurrent histories for
//! linearizability. [`CountingStore`] and [`FaultyStore`] wrap a store to
//! count its calls or make them fail.
//!
//! A failed check panics with the name of the rule it broke: this module is
//! meant to be called from tests.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a test kit reports failures by panicking"
)]

mod contract;
mod counting;
mod fault;
mod fault_revocation;
mod fault_suite;
mod fixtures;
pub mod fuzz;
mod history;
mod history_model;
mod instances;
mod rotate;
mod through_manager;

use std::future::Future;

pub use self::counting::CountingStore;
pub use self::fault::{Fault, FaultyStore, Op, SleepFn};
pub use self::fault_suite::FaultReport;
pub use self::fixtures::sample_record;
#[doc(hidden)]
pub use self::fixtures::sign_access_token;
pub use self::history::{HistoryReport, Spawn};
use crate::store::SessionStore;

/// Runs every conformance check against stores made by `make_store`.
///
/// `make_store` is called once per check and should return an empty,
/// isolated store (its own schema, key prefix or database), because some
/// checks purge every expired record. Checks print their names as they run.
///
/// # Panics
/// When the store breaks a rule of the contract, naming the rule.
pub async fn run_store_suite<S, F, Fut>(make_store: F)
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! check {
        ($module:ident::$name:ident) => {
            println!("store suite: {}", stringify!($name));
            $module::$name(make_store().await).await;
        };
    }
    check!(contract::insert_then_load_round_trips);
    check!(contract::insert_existing_handle_fails_and_keeps_the_original);
    check!(contract::load_of_unknown_handle_is_none);
    check!(contract::compare_and_swap_follows_the_version);
    check!(contract::delete_reports_whether_it_existed);
    check!(contract::list_by_user_sees_exactly_the_users_records);
    check!(contract::delete_by_user_keeps_the_kept_and_other_users);
    check!(contract::purge_removes_only_expired_records);
    check!(contract::compare_and_swap_moves_the_expiry);
    check!(contract::user_ids_match_byte_for_byte);
    check!(contract::concurrent_compare_and_swap_has_one_winner);
    check!(contract::concurrent_insert_of_one_handle_has_one_winner);
    check!(contract::insert_capped_deletes_exactly_the_oldest_beyond_the_limit);
    check!(contract::insert_capped_never_deletes_the_new_record);
    check!(contract::insert_capped_under_concurrency_ends_within_the_limit);
    check!(rotate::rotate_if_current_rotates_a_matching_record);
    check!(rotate::rotate_if_current_leaves_a_mismatch_unchanged);
    check!(rotate::rotate_if_current_respects_both_expiries_to_the_second);
    check!(rotate::rotate_if_current_of_a_missing_handle_is_none);
    check!(rotate::rotate_if_current_caps_the_refresh_expiry_and_moves_the_store_expiry);
    check!(rotate::concurrent_rotate_if_current_has_one_winner);
    check!(through_manager::rotation_and_theft_detection_work_through_the_store);
    check!(through_manager::concurrent_refreshes_never_fork_a_lineage_with_grace);
    check!(through_manager::concurrent_refreshes_never_fork_a_lineage_without_grace);
    check!(through_manager::two_managers_share_sessions_through_the_store);
}

/// Runs the multi-instance scenarios: two
/// [`SessionManager`](crate::manager::SessionManager)s, one over
/// each store of a pair made by `make_pair`, acting on the same sessions.
///
/// The scenarios, each on a fresh pair, printing its name as it runs:
///
/// - a refresh token rotated on instance A and replayed on B after the
///   grace window is theft (SEC-18): the session is revoked for both, and
///   A's newer token fails too;
/// - a revocation on B stops a refresh and a strict verification on A
///   (SEC-13);
/// - 64 concurrent refreshes with one token, alternating between A and B,
///   with a grace window: all succeed with the same successor, the session
///   rotated exactly once, and the lineage continues (SEC-20, SEC-21);
/// - the same without a grace window: at most one succeeds, every other is
///   refused (theft or unauthorized, never a store error), and the losers'
///   theft verdict revokes the winner's lineage (SEC-20).
///
/// `make_pair` returns two stores that are **separate instances over the
/// same data**: each with its own connections, pool or client, as two
/// processes of an application would have, and both over one database
/// and schema, or one key prefix. Before each scenario the suite checks
/// that a record inserted through one store is seen, and deleted, through
/// the other. Only the data is checked: returning the same instance twice
/// passes too, but then the scenarios say nothing about what your store
/// keeps per instance (caches, prepared statements, connections). No
/// scenario purges and each uses its own user ids, so the pairs may share
/// data with each other and with other tests.
///
/// A store that is one process's memory has no second instance; for
/// `MemoryStore`, give both managers one
/// `Arc<MemoryStore>` (an `Arc` of a store is a store), as in the
/// [module example](self).
///
/// The racing refreshes are joined in the calling task: a network store
/// overlaps them at the server, a store that never waits runs them one
/// after another. For refreshes on parallel threads, use
/// [`run_instance_suite_with`].
///
/// # Panics
/// When a scenario fails, naming what broke, or when the two stores do not
/// share their data.
pub async fn run_instance_suite<S, F, Fut>(make_pair: F)
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = (S, S)>,
{
    instances::run(make_pair, None).await;
}

/// [`run_instance_suite`], with each racing refresh spawned as its own task
/// by `spawn`, so that refreshes on A and B run in parallel on a
/// multi-thread runtime, as they would in two processes:
///
/// ```
/// # #[cfg(feature = "memory-store")]
/// # fn main() {
/// use std::sync::Arc;
/// use sessionkit::MemoryStore;
/// use sessionkit::testing::{Spawn, run_instance_suite_with};
///
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// rt.block_on(async {
///     let spawn: Spawn = Arc::new(|task| {
///         let handle = tokio::spawn(task);
///         Box::pin(async move { handle.await.expect("refresh panicked") })
///     });
///     let make_pair = || async {
///         let shared = Arc::new(MemoryStore::new());
///         (Arc::clone(&shared), shared)
///     };
///     run_instance_suite_with(make_pair, spawn).await;
/// });
/// # }
/// # #[cfg(not(feature = "memory-store"))]
/// # fn main() {}
/// ```
///
/// The kit has no runtime of its own, which is why the caller spawns.
///
/// # Panics
/// As [`run_instance_suite`].
pub async fn run_instance_suite_with<S, F, Fut>(make_pair: F, spawn: Spawn)
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = (S, S)>,
{
    instances::run(make_pair, Some(spawn)).await;
}

/// Runs create, refresh, revoke and revoke-all through a store that fails
/// at every call they make, and checks SEC-24 after each.
///
/// For each operation, the suite runs it once without faults and counts its
/// store calls ([`FaultyStore::calls`]); then, for every call index and
/// every [`Fault`] kind, runs it again on a fresh session with that fault at
/// that call, and again with a second fault at each later call (so the
/// recovery a fault triggers, such as the read-back of an unconfirmed
/// compare-and-swap, fails too). After each run it checks that:
///
/// - the session is in its old or its new state, never in between;
/// - the client received the new tokens, or an error and nothing;
/// - a failed create left no session, a failed revoke left the session
///   whole or gone;
/// - a retry with the presented refresh token inside the grace window
///   receives the persisted successor (the same one every time, and the
///   same one the client received if it did); after the window, it is
///   theft exactly when the rotation was persisted (the refresh table's row 7);
///   with nothing persisted, the old token still works.
///
/// `make_store` is called once per operation and should return an empty,
/// isolated store. The number of runs and of faults injected is printed and
/// returned.
///
/// # Panics
/// When a check fails, with the planned faults, the injected faults and the
/// call log.
pub async fn run_fault_suite<S, F, Fut>(make_store: F) -> FaultReport
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    fault_suite::run(make_store).await
}

/// Runs randomized concurrent histories against the store until `ops`
/// operations have been checked, and checks that each history is
/// linearizable against a reference model of the refresh table.
///
/// Each round creates a session, rotates it zero to two times, then runs at
/// once: the owner refreshing with its newest token, a thief replaying a
/// copy of any token of the lineage, sometimes a revoke or revoke-all,
/// sometimes a strict verification, and a clock that moves (grace 0, 5 or
/// 10 s; idle lifetime 30 s, absolute 60 s, so rounds cross the edges). The
/// model tracks the generation, the current and previous tokens, the grace
/// window, expiry and revocation; a backtracking search finds a serial order
/// of the operations, each between its call and its return, that gives
/// every answer that was observed, or the suite panics.
///
/// Operations are joined in the calling task, and the store is wrapped in a
/// [`FaultyStore`] that yields to the executor before one call in two, so
/// they interleave at every store call even over a store that never waits.
/// Operations of a network store also overlap inside the server. For real
/// parallelism (an in-memory store on a multi-thread runtime), use
/// [`run_history_suite_with`].
///
/// Round `i` uses seed `seed + i`; the seed is printed first, and taken
/// from the `SESSIONKIT_SEED` environment variable when it is set, so a
/// failure replays with the same operations (the interleaving may differ).
///
/// # Panics
/// When a history is not linearizable (printing the history and its seed),
/// or when an operation fails with a store error.
pub async fn run_history_suite<S, F, Fut>(make_store: F, ops: usize) -> HistoryReport
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    history::run(make_store().await, ops, None).await
}

/// [`run_history_suite`], with each participant of a round spawned as its
/// own task by `spawn`, so that they run in parallel on a multi-thread
/// runtime:
///
/// ```
/// # #[cfg(feature = "memory-store")]
/// # fn main() {
/// use std::sync::Arc;
/// use sessionkit::testing::{Spawn, run_history_suite_with};
///
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// rt.block_on(async {
///     let spawn: Spawn = Arc::new(|task| {
///         let handle = tokio::spawn(task);
///         Box::pin(async move { handle.await.expect("participant panicked") })
///     });
///     run_history_suite_with(|| async { sessionkit::MemoryStore::new() }, 200, spawn).await;
/// });
/// # }
/// # #[cfg(not(feature = "memory-store"))]
/// # fn main() {}
/// ```
///
/// The kit has no runtime of its own, which is why the caller spawns.
///
/// # Panics
/// As [`run_history_suite`].
pub async fn run_history_suite_with<S, F, Fut>(
    make_store: F,
    ops: usize,
    spawn: Spawn,
) -> HistoryReport
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    history::run(make_store().await, ops, Some(spawn)).await
}
