//! The HTTP suite against every application, on the memory store,
//! PostgreSQL, Redis and a Redis Cluster (the last three print
//! `skipped: ...` without a server, and fail instead under
//! `SESSIONKIT_REQUIRE_SERVICES=1`).

mod apps;

use http_contract::{Backend, run_http_suite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_contract_over_memory() {
    for app in apps::APPS {
        run_http_suite(app, Backend::Memory).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_contract_over_postgres() {
    for app in apps::APPS {
        run_http_suite(app, Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_contract_over_redis() {
    for app in apps::APPS {
        run_http_suite(app, Backend::Redis).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_contract_over_redis_cluster() {
    for app in apps::APPS {
        run_http_suite(app, Backend::RedisCluster).await;
    }
}
