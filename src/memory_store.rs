//! An in-process store, written only against the public [`SessionStore`]
//! trait, as any third-party store would be.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;

// Only the crate's public API, as an external store would.
use crate::{RotationNonce, SessionHandle, SessionRecord, SessionStore, StoreError, TokenHash};

/// How many independently locked shards sessions are spread over, by handle:
/// enough that two threads rarely meet on one lock.
const SHARDS: usize = 32;

/// Sessions kept in memory, with a per-user index.
///
/// Suitable for tests, demos and single-process deployments: sessions are
/// lost when the process exits and are not shared between processes.
/// Sessions are spread over 32 shards by handle, each with its own lock, so
/// concurrent requests for different sessions rarely wait for each other.
/// Operations on one session take one short lock; operations on a user's
/// sessions and [`SessionStore::purge_expired`] take every shard's lock, in
/// order, so each is still one atomic step. No lock is held across an
/// `.await`. Call [`SessionStore::purge_expired`] periodically to reclaim
/// memory.
#[derive(Debug)]
pub struct MemoryStore {
    shards: [Mutex<Shard>; SHARDS],
}

/// One shard: its sessions, and for each user the handles of that user's
/// sessions held in this shard.
#[derive(Debug, Default)]
struct Shard {
    sessions: HashMap<SessionHandle, Box<Compact>>,
    by_user: HashMap<Arc<str>, Vec<SessionHandle>>,
}

/// A [`SessionRecord`] as kept here: timestamps as Unix seconds (the
/// contract's resolution), the user id shared with the shard's index, and
/// the custom claims and data only when there are any.
#[derive(Debug)]
struct Compact {
    user_id: Arc<str>,
    created_at: i64,
    auth_time: i64,
    absolute_expires_at: i64,
    refresh_expires_at: i64,
    rotated_at: Option<i64>,
    generation: u64,
    version: u64,
    current_hash: [u8; 32],
    prev_hash: Option<[u8; 32]>,
    nonce: [u8; 32],
    extra: Option<Box<Extra>>,
}

/// What most sessions do not have.
#[derive(Debug)]
struct Extra {
    access_claims: serde_json::Map<String, serde_json::Value>,
    session_data: serde_json::Value,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::default()),
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records are held, expired ones included.
    pub fn len(&self) -> usize {
        self.lock_all().iter().map(|s| s.sessions.len()).sum()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "a handle has 16 bytes and the index is taken modulo the shard count"
    )]
    fn shard(&self, handle: &SessionHandle) -> MutexGuard<'_, Shard> {
        // Handles are uniformly random: their first byte spreads them evenly.
        lock(&self.shards[usize::from(handle.as_bytes()[0]) % SHARDS])
    }

    /// Every shard, locked in index order (the only order two locks are ever
    /// taken in, so no deadlock).
    fn lock_all(&self) -> Vec<MutexGuard<'_, Shard>> {
        self.shards.iter().map(lock).collect()
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // Every critical section leaves the maps consistent before anything
    // that could panic, so a poisoned lock still guards valid data.
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shard {
    fn remove(&mut self, handle: &SessionHandle) -> bool {
        let Some(record) = self.sessions.remove(handle) else {
            return false;
        };
        if let Some(handles) = self.by_user.get_mut(&record.user_id) {
            if let Some(i) = handles.iter().position(|h| h == handle) {
                handles.swap_remove(i);
            }
            if handles.is_empty() {
                self.by_user.remove(&record.user_id);
            }
        }
        true
    }

    /// The index's shared copy of `user_id`, added if new.
    fn user_key(&mut self, user_id: &str) -> Arc<str> {
        match self.by_user.get_key_value(user_id) {
            Some((key, _)) => Arc::clone(key),
            None => {
                let key: Arc<str> = Arc::from(user_id);
                self.by_user.insert(Arc::clone(&key), Vec::with_capacity(1));
                key
            }
        }
    }

    fn records_of(&self, user_id: &str, out: &mut Vec<SessionRecord>) {
        let Some(handles) = self.by_user.get(user_id) else {
            return;
        };
        out.extend(
            handles
                .iter()
                .filter_map(|h| self.sessions.get(h).map(|c| c.to_record(*h))),
        );
    }
}

