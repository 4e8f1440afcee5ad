//! The key layout: every name the store writes, derived from one prefix.

use std::fmt::Write as _;

use sessionkit::SessionHandle;

/// The names of the keys under one prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
    session_prefix: String,
    user_prefix: String,
    expiry_index: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            session_prefix: format!("{prefix}:s:"),
            user_prefix: format!("{prefix}:u:"),
            expiry_index: format!("{prefix}:exp"),
        }
    }

    /// The prefix every key starts with.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}:s:`, to which the scripts append a handle.
    pub(crate) fn session_prefix(&self) -> &str {
        &self.session_prefix
    }

    /// `{prefix}:s:{handle}`: the hash holding one session.
    pub(crate) fn session(&self, handle: &SessionHandle) -> String {
        // The handle's text form is unpadded base64url: no `:`, `*` or `{`.
        format!("{}{handle}", self.session_prefix)
    }

    /// `{prefix}:u:{hex(user_id)}`: the set of a user's handles.
    ///
    /// User ids are arbitrary text; hex keeps `:`, `*`, `{`, spaces and
    /// prefixes of other ids from colliding or acting as hash tags.
    pub(crate) fn user(&self, user_id: &str) -> String {
        let mut key = String::with_capacity(self.user_prefix.len() + 2 * user_id.len());
        key.push_str(&self.user_prefix);
        for b in user_id.bytes() {
            // Writing to a String cannot fail.
            let _ = write!(key, "{b:02x}");
        }
        key
    }

    /// `{prefix}:exp`: the sorted set of `handle ++ user key` by expiry.
    pub(crate) fn expiry_index(&self) -> &str {
        &self.expiry_index
    }
}

/// The expiry-index member of a session: its handle (always 24 characters)
/// followed by its user key, so that a purge can clean the user index even
/// after Redis has expired the session itself.
pub(crate) fn index_member(handle: &SessionHandle, user_key: &str) -> String {
    format!("{handle}{user_key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_cannot_collide_or_inject() {
        let k = Keys::new("p");
        assert_eq!(k.user("a:b*"), "p:u:613a622a");
        assert_ne!(k.user("ab"), k.user("a"));
        assert_eq!(k.user("é"), "p:u:c3a9");
        assert!(!k.user("{x}").contains('{'));
    }

    #[test]
    fn session_keys_use_the_handle_text() {
        let k = Keys::new("p");
        let h = SessionHandle::from_bytes([0; 18]);
        assert_eq!(k.session(&h), format!("p:s:{h}"));
        assert_eq!(index_member(&h, "p:u:61").len(), 24 + 6);
    }
}
