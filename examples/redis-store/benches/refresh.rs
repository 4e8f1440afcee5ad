//! Refresh latency and throughput over Redis, beside the server floor.
//!
//! `cargo bench -p sessionkit-redis --bench refresh` (with `REDIS_URL`, default
//! `redis://127.0.0.1:6379`, and `REDIS_CLUSTER_NODES`, default the six
//! nodes of `.ci/redis-cluster.sh`). On the single server and then on the
//! cluster, in one run, for 1 and 16 concurrent clients, each with its own
//! session (so the cluster's clients spread over its primaries), it measures `SessionManager::refresh` (one `EVALSHA` of the
//! rotation script: one round trip) and, as the floor, a raw `EVALSHA` of a
//! one-command script over the same connection. It prints medians, p99,
//! throughput, the refresh/floor ratios, and the round trips per refresh:
//! store calls counted by `sessionkit::testing::CountingStore` (every
//! `RedisStore` method a refresh uses is one command),
//! checked against the server's own count of `EVALSHA`/`EVAL` calls, which
//! only clients can issue (the commands a script runs inside Redis are not
//! round trips, and `INFO commandstats` counts them too).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark reports failures by panicking"
)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Script;
use sessionkit::testing::CountingStore;
use sessionkit::{RefreshKey, SessionManager, SigningKey};
use sessionkit_redis::{RedisStore, StoreConnection};

const WARM_UP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(3);
const ROUND_TRIP_SAMPLE: u64 = 1000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let nodes: Vec<String> = std::env::var("REDIS_CLUSTER_NODES")
        .map(|list| list.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|_| {
            (7000..=7005)
                .map(|p| format!("redis://127.0.0.1:{p}"))
                .collect()
        });
    let prefix = format!("sessionkit-bench:{}", std::process::id());
    let single = RedisStore::builder()
        .prefix(prefix.clone())
        .connect(&url)
        .await;
    let cluster = RedisStore::builder()
        .prefix(prefix.clone())
        .connect_cluster(&nodes)
        .await;
    println!("| target | workload | clients | median µs | p99 µs | ops/s |");
    println!("|---|---|---|---:|---:|---:|");
    let mut summary = Vec::new();
    for (name, store, servers) in [
        ("single node", single, vec![url.clone()]),
        ("cluster", cluster, nodes.clone()),
    ] {
        let store = match store {
            Ok(store) => store,
            Err(e) => {
                println!("skipped {name}: unreachable ({e})");
                continue;
            }
        };
        summary.push((name, bench_target(name, store, &prefix, &servers).await));
    }
    println!();
    for (name, (pairs, calls, scripts)) in summary {
        for (clients, refresh, eval) in pairs {
            println!(
                "{name}, clients {clients:>2}: refresh/floor median latency ratio {:.2}, refresh/floor throughput {:.0}%",
                refresh.median.as_secs_f64() / eval.median.as_secs_f64(),
                100.0 * refresh.per_sec / eval.per_sec,
            );
        }
        println!(
            "{name}: round trips per refresh: {calls:.2} store calls; {scripts:.2} EVALSHA/EVAL counted by the servers (over {ROUND_TRIP_SAMPLE} sequential refreshes; any other client of the servers included)"
        );
    }
}

type Pairs = Vec<(usize, Stats, Stats)>;

/// Refresh and the floor at 1 and 16 clients on one target, then the
/// round trips per refresh.
async fn bench_target(
    name: &str,
    store: RedisStore,
    prefix: &str,
    servers: &[String],
) -> (Pairs, f64, f64) {
    let conn = store.connection();
    // Every `RedisStore` method a refresh uses is one command, so one
    // round trip per store call.
    let counting = Arc::new(CountingStore::new(store.clone()));
    let counted = SessionManager::builder(Arc::clone(&counting))
        .signing_key(SigningKey::hs256("k", &[1; 32]).expect("key"))
        .refresh_key(RefreshKey::new(1, &[2; 32]).expect("key"))
        .build()
        .expect("manager");
    let manager = Arc::new(
        SessionManager::builder(store)
            .signing_key(SigningKey::hs256("k", &[1; 32]).expect("key"))
            .refresh_key(RefreshKey::new(1, &[2; 32]).expect("key"))
            .build()
            .expect("manager"),
    );
    let floor = Arc::new(Script::new("return redis.call('HGET', KEYS[1], 'v')"));
    let mut pairs = Vec::new();
    for clients in [1usize, 16] {
        let refresh = measure(clients, |i| refresh_client(Arc::clone(&manager), i)).await;
        report(name, "refresh", clients, &refresh);
        let eval = measure(clients, |i| {
            floor_client(conn.clone(), Arc::clone(&floor), prefix.to_owned(), i)
        })
        .await;
        report(name, "EVALSHA floor", clients, &eval);
        pairs.push((clients, refresh, eval));
    }
    let (calls, scripts) = round_trips_per_refresh(&counted, &counting, servers).await;
    for server in servers {
        cleanup(server, prefix).await;
    }
    (pairs, calls, scripts)
}

