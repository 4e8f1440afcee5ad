//! The browser suite: headless Chromium driven over WebDriver
//! (chromedriver) against an application on a loopback port, with a
//! 2-second access-token lifetime and no grace window.
//!
//! The scenarios run one after the other, sharing one server and one
//! chromedriver: log in through the form and see the session list, silent
//! refresh after the access token expires, two tabs refreshing at the same
//! moment with no false theft alarm, a copied refresh cookie used by a
//! thief and detected at the owner's next refresh (the page says so),
//! logout, and "sign out everywhere" reaching a second browser profile
//! (whose page says it was signed out from another device). A second server,
//! whose sessions idle out after a few seconds, shows a session that
//! expired while the page was left alone: the browser drops the cookies,
//! and the page says that the session expired. Each scenario leaves a
//! screenshot in `target/e2e/`.
//!
//! Without a browser or driver the suite prints why and passes, unless
//! `SESSIONKIT_REQUIRE_SERVICES=1`. `CHROME` and `CHROMEDRIVER` override
//! the binaries' paths.

mod driver;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use fantoccini::Client;
use sessionkit::clock::SystemClock;
use time::Duration;

pub use self::driver::find_binary;
use self::driver::{
    Driver, TempDir, click, ensure, log_in, logged_in_as, logged_out_saying, login_form_shown,
    message, refresh_cookie, screenshot, wait_until,
};
use crate::BoxError;
use crate::app::{AppKind, Backend, Running, require_services, start};
use crate::client::{ACCESS, REFRESH};

/// How long the access token lives in the browser suite.
const ACCESS_TTL_SECS: u64 = 2;

/// How long a session lives without a refresh on the second server.
const IDLE_TTL_SECS: u64 = 4;

/// Runs the browser scenarios against `kind` on the memory store.
///
/// # Panics
/// When a scenario fails or times out, or a browser or driver is missing
/// while `SESSIONKIT_REQUIRE_SERVICES=1`.
pub async fn run_browser_suite(kind: &AppKind) {
    let chrome = find_binary(
        "CHROME",
        &["/usr/bin/chromium", "chromium", "google-chrome"],
    );
    let driver = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"]);
    let (Some(chrome), Some(driver)) = (chrome, driver) else {
        assert!(
            !require_services(),
            "no chromium or chromedriver found and SESSIONKIT_REQUIRE_SERVICES=1"
        );
        println!("skipped: no chromium or chromedriver found (set CHROME and CHROMEDRIVER)");
        return;
    };
    let started = Instant::now();
    let running = start(kind, Backend::Memory, Arc::new(SystemClock), |s| {
        s.access_ttl = Duration::seconds(ACCESS_TTL_SECS as i64);
        s.leeway = Duration::ZERO;
        // No grace window: two tabs stay signed in only because the client
        // never refreshes twice with one token.
        s.grace = Duration::ZERO;
    })
    .await
    .unwrap_or_else(|e| panic!("{}: the application did not start: {e}", kind.name))
    .unwrap_or_else(|| panic!("the memory store is always there"));
    let idling = start(kind, Backend::Memory, Arc::new(SystemClock), |s| {
        s.access_ttl = Duration::seconds(ACCESS_TTL_SECS as i64);
        s.refresh_idle_ttl = Duration::seconds(IDLE_TTL_SECS as i64);
        s.leeway = Duration::ZERO;
    })
    .await
    .unwrap_or_else(|e| panic!("{}: the application did not start: {e}", kind.name))
    .unwrap_or_else(|| panic!("the memory store is always there"));
    let outcome = with_browsers(kind.name, &running, &idling, &chrome, &driver).await;
    running.finish().await;
    idling.finish().await;
    match outcome {
        Ok(()) => println!(
            "{}: browser scenarios passed in {:?}",
            kind.name,
            started.elapsed()
        ),
        Err(e) => panic!("{}: browser scenario failed: {e}", kind.name),
    }
}

