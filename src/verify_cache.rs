//! A bounded cache of verified access tokens.
//!
//! A client sends the same access token with every request for its whole
//! lifetime (10 minutes by default); verifying it again each time is most
//! of the cost of authentication, and for EdDSA (about 45 µs a
//! verification) it dominates a service that does little else. The cache
//! remembers tokens that verified, and answers a token it has seen without
//! the signature check, under rules that keep the answer exactly the one a
//! full verification would give:
//!
//! - Only tokens that passed every check (signature, header, claims, not
//!   expired), signed by a fully trusted key found from the token's own
//!   header, are cached; failures never are.
//! - Entries are found by a keyed hash of the whole token (random keys per
//!   cache), then the stored token is compared with the presented one in
//!   constant time: a token one byte different is never answered from the
//!   cache, and a lookup's time does not tell where it differs.
//! - A hit checks the time claims again against the clock, with the same
//!   leeway (`exp`, `nbf`, `iat`, `auth_time`): an expired cached token is
//!   refused and verified in full (which answers `TryRefresh`).
//! - A hit looks the key up again from the header: once a retired key's
//!   window is over, its entries are refused. Entries remember the key set
//!   that verified them: when a [`Verifier`](crate::Verifier)'s keys change
//!   (a new JWKS), none of them is answered again, and the cache is
//!   cleared.
//! - The number of entries and the length of a cached token are bounded.
//! - A token enters the cache the second time it verifies, not the first:
//!   a token sent once (most requests of a client that is about to refresh,
//!   or a flood of distinct tokens) costs the cache a hash and a look at one
//!   slot, not an insertion. A small array of keyed hashes of recently seen
//!   tokens (never the tokens) says which were seen.
//!
//! The cache is `quick_cache`'s (a sharded, concurrent S3-FIFO cache), not
//! a hand-written one.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;

use crate::access_token::{self, Validation, Verified};
use crate::error::VerifyError;
use crate::keys::{KeySet, Trust};

/// Longest token the cache keeps, in bytes: longer ones are verified every
/// time. Our tokens are a few hundred bytes; custom claims make them longer.
pub(crate) const MAX_CACHED_TOKEN_LEN: usize = 2048;

/// A cache of verified tokens for one manager or verifier (one key set,
/// one validation).
pub(crate) struct VerifyCache {
    entries: quick_cache::sync::Cache<u64, Arc<Entry>>,
    /// Keyed hashes of tokens verified once: a token is cached when it
    /// verifies again while its hash is still here. Twice as many slots as
    /// entries, each overwritten by the next token that lands on it.
    seen: Box<[AtomicU64]>,
    /// Keyed with random keys drawn when the cache is made: where a token
    /// lands cannot be predicted or steered.
    hasher: ahash::RandomState,
    capacity: usize,
}

/// One verified token.
struct Entry {
    token: Box<[u8]>,
    verified: Verified,
    /// The key set that verified it ([`KeySet::id`]).
    key_set: u64,
}

/// A cache of `capacity` tokens, or none for 0 (the builders' setting).
pub(crate) fn optional(capacity: usize) -> Option<VerifyCache> {
    (capacity > 0).then(|| VerifyCache::new(capacity))
}

/// Stateless verification ([`Expiry::Enforce`](access_token::Expiry::Enforce)),
/// through `cache` when there is one.
#[inline]
pub(crate) fn verify(
    cache: Option<&VerifyCache>,
    keys: &KeySet,
    token: &str,
    now: OffsetDateTime,
    validation: &Validation,
) -> Result<Verified, VerifyError> {
    match cache {
        Some(cache) => cache.verify(keys, token, now, validation),
        None => access_token::verify(keys, token, now, validation, access_token::Expiry::Enforce),
    }
}

impl VerifyCache {
    /// A cache of at most `capacity` tokens.
    pub(crate) fn new(capacity: usize) -> Self {
        let slots = capacity
            .saturating_mul(2)
            .clamp(64, 1 << 22)
            .next_power_of_two();
        Self {
            entries: bounded_cache(capacity),
            seen: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            hasher: ahash::RandomState::new(),
            capacity,
        }
    }

    /// Verifies `token` with [`access_token::verify`]'s semantics
    /// ([`Expiry::Enforce`](access_token::Expiry::Enforce)), answering from
    /// the cache when it can and filling it on success.
    pub(crate) fn verify(
        &self,
        keys: &KeySet,
        token: &str,
        now: OffsetDateTime,
        validation: &Validation,
    ) -> Result<Verified, VerifyError> {
        if token.len() > MAX_CACHED_TOKEN_LEN {
            return access_token::verify(
                keys,
                token,
                now,
                validation,
                access_token::Expiry::Enforce,
            );
        }
        let key = self.hasher.hash_one(token.as_bytes());
        if let Some(verified) = self.hit(key, keys, token, now, validation) {
            return Ok(verified);
        }
        let (verified, cacheable) = access_token::verify_cacheable(keys, token, now, validation)?;
        if cacheable && self.seen_before(key) {
            self.entries.insert(
                key,
                Arc::new(Entry {
                    token: token.as_bytes().into(),
                    verified: verified.clone(),
                    key_set: keys.id(),
                }),
            );
        }
        Ok(verified)
    }

