//! An in-process store, written only against the public [`SessionStore`]
//! trait, as any third-party store would be.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, TryLockError};

use time::OffsetDateTime;

mod index;
mod record;

use self::index::{HandleHashing, UserShard};
use self::record::{Compact, UserKey};
// Only the crate's public API, as an external store would.
use crate::store::{SessionHandle, SessionRecord, SessionStore, StoreError};

/// How many independently locked shards sessions are spread over (by
/// handle), and the user index (by user id): enough that two threads rarely
/// meet on one lock.
const SHARDS: usize = 32;

/// Sessions kept in memory, with a per-user index.
///
/// Suitable for tests, demos and single-process deployments: sessions are
/// lost when the process exits and are not shared between processes.
///
/// Sessions are spread over 32 shards by handle and the per-user index over
/// 32 shards by user id, each shard with its own lock, so concurrent
/// requests for different sessions rarely wait for each other, and listing
/// or revoking a user's sessions touches that user's index shard and the
/// shards holding that user's sessions, whatever the total.
///
/// Every operation is one atomic step. Locks are only ever waited for in
/// one order, so no two operations can deadlock: first at most one
/// user-index shard (all of them, in index order, for
/// [`SessionStore::purge_expired`]), then session shards in index order.
/// Operations on one session take its session shard only; `insert` takes
/// the user's index shard, then the session's shard. `delete` finds the
/// session's user under the session shard and only tries the user's index
/// shard from there (a try never waits, so it cannot deadlock); if that
/// shard is busy, it lets the session shard go, takes the index shard and
/// the session shard in order, and checks the session is still that user's.
/// A listing or a user-wide delete holds the user's index shard, then locks
/// together every session shard holding one of the user's sessions. No lock
/// is held across an `.await`. Call [`SessionStore::purge_expired`]
/// periodically to reclaim memory.
pub struct MemoryStore {
    users: [Mutex<UserShard>; SHARDS],
    sessions: [Mutex<SessionShard>; SHARDS],
    /// Picks a user's index shard; keyed per store, as user ids may be
    /// chosen by users.
    user_hasher: RandomState,
}

/// One shard of the sessions, by handle.
#[derive(Default)]
struct SessionShard {
    /// Keyed by the handle's 128 random bits, its tag kept in the record:
    /// a 16-byte key packs into 24-byte buckets, where the whole 18-byte
    /// handle would need 32.
    records: HashMap<[u8; SessionHandle::RANDOM_LEN], Box<Compact>, HandleHashing>,
}

/// The table key of a handle: its random part (a byte array, aligned to 1:
/// a `u128` would align the buckets to 16 and make them 32 bytes again).
fn table_key(handle: &SessionHandle) -> [u8; SessionHandle::RANDOM_LEN] {
    let mut random = [0u8; SessionHandle::RANDOM_LEN];
    let bytes = handle.as_bytes();
    random.copy_from_slice(bytes.get(..SessionHandle::RANDOM_LEN).unwrap_or(&[0; 16]));
    random
}

/// The handle of a table entry.
fn handle_of(key: [u8; SessionHandle::RANDOM_LEN], compact: &Compact) -> SessionHandle {
    SessionHandle::new(key, compact.tag)
}

impl SessionShard {
    fn get(&self, handle: &SessionHandle) -> Option<&Compact> {
        self.records
            .get(&table_key(handle))
            .filter(|c| c.tag == handle.tag())
            .map(|c| &**c)
    }

    fn get_mut(&mut self, handle: &SessionHandle) -> Option<&mut Compact> {
        self.records
            .get_mut(&table_key(handle))
            .filter(|c| c.tag == handle.tag())
            .map(|c| &mut **c)
    }

    /// Whether the random part is taken, whatever the tag: a new handle
    /// must not share it (2^-128 odds, refused rather than reasoned about).
    fn is_taken(&self, handle: &SessionHandle) -> bool {
        self.records.contains_key(&table_key(handle))
    }

    fn insert(&mut self, handle: &SessionHandle, compact: Box<Compact>) {
        self.records.insert(table_key(handle), compact);
    }

    fn remove(&mut self, handle: &SessionHandle) -> bool {
        let key = table_key(handle);
        if self
            .records
            .get(&key)
            .is_some_and(|c| c.tag == handle.tag())
        {
            self.records.remove(&key);
            true
        } else {
            false
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&SessionHandle, &Compact) -> bool) {
        self.records.retain(|key, c| keep(&handle_of(*key, c), c));
    }

    fn len(&self) -> usize {
        self.records.len()
    }
}

