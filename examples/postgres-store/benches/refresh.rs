//! Refresh latency and throughput over PostgreSQL, beside the server's
//! floor: a single-row primary-key `UPDATE` on the same table.
//!
//! `cargo bench -p sessionkit-postgres --bench refresh` (uses `DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`; prints `skipped` when
//! no server answers). Optional: `BENCH_OPS=<refreshes per client at 1 client>`.
//!
//! Round trips are counted as store calls (`sessionkit::testing::CountingStore`):
//! every `PostgresStore` method the bench reaches is one SQL statement,
//! `rotate_if_current` included.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sessionkit::testing::CountingStore;
use sessionkit::{RefreshKey, SessionManager, SigningKey};
use sessionkit_postgres::PostgresStore;
use sqlx::AssertSqlSafe;

struct Run {
    median: Duration,
    p99: Duration,
    per_second: f64,
}

fn summarize(mut latencies: Vec<Duration>, wall: Duration) -> Run {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    Run {
        median: at(0.5),
        p99: at(0.99),
        per_second: latencies.len() as f64 / wall.as_secs_f64(),
    }
}

/// Runs `clients` tasks, each doing `ops` sequential operations made by
/// `op(client)`; returns per-operation latencies and the wall time.
async fn drive<F, Fut>(clients: usize, ops: usize, op: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(ops);
                for _ in 0..ops {
                    let t = Instant::now();
                    op(c).await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    summarize(all, start.elapsed())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("sk_bench_{}", std::process::id());
    let Ok(store) = PostgresStore::builder()
        .schema(&schema)
        .expect("valid schema")
        .max_connections(20)
        .expect("valid size")
        .application_name("sk_bench")
        .connect(&url)
        .await
    else {
        println!("skipped: no PostgreSQL at {url}");
        return;
    };
    store.migrate().await.expect("migrate");
    let pool = store.pool().clone();
    let base_ops: usize = std::env::var("BENCH_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);

    // Each store call is one SQL statement, so one round trip.
    let counting = Arc::new(CountingStore::new(store));
    let manager = SessionManager::builder(Arc::clone(&counting))
        .signing_key(SigningKey::hs256("k", &[1; 32]).expect("key"))
        .refresh_key(RefreshKey::new(1, &[2; 32]).expect("key"))
        .build()
        .expect("manager");

    println!("| clients | operation | median | p99 | ops/s | round trips/op |");
    println!("|---|---|---|---|---|---|");
    let mut medians = Vec::new();
    for clients in [1usize, 16] {
        let ops = if clients == 1 {
            base_ops
        } else {
            (base_ops / 4).max(50)
        };
        // One session per client; each client refreshes its own lineage.
        let mut tokens = Vec::new();
        let mut handles = Vec::new();
        for c in 0..clients {
            let s = manager.create(format!("bench-{c}")).await.expect("create");
            handles.push(s.handle);
            tokens.push(tokio::sync::Mutex::new(s.refresh_token.expose().to_owned()));
        }
        let tokens = Arc::new(tokens);
        let refresh = {
            let (m, tokens) = (manager.clone(), Arc::clone(&tokens));
            move |c: usize| {
                let (m, tokens) = (m.clone(), Arc::clone(&tokens));
                async move {
                    let mut token = tokens[c].lock().await;
                    let next = m.refresh(&token).await.expect("refresh");
                    *token = next.refresh_token.expose().to_owned();
                }
            }
        };
        drive(clients, 20, refresh.clone()).await; // warm up: prepare statements
        counting.reset();
        let r = drive(clients, ops, refresh).await;
        let calls = counting.total();
        let trips = calls as f64 / (clients * ops) as f64;
        println!(
            "| {clients} | refresh | {:.3} ms | {:.3} ms | {:.0} | {trips:.2} |",
            r.median.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.per_second
        );

        let update: Arc<str> = format!(
            "UPDATE \"{schema}\".sessionkit_sessions SET version = version + 1 WHERE handle = $1"
        )
        .into();
        let floor = {
            let (pool, handles) = (pool.clone(), Arc::new(handles));
            move |c: usize| {
                let (pool, handles, update) =
                    (pool.clone(), Arc::clone(&handles), Arc::clone(&update));
                async move {
                    sqlx::query(AssertSqlSafe(update))
                        .bind(handles[c].as_bytes().as_slice())
                        .execute(&pool)
                        .await
                        .expect("update");
                }
            }
        };
        drive(clients, 20, floor.clone()).await;
        let f = drive(clients, ops, floor).await;
        println!(
            "| {clients} | floor: PK UPDATE | {:.3} ms | {:.3} ms | {:.0} | 1 |",
            f.median.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            f.per_second
        );
        medians.push((
            clients,
            r.median.as_secs_f64() / f.median.as_secs_f64(),
            r.per_second / f.per_second,
        ));
    }
    for (clients, latency, throughput) in medians {
        println!(
            "{clients} client(s): refresh/floor median latency x{latency:.2}, refresh/floor throughput {:.0}%",
            100.0 * throughput
        );
    }
    let _ = sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&pool)
        .await;
}