/// One client: its own session, refreshed in a loop. Returns a step that
/// performs one refresh.
async fn refresh_client(
    manager: Arc<SessionManager<RedisStore>>,
    i: usize,
) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send {
    let tokens = manager
        .create(format!("bench-user-{i}"))
        .await
        .expect("create");
    let token = Arc::new(std::sync::Mutex::new(
        tokens.refresh_token.expose().to_owned(),
    ));
    move || {
        let manager = Arc::clone(&manager);
        let token = Arc::clone(&token);
        Box::pin(async move {
            let current = token.lock().expect("lock").clone();
            let next = manager.refresh(&current).await.expect("refresh");
            *token.lock().expect("lock") = next.refresh_token.expose().to_owned();
        })
    }
}

/// One client of the floor: a trivial script on its own key.
async fn floor_client(
    conn: StoreConnection,
    script: Arc<Script>,
    prefix: String,
    i: usize,
) -> impl FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send {
    let key = format!("{prefix}:floor:{i}");
    let mut c = conn.clone();
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("v")
        .arg(1)
        .query_async(&mut c)
        .await
        .expect("HSET");
    move || {
        let mut conn = conn.clone();
        let script = Arc::clone(&script);
        let key = key.clone();
        Box::pin(async move {
            let _: Option<String> = script
                .key(&key)
                .invoke_async(&mut conn)
                .await
                .expect("EVALSHA");
        })
    }
}

struct Stats {
    median: Duration,
    p99: Duration,
    per_sec: f64,
}

/// Runs `clients` tasks, each looping on its step, through a warm-up and
/// then a timed window; returns latency percentiles and total throughput.
async fn measure<F, Fut, S>(clients: usize, make: F) -> Stats
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = S>,
    S: FnMut() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + 'static,
{
    let mut steps = Vec::new();
    for i in 0..clients {
        steps.push(make(i).await);
    }
    let start = Instant::now() + WARM_UP;
    let end = start + MEASURE;
    let tasks: Vec<_> = steps
        .into_iter()
        .map(|mut step| {
            tokio::spawn(async move {
                let mut samples = Vec::new();
                loop {
                    let t = Instant::now();
                    if t >= end {
                        return samples;
                    }
                    step().await;
                    if t >= start {
                        samples.push(t.elapsed());
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    all.sort();
    let ops = all.len() as u64;
    Stats {
        median: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
        per_sec: ops as f64 / MEASURE.as_secs_f64(),
    }
}

fn report(target: &str, name: &str, clients: usize, s: &Stats) {
    println!(
        "| {target} | {name} | {clients} | {:.1} | {:.1} | {:.0} |",
        s.median.as_secs_f64() * 1e6,
        s.p99.as_secs_f64() * 1e6,
        s.per_sec
    );
}

/// Store calls, and `EVALSHA`/`EVAL` calls as the server counts them, per
/// refresh over sequential refreshes.
async fn round_trips_per_refresh(
    manager: &SessionManager<Arc<CountingStore<RedisStore>>>,
    counting: &CountingStore<RedisStore>,
    servers: &[String],
) -> (f64, f64) {
    let tokens = manager.create("bench-count").await.expect("create");
    let mut token = tokens.refresh_token.expose().to_owned();
    counting.reset();
    let scripts_before = script_calls(servers).await;
    for _ in 0..ROUND_TRIP_SAMPLE {
        token = manager
            .refresh(&token)
            .await
            .expect("refresh")
            .refresh_token
            .expose()
            .to_owned();
    }
    // INFO is not counted: only the script commands are.
    let scripts = script_calls(servers).await.saturating_sub(scripts_before);
    let calls = counting.total();
    let n = ROUND_TRIP_SAMPLE as f64;
    (calls as f64 / n, scripts as f64 / n)
}

/// Calls of EVALSHA, EVAL and SCRIPT LOAD the servers have run, all
/// clients, summed over every server (each node of a cluster). Scripts
/// cannot run these, so each is a client's round trip.
async fn script_calls(servers: &[String]) -> u64 {
    let mut total = 0;
    for server in servers {
        let client = redis::Client::open(server.as_str()).expect("url");
        let mut c = client
            .get_multiplexed_async_connection()
            .await
            .expect("connection");
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut c)
            .await
            .expect("INFO");
        total += info
            .lines()
            .filter(|l| {
                ["cmdstat_evalsha:", "cmdstat_eval:", "cmdstat_script|load:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .filter_map(|l| {
                l.split("calls=")
                    .nth(1)?
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum::<u64>();
    }
    total
}

/// Deletes the bench's keys on one server (a primary; replicas refuse).
async fn cleanup(server: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(server) else {
        return;
    };
    let Ok(mut c) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let mut cursor = 0u64;
    loop {
        let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await
        else {
            return;
        };
        for key in keys {
            let _: Result<i64, _> = redis::cmd("DEL").arg(key).query_async(&mut c).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}
