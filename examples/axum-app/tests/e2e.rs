//! End-to-end tests in a real browser: headless Chromium driven over
//! WebDriver (chromedriver) against the application on a loopback port,
//! with a 2-second access-token lifetime.
//!
//! The scenarios run one after the other in one test, sharing one server
//! and one chromedriver: log in through the form, silent refresh after the
//! access token expires, two tabs refreshing at the same moment, theft of a
//! copied refresh cookie, logout, and "log out everywhere" reaching a second
//! browser profile. Each scenario leaves a screenshot in `target/e2e/`.
//!
//! Without a browser or driver the test prints why and passes, unless
//! `SESSIONKIT_REQUIRE_SERVICES=1`. `CHROME` and `CHROMEDRIVER` override the
//! binaries' paths.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests report failures by panicking"
)]

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use axum_app::{AppState, Config, app};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sessionkit::MemoryStore;
use sessionkit::clock::SystemClock;
use time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

type Result<T = (), E = Box<dyn StdError + Send + Sync>> = std::result::Result<T, E>;

/// The longest any single wait may take.
const WAIT: StdDuration = StdDuration::from_secs(15);
/// How long the access token lives.
const ACCESS_TTL_SECS: u64 = 2;
const REFRESH_COOKIE: &str = "__Secure-sk-refresh";
const ACCESS_COOKIE: &str = "__Host-sk-access";

fn require_services() -> bool {
    std::env::var("SESSIONKIT_REQUIRE_SERVICES").as_deref() == Ok("1")
}

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates.iter().find_map(|name| {
        let direct = PathBuf::from(name);
        if direct.is_absolute() {
            return Some(direct).filter(|p| p.is_file());
        }
        path_dirs
            .iter()
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("sk-e2e-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    _child: Child,
    url: String,
}

impl Driver {
    async fn start(binary: &Path) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        loop {
            if let Ok((200, _)) = http(addr, "GET", "/status", &[]).await {
                break;
            }
            if started.elapsed() > WAIT {
                return Err("chromedriver did not answer".into());
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        Ok(Self {
            _child: child,
            url: format!("http://{addr}"),
        })
    }

    /// A browser session with its own fresh profile.
    async fn browser(&self, chrome: &Path, profile: &TempDir) -> Result<Client> {
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1000,800".to_owned(),
            format!("--user-data-dir={}", profile.0.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "binary": chrome, "args": args }),
        );
        // Plain HTTP to a loopback chromedriver: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        Ok(ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await?)
    }
}

/// A minimal HTTP/1.1 request: status and body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: 0\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    // Read up to the end of the body as announced by Content-Length: some
    // servers (chromedriver) keep the connection open regardless.
    let mut response = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).await?;
            response.extend_from_slice(&buf[..n]);
            if n == 0 || complete(&response) {
                return Ok::<_, std::io::Error>(());
            }
        }
    };
    tokio::time::timeout(WAIT, read).await??;
    let response = String::from_utf8(response)?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let status = head.split(' ').nth(1).ok_or("no status")?.parse()?;
    Ok((status, body.to_owned()))
}

/// Whether a response holds its headers and the whole body they announce.
fn complete(response: &[u8]) -> bool {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    length.is_some_and(|len| response.len() >= end + 4 + len)
}

