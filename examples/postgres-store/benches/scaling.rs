//! PostgreSQL at a million sessions, in one run: refresh latency and
//! throughput with 10,000 and with 1,000,000 live sessions in the table (1
//! and 16 clients, measured in interleaved rounds so that both sizes see
//! the same machine), `list_by_user` at both sizes, the table and index
//! sizes per session, and a purge of 1,000,000 expired sessions (batch by
//! batch, as `purge_expired` runs them) while alternating 1- and 16-client
//! segments refresh, beside the same segments just before and just after;
//! then again on another 1,000,000 with `purge_expired`, which rests after
//! each batch as long as the batch took.
//!
//! ```sh
//! cargo bench -p sessionkit-postgres --bench scaling
//! ```
//!
//! Uses `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`)
//! and needs a role that may create schemas; prints `skipped` when no
//! server answers. Works in two schemas of its own and drops them at the
//! end (about 1.5 GB on disk while it runs). Optional settings:
//! `BENCH_SMALL` (10000), `BENCH_LARGE` (1000000) and `BENCH_EXPIRED`
//! (1000000) rows, `BENCH_ROUNDS` (6), `BENCH_OPS` (refreshes per round at
//! one client, 600; a quarter of it per client at 16), `BENCH_SEGMENT_MS`
//! (length of one measuring segment around the purge, 1000),
//! `BENCH_PURGE_BATCH` (the store's default, 1000).
//!
//! Refreshes go through a `SessionManager`; each client refreshes its own
//! 32 sessions in turn, created after the bulk load. Bulk rows have the
//! sizes of real ones: an 18-byte handle, a 36-byte user id with 10
//! sessions per user, 32-byte hashes and nonce, small claims and session
//! data.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "a benchmark"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sessionkit::store::SessionStore;
use sessionkit::testing::CountingStore;
use sessionkit::{RefreshKey, SessionManager, SigningKey};
use sessionkit_postgres::PostgresStore;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};
use time::OffsetDateTime;
use tokio::sync::Mutex;

type Manager = SessionManager<Arc<CountingStore<PostgresStore>>>;

const SESSIONS_PER_CLIENT: usize = 32;
const MAX_CLIENTS: usize = 16;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

/// One table under test: its schema, store, manager and refresh clients.
struct Table {
    label: &'static str,
    schema: String,
    store: PostgresStore,
    counting: Arc<CountingStore<PostgresStore>>,
    manager: Manager,
    clients: Vec<Mutex<Client>>,
}

/// A client's sessions: their current refresh tokens, refreshed in turn.
struct Client {
    tokens: Vec<String>,
    next: usize,
}

/// Latencies and wall time of some refreshes.
#[derive(Default)]
struct Sample {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Sample {
    fn add(&mut self, other: Sample) {
        self.latencies.extend(other.latencies);
        self.wall += other.wall;
    }

    fn at(&mut self, q: f64) -> Duration {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i]
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// When a client stops: after `ops` refreshes, at `deadline`, or once
/// `stop` is set, whichever comes first.
#[derive(Clone)]
struct Budget {
    ops: usize,
    deadline: Option<Instant>,
    stop: Option<Arc<AtomicBool>>,
}

impl Budget {
    fn ops(ops: usize) -> Self {
        Self {
            ops,
            deadline: None,
            stop: None,
        }
    }

    fn is_spent(&self, done: usize) -> bool {
        done >= self.ops
            || self.deadline.is_some_and(|d| Instant::now() >= d)
            || self
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
    }
}

impl Table {
    /// Runs `clients` clients, each refreshing its sessions in turn until
    /// its budget is spent.
    async fn refresh(self: &Arc<Self>, clients: usize, budget: Budget) -> Sample {
        let start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (table, budget) = (Arc::clone(self), budget.clone());
                tokio::spawn(async move {
                    let mut client = table.clients[c].lock().await;
                    let mut latencies = Vec::new();
                    while !budget.is_spent(latencies.len()) {
                        let i = client.next % client.tokens.len();
                        client.next += 1;
                        let t = Instant::now();
                        let next = table
                            .manager
                            .refresh(&client.tokens[i])
                            .await
                            .expect("refresh");
                        latencies.push(t.elapsed());
                        client.tokens[i] = next.refresh_token.expose().to_owned();
                    }
                    latencies
                })
            })
            .collect();
        let mut sample = Sample::default();
        for t in tasks {
            sample.latencies.extend(t.await.expect("client"));
        }
        sample.wall = start.elapsed();
        sample
    }

