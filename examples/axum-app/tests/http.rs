//! HTTP-level tests of the axum application: every route, the cookie
//! attributes, header mode, CSRF refusals, expiry with an injected clock,
//! theft through the refresh endpoint, and the core flows again over the
//! PostgreSQL and Redis stores.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests report failures by panicking"
)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum_app::{AppState, Config, Store, app};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sessionkit::clock::ManualClock;
use sessionkit::{Algorithm, MemoryStore};
use time::Duration;
use tower::ServiceExt as _;

const ORIGIN: &str = "http://127.0.0.1:3000";
const ACCESS: &str = "__Host-sk-access";
const REFRESH: &str = "__Secure-sk-refresh";

/// The application over a store, with a manual clock.
struct Harness {
    router: Router,
    state: AppState,
    clock: Arc<ManualClock>,
    config: Config,
}

fn config() -> Config {
    Config::new(([127, 0, 0, 1], 3000).into())
}

impl Harness {
    fn new(store: Store, config: Config) -> Self {
        let clock = Arc::new(ManualClock::starting_now());
        let state = AppState::new(&config, store, clock.clone()).expect("state");
        Self {
            router: app(state.clone()),
            state,
            clock,
            config,
        }
    }

    fn memory() -> Self {
        Self::new(Arc::new(MemoryStore::new()), config())
    }

    fn memory_with(change: impl FnOnce(&mut Config)) -> Self {
        let mut config = config();
        change(&mut config);
        Self::new(Arc::new(MemoryStore::new()), config)
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    /// Logs in with cookies; the answer carries both.
    async fn login(&self, user: &str, password: &str) -> Answer {
        self.send(
            req(Method::POST, "/auth/login")
                .header(header::ORIGIN, ORIGIN)
                .header("sec-fetch-site", "same-origin")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({ "username": user, "password": password }).to_string(),
                ))
                .unwrap(),
        )
        .await
    }

    /// Logs in and returns the cookie jar.
    async fn session(&self, user: &str) -> Jar {
        let password = match user {
            "alice" => "wonderland",
            "bob" => "builder",
            _ => "?",
        };
        let answer = self.login(user, password).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        Jar::from(&answer)
    }

    /// Logs in in header mode and returns the body's tokens.
    async fn header_login(&self, user: &str, password: &str) -> Answer {
        self.send(
            req(Method::POST, "/auth/login")
                .header("x-auth-mode", "header")
                .body(Body::from(
                    json!({ "username": user, "password": password }).to_string(),
                ))
                .unwrap(),
        )
        .await
    }

    async fn me(&self, jar: &Jar) -> Answer {
        self.send(
            req(Method::GET, "/api/me")
                .header(header::COOKIE, jar.access_header())
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// A same-origin cookie request, as the page makes it.
    async fn post(&self, path: &str, jar: &Jar) -> Answer {
        self.cookie_request(Method::POST, path, &jar.access_header(), Some(ORIGIN), None)
            .await
    }

    async fn cookie_request(
        &self,
        method: Method,
        path: &str,
        cookie: &str,
        origin: Option<&str>,
        sec_fetch_site: Option<&str>,
    ) -> Answer {
        let mut builder = req(method, path).header(header::COOKIE, cookie);
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        if let Some(site) = sec_fetch_site {
            builder = builder.header("sec-fetch-site", site);
        }
        self.send(builder.body(Body::empty()).unwrap()).await
    }

    async fn refresh(&self, jar: &Jar) -> Answer {
        self.cookie_request(
            Method::POST,
            "/auth/refresh",
            &jar.refresh_header(),
            Some(ORIGIN),
            Some("same-origin"),
        )
        .await
    }

    async fn sessions(&self, jar: &Jar) -> Answer {
        self.cookie_request(
            Method::GET,
            "/auth/sessions",
            &jar.access_header(),
            None,
            None,
        )
        .await
    }

    fn expire_access_token(&self) {
        let past = self.config.access_ttl + self.config.leeway + Duration::seconds(1);
        self.clock.advance(past);
    }

    async fn live_sessions(&self, user: &str) -> usize {
        self.state
            .manager()
            .sessions_for_user(user)
            .await
            .unwrap()
            .len()
    }
}

fn req(method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    json: Value,
}

impl Answer {
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    #[track_caller]
    fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!((self.status, self.error()), (status, code), "{}", self.text);
    }

    #[track_caller]
    fn assert_clears_both_cookies(&self) {
        for name in [ACCESS, REFRESH] {
            let c = self
                .set_cookie(name)
                .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {:?}", self.set_cookies()));
            assert!(c.starts_with(&format!("{name}=;")), "{c}");
            assert!(c.contains("Max-Age=0"), "{c}");
        }
    }

    #[track_caller]
    fn assert_no_store(&self) {
        assert_eq!(self.headers[header::CACHE_CONTROL], "no-store");
    }
}

