//! The browser suite against every application, on the memory store: it
//! prints `skipped: ...` without Chromium and chromedriver, and fails
//! instead under `SESSIONKIT_REQUIRE_SERVICES=1`.

mod apps;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_contract_over_memory() {
    for app in apps::APPS {
        http_contract::run_browser_suite(app).await;
    }
}
