//! What the example applications share, whatever their web framework: the
//! settings, the store and the session manager built from them, the demo
//! users with a bounded password check, login rate limits, the device
//! description kept with each session, and the page.
//!
//! An application builds one [`App`] and keeps only its HTTP glue:
//!
//! ```no_run
//! # async fn run() -> Result<(), app_common::AppError> {
//! let settings = app_common::Settings::from_env()?;
//! let app = app_common::App::connect(settings).await?;
//! let _maintenance = app.spawn_maintenance();
//! // In the login handler, after the integration's CSRF check:
//! # let (client, body, user_agent): (std::net::IpAddr, &[u8], Option<&str>) =
//! #     ([127, 0, 0, 1].into(), b"{}", None);
//! match app.login_attempt(client, body).await {
//!     Ok(user_id) => {
//!         // Create the session with the integration's login helper, with
//!         // this as its server-side data:
//!         let data = app_common::session_data(user_agent);
//! #       let _ = (user_id, data);
//!     }
//!     Err(e) => { /* answer e.http_status(), {"error": e.error_code()}, Retry-After */ }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Keys are generated at startup, which is fine for a demo: a restart logs
//! everybody out. A real deployment loads them from its secret store, and
//! every instance behind one load balancer uses the same keys.

mod device;
mod limits;
mod server;
mod settings;
mod users;

use std::net::IpAddr;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use sessionkit::clock::{Clock, SystemClock};
use sessionkit::store::{SessionStore, StoreError};
use sessionkit::web::{CsrfPolicy, Refusal, SessionProtocol, SessionProtocolBuilder, Transport};
use sessionkit::{Algorithm, ConfigError, MemoryStore, RefreshKey, SessionManager, SigningKey};

pub use crate::device::describe_user_agent;
pub use crate::limits::{LoginLimiter, LoginLimits, RateLimit};
pub use crate::server::RunningServer;
pub use crate::settings::{Settings, SettingsError, StoreKind, default_origins};
pub use crate::users::{CheckError, DEMO_USERS, Users};

/// The page: one HTML file with an inline module script built on
/// `/sessionkit.js`.
pub const PAGE: &str = include_str!("page.html");

/// The `Content-Security-Policy` to serve [`PAGE`] with: its own inline
/// script and style, `/sessionkit.js` from the same origin, nothing else.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
     style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'";

/// A shared store of any kind.
pub type Store = Arc<dyn SessionStore>;

/// Why an application could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A setting could not be understood.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The store could not be reached or prepared.
    #[error("session store: {0}")]
    Store(#[from] StoreError),
    /// The manager or the CSRF policy refused a setting.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The demo users' passwords could not be hashed.
    #[error("password hashing failed")]
    Hashing,
    /// The listening socket could not be opened.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a login attempt failed, as the client is told.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The body is not `{"username": "...", "password": "..."}`.
    #[error("bad request")]
    BadRequest,
    /// Too many attempts from this address or for this user name
    /// (SEC-48): wait this many seconds.
    #[error("too many login attempts")]
    RateLimited {
        /// Whole seconds to wait, at least 1 (the `Retry-After` value).
        retry_after_secs: u64,
    },
    /// Unknown user or wrong password.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The password check could not run in time.
    #[error("unavailable")]
    Busy,
}

impl LoginError {
    /// The answer, `{"error": code}` with its status (and `Retry-After`
    /// when rate limited), which either integration's `SessionRejection`
    /// is made from.
    pub fn refusal(self) -> Refusal {
        let refusal = Refusal::new(self.http_status(), self.error_code());
        match self.retry_after_secs() {
            Some(seconds) => refusal.retry_after(seconds),
            None => refusal,
        }
    }

    /// 400, 429, 401 or 503.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::RateLimited { .. } => 429,
            Self::InvalidCredentials => 401,
            Self::Busy => 503,
        }
    }

    /// `bad_request`, `rate_limited`, `invalid_credentials` or
    /// `unavailable`, for the JSON body `{"error": code}`.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::RateLimited { .. } => "rate_limited",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Busy => "unavailable",
        }
    }

    /// The `Retry-After` value, for [`RateLimited`](Self::RateLimited).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// The server-side data kept with a new session: the device it was
/// created on, from the login request's `User-Agent`.
pub fn session_data(user_agent: Option<&str>) -> Value {
    json!({ "device": describe_user_agent(user_agent.unwrap_or_default()) })
}

