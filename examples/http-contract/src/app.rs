//! Starting an application under test: which app, over which store, with
//! which settings, on a loopback port.

use std::sync::Arc;

use app_common::{App, AppError, LoginLimits, RateLimit, RunningServer, Settings, Store};
use sessionkit::MemoryStore;
use sessionkit::clock::Clock;

use crate::BoxError;

/// How an application is started: serve `app` on `listener` (bound, not
/// yet accepting) until the returned server is dropped. Called from inside
/// a multi-threaded tokio runtime, which also drives the store's
/// connections.
pub type StartFn = fn(App, std::net::TcpListener) -> Result<RunningServer, AppError>;

/// An application the suites run against: a name for the reports and its
/// start function. Each example application exports one `start` function;
/// the suites' tests list them in a table of `AppKind`s.
#[derive(Clone, Copy)]
pub struct AppKind {
    /// A short name (`axum`, `actix`).
    pub name: &'static str,
    /// How to start it.
    pub start: StartFn,
}

impl std::fmt::Debug for AppKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The store an application under test runs on.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Backend {
    /// The in-memory store.
    Memory,
    /// PostgreSQL at `DATABASE_URL`, in a fresh schema.
    Postgres,
    /// Redis at `REDIS_URL`, under a fresh key prefix.
    Redis,
    /// The Redis Cluster at `REDIS_CLUSTER_NODES` (default: the local
    /// cluster of `.ci/redis-cluster.sh`, 127.0.0.1:7000 to 7005), under a
    /// fresh key prefix.
    RedisCluster,
}

/// Whether a missing service fails the tests (`SESSIONKIT_REQUIRE_SERVICES=1`)
/// rather than skipping them.
pub fn require_services() -> bool {
    std::env::var("SESSIONKIT_REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// Login limits no suite reaches unless it means to.
pub fn generous_login_limits() -> LoginLimits {
    let generous = RateLimit::new(10_000, std::time::Duration::from_millis(1));
    LoginLimits {
        per_address: generous,
        per_user: generous,
    }
}

/// An application serving on a loopback port.
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The state the application serves: its manager reaches the store, to
    /// check what a request changed.
    pub app: App,
    server: Option<RunningServer>,
    cleanup: Option<Cleanup>,
}

enum Cleanup {
    Postgres(sqlx::PgPool, String),
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// The user's live sessions, straight from the store.
    pub async fn live_sessions(&self, user: &str) -> Vec<sessionkit::SessionInfo> {
        self.app
            .manager()
            .sessions_for_user(user)
            .await
            .unwrap_or_else(|e| panic!("listing sessions of {user}: {e}"))
    }

    /// Stops the server and removes what the store holds for it.
    pub async fn finish(mut self) {
        drop(self.server.take());
        if let Some(Cleanup::Postgres(pool, schema)) = self.cleanup.take() {
            let drop_schema = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop_schema))
                .execute(&pool)
                .await;
        }
    }
}

/// Starts `kind` over `backend` with the settings `customize` leaves,
/// reading the time from `clock`. `None` when the backend's service is not
/// reachable and not required (a line saying so is printed).
///
/// # Errors
/// The service is required and unreachable, or the application did not
/// start.
pub async fn start(
    kind: &AppKind,
    backend: Backend,
    clock: Arc<dyn Clock>,
    customize: impl FnOnce(&mut Settings),
) -> Result<Option<Running>, BoxError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut settings = Settings::new(addr).with_login_limits(generous_login_limits());
    for (name, field) in [
        ("DATABASE_URL", &mut settings.database_url),
        ("REDIS_URL", &mut settings.redis_url),
    ] {
        if let Some(url) = std::env::var(name).ok().filter(|u| !u.is_empty()) {
            *field = url;
        }
    }
    customize(&mut settings);
    let Some((store, cleanup)) = connect(backend, &settings).await? else {
        return Ok(None);
    };
    let app = App::new(settings, store, clock)?;
    let server = (kind.start)(app.clone(), listener)?;
    Ok(Some(Running {
        base: server.base_url(),
        app,
        server: Some(server),
        cleanup,
    }))
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}_{}_{nanos}_{n}", std::process::id())
}

async fn connect(
    backend: Backend,
    settings: &Settings,
) -> Result<Option<(Store, Option<Cleanup>)>, BoxError> {
    let connected: Result<(Store, Option<Cleanup>), BoxError> = match backend {
        Backend::Memory => return Ok(Some((Arc::new(MemoryStore::new()), None))),
        Backend::Postgres => {
            let url = &settings.database_url;
            let schema = unique("sk_contract");
            async {
                let store = sessionkit_postgres::PostgresStore::builder()
                    .schema(&schema)?
                    .connect(url)
                    .await?;
                store.migrate().await?;
                let pool = store.pool().clone();
                let store: Store = Arc::new(store);
                Ok((store, Some(Cleanup::Postgres(pool, schema))))
            }
            .await
        }
        Backend::Redis => sessionkit_redis::RedisStore::builder()
            .prefix(format!("{}:", unique("sk_contract")))
            .connect(&settings.redis_url)
            .await
            .map(|store| (Arc::new(store) as Store, None))
            .map_err(Into::into),
        Backend::RedisCluster => {
            let nodes = std::env::var("REDIS_CLUSTER_NODES").unwrap_or_else(|_| {
                (7000..7006)
                    .map(|port| format!("redis://127.0.0.1:{port}"))
                    .collect::<Vec<_>>()
                    .join(",")
            });
            sessionkit_redis::RedisStore::builder()
                .prefix(format!("{}:", unique("sk_contract")))
                .connect_cluster(nodes.split(','))
                .await
                .map(|store| (Arc::new(store) as Store, None))
                .map_err(Into::into)
        }
    };
    match connected {
        Ok(found) => Ok(Some(found)),
        Err(e) if require_services() => {
            Err(format!("{backend:?} unreachable and SESSIONKIT_REQUIRE_SERVICES=1: {e}").into())
        }
        Err(e) => {
            println!("skipped: no {backend:?} service ({e})");
            Ok(None)
        }
    }
}