impl Compact {
    fn new(record: &SessionRecord, user_id: Arc<str>) -> Self {
        let extra = if record.access_claims.is_empty() && record.session_data.is_null() {
            None
        } else {
            Some(Box::new(Extra {
                access_claims: record.access_claims.clone(),
                session_data: record.session_data.clone(),
            }))
        };
        Self {
            user_id,
            created_at: record.created_at.unix_timestamp(),
            auth_time: record.auth_time.unix_timestamp(),
            absolute_expires_at: record.absolute_expires_at.unix_timestamp(),
            refresh_expires_at: record.refresh_expires_at.unix_timestamp(),
            rotated_at: record.rotated_at.map(OffsetDateTime::unix_timestamp),
            generation: record.generation,
            version: record.version,
            current_hash: *record.current_hash.as_bytes(),
            prev_hash: record.prev_hash.map(|h| *h.as_bytes()),
            nonce: *record.nonce.as_bytes(),
            extra,
        }
    }

    fn to_record(&self, handle: SessionHandle) -> SessionRecord {
        let (access_claims, session_data) = match &self.extra {
            Some(extra) => (extra.access_claims.clone(), extra.session_data.clone()),
            None => (serde_json::Map::new(), serde_json::Value::Null),
        };
        SessionRecord {
            handle,
            user_id: String::from(&*self.user_id),
            created_at: time_at(self.created_at),
            auth_time: time_at(self.auth_time),
            absolute_expires_at: time_at(self.absolute_expires_at),
            refresh_expires_at: time_at(self.refresh_expires_at),
            generation: self.generation,
            current_hash: TokenHash::from_bytes(self.current_hash),
            prev_hash: self.prev_hash.map(TokenHash::from_bytes),
            rotated_at: self.rotated_at.map(time_at),
            nonce: RotationNonce::from_bytes(self.nonce),
            access_claims,
            session_data,
            version: self.version,
        }
    }

    fn expires_at(&self) -> i64 {
        self.refresh_expires_at.min(self.absolute_expires_at)
    }
}

/// Seconds back to a time: they came from an `OffsetDateTime`, so they are
/// in range.
fn time_at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut shard = self.shard(&record.handle);
        if shard.sessions.contains_key(&record.handle) {
            return Err(StoreError::AlreadyExists);
        }
        let user_id = shard.user_key(&record.user_id);
        let compact = Box::new(Compact::new(record, user_id));
        if let Some(handles) = shard.by_user.get_mut(&*record.user_id) {
            handles.push(record.handle);
        }
        shard.sessions.insert(record.handle, compact);
        Ok(())
    }

    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .shard(handle)
            .sessions
            .get(handle)
            .map(|c| c.to_record(*handle)))
    }

    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError> {
        let mut shard = self.shard(&record.handle);
        let Some(stored) = shard.sessions.get_mut(&record.handle) else {
            return Ok(false);
        };
        if stored.version != expected_version {
            return Ok(false);
        }
        if *stored.user_id != *record.user_id {
            // The core never moves a session to another user; refuse rather
            // than corrupt the index.
            return Err(StoreError::invalid_data(
                "user id of a session cannot change",
            ));
        }
        let user_id = Arc::clone(&stored.user_id);
        **stored = Compact::new(record, user_id);
        Ok(true)
    }

    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        Ok(self.shard(handle).remove(handle))
    }

    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let shards = self.lock_all();
        let mut records = Vec::new();
        for shard in &shards {
            shard.records_of(user_id, &mut records);
        }
        Ok(records)
    }

    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        let mut shards = self.lock_all();
        let mut n = 0;
        for shard in &mut shards {
            let Some(handles) = shard.by_user.get(user_id) else {
                continue;
            };
            let doomed: Vec<SessionHandle> = handles
                .iter()
                .filter(|h| Some(*h) != keep)
                .copied()
                .collect();
            for h in &doomed {
                if shard.remove(h) {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let now = now.unix_timestamp();
        let mut shards = self.lock_all();
        let mut n = 0;
        for shard in &mut shards {
            let doomed: Vec<SessionHandle> = shard
                .sessions
                .iter()
                .filter(|(_, c)| now >= c.expires_at())
                .map(|(h, _)| *h)
                .collect();
            for h in &doomed {
                if shard.remove(h) {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}
