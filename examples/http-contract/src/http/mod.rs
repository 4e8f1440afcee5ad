//! The HTTP suite: every route of the example applications' contract,
//! checked over real HTTP against an application on a loopback port, with a
//! manual clock.
//!
//! Each check starts its own application (a fresh store, fresh limits),
//! runs in its own task so that one failure does not hide the others, and
//! the suite fails at the end naming every check that failed.

mod login;
mod logout;
mod routes;
mod sessions;
mod tokens;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use app_common::Settings;
use serde_json::json;
use sessionkit::clock::ManualClock;
use time::Duration;

use crate::app::{AppKind, Backend, Running, start};
use crate::client::{Answer, Client, Jar};

/// A user agent the checks log in with: its device shows in the list.
pub const USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

type CheckFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One check of the suite.
#[derive(Clone, Copy)]
pub struct Check {
    /// Its name, as reported (and cited in SECURITY.md).
    pub name: &'static str,
    customize: fn(&mut Settings),
    run: fn(Arc<Ctx>) -> CheckFuture,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

macro_rules! checks {
    ($($module:ident :: $name:ident $(with $customize:expr)?),* $(,)?) => {
        /// Every check of the HTTP suite.
        pub const CHECKS: &[Check] = &[$(Check {
            name: stringify!($name),
            customize: checks!(@customize $($customize)?),
            run: |ctx| Box::pin($module::$name(ctx)),
        }),*];
    };
    (@customize) => { |_| {} };
    (@customize $customize:expr) => { $customize };
}

checks! {
    routes::page_is_served_with_its_stable_ids_and_messages,
    routes::browser_client_is_served,
    routes::unknown_routes_and_methods_answer_json,
    routes::jwks_is_404_with_hs256,
    routes::jwks_is_published_with_eddsa with |s| s.algorithm = sessionkit::Algorithm::EdDsa,
    login::sec_35_sec_36_login_sets_both_cookies_with_secure_attributes,
    login::login_with_bad_credentials_is_401_invalid_credentials,
    login::sec_48_login_rate_limit_is_429_with_retry_after with login::tight_limits,
    login::sec_48_login_with_a_session_cookie_revokes_the_old_session,
    login::header_mode_login_returns_tokens_and_no_cookies,
    tokens::me_accepts_the_access_cookie_or_a_bearer_token,
    tokens::me_without_a_valid_token_is_401_unauthorized,
    tokens::sec_06_token_in_the_url_is_ignored,
    tokens::expired_access_token_is_try_refresh_token_then_refresh_works,
    tokens::refresh_without_a_valid_token_is_401_and_clears_both_cookies,
    tokens::refresh_of_a_revoked_session_is_401_signed_out,
    tokens::refresh_of_an_expired_session_is_401_expired,
    tokens::theft_through_the_refresh_endpoint_revokes_the_session,
    tokens::concurrent_refresh_inside_the_grace_window_is_not_theft,
    logout::sec_12_logout_revokes_and_clears_cookies,
    logout::logout_with_an_expired_access_token_still_ends_the_session,
    logout::sec_44_logout_with_only_the_refresh_cookie_ends_the_session,
    logout::sec_45_logout_refuses_an_old_generation_access_token,
    logout::logout_with_a_bearer_token_needs_no_origin,
    logout::logout_with_a_forged_token_is_401,
    logout::logout_all_revokes_every_session_of_the_caller_only,
    sessions::sessions_lists_the_callers_live_sessions_with_device_and_times,
    sessions::deleting_one_of_my_sessions_works,
    sessions::deleting_another_users_session_is_404_and_changes_nothing,
    sessions::sec_38_cross_site_cookie_requests_are_403_and_change_nothing,
    sessions::sec_38_allowed_origins_and_non_browser_requests_pass,
}

/// Runs every check against `kind` over `backend`; panics at the end,
/// naming each check that failed. Prints `skipped: ...` and returns when
/// the backend's service is missing and not required.
///
/// # Panics
/// When a check fails, or a required service is missing.
pub async fn run_http_suite(kind: &AppKind, backend: Backend) {
    let mut failures = Vec::new();
    for check in CHECKS {
        let clock = Arc::new(ManualClock::starting_now());
        let started = start(kind, backend, clock.clone() as _, check.customize).await;
        let running = match started {
            Ok(Some(running)) => running,
            Ok(None) => return,
            Err(e) => panic!(
                "{}/{backend:?}: the application did not start: {e}",
                kind.name
            ),
        };
        let ctx = Arc::new(Ctx::new(running, clock));
        let outcome = tokio::spawn((check.run)(Arc::clone(&ctx))).await;
        let label = format!("{}/{backend:?}/{}", kind.name, check.name);
        match outcome {
            Ok(()) => println!("{label}: ok"),
            Err(e) => {
                println!("{label}: FAILED");
                failures.push(format!("{label}: {}", panic_message(e)));
            }
        }
        if let Ok(ctx) = Arc::try_unwrap(ctx) {
            ctx.run.finish().await;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}",
        failures.len(),
        CHECKS.len(),
        failures.join("\n")
    );
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".to_owned()),
        Err(e) => e.to_string(),
    }
}

