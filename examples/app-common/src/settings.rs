//! The applications' settings, from the environment.

use std::net::SocketAddr;
use std::time::Duration as StdDuration;

use sessionkit::Algorithm;
use time::Duration;

use crate::limits::{LoginLimits, RateLimit};

/// Which session store to use (`SESSIONKIT_STORE`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum StoreKind {
    /// `memory`: [`sessionkit::MemoryStore`], one process, sessions lost on
    /// restart (the default).
    Memory,
    /// `postgres`: PostgreSQL at [`Settings::database_url`].
    Postgres,
    /// `redis`: one Redis server at [`Settings::redis_url`].
    Redis,
    /// `redis-cluster`: a Redis cluster at [`Settings::redis_cluster_nodes`].
    RedisCluster,
}

/// A setting that could not be understood. The message names the variable
/// and the value.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct SettingsError {
    variable: &'static str,
    problem: String,
}

impl SettingsError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }

    /// The environment variable at fault.
    pub fn variable(&self) -> &'static str {
        self.variable
    }
}

/// The settings of an example application.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// Where to listen (`SESSIONKIT_ADDR`, default `127.0.0.1:3000`).
    pub addr: SocketAddr,
    /// The store (`SESSIONKIT_STORE`: `memory`, `postgres`, `redis` or
    /// `redis-cluster`; default `memory`).
    pub store: StoreKind,
    /// `DATABASE_URL`, for the PostgreSQL store (default
    /// `postgres://postgres@127.0.0.1:5432/test`).
    pub database_url: String,
    /// `REDIS_URL`, for the Redis store (default `redis://127.0.0.1:6379`).
    pub redis_url: String,
    /// `REDIS_CLUSTER_NODES`: comma-separated `redis://host:port` seed
    /// nodes of a Redis cluster.
    pub redis_cluster_nodes: Vec<String>,
    /// The access-token lifetime (`SESSIONKIT_ACCESS_TTL_SECS`, default 600).
    pub access_ttl: Duration,
    /// The refresh grace window (`SESSIONKIT_GRACE_SECS`, default 10).
    pub grace: Duration,
    /// The JWT leeway (`SESSIONKIT_LEEWAY_SECS`, default 30).
    pub leeway: Duration,
    /// How long a session lives without a refresh (not read from the
    /// environment; default sessionkit's, 7 days; tests lower it).
    pub refresh_idle_ttl: Duration,
    /// The signing algorithm (`SESSIONKIT_ALG`: `hs256`, the default, or
    /// `eddsa`, case-insensitive; EdDSA publishes its public key at
    /// `/.well-known/jwks.json`).
    pub algorithm: Algorithm,
    /// The origins allowed to make cookie-authenticated state-changing
    /// requests (`SESSIONKIT_ORIGINS`, comma-separated; default
    /// `http://ADDR` and `http://localhost:PORT`).
    pub origins: Vec<String>,
    /// How many login attempts a client address and a user name may make
    /// (not read from the environment; tests lower it).
    pub login_limits: LoginLimits,
    /// How many password hashes may run at once (default: the number of
    /// CPUs, at least 1).
    pub max_concurrent_hashes: usize,
    /// How often the memory store is purged of expired sessions (default
    /// 60 s).
    pub purge_interval: StdDuration,
}

impl Settings {
    /// The defaults for a server listening on `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            store: StoreKind::Memory,
            database_url: "postgres://postgres@127.0.0.1:5432/test".to_owned(),
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            redis_cluster_nodes: Vec::new(),
            access_ttl: Duration::seconds(600),
            grace: Duration::seconds(10),
            leeway: Duration::seconds(30),
            refresh_idle_ttl: sessionkit::config::DEFAULT_REFRESH_IDLE_TTL,
            algorithm: Algorithm::Hs256,
            origins: default_origins(addr),
            login_limits: LoginLimits::default(),
            max_concurrent_hashes: std::thread::available_parallelism().map_or(1, |n| n.get()),
            purge_interval: StdDuration::from_secs(60),
        }
    }

    /// The settings from the process environment (the variables named on
    /// each field); empty variables count as unset.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the first variable that could not be
    /// understood.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from any source of variables, for example a map in a
    /// test.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let addr = match var("SESSIONKIT_ADDR") {
            Some(a) => a.trim().parse().map_err(|_| {
                SettingsError::new("SESSIONKIT_ADDR", format!("not an ip:port address: {a:?}"))
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        let mut settings = Self::new(addr);
        if let Some(store) = var("SESSIONKIT_STORE") {
            settings.store = parse_store(&store)?;
        }
        if let Some(url) = var("DATABASE_URL") {
            settings.database_url = url;
        }
        if let Some(url) = var("REDIS_URL") {
            settings.redis_url = url;
        }
        if let Some(nodes) = var("REDIS_CLUSTER_NODES") {
            settings.redis_cluster_nodes = parse_nodes(&nodes)?;
        }
        settings.access_ttl = seconds(&var, "SESSIONKIT_ACCESS_TTL_SECS", settings.access_ttl)?;
        settings.grace = seconds(&var, "SESSIONKIT_GRACE_SECS", settings.grace)?;
        settings.leeway = seconds(&var, "SESSIONKIT_LEEWAY_SECS", settings.leeway)?;
        if let Some(alg) = var("SESSIONKIT_ALG") {
            settings.algorithm = match alg.trim().to_ascii_lowercase().as_str() {
                "hs256" => Algorithm::Hs256,
                "eddsa" => Algorithm::EdDsa,
                _ => {
                    return Err(SettingsError::new(
                        "SESSIONKIT_ALG",
                        format!("unknown algorithm {alg:?}: use hs256 or eddsa"),
                    ));
                }
            };
        }
        if let Some(origins) = var("SESSIONKIT_ORIGINS") {
            settings.origins = origins
                .split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect();
            sessionkit::web::CsrfPolicy::new(&settings.origins).map_err(|_| {
                SettingsError::new(
                    "SESSIONKIT_ORIGINS",
                    format!("each origin must be scheme://host[:port]: {origins:?}"),
                )
            })?;
        }
        if settings.store == StoreKind::RedisCluster && settings.redis_cluster_nodes.is_empty() {
            return Err(SettingsError::new(
                "REDIS_CLUSTER_NODES",
                "SESSIONKIT_STORE=redis-cluster needs at least one node",
            ));
        }
        Ok(settings)
    }

    /// The login limits: a fluent setter for tests.
    pub fn with_login_limits(mut self, limits: LoginLimits) -> Self {
        self.login_limits = limits;
        self
    }
}