    fn qualified(&self) -> String {
        format!("\"{}\".sessionkit_sessions", self.schema)
    }
}

async fn bench() {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let Ok(admin) = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
    else {
        println!("skipped: no PostgreSQL at {url}");
        return;
    };
    let small_rows = setting("BENCH_SMALL", 10_000);
    let large_rows = setting("BENCH_LARGE", 1_000_000);
    let expired_rows = setting("BENCH_EXPIRED", 1_000_000);
    let rounds = setting("BENCH_ROUNDS", 6);
    let ops = setting("BENCH_OPS", 600);
    let segment = Duration::from_millis(setting("BENCH_SEGMENT_MS", 1000) as u64);
    let purge_batch = setting("BENCH_PURGE_BATCH", 1000);
    let _cleanup = Cleanup {
        url: url.clone(),
        schemas: vec![schema_name("small"), schema_name("large")],
    };

    let small = Arc::new(table(&url, "small", purge_batch).await);
    let large = Arc::new(table(&url, "large", purge_batch).await);
    let real = MAX_CLIENTS * SESSIONS_PER_CLIENT;
    for (t, rows) in [(&small, small_rows), (&large, large_rows)] {
        let started = Instant::now();
        bulk_load(&admin, t, 1, rows.saturating_sub(real), Expiry::Live).await;
        vacuum(&admin, t).await;
        println!(
            "loaded {} rows into the {} table in {:.1} s",
            rows.saturating_sub(real),
            t.label,
            started.elapsed().as_secs_f64()
        );
    }
    // The real sessions, after the bulk rows; then the sizes.
    let small = Arc::new(with_clients(small).await);
    let large = Arc::new(with_clients(large).await);
    println!();
    println!("| live sessions | rows | total per row | heap per row | indexes per row |");
    println!("|---:|---:|---:|---:|---:|");
    for t in [&small, &large] {
        vacuum(&admin, t).await;
        sizes(&admin, t).await;
    }

    // Refresh at both sizes, in interleaved rounds: each round runs both
    // tables at 1 and at 16 clients.
    for t in [&small, &large] {
        t.refresh(MAX_CLIENTS, Budget::ops(SESSIONS_PER_CLIENT))
            .await; // warm up
    }
    let mut samples: BTreeMap<(usize, usize), Sample> = BTreeMap::new();
    for t in [&small, &large] {
        t.counting.reset();
    }
    for round in 0..rounds {
        for (size, t) in [&small, &large].into_iter().enumerate() {
            for clients in [1, MAX_CLIENTS] {
                let per_client = if clients == 1 { ops } else { ops / 4 };
                let s = t.refresh(clients, Budget::ops(per_client)).await;
                samples.entry((size, clients)).or_default().add(s);
            }
        }
        println!("round {} of {rounds} done", round + 1);
    }
    let trips: Vec<f64> = [&small, &large]
        .iter()
        .enumerate()
        .map(|(size, t)| {
            let refreshes: usize = samples
                .iter()
                .filter(|((s, _), _)| *s == size)
                .map(|(_, v)| v.latencies.len())
                .sum();
            t.counting.total() as f64 / refreshes as f64
        })
        .collect();
    println!();
    println!("| live sessions | clients | refresh median | p99 | ops/s | round trips |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut medians = BTreeMap::new();
    for ((size, clients), s) in &mut samples {
        let label = [&small, &large][*size].label;
        let (median, p99) = (s.at(0.5), s.at(0.99));
        medians.insert((*size, *clients), (median, p99, s.per_second()));
        println!(
            "| {label} | {clients} | {} | {} | {:.0} | {:.2} |",
            ms(median),
            ms(p99),
            s.per_second(),
            trips[*size]
        );
    }
    for clients in [1, MAX_CLIENTS] {
        let (m0, p0, t0) = medians[&(0, clients)];
        let (m1, p1, t1) = medians[&(1, clients)];
        println!(
            "{clients} client(s), large/small: median x{:.2}, p99 x{:.2}, throughput x{:.2}",
            m1.as_secs_f64() / m0.as_secs_f64(),
            p1.as_secs_f64() / p0.as_secs_f64(),
            t1 / t0
        );
    }
    list_by_user(&admin, &small, &large, small_rows.saturating_sub(real)).await;

    // Purge a million expired sessions while refreshes run: back to back
    // (`purge_expired_batches`, batch by batch), then as `purge_expired`
    // does it (resting after each batch as long as it took), on a second
    // million.
    for (pass, pace) in [(0, false), (1, true)] {
        vacuum(&admin, &large).await; // the first pass's dead rows
        let started = Instant::now();
        let first = 10_000_001 + pass * expired_rows;
        bulk_load(&admin, &large, first, expired_rows, Expiry::Expired).await;
        vacuum(&admin, &large).await;
        println!(
            "\nloaded {expired_rows} expired rows into the large table in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        purge_beside_refreshes(&large, segment, pace).await;
    }
}

fn schema_name(label: &str) -> String {
    format!("sk_scale_{label}_{}", std::process::id())
}

async fn table(url: &str, label: &'static str, purge_batch: usize) -> Table {
    let schema = schema_name(label);
    let store = PostgresStore::builder()
        .schema(&schema)
        .expect("valid schema")
        .max_connections(20)
        .expect("valid size")
        .purge_batch_size(u32::try_from(purge_batch).expect("a valid batch size"))
        .expect("valid batch size")
        .application_name(format!("sk_scale_{label}"))
        .connect(url)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let counting = Arc::new(CountingStore::new(store.clone()));
    let manager = SessionManager::builder(Arc::clone(&counting))
        .signing_key(SigningKey::hs256("k", &[1; 32]).expect("key"))
        .refresh_key(RefreshKey::new(1, &[2; 32]).expect("key"))
        .build()
        .expect("manager");
    Table {
        label: if label == "small" { "10k" } else { "1M" },
        schema,
        store,
        counting,
        manager,
        clients: Vec::new(),
    }
}

/// Creates the clients' sessions through the manager.
async fn with_clients(t: Arc<Table>) -> Table {
    let mut t = Arc::into_inner(t).expect("not shared yet");
    for c in 0..MAX_CLIENTS {
        let mut tokens = Vec::new();
        for _ in 0..SESSIONS_PER_CLIENT {
            let s = t
                .manager
                .create(format!("{:032}-bench", c))
                .claims(json!({ "role": "member" }))
                .session_data(json!({ "device": "Firefox 133 on Linux", "ip": "203.0.113.7" }))
                .await
                .expect("create");
            tokens.push(s.refresh_token.expose().to_owned());
        }
        t.clients.push(Mutex::new(Client { tokens, next: 0 }));
    }
    t
}

#[derive(Clone, Copy)]
enum Expiry {
    /// Created in the last week, refresh expiry 1 to 7 days ahead.
    Live,
    /// Created 40 to 70 days ago, every expiry past.
    Expired,
}

/// Inserts `count` rows numbered from `first`, in statements of 100,000.
async fn bulk_load(admin: &PgPool, t: &Table, first: usize, count: usize, expiry: Expiry) {
    let created = match expiry {
        Expiry::Live => "now() - (i % 604800) * interval '1 second'",
        Expiry::Expired => "now() - interval '40 days' - (i % 2592000) * interval '1 second'",
    };
    let refresh = match expiry {
        Expiry::Live => "now() + interval '1 day' + (i % 518400) * interval '1 second'",
        Expiry::Expired => "c + interval '7 days'",
    };
    let sql = format!(
        "INSERT INTO {table} (handle, user_id, created_at, auth_time, absolute_expires_at, \
             refresh_expires_at, generation, current_hash, prev_hash, rotated_at, nonce, \
             access_claims, session_data, version) \
         SELECT substring(sha256(int8send(i) || '\\x01'::bytea) FROM 1 FOR 18), \
             md5((i / 10)::text)::uuid::text, c, c, c + interval '30 days', r, i % 50, \
             sha256(int8send(i) || '\\x02'::bytea), sha256(int8send(i) || '\\x03'::bytea), \
             r - interval '7 days', sha256(int8send(i) || '\\x04'::bytea), \
             '{{\"role\": \"member\"}}'::jsonb, \
             '{{\"device\": \"Firefox 133 on Linux\", \"ip\": \"203.0.113.7\"}}'::jsonb, \
             i % 50 + 1 \
         FROM generate_series($1::int8, $2::int8) AS i, \
             LATERAL (SELECT {created} AS c) AS created, \
             LATERAL (SELECT {refresh} AS r) AS refresh",
        table = t.qualified()
    );
    let last = first + count;
    let mut from = first;
    while from < last {
        let to = (from + 100_000).min(last);
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(i64::try_from(from).expect("small"))
            .bind(i64::try_from(to - 1).expect("small"))
            .execute(admin)
            .await
            .expect("bulk insert");
        from = to;
    }
}

async fn vacuum(admin: &PgPool, t: &Table) {
    sqlx::query(AssertSqlSafe(format!("VACUUM ANALYZE {}", t.qualified())))
        .execute(admin)
        .await
        .expect("vacuum");
}

/// Prints one row of the sizes table: bytes per row of the whole relation,
/// the heap and the indexes.
async fn sizes(admin: &PgPool, t: &Table) {
    let (rows, total, heap, indexes): (i64, i64, i64, i64) =
        sqlx::query_as(AssertSqlSafe(format!(
            "SELECT (SELECT count(*) FROM {q}), pg_total_relation_size('{q}'), \
             pg_relation_size('{q}'), pg_indexes_size('{q}')",
            q = t.qualified()
        )))
        .fetch_one(admin)
        .await
        .expect("sizes");
    let per = |bytes: i64| bytes as f64 / rows as f64;
    println!(
        "| {} | {rows} | {:.0} B | {:.0} B | {:.0} B |",
        t.label,
        per(total),
        per(heap),
        per(indexes)
    );
}

/// `list_by_user` of bulk users (10 sessions each) at both sizes,
/// interleaved.
async fn list_by_user(admin: &PgPool, small: &Table, large: &Table, bulk_rows: usize) {
    // User n holds bulk rows 10n to 10n + 9: users 1 to `last` have all 10
    // in both tables. Spelled as the bulk load spells them.
    let last = i64::try_from(bulk_rows.saturating_sub(9) / 10).expect("small");
    let users: Vec<String> = sqlx::query_scalar(
        "SELECT md5(n::text)::uuid::text FROM generate_series(1, least($1, 900)) AS n",
    )
    .bind(last)
    .fetch_all(admin)
    .await
    .expect("user ids");
    let mut times = [Vec::new(), Vec::new()];
    for user in users.iter().cycle().take(2000) {
        for (k, t) in [small, large].into_iter().enumerate() {
            let started = Instant::now();
            let found = t.store.list_by_user(user).await.expect("list");
            times[k].push(started.elapsed());
            assert_eq!(found.len(), 10, "user {user} in the {} table", t.label);
        }
    }
    for t in &mut times {
        t.sort_unstable();
    }
    println!(
        "\nlist_by_user (10 sessions): 10k {}, 1M {}, x{:.2}",
        ms(times[0][1000]),
        ms(times[1][1000]),
        times[1][1000].as_secs_f64() / times[0][1000].as_secs_f64()
    );
}

/// Runs the purge, batch by batch, while alternating segments of 1 and 16
/// clients refresh; runs the same segments before and after it, for
/// comparison. With `pace`, purges with `SessionStore::purge_expired`
/// (which rests after each batch as long as it took); without, runs the
/// batches back to back and times each.
async fn purge_beside_refreshes(t: &Arc<Table>, segment: Duration, pace: bool) {
    let mut before = segments_without_purge(t, segment).await;

    let wal_before = wal_bytes(t.store.pool()).await;
    let done = Arc::new(AtomicBool::new(false));
    let purge = {
        let (t, done) = (Arc::clone(t), Arc::clone(&done));
        tokio::spawn(async move {
            let now = OffsetDateTime::now_utc();
            let started = Instant::now();
            if pace {
                let rows = t.store.purge_expired(now).await.expect("purge");
                done.store(true, Ordering::Relaxed);
                return (rows, started.elapsed(), Vec::new());
            }
            let mut purge = t.store.purge_expired_batches(now);
            let mut batches = Vec::new();
            let mut rows = 0;
            loop {
                let b = Instant::now();
                let Some(deleted) = purge.next_batch().await.expect("purge") else {
                    break;
                };
                batches.push(b.elapsed());
                rows += deleted;
            }
            done.store(true, Ordering::Relaxed);
            (rows, started.elapsed(), batches)
        })
    };
    let mut during: BTreeMap<usize, Sample> = BTreeMap::new();
    let mut i = 0;
    while !done.load(Ordering::Relaxed) {
        let clients = if i % 2 == 0 { 1 } else { MAX_CLIENTS };
        let budget = Budget {
            ops: usize::MAX,
            deadline: Some(Instant::now() + segment),
            stop: Some(Arc::clone(&done)),
        };
        during
            .entry(clients)
            .or_default()
            .add(t.refresh(clients, budget).await);
        i += 1;
    }
    let (rows, took, mut batches) = purge.await.expect("purge task");
    let wal = wal_bytes(t.store.pool()).await - wal_before;
    let mut after = segments_without_purge(t, segment).await;
    let count = batches.len();
    batches.sort_unstable();
    let at = |q: f64| batches[((count as f64 - 1.0) * q).round() as usize];
    if pace {
        println!(
            "purge_expired (paced): {rows} rows in {:.1} s ({:.0} rows/s)",
            took.as_secs_f64(),
            rows as f64 / took.as_secs_f64(),
        );
    } else {
        println!(
            "back-to-back purge: {rows} rows in {count} batches in {:.1} s ({:.0} rows/s); \
             batch median {}, p99 {}, max {}",
            took.as_secs_f64(),
            rows as f64 / took.as_secs_f64(),
            ms(at(0.5)),
            ms(at(0.99)),
            ms(at(1.0))
        );
    }
    let left: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {} WHERE expires_at <= now()",
        t.qualified()
    )))
    .fetch_one(t.store.pool())
    .await
    .expect("count");
    println!(
        "expired rows left: {left}; WAL written meanwhile {:.0} MB ({:.0} bytes per purged row)",
        wal / 1e6,
        wal / rows as f64
    );
    println!();
    println!("| clients | refreshes | median | p99 | max | ops/s |");
    println!("|---:|---|---:|---:|---:|---:|");
    for clients in [1, MAX_CLIENTS] {
        let mut medians = Vec::new();
        for (label, samples) in [
            ("before the purge", &mut before),
            ("during the purge", &mut during),
            ("after the purge", &mut after),
        ] {
            let Some(s) = samples.get_mut(&clients) else {
                continue;
            };
            let (median, p99, max) = (s.at(0.5), s.at(0.99), s.at(1.0));
            medians.push(median.as_secs_f64());
            println!(
                "| {clients} | {label} | {} | {} | {} | {:.0} |",
                ms(median),
                ms(p99),
                ms(max),
                s.per_second()
            );
        }
        if let [before, during, after] = medians[..] {
            println!(
                "{clients} client(s): median during the purge / before x{:.2}, / after x{:.2}",
                during / before,
                during / after
            );
        }
    }
}

