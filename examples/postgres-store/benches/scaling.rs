//! PostgreSQL at a million sessions, in one run: refresh latency and
//! throughput with 10,000 and with 1,000,000 live sessions in the table (1
//! and 16 clients; for latency each client alternates between the two
//! tables refresh by refresh, so that both sizes see the same moments of
//! the machine), `list_by_user` at both sizes, the table and index sizes
//! per session, and two purges of 1,000,000 expired sessions while
//! refreshes run, back to back and then paced as `purge_expired` paces
//! itself (a rest after each batch as long as the batch took), each in
//! windows that alternate with windows without it, refreshes compared
//! between adjacent windows.
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
//! one client, 600; a quarter of it per client at 16), `BENCH_WINDOW_MS`
//! (the purge windows, 500),
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

/// When a client stops: after `ops` refreshes or at `deadline`, whichever
/// comes first.
#[derive(Clone)]
struct Budget {
    ops: usize,
    deadline: Option<Instant>,
}

impl Budget {
    fn ops(ops: usize) -> Self {
        Self {
            ops,
            deadline: None,
        }
    }

    fn is_spent(&self, done: usize) -> bool {
        done >= self.ops || self.deadline.is_some_and(|d| Instant::now() >= d)
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
    let window = Duration::from_millis(setting("BENCH_WINDOW_MS", 500) as u64);
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

    // Refresh at both sizes. Latency: each client alternates between the
    // two tables, refresh by refresh, so that both see the same moments of
    // the machine (at one client every refresh waits for a WAL flush, whose
    // time changes from second to second on a shared disk). Throughput:
    // each table on its own, in interleaved rounds.
    for t in [&small, &large] {
        t.refresh(MAX_CLIENTS, Budget::ops(SESSIONS_PER_CLIENT))
            .await; // warm up
        t.counting.reset();
    }
    let mut latencies: BTreeMap<(usize, usize), Sample> = BTreeMap::new();
    let mut throughput: BTreeMap<(usize, usize), Sample> = BTreeMap::new();
    for round in 0..rounds {
        for clients in [1, MAX_CLIENTS] {
            let per_client = if clients == 1 { ops } else { ops / 4 };
            let [s, l] = refresh_alternating([&small, &large], clients, per_client).await;
            latencies.entry((0, clients)).or_default().add(s);
            latencies.entry((1, clients)).or_default().add(l);
            for (size, t) in [&small, &large].into_iter().enumerate() {
                let sample = t.refresh(clients, Budget::ops(per_client / 2)).await;
                throughput.entry((size, clients)).or_default().add(sample);
            }
        }
        println!("round {} of {rounds} done", round + 1);
    }
    let trips: Vec<f64> = [&small, &large]
        .iter()
        .enumerate()
        .map(|(size, t)| {
            let refreshes: usize = [&latencies, &throughput]
                .iter()
                .flat_map(|m| m.iter())
                .filter(|((s, _), _)| *s == size)
                .map(|(_, v)| v.latencies.len())
                .sum();
            t.counting.total() as f64 / refreshes as f64
        })
        .collect();
    println!();
    println!(
        "| live sessions | clients | refresh median | p99 | ops/s (table alone) | round trips |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut figures = BTreeMap::new();
    for ((size, clients), s) in &mut latencies {
        let label = [&small, &large][*size].label;
        let (median, p99) = (s.at(0.5), s.at(0.99));
        let per_second = throughput[&(*size, *clients)].per_second();
        figures.insert((*size, *clients), (median, p99, per_second));
        println!(
            "| {label} | {clients} | {} | {} | {per_second:.0} | {:.2} |",
            ms(median),
            ms(p99),
            trips[*size]
        );
    }
    for clients in [1, MAX_CLIENTS] {
        let (m0, p0, t0) = figures[&(0, clients)];
        let (m1, p1, t1) = figures[&(1, clients)];
        println!(
            "{clients} client(s), 1M/10k: median x{:.2}, p99 x{:.2}, throughput x{:.2}",
            m1.as_secs_f64() / m0.as_secs_f64(),
            p1.as_secs_f64() / p0.as_secs_f64(),
            t1 / t0
        );
    }
    list_by_user(&admin, &small, &large, small_rows.saturating_sub(real)).await;

    // Purge a million expired sessions while refreshes run: back to back,
    // then paced as `purge_expired` does it (resting after each batch as
    // long as it took), on a second million.
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
        purge_in_windows(&large, window, pace).await;
    }
}

/// Runs `clients` clients, each doing `ops` refreshes alternately on the
/// two tables (client `c` starting with table `c % 2`, so that both are
/// busy at every moment); returns each table's latencies.
async fn refresh_alternating(tables: [&Arc<Table>; 2], clients: usize, ops: usize) -> [Sample; 2] {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let tables = tables.map(Arc::clone);
            tokio::spawn(async move {
                let mut own = [
                    tables[0].clients[c].lock().await,
                    tables[1].clients[c].lock().await,
                ];
                let mut latencies = [Vec::new(), Vec::new()];
                for i in 0..ops {
                    let k = (i + c) % 2;
                    let client = &mut own[k];
                    let j = client.next % client.tokens.len();
                    client.next += 1;
                    let t = Instant::now();
                    let next = tables[k]
                        .manager
                        .refresh(&client.tokens[j])
                        .await
                        .expect("refresh");
                    latencies[k].push(t.elapsed());
                    client.tokens[j] = next.refresh_token.expose().to_owned();
                }
                latencies
            })
        })
        .collect();
    let mut samples = [Sample::default(), Sample::default()];
    for t in tasks {
        let [a, b] = t.await.expect("client");
        samples[0].latencies.extend(a);
        samples[1].latencies.extend(b);
    }
    for s in &mut samples {
        s.wall = start.elapsed();
    }
    samples
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

