//! The memory store's sharded user index: listings and user-wide deletes
//! stay exact and atomic across shards, concurrent operations on one user
//! never deadlock, long and short user ids behave alike, and `Debug` shows
//! no record.

use std::collections::HashSet;
use std::sync::Arc;

use sessionkit::store::SessionStore;
use sessionkit::testing::sample_record;
use sessionkit::{MemoryStore, SessionHandle};

fn handles(records: &[sessionkit::store::SessionRecord]) -> HashSet<SessionHandle> {
    records.iter().map(|r| r.handle).collect()
}

#[tokio::test]
async fn listing_and_user_wide_delete_cover_every_shard() {
    let store = MemoryStore::new();
    let long = "a-user-id-much-longer-than-thirty-bytes@example.com";
    let mut mine = HashSet::new();
    for user in ["alice", long] {
        for _ in 0..100 {
            let record = sample_record(user);
            if user == long {
                mine.insert(record.handle);
            }
            store.insert(&record).await.unwrap();
        }
    }
    assert_eq!(store.len(), 200);
    let listed = store.list_by_user(long).await.unwrap();
    assert_eq!(handles(&listed), mine);
    assert!(listed.iter().all(|r| r.user_id == long));
    assert!(store.list_by_user("Alice").await.unwrap().is_empty());

    let keep = *mine.iter().next().unwrap();
    assert_eq!(store.delete_by_user(long, Some(&keep)).await.unwrap(), 99);
    let left = store.list_by_user(long).await.unwrap();
    assert_eq!(handles(&left), HashSet::from([keep]));
    assert_eq!(store.list_by_user("alice").await.unwrap().len(), 100);
    assert!(store.delete(&keep).await.unwrap());
    assert!(!store.delete(&keep).await.unwrap());
    assert!(store.list_by_user(long).await.unwrap().is_empty());
    assert_eq!(store.delete_by_user(long, None).await.unwrap(), 0);
    assert_eq!(store.len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_user_operations_do_not_deadlock() {
    let store = Arc::new(MemoryStore::new());
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for round in 0..200 {
                let user = format!("user-{}", round % 3);
                let record = sample_record(&user);
                store.insert(&record).await.unwrap();
                match (t + round) % 4 {
                    0 => {
                        store.list_by_user(&user).await.unwrap();
                    }
                    1 => {
                        store
                            .delete_by_user(&user, Some(&record.handle))
                            .await
                            .unwrap();
                    }
                    2 => {
                        store.delete(&record.handle).await.unwrap();
                    }
                    _ => {
                        store
                            .purge_expired(time::OffsetDateTime::UNIX_EPOCH)
                            .await
                            .unwrap();
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Whatever is left is listed exactly once, under its own user.
    let mut total = 0;
    for u in 0..3 {
        let user = format!("user-{u}");
        let listed = store.list_by_user(&user).await.unwrap();
        assert_eq!(handles(&listed).len(), listed.len());
        assert!(listed.iter().all(|r| r.user_id == user));
        total += listed.len();
    }
    assert_eq!(total, store.len());
}

#[tokio::test]
async fn debug_shows_no_record() {
    let store = MemoryStore::new();
    store.insert(&sample_record("alice")).await.unwrap();
    assert_eq!(format!("{store:?}"), "MemoryStore { .. }");
}