fn ensure(condition: bool, message: impl Into<String>) -> Result {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

/// Polls a JavaScript expression until it is `true`.
async fn wait_until(client: &Client, expression: &str) -> Result {
    let started = Instant::now();
    loop {
        let value = client
            .execute(&format!("return ({expression});"), vec![])
            .await?;
        if value == Value::Bool(true) {
            return Ok(());
        }
        if started.elapsed() > WAIT {
            let state = page_state(client).await.unwrap_or_default();
            return Err(format!("timed out waiting for {expression}; page: {state}").into());
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

async fn page_state(client: &Client) -> Result<String> {
    let v = client
        .execute(
            "return JSON.stringify({login: !document.getElementById('login-form').hidden, \
             whoami: document.getElementById('whoami').textContent, \
             message: document.getElementById('message').textContent});",
            vec![],
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

async fn logged_in_as(client: &Client, user: &str) -> Result {
    wait_until(
        client,
        &format!(
            "document.getElementById('login-form').hidden && \
             document.getElementById('whoami').textContent === '{user}' && \
             document.querySelectorAll('#sessions li').length > 0"
        ),
    )
    .await
}

async fn login_form_shown(client: &Client) -> Result {
    wait_until(client, "!document.getElementById('login-form').hidden").await
}

async fn message(client: &Client) -> Result<String> {
    let v = client
        .execute(
            "return document.getElementById('message').textContent;",
            vec![],
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

async fn log_in(client: &Client, base: &str, user: &str, password: &str) -> Result {
    client.goto(base).await?;
    login_form_shown(client).await?;
    let username = client.find(Locator::Css("#username")).await?;
    username.clear().await?;
    username.send_keys(user).await?;
    client
        .find(Locator::Css("#password"))
        .await?
        .send_keys(password)
        .await?;
    client.find(Locator::Css("#login")).await?.click().await?;
    logged_in_as(client, user).await
}

async fn click(client: &Client, css: &str) -> Result {
    client.find(Locator::Css(css)).await?.click().await?;
    Ok(())
}

/// The refresh cookie's value. It is `HttpOnly` and scoped to
/// `/auth/refresh`, so read it through WebDriver on that path.
async fn refresh_cookie(client: &Client, base: &str) -> Result<Option<String>> {
    client.goto(&format!("{base}/auth/refresh")).await?;
    let value = match client.get_named_cookie(REFRESH_COOKIE).await {
        Ok(cookie) => Some(cookie.value().to_owned()),
        Err(e) if e.is_no_such_cookie() => None,
        Err(e) => return Err(e.into()),
    };
    client.goto(base).await?;
    Ok(value)
}

async fn screenshot(client: &Client, name: &str) -> Result {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(format!("{name}.png")), client.screenshot().await?)?;
    Ok(())
}

async fn expire_access_token() {
    tokio::time::sleep(StdDuration::from_secs(ACCESS_TTL_SECS + 1)).await;
}

struct World {
    base: String,
    addr: SocketAddr,
    state: AppState,
}

impl World {
    async fn live_sessions(&self, user: &str) -> Result<Vec<sessionkit::SessionInfo>> {
        Ok(self.state.manager().sessions_for_user(user).await?)
    }
}

async fn start_app() -> Result<World> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = Config::new(addr);
    config.access_ttl = Duration::seconds(ACCESS_TTL_SECS as i64);
    config.leeway = Duration::ZERO;
    // No grace window: two tabs stay logged in only because the page never
    // refreshes in parallel (the Web Locks lock).
    config.grace = Duration::ZERO;
    let state = AppState::new(&config, Arc::new(MemoryStore::new()), Arc::new(SystemClock))?;
    let router = app(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(World {
        base: format!("http://{addr}"),
        addr,
        state,
    })
}

async fn scenarios(world: &World, first: &Client, second: &Client) -> Result {
    let base = world.base.as_str();

    // 1. Log in through the form.
    log_in(first, base, "alice", "wonderland").await?;
    ensure(message(first).await?.is_empty(), "message after login")?;
    screenshot(first, "1-login").await?;
    let copied = refresh_cookie(first, base)
        .await?
        .ok_or("no refresh cookie after login")?;
    logged_in_as(first, "alice").await?;

    // 2. The access token expires; the page refreshes silently.
    let before = world.live_sessions("alice").await?;
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
    let after = world.live_sessions("alice").await?;
    ensure(
        after.len() == 1 && after[0].generation > before[0].generation,
        format!("silent refresh did not rotate: {after:?}"),
    )?;
    screenshot(first, "2-silent-refresh").await?;

    // 3. Two tabs hit an expired access token at the same moment. Both are
    // told to check at the same instant, far enough ahead that whatever
    // token is current when the tabs are set up has expired by then
    // (switching tabs makes the page check, and maybe refresh, too).
    let tab_one = first.window().await?;
    let tab_two = first.new_window(true).await?.handle;
    first.switch_to_window(tab_two.clone()).await?;
    first.goto(base).await?;
    logged_in_as(first, "alice").await?;
    let lead_ms = (ACCESS_TTL_SECS + 2) * 1000;
    let at = first
        .execute(&format!("return Date.now() + {lead_ms};"), vec![])
        .await?;
    let fire_at = Instant::now() + StdDuration::from_millis(lead_ms);
    let schedule = "window.skDone = false; \
         setTimeout(() => window.skCheck().then(() => { window.skDone = true; }), \
         arguments[0] - Date.now()); return true;";
    first.execute(schedule, vec![at.clone()]).await?;
    first.switch_to_window(tab_one.clone()).await?;
    first.execute(schedule, vec![at]).await?;
    tokio::time::sleep_until((fire_at - StdDuration::from_millis(600)).into()).await;
    let generation = world.live_sessions("alice").await?[0].generation;
    wait_until(first, "window.skDone === true").await?;
    let sessions = world.live_sessions("alice").await?;
    ensure(
        sessions.len() == 1 && sessions[0].generation == generation + 1,
        format!("expected exactly one refresh and no theft: {sessions:?}"),
    )?;
    logged_in_as(first, "alice").await?;
    ensure(message(first).await?.is_empty(), "message in tab one")?;
    screenshot(first, "3-two-tabs-first").await?;
    first.switch_to_window(tab_two).await?;
    wait_until(first, "window.skDone === true").await?;
    logged_in_as(first, "alice").await?;
    ensure(message(first).await?.is_empty(), "message in tab two")?;
    screenshot(first, "3-two-tabs-second").await?;
    first.close_window().await?;
    first.switch_to_window(tab_one).await?;
    ensure(
        world.live_sessions("alice").await?.len() == 1,
        "session still live",
    )?;

    // 4. The refresh cookie copied after login is replayed by a thief.
    let cookie = format!("{REFRESH_COOKIE}={copied}");
    let (status, body) = http(
        world.addr,
        "POST",
        "/auth/refresh",
        &[("cookie", cookie.as_str())],
    )
    .await?;
    ensure(
        status == 401 && body.contains("token_theft_detected"),
        format!("replay answered {status} {body}"),
    )?;
    ensure(
        world.live_sessions("alice").await?.is_empty(),
        "session revoked",
    )?;
    click(first, "#reload").await?;
    login_form_shown(first).await?;
    ensure(!message(first).await?.is_empty(), "a message with the form")?;
    screenshot(first, "4-theft").await?;

    // 5. Log out clears the cookies.
    log_in(first, base, "alice", "wonderland").await?;
    click(first, "#logout").await?;
    login_form_shown(first).await?;
    let cookies = first.get_all_cookies().await?;
    ensure(
        !cookies.iter().any(|c| c.name() == ACCESS_COOKIE),
        "access cookie left after logout",
    )?;
    ensure(
        refresh_cookie(first, base).await?.is_none(),
        "refresh cookie left after logout",
    )?;
    ensure(
        world.live_sessions("alice").await?.is_empty(),
        "session revoked at logout",
    )?;
    login_form_shown(first).await?;
    screenshot(first, "5-logout").await?;

    // 6. Log out everywhere reaches a second browser profile.
    log_in(first, base, "bob", "builder").await?;
    log_in(second, base, "bob", "builder").await?;
    ensure(world.live_sessions("bob").await?.len() == 2, "two sessions")?;
    click(first, "#logout-all").await?;
    login_form_shown(first).await?;
    click(second, "#reload").await?;
    login_form_shown(second).await?;
    ensure(
        world.live_sessions("bob").await?.is_empty(),
        "every session revoked",
    )?;
    screenshot(first, "6-logout-all-first").await?;
    screenshot(second, "6-logout-all-second").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sessions_end_to_end() {
    let chrome = find_binary(
        "CHROME",
        &["/usr/bin/chromium", "chromium", "google-chrome"],
    );
    let driver = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"]);
    let (Some(chrome), Some(driver)) = (chrome, driver) else {
        if require_services() {
            panic!("no chromium or chromedriver found and SESSIONKIT_REQUIRE_SERVICES=1");
        }
        println!("skipped: no chromium or chromedriver found (set CHROME and CHROMEDRIVER)");
        return;
    };
    let started = Instant::now();
    let world = start_app().await.expect("app");
    let driver = Driver::start(&driver).await.expect("chromedriver");
    let (profile_one, profile_two) = (TempDir::new("one"), TempDir::new("two"));
    let first = driver
        .browser(&chrome, &profile_one)
        .await
        .expect("browser");
    let second = driver
        .browser(&chrome, &profile_two)
        .await
        .expect("browser");

    let outcome = tokio::time::timeout(
        StdDuration::from_secs(120),
        scenarios(&world, &first, &second),
    )
    .await;
    // Close the browsers before reporting, so none is left running.
    let _ = first.close().await;
    let _ = second.close().await;
    drop(driver);
    match outcome {
        Ok(Ok(())) => println!("e2e scenarios passed in {:?}", started.elapsed()),
        Ok(Err(e)) => panic!("e2e scenario failed: {e}"),
        Err(_) => panic!("e2e scenarios timed out"),
    }
}