/// The values of the session cookies, as a browser would keep them.
#[derive(Clone, Debug)]
struct Jar {
    access: String,
    refresh: String,
}

impl Jar {
    fn from(answer: &Answer) -> Self {
        let value = |name: &str| {
            let c = answer.set_cookie(name).expect("cookie set");
            c.split(';').next().unwrap()[name.len() + 1..].to_owned()
        };
        Self {
            access: value(ACCESS),
            refresh: value(REFRESH),
        }
    }

    fn access_header(&self) -> String {
        format!("{ACCESS}={}", self.access)
    }

    fn refresh_header(&self) -> String {
        format!("{REFRESH}={}", self.refresh)
    }
}

fn attributes(set_cookie: &str) -> Vec<String> {
    let mut attrs: Vec<String> = set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect();
    attrs.sort();
    attrs
}

// ---- the page and the plumbing -------------------------------------------

#[tokio::test]
async fn page_is_served_with_its_stable_ids() {
    let h = Harness::memory();
    let answer = h
        .send(req(Method::GET, "/").body(Body::empty()).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    for id in [
        "login-form",
        "username",
        "password",
        "message",
        "whoami",
        "sessions",
        "logout",
        "logout-all",
    ] {
        assert!(answer.text.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(
        answer
            .text
            .contains("navigator.locks.request(\"sk-refresh\"")
    );
    assert!(!answer.text.contains("src=\"http"), "no external assets");
}

#[tokio::test]
async fn unknown_routes_answer_json_not_found() {
    let h = Harness::memory();
    let answer = h
        .send(req(Method::GET, "/nope").body(Body::empty()).unwrap())
        .await;
    answer.assert_error(StatusCode::NOT_FOUND, "not_found");
    let answer = h
        .send(
            req(Method::GET, "/auth/refresh")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    answer.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

// ---- login ----------------------------------------------------------------

#[tokio::test]
async fn sec_35_sec_36_login_sets_both_cookies_with_secure_attributes() {
    let h = Harness::memory();
    let answer = h.login("alice", "wonderland").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.assert_no_store();
    assert_eq!(answer.json["user_id"], "alice");
    let handle = answer.json["session_handle"].as_str().unwrap();
    assert_eq!(handle.len(), 24);
    assert!(answer.json.get("access_token").is_none());
    assert!(answer.json.get("refresh_token").is_none());

    let week = 7 * 24 * 3600;
    let access = answer.set_cookie(ACCESS).unwrap();
    assert_eq!(
        attributes(&access),
        [
            "HttpOnly".to_owned(),
            format!("Max-Age={week}"),
            "Path=/".to_owned(),
            "SameSite=Strict".to_owned(),
            "Secure".to_owned(),
        ]
    );
    let refresh = answer.set_cookie(REFRESH).unwrap();
    assert_eq!(
        attributes(&refresh),
        [
            "HttpOnly".to_owned(),
            format!("Max-Age={week}"),
            "Path=/auth".to_owned(),
            "SameSite=Strict".to_owned(),
            "Secure".to_owned(),
        ]
    );
    for c in answer.set_cookies() {
        assert!(!c.to_ascii_lowercase().contains("domain"), "{c}");
    }
}

#[tokio::test]
async fn login_with_bad_credentials_is_401_invalid_credentials() {
    let h = Harness::memory();
    for (user, password) in [
        ("alice", "builder"),
        ("alice", ""),
        ("mallory", "wonderland"),
        ("", ""),
    ] {
        let answer = h.login(user, password).await;
        answer.assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
        assert!(answer.set_cookies().is_empty());
    }
    assert_eq!(h.live_sessions("alice").await, 0);
    let garbage = h
        .send(
            req(Method::POST, "/auth/login")
                .header("x-auth-mode", "header")
                .body(Body::from("{not json"))
                .unwrap(),
        )
        .await;
    garbage.assert_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn header_mode_login_returns_tokens_and_no_cookies() {
    let h = Harness::memory();
    let answer = h.header_login("bob", "builder").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.assert_no_store();
    assert!(answer.set_cookies().is_empty());
    assert_eq!(answer.json["user_id"], "bob");
    let access = answer.json["access_token"].as_str().unwrap();
    let refresh = answer.json["refresh_token"].as_str().unwrap();

    let me = h
        .send(
            req(Method::GET, "/api/me")
                .header(header::AUTHORIZATION, format!("Bearer {access}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json["user_id"], "bob");
    assert_eq!(me.json["session_handle"], answer.json["session_handle"]);

    let refreshed = h
        .send(
            req(Method::POST, "/auth/refresh")
                .header("x-auth-mode", "header")
                .body(Body::from(json!({ "refresh_token": refresh }).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    refreshed.assert_no_store();
    assert!(refreshed.set_cookies().is_empty());
    assert_ne!(refreshed.json["refresh_token"], refresh);
    assert_ne!(refreshed.json["access_token"], Value::Null);
}

// ---- /api/me --------------------------------------------------------------

#[tokio::test]
async fn me_accepts_the_access_cookie_or_a_bearer_token() {
    let h = Harness::memory();
    let jar = h.session("alice").await;
    let by_cookie = h.me(&jar).await;
    assert_eq!(by_cookie.status, StatusCode::OK);
    assert_eq!(by_cookie.json["user_id"], "alice");
    let by_bearer = h
        .send(
            req(Method::GET, "/api/me")
                .header(header::AUTHORIZATION, format!("bearer {}", jar.access))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(by_bearer.status, StatusCode::OK);
    assert_eq!(by_bearer.json, by_cookie.json);
}

#[tokio::test]
async fn me_without_a_valid_token_is_401_unauthorized() {
    let h = Harness::memory();
    let jar = h.session("alice").await;
    let cases: Vec<(&str, String)> = vec![
        ("none", String::new()),
        ("garbage cookie", format!("{ACCESS}=garbage")),
        (
            "refresh token as access",
            format!("{ACCESS}={}", jar.refresh),
        ),
        (
            "lowercase name (SEC-37)",
            format!("__host-sk-access={}", jar.access),
        ),
        (
            "duplicate cookie (SEC-37)",
            format!("{ACCESS}={0}; {ACCESS}={0}", jar.access),
        ),
    ];
    for (what, cookie) in cases {
        let mut builder = req(Method::GET, "/api/me");
        if !cookie.is_empty() {
            builder = builder.header(header::COOKIE, cookie);
        }
        let answer = h.send(builder.body(Body::empty()).unwrap()).await;
        assert_eq!(
            (answer.status, answer.error()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{what}"
        );
    }
    for auth in [
        "Bearer",
        "Bearer  x",
        "Basic YWxpY2U6d29uZGVybGFuZA==",
        "Bearer a.b.c",
    ] {
        let answer = h
            .send(
                req(Method::GET, "/api/me")
                    .header(header::AUTHORIZATION, auth)
                    // A bad Authorization header is not rescued by the cookie.
                    .header(header::COOKIE, jar.access_header())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

#[tokio::test]
async fn sec_06_token_in_the_url_is_ignored() {
    let h = Harness::memory();
    let login = h.header_login("alice", "wonderland").await;
    let token = login.json["access_token"].as_str().unwrap();
    for uri in [
        format!("/api/me?access_token={token}"),
        format!("/api/me?{ACCESS}={token}"),
    ] {
        let answer = h
            .send(req(Method::GET, &uri).body(Body::empty()).unwrap())
            .await;
        answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

#[tokio::test]
async fn expired_access_token_is_try_refresh_token_then_refresh_works() {
    let h = Harness::memory();
    let jar = h.session("alice").await;
    h.expire_access_token();
    h.me(&jar)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "try_refresh_token");

    let refreshed = h.refresh(&jar).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    refreshed.assert_no_store();
    assert_eq!(refreshed.json["user_id"], "alice");
    let new = Jar::from(&refreshed);
    assert_ne!(new.refresh, jar.refresh);
    assert_ne!(new.access, jar.access);
    assert!(
        refreshed
            .set_cookie(REFRESH)
            .unwrap()
            .contains("Path=/auth;")
    );
    assert_eq!(h.me(&new).await.status, StatusCode::OK);
}

// ---- /auth/refresh --------------------------------------------------------

#[tokio::test]
async fn refresh_without_a_valid_token_is_401_and_clears_both_cookies() {
    let h = Harness::memory();
    let jar = h.session("alice").await;
    for cookie in [
        String::new(),
        format!("{REFRESH}=skr_garbage"),
        format!("{REFRESH}={0}; {REFRESH}={0}", jar.refresh),
        // The access token is no refresh token.
        format!("{REFRESH}={}", jar.access),
    ] {
        let answer = h
            .cookie_request(Method::POST, "/auth/refresh", &cookie, Some(ORIGIN), None)
            .await;
        answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        answer.assert_clears_both_cookies();
    }
    let header_mode = h
        .send(
            req(Method::POST, "/auth/refresh")
                .header("x-auth-mode", "header")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    header_mode.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // The session itself was not touched.
    assert_eq!(h.refresh(&jar).await.status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_of_a_revoked_or_expired_session_is_401_unauthorized() {
    let h = Harness::memory();
    let jar = h.session("alice").await;
    assert_eq!(h.post("/auth/logout", &jar).await.status, StatusCode::OK);
    let answer = h.refresh(&jar).await;
    answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    answer.assert_clears_both_cookies();

    let jar = h.session("bob").await;
    h.clock.advance(Duration::days(8));
    let answer = h.refresh(&jar).await;
    answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    answer.assert_clears_both_cookies();
}

#[tokio::test]
async fn theft_through_the_refresh_endpoint_revokes_the_session() {
    let h = Harness::memory();
    let jar = h.session("alice").await;
    let copy = jar.clone();
    let rotated = Jar::from(&h.refresh(&jar).await);
    // Past the grace window, the old refresh token comes back: a copy.
    h.clock.advance(h.config.grace + Duration::seconds(1));
    let answer = h.refresh(&copy).await;
    answer.assert_error(StatusCode::UNAUTHORIZED, "token_theft_detected");
    answer.assert_clears_both_cookies();
    // The owner's newest refresh token died with the session.
    h.refresh(&rotated)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(h.live_sessions("alice").await, 0);
    // Strict verification sees the revocation at once.
    h.sessions(&rotated)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn concurrent_refresh_inside_the_grace_window_is_not_theft() {
    let h = Harness::memory();
    let jar = h.session("alice").await;
    let first = h.refresh(&jar).await;
    let second = h.refresh(&jar).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(h.live_sessions("alice").await, 1);
}

// ---- logout ---------------------------------------------------------------

#[tokio::test]
async fn sec_12_logout_revokes_and_clears_cookies() {
    let h = Harness::memory();
    let jar = h.session("alice").await;
    let answer = h.post("/auth/logout", &jar).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.assert_clears_both_cookies();
    assert_eq!(answer.headers["clear-site-data"], "\"cookies\"");
    answer.assert_no_store();
    assert_eq!(h.live_sessions("alice").await, 0);
    h.refresh(&jar)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    h.sessions(&jar)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // `/api/me` verifies statelessly: the access token keeps working until
    // it expires (the documented trade-off).
    assert_eq!(h.me(&jar).await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_with_an_expired_access_token_still_ends_the_session() {
    let h = Harness::memory();
    let jar = h.session("alice").await;
    h.expire_access_token();
    let answer = h.post("/auth/logout", &jar).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.assert_clears_both_cookies();
    assert_eq!(h.live_sessions("alice").await, 0);
}

#[tokio::test]
async fn logout_with_a_bearer_token_needs_no_origin() {
    let h = Harness::memory();
    let login = h.header_login("alice", "wonderland").await;
    let access = login.json["access_token"].as_str().unwrap();
    let answer = h
        .send(
            req(Method::POST, "/auth/logout")
                .header(header::AUTHORIZATION, format!("Bearer {access}"))
                .header(header::ORIGIN, "https://other.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(h.live_sessions("alice").await, 0);
}

#[tokio::test]
async fn logout_with_a_forged_token_is_401() {
    let h = Harness::memory();
    let answer = h
        .cookie_request(
            Method::POST,
            "/auth/logout",
            &format!("{ACCESS}=a.b.c"),
            Some(ORIGIN),
            None,
        )
        .await;
    answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    answer.assert_clears_both_cookies();
}

#[tokio::test]
async fn logout_all_revokes_every_session_of_the_caller_only() {
    let h = Harness::memory();
    let first = h.session("alice").await;
    let _second = h.session("alice").await;
    let bob = h.session("bob").await;
    let answer = h.post("/auth/logout-all", &first).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json, json!({ "revoked": 2 }));
    answer.assert_clears_both_cookies();
    assert_eq!(answer.headers["clear-site-data"], "\"cookies\"");
    assert_eq!(h.live_sessions("alice").await, 0);
    assert_eq!(h.live_sessions("bob").await, 1);
    assert_eq!(h.refresh(&bob).await.status, StatusCode::OK);
}

// ---- /auth/sessions -------------------------------------------------------

#[tokio::test]
async fn sessions_lists_the_callers_live_sessions() {
    let h = Harness::memory();
    let first = h.session("alice").await;
    let second = h.session("alice").await;
    let third = h.session("alice").await;
    let _bob = h.session("bob").await;
    assert_eq!(h.post("/auth/logout", &third).await.status, StatusCode::OK);

    let answer = h.sessions(&second).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.assert_no_store();
    let list = answer.json.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let mine = h.me(&second).await.json["session_handle"].clone();
    let theirs = h.me(&first).await.json["session_handle"].clone();
    for entry in list {
        assert!(entry["created_at"].is_i64());
        let current = entry["session_handle"] == mine;
        assert_eq!(entry["current"], current);
        assert!(current || entry["session_handle"] == theirs);
    }
}

#[tokio::test]
async fn deleting_one_of_my_sessions_works() {
    let h = Harness::memory();
    let laptop = h.session("alice").await;
    let phone = h.session("alice").await;
    let phone_handle = h.me(&phone).await.json["session_handle"].clone();
    let answer = h
        .cookie_request(
            Method::DELETE,
            &format!("/auth/sessions/{}", phone_handle.as_str().unwrap()),
            &laptop.access_header(),
            Some(ORIGIN),
            Some("same-origin"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(h.live_sessions("alice").await, 1);
    h.refresh(&phone)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(h.refresh(&laptop).await.status, StatusCode::OK);
}

#[tokio::test]
async fn deleting_another_users_session_is_404_and_changes_nothing() {
    let h = Harness::memory();
    let alice = h.session("alice").await;
    let bob = h.session("bob").await;
    let bob_handle = h.me(&bob).await.json["session_handle"].clone();
    for handle in [
        bob_handle.as_str().unwrap(),
        "AAAAAAAAAAAAAAAAAAAAAA",
        "nope",
    ] {
        let answer = h
            .cookie_request(
                Method::DELETE,
                &format!("/auth/sessions/{handle}"),
                &alice.access_header(),
                Some(ORIGIN),
                None,
            )
            .await;
        answer.assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(h.live_sessions("bob").await, 1);
    assert_eq!(h.refresh(&bob).await.status, StatusCode::OK);
}

// ---- CSRF -----------------------------------------------------------------

#[tokio::test]
async fn sec_38_cross_site_cookie_requests_are_403_and_change_nothing() {
    let h = Harness::memory();
    let jar = h.session("alice").await;
    let other = h.session("alice").await;
    let other_handle = h.me(&other).await.json["session_handle"].clone();
    let foreign = [
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (Some("http://localhost:3001"), None),
        (None, Some("cross-site")),
        (Some(ORIGIN), Some("cross-site")),
    ];
    for (origin, site) in foreign {
        let requests = [
            (Method::POST, "/auth/logout".to_owned(), jar.access_header()),
            (
                Method::POST,
                "/auth/logout-all".to_owned(),
                jar.access_header(),
            ),
            (
                Method::POST,
                "/auth/refresh".to_owned(),
                jar.refresh_header(),
            ),
            (
                Method::DELETE,
                format!("/auth/sessions/{}", other_handle.as_str().unwrap()),
                jar.access_header(),
            ),
        ];
        for (method, path, cookie) in requests {
            let answer = h
                .cookie_request(method.clone(), &path, &cookie, origin, site)
                .await;
            assert_eq!(
                (answer.status, answer.error()),
                (StatusCode::FORBIDDEN, "csrf"),
                "{method} {path} {origin:?} {site:?}"
            );
            assert!(answer.set_cookies().is_empty());
        }
    }
    // Login CSRF: no session is created for a forged login.
    let forged = h
        .send(
            req(Method::POST, "/auth/login")
                .header(header::ORIGIN, "https://evil.example")
                .body(Body::from(
                    json!({ "username": "bob", "password": "builder" }).to_string(),
                ))
                .unwrap(),
        )
        .await;
    forged.assert_error(StatusCode::FORBIDDEN, "csrf");
    assert_eq!(h.live_sessions("bob").await, 0);

    // Nothing changed: both sessions live, and the refresh token unused.
    assert_eq!(h.live_sessions("alice").await, 2);
    assert_eq!(h.refresh(&jar).await.status, StatusCode::OK);
}

#[tokio::test]
async fn sec_38_allowed_origins_and_non_browser_requests_pass() {
    let h = Harness::memory();
    for origin in [Some(ORIGIN), Some("http://localhost:3000"), None] {
        let jar = h.session("alice").await;
        let answer = h
            .cookie_request(
                Method::POST,
                "/auth/logout",
                &jar.access_header(),
                origin,
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{origin:?}: {}", answer.text);
    }
}

// ---- JWKS -----------------------------------------------------------------

#[tokio::test]
async fn jwks_is_published_for_eddsa_only() {
    let hs = Harness::memory();
    hs.send(
        req(Method::GET, "/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");

    let ed = Harness::memory_with(|c| c.algorithm = Algorithm::EdDsa);
    let answer = ed
        .send(
            req(Method::GET, "/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/jwk-set+json"
    );
    let keys = answer.json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "OKP");
    assert!(keys[0].get("d").is_none(), "no private key material");
    // And the tokens verify end to end.
    let jar = ed.session("bob").await;
    assert_eq!(ed.me(&jar).await.json["user_id"], "bob");
}

// ---- configuration ----------------------------------------------------------

#[test]
fn default_config_allows_the_listen_address_and_localhost() {
    let c = config();
    assert_eq!(
        c.origins,
        ["http://127.0.0.1:3000", "http://localhost:3000"]
    );
    assert_eq!(c.access_ttl, Duration::seconds(600));
    assert_eq!(c.grace, Duration::seconds(10));
    assert_eq!(c.leeway, Duration::seconds(30));
    assert_eq!(c.algorithm, Algorithm::Hs256);
}

// ---- the same flows over PostgreSQL and Redis --------------------------------

fn require_services() -> bool {
    std::env::var("SESSIONKIT_REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// Login, me, expiry, refresh, theft, sessions, cross-user delete, logout
/// and logout-all, against whatever store the harness has.
async fn core_flows(h: &Harness) {
    let alice = h.session("alice").await;
    assert_eq!(h.me(&alice).await.json["user_id"], "alice");
    h.expire_access_token();
    h.me(&alice)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "try_refresh_token");
    let alice2 = Jar::from(&h.refresh(&alice).await);
    assert_eq!(h.me(&alice2).await.status, StatusCode::OK);

    // Theft.
    h.clock.advance(h.config.grace + Duration::seconds(1));
    h.refresh(&alice)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "token_theft_detected");
    h.refresh(&alice2)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Sessions and cross-user delete.
    let alice = h.session("alice").await;
    let bob = h.session("bob").await;
    let bob_handle = h.me(&bob).await.json["session_handle"].clone();
    let list = h.sessions(&alice).await;
    assert_eq!(list.json.as_array().unwrap().len(), 1, "{}", list.text);
    h.cookie_request(
        Method::DELETE,
        &format!("/auth/sessions/{}", bob_handle.as_str().unwrap()),
        &alice.access_header(),
        Some(ORIGIN),
        None,
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(h.refresh(&bob).await.status, StatusCode::OK);

    // CSRF changes nothing.
    h.cookie_request(
        Method::POST,
        "/auth/logout-all",
        &alice.access_header(),
        Some("https://evil.example"),
        None,
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "csrf");
    assert_eq!(h.live_sessions("alice").await, 1);

    // Logout, with an expired token, and logout everywhere.
    let _alice_phone = h.session("alice").await;
    h.expire_access_token();
    let answer = h.post("/auth/logout", &alice).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(h.live_sessions("alice").await, 1);
    let bob_again = h.session("bob").await;
    let answer = h.post("/auth/logout-all", &bob_again).await;
    assert_eq!(answer.json, json!({ "revoked": 2 }), "{}", answer.text);
    assert_eq!(h.live_sessions("bob").await, 0);
    assert_eq!(h.live_sessions("alice").await, 1);
    h.state
        .manager()
        .revoke_all_for_user("alice", None)
        .await
        .unwrap();
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

#[tokio::test]
async fn core_flows_over_memory() {
    core_flows(&Harness::memory()).await;
}

#[tokio::test]
async fn core_flows_over_postgres() {
    let url = std::env::var("DATABASE_URL").unwrap_or(config().database_url);
    let schema = unique("sk_axum_app");
    let connected = async {
        let store = sessionkit_postgres::PostgresStore::builder()
            .schema(&schema)?
            .connect(&url)
            .await?;
        store.migrate().await?;
        Ok::<_, Box<dyn std::error::Error>>(store)
    }
    .await;
    let store = match connected {
        Ok(store) => store,
        Err(e) if require_services() => {
            panic!("no PostgreSQL at {url} and SESSIONKIT_REQUIRE_SERVICES=1: {e}")
        }
        Err(_) => {
            println!("skipped: no PostgreSQL at {url}");
            return;
        }
    };
    let pool = store.pool().clone();
    let h = Harness::new(Arc::new(store), config());
    core_flows(&h).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn core_flows_over_redis() {
    let url = std::env::var("REDIS_URL").unwrap_or(config().redis_url);
    let connected = sessionkit_redis::RedisStore::builder()
        .prefix(format!("{}:", unique("sk_axum_app")))
        .connect(&url)
        .await;
    let store = match connected {
        Ok(store) => store,
        Err(e) if require_services() => {
            panic!("no Redis at {url} and SESSIONKIT_REQUIRE_SERVICES=1: {e}")
        }
        Err(_) => {
            println!("skipped: no Redis at {url}");
            return;
        }
    };
    let h = Harness::new(Arc::new(store), config());
    core_flows(&h).await;
}
