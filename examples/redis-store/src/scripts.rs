//! The Lua scripts: each one atomic step and one round trip, touching only
//! keys it is given in `KEYS`, all in one hash slot (see [`crate::keys`]).
//!
//! A session is a hash: `u` its user's id in hex, `op` the id of the last
//! write (below), `d` the fields no rotation changes (handle, user id,
//! creation and authentication times, claims, session data) as JSON, and one
//! field per value a rotation changes or reads: `g` generation, `ch` current
//! hash, `ph` previous hash, `ra` rotated at, `n` nonce, `re` refresh
//! expiry, `ae` absolute expiry, `v` CAS version, `e` expiry (the earlier of
//! `re` and `ae`). The scripts never parse `d`: Lua's JSON would round
//! numbers in the session data.
//!
//! Numbers that Lua compares for equality (`v`, `g`) are compared as
//! strings, because Lua numbers are doubles and both are `u64`; new values
//! come from Rust, or, for the version a rotation writes, from Lua only
//! while it is below 10^15 (exact in a double) and from `HINCRBY` (exact
//! 64-bit arithmetic) above. Times are unix seconds (or milliseconds for
//! `PEXPIREAT`), well inside a double's exact range, and a time a script
//! writes is always one of the strings it was given.
//!
//! **Replayed writes.** A cluster connection re-sends a command whose
//! connection dropped or timed out (to the new primary after a failover),
//! so a script may run twice for one call. Every write carries a fresh
//! operation id (`op`), stored with what it wrote; a script that finds its
//! own id answers as the first run did (`insert`, `compare_and_swap`,
//! `rotate_if_current`), instead of reporting a conflict with itself.
//!
//! **Cost.** n is the number of the user's sessions, at most the session
//! limit when one is set (the manager's default is 100); N the number of
//! sessions in the bucket (1/16,384 of all); b the purge batch (500).
//!
//! | script | keys | cost |
//! |---|---|---|
//! | [`INSERT`] under the limit | session, bucket expiry index, user index | O(log N) |
//! | [`INSERT`] at the limit | the same, and every session of the user | O(n + log N) |
//! | [`COMPARE_AND_SWAP`] | session, bucket expiry index, user index | O(log N) |
//! | [`ROTATE_IF_CURRENT`] | session, bucket expiry index | O(log N) |
//! | [`DELETE`] | session, bucket expiry index | O(log N) |
//! | [`LIST_BY_USER`] | user index, the user's sessions | O(n) |
//! | [`DELETE_BY_USER`] | user index, bucket expiry index, the user's sessions | O(n log N) |
//! | [`PURGE_BATCH`] | bucket expiry index, up to b sessions | O(b log N) |
//! | [`INDEX_ADD`] | user index | O(log n) |

use std::sync::LazyLock;

use redis::Script;

/// The fields a read returns, in this order: what `codec::assemble` turns
/// back into a record.
pub(crate) const RECORD_FIELDS: [&str; 9] = ["g", "ch", "ph", "ra", "n", "re", "ae", "v", "d"];

/// `insert` and `insert_capped`.
///
/// KEYS = session, bucket expiry index, then (only when the user's index
/// is in the same slot) the user index and the session keys of the
/// declared members.
/// ARGV = expiry ms, absolute expiry ms, expiry s, member, created at (s),
/// user hex, op id, limit (0 for none), number of declared members c, the
/// c declared members (in the order of their keys), then the record's
/// field/value pairs.
///
/// Returns `{'exists', owner}` when the handle is taken (nothing written),
/// `{'done'}` when this very call was applied before (a replay),
/// `{'need', members...}` when the user is at the limit and not every
/// member of the index was declared (nothing written: call again with
/// them), or `{'ok', evicted members...}` oldest first.
///
/// At the limit, every member is checked: those whose session is gone
/// (expired by Redis, deleted) or belongs to someone else leave the index
/// without counting; of the others, the oldest (by score, which is the
/// creation time, then by member, which sorts as the handle) go until the
/// new session fits. The new session is never among them. A record already
/// expired by the server's clock is not written at all.
pub(crate) static INSERT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local c = tonumber(ARGV[9])
if redis.call('EXISTS', KEYS[1]) == 1 then
  local cur = redis.call('HMGET', KEYS[1], 'op', 'u')
  if cur[1] == ARGV[7] then return {'done'} end
  return {'exists', cur[2] or ''}
end
local t = redis.call('TIME')
if tonumber(ARGV[1]) <= tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then
  return {'ok'}
