//! Placement: the hash slot of every key, and the placement tag a session
//! handle carries so that the handle alone leads to its slot.
//!
//! Redis Cluster hashes a key to one of 16,384 slots by the text between
//! its first `{` and the next `}` (the hash tag). The store has one bucket
//! per slot: bucket `b` writes its keys with a hash tag whose slot is `b`
//! itself ([`hash_tag`]). A user's bucket is a keyed hash of the user id
//! ([`PlacementKey::bucket`]); a session's bucket is the placement tag in
//! its handle ([`bucket_of_handle`]), which the store set to its user's
//! bucket when the session was created.

use std::fmt;
use std::sync::LazyLock;

use hmac::{Hmac, KeyInit, Mac};
use sessionkit::SessionHandle;
use sha2::Sha256;

/// How many buckets there are: one per Redis Cluster hash slot.
pub(crate) const BUCKETS: u16 = 16_384;

/// The length of a placement key, in bytes.
pub(crate) const PLACEMENT_KEY_LEN: usize = 32;

/// For each bucket, the smallest decimal number whose text hashes to that
/// bucket's slot: the hash tag of the bucket's keys.
static HASH_TAGS: LazyLock<Vec<u32>> = LazyLock::new(|| {
    let mut tags = vec![u32::MAX; usize::from(BUCKETS)];
    let mut missing = tags.len();
    // About 170,000 numbers cover every slot (coupon collector over 16,384
    // slots); the unit tests check that every slot is reached.
    let mut n = 0u32;
    while missing > 0 && n < u32::MAX {
        let slot = usize::from(slot_of(n.to_string().as_bytes()));
        if let Some(tag) = tags.get_mut(slot)
            && *tag == u32::MAX
        {
            *tag = n;
            missing -= 1;
        }
        n += 1;
    }
    tags
});

/// The Redis Cluster slot of a hash tag (or of a key without one):
/// CRC16-XMODEM modulo 16,384.
pub(crate) fn slot_of(tag: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(tag) % BUCKETS
}

/// The hash tag (without braces) of the keys of `bucket`; its slot is
/// `bucket`.
pub(crate) fn hash_tag(bucket: u16) -> u32 {
    HASH_TAGS
        .get(usize::from(bucket % BUCKETS))
        .copied()
        .unwrap_or_default()
}

/// The bucket a session lives in: its handle's placement tag, modulo the
/// number of buckets (a handle not placed by this store still has one).
pub(crate) fn bucket_of_handle(handle: &SessionHandle) -> u16 {
    handle.tag() % BUCKETS
}

/// The secret that places users in buckets: HMAC-SHA256 keyed with 32
/// random bytes that the store generates once and keeps in Redis.
///
/// The tag travels in every token, so it must not reveal the user id
/// (SEC-02): without this key nobody can test a guessed user id against a
/// tag.
#[derive(Clone)]
pub(crate) struct PlacementKey(Hmac<Sha256>);

impl PlacementKey {
    pub(crate) fn new(key: &[u8; PLACEMENT_KEY_LEN]) -> Self {
        // HMAC accepts keys of every length; 32 bytes is one of them.
        match Hmac::<Sha256>::new_from_slice(key) {
            Ok(mac) => Self(mac),
            Err(_) => unreachable_key_length(),
        }
    }

    /// The bucket of every session of `user_id`: the first 14 bits of the
    /// keyed hash of the user id.
    pub(crate) fn bucket(&self, user_id: &str) -> u16 {
        let mut mac = self.0.clone();
        mac.update(user_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let (first, second) = (digest.first(), digest.get(1));
        u16::from_be_bytes([
            first.copied().unwrap_or_default(),
            second.copied().unwrap_or_default(),
        ]) % BUCKETS
    }
}

#[expect(
    clippy::panic,
    reason = "HMAC takes keys of any length: this is never called"
)]
fn unreachable_key_length() -> ! {
    panic!("HMAC-SHA256 refused a 32-byte key")
}

impl fmt::Debug for PlacementKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlacementKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn slot_matches_the_redis_cluster_specification() {
        // The example from the Redis Cluster specification: "123456789"
        // has CRC16-XMODEM 0x31C3, so slot 0x31C3 % 16384 = 12739.
        assert_eq!(slot_of(b"123456789"), 12_739);
        // Slots of well-known keys, as `CLUSTER KEYSLOT` reports them.
        assert_eq!(slot_of(b"foo"), 12_182);
        assert_eq!(slot_of(b"bar"), 5_061);
    }

    #[test]
    fn every_bucket_has_a_tag_that_hashes_to_it() {
        for bucket in 0..BUCKETS {
            let tag = hash_tag(bucket);
            assert_ne!(tag, u32::MAX, "bucket {bucket} has no tag");
            assert_eq!(slot_of(tag.to_string().as_bytes()), bucket);
        }
    }

    #[test]
    fn handles_place_by_their_tag() {
        let h = SessionHandle::new([7; 16], 1234);
        assert_eq!(bucket_of_handle(&h), 1234);
        let h = SessionHandle::new([7; 16], u16::MAX);
        assert_eq!(bucket_of_handle(&h), u16::MAX % BUCKETS);
    }

    /// SEC-02: the bucket depends on the secret key, not only on the user
    /// id, and users spread over every bucket.
    #[test]
    fn sec_02_buckets_depend_on_the_key_and_spread_evenly() {
        let a = PlacementKey::new(&[1; 32]);
        let b = PlacementKey::new(&[2; 32]);
        let users: Vec<String> = (0..1000).map(|i| format!("user-{i}")).collect();
        let same = users.iter().filter(|u| a.bucket(u) == b.bucket(u)).count();
        assert!(
            same < 10,
            "{same} of 1000 users in the same bucket under two keys"
        );
        assert_eq!(a.bucket("alice"), a.bucket("alice"), "stable for one key");

        // 16 users per bucket on average: every count stays well inside
        // what a uniform spread gives (Poisson(16): P(count > 50) < 1e-10).
        let mut counts = vec![0u32; usize::from(BUCKETS)];
        for i in 0..(16 * u32::from(BUCKETS)) {
            counts[usize::from(a.bucket(&format!("u{i}")))] += 1;
        }
        let max = counts.iter().copied().max().unwrap_or_default();
        let empty = counts.iter().filter(|&&c| c == 0).count();
        assert!(max <= 50, "fullest bucket holds {max}");
        assert!(empty < 5, "{empty} empty buckets");
    }
}
