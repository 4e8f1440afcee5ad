//! Shared test helpers: the server URL, skipping without a server, and
//! throwaway schemas.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sessionkit_postgres::PostgresStore;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};

/// `DATABASE_URL`, or the local default.
pub(crate) fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// An administrative pool, or `None` (after printing why) when there is no
/// server and `SESSIONKIT_REQUIRE_SERVICES` is not `1`.
pub(crate) async fn admin() -> Option<PgPool> {
    let url = database_url();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await;
    match pool {
        Ok(pool) => Some(pool),
        Err(e) => {
            if std::env::var("SESSIONKIT_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("no PostgreSQL at {url} and SESSIONKIT_REQUIRE_SERVICES=1: {e}");
            }
            println!("skipped: no PostgreSQL at {url}");
            None
        }
    }
}

/// A unique lowercase name with `prefix`.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A freshly created schema, dropped (best effort) when this value drops,
/// even if the test panicked.
pub(crate) struct TestSchema {
    pub(crate) name: String,
}

impl TestSchema {
    pub(crate) async fn create(admin: &PgPool) -> Self {
        let name = unique_name("sk_test");
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
            .execute(admin)
            .await
            .expect("create test schema");
        Self { name }
    }

    /// A migrated store over this schema, with its own pool and
    /// `application_name`.
    pub(crate) async fn store(&self, application_name: &str) -> PostgresStore {
        let store = PostgresStore::builder()
            .schema(&self.name)
            .expect("valid schema name")
            .application_name(application_name)
            .connect(&database_url())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        // A separate thread with its own runtime: Drop cannot await, and
        // may run inside (or after) the test's runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(pool) = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(3))
                    .connect(&database_url())
                    .await
                else {
                    return;
                };
                let _ = sqlx::query(AssertSqlSafe(sql)).execute(&pool).await;
                pool.close().await;
            });
        })
        .join();
    }
}
