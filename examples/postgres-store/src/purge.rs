//! [`PurgeBatches`]: a purge of expired sessions, one bounded batch at a
//! time.

use sessionkit::store::StoreError;

use crate::store::PostgresStore;

/// A purge of the records expired at one instant, one batch at a time;
/// made by [`PostgresStore::purge_expired_batches`].
///
/// Each batch starts where the previous one ended in the expiry index, so
/// a long purge never walks again over the entries it deleted (which stay
/// in the index until the table is vacuumed). Records that expire before
/// that point while the purge runs, or that a writer held when their batch
/// ran, are left for the next purge.
///
/// ```no_run
/// # async fn run(store: sessionkit_postgres::PostgresStore) -> Result<(), sessionkit::store::StoreError> {
/// let mut purge = store.purge_expired_batches(time::OffsetDateTime::now_utc());
/// while let Some(deleted) = purge.next_batch().await? {
///     println!("purged {deleted}");
///     tokio::time::sleep(std::time::Duration::from_millis(50)).await; // leave room for others
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a purge deletes nothing until `next_batch` runs"]
pub struct PurgeBatches<'a> {
    store: &'a PostgresStore,
    now: i64,
    from: Option<i64>,
    finished: bool,
}

impl<'a> PurgeBatches<'a> {
    pub(crate) fn new(store: &'a PostgresStore, now: i64) -> Self {
        Self {
            store,
            now,
            from: None,
            finished: false,
        }
    }

    /// Whether the purge is done: the last batch was not full, and
    /// [`next_batch`](Self::next_batch) now returns `None`.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Deletes the next batch and returns how many records it deleted, or
    /// `None` once the purge is done: after a batch that was not full
    /// (nothing was left but rows a writer held).
    ///
    /// # Errors
    /// [`StoreError::Timeout`] past the store's bound,
    /// [`StoreError::Backend`] for other failures. A failed batch deletes
    /// nothing (unless only its answer was lost); calling again runs it
    /// again.
    pub async fn next_batch(&mut self) -> Result<Option<u64>, StoreError> {
        if self.finished {
            return Ok(None);
        }
        let (deleted, last, full) = self.store.purge_batch(self.now, self.from).await?;
        self.finished = !full;
        if last.is_some() {
            self.from = last;
        }
        Ok(Some(deleted))
    }
}
