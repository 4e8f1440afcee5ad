//! The Lua scripts: one per store operation that touches more than one key,
//! so that each operation is one atomic step and one round trip.
//!
//! A session is a hash `{v, e, u, d}`: the CAS version, the expiry in unix
//! seconds, the key of its user's set and the record as JSON. The scripts
//! read `v`, `e` and `u` and never parse `d`.
//!
//! Numbers that Lua compares (`v`) are compared as strings, because Lua
//! numbers are doubles and versions are `u64`. Expiries are unix seconds,
//! well inside a double's exact range.

use std::sync::LazyLock;

use redis::Script;

/// `insert`: KEYS = session, user set, expiry index;
/// ARGV = version, expiry s, expiry ms, json, handle, index member.
/// Returns 1 when inserted, 0 when the handle exists.
pub(crate) static INSERT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2], 'u', KEYS[2], 'd', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
-- Already expired by the server's clock: Redis dropped it, index nothing.
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
redis.call('SADD', KEYS[2], ARGV[5])
-- The user set lives as long as its longest-lived session.
if redis.call('PTTL', KEYS[2]) == -1 then
  redis.call('PEXPIREAT', KEYS[2], ARGV[3])
else
  redis.call('PEXPIREAT', KEYS[2], ARGV[3], 'GT')
end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[6])
return 1
",
    )
});

/// `compare_and_swap`: KEYS = session, user set, expiry index;
/// ARGV = expected version, new version, expiry s, expiry ms, json, index member.
/// Returns 1 when swapped, 0 when the version differs or the session is
/// missing, -1 when the record would move to another user.
pub(crate) static COMPARE_AND_SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'v', 'u')
if not cur[1] or cur[1] ~= ARGV[1] then return 0 end
if cur[2] ~= KEYS[2] then return -1 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[3], 'd', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('PEXPIREAT', KEYS[2], ARGV[4], 'GT')
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[6])
return 1
",
    )
});

/// `delete`: KEYS = session, expiry index; ARGV = handle.
/// Returns 1 when a session was deleted, 0 when there was none.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local u = redis.call('HGET', KEYS[1], 'u')
if not u then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', u, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1] .. u)
return 1
",
    )
});

/// `list_by_user`: KEYS = user set, expiry index; ARGV = session key prefix.
/// Returns the JSON of every live session of the user, and removes the
/// members whose session Redis has already expired.
pub(crate) static LIST_BY_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local r = redis.call('HMGET', ARGV[1] .. h, 'u', 'd')
  if r[1] == KEYS[1] and r[2] then
    out[#out + 1] = r[2]
  else
    redis.call('SREM', KEYS[1], h)
    redis.call('ZREM', KEYS[2], h .. KEYS[1])
  end
end
return out
",
    )
});

/// `delete_by_user`: KEYS = user set, expiry index;
/// ARGV = session key prefix, handle to keep (or empty).
/// Returns how many sessions were deleted.
pub(crate) static DELETE_BY_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = 0
for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if h ~= ARGV[2] then
    local k = ARGV[1] .. h
    if redis.call('HGET', k, 'u') == KEYS[1] then
      redis.call('DEL', k)
      n = n + 1
    end
    redis.call('SREM', KEYS[1], h)
    redis.call('ZREM', KEYS[2], h .. KEYS[1])
  end
end
return n
",
    )
});

/// `purge_expired`, one bounded batch: KEYS = expiry index;
/// ARGV = now (unix s), batch size, session key prefix.
/// Returns `{deleted, examined}`; the caller repeats while a batch is full.
///
/// Every examined member leaves the range `(-inf, now]`: it is removed, or
/// re-scored to its session's real (later) expiry, so batches always make
/// progress.
pub(crate) static PURGE_BATCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local n = 0
for _, m in ipairs(members) do
  local h = string.sub(m, 1, 22)
  local u = string.sub(m, 23)
  local k = ARGV[3] .. h
  local r = redis.call('HMGET', k, 'e', 'u')
  if not r[1] then
    -- Already expired by Redis: only the indexes are left to clean.
    redis.call('SREM', u, h)
    redis.call('ZREM', KEYS[1], m)
  elseif tonumber(r[1]) <= now then
    redis.call('DEL', k)
    redis.call('SREM', r[2], h)
    redis.call('ZREM', KEYS[1], m)
    n = n + 1
  else
    redis.call('ZADD', KEYS[1], r[1], m)
  end
end
return {n, #members}
",
    )
});
