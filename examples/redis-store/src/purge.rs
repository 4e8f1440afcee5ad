//! `purge_expired`: every bucket, batch by batch.

use std::collections::HashMap;

use futures_util::{StreamExt as _, TryStreamExt as _};

use crate::codec::number;
use crate::keys::handle_of_member;
use crate::ops::{MEMBER_LEN, unhex};
use crate::placement::BUCKETS;
use crate::scripts;
use crate::store::RedisStore;
use sessionkit::store::StoreError;

/// How many expiry-index entries one purge script examines before it hands
/// control back to Redis (and to other clients).
const PURGE_BATCH: usize = 500;

/// How many buckets a purge works on at once.
const PURGE_CONCURRENCY: usize = 64;

impl RedisStore {
    /// Purges every bucket (so every primary of a cluster), 64 at a time.
    pub(crate) async fn purge_all(&self, now: time::OffsetDateTime) -> Result<u64, StoreError> {
        self.placement().await?;
        let now = now.unix_timestamp();
        futures_util::stream::iter(0..BUCKETS)
            .map(|bucket| self.purge_bucket(bucket, now))
            .buffer_unordered(PURGE_CONCURRENCY)
            .try_fold(0u64, |total, n| async move { Ok(total.saturating_add(n)) })
            .await
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