end
local evicted = {'ok'}
local max = tonumber(ARGV[8])
if KEYS[3] and max > 0 and redis.call('ZCARD', KEYS[3]) + 1 > max then
  local members = redis.call('ZRANGE', KEYS[3], 0, -1)
  local declared = {}
  for i = 1, c do declared[ARGV[9 + i]] = KEYS[3 + i] end
  for _, m in ipairs(members) do
    if not declared[m] then
      local out = {'need'}
      for _, x in ipairs(members) do out[#out + 1] = x end
      return out
    end
  end
  local live = {}
  for _, m in ipairs(members) do
    if redis.call('HGET', declared[m], 'u') == ARGV[6] then
      live[#live + 1] = m
    else
      redis.call('ZREM', KEYS[3], m)
    end
  end
  for i = 1, #live + 1 - max do
    local m = live[i]
    redis.call('DEL', declared[m])
    redis.call('ZREM', KEYS[3], m)
    redis.call('ZREM', KEYS[2], m .. ARGV[6])
    evicted[#evicted + 1] = m
  end
end
redis.call('HSET', KEYS[1], 'u', ARGV[6], 'op', ARGV[7], unpack(ARGV, 10 + c))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4] .. ARGV[6])
if KEYS[3] then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
  -- The index lives as long as the user's longest absolute lifetime, which
  -- no rotation extends.
  if redis.call('PTTL', KEYS[3]) == -1 then
    redis.call('PEXPIREAT', KEYS[3], ARGV[2])
  else
    redis.call('PEXPIREAT', KEYS[3], ARGV[2], 'GT')
  end
end
return evicted
",
    )
});

/// Adds a member to a user index whose sessions live in another slot
/// (a handle this store did not place), before the session is written.
///
/// KEYS = user index; ARGV = created at (s), member, absolute expiry ms.
pub(crate) static INDEX_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
else
  redis.call('PEXPIREAT', KEYS[1], ARGV[3], 'GT')
end
return 1
",
    )
});

/// `compare_and_swap`: KEYS = session, bucket expiry index, and the user
/// index when it is in the same slot; ARGV = expected version, new
/// version, expiry s, expiry ms, absolute expiry ms, member, user hex, op
/// id, then the record's field/value pairs (the new version among them).
/// Returns 1 when swapped (or when this very call was, before), 0 when the
/// version differs or the session is missing, -1 when the record would
/// move to another user.
pub(crate) static COMPARE_AND_SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'v', 'u', 'op')
if not cur[1] then return 0 end
if cur[1] ~= ARGV[1] then
  if cur[1] == ARGV[2] and cur[3] == ARGV[8] then return 1 end
  return 0
end
if cur[2] ~= ARGV[7] then return -1 end
redis.call('HSET', KEYS[1], 'op', ARGV[8], unpack(ARGV, 9))
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[6] .. ARGV[7])
if KEYS[3] then redis.call('PEXPIREAT', KEYS[3], ARGV[5], 'GT') end
return 1
",
    )
});

/// `rotate_if_current`: KEYS = session, bucket expiry index;
/// ARGV = member, expected generation, expected current hash, new
/// generation, new current hash, now (unix s), now + idle (unix s, or empty
/// when out of range), new nonce, op id.
///
/// Returns `{status, g, ch, ph, ra, n, re, ae, v, d}`: status `1` and the
/// record as rotated, `0` and the record as found (nothing written), or
/// just `{0}` when there is no session.
///
/// The rotation applies when the session exists, is not expired at `now`
/// (`now < min(re, ae)`), and its generation and current hash are the
/// expected ones. It then writes exactly what `Rotation::apply` makes: the
/// generation and hashes move on, `ra` is now, `re` (and `e`) become
/// `min(now + idle, ae)` and `v` goes up by one, with the TTL and the
/// expiry index moved to the new expiry. The user index needs no change:
/// it expires with the absolute expiry, which a rotation never moves. A
/// replay of a call that was applied (same op id, and the record still as
/// it left it) answers `1` again.
pub(crate) static ROTATE_IF_CURRENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local r = redis.call('HMGET', KEYS[1], 'g', 'ch', 'ph', 'ra', 'n', 're', 'ae', 'v', 'd', 'u', 'op')
if not r[9] then return {'0'} end
if r[11] == ARGV[9] and r[1] == ARGV[4] and r[2] == ARGV[5] then
  return {'1', r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]}
end
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
  'ra', ARGV[6], 'n', ARGV[8], 're', nre, 'e', nre, 'op', ARGV[9])
redis.call('EXPIREAT', KEYS[1], nre)
redis.call('ZADD', KEYS[2], nre, ARGV[1] .. r[10])
return {'1', ARGV[4], ARGV[5], r[2], ARGV[6], ARGV[8], nre, r[7], v, r[9]}
",
    )
});