/// Purges batch by batch in windows: a window with the purge running, then
/// one without, each with the same clients refreshing all along (1, then
/// 16, in turn), until the purge is done. Adjacent windows see the same
/// moments of the machine, so refreshes with and without the purge compare
/// within each pair. With `pace`, rests after each batch as long as it
/// took, as `SessionStore::purge_expired` does; without, runs the batches
/// back to back.
async fn purge_in_windows(t: &Arc<Table>, window: Duration, pace: bool) {
    let now = OffsetDateTime::now_utc();
    let mut purge = t.store.purge_expired_batches(now);
    let mut batches = Vec::new();
    let mut rows = 0;
    let mut purging = Duration::ZERO;
    let mut with: BTreeMap<usize, Sample> = BTreeMap::new();
    let mut without: BTreeMap<usize, Sample> = BTreeMap::new();
    let wal_before = wal_bytes(t.store.pool()).await;
    let mut round = 0;
    while !purge.is_finished() {
        let clients = if round % 2 == 0 { 1 } else { MAX_CLIENTS };
        round += 1;
        let deadline = Instant::now() + window;
        let budget = Budget {
            ops: usize::MAX,
            deadline: Some(deadline),
        };
        let refreshes = t.refresh(clients, budget.clone());
        let batches_run = async {
            let started = Instant::now();
            while Instant::now() < deadline {
                let b = Instant::now();
                let Some(deleted) = purge.next_batch().await.expect("purge") else {
                    break;
                };
                let took = b.elapsed();
                batches.push(took);
                rows += deleted;
                if pace && !purge.is_finished() {
                    tokio::time::sleep(took).await;
                }
            }
            purging += started.elapsed();
        };
        let (sample, ()) = tokio::join!(refreshes, batches_run);
        with.entry(clients).or_default().add(sample);
        let budget = Budget {
            deadline: Some(Instant::now() + window),
            ..budget
        };
        without
            .entry(clients)
            .or_default()
            .add(t.refresh(clients, budget).await);
    }
    let wal = wal_bytes(t.store.pool()).await - wal_before;
    let count = batches.len();
    batches.sort_unstable();
    let at = |q: f64| batches[((count as f64 - 1.0) * q).round() as usize];
    println!(
        "{} purge: {rows} rows in {count} batches, {:.1} s of purging \
         ({:.0} rows/s); batch median {}, p99 {}, max {}",
        if pace { "paced" } else { "back-to-back" },
        purging.as_secs_f64(),
        rows as f64 / purging.as_secs_f64(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0))
    );
    report_purge(t, rows, wal).await;
    print_refreshes(&mut [
        ("without the purge (windows between)", &mut without),
        ("during the purge (its windows)", &mut with),
    ]);
}

/// Prints what is left to purge and the WAL a purge wrote.
async fn report_purge(t: &Table, rows: u64, wal: f64) {
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
}

/// Prints refresh figures per client count for each labelled set, and the
/// median of the second set (refreshes during the purge) against each
/// other one.
fn print_refreshes(sets: &mut [(&str, &mut BTreeMap<usize, Sample>)]) {
    println!();
    println!("| clients | refreshes | median | p99 | max | ops/s |");
    println!("|---:|---|---:|---:|---:|---:|");
    for clients in [1, MAX_CLIENTS] {
        let mut medians = Vec::new();
        for (label, samples) in sets.iter_mut() {
            let median = samples.get_mut(&clients).map(|s| {
                let (median, p99, max) = (s.at(0.5), s.at(0.99), s.at(1.0));
                println!(
                    "| {clients} | {label} | {} | {} | {} | {:.0} |",
                    ms(median),
                    ms(p99),
                    ms(max),
                    s.per_second()
                );
                median.as_secs_f64()
            });
            medians.push((*label, median));
        }
        let Some(&(during, Some(d))) = medians.get(1) else {
            continue;
        };
        for (i, &(label, m)) in medians.iter().enumerate() {
            if let (true, Some(m)) = (i != 1, m) {
                println!(
                    "{clients} client(s): median {during} / {label} x{:.2}",
                    d / m
                );
            }
        }
    }
}

/// The server's WAL position in bytes: what it has written so far, all
/// sessions included.
async fn wal_bytes(pool: &PgPool) -> f64 {
    sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8")
        .fetch_one(pool)
        .await
        .expect("WAL position")
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