/// Two segments of 1 client and two of 16, alternating, without a purge.
async fn segments_without_purge(t: &Arc<Table>, segment: Duration) -> BTreeMap<usize, Sample> {
    let mut samples: BTreeMap<usize, Sample> = BTreeMap::new();
    for i in 0..4 {
        let clients = if i % 2 == 0 { 1 } else { MAX_CLIENTS };
        let budget = Budget {
            ops: usize::MAX,
            deadline: Some(Instant::now() + segment),
            stop: None,
        };
        samples
            .entry(clients)
            .or_default()
            .add(t.refresh(clients, budget).await);
    }
    samples
}

/// WAL written by the whole server so far (`pg_stat_wal`, PostgreSQL 14+).
async fn wal_bytes(pool: &PgPool) -> f64 {
    sqlx::query_scalar("SELECT wal_bytes::float8 FROM pg_stat_wal")
        .fetch_one(pool)
        .await
        .expect("pg_stat_wal")
}

/// Drops the bench's schemas when the bench ends, even by a panic.
struct Cleanup {
    url: String,
    schemas: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (url, schemas) = (self.url.clone(), self.schemas.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let Ok(pool) = PgPoolOptions::new().max_connections(1).connect(&url).await else {
                    return;
                };
                for schema in schemas {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                    )))
                    .execute(&pool)
                    .await;
                }
            });
        })
        .join();
    }
}