/// `http://ADDR` and `http://localhost:PORT`.
pub fn default_origins(addr: SocketAddr) -> Vec<String> {
    vec![
        format!("http://{addr}"),
        format!("http://localhost:{}", addr.port()),
    ]
}

fn parse_store(value: &str) -> Result<StoreKind, SettingsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "memory" => Ok(StoreKind::Memory),
        "postgres" => Ok(StoreKind::Postgres),
        "redis" => Ok(StoreKind::Redis),
        "redis-cluster" => Ok(StoreKind::RedisCluster),
        _ => Err(SettingsError::new(
            "SESSIONKIT_STORE",
            format!("unknown store {value:?}: use memory, postgres, redis or redis-cluster"),
        )),
    }
}

fn parse_nodes(value: &str) -> Result<Vec<String>, SettingsError> {
    let nodes: Vec<String> = value
        .split(',')
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    for node in &nodes {
        let rest = node
            .strip_prefix("redis://")
            .or(node.strip_prefix("rediss://"));
        let valid = rest.is_some_and(|r| {
            r.rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        });
        if !valid {
            return Err(SettingsError::new(
                "REDIS_CLUSTER_NODES",
                format!("not a redis://host:port node: {node:?}"),
            ));
        }
    }
    Ok(nodes)
}

fn seconds(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Duration,
) -> Result<Duration, SettingsError> {
    let Some(value) = var(name) else {
        return Ok(default);
    };
    match value.trim().parse::<u32>() {
        Ok(secs) => Ok(Duration::seconds(i64::from(secs))),
        Err(_) => Err(SettingsError::new(
            name,
            format!("not a whole number of seconds: {value:?}"),
        )),
    }
}

impl Default for LoginLimits {
    /// Per client address: 20 attempts, then one more every 3 seconds. Per
    /// user name: 5 attempts, then one more every 20 seconds.
    fn default() -> Self {
        Self {
            per_address: RateLimit::new(20, StdDuration::from_secs(3)),
            per_user: RateLimit::new(5, StdDuration::from_secs(20)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults() {
        let s = from(&[]).unwrap();
        assert_eq!(s.addr, SocketAddr::from(([127, 0, 0, 1], 3000)));
        assert_eq!(s.store, StoreKind::Memory);
        assert_eq!(
            s.origins,
            ["http://127.0.0.1:3000", "http://localhost:3000"]
        );
        assert_eq!(s.access_ttl, Duration::seconds(600));
        assert_eq!(s.grace, Duration::seconds(10));
        assert_eq!(s.leeway, Duration::seconds(30));
        assert_eq!(s.algorithm, Algorithm::Hs256);
    }

    #[test]
    fn every_variable_is_read() {
        let s = from(&[
            ("SESSIONKIT_ADDR", "0.0.0.0:8080"),
            ("SESSIONKIT_STORE", "Redis-Cluster"),
            ("REDIS_CLUSTER_NODES", "redis://a:7000, redis://b:7001"),
            ("SESSIONKIT_ACCESS_TTL_SECS", "60"),
            ("SESSIONKIT_GRACE_SECS", "0"),
            ("SESSIONKIT_LEEWAY_SECS", "5"),
            ("SESSIONKIT_ALG", "EdDSA"),
            ("SESSIONKIT_ORIGINS", "https://a.example, https://b.example"),
            ("DATABASE_URL", "postgres://x/y"),
            ("REDIS_URL", "redis://r:1"),
        ])
        .unwrap();
        assert_eq!(s.store, StoreKind::RedisCluster);
        assert_eq!(s.redis_cluster_nodes, ["redis://a:7000", "redis://b:7001"]);
        assert_eq!(s.access_ttl, Duration::seconds(60));
        assert_eq!(s.grace, Duration::ZERO);
        assert_eq!(s.algorithm, Algorithm::EdDsa);
        assert_eq!(s.origins, ["https://a.example", "https://b.example"]);
        assert_eq!(s.database_url, "postgres://x/y");
        assert_eq!(s.redis_url, "redis://r:1");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("SESSIONKIT_ADDR", "localhost"),
            ("SESSIONKIT_STORE", "mongo"),
            ("SESSIONKIT_ACCESS_TTL_SECS", "-1"),
            ("SESSIONKIT_GRACE_SECS", "ten"),
            ("SESSIONKIT_LEEWAY_SECS", "1.5"),
            ("SESSIONKIT_ALG", "RS256"),
            ("SESSIONKIT_ORIGINS", "example.com"),
            ("REDIS_CLUSTER_NODES", "a:7000"),
        ] {
            let e = from(&[(name, value)]).unwrap_err();
            assert_eq!(e.variable(), name, "{e}");
            assert!(e.to_string().starts_with(name), "{e}");
        }
        let e = from(&[("SESSIONKIT_STORE", "redis-cluster")]).unwrap_err();
        assert_eq!(e.variable(), "REDIS_CLUSTER_NODES");
    }
}