/// The session-list fields taken from a session's server-side data: the
/// device, for the page.
pub fn session_list_fields(data: &Value) -> serde_json::Map<String, Value> {
    let mut fields = serde_json::Map::new();
    let device = data["device"].as_str().unwrap_or("Unknown device");
    fields.insert("device".to_owned(), Value::from(device));
    fields
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// What every handler of an example application shares: settings, session
/// manager, clock, users and login limits. Cloning is cheap.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    manager: SessionManager<Store>,
    clock: Arc<dyn Clock>,
    csrf: CsrfPolicy,
    users: Users,
    limiter: LoginLimiter,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Connects the store the settings name and builds the application on
    /// the system clock.
    ///
    /// # Errors
    /// As [`connect_store`] and [`App::new`].
    pub async fn connect(settings: Settings) -> Result<Self, AppError> {
        let store = connect_store(&settings).await?;
        Self::new(settings, store, Arc::new(SystemClock))
    }

    /// The application over `store`, reading the time from `clock` (the
    /// system clock in production, a manual one in tests). Generates the
    /// keys and hashes the demo users' passwords.
    ///
    /// # Errors
    /// [`AppError::Config`] for a lifetime out of range, an invalid origin
    /// or no randomness for the keys; [`AppError::Hashing`].
    pub fn new(settings: Settings, store: Store, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        let csrf = CsrfPolicy::new(&settings.origins)?;
        let manager = build_manager(&settings, store, Arc::clone(&clock))?;
        let users = Users::demo(settings.max_concurrent_hashes).map_err(|_| AppError::Hashing)?;
        let limiter = LoginLimiter::new(settings.login_limits);
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                manager,
                clock,
                csrf,
                users,
                limiter,
            }),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The session manager.
    pub fn manager(&self) -> &SessionManager<Store> {
        &self.inner.manager
    }

    /// The clock the manager reads, for the integrations' cookie expiries.
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.inner.clock)
    }

    /// The CSRF policy of the configured origins.
    pub fn csrf_policy(&self) -> &CsrfPolicy {
        &self.inner.csrf
    }

    /// The integration's configuration for this application, for either
    /// integration (`sessionkit_axum::Sessions`,
    /// `sessionkit_actix_web::Sessions`): cookies, or tokens in JSON with
    /// `X-Auth-Mode: header`; the app's origins and clock; the device in
    /// each entry of the session list.
    ///
    /// # Errors
    /// [`AppError::Config`] for a configuration the protocol refuses.
    pub fn sessions<T: From<SessionProtocol>>(&self) -> Result<T, AppError> {
        Ok(SessionProtocolBuilder::<T>::new(self.manager().clone())
            .csrf(self.csrf_policy().clone())
            .transport(Transport::Both)
            .clock(self.clock())
            .session_fields(|s| session_list_fields(&s.session_data))
            .build()?)
    }

    /// One login attempt from `client` with a JSON body
    /// `{"username","password"}`: parsed, counted against the rate limits
    /// (SEC-48), then checked (one bounded Argon2 verification). Returns
    /// the user id.
    ///
    /// Call it after the CSRF check, and create the session with the
    /// integration's login helper.
    ///
    /// # Errors
    /// [`LoginError`], in that order: a bad body is not counted.
    pub async fn login_attempt(&self, client: IpAddr, body: &[u8]) -> Result<String, LoginError> {
        let credentials: Credentials =
            serde_json::from_slice(body).map_err(|_| LoginError::BadRequest)?;
        self.inner
            .limiter
            .check(client, &credentials.username)
            .map_err(|retry_after_secs| LoginError::RateLimited { retry_after_secs })?;
        self.inner
            .users
            .check(&credentials.username, &credentials.password)
            .await
            .map_err(|e| match e {
                CheckError::InvalidCredentials => LoginError::InvalidCredentials,
                CheckError::Busy => LoginError::Busy,
            })
    }

    /// Starts the maintenance task on the current tokio runtime: every
    /// [`Settings::purge_interval`], expired sessions are purged from the
    /// memory store (PostgreSQL deployments run `purge_expired` from a
    /// scheduled job; Redis expires keys itself) and the login limiter
    /// forgets idle keys. Abort the handle to stop it.
    pub fn spawn_maintenance(&self) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(app.inner.settings.purge_interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                app.maintain().await;
            }
        })
    }

    /// One round of maintenance (see [`spawn_maintenance`](Self::spawn_maintenance)).
    /// Returns how many sessions were purged.
    pub async fn maintain(&self) -> u64 {
        self.inner.limiter.forget_idle();
        if self.inner.settings.store != StoreKind::Memory {
            return 0;
        }
        let now = self.inner.clock.now();
        // A failed purge is retried at the next tick.
        self.inner
            .manager
            .store()
            .purge_expired(now)
            .await
            .unwrap_or(0)
    }
}

