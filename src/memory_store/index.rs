//! The per-user index of the memory store: each user's session handles,
//! under one shared copy of the user id.

use std::collections::{HashMap, HashSet};
use std::hash::RandomState;
use std::sync::Arc;

use crate::store::SessionHandle;

/// Hashing for session handles: the standard keyed SipHash. Handles are
/// random, but the application may pass a client-supplied handle to
/// `load` or `delete` (a "revoke this device" button), so a cheaper
/// unkeyed or weakly keyed hash could be aimed at one bucket.
pub(super) type HandleHashing = RandomState;

/// One shard of the per-user index: the handles of each user's sessions,
/// under one copy of the user id (which records with a long id share).
#[derive(Default)]
pub(super) struct UserShard {
    pub(super) by_user: HashMap<Arc<str>, Handles>,
}

/// A user with more sessions than this has them in a set rather than a
/// list.
const FEW: usize = 32;

/// One user's session handles: a short list (compact for the usual few
/// sessions), a set once there are many, so that removing one never costs
/// in proportion to the user's sessions.
pub(super) enum Handles {
    Few(Vec<SessionHandle>),
    Many(HashSet<SessionHandle, HandleHashing>),
}

impl Handles {
    pub(super) fn push(&mut self, handle: SessionHandle) {
        match self {
            Self::Few(list) if list.len() < FEW => list.push(handle),
            Self::Few(list) => {
                let mut set: HashSet<_, _> = list.drain(..).collect();
                set.insert(handle);
                *self = Self::Many(set);
            }
            Self::Many(set) => {
                set.insert(handle);
            }
        }
    }

    pub(super) fn remove(&mut self, handle: &SessionHandle) {
        match self {
            Self::Few(list) => {
                if let Some(i) = list.iter().position(|h| h == handle) {
                    list.swap_remove(i);
                }
            }
            Self::Many(set) => {
                set.remove(handle);
            }
        }
    }

    pub(super) fn retain(&mut self, keep: impl FnMut(&SessionHandle) -> bool) {
        match self {
            Self::Few(list) => list.retain(keep),
            Self::Many(set) => set.retain(keep),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            Self::Few(list) => list.is_empty(),
            Self::Many(set) => set.is_empty(),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Self::Few(list) => list.len(),
            Self::Many(set) => set.len(),
        }
    }

    pub(super) fn iter(&self) -> HandlesIter<'_> {
        match self {
            Self::Few(list) => HandlesIter::Few(list.iter()),
            Self::Many(set) => HandlesIter::Many(set.iter()),
        }
    }
}

/// The iterator of [`Handles`].
pub(super) enum HandlesIter<'a> {
    Few(std::slice::Iter<'a, SessionHandle>),
    Many(std::collections::hash_set::Iter<'a, SessionHandle>),
}

impl<'a> Iterator for HandlesIter<'a> {
    type Item = &'a SessionHandle;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Few(it) => it.next(),
            Self::Many(it) => it.next(),
        }
    }
}

impl UserShard {
    /// Adds `handle` to the user's sessions; returns the shared user id.
    pub(super) fn add(&mut self, user_id: &str, handle: SessionHandle) -> Arc<str> {
        let known = self
            .by_user
            .get_key_value(user_id)
            .map(|(key, _)| Arc::clone(key));
        match (known, self.by_user.get_mut(user_id)) {
            (Some(key), Some(handles)) => {
                handles.push(handle);
                key
            }
            _ => {
                let key: Arc<str> = Arc::from(user_id);
                self.by_user
                    .insert(Arc::clone(&key), Handles::Few(vec![handle]));
                key
            }
        }
    }

    /// Removes `handle` from the user's sessions.
    pub(super) fn forget(&mut self, user_id: &str, handle: &SessionHandle) {
        let Some(handles) = self.by_user.get_mut(user_id) else {
            return;
        };
        handles.remove(handle);
        if handles.is_empty() {
            self.by_user.remove(user_id);
        }
    }
}
