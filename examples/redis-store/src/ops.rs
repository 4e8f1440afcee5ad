//! The [`SessionStore`] operations of [`RedisStore`]: which keys each
//! script is given, and the per-user operations that first read the user's
//! index and then act on exactly the sessions it names. Inserting is in
//! [`crate::insert`], purging in [`crate::purge`].

use std::error::Error as StdError;
use std::fmt;

use sessionkit::SessionHandle;
use sessionkit::store::{RotateOutcome, Rotation, SessionRecord, SessionStore, StoreError};
use time::OffsetDateTime;

use crate::codec::{self, CorruptRecord, assemble, assemble_for, encode_bytes, number};
use crate::keys::{handle_of_member, member};
use crate::placement::bucket_of_handle;
use crate::scripts::{self, RECORD_FIELDS};
use crate::store::RedisStore;

/// How many times a per-user operation reads the index again after another
/// writer changed it between the read and the script, before it gives up.
pub(crate) const MAX_ATTEMPTS: usize = 32;

/// The length of a [`member`]: 18 bytes in hex.
pub(crate) const MEMBER_LEN: usize = 2 * SessionHandle::LEN;

impl RedisStore {
    /// The session key a member names.
    pub(crate) fn session_key_of(&self, m: &str) -> Result<String, StoreError> {
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
    pub(crate) async fn remove_members(
        &self,
        index: &str,
        members: &[String],
    ) -> Result<(), StoreError> {
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

    /// [`compare_and_swap`](SessionStore::compare_and_swap) with a given
    /// write id.
    async fn swap_with_op(
        &self,
        expected_version: u64,
        record: &SessionRecord,
        op: &str,
    ) -> Result<bool, StoreError> {
        let placement = self.placement().await?;
        let fields = codec::encode(record, self.max_record_bytes)?;
        let user_hex = hex::encode(record.user_id.as_bytes());
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
            .arg(op);
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

    /// [`rotate_if_current`](SessionStore::rotate_if_current) with a given
    /// write id.
    async fn rotate_with_op(
        &self,
        rotation: &Rotation,
        op: &str,
    ) -> Result<RotateOutcome, StoreError> {
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
            .arg(op);
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
        self.swap_with_op(expected_version, record, &self.op_id())
            .await
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
        let user_hex = hex::encode(user_id.as_bytes());
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
        let user_hex = hex::encode(user_id.as_bytes());
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
        self.purge_all(now).await
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
        self.rotate_with_op(rotation, &self.op_id()).await
    }
}

/// Unix milliseconds, for `PEXPIREAT`.
pub(crate) fn millis(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().saturating_mul(1000)
}

/// A user id from its hex form, if it is one.
pub(crate) fn unhex(text: &str) -> Option<String> {
    String::from_utf8(hex::decode(text).ok()?).ok()
}

/// Other writers changed one user's index every time it was read.
#[derive(Debug)]
pub(crate) struct Contention;

impl fmt::Display for Contention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the user's sessions changed under {MAX_ATTEMPTS} attempts in a row"
        )
    }
}

impl StdError for Contention {}

#[cfg(test)]
mod tests {

    use sessionkit::store::{RotationNonce, TokenHash};
    use sessionkit::testing::sample_record;
    use time::Duration;

    use super::*;

    /// A store on `REDIS_URL` under a fresh prefix, or `None` when there is
    /// no server and `SESSIONKIT_REQUIRE_SERVICES` is not `1`.
    async fn store() -> Option<RedisStore> {
        let url =
            std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).expect("random");
        let prefix = format!("sessionkit-test:replay:{}", hex::encode(random));
        match RedisStore::builder().prefix(prefix).connect(&url).await {
            Ok(store) => Some(store),
            Err(e) if std::env::var("SESSIONKIT_REQUIRE_SERVICES").as_deref() == Ok("1") => {
                panic!("no Redis at {url} and SESSIONKIT_REQUIRE_SERVICES=1: {e:?}")
            }
            Err(_) => {
                println!("skipped: no Redis at {url}");
                None
            }
        }
    }

    fn placed(store: &RedisStore, user: &str) -> SessionRecord {
        let mut r = sample_record(user);
        let mut random = [0u8; 16];
        random.copy_from_slice(r.handle.as_bytes().get(..16).expect("18 bytes"));
        r.handle = SessionHandle::new(random, store.placement_tag(user));
        r
    }

    /// A write replayed by the cluster connection (its first run applied,
    /// the answer lost) answers as its first run did; another call with the
    /// same arguments is refused as before. Without this, a refresh whose
    /// script ran twice would look like a token presented twice.
    #[tokio::test]
    async fn a_replayed_write_answers_as_its_first_run() {
        let Some(store) = store().await else {
            return;
        };
        let r = placed(&store, "replay-user");
        assert!(
            store
                .insert_with_op(&r, 0, "op-1")
                .await
                .expect("insert")
                .is_empty()
        );
        assert!(
            store
                .insert_with_op(&r, 0, "op-1")
                .await
                .expect("replay")
                .is_empty()
        );
        assert!(matches!(
            store.insert_with_op(&r, 0, "op-2").await,
            Err(StoreError::AlreadyExists)
        ));

        let mut next = r.clone();
        next.version = 2;
        assert!(store.swap_with_op(1, &next, "op-3").await.expect("cas"));
        assert!(store.swap_with_op(1, &next, "op-3").await.expect("replay"));
        assert!(!store.swap_with_op(1, &next, "op-4").await.expect("cas"));

        let rotation = Rotation::new(
            r.handle,
            r.generation,
            r.current_hash,
            TokenHash::from_bytes([7; 32]),
            RotationNonce::from_bytes([8; 32]),
            r.created_at + Duration::seconds(60),
            Duration::days(1),
        );
        let RotateOutcome::Rotated(rotated) = store
            .rotate_with_op(&rotation, "op-5")
            .await
            .expect("rotate")
        else {
            panic!("a matching rotation applies");
        };
        match store
            .rotate_with_op(&rotation, "op-5")
            .await
            .expect("replay")
        {
            RotateOutcome::Rotated(again) => assert_eq!(again, rotated),
            other => panic!("a replay answers as the first run: {other:?}"),
        }
        match store
            .rotate_with_op(&rotation, "op-6")
            .await
            .expect("rotate")
        {
            RotateOutcome::Unchanged(Some(found)) => assert_eq!(found, rotated),
            other => panic!("another call with the same expectation: {other:?}"),
        }
        assert_eq!(
            store
                .delete_by_user("replay-user", None)
                .await
                .expect("delete"),
            1
        );
        let mut conn = store.connection();
        let _: Result<i64, _> = redis::cmd("DEL")
            .arg(store.keys.placement_key())
            .query_async(&mut conn)
            .await;
    }
}