/// Connects to the store the settings name (and creates the PostgreSQL
/// table if it is missing).
///
/// # Errors
/// [`AppError::Store`] when it cannot be reached.
pub async fn connect_store(settings: &Settings) -> Result<Store, AppError> {
    Ok(match settings.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Postgres => {
            let store = sessionkit_postgres::PostgresStore::connect(&settings.database_url).await?;
            store.migrate().await?;
            Arc::new(store)
        }
        StoreKind::Redis => {
            Arc::new(sessionkit_redis::RedisStore::connect(&settings.redis_url).await?)
        }
        StoreKind::RedisCluster => Arc::new(
            sessionkit_redis::RedisStore::connect_cluster(&settings.redis_cluster_nodes).await?,
        ),
    })
}

/// A session manager over `store`, with fresh random keys and the
/// configured lifetimes, reading the time from `clock`.
///
/// # Errors
/// A lifetime out of range, or no randomness for the keys.
pub fn build_manager(
    settings: &Settings,
    store: Store,
    clock: Arc<dyn Clock>,
) -> Result<SessionManager<Store>, ConfigError> {
    let signing_key = match settings.algorithm {
        Algorithm::EdDsa => SigningKey::generate_ed25519("demo-ed25519")?,
        _ => SigningKey::generate_hs256("demo-hs256")?,
    };
    SessionManager::builder(store)
        .signing_key(signing_key)
        .refresh_key(RefreshKey::generate(1)?)
        .access_ttl(settings.access_ttl)
        .refresh_idle_ttl(settings.refresh_idle_ttl)
        .grace(settings.grace)
        .leeway(settings.leeway)
        .clock(clock)
        .build()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sessionkit::clock::ManualClock;

    use super::*;

    fn app_at(limits: LoginLimits, clock: Arc<ManualClock>) -> App {
        let settings = Settings::new(([127, 0, 0, 1], 3000).into()).with_login_limits(limits);
        App::new(settings, Arc::new(MemoryStore::new()), clock).unwrap()
    }

    fn app(limits: LoginLimits) -> App {
        app_at(limits, Arc::new(ManualClock::starting_now()))
    }

    fn body(user: &str, password: &str) -> Vec<u8> {
        json!({ "username": user, "password": password })
            .to_string()
            .into_bytes()
    }

    #[tokio::test]
    async fn sec_48_login_attempts_are_parsed_limited_then_checked() {
        let app = app(LoginLimits {
            per_address: RateLimit::new(100, Duration::from_secs(3600)),
            per_user: RateLimit::new(2, Duration::from_secs(3600)),
        });
        let me: IpAddr = [127, 0, 0, 1].into();
        assert_eq!(
            app.login_attempt(me, b"{not json").await,
            Err(LoginError::BadRequest)
        );
        assert_eq!(
            app.login_attempt(me, &body("alice", "nope")).await,
            Err(LoginError::InvalidCredentials)
        );
        assert_eq!(
            app.login_attempt(me, &body("alice", "wonderland")).await,
            Ok("alice".to_owned())
        );
        let limited = app.login_attempt(me, &body("alice", "wonderland")).await;
        assert!(
            matches!(limited, Err(LoginError::RateLimited { retry_after_secs }) if retry_after_secs > 0)
        );
        let e = limited.unwrap_err();
        assert_eq!((e.http_status(), e.error_code()), (429, "rate_limited"));
        assert!(e.retry_after_secs().is_some());
        assert_eq!(
            app.login_attempt(me, &body("bob", "builder")).await,
            Ok("bob".to_owned())
        );
    }

    #[tokio::test]
    async fn sec_48_maintenance_purges_the_memory_store() {
        let clock = Arc::new(ManualClock::starting_now());
        let app = app_at(LoginLimits::default(), Arc::clone(&clock));
        app.manager().create("alice").await.unwrap();
        assert_eq!(app.maintain().await, 0);
        clock.advance(time::Duration::days(31));
        assert_eq!(app.maintain().await, 1);
    }

    #[test]
    fn session_data_records_the_device() {
        let data = session_data(Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
        ));
        assert_eq!(data, json!({ "device": "Firefox on Linux" }));
        assert_eq!(
            session_list_fields(&data)["device"],
            Value::from("Firefox on Linux")
        );
        assert_eq!(
            session_list_fields(&Value::Null)["device"],
            Value::from("Unknown device")
        );
    }
}
