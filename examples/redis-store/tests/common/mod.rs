//! Helpers shared by the integration tests: server discovery (a single
//! server and a cluster), isolated key prefixes and best-effort cleanup.

#![allow(dead_code, reason = "each test crate uses a different subset")]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use std::future::Future;
use std::pin::Pin;

use sessionkit::testing::Spawn;
use sessionkit_redis::{RedisStore, StoreConnection};

/// `REDIS_URL`, or the local default.
pub(crate) fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// `REDIS_CLUSTER_NODES` (comma-separated), or the ports
/// `.ci/redis-cluster.sh` uses.
pub(crate) fn cluster_nodes() -> Vec<String> {
    match std::env::var("REDIS_CLUSTER_NODES") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect(),
        Err(_) => (7000..=7005)
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect(),
    }
}

pub(crate) fn services_required() -> bool {
    std::env::var("SESSIONKIT_REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// A maker of stores over one connection, each under a fresh prefix below
/// `root`: the suites purge everything expired in their store, so checks
/// must not see each other's records.
pub(crate) fn fresh_stores(
    conn: StoreConnection,
    root: &str,
) -> impl Fn() -> Pin<Box<dyn Future<Output = RedisStore> + Send>> {
    let root = root.to_owned();
    let n = AtomicU64::new(0);
    move || {
        let prefix = format!("{root}:{}", n.fetch_add(1, Ordering::Relaxed));
        let conn = conn.clone();
        Box::pin(async move {
            RedisStore::builder()
                .prefix(prefix)
                .build(conn)
                .await
                .expect("store")
        })
    }
}

/// Runs each task the suites hand over as a tokio task.
pub(crate) fn tokio_spawn() -> Spawn {
    std::sync::Arc::new(|task| {
        let handle = tokio::spawn(task);
        Box::pin(async move { handle.await.expect("task panicked") })
    })
}

/// A prefix no other test, process or earlier run uses.
pub(crate) fn unique_prefix(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!("sessionkit-test:{label}:{:016x}", h.finish())
}

/// A store under a fresh prefix, or `None` (after printing why) when no
/// server answers and `SESSIONKIT_REQUIRE_SERVICES` is not `1`.
///
/// # Panics
/// When no server answers and `SESSIONKIT_REQUIRE_SERVICES=1`.
pub(crate) async fn store_or_skip(label: &str) -> Option<(RedisStore, Cleanup)> {
    let url = redis_url();
    let prefix = unique_prefix(label);
    match RedisStore::builder()
        .prefix(prefix.clone())
        .timeout(Duration::from_secs(5))
        .connect(&url)
        .await
    {
        Ok(store) => Some((
            store,
            Cleanup {
                nodes: vec![url],
                prefix,
            },
        )),
        Err(e) => {
            if services_required() {
                panic!("no Redis at {url} and SESSIONKIT_REQUIRE_SERVICES=1: {e:?}");
            }
            println!("skipped: no Redis at {url}");
            None
        }
    }
}

/// A store on the cluster under a fresh prefix, or `None` (after printing
/// why) when the cluster is unreachable and `SESSIONKIT_REQUIRE_SERVICES`
/// is not `1`.
///
/// # Panics
/// When the cluster is unreachable and `SESSIONKIT_REQUIRE_SERVICES=1`.
pub(crate) async fn cluster_store_or_skip(label: &str) -> Option<(RedisStore, Cleanup)> {
    let nodes = cluster_nodes();
    let prefix = unique_prefix(label);
    match RedisStore::builder()
        .prefix(prefix.clone())
        .timeout(Duration::from_secs(10))
        .connect_cluster(&nodes)
        .await
    {
        Ok(store) => Some((store, Cleanup { nodes, prefix })),
        Err(e) => {
            let list = nodes.join(",");
            if services_required() {
                panic!(
                    "no Redis Cluster at {list} and SESSIONKIT_REQUIRE_SERVICES=1 \
                     (start one with .ci/redis-cluster.sh start): {e:?}"
                );
            }
            println!("skipped: no Redis Cluster at {list}");
            None
        }
    }
}

/// Deletes every key under a prefix when dropped, on every primary, even
/// after a failed assertion. Best effort: errors are ignored.
#[derive(Debug)]
pub(crate) struct Cleanup {
    nodes: Vec<String>,
    prefix: String,
}

impl Cleanup {
    /// The prefix this guard cleans (stores may use it or sub-prefixes of it).
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for node in &self.nodes {
            clean_node(node, &self.prefix);
        }
    }
}

fn clean_node(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
        return;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let role: Result<Vec<redis::Value>, _> = redis::cmd("ROLE").query(&mut conn);
    let is_primary =
        matches!(role.as_deref(), Ok([redis::Value::BulkString(r), ..]) if r == b"master");
    if !is_primary {
        return;
    }
    // The prefix is made of [a-z0-9:-]: no glob characters to escape.
    let pattern = format!("{prefix}*");
    let mut cursor = 0u64;
    loop {
        let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query(&mut conn)
        else {
            return;
        };
        // One key at a time: on a cluster, keys of several slots cannot
        // go in one DEL.
        for key in keys {
            let _: Result<i64, _> = redis::cmd("DEL").arg(key).query(&mut conn);
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// The one key under `prefix` matching `pattern` (a glob after the
/// prefix), found with SCAN on a single server.
pub(crate) async fn find_key(store: &RedisStore, pattern: &str) -> Option<String> {
    let mut conn = store.connection();
    let full = format!("{}{pattern}", store.prefix());
    let mut cursor = 0u64;
    let mut found = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&full)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .ok()?;
        found.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert!(found.len() <= 1, "several keys match {full}: {found:?}");
    found.pop()
}
