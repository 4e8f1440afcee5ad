//! Memory per session in the memory store, counted by a global allocator
//! (which is why this is a binary of its own): live heap bytes after
//! creating N sessions without custom claims or data, divided by N, with the
//! returned tokens dropped. Hash-table capacity grows in powers of two, so
//! the figure moves with how full the tables happen to be; it is printed for
//! several N. The `tower-sessions` memory store holding an equivalent record
//! is measured the same way. Last, the bytes one entry of the cache of
//! verified tokens holds (a token of about 330 bytes with one custom claim).
//!
//! `cargo bench -p sessionkit --bench memory`
#![allow(clippy::expect_used, reason = "a benchmark stops on the first failure")]

use std::alloc::System;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use sessionkit::clock::ManualClock;
use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use time::OffsetDateTime;
use tower_sessions_core::SessionStore as _;
use tower_sessions_core::session::{Id, Record};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Sessions per user, as in the scaling benchmark.
const PER_USER: usize = 10;

/// Live bytes since the region began. `stats_alloc` already adds a
/// reallocation's growth to `bytes_allocated` (and its shrinking to
/// `bytes_deallocated`); `bytes_reallocated` is the same growth again, so it
/// is not added.
fn live(region: &Region<'_, System>) -> isize {
    let change = region.change();
    change.bytes_allocated as isize - change.bytes_deallocated as isize
}

fn sessionkit(rt: &tokio::runtime::Runtime, n: usize) -> f64 {
    let manager = SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::hs256("bench", &[0x42; 32]).expect("valid key"))
        .refresh_key(RefreshKey::new(1, &[0x24; 32]).expect("valid key"))
        .clock(Arc::new(ManualClock::starting_now()))
        .build()
        .expect("valid configuration");
    let users: Vec<String> = (0..n / PER_USER).map(|u| format!("user-{u}")).collect();
    let region = Region::new(GLOBAL);
    rt.block_on(async {
        for i in 0..n {
            let user = users.get(i / PER_USER).expect("in range");
            drop(manager.create(user).await.expect("create"));
        }
    });
    let bytes = live(&region);
    assert_eq!(manager.store().len(), n);
    bytes as f64 / n as f64
}

fn tower_sessions(rt: &tokio::runtime::Runtime, n: usize) -> f64 {
    let store = tower_sessions_memory_store::MemoryStore::default();
    let now = OffsetDateTime::now_utc();
    let region = Region::new(GLOBAL);
    rt.block_on(async {
        for i in 0..n {
            let mut data = HashMap::new();
            data.insert(
                "user_id".to_owned(),
                json!(format!("user-{}", i / PER_USER)),
            );
            data.insert("created_at".to_owned(), json!(now.unix_timestamp()));
            data.insert("auth_time".to_owned(), json!(now.unix_timestamp()));
            let mut record = Record {
                id: Id::default(),
                data,
                expiry_date: now + time::Duration::days(1),
            };
            store.create(&mut record).await.expect("create");
        }
    });
    let bytes = live(&region);
    drop(store);
    bytes as f64 / n as f64
}

/// Live bytes per entry of a manager's cache of verified tokens, filled
/// with `n` distinct tokens (the tokens themselves, made before the region
/// starts, are not counted; what the cache keeps of them is).
fn verified_cache(rt: &tokio::runtime::Runtime, n: usize) -> f64 {
    let manager = SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::hs256("bench", &[0x42; 32]).expect("valid key"))
        .refresh_key(RefreshKey::new(1, &[0x24; 32]).expect("valid key"))
        .clock(Arc::new(ManualClock::starting_now()))
        // Room for all of them: none is evicted.
        .verified_token_cache(2 * n)
        .max_sessions_per_user(0)
        .build()
        .expect("valid configuration");
    let tokens: Vec<String> = rt.block_on(async {
        let mut tokens = Vec::with_capacity(n);
        for i in 0..n {
            let s = manager
                .create(format!("user-{i}"))
                .claims(json!({ "role": "admin" }))
                .await
                .expect("create");
            tokens.push(s.access_token.into_string());
        }
        tokens
    });
    let region = Region::new(GLOBAL);
    for t in &tokens {
        drop(manager.verify(t).expect("valid"));
    }
    let bytes = live(&region);
    bytes as f64 / n as f64
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and a
    // million sessions is no test.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    println!("memory per session (live heap bytes / sessions, no custom claims or data)");
    println!(
        "{:>10}  {:>12}  {:>16}",
        "sessions", "sessionkit", "tower-sessions"
    );
    for n in [1_000, 100_000, 1_000_000] {
        let ours = sessionkit(&rt, n);
        let theirs = tower_sessions(&rt, n);
        println!("{n:>10}  {ours:>12.0}  {theirs:>16.0}");
    }
    println!();
    println!("verified-token cache: live heap bytes per cached token");
    for n in [1_000, 10_000] {
        println!("{n:>10}  {:>12.0}", verified_cache(&rt, n));
    }
}
