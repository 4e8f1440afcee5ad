//! The [`SessionStore`] operations of [`RedisStore`]: which keys each
//! script is given, and the per-user operations that first read the user's
//! index and then act on exactly the sessions it names.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;

use futures_util::{StreamExt as _, TryStreamExt as _};
use sessionkit::SessionHandle;
use sessionkit::store::{RotateOutcome, Rotation, SessionRecord, SessionStore, StoreError};
use time::OffsetDateTime;

use crate::codec::{self, CorruptRecord, assemble, assemble_for, encode_bytes, number};
use crate::keys::{handle_of_member, hex, member};
use crate::placement::{BUCKETS, bucket_of_handle};
use crate::scripts::{self, RECORD_FIELDS};
use crate::store::RedisStore;

/// How many expiry-index entries one purge script examines before it hands
/// control back to Redis (and to other clients).
const PURGE_BATCH: usize = 500;

/// How many buckets a purge works on at once.
const PURGE_CONCURRENCY: usize = 64;

/// How many times a per-user operation reads the index again after another
/// writer changed it between the read and the script, before it gives up.
const MAX_ATTEMPTS: usize = 32;

/// The length of a [`member`]: 18 bytes in hex.
const MEMBER_LEN: usize = 2 * SessionHandle::LEN;

/// What the insert script answered.
enum Inserted {
    /// Written; the evicted members, oldest first.
    Ok(Vec<String>),
    /// A replay of this call, which was applied.
    Done,
    /// The handle exists, owned by this user (hex).
    Exists(String),
    /// At the limit: call again with every one of these members declared.
    Need(Vec<String>),
}

impl RedisStore {
    /// `insert` and `insert_capped` (`max` 0 for no limit).
    async fn insert_limited(
        &self,
        record: &SessionRecord,
        max: usize,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        let placement = self.placement().await?;
        let user_hex = hex(record.user_id.as_bytes());
        let user_bucket = placement.bucket(&record.user_id);
        if user_bucket != bucket_of_handle(&record.handle) {
            return self
                .insert_unplaced(record, &user_hex, user_bucket, max)
                .await;
        }
        let mut declared = Vec::new();
        for _ in 0..MAX_ATTEMPTS {
            match self
                .insert_script(record, &user_hex, Some(user_bucket), max, &declared)
                .await?
            {
                Inserted::Ok(evicted) => return Ok(handles(&evicted)),
                Inserted::Done => return Ok(Vec::new()),
                Inserted::Exists(_) => return Err(StoreError::AlreadyExists),
                Inserted::Need(members) => {
                    if members.iter().any(|m| !in_bucket(m, user_bucket)) {
                        // Sessions of the user in other slots (not placed by
                        // this store): the script cannot reach them.
                        self.insert_script(record, &user_hex, Some(user_bucket), 0, &[])
                            .await
                            .and_then(|outcome| inserted_or_exists(&outcome))?;
                        return Ok(self.evict_beyond(record, max).await);
                    }
                    declared = members;
                }
            }
        }
        Err(StoreError::backend(Contention))
    }

    /// A record whose handle is not in its user's bucket (made by another
    /// store, or before the placement key was loaded): the index entry
    /// first, then the session, so that no session is ever missing from
    /// its index; the limit as the trait's default applies it.
    async fn insert_unplaced(
        &self,
        record: &SessionRecord,
        user_hex: &str,
        user_bucket: u16,
        max: usize,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        let index = self.keys.user(user_bucket, user_hex);
        let m = member(&record.handle);
        let mut call = scripts::INDEX_ADD.prepare_invoke();
        call.key(&index)
            .arg(record.created_at.unix_timestamp())
            .arg(&m)
            .arg(millis(record.absolute_expires_at));
        let _: i64 = self.invoke(&call).await?;
        let outcome = self.insert_script(record, user_hex, None, 0, &[]).await?;
        if let Inserted::Exists(owner) = &outcome
            && owner != user_hex
        {
            // Someone else's session: the entry just added is wrong.
            let _ = self.remove_members(&index, &[m]).await;
        }
        inserted_or_exists(&outcome)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        Ok(self.evict_beyond(record, max).await)
    }