    /// The cached verification of `token`, if there is one that still
    /// holds at `now`.
    #[inline]
    fn hit(
        &self,
        key: u64,
        keys: &KeySet,
        token: &str,
        now: OffsetDateTime,
        validation: &Validation,
    ) -> Option<Verified> {
        let entry = self.entries.get(&key)?;
        // Verified by these very keys, not a key set since replaced.
        if entry.key_set != keys.id() {
            return None;
        }
        // The whole token, in constant time: a keyed-hash collision or a
        // near miss is a miss, and its timing says nothing about where.
        if !constant_time_eq::constant_time_eq(&entry.token, token.as_bytes()) {
            return None;
        }
        if !entry.verified.times().hold_at(now, validation.leeway) {
            return None;
        }
        // The key must still be fully trusted (a retired key's window may
        // have ended since). Cached tokens all have their key's own header.
        let header = token.split_once('.').map(|(header, _)| header)?;
        match keys.find_by_encoded_header(header, now) {
            Some((_, Trust::Full)) => Some(entry.verified.clone()),
            _ => None,
        }
    }

    /// Whether the token with this keyed hash verified recently, noting
    /// that it has now.
    #[inline]
    fn seen_before(&self, key: u64) -> bool {
        // The high bits pick the slot (the cache's own table uses the
        // hash again, and a different spread of it).
        let mask = self.seen.len() - 1;
        let slot = (key >> 32) as usize & mask;
        self.seen
            .get(slot)
            .is_some_and(|s| s.swap(key, Ordering::Relaxed) == key)
    }

    /// Forgets every entry: the key set changed.
    pub(crate) fn clear(&self) {
        self.entries.clear();
    }

    /// How many tokens are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A `quick_cache` that never holds more than `capacity` entries. It
/// splits its capacity over shards (their number follows the CPU count),
/// rounding each shard's share up; a capacity that is not a multiple of the
/// shard count is asked for rounded down to one.
fn bounded_cache(capacity: usize) -> quick_cache::sync::Cache<u64, Arc<Entry>> {
    let cache = quick_cache::sync::Cache::new(capacity);
    let shards = cache.num_shards().max(1);
    if cache.capacity() <= capacity as u64 || capacity < shards {
        return cache;
    }
    quick_cache::sync::Cache::new(capacity / shards * shards)
}

impl fmt::Debug for VerifyCache {
    /// The size only: never a token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyCache")
            .field("capacity", &self.capacity)
            .field("len", &self.entries.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::access_token::{Claims, Expiry, sign};
    use crate::error::Rejection;
    use crate::keys::SigningKey;
    use crate::record::SessionHandle;

    const NOW: i64 = 1_900_000_000;

    fn at(offset: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW + offset).unwrap()
    }

    fn key(kid: &str) -> SigningKey {
        SigningKey::hs256(kid, &[0x42; 32]).unwrap()
    }

    fn validation() -> Validation {
        Validation {
            leeway: 30,
            issuer: None,
            audience: None,
            max_len: 4096,
        }
    }

    fn token(key: &SigningKey, user: &str, exp: i64) -> String {
        let sid = SessionHandle::from_bytes([3; 18]);
        sign(
            key,
            &Claims {
                sub: user,
                sid: &sid,
                generation: 1,
                iat: NOW,
                exp: NOW + exp,
                auth_time: NOW,
                iss: None,
                aud: None,
                custom: &Map::new(),
            },
        )
        .expose()
        .to_owned()
    }

    fn full(keys: &KeySet, token: &str, now: OffsetDateTime) -> Result<Verified, VerifyError> {
        access_token::verify(keys, token, now, &validation(), Expiry::Enforce)
    }

