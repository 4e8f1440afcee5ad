//! chromedriver and headless Chromium: finding them, starting them, and
//! the page helpers the scenarios use.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::BoxError;

/// The longest any single wait may take.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// A binary named by the environment variable `env`, or the first of
/// `candidates` found (absolute, or on `PATH`).
pub fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
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
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Result<Self, BoxError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("sk-e2e-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// chromedriver on a free loopback port, killed when dropped.
#[derive(Debug)]
pub(crate) struct Driver {
    _child: Child,
    url: String,
}

impl Driver {
    pub(crate) async fn start(binary: &Path) -> Result<Self, BoxError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let url = format!("http://{addr}");
        let started = Instant::now();
        let status = reqwest::Client::new();
        loop {
            let ready = status.get(format!("{url}/status")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if started.elapsed() > WAIT {
                return Err("chromedriver did not answer".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self { _child: child, url })
    }

    /// A browser session with its own fresh profile.
    pub(crate) async fn browser(
        &self,
        chrome: &Path,
        profile: &TempDir,
    ) -> Result<Client, BoxError> {
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

pub(crate) fn ensure(condition: bool, message: impl Into<String>) -> Result<(), BoxError> {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

/// Polls a JavaScript expression until it is `true`.
pub(crate) async fn wait_until(client: &Client, expression: &str) -> Result<(), BoxError> {
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The page's state, for error messages.
pub(crate) async fn page_state(client: &Client) -> Result<String, BoxError> {
    let v = client
        .execute(
            "return JSON.stringify({login: !document.getElementById('login-form').hidden, \
             whoami: document.getElementById('whoami').textContent, \
             message: document.getElementById('message').textContent, \
             reason: document.getElementById('message').dataset.reason});",
            vec![],
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

pub(crate) async fn logged_in_as(client: &Client, user: &str) -> Result<(), BoxError> {
    wait_until(
        client,
        &format!(
            "document.getElementById('login-form').hidden && \
             document.getElementById('whoami').textContent === '{user}' && \
             document.querySelectorAll('#sessions tr').length > 0"
        ),
    )
    .await
}

pub(crate) async fn login_form_shown(client: &Client) -> Result<(), BoxError> {
    wait_until(client, "!document.getElementById('login-form').hidden").await
}

/// The message line's text.
pub(crate) async fn message(client: &Client) -> Result<String, BoxError> {
    let v = client
        .execute(
            "return document.getElementById('message').textContent;",
            vec![],
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

/// Waits for the login form with a message containing `text`.
pub(crate) async fn logged_out_saying(client: &Client, text: &str) -> Result<(), BoxError> {
    login_form_shown(client).await?;
    wait_until(
        client,
        &format!("document.getElementById('message').textContent.includes({text:?})"),
    )
    .await
}

pub(crate) async fn log_in(
    client: &Client,
    base: &str,
    user: &str,
    password: &str,
) -> Result<(), BoxError> {
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
    click(client, "#login").await?;
    logged_in_as(client, user).await
}

pub(crate) async fn click(client: &Client, css: &str) -> Result<(), BoxError> {
    client.find(Locator::Css(css)).await?.click().await?;
    Ok(())
}

/// The refresh cookie's value. It is `HttpOnly` and scoped to `/auth`, so
/// it is read through WebDriver on a page under that path (a JSON answer,
/// with no script that could refresh meanwhile); the browser stays there.
pub(crate) async fn refresh_cookie(
    client: &Client,
    base: &str,
    name: &str,
) -> Result<Option<String>, BoxError> {
    client.goto(&format!("{base}/auth/refresh")).await?;
    let value = match client.get_named_cookie(name).await {
        Ok(cookie) => Some(cookie.value().to_owned()),
        Err(e) if e.is_no_such_cookie() => None,
        Err(e) => return Err(e.into()),
    };
    Ok(value)
}

/// Saves a screenshot as `target/e2e/{app}-{name}.png`.
pub(crate) async fn screenshot(client: &Client, app: &str, name: &str) -> Result<(), BoxError> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join(format!("{app}-{name}.png")),
        client.screenshot().await?,
    )?;
    Ok(())
}
