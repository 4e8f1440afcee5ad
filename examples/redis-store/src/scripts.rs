//! The Lua scripts: one per store operation that touches more than one key,
//! so that each operation is one atomic step and one round trip.
//!
//! A session is a hash: `u` the key of its user's set, `d` the fields no
//! rotation changes (handle, user id, creation and authentication times,
//! claims, session data) as JSON, and one field per value a rotation
//! changes or reads: `g` generation, `ch` current hash, `ph` previous hash,
//! `ra` rotated at, `n` nonce, `re` refresh expiry, `ae` absolute expiry,
//! `v` CAS version, `e` expiry (the earlier of `re` and `ae`). The scripts
//! never parse `d`: Lua's JSON would round numbers in the session data.
//!
//! Numbers that Lua compares for equality (`v`, `g`) are compared as
//! strings, because Lua numbers are doubles and both are `u64`; new values
//! come from Rust, or, for the version a rotation writes, from Lua only
//! while it is below 10^15 (exact in a double) and from `HINCRBY` (exact
//! 64-bit arithmetic) above. Times are
//! unix seconds, well inside a double's exact range, and a time a script
//! writes is always one of the strings it was given, never a Lua number
//! turned back into text.

use std::sync::LazyLock;

use redis::Script;

/// The fields a read returns, in this order: what
/// `store::assemble` turns back into a record.
pub(crate) const RECORD_FIELDS: [&str; 9] = ["g", "ch", "ph", "ra", "n", "re", "ae", "v", "d"];

/// `insert`: KEYS = session, user set, expiry index;
/// ARGV = expiry s, expiry ms, handle, index member, then the record's
/// field/value pairs. Returns 1 when inserted, 0 when the handle exists.
pub(crate) static INSERT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'u', KEYS[2], unpack(ARGV, 5))
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
-- Already expired by the server's clock: Redis dropped it, index nothing.
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
redis.call('SADD', KEYS[2], ARGV[3])
-- The user set lives as long as its longest-lived session.
if redis.call('PTTL', KEYS[2]) == -1 then
  redis.call('PEXPIREAT', KEYS[2], ARGV[2])
else
  redis.call('PEXPIREAT', KEYS[2], ARGV[2], 'GT')
end
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[4])
return 1
",
    )
});

/// `compare_and_swap`: KEYS = session, user set, expiry index;
/// ARGV = expected version, expiry s, expiry ms, index member, then the
/// record's field/value pairs (the new version among them).
/// Returns 1 when swapped, 0 when the version differs or the session is
/// missing, -1 when the record would move to another user.
pub(crate) static COMPARE_AND_SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'v', 'u')
if not cur[1] or cur[1] ~= ARGV[1] then return 0 end
if cur[2] ~= KEYS[2] then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('PEXPIREAT', KEYS[2], ARGV[3], 'GT')
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
return 1
",
    )
});

/// `rotate_if_current`: KEYS = session, expiry index;
/// ARGV = handle, expected generation, expected current hash, new
/// generation, new current hash, now (unix s), now + idle (unix s, or empty
/// when out of range), new nonce.
///
/// Returns `{status, g, ch, ph, ra, n, re, ae, v, d}`: status `1` and the
/// record as rotated, `0` and the record as found (nothing written), or
/// just `{0}` when there is no session.
///
/// The rotation applies when the session exists, is not expired at `now`
/// (`now < min(re, ae)`), and its generation and current hash are the
/// expected ones. It then writes exactly what `Rotation::apply` makes: the
/// generation and hashes move on, `ra` is now, `re` (and `e`) become
/// `min(now + idle, ae)` and `v` goes up by one, with the TTL, the user
/// set's TTL and the expiry index moved to the new expiry. The user set is
/// found through `u` (not declared in KEYS, like the keys the listing
/// scripts discover).
pub(crate) static ROTATE_IF_CURRENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local r = redis.call('HMGET', KEYS[1], 'g', 'ch', 'ph', 'ra', 'n', 're', 'ae', 'v', 'd', 'u')
if not r[9] then return {'0'} end
local re, ae = tonumber(r[6]), tonumber(r[7])
if r[1] ~= ARGV[2] or r[2] ~= ARGV[3] or not re or not ae or not r[10]
    or tonumber(ARGV[6]) >= math.min(re, ae) then
  return {'0', r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]}
end
local nre = r[7]
if ARGV[7] ~= '' and tonumber(ARGV[7]) < ae then nre = ARGV[7] end
-- The next version: computed exactly in Lua below 10^15 (doubles are exact
-- up to 2^53); above, by HINCRBY's 64-bit arithmetic, which fails having
-- written nothing past i64::MAX. Either way before any other write.
local v
if #r[8] <= 15 then
  v = string.format('%d', tonumber(r[8]) + 1)
else
  redis.call('HINCRBY', KEYS[1], 'v', 1)
  v = redis.call('HGET', KEYS[1], 'v')
end
redis.call('HSET', KEYS[1], 'v', v, 'g', ARGV[4], 'ch', ARGV[5], 'ph', r[2],
  'ra', ARGV[6], 'n', ARGV[8], 're', nre, 'e', nre)
redis.call('EXPIREAT', KEYS[1], nre)
redis.call('EXPIREAT', r[10], nre, 'GT')
redis.call('ZADD', KEYS[2], nre, ARGV[1] .. r[10])
return {'1', ARGV[4], ARGV[5], r[2], ARGV[6], ARGV[8], nre, r[7], v, r[9]}
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
/// Returns the fields of every live session of the user, nine per session
/// in the order of [`RECORD_FIELDS`], and removes the members whose session
/// Redis has already expired.
pub(crate) static LIST_BY_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local out = {}
for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local r = redis.call('HMGET', ARGV[1] .. h, 'u', 'g', 'ch', 'ph', 'ra', 'n', 're', 'ae', 'v', 'd')
  if r[1] == KEYS[1] and r[10] then
    for i = 2, 10 do out[#out + 1] = r[i] end
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
  local h = string.sub(m, 1, 24)
  local u = string.sub(m, 25)
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