/// Starts chromedriver and two browsers with their own profiles, runs the
/// scenarios with a time limit, and closes everything whatever happened.
async fn with_browsers(
    app: &str,
    world: &Running,
    idling: &Running,
    chrome: &std::path::Path,
    driver: &std::path::Path,
) -> Result<(), BoxError> {
    let driver = Driver::start(driver).await?;
    let (profile_one, profile_two) = (TempDir::new("one")?, TempDir::new("two")?);
    let first = driver.browser(chrome, &profile_one).await?;
    let second = driver.browser(chrome, &profile_two).await?;
    let outcome = tokio::time::timeout(StdDuration::from_secs(180), async {
        scenarios(app, world, &first, &second).await?;
        idle_expiry(app, idling, &first).await
    })
    .await;
    // Close the browsers before reporting, so none is left running.
    let _ = first.close().await;
    let _ = second.close().await;
    drop(driver);
    outcome.map_err(|_| "the scenarios timed out")?
}

async fn expire_access_token() {
    tokio::time::sleep(StdDuration::from_secs(ACCESS_TTL_SECS + 1)).await;
}

async fn scenarios(
    app: &str,
    world: &Running,
    first: &Client,
    second: &Client,
) -> Result<(), BoxError> {
    let base = world.base.as_str();
    let shot = |client: &Client, name: &'static str| {
        let client = client.clone();
        async move { screenshot(&client, app, name).await }
    };

    // 1. Sign in through the form; the session list shows the device.
    log_in(first, base, "alice", "wonderland").await?;
    ensure(message(first).await?.is_empty(), "message after login")?;
    wait_until(
        first,
        "document.querySelector('#sessions tr.current .device').textContent \
         === 'Headless Chrome on Linux' && \
         document.querySelector('#sessions tr.current').textContent.includes('this device')",
    )
    .await?;
    shot(first, "1-login").await?;

    // 2. The access token expires; the page refreshes silently.
    let before = world.live_sessions("alice").await;
    ensure(before.len() == 1, "one session")?;
    expire_access_token().await;
    // Empty the list, so that its coming back shows the reload finished.
    first
        .execute(
            "document.getElementById('sessions').replaceChildren(); return true;",
            vec![],
        )
        .await?;
    click(first, "#reload").await?;
    logged_in_as(first, "alice").await?;
    ensure(message(first).await?.is_empty(), "message after refresh")?;
    let after = world.live_sessions("alice").await;
    ensure(
        after.len() == 1
            && after.first().map(|s| s.generation) > before.first().map(|s| s.generation),
        format!("silent refresh did not rotate: {after:?}"),
    )?;
    shot(first, "2-silent-refresh").await?;

    two_tabs(world, first, base).await?;
    shot(first, "3-two-tabs").await?;

    // 4. A thief copies the refresh cookie and uses it before its owner:
    // the owner's next refresh presents a retired token, which is theft.
    let copied = refresh_cookie(first, base, REFRESH)
        .await?
        .ok_or("no refresh cookie")?;
    let thief = reqwest::Client::new()
        .post(format!("{base}/auth/refresh"))
        .header("cookie", format!("{REFRESH}={copied}"))
        .send()
        .await?;
    ensure(
        thief.status() == 200,
        format!("the thief's refresh: {}", thief.status()),
    )?;
    expire_access_token().await;
    first.goto(base).await?;
    logged_out_saying(first, "a copy of your sign-in was used elsewhere").await?;
    ensure(
        world.live_sessions("alice").await.is_empty(),
        "session revoked",
    )?;
    let replay = reqwest::Client::new()
        .post(format!("{base}/auth/refresh"))
        .header("cookie", format!("{REFRESH}={copied}"))
        .send()
        .await?;
    ensure(replay.status() == 401, "the thief is out too")?;
    shot(first, "4-theft").await?;

    // 5. Sign out clears the cookies.
    log_in(first, base, "alice", "wonderland").await?;
    click(first, "#logout").await?;
    login_form_shown(first).await?;
    shot(first, "5-logout").await?;
    let cookies = first.get_all_cookies().await?;
    ensure(
        !cookies.iter().any(|c| c.name() == ACCESS),
        "access cookie left after logout",
    )?;
    ensure(
        refresh_cookie(first, base, REFRESH).await?.is_none(),
        "refresh cookie left after logout",
    )?;
    ensure(
        world.live_sessions("alice").await.is_empty(),
        "session revoked at logout",
    )?;

    // 6. Sign out everywhere reaches a second browser profile.
    log_in(first, base, "bob", "builder").await?;
    log_in(second, base, "bob", "builder").await?;
    ensure(world.live_sessions("bob").await.len() == 2, "two sessions")?;
    click(second, "#reload").await?;
    wait_until(
        second,
        "document.querySelectorAll('#sessions tr.session').length === 2",
    )
    .await?;
    click(first, "#logout-all").await?;
    login_form_shown(first).await?;
    click(second, "#reload").await?;
    logged_out_saying(second, "You were signed out from another device").await?;
    ensure(
        world.live_sessions("bob").await.is_empty(),
        "every session revoked",
    )?;
    shot(first, "6-logout-all-first").await?;
    shot(second, "6-logout-all-second").await?;
    Ok(())
}

