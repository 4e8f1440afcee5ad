//! Helpers shared by the integration tests: server discovery, isolated key
//! prefixes and best-effort cleanup.

#![allow(dead_code, reason = "each test crate uses a different subset")]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sessionkit_redis::RedisStore;

/// `REDIS_URL`, or the local default.
pub(crate) fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
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
        Ok(store) => Some((store, Cleanup { url, prefix })),
        Err(e) => {
            if std::env::var("SESSIONKIT_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("no Redis at {url} and SESSIONKIT_REQUIRE_SERVICES=1: {e:?}");
            }
            println!("skipped: no Redis at {url}");
            None
        }
    }
}

/// Deletes every key under a prefix when dropped, even after a failed
/// assertion. Best effort: errors are ignored.
#[derive(Debug)]
pub(crate) struct Cleanup {
    url: String,
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
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
            return;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        // The prefix is made of [a-z0-9:-]: no glob characters to escape.
        let pattern = format!("{}*", self.prefix);
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
            if !keys.is_empty() {
                let _: Result<i64, _> = redis::cmd("DEL").arg(&keys).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}
