//! The store conformance suite, run against the in-memory store.

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    sessionkit::testing::run_store_suite(|| async { sessionkit::MemoryStore::new() }).await;
}