/// Scenario 3: two tabs hit an expired access token at the same moment. Both are
/// told to check at the same instant, far enough ahead that whatever token
/// is current when the tabs are set up has expired by then. Exactly one
/// refresh happens; the other tab retries with its cookie; nobody is
/// signed out.
async fn two_tabs(world: &Running, first: &Client, base: &str) -> Result<(), BoxError> {
    let tab_one = first.window().await?;
    let tab_two = first.new_window(true).await?.handle;
    first.switch_to_window(tab_two.clone()).await?;
    first.goto(base).await?;
    logged_in_as(first, "alice").await?;
    // Nothing refreshes until the tabs are told to (the page and the
    // client have no timers of their own).
    let generation = world
        .live_sessions("alice")
        .await
        .first()
        .map(|s| s.generation)
        .ok_or("no session before the tabs fire")?;
    let lead_ms = (ACCESS_TTL_SECS + 2) * 1000;
    let at = first
        .execute(&format!("return Date.now() + {lead_ms};"), vec![])
        .await?;
    let schedule = "window.skDone = false; \
         setTimeout(() => window.skCheck().then(() => { window.skDone = true; }), \
         arguments[0] - Date.now()); return true;";
    first.execute(schedule, vec![at.clone()]).await?;
    first.switch_to_window(tab_one.clone()).await?;
    first.execute(schedule, vec![at]).await?;
    wait_until(first, "window.skDone === true").await?;
    let sessions = world.live_sessions("alice").await;
    ensure(
        sessions.len() == 1 && sessions.first().map(|s| s.generation) == Some(generation + 1),
        format!("expected exactly one refresh and no theft: {sessions:?}"),
    )?;
    logged_in_as(first, "alice").await?;
    ensure(message(first).await?.is_empty(), "message in tab one")?;
    first.switch_to_window(tab_two).await?;
    wait_until(first, "window.skDone === true").await?;
    logged_in_as(first, "alice").await?;
    ensure(message(first).await?.is_empty(), "message in tab two")?;
    first.close_window().await?;
    first.switch_to_window(tab_one).await?;
    ensure(
        world.live_sessions("alice").await.len() == 1,
        "session still live",
    )
}

/// Scenario 7: a session idles out while its page is left open. The
/// browser drops both cookies when their `Max-Age` (the session's idle
/// expiry) runs out, so the next request and its refresh carry no token and
/// the server cannot say why; the browser client kept the deadline from the
/// last login or refresh, and the page says that the session expired, on
/// every visit until the next login.
async fn idle_expiry(app: &str, world: &Running, client: &Client) -> Result<(), BoxError> {
    let base = world.base.as_str();
    log_in(client, base, "alice", "wonderland").await?;
    ensure(world.live_sessions("alice").await.len() == 1, "one session")?;
    tokio::time::sleep(StdDuration::from_secs(IDLE_TTL_SECS + 2)).await;
    // The browser has dropped the cookies (the check leaves the page).
    ensure(
        refresh_cookie(client, base, REFRESH).await?.is_none(),
        "the browser kept the refresh cookie past the session's expiry",
    )?;
    client.goto(base).await?;
    logged_out_saying(client, "Your session expired").await?;
    screenshot(client, app, "7-expired").await?;
    // Signing in again starts afresh; after signing out, a visit shows
    // the login form alone.
    log_in(client, base, "alice", "wonderland").await?;
    ensure(message(client).await?.is_empty(), "message after login")?;
    click(client, "#logout").await?;
    login_form_shown(client).await?;
    client.goto(base).await?;
    login_form_shown(client).await?;
    ensure(
        message(client).await?.is_empty(),
        "message on the next visit",
    )
}