    fn same(a: &Result<Verified, VerifyError>, b: &Result<Verified, VerifyError>) -> bool {
        match (a, b) {
            (Ok(a), Ok(b)) => {
                format!("{a:?} {:?}", a.claims()) == format!("{b:?} {:?}", b.claims())
            }
            (Err(a), Err(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }

    #[test]
    fn sec_50_a_hit_answers_exactly_as_a_full_verification() {
        let keys = KeySet::new(key("k"), vec![]).unwrap();
        let cache = VerifyCache::new(16);
        let t = token(&key("k"), "alice", 600);
        let first = cache.verify(&keys, &t, at(0), &validation());
        assert_eq!(cache.len(), 0, "a token seen once is not kept");
        let second = cache.verify(&keys, &t, at(0), &validation());
        assert!(same(&first, &second));
        assert_eq!(cache.len(), 1, "a valid token seen twice is cached");
        for offset in [0, 1, 300, 599, 600 + 29] {
            let hit = cache.verify(&keys, &t, at(offset), &validation());
            assert!(same(&hit, &full(&keys, &t, at(offset))), "at {offset}");
            assert!(same(&hit, &first));
        }
    }

    /// An expired cached token is refused: the full verification then says
    /// `TryRefresh`, as it would without a cache.
    #[test]
    fn sec_50_an_expired_cached_token_is_refused() {
        let keys = KeySet::new(key("k"), vec![]).unwrap();
        let cache = VerifyCache::new(16);
        let t = token(&key("k"), "alice", 600);
        cache.verify(&keys, &t, at(0), &validation()).unwrap();
        cache.verify(&keys, &t, at(0), &validation()).unwrap();
        assert_eq!(cache.len(), 1);
        // exp + leeway: expired.
        assert!(matches!(
            cache.verify(&keys, &t, at(630), &validation()),
            Err(VerifyError::TryRefresh)
        ));
        // And before `iat` (a clock set back) it does not hold either.
        assert!(matches!(
            cache.verify(&keys, &t, at(-31), &validation()),
            Err(VerifyError::Unauthorized(Rejection::Claims))
        ));
    }

    /// No token one byte different from a cached one is answered from the
    /// cache: every one of them fails exactly as a full verification does.
    #[test]
    fn sec_50_a_token_one_byte_different_is_never_answered_from_the_cache() {
        let keys = KeySet::new(key("k"), vec![]).unwrap();
        let cache = VerifyCache::new(16);
        let t = token(&key("k"), "alice", 600);
        cache.verify(&keys, &t, at(0), &validation()).unwrap();
        cache.verify(&keys, &t, at(0), &validation()).unwrap();
        assert_eq!(cache.len(), 1);
        for i in 0..t.len() {
            for replacement in [b'A', b'B', b'-', b'.', b'z'] {
                let mut bytes = t.clone().into_bytes();
                if bytes[i] == replacement {
                    continue;
                }
                bytes[i] = replacement;
                let other = String::from_utf8(bytes).unwrap();
                let cached = cache.verify(&keys, &other, at(1), &validation());
                assert!(
                    same(&cached, &full(&keys, &other, at(1))),
                    "byte {i} -> {replacement}: {cached:?}"
                );
            }
        }
        // Longer and shorter, too.
        for other in [format!("{t}A"), t[..t.len() - 1].to_owned()] {
            let cached = cache.verify(&keys, &other, at(1), &validation());
            assert!(same(&cached, &full(&keys, &other, at(1))), "{cached:?}");
        }
    }

    /// A different token whose keyed hash lands on a cached entry (a
    /// collision, planted here: the hash is 64 bits and keyed, so it cannot
    /// be aimed at) is never answered with that entry: the stored token is
    /// compared in full, however close the two are.
    #[test]
    fn sec_50_a_hash_collision_is_never_answered_from_the_cache() {
        let keys = KeySet::new(key("k"), vec![]).unwrap();
        let cache = VerifyCache::new(16);
        let stored = token(&key("k"), "alice", 600);
        let entry = Arc::new(Entry {
            token: stored.as_bytes().into(),
            verified: full(&keys, &stored, at(0)).unwrap(),
            key_set: keys.id(),
        });
        let last = stored.len() - 1;
        let changed = |i: usize| {
            let mut bytes = stored.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap()
        };
        let bob = token(&key("k"), "bob", 600);
        for other in [changed(0), changed(last), format!("{stored}A"), bob] {
            let hash = cache.hasher.hash_one(other.as_bytes());
            cache.entries.insert(hash, Arc::clone(&entry));
            let answer = cache.verify(&keys, &other, at(1), &validation());
            assert!(same(&answer, &full(&keys, &other, at(1))), "{answer:?}");
        }
    }

    /// Once a retired key's window is over, its cached tokens are refused
    /// (and a token it signed that is still valid is unknown); tokens of a
    /// key set since replaced are never answered.
    #[test]
    fn sec_50_a_retired_or_removed_key_invalidates_its_entries() {
        let until = at(100);
        let keys = KeySet::new(key("new"), vec![(key("old"), until)]).unwrap();
        let cache = VerifyCache::new(16);
        let t = token(&key("old"), "alice", 600);
        cache.verify(&keys, &t, at(0), &validation()).unwrap();
        cache.verify(&keys, &t, at(1), &validation()).unwrap();
        assert_eq!(cache.len(), 1);
        cache.verify(&keys, &t, at(99), &validation()).unwrap();
        assert!(matches!(
            cache.verify(&keys, &t, until, &validation()),
            Err(VerifyError::Unauthorized(Rejection::UnknownKey))
        ));
        // A new key set (a verifier's new JWKS) with a key of the same kid,
        // and so the same header, but another secret: the entry verified
        // by the old set is not answered; the token is verified in full,
        // and its signature fails.
        let current = token(&key("new"), "bob", 600);
        cache.verify(&keys, &current, at(0), &validation()).unwrap();
        cache.verify(&keys, &current, at(0), &validation()).unwrap();
        let replaced = SigningKey::hs256("new", &[0x43; 32]).unwrap();
        let replaced = KeySet::new(replaced, vec![]).unwrap();
        assert!(matches!(
            cache.verify(&replaced, &current, at(1), &validation()),
            Err(VerifyError::Unauthorized(Rejection::Signature))
        ));
    }

    #[test]
    fn sec_50_failures_are_never_cached() {
        let keys = KeySet::new(key("k"), vec![]).unwrap();
        let cache = VerifyCache::new(16);
        let expired = token(&key("k"), "alice", -100);
        let forged = token(&SigningKey::hs256("k", &[0x43; 32]).unwrap(), "eve", 600);
        for _ in 0..3 {
            assert!(cache.verify(&keys, &expired, at(0), &validation()).is_err());
            assert!(cache.verify(&keys, "a.b.c", at(0), &validation()).is_err());
            assert!(cache.verify(&keys, &forged, at(0), &validation()).is_err());
        }
        assert_eq!(cache.len(), 0);
    }

    /// A million distinct valid tokens, each verified twice (the second
    /// time it enters the cache), never grow the cache past its bound. Two
    /// threads share the cache, as a server's requests do.
    #[test]
    fn sec_50_a_million_tokens_stay_within_the_bound() {
        const TOKENS: u32 = 1_000_000;
        let capacity = 1000;
        let cache = VerifyCache::new(capacity);
        let keys = KeySet::new(key("k"), vec![]).unwrap();
        let signer = key("k");
        std::thread::scope(|scope| {
            for half in 0..2 {
                let (cache, keys, signer) = (&cache, &keys, &signer);
                scope.spawn(move || {
                    for i in (half..TOKENS).step_by(2) {
                        let t = token(signer, &format!("user-{i}"), 600);
                        for _ in 0..2 {
                            let verified = cache.verify(keys, &t, at(0), &validation()).unwrap();
                            assert_eq!(verified.user_id(), format!("user-{i}"));
                        }
                        if i % 50_000 < 2 {
                            assert!(cache.len() <= capacity, "{} after {i}", cache.len());
                        }
                    }
                });
            }
        });
        assert!(cache.len() <= capacity, "{}", cache.len());
        // And it is still in use: a token verified twice more is kept.
        let t = token(&signer, "one-more", 600);
        cache.verify(&keys, &t, at(0), &validation()).unwrap();
        cache.verify(&keys, &t, at(0), &validation()).unwrap();
        let kept = cache.entries.get(&cache.hasher.hash_one(t.as_bytes()));
        assert!(kept.is_some_and(|entry| *entry.token == *t.as_bytes()));
    }

    /// The cache never holds more than asked, whatever the shard count
    /// (which follows this machine's CPUs).
    #[test]
    fn the_capacity_is_a_bound_on_every_machine() {
        for capacity in (1..300).chain((300..20_000).step_by(97)) {
            let held = bounded_cache(capacity).capacity();
            assert!(held <= capacity as u64, "{held} for {capacity}");
            // Rounded down to a multiple of the shard count, no further.
            let plain = quick_cache::sync::Cache::<u64, Arc<Entry>>::new(capacity);
            let shards = plain.num_shards() as u64;
            assert!(held + shards > capacity as u64, "{held} for {capacity}");
        }
    }

    #[test]
    fn long_tokens_are_verified_but_not_kept() {
        let keys = KeySet::new(key("k"), vec![]).unwrap();
        let cache = VerifyCache::new(16);
        let mut custom = Map::new();
        custom.insert("pad".into(), "x".repeat(MAX_CACHED_TOKEN_LEN).into());
        let sid = SessionHandle::from_bytes([3; 18]);
        let long = sign(
            &key("k"),
            &Claims {
                sub: "alice",
                sid: &sid,
                generation: 1,
                iat: NOW,
                exp: NOW + 600,
                auth_time: NOW,
                iss: None,
                aud: None,
                custom: &custom,
            },
        );
        for _ in 0..3 {
            cache
                .verify(&keys, long.expose(), at(0), &validation())
                .unwrap();
        }
        assert_eq!(cache.len(), 0);
    }
}