/// `delete`: KEYS = session, bucket expiry index; ARGV = member, the
/// owner it must have (user hex, or empty for any).
/// Returns `{1, owner}` when a session was deleted, `{0, owner}` when there
/// was none (owner empty) or it belongs to someone else.
///
/// The member stays in its user's index until the next listing, revocation
/// of all, purge or insert at the limit drops it (they check every member
/// they read): the index's key is not known from the handle alone.
pub(crate) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local u = redis.call('HGET', KEYS[1], 'u')
if not u then return {'0', ''} end
if ARGV[2] ~= '' and u ~= ARGV[2] then return {'0', u} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1] .. u)
return {'1', u}
",
    )
});

/// `list_by_user`: KEYS = user index, then the session keys of the members
/// in the index's slot; ARGV = user hex, member count n, the n members in
/// index order, then for each member the position of its key in KEYS (0
/// for a member in another slot, which the caller reads itself).
///
/// Returns `{'retry'}` when the index no longer holds exactly those
/// members, else `{'ok'}` followed by nine fields per live session in the
/// order of [`RECORD_FIELDS`]; members whose session is gone or belongs to
/// someone else leave the index.
pub(crate) static LIST_BY_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = tonumber(ARGV[2])
local cur = redis.call('ZRANGE', KEYS[1], 0, -1)
if #cur ~= n then return {'retry'} end
for i = 1, n do
  if cur[i] ~= ARGV[2 + i] then return {'retry'} end
end
local out = {'ok'}
for i = 1, n do
  local k = tonumber(ARGV[2 + n + i])
  if k > 0 then
    local r = redis.call('HMGET', KEYS[k], 'u', 'g', 'ch', 'ph', 'ra', 'n', 're', 'ae', 'v', 'd')
    if r[1] == ARGV[1] and r[10] then
      for j = 2, 10 do out[#out + 1] = r[j] end
    else
      redis.call('ZREM', KEYS[1], cur[i])
    end
  end
end
return out
",
    )
});

/// `delete_by_user`: KEYS = user index, the bucket expiry index of the
/// same slot, then the session keys of the members in that slot;
/// ARGV = user hex, member to keep (or empty), member count n, the n
/// members in index order, then for each the position of its key in KEYS
/// (0 for a member in another slot, which the caller deletes itself).
///
/// Returns `{'retry'}` when the index no longer holds exactly those
/// members (nothing written), else `{'ok', deleted}`. So a session created
/// while it runs is either deleted or created after it: never missed.
pub(crate) static DELETE_BY_USER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = tonumber(ARGV[3])
local cur = redis.call('ZRANGE', KEYS[1], 0, -1)
if #cur ~= n then return {'retry'} end
for i = 1, n do
  if cur[i] ~= ARGV[3 + i] then return {'retry'} end
end
local deleted = 0
for i = 1, n do
  local k = tonumber(ARGV[3 + n + i])
  local m = cur[i]
  if k > 0 and m ~= ARGV[2] then
    if redis.call('HGET', KEYS[k], 'u') == ARGV[1] then
      redis.call('DEL', KEYS[k])
      deleted = deleted + 1
    end
    redis.call('ZREM', KEYS[1], m)
    redis.call('ZREM', KEYS[2], m .. ARGV[1])
  end
end
return {'ok', tostring(deleted)}
",
    )
});

/// `purge_expired`, one batch of one bucket: KEYS = bucket expiry index,
/// then the session key of each member; ARGV = now (unix s), then the
/// expiry-index members (member ++ user hex) read just before.
///
/// Returns `{deleted, removed members...}`: each member whose session is
/// gone or expired at `now` leaves the index (its session deleted), and the
/// caller drops it from its user's index; a member whose session lives on
/// (a rotation moved it meanwhile) is re-scored to its real expiry.
pub(crate) static PURGE_BATCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local now = tonumber(ARGV[1])
local deleted = 0
local removed = {}
for i = 2, #ARGV do
  local m, k = ARGV[i], KEYS[i]
  local e = redis.call('HGET', k, 'e')
  if not e then
    redis.call('ZREM', KEYS[1], m)
    removed[#removed + 1] = m
  elseif tonumber(e) <= now then
    redis.call('DEL', k)
    redis.call('ZREM', KEYS[1], m)
    deleted = deleted + 1
    removed[#removed + 1] = m
  else
    redis.call('ZADD', KEYS[1], e, m)
  end
end
return {tostring(deleted), unpack(removed)}
",
    )
});
