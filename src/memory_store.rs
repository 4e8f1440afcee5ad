//! An in-process store, written only against the public [`SessionStore`]
//! trait, as any third-party store would be.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use time::OffsetDateTime;

// Only the crate's public API, as an external store would.
use crate::{SessionHandle, SessionRecord, SessionStore, StoreError};

/// Sessions kept in memory, with a per-user index.
///
/// Suitable for tests, demos and single-process deployments: sessions are
/// lost when the process exits and are not shared between processes. Every
/// operation takes one short lock and never holds it across an `.await`.
/// Call [`SessionStore::purge_expired`] periodically to reclaim memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionHandle, SessionRecord>,
    by_user: HashMap<String, HashSet<SessionHandle>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records are held, expired ones included.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent before anything
        // that could panic, so a poisoned lock still guards valid data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn remove(&mut self, handle: &SessionHandle) -> bool {
        let Some(record) = self.sessions.remove(handle) else {
            return false;
        };
        if let Some(set) = self.by_user.get_mut(&record.user_id) {
            set.remove(handle);
            if set.is_empty() {
                self.by_user.remove(&record.user_id);
            }
        }
        true
    }
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.sessions.contains_key(&record.handle) {
            return Err(StoreError::AlreadyExists);
        }
        inner
            .by_user
            .entry(record.user_id.clone())
            .or_default()
            .insert(record.handle);
        inner.sessions.insert(record.handle, record.clone());
        Ok(())
    }

    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.lock().sessions.get(handle).cloned())
    }

    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(stored) = inner.sessions.get_mut(&record.handle) else {
            return Ok(false);
        };
        if stored.version != expected_version {
            return Ok(false);
        }
        if stored.user_id != record.user_id {
            // The core never moves a session to another user; refuse rather
            // than corrupt the index.
            return Err(StoreError::invalid_data(
                "user id of a session cannot change",
            ));
        }
        *stored = record.clone();
        Ok(true)
    }

    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        Ok(self.lock().remove(handle))
    }

    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let inner = self.lock();
        let Some(handles) = inner.by_user.get(user_id) else {
            return Ok(Vec::new());
        };
        Ok(handles
            .iter()
            .filter_map(|h| inner.sessions.get(h).cloned())
            .collect())
    }

    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let Some(handles) = inner.by_user.get(user_id) else {
            return Ok(0);
        };
        let doomed: Vec<SessionHandle> = handles
            .iter()
            .filter(|h| Some(*h) != keep)
            .copied()
            .collect();
        let mut n = 0;
        for h in &doomed {
            if inner.remove(h) {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let doomed: Vec<SessionHandle> = inner
            .sessions
            .values()
            .filter(|r| r.is_expired(now))
            .map(|r| r.handle)
            .collect();
        let mut n = 0;
        for h in &doomed {
            if inner.remove(h) {
                n += 1;
            }
        }
        Ok(n)
    }
}
