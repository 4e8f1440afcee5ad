//! The store contract on a Redis Cluster (`.ci/redis-cluster.sh start`, or
//! `REDIS_CLUSTER_NODES`): the shared conformance, instance, fault and
//! history suites, over the cluster connection.

#![cfg(test)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use sessionkit::testing::{
    run_fault_suite, run_history_suite_with, run_instance_suite_with, run_store_suite,
};
use sessionkit_redis::RedisStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_store_passes_the_conformance_suite() {
    let Some((probe, cleanup)) = common::cluster_store_or_skip("cluster-suite").await else {
        return;
    };
    assert!(probe.connection().is_cluster());
    run_store_suite(common::fresh_stores(probe.connection(), cleanup.prefix())).await;
}

/// Two application instances, each with its own cluster connection, over
/// one prefix (SEC-13, SEC-18, SEC-20 across instances).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_store_passes_the_instance_suite() {
    let Some((_probe, cleanup)) = common::cluster_store_or_skip("cluster-instances").await else {
        return;
    };
    let root = cleanup.prefix().to_owned();
    let n = AtomicU64::new(0);
    run_instance_suite_with(
        || {
            let prefix = format!("{root}:{}", n.fetch_add(1, Ordering::Relaxed));
            async move {
                let nodes = common::cluster_nodes();
                let connect = || {
                    RedisStore::builder()
                        .prefix(prefix.clone())
                        .connect_cluster(&nodes)
                };
                let a = connect().await.expect("first connection");
                let b = connect().await.expect("second connection");
                (a, b)
            }
        },
        common::tokio_spawn(),
    )
    .await;
}

/// SEC-24: a fault at every store call of create, refresh, revoke and
/// revoke-all, over the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_24_cluster_fault_suite() {
    let Some((probe, cleanup)) = common::cluster_store_or_skip("cluster-faults").await else {
        return;
    };
    let report = run_fault_suite(common::fresh_stores(probe.connection(), cleanup.prefix())).await;
    assert!(report.errors_injected > 0);
}

/// SEC-20, SEC-21: 10,000 operations in concurrent histories on the
/// cluster, each linearizable against the model of the refresh table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_20_cluster_histories_are_linearizable() {
    let Some((store, _cleanup)) = common::cluster_store_or_skip("cluster-history").await else {
        return;
    };
    let report = run_history_suite_with(
        move || std::future::ready(store.clone()),
        10_000,
        common::tokio_spawn(),
    )
    .await;
    assert!(report.operations >= 10_000);
}