/// What a check works with: the running application, a client, the clock.
#[derive(Debug)]
pub struct Ctx {
    /// The application.
    pub run: Running,
    /// A client of it.
    pub client: Client,
    /// The clock the application reads.
    pub clock: Arc<ManualClock>,
    /// Its own origin, `http://127.0.0.1:PORT`.
    pub origin: String,
}

impl Ctx {
    fn new(run: Running, clock: Arc<ManualClock>) -> Self {
        Self {
            client: Client::new(&run.base),
            origin: run.base.clone(),
            run,
            clock,
        }
    }

    /// The application's settings.
    pub fn settings(&self) -> &Settings {
        self.run.app.settings()
    }

    /// A cookie-mode login, as the page makes it.
    pub async fn login(&self, user: &str, password: &str) -> Answer {
        self.login_with_cookie(user, password, None).await
    }

    /// A cookie-mode login sending `cookie`, as a browser that still holds
    /// a session does.
    pub async fn login_with_cookie(
        &self,
        user: &str,
        password: &str,
        cookie: Option<&str>,
    ) -> Answer {
        self.client
            .post("/auth/login")
            .header("origin", &self.origin)
            .header("sec-fetch-site", "same-origin")
            .header("user-agent", USER_AGENT)
            .maybe_header("cookie", cookie)
            .json(&json!({ "username": user, "password": password }))
            .send()
            .await
    }

    /// Logs in with cookies and returns the jar.
    pub async fn session(&self, user: &str) -> Jar {
        let password = match user {
            "alice" => "wonderland",
            "bob" => "builder",
            _ => "?",
        };
        let answer = self.login(user, password).await;
        answer.assert_ok();
        Jar::from(&answer)
    }

    /// Logs in in header mode.
    pub async fn header_login(&self, user: &str, password: &str) -> Answer {
        self.client
            .post("/auth/login")
            .header("x-auth-mode", "header")
            .json(&json!({ "username": user, "password": password }))
            .send()
            .await
    }

    /// `GET /api/me` with the access cookie.
    pub async fn me(&self, jar: &Jar) -> Answer {
        self.client
            .get("/api/me")
            .header("cookie", jar.access_header())
            .send()
            .await
    }

    /// The session handle `/api/me` reports for a jar.
    pub async fn handle_of(&self, jar: &Jar) -> String {
        let me = self.me(jar).await;
        me.assert_ok();
        me.json["session_handle"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A cookie request with the given `Origin` and `Sec-Fetch-Site`.
    pub async fn cookie_request(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
        origin: Option<&str>,
        sec_fetch_site: Option<&str>,
    ) -> Answer {
        self.client
            .request(method, path)
            .header("cookie", cookie)
            .maybe_header("origin", origin)
            .maybe_header("sec-fetch-site", sec_fetch_site)
            .send()
            .await
    }

    /// A same-origin `POST` to a session route with both cookies, as the
    /// page makes it.
    pub async fn post(&self, path: &str, jar: &Jar) -> Answer {
        self.cookie_request(
            reqwest::Method::POST,
            path,
            &jar.both_header(),
            Some(&self.origin),
            Some("same-origin"),
        )
        .await
    }

    /// `POST /auth/refresh` as the page makes it.
    pub async fn refresh(&self, jar: &Jar) -> Answer {
        self.post("/auth/refresh", jar).await
    }

    /// `GET /auth/sessions` with both cookies.
    pub async fn sessions(&self, jar: &Jar) -> Answer {
        self.client
            .get("/auth/sessions")
            .header("cookie", jar.both_header())
            .send()
            .await
    }

    /// Moves the clock past the access token's lifetime and the leeway.
    pub fn expire_access_token(&self) {
        let s = self.settings();
        self.clock
            .advance(s.access_ttl + s.leeway + Duration::seconds(1));
    }

    /// Moves the clock past the grace window.
    pub fn pass_grace(&self) {
        self.clock
            .advance(self.settings().grace + Duration::seconds(1));
    }

    /// The application's time, in Unix seconds.
    pub fn clock_now(&self) -> i64 {
        sessionkit::clock::Clock::now(&*self.clock).unix_timestamp()
    }

    /// How many live sessions the store holds for `user`.
    pub async fn live(&self, user: &str) -> usize {
        self.run.live_sessions(user).await.len()
    }
}