    /// The limit as the trait's default applies it: list, then delete the
    /// oldest beyond it. Not atomic; failures stop it silently.
    async fn evict_beyond(&self, record: &SessionRecord, max: usize) -> Vec<SessionHandle> {
        let Ok(mut records) = self.list_by_user(&record.user_id).await else {
            return Vec::new();
        };
        records.retain(|r| r.handle != record.handle && r.user_id == record.user_id);
        records.sort_by_key(|r| (r.created_at, r.handle));
        let excess = (records.len() + 1).saturating_sub(max.max(1));
        let mut deleted = Vec::with_capacity(excess);
        for old in records.iter().take(excess) {
            match self.delete(&old.handle).await {
                Ok(true) => deleted.push(old.handle),
                Ok(false) => {}
                Err(_) => break,
            }
        }
        deleted
    }

    /// One run of [`scripts::INSERT`]; `user_bucket` is given when the
    /// user index is in the session's slot.
    async fn insert_script(
        &self,
        record: &SessionRecord,
        user_hex: &str,
        user_bucket: Option<u16>,
        max: usize,
        declared: &[String],
    ) -> Result<Inserted, StoreError> {
        let fields = codec::encode(record, self.max_record_bytes)?;
        let bucket = bucket_of_handle(&record.handle);
        let mut call = scripts::INSERT.prepare_invoke();
        call.key(self.keys.session(&record.handle))
            .key(self.keys.expiry(bucket));
        if let Some(user_bucket) = user_bucket {
            call.key(self.keys.user(user_bucket, user_hex));
            for m in declared {
                call.key(self.session_key_of(m)?);
            }
        }
        call.arg(millis(record.expires_at()))
            .arg(millis(record.absolute_expires_at))
            .arg(record.expires_at().unix_timestamp())
            .arg(member(&record.handle))
            .arg(record.created_at.unix_timestamp())
            .arg(user_hex)
            .arg(self.op_id())
            .arg(if user_bucket.is_some() { max } else { 0 })
            .arg(if user_bucket.is_some() {
                declared.len()
            } else {
                0
            });
        if user_bucket.is_some() {
            call.arg(declared);
        }
        for (name, value) in fields {
            call.arg(name).arg(value);
        }
        let mut reply: Vec<String> = self.invoke(&call).await?;
        let status = if reply.is_empty() {
            String::new()
        } else {
            reply.remove(0)
        };
        match status.as_str() {
            "ok" => Ok(Inserted::Ok(reply)),
            "done" => Ok(Inserted::Done),
            "exists" => Ok(Inserted::Exists(reply.pop().unwrap_or_default())),
            "need" => Ok(Inserted::Need(reply)),
            _ => Err(codec::corrupt("unexpected reply from the insert script")),
        }
    }

    /// The session key a member names.
    fn session_key_of(&self, m: &str) -> Result<String, StoreError> {
        handle_of_member(m)
            .map(|h| self.keys.session(&h))
            .ok_or_else(|| codec::corrupt("a user index member that is not a handle"))
    }