/// Session shards locked together for a multi-session operation, by index.
type Locked<'a> = [Option<MutexGuard<'a, SessionShard>>; SHARDS];

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Records hold token hashes (SEC-05): none is printed.
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            users: std::array::from_fn(|_| Mutex::default()),
            sessions: std::array::from_fn(|_| Mutex::default()),
            user_hasher: RandomState::new(),
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
        self.sessions.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inserts `record`, holding its user's index shard (`users`).
    fn insert_under(
        &self,
        users: &mut UserShard,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        let mut shard = self.session_shard(&record.handle);
        if shard.is_taken(&record.handle) {
            return Err(StoreError::AlreadyExists);
        }
        let user_id = UserKey::new(&users.add(&record.user_id, record.handle));
        let compact = Box::new(Compact::new(record, user_id));
        shard.insert(&record.handle, compact);
        Ok(())
    }

    /// The session shard of a handle, locked.
    fn session_shard(&self, handle: &SessionHandle) -> MutexGuard<'_, SessionShard> {
        lock_at(&self.sessions, session_index(handle))
    }

    /// The user-index shard of a user id, locked.
    fn user_shard(&self, user_id: &str) -> MutexGuard<'_, UserShard> {
        lock_at(&self.users, self.user_index(user_id))
    }

    fn user_index(&self, user_id: &str) -> usize {
        // The remainder is below `SHARDS`, so the cast loses nothing.
        (self.user_hasher.hash_one(user_id) % SHARDS as u64) as usize
    }

    /// The session shards holding `handles`, locked together in index
    /// order.
    fn lock_sessions_of<'a>(&self, handles: impl Iterator<Item = &'a SessionHandle>) -> Locked<'_> {
        let mask = handles.fold(0u64, |mask, h| mask | 1u64 << session_index(h));
        // `from_fn` visits the indices in order.
        std::array::from_fn(|i| {
            (mask & 1u64 << i != 0)
                .then(|| self.sessions.get(i).map(lock))
                .flatten()
        })
    }
}

/// The session shard index of a handle. Handles are uniformly random:
/// their first byte spreads them evenly.
fn session_index(handle: &SessionHandle) -> usize {
    let [first, ..] = *handle.as_bytes();
    usize::from(first) % SHARDS
}

fn lock<T>(shard: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the maps consistent before anything
    // that could panic, so a poisoned lock still guards valid data.
    shard.lock().unwrap_or_else(|e| e.into_inner())
}

/// The lock if it is free now, without waiting.
fn try_lock<T>(shard: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match shard.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

#[expect(
    clippy::indexing_slicing,
    reason = "every index is taken modulo the shard count"
)]
fn lock_at<T>(shards: &[Mutex<T>; SHARDS], i: usize) -> MutexGuard<'_, T> {
    lock(&shards[i % SHARDS])
}

/// The locked shard holding `handle`, if it is among `locked`.
fn locked_shard<'a, 'g>(
    locked: &'a mut Locked<'g>,
    handle: &SessionHandle,
) -> Option<&'a mut SessionShard> {
    locked
        .get_mut(session_index(handle))
        .and_then(Option::as_mut)
        .map(|guard| &mut **guard)
}

