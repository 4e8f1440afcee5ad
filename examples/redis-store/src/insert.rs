//! Inserting, with or without the session limit: one script, run once,
//! or twice at the limit (see [`scripts::INSERT`]).

use sessionkit::SessionHandle;
use sessionkit::store::{SessionRecord, StoreError, evict_beyond_limit};

use crate::codec;
use crate::keys::{handle_of_member, member};
use crate::ops::{Contention, MAX_ATTEMPTS, millis};
use crate::placement::bucket_of_handle;
use crate::scripts;
use crate::store::RedisStore;

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
    pub(crate) async fn insert_limited(
        &self,
        record: &SessionRecord,
        max: usize,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        self.insert_with_op(record, max, &self.op_id()).await
    }

    /// [`Self::insert_limited`] with a given write id, which every run of
    /// the script for this call carries.
    pub(crate) async fn insert_with_op(
        &self,
        record: &SessionRecord,
        max: usize,
        op: &str,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        let placement = self.placement().await?;
        let user_hex = hex::encode(record.user_id.as_bytes());
        let user_bucket = placement.bucket(&record.user_id);
        if user_bucket != bucket_of_handle(&record.handle) {
            return self
                .insert_unplaced(record, &user_hex, user_bucket, max, op)
                .await;
        }
        let mut declared = Vec::new();
        for _ in 0..MAX_ATTEMPTS {
            match self
                .insert_script(record, &user_hex, Some(user_bucket), max, &declared, op)
                .await?
            {
                Inserted::Ok(evicted) => return Ok(handles(&evicted)),
                Inserted::Done => return Ok(Vec::new()),
                Inserted::Exists(_) => return Err(StoreError::AlreadyExists),
                Inserted::Need(members) => {
                    if members.iter().any(|m| !in_bucket(m, user_bucket)) {
                        // Sessions of the user in other slots (not placed by
                        // this store): the script cannot reach them.
                        self.insert_script(record, &user_hex, Some(user_bucket), 0, &[], op)
                            .await
                            .and_then(|outcome| inserted_or_exists(&outcome))?;
                        return Ok(evict_beyond_limit(self, record, max).await);
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
        op: &str,
    ) -> Result<Vec<SessionHandle>, StoreError> {
        let index = self.keys.user(user_bucket, user_hex);
        let m = member(&record.handle);
        let mut call = scripts::INDEX_ADD.prepare_invoke();
        call.key(&index)
            .arg(record.created_at.unix_timestamp())
            .arg(&m)
            .arg(millis(record.absolute_expires_at));
        let _: i64 = self.invoke(&call).await?;
        let outcome = self
            .insert_script(record, user_hex, None, 0, &[], op)
            .await?;
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
        Ok(evict_beyond_limit(self, record, max).await)
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
        op: &str,
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
            .arg(op)
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
