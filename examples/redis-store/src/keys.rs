//! The key layout: every name the store writes, derived from one prefix and
//! the bucket (hash slot) of the session or user it belongs to.

use sessionkit::SessionHandle;

use crate::placement::{bucket_of_handle, hash_tag};

/// The names of the keys under one prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`, which must not contain `{` or `}` (it would
    /// change the hash tag of every key).
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix every key starts with.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}:placement-key`: the secret that places users in buckets.
    pub(crate) fn placement_key(&self) -> String {
        format!("{}:placement-key", self.prefix)
    }

    /// `{prefix}:{tag}:s:{handle}`: the hash holding one session, in the
    /// bucket of its handle's placement tag.
    pub(crate) fn session(&self, handle: &SessionHandle) -> String {
        // The handle's text form is unpadded base64url: no `:`, `*` or `{`.
        format!(
            "{}:{{{}}}:s:{handle}",
            self.prefix,
            hash_tag(bucket_of_handle(handle))
        )
    }

    /// `{prefix}:{tag}:u:{hex(user_id)}`: the sorted set of a user's
    /// handles (as [`member`]) scored by creation time, in the user's
    /// bucket.
    ///
    /// User ids are arbitrary text; hex keeps `:`, `*`, `{`, spaces and
    /// prefixes of other ids from colliding or acting as hash tags.
    pub(crate) fn user(&self, bucket: u16, user_hex: &str) -> String {
        format!("{}:{{{}}}:u:{user_hex}", self.prefix, hash_tag(bucket))
    }

    /// `{prefix}:{tag}:e`: the sorted set of the bucket's sessions by
    /// expiry, members [`member`] followed by the user's hex id.
    pub(crate) fn expiry(&self, bucket: u16) -> String {
        format!("{}:{{{}}}:e", self.prefix, hash_tag(bucket))
    }
}

/// A handle as a member of the sorted sets: the hex of its 18 bytes, so
/// that members of equal score sort as handles do (byte order).
pub(crate) fn member(handle: &SessionHandle) -> String {
    hex::encode(handle.as_bytes())
}

/// The handle a [`member`] names, if it is one.
pub(crate) fn handle_of_member(member: &str) -> Option<SessionHandle> {
    let mut out = [0u8; SessionHandle::LEN];
    hex::decode_to_slice(member, &mut out).ok()?;
    Some(SessionHandle::from_bytes(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::slot_of;

    #[test]
    fn user_ids_cannot_collide_or_inject() {
        assert_eq!(hex::encode("a:b*".as_bytes()), "613a622a");
        assert_ne!(hex::encode(b"ab"), hex::encode(b"a"));
        assert_eq!(hex::encode("é".as_bytes()), "c3a9");
        assert!(!hex::encode(b"{x}").contains('{'));
    }

    #[test]
    fn keys_of_one_bucket_share_its_slot() {
        let k = Keys::new("p");
        let h = SessionHandle::new([3; 16], 4321);
        let tag = hash_tag(4321);
        assert_eq!(k.session(&h), format!("p:{{{tag}}}:s:{h}"));
        assert_eq!(k.user(4321, "61"), format!("p:{{{tag}}}:u:61"));
        assert_eq!(k.expiry(4321), format!("p:{{{tag}}}:e"));
        assert_eq!(slot_of(tag.to_string().as_bytes()), 4321);
    }

    #[test]
    fn members_sort_as_handles_and_round_trip() {
        let a = SessionHandle::new([0x00; 16], 7);
        let b = SessionHandle::new([0xfe; 16], 7);
        let c = SessionHandle::new([0x3f; 16], 7);
        let mut handles = [b, c, a];
        let mut members: Vec<String> = handles.iter().map(member).collect();
        handles.sort();
        members.sort();
        let back: Vec<SessionHandle> = members.iter().filter_map(|m| handle_of_member(m)).collect();
        assert_eq!(back, handles);
        assert_eq!(handle_of_member("zz"), None);
        assert_eq!(handle_of_member(&"g".repeat(36)), None);
    }
}