#[async_trait::async_trait]
impl SessionStore for MemoryStore {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut users = self.user_shard(&record.user_id);
        self.insert_under(&mut users, record)
    }

    /// One atomic step: under the user's index shard, the insert, and when
    /// it takes the user past the limit, the deletion of the oldest. Under
    /// the limit it costs what `insert` costs; at the limit it locks the
    /// shards of the user's sessions (at most the limit of them) once.
    async fn insert_capped(
        &self,
        record: &SessionRecord,
        max_per_user: usize,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        let max = max_per_user.max(1);
        let mut users = self.user_shard(&record.user_id);
        let user_handles: Vec<SessionHandle> = match users.by_user.get(record.user_id.as_str()) {
            Some(handles) if handles.len() >= max => handles.iter().copied().collect(),
            _ => return self.insert_under(&mut users, record).map(|()| Vec::new()),
        };
        let mut locked =
            self.lock_sessions_of(user_handles.iter().chain(std::iter::once(&record.handle)));
        if locked_shard(&mut locked, &record.handle)
            .is_none_or(|shard| shard.is_taken(&record.handle))
        {
            return Err(StoreError::AlreadyExists);
        }
        let mut oldest: Vec<(i64, SessionHandle)> = user_handles
            .iter()
            .filter_map(|h| {
                locked_shard(&mut locked, h)
                    .and_then(|shard| shard.get(h))
                    .map(|c| (c.created_at, *h))
            })
            .collect();
        oldest.sort_unstable();
        let excess = (oldest.len() + 1).saturating_sub(max);
        let user_id = UserKey::new(&users.add(&record.user_id, record.handle));
        if let Some(shard) = locked_shard(&mut locked, &record.handle) {
            shard.insert(&record.handle, Box::new(Compact::new(record, user_id)));
        }
        let mut deleted = Vec::with_capacity(excess);
        for (_, handle) in oldest.into_iter().take(excess) {
            if let Some(shard) = locked_shard(&mut locked, &handle) {
                shard.remove(&handle);
            }
            users.forget(&record.user_id, &handle);
            deleted.push(handle);
        }
        Ok(deleted)
    }

    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self
            .session_shard(handle)
            .get(handle)
            .map(|c| c.to_record(*handle)))
    }

    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError> {
        let mut shard = self.session_shard(&record.handle);
        let Some(stored) = shard.get_mut(&record.handle) else {
            return Ok(false);
        };
        if stored.version != expected_version {
            return Ok(false);
        }
        if stored.user_id.as_str() != record.user_id {
            // The core never moves a session to another user; refuse rather
            // than corrupt the index.
            return Err(StoreError::invalid_data(
                "user id of a session cannot change",
            ));
        }
        let user_id = stored.user_id.clone();
        *stored = Compact::new(record, user_id);
        Ok(true)
    }

    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        loop {
            // The user index shard comes first in the lock order: find the
            // user under the session shard, and only try its index shard
            // from there (trying never waits, so it cannot deadlock).
            // Failing that, let the session shard go and lock both in order.
            let user_id = {
                let mut shard = self.session_shard(handle);
                let user_id = match shard.get(handle) {
                    Some(record) => record.user_id.clone(),
                    None => return Ok(false),
                };
                if let Some(mut users) = self
                    .users
                    .get(self.user_index(user_id.as_str()))
                    .and_then(try_lock)
                {
                    shard.remove(handle);
                    users.forget(user_id.as_str(), handle);
                    return Ok(true);
                }
                user_id
            };
            let user_id = user_id.as_str();
            let mut users = self.user_shard(user_id);
            let mut shard = self.session_shard(handle);
            match shard.get(handle) {
                None => return Ok(false),
                Some(record) if record.user_id.as_str() == user_id => {
                    shard.remove(handle);
                    users.forget(user_id, handle);
                    return Ok(true);
                }
                // Deleted and inserted again for another user meanwhile:
                // that user's index shard is the one to lock.
                Some(_) => {}
            }
        }
    }

    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let users = self.user_shard(user_id);
        let Some(handles) = users.by_user.get(user_id) else {
            return Ok(Vec::new());
        };
        let locked = self.lock_sessions_of(handles.iter());
        // Two passes: first find every record (short, independent lookups
        // whose cache misses the processor overlaps), then copy them out.
        let found: Vec<(&SessionHandle, &Compact)> = handles
            .iter()
            .filter_map(|h| {
                locked
                    .get(session_index(h))
                    .and_then(Option::as_ref)
                    .and_then(|shard| shard.get(h))
                    .map(|c| (h, c))
            })
            .collect();
        Ok(found.iter().map(|(h, c)| c.to_record(**h)).collect())
    }

    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        let mut users = self.user_shard(user_id);
        let Some(handles) = users.by_user.get_mut(user_id) else {
            return Ok(0);
        };
        let mut locked = self.lock_sessions_of(handles.iter().filter(|h| Some(*h) != keep));
        let mut n = 0;
        handles.retain(|h| {
            if Some(h) == keep {
                return true;
            }
            if locked_shard(&mut locked, h).is_some_and(|shard| shard.remove(h)) {
                n += 1;
            }
            false
        });
        if handles.is_empty() {
            users.by_user.remove(user_id);
        }
        Ok(n)
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let now = now.unix_timestamp();
        let mut users: Vec<_> = self.users.iter().map(lock).collect();
        let mut shards: Vec<_> = self.sessions.iter().map(lock).collect();
        let mut n = 0;
        for shard in &mut shards {
            shard.retain(|h, c| {
                if now < c.expires_at() {
                    return true;
                }
                let user_id = c.user_id.as_str();
                if let Some(index) = users.get_mut(self.user_index(user_id)) {
                    index.forget(user_id, h);
                }
                n += 1;
                false
            });
        }
        Ok(n)
    }
}
