//! How the memory store scales: refresh, `verify_strict` and
//! `sessions_for_user` with 1k, 100k and 1M live sessions (10 per user), and
//! refresh throughput on 1 and 2 threads over disjoint sessions.
//!
//! Each store is built once per size. Refresh and `verify_strict` cycle over
//! up to 16,384 sessions spread evenly across the store, so the larger
//! stores are measured with their cache misses.
//!
//! `cargo bench -p sessionkit --bench scaling`
#![allow(clippy::expect_used, reason = "a benchmark stops on the first failure")]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sessionkit::clock::ManualClock;
use sessionkit::{AccessToken, MemoryStore, RefreshKey, RefreshToken, SessionManager, SigningKey};

/// Sessions per user.
const PER_USER: usize = 10;

/// Sessions a measurement cycles over, at most.
const SAMPLE: usize = 16_384;

fn manager() -> SessionManager<MemoryStore> {
    SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::hs256("bench", &[0x42; 32]).expect("valid key"))
        .refresh_key(RefreshKey::new(1, &[0x24; 32]).expect("valid key"))
        .clock(Arc::new(ManualClock::starting_now()))
        .build()
        .expect("valid configuration")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// A store with `n` sessions, and the tokens of two disjoint samples of them
/// (one to refresh, one to verify).
struct Populated {
    manager: SessionManager<MemoryStore>,
    refresh: Vec<RefreshToken>,
    access: Vec<AccessToken>,
}

fn populate(rt: &tokio::runtime::Runtime, n: usize) -> Populated {
    let manager = manager();
    let sample = SAMPLE.min(n / 2);
    let stride = n / (2 * sample);
    let mut refresh = Vec::with_capacity(sample);
    let mut access = Vec::with_capacity(sample);
    rt.block_on(async {
        for i in 0..n {
            let tokens = manager
                .create(format!("user-{}", i / PER_USER))
                .await
                .expect("create");
            if i.is_multiple_of(stride) {
                if (i / stride).is_multiple_of(2) {
                    if refresh.len() < sample {
                        refresh.push(tokens.refresh_token);
                    }
                } else if access.len() < sample {
                    access.push(tokens.access_token);
                }
            }
        }
    });
    Populated {
        manager,
        refresh,
        access,
    }
}

fn by_size(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("scaling");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in [1_000, 100_000, 1_000_000] {
        let Populated {
            manager,
            mut refresh,
            access,
        } = populate(&rt, n);
        let mut i = 0;
        let len = refresh.len();
        group.bench_function(BenchmarkId::new("refresh", n), |b| {
            b.iter(|| {
                let slot = refresh.get_mut(i % len).expect("in range");
                i += 1;
                *slot = rt
                    .block_on(manager.refresh(slot.expose()))
                    .expect("refresh")
                    .refresh_token;
            })
        });
        let mut i = 0;
        group.bench_function(BenchmarkId::new("verify_strict", n), |b| {
            b.iter(|| {
                let token = access.get(i % access.len()).expect("in range");
                i += 1;
                rt.block_on(manager.verify_strict(token.expose()))
                    .expect("valid")
            })
        });
        let mut i = 0;
        let users = n / PER_USER;
        group.bench_function(BenchmarkId::new("sessions_for_user_10", n), |b| {
            b.iter(|| {
                let user = format!("user-{}", (i * 7919) % users);
                i += 1;
                let list = rt
                    .block_on(manager.sessions_for_user(black_box(&user)))
                    .expect("list");
                assert_eq!(list.len(), PER_USER);
                list
            })
        });
        // Free the store before building the next one.
        drop(manager);
    }
    group.finish();
}

fn threads(c: &mut Criterion) {
    let rt = runtime();
    let n = 100_000;
    let manager = manager();
    let mut samples: Vec<Vec<RefreshToken>> = vec![Vec::new(), Vec::new()];
    rt.block_on(async {
        for i in 0..n {
            let tokens = manager
                .create(format!("user-{}", i / PER_USER))
                .await
                .expect("create");
            if let Some(sample) = samples.get_mut(i % 2) {
                sample.push(tokens.refresh_token);
            }
        }
    });
    let mut group = c.benchmark_group("refresh_threads");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for threads in [1usize, 2] {
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function(BenchmarkId::from_parameter(threads), |b| {
            b.iter_custom(|iters| {
                let barrier = Barrier::new(threads);
                std::thread::scope(|scope| {
                    let handles: Vec<_> = samples
                        .iter_mut()
                        .take(threads)
                        .map(|tokens| {
                            let manager = manager.clone();
                            let barrier = &barrier;
                            scope.spawn(move || {
                                let rt = runtime();
                                barrier.wait();
                                let start = Instant::now();
                                rt.block_on(async {
                                    for k in 0..iters as usize {
                                        let len = tokens.len();
                                        let slot = tokens.get_mut(k % len).expect("in range");
                                        *slot = manager
                                            .refresh(slot.expose())
                                            .await
                                            .expect("refresh")
                                            .refresh_token;
                                    }
                                });
                                start.elapsed()
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().expect("thread"))
                        .max()
                        .unwrap_or_default()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, by_size, threads);
criterion_main!(benches);