    /// Reads a user's index: its members in order, and for each the
    /// position its session key will have in a script's KEYS (counting
    /// from `first`), or 0 when it is in another slot. Returns the
    /// members, the positions and the keys.
    async fn read_index(
        &self,
        index: &str,
        user_bucket: u16,
        first: usize,
    ) -> Result<(Vec<String>, Vec<usize>, Vec<String>), StoreError> {
        let members: Vec<String> = self
            .run(|mut conn| async move {
                redis::cmd("ZRANGE")
                    .arg(index)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        let mut positions = Vec::with_capacity(members.len());
        let mut keys = Vec::with_capacity(members.len());
        for m in &members {
            match handle_of_member(m) {
                Some(h) if bucket_of_handle(&h) == user_bucket => {
                    keys.push(self.keys.session(&h));
                    positions.push(first + keys.len() - 1);
                }
                _ => positions.push(0),
            }
        }
        Ok((members, positions, keys))
    }

    /// `ZREM` of members from an index.
    async fn remove_members(&self, index: &str, members: &[String]) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let _: i64 = self
            .run(|mut conn| async move {
                redis::cmd("ZREM")
                    .arg(index)
                    .arg(members)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(())
    }

    /// [`scripts::DELETE`]: deletes the session under `handle` if it
    /// exists and, when `owner` is given, belongs to that user (hex).
    /// Returns whether it deleted one and the owner it found.
    async fn delete_owned(
        &self,
        handle: &SessionHandle,
        owner: &str,
    ) -> Result<(bool, String), StoreError> {
        let mut call = scripts::DELETE.prepare_invoke();
        call.key(self.keys.session(handle))
            .key(self.keys.expiry(bucket_of_handle(handle)))
            .arg(member(handle))
            .arg(owner);
        let (deleted, found): (String, String) = self.invoke(&call).await?;
        Ok((deleted == "1", found))
    }

    /// One bucket of [`purge_expired`](SessionStore::purge_expired), batch
    /// by batch: read the expired entries, then delete exactly those whose
    /// session is still expired, and drop them from their users' indexes.
    async fn purge_bucket(&self, bucket: u16, now: i64) -> Result<u64, StoreError> {
        let expiry = self.keys.expiry(bucket);
        let mut total = 0u64;
        loop {
            let expiry_ref = &expiry;
            let entries: Vec<String> = self
                .run(|mut conn| async move {
                    redis::cmd("ZRANGEBYSCORE")
                        .arg(expiry_ref)
                        .arg("-inf")
                        .arg(now)
                        .arg("LIMIT")
                        .arg(0)
                        .arg(PURGE_BATCH)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            if entries.is_empty() {
                return Ok(total);
            }
            let mut call = scripts::PURGE_BATCH.prepare_invoke();
            call.key(&expiry).arg(now);
            let mut unreadable = Vec::new();
            for entry in &entries {
                match entry.get(..MEMBER_LEN).and_then(handle_of_member) {
                    Some(h) => {
                        call.key(self.keys.session(&h)).arg(entry);
                    }
                    None => unreadable.push(entry.clone()),
                }
            }
            self.remove_members(&expiry, &unreadable).await?;
            let mut reply: Vec<String> = self.invoke(&call).await?;
            let deleted = if reply.is_empty() {
                0
            } else {
                number::<u64>(&reply.remove(0))?
            };
            total = total.saturating_add(deleted);
            self.unindex(&reply).await?;
            if entries.len() < PURGE_BATCH {
                return Ok(total);
            }
        }
    }

    /// Drops purged expiry-index entries (member ++ user hex) from their
    /// users' indexes.
    async fn unindex(&self, entries: &[String]) -> Result<(), StoreError> {
        let placement = self.placement().await?;
        let mut by_user: HashMap<&str, Vec<String>> = HashMap::new();
        for entry in entries {
            if let (Some(m), Some(user_hex)) = (entry.get(..MEMBER_LEN), entry.get(MEMBER_LEN..)) {
                by_user.entry(user_hex).or_default().push(m.to_owned());
            }
        }
        for (user_hex, members) in by_user {
            let Some(user_id) = unhex(user_hex) else {
                continue;
            };
            let index = self.keys.user(placement.bucket(&user_id), user_hex);
            self.remove_members(&index, &members).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisStore {
    /// One script, one round trip.
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.insert_limited(record, 0).await.map(|_| ())
    }

    /// One script: one round trip below the limit; at the limit, a second
    /// run of the same script with the user's sessions declared (the first
    /// writes nothing and names them). Atomic for sessions this store
    /// placed; see the crate documentation.
    async fn insert_capped(
        &self,
        record: &SessionRecord,
        max_per_user: usize,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        self.insert_limited(record, max_per_user.max(1)).await
    }

    /// One `HMGET`.
    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        let key = self.keys.session(handle);
        let values: Vec<Option<String>> = self
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&RECORD_FIELDS[..])
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        assemble_for(&values, handle).map(Some)
    }

    /// One script, one round trip.
    async fn compare_and_swap(
        &self,
        expected_version: u64,
        record: &SessionRecord,
    ) -> Result<bool, StoreError> {
        let placement = self.placement().await?;
        let fields = codec::encode(record, self.max_record_bytes)?;
        let user_hex = hex(record.user_id.as_bytes());
        let bucket = bucket_of_handle(&record.handle);
        let user_bucket = placement.bucket(&record.user_id);
        let index = self.keys.user(user_bucket, &user_hex);
        if user_bucket != bucket {
            // The index is in another slot: keep it alive at least as long.
            let abs = millis(record.absolute_expires_at);
            let index_ref = &index;
            let _: i64 = self
                .run(|mut conn| async move {
                    redis::cmd("PEXPIREAT")
                        .arg(index_ref)
                        .arg(abs)
                        .arg("GT")
                        .query_async(&mut conn)
                        .await
                })
                .await?;
        }
        let mut call = scripts::COMPARE_AND_SWAP.prepare_invoke();
        call.key(self.keys.session(&record.handle))
            .key(self.keys.expiry(bucket));
        if user_bucket == bucket {
            call.key(&index);
        }
        call.arg(expected_version.to_string())
            .arg(record.version.to_string())
            .arg(record.expires_at().unix_timestamp())
            .arg(millis(record.expires_at()))
            .arg(millis(record.absolute_expires_at))
            .arg(member(&record.handle))
            .arg(&user_hex)
            .arg(self.op_id());
        for (name, value) in fields {
            call.arg(name).arg(value);
        }
        match self.invoke::<i64>(&call).await? {
            1 => Ok(true),
            0 => Ok(false),
            // The core never moves a session to another user; refuse rather
            // than corrupt the user index.
            _ => Err(StoreError::invalid_data(
                "the user id of a session cannot change",
            )),
        }
    }

    /// One script, one round trip. The user index keeps the member until
    /// the next operation that reads it drops it.
    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        let (deleted, owner) = self.delete_owned(handle, "").await?;
        if deleted && let Some(placement) = self.placement.get() {
            // A session not placed by this store: nothing else would drop
            // its entry, which is in another slot.
            if let Some(user_id) = unhex(&owner) {
                let user_bucket = placement.bucket(&user_id);
                if user_bucket != bucket_of_handle(handle) {
                    let index = self.keys.user(user_bucket, &owner);
                    let _ = self.remove_members(&index, &[member(handle)]).await;
                }
            }
        }
        Ok(deleted)
    }

    /// Two round trips: the index, then one script over exactly the
    /// sessions it names (again if the index changed in between).
    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        let user_bucket = self.placement().await?.bucket(user_id);
        let user_hex = hex(user_id.as_bytes());
        let index = self.keys.user(user_bucket, &user_hex);
        for _ in 0..MAX_ATTEMPTS {
            let (members, positions, keys) = self.read_index(&index, user_bucket, 2).await?;
            let mut call = scripts::LIST_BY_USER.prepare_invoke();
            call.key(&index)
                .key(&keys)
                .arg(&user_hex)
                .arg(members.len())
                .arg(&members)
                .arg(&positions);
            let reply: Vec<Option<String>> = self.invoke(&call).await?;
            let Some((Some(status), fields)) = reply.split_first() else {
                return Err(codec::corrupt("unexpected reply from the listing script"));
            };
            if status == "retry" {
                continue;
            }
            let chunks = fields.chunks_exact(RECORD_FIELDS.len());
            if !chunks.remainder().is_empty() {
                return Err(StoreError::backend(CorruptRecord(
                    "a listing that is not whole records",
                )));
            }
            let mut records = chunks.map(assemble).collect::<Result<Vec<_>, _>>()?;
            // Sessions of this user in other slots, read one by one.
            for (m, _) in members.iter().zip(&positions).filter(|(_, p)| **p == 0) {
                if let Some(h) = handle_of_member(m)
                    && let Some(r) = self.load(&h).await?
                    && r.user_id == user_id
                {
                    records.push(r);
                }
            }
            return Ok(records);
        }
        Err(StoreError::backend(Contention))
    }

    /// Two round trips: the index, then one script that deletes exactly
    /// the sessions it names, or nothing if the index changed in between
    /// (and then again). A session created meanwhile is deleted or was
    /// created after the deletion: never missed.
    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        let user_bucket = self.placement().await?.bucket(user_id);
        let user_hex = hex(user_id.as_bytes());
        let index = self.keys.user(user_bucket, &user_hex);
        let keep = keep.map(member).unwrap_or_default();
        for _ in 0..MAX_ATTEMPTS {
            let (members, positions, keys) = self.read_index(&index, user_bucket, 3).await?;
            let mut call = scripts::DELETE_BY_USER.prepare_invoke();
            call.key(&index)
                .key(self.keys.expiry(user_bucket))
                .key(&keys)
                .arg(&user_hex)
                .arg(&keep)
                .arg(members.len())
                .arg(&members)
                .arg(&positions);
            let reply: Vec<String> = self.invoke(&call).await?;
            match reply.as_slice() {
                [status] if status == "retry" => continue,
                [status, count] if status == "ok" => {
                    let mut deleted = number::<u64>(count)?;
                    for (m, _) in members.iter().zip(&positions).filter(|(_, p)| **p == 0) {
                        if *m == keep {
                            continue;
                        }
                        let Some(h) = handle_of_member(m) else {
                            continue;
                        };
                        let (gone, owner) = self.delete_owned(&h, &user_hex).await?;
                        deleted += u64::from(gone);
                        // Missing: maybe an insert in flight (its entry comes
                        // first), so the entry stays.
                        if gone || (!owner.is_empty() && owner != user_hex) {
                            self.remove_members(&index, std::slice::from_ref(m)).await?;
                        }
                    }
                    return Ok(deleted);
                }
                _ => {
                    return Err(codec::corrupt(
                        "unexpected reply from the revocation script",
                    ));
                }
            }
        }
        Err(StoreError::backend(Contention))
    }

    /// Every bucket (so every primary of a cluster), 64 at a time: one
    /// read per bucket, and per batch of up to 500 expired entries one
    /// script and one `ZREM` per user.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.placement().await?;
        let now = now.unix_timestamp();
        futures_util::stream::iter(0..BUCKETS)
            .map(|bucket| self.purge_bucket(bucket, now))
            .buffer_unordered(PURGE_CONCURRENCY)
            .try_fold(0u64, |total, n| async move { Ok(total.saturating_add(n)) })
            .await
    }

    /// The user's bucket: a keyed hash of the user id, so that all of a
    /// user's sessions share one hash slot (see the crate documentation).
    /// Before the placement key is loaded (a lazy store that has not yet
    /// reached Redis), 0.
    fn placement_tag(&self, user_id: &str) -> u16 {
        self.placement
            .get()
            .map_or(0, |placement| placement.bucket(user_id))
    }

    /// One `EVALSHA`: the check and the rotation run in one script, which
    /// returns the record (rotated, or as found), so a refresh is one round
    /// trip.
    async fn rotate_if_current(&self, rotation: &Rotation) -> Result<RotateOutcome, StoreError> {
        let Some(new_generation) = rotation.new_generation() else {
            // No generation follows: the rotation can never apply.
            return Ok(RotateOutcome::Unchanged(self.load(&rotation.handle).await?));
        };
        let mut call = scripts::ROTATE_IF_CURRENT.prepare_invoke();
        call.key(self.keys.session(&rotation.handle))
            .key(self.keys.expiry(bucket_of_handle(&rotation.handle)))
            .arg(member(&rotation.handle))
            .arg(rotation.expected_generation.to_string())
            .arg(encode_bytes(rotation.expected_hash.as_bytes()))
            .arg(new_generation.to_string())
            .arg(encode_bytes(rotation.new_hash.as_bytes()))
            .arg(rotation.now.unix_timestamp().to_string())
            .arg(
                rotation
                    .idle_expiry()
                    .map(|t| t.unix_timestamp().to_string())
                    .unwrap_or_default(),
            )
            .arg(encode_bytes(rotation.nonce.as_bytes()))
            .arg(self.op_id());
        let reply: Vec<Option<String>> = self.invoke(&call).await?;
        match reply.split_first() {
            Some((Some(status), values)) if status == "1" => Ok(RotateOutcome::Rotated(
                assemble_for(values, &rotation.handle)?,
            )),
            Some((Some(status), [])) if status == "0" => Ok(RotateOutcome::Unchanged(None)),
            Some((Some(status), values)) if status == "0" => Ok(RotateOutcome::Unchanged(Some(
                assemble_for(values, &rotation.handle)?,
            ))),
            _ => Err(codec::corrupt("unexpected reply from the rotation script")),
        }
    }
}

/// Unix milliseconds, for `PEXPIREAT`.
fn millis(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().saturating_mul(1000)
}

/// Whether a member names a handle in `bucket`.
fn in_bucket(m: &str, bucket: u16) -> bool {
    handle_of_member(m).is_some_and(|h| bucket_of_handle(&h) == bucket)
}

/// The handles members name (unreadable ones skipped).
fn handles(members: &[String]) -> Vec<SessionHandle> {
    members.iter().filter_map(|m| handle_of_member(m)).collect()
}

/// `Ok` for a written record or a replay, [`StoreError::AlreadyExists`]
/// for a taken handle.
fn inserted_or_exists(outcome: &Inserted) -> Result<(), StoreError> {
    match outcome {
        Inserted::Ok(_) | Inserted::Done => Ok(()),
        Inserted::Exists(_) => Err(StoreError::AlreadyExists),
        Inserted::Need(_) => Err(codec::corrupt("the insert script asked for sessions")),
    }
}

/// A user id from its hex form, if it is one.
fn unhex(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let raw: Option<Vec<u8>> = bytes
        .chunks_exact(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|t| u8::from_str_radix(t, 16).ok())
        })
        .collect();
    String::from_utf8(raw?).ok()
}

/// Other writers changed one user's index every time it was read.
#[derive(Debug)]
struct Contention;

impl fmt::Display for Contention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the user's sessions changed under {MAX_ATTEMPTS} attempts in a row"
        )
    }
}

impl StdError for Contention {}
