//! The integration through actix-web's test server: the extractors, the
//! session routes, the login helper, both transports, the verify-only mode
//! and the configuration checks.

#![cfg(test)]

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::http::{Method, StatusCode};
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use serde_json::{Value, json};
use sessionkit::clock::ManualClock;
use sessionkit::jwks::Jwks;
use sessionkit::web::{CookieConfig, CsrfPolicy};
use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey, Verifier};
use sessionkit_actix_web::{
    LoggedIn, Login, OptionalSession, Paths, Session, SessionRejection, Sessions, StrictSession,
    TokenSource, Transport,
};
use time::Duration;

const ORIGIN: &str = "https://app.example";
const ACCESS: &str = "__Host-sk-access";
const REFRESH: &str = "__Secure-sk-refresh";
const GRACE: i64 = 10;

type Manager = SessionManager<MemoryStore>;
type Call = Box<dyn Fn(TestRequest) -> Pin<Box<dyn Future<Output = Answer>>>>;

struct Harness {
    call: Call,
    manager: Manager,
    clock: Arc<ManualClock>,
}

struct Answer {
    status: StatusCode,
    headers: actix_web::http::header::HeaderMap,
    json: Value,
    text: String,
}

impl Answer {
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    fn cookie_value(&self, name: &str) -> String {
        let c = self.set_cookie(name).expect("cookie set");
        c.split(';').next().unwrap()[name.len() + 1..].to_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    #[track_caller]
    fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(
            (self.status, self.json["error"].as_str().unwrap_or("")),
            (status, code),
            "{}",
            self.text
        );
        assert_eq!(self.header("cache-control"), Some("no-store"));
    }

    #[track_caller]
    fn assert_clears_both_cookies(&self) {
        for name in [ACCESS, REFRESH] {
            let c = self
                .set_cookie(name)
                .unwrap_or_else(|| panic!("{name} not cleared"));
            assert!(c.starts_with(&format!("{name}=;")), "{c}");
            assert!(c.contains("Max-Age=0"), "{c}");
        }
    }
}

/// Both cookies, as a browser keeps them.
#[derive(Clone)]
struct Jar {
    access: String,
    refresh: String,
}

impl Jar {
    fn from(answer: &Answer) -> Self {
        Self {
            access: answer.cookie_value(ACCESS),
            refresh: answer.cookie_value(REFRESH),
        }
    }

    /// What the browser sends to a path under `/auth`: both cookies.
    fn auth(&self) -> String {
        format!("{ACCESS}={}; {REFRESH}={}", self.access, self.refresh)
    }

    fn access(&self) -> String {
        format!("{ACCESS}={}", self.access)
    }

    fn refresh(&self) -> String {
        format!("{REFRESH}={}", self.refresh)
    }
}

fn manager(clock: &Arc<ManualClock>, signing: SigningKey) -> Manager {
    SessionManager::builder(MemoryStore::new())
        .signing_key(signing)
        .refresh_key(RefreshKey::new(1, &[9u8; 32]).unwrap())
        .grace(Duration::seconds(GRACE))
        .clock(Arc::clone(clock))
        .build()
        .unwrap()
}

async fn login(login: Login, body: web::Bytes) -> Result<LoggedIn, SessionRejection> {
    let user = std::str::from_utf8(&body).unwrap_or_default().to_owned();
    if user.is_empty() {
        return Err(SessionRejection::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        ));
    }
    assert!(login.is_header_mode() || login.user_agent().is_none());
    login
        .create(user)
        .claims(json!({ "role": "reader" }))
        .session_data(json!({ "device": "test" }))
        .await
}

async fn me(session: Session) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": session.user_id(),
        "session_handle": session.handle().to_string(),
        "role": session.claims()["role"],
        "bearer": session.source() == TokenSource::Bearer,
    }))
}

async fn maybe(session: OptionalSession) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": session.as_ref().map(|s| s.user_id().to_owned()),
    }))
}

async fn strict(session: StrictSession) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "user_id": session.user_id() }))
}

impl Harness {
    async fn with(
        signing: SigningKey,
        change: impl FnOnce(
            sessionkit_actix_web::SessionsBuilder,
        ) -> sessionkit_actix_web::SessionsBuilder,
    ) -> Self {
        let clock = Arc::new(ManualClock::starting_now());
        let manager = manager(&clock, signing);
        let builder = Sessions::builder(manager.clone())
            .csrf(CsrfPolicy::new([ORIGIN]).unwrap())
            .transport(Transport::Both)
            .clock(Arc::clone(&clock))
            .session_fields(|info| {
                let mut fields = serde_json::Map::new();
                fields.insert("device".to_owned(), info.session_data["device"].clone());
                fields.insert("current".to_owned(), json!("ignored"));
                fields
            });
        let sessions = change(builder).build().unwrap();
        Self::serve(sessions, manager, clock).await
    }

    async fn new() -> Self {
        Self::with(SigningKey::hs256("k1", &[7u8; 32]).unwrap(), |b| b).await
    }

    async fn serve(sessions: Sessions, manager: Manager, clock: Arc<ManualClock>) -> Self {
        let app = test::init_service(
            App::new()
                .configure(sessions.configure())
                .route("/auth/login", web::post().to(login))
                .route("/api/me", web::get().to(me))
                .route("/api/me", web::post().to(me))
                .route("/api/maybe", web::post().to(maybe))
                .route("/api/strict", web::get().to(strict))
                .default_service(web::to(sessionkit_actix_web::not_found)),
        )
        .await;
        let app = Rc::new(app);
        let call: Call = Box::new(move |request: TestRequest| {
            let app = Rc::clone(&app);
            Box::pin(async move {
                let response = test::call_service(&*app, request.to_request()).await;
                let status = response.status();
                let headers = response.headers().clone();
                let bytes = test::read_body(response).await;
                let text = String::from_utf8(bytes.to_vec()).unwrap();
                Answer {
                    status,
                    headers,
                    json: serde_json::from_str(&text).unwrap_or(Value::Null),
                    text,
                }
            })
        });
        Self {
            call,
            manager,
            clock,
        }
    }

    async fn send(&self, request: TestRequest) -> Answer {
        (self.call)(request).await
    }

    async fn login(&self, user: &str) -> Answer {
        self.send(
            TestRequest::post()
                .uri("/auth/login")
                .insert_header(("origin", ORIGIN))
                .set_payload(user.to_owned()),
        )
        .await
    }

    /// A login from a browser that sends `cookie`.
    async fn login_with_cookie(&self, user: &str, cookie: impl Into<String>) -> Answer {
        self.send(
            TestRequest::post()
                .uri("/auth/login")
                .insert_header(("origin", ORIGIN))
                .insert_header(("cookie", cookie.into()))
                .set_payload(user.to_owned()),
        )
        .await
    }

    /// A login with `X-Auth-Mode: header`: the tokens in the body.
    async fn login_in_header_mode(&self, user: &str) -> Answer {
        self.send(
            TestRequest::post()
                .uri("/auth/login")
                .insert_header(("x-auth-mode", "header"))
                .set_payload(user.to_owned()),
        )
        .await
    }

    async fn session(&self, user: &str) -> Jar {
        let answer = self.login(user).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        Jar::from(&answer)
    }

    /// A same-origin cookie request.
    async fn cookie(&self, method: Method, path: &str, cookie: &str) -> Answer {
        self.send(
            TestRequest::default()
                .method(method)
                .uri(path)
                .insert_header(("origin", ORIGIN))
                .insert_header(("cookie", cookie)),
        )
        .await
    }

    async fn me(&self, jar: &Jar) -> Answer {
        self.cookie(Method::GET, "/api/me", &jar.access()).await
    }

    async fn refresh(&self, jar: &Jar) -> Answer {
        self.cookie(Method::POST, "/auth/refresh", &jar.auth())
            .await
    }

    async fn live(&self, user: &str) -> usize {
        self.manager.sessions_for_user(user).await.unwrap().len()
    }

    fn expire_access_token(&self) {
        // Default access lifetime and leeway, and a second.
        self.clock.advance(Duration::seconds(600 + 30 + 1));
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

// ---- login ------------------------------------------------------------------

#[actix_web::test]
async fn sec_35_sec_36_login_sets_both_cookies() {
    let h = Harness::new().await;
    let answer = h.login("alice").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.json["user_id"], "alice");
    assert_eq!(answer.json["session_handle"].as_str().unwrap().len(), 24);
    assert!(answer.json.get("access_token").is_none());
    let week = 7 * 24 * 3600;
    assert_eq!(
        attributes(&answer.set_cookie(ACCESS).unwrap()),
        [
            "HttpOnly".to_owned(),
            format!("Max-Age={week}"),
            "Path=/".to_owned(),
            "SameSite=Strict".to_owned(),
            "Secure".to_owned()
        ]
    );
    assert_eq!(
        attributes(&answer.set_cookie(REFRESH).unwrap()),
        [
            "HttpOnly".to_owned(),
            format!("Max-Age={week}"),
            "Path=/auth".to_owned(),
            "SameSite=Strict".to_owned(),
            "Secure".to_owned()
        ]
    );
    let jar = Jar::from(&answer);
    let me = h.me(&jar).await;
    assert_eq!(me.json["user_id"], "alice");
    assert_eq!(me.json["role"], "reader");
    let info = h.manager.sessions_for_user("alice").await.unwrap();
    assert_eq!(info[0].session_data, json!({ "device": "test" }));
}

#[actix_web::test]
async fn login_in_header_mode_answers_with_tokens_and_no_cookie() {
    let h = Harness::new().await;
    let answer = h
        .send(
            TestRequest::post()
                .uri("/auth/login")
                .insert_header(("x-auth-mode", "header"))
                .insert_header(("origin", "https://elsewhere.example"))
                .set_payload("alice"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert!(answer.set_cookies().is_empty());
    let access = answer.json["access_token"].as_str().unwrap();
    assert!(
        answer.json["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("skr_")
    );
    let me = h
        .send(
            TestRequest::get()
                .uri("/api/me")
                .insert_header(("authorization", format!("Bearer {access}"))),
        )
        .await;
    assert_eq!(me.json["user_id"], "alice");
    assert_eq!(me.json["bearer"], true);
}

#[actix_web::test]
async fn sec_38_forged_login_is_403_and_creates_nothing() {
    let h = Harness::new().await;
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (None, Some("cross-site")),
    ] {
        let mut request = TestRequest::post().uri("/auth/login").set_payload("bob");
        if let Some(origin) = origin {
            request = request.insert_header(("origin", origin));
        }
        if let Some(site) = site {
            request = request.insert_header(("sec-fetch-site", site));
        }
        let answer = h.send(request).await;
        answer.assert_error(StatusCode::FORBIDDEN, "csrf");
        assert!(answer.set_cookies().is_empty());
    }
    assert_eq!(h.live("bob").await, 0);
}

#[actix_web::test]
async fn sec_08_login_revokes_the_session_the_browser_still_holds() {
    let h = Harness::new().await;
    let old = h.session("alice").await;
    // Logging in again (as anyone) from the same browser.
    let answer = h.login_with_cookie("bob", old.auth()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(h.live("alice").await, 0);
    assert_eq!(h.live("bob").await, 1);
    // With the access cookie alone, too.
    let old = h.session("alice").await;
    let answer = h.login_with_cookie("alice", old.access()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(h.live("alice").await, 1);
    // A forged cookie revokes nothing, and does not stop the login.
    let answer = h
        .login_with_cookie("alice", format!("{REFRESH}=skr_forged; {ACCESS}=a.b.c"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(h.live("alice").await, 2);
}

// ---- the extractors -----------------------------------------------------------

#[actix_web::test]
async fn session_extractor_refusals() {
    let h = Harness::new().await;
    let jar = h.session("alice").await;
    for cookie in [
        String::new(),
        format!("{ACCESS}=garbage"),
        format!("{ACCESS}={}", jar.refresh),
        format!("__host-sk-access={}", jar.access),
        format!("{ACCESS}={0}; {ACCESS}={0}", jar.access),
    ] {
        let mut request = TestRequest::get().uri("/api/me");
        if !cookie.is_empty() {
            request = request.insert_header(("cookie", cookie.clone()));
        }
        h.send(request)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // A bad Authorization header is not rescued by the cookie.
    let answer = h
        .send(
            TestRequest::get()
                .uri("/api/me")
                .insert_header(("authorization", "Bearer a.b.c"))
                .insert_header(("cookie", jar.access())),
        )
        .await;
    answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // SEC-06: never from the URL.
    h.send(TestRequest::get().uri(&format!("/api/me?access_token={}", jar.access)))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    h.expire_access_token();
    h.me(&jar)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "try_refresh_token");
}

#[actix_web::test]
async fn sec_38_cookie_authenticated_post_passes_the_csrf_policy_first() {
    let h = Harness::new().await;
    let jar = h.session("alice").await;
    let post = |origin: Option<&'static str>, site: Option<&'static str>, cookie: String| {
        let mut request = TestRequest::post()
            .uri("/api/me")
            .insert_header(("cookie", cookie));
        if let Some(origin) = origin {
            request = request.insert_header(("origin", origin));
        }
        if let Some(site) = site {
            request = request.insert_header(("sec-fetch-site", site));
        }
        request
    };
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
        (Some(ORIGIN), Some("cross-site")),
    ] {
        h.send(post(origin, site, jar.access()))
            .await
            .assert_error(StatusCode::FORBIDDEN, "csrf");
        // Refused as cross-site before the cookie is even looked at.
        h.send(post(origin, site, String::new()))
            .await
            .assert_error(StatusCode::FORBIDDEN, "csrf");
    }
    for (origin, site) in [(Some(ORIGIN), Some("same-origin")), (None, None)] {
        let answer = h.send(post(origin, site, jar.access())).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    // A bearer token needs no origin: no browser attaches it on its own.
    let bearer = h
        .send(
            TestRequest::post()
                .uri("/api/me")
                .insert_header(("origin", "https://evil.example"))
                .insert_header(("authorization", format!("Bearer {}", jar.access))),
        )
        .await;
    assert_eq!(bearer.status, StatusCode::OK);
}

#[actix_web::test]
async fn optional_session_is_none_without_a_token_and_rejects_a_bad_one() {
    let h = Harness::new().await;
    let jar = h.session("alice").await;
    let maybe = |cookie: Option<String>, origin: &'static str| {
        let mut request = TestRequest::post()
            .uri("/api/maybe")
            .insert_header(("origin", origin));
        if let Some(cookie) = cookie {
            request = request.insert_header(("cookie", cookie));
        }
        request
    };
    let anonymous = h.send(maybe(None, ORIGIN)).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert_eq!(anonymous.json["user_id"], Value::Null);
    // A cross-site state-changing request is refused, token or not, as by
    // every extractor of this crate.
    h.send(maybe(None, "https://evil.example"))
        .await
        .assert_error(StatusCode::FORBIDDEN, "csrf");
    let known = h.send(maybe(Some(jar.access()), ORIGIN)).await;
    assert_eq!(known.json["user_id"], "alice");
    h.send(maybe(Some(jar.access()), "https://evil.example"))
        .await
        .assert_error(StatusCode::FORBIDDEN, "csrf");
    h.send(maybe(Some(format!("{ACCESS}=x.y.z")), ORIGIN))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[actix_web::test]
async fn sec_15_strict_session_sees_revocation_at_once() {
    let h = Harness::new().await;
    let jar = h.session("alice").await;
    let strict = |jar: &Jar| {
        TestRequest::get()
            .uri("/api/strict")
            .insert_header(("cookie", jar.access()))
    };
    assert_eq!(h.send(strict(&jar)).await.json["user_id"], "alice");
    h.manager.revoke_all_for_user("alice", None).await.unwrap();
    h.send(strict(&jar))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // The stateless extractor keeps accepting it until it expires.
    assert_eq!(h.me(&jar).await.status, StatusCode::OK);
}

// ---- refresh ------------------------------------------------------------------

#[actix_web::test]
async fn refresh_rotates_the_cookies() {
    let h = Harness::new().await;
    let jar = h.session("alice").await;
    h.expire_access_token();
    let answer = h.refresh(&jar).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.json["user_id"], "alice");
    let new = Jar::from(&answer);
    assert_ne!(new.refresh, jar.refresh);
    assert_eq!(h.me(&new).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn refresh_in_header_mode_takes_and_gives_json() {
    let h = Harness::new().await;
    let login = h.login_in_header_mode("alice").await;
    let refresh = login.json["refresh_token"].as_str().unwrap();
    let answer = h
        .send(
            TestRequest::post()
                .uri("/auth/refresh")
                .insert_header(("x-auth-mode", "header"))
                .set_json(json!({ "refresh_token": refresh })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.set_cookies().is_empty());
    assert_ne!(answer.json["refresh_token"].as_str().unwrap(), refresh);
    for body in ["{}", "", "not json"] {
        h.send(
            TestRequest::post()
                .uri("/auth/refresh")
                .insert_header(("x-auth-mode", "header"))
                .set_payload(body),
        )
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

#[actix_web::test]
async fn refresh_failures_clear_both_cookies_and_say_why_to_a_genuine_holder() {
    let h = Harness::new().await;
    // Not genuine: no reason.
    for cookie in [
        String::new(),
        format!("{REFRESH}=skr_garbage"),
        format!("{REFRESH}=a; {REFRESH}=b"),
    ] {
        let answer = h.cookie(Method::POST, "/auth/refresh", &cookie).await;
        answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        answer.assert_clears_both_cookies();
        assert!(answer.json.get("reason").is_none(), "{}", answer.text);
    }
    // Signed out elsewhere.
    let jar = h.session("alice").await;
    h.manager.revoke_all_for_user("alice", None).await.unwrap();
    let answer = h.refresh(&jar).await;
    answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(answer.json["reason"], "signed_out");
    answer.assert_clears_both_cookies();
    // Expired.
    let jar = h.session("alice").await;
    h.clock.advance(Duration::days(8));
    let answer = h.refresh(&jar).await;
    assert_eq!(answer.json["reason"], "expired", "{}", answer.text);
    // Theft.
    let jar = h.session("alice").await;
    let rotated = Jar::from(&h.refresh(&jar).await);
    h.clock.advance(Duration::seconds(GRACE + 1));
    let answer = h.refresh(&jar).await;
    answer.assert_error(StatusCode::UNAUTHORIZED, "token_theft_detected");
    assert_eq!(answer.json["reason"], "theft");
    answer.assert_clears_both_cookies();
    // The owner's newest token is told the session ended for a theft.
    let answer = h.refresh(&rotated).await;
    answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(answer.json["reason"], "theft", "{}", answer.text);
}

#[actix_web::test]
async fn sec_38_cross_site_refresh_is_403_and_uses_nothing() {
    let h = Harness::new().await;
    let jar = h.session("alice").await;
    let answer = h
        .send(
            TestRequest::post()
                .uri("/auth/refresh")
                .insert_header(("origin", "https://evil.example"))
                .insert_header(("cookie", jar.auth())),
        )
        .await;
    answer.assert_error(StatusCode::FORBIDDEN, "csrf");
    assert!(answer.set_cookies().is_empty());
    assert_eq!(h.refresh(&jar).await.status, StatusCode::OK);
}

// ---- logout -------------------------------------------------------------------

#[actix_web::test]
async fn sec_12_logout_revokes_and_clears() {
    let h = Harness::new().await;
    let jar = h.session("alice").await;
    let answer = h.cookie(Method::POST, "/auth/logout", &jar.auth()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json, json!({ "revoked": 1 }));
    answer.assert_clears_both_cookies();
    assert_eq!(answer.header("clear-site-data"), Some("\"cookies\""));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(h.live("alice").await, 0);
}

#[actix_web::test]
async fn logout_works_with_either_genuine_token() {
    let h = Harness::new().await;
    // The refresh cookie alone.
    let jar = h.session("alice").await;
    let answer = h.cookie(Method::POST, "/auth/logout", &jar.refresh()).await;
    assert_eq!(answer.json, json!({ "revoked": 1 }), "{}", answer.text);
    // An expired access token alone.
    let jar = h.session("alice").await;
    h.expire_access_token();
    let answer = h.cookie(Method::POST, "/auth/logout", &jar.access()).await;
    assert_eq!(answer.json, json!({ "revoked": 1 }), "{}", answer.text);
    // A forged refresh cookie beside a genuine access cookie.
    let jar = h.session("alice").await;
    let cookie = format!("{}; {REFRESH}=skr_forged", jar.access());
    let answer = h.cookie(Method::POST, "/auth/logout", &cookie).await;
    assert_eq!(answer.json, json!({ "revoked": 1 }), "{}", answer.text);
    assert_eq!(h.live("alice").await, 0);
    // Genuine but already gone: fine, nothing to revoke.
    let answer = h.cookie(Method::POST, "/auth/logout", &jar.access()).await;
    assert_eq!(answer.json, json!({ "revoked": 0 }), "{}", answer.text);
    // Nothing genuine.
    for cookie in [String::new(), format!("{ACCESS}=a.b.c; {REFRESH}=skr_x")] {
        let answer = h.cookie(Method::POST, "/auth/logout", &cookie).await;
        answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        answer.assert_clears_both_cookies();
    }
    // Bearer, from anywhere.
    let login = h.login_in_header_mode("bob").await;
    let access = login.json["access_token"].as_str().unwrap();
    let answer = h
        .send(
            TestRequest::post()
                .uri("/auth/logout")
                .insert_header(("origin", "https://other.example"))
                .insert_header(("authorization", format!("Bearer {access}"))),
        )
        .await;
    assert_eq!(answer.json, json!({ "revoked": 1 }), "{}", answer.text);
    // Header mode with the refresh token in the body.
    let login = h.login_in_header_mode("bob").await;
    let answer = h
        .send(
            TestRequest::post()
                .uri("/auth/logout")
                .insert_header(("x-auth-mode", "header"))
                .set_json(json!({ "refresh_token": login.json["refresh_token"] })),
        )
        .await;
    assert_eq!(answer.json, json!({ "revoked": 1 }), "{}", answer.text);
    assert_eq!(h.live("bob").await, 0);
}

#[actix_web::test]
async fn sec_38_cross_site_logout_is_403() {
    let h = Harness::new().await;
    let jar = h.session("alice").await;
    for path in ["/auth/logout", "/auth/logout-all"] {
        let answer = h
            .send(
                TestRequest::post()
                    .uri(path)
                    .insert_header(("sec-fetch-site", "cross-site"))
                    .insert_header(("cookie", jar.auth())),
            )
            .await;
        answer.assert_error(StatusCode::FORBIDDEN, "csrf");
        assert!(answer.set_cookies().is_empty());
    }
    assert_eq!(h.live("alice").await, 1);
}

#[actix_web::test]
async fn sec_14_logout_all_ends_every_session_of_the_caller_only() {
    let h = Harness::new().await;
    let first = h.session("alice").await;
    let _second = h.session("alice").await;
    let bob = h.session("bob").await;
    let answer = h
        .cookie(Method::POST, "/auth/logout-all", &first.auth())
        .await;
    assert_eq!(answer.json, json!({ "revoked": 2 }), "{}", answer.text);
    answer.assert_clears_both_cookies();
    assert_eq!(answer.header("clear-site-data"), Some("\"cookies\""));
    assert_eq!(h.live("alice").await, 0);
    assert_eq!(h.refresh(&bob).await.status, StatusCode::OK);
}

// ---- the session list ---------------------------------------------------------

#[actix_web::test]
async fn sessions_lists_and_revokes_only_ones_own() {
    let h = Harness::new().await;
    let laptop = h.session("alice").await;
    let phone = h.session("alice").await;
    let bob = h.session("bob").await;
    let list = h
        .cookie(Method::GET, "/auth/sessions", &laptop.access())
        .await;
    assert_eq!(list.header("cache-control"), Some("no-store"));
    let entries = list.json.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", list.text);
    let mine = h.me(&laptop).await.json["session_handle"].clone();
    assert_eq!(entries.iter().filter(|e| e["current"] == true).count(), 1);
    for e in entries {
        assert!(e["created_at"].is_i64());
        assert!(e["last_active_at"].as_i64() >= e["created_at"].as_i64());
        assert_eq!(e["device"], "test");
        assert_eq!(e["current"], e["session_handle"] == mine);
    }
    let phone_handle = h.me(&phone).await.json["session_handle"].clone();
    let bob_handle = h.me(&bob).await.json["session_handle"].clone();
    for handle in [
        bob_handle.as_str().unwrap(),
        "AAAAAAAAAAAAAAAAAAAAAAAA",
        "nope",
    ] {
        h.cookie(
            Method::DELETE,
            &format!("/auth/sessions/{handle}"),
            &laptop.access(),
        )
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(h.live("bob").await, 1);
    let path = format!("/auth/sessions/{}", phone_handle.as_str().unwrap());
    let answer = h.cookie(Method::DELETE, &path, &laptop.access()).await;
    assert_eq!(answer.json, json!({ "revoked": 1 }), "{}", answer.text);
    assert!(answer.set_cookies().is_empty());
    // Revoking one's own current session logs this browser out.
    let path = format!("/auth/sessions/{}", mine.as_str().unwrap());
    let answer = h.cookie(Method::DELETE, &path, &laptop.access()).await;
    answer.assert_clears_both_cookies();
    assert_eq!(h.live("alice").await, 0);
}

// ---- plumbing -----------------------------------------------------------------

#[actix_web::test]
async fn wrong_methods_and_unknown_paths_answer_json() {
    let h = Harness::new().await;
    for path in ["/auth/refresh", "/auth/logout", "/auth/logout-all"] {
        let answer = h.send(TestRequest::get().uri(path)).await;
        answer.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert_eq!(answer.header("allow"), Some("POST"));
    }
    h.send(TestRequest::post().uri("/auth/sessions"))
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    h.send(TestRequest::get().uri("/nope"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[actix_web::test]
async fn the_browser_client_is_served() {
    let h = Harness::new().await;
    let answer = h.send(TestRequest::get().uri("/sessionkit.js")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.text, sessionkit::web::BROWSER_CLIENT_JS);
}

#[actix_web::test]
async fn jwks_is_published_for_eddsa_only() {
    let h = Harness::new().await;
    h.send(TestRequest::get().uri("/.well-known/jwks.json"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let ed = Harness::with(SigningKey::generate_ed25519("ed1").unwrap(), |b| b).await;
    let answer = ed
        .send(TestRequest::get().uri("/.well-known/jwks.json"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.header("content-type"),
        Some("application/jwk-set+json")
    );
    let keys = answer.json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].get("d").is_none());
}

#[actix_web::test]
async fn a_configured_domain_reaches_every_cookie() {
    let cookies = CookieConfig::default()
        .dangerous()
        .domain("example.com")
        .unwrap();
    let h = Harness::with(SigningKey::hs256("k1", &[7u8; 32]).unwrap(), |b| {
        b.cookies(cookies)
    })
    .await;
    let answer = h.login("alice").await;
    let access = answer
        .set_cookie("__Secure-sk-access")
        .expect("shared access cookie");
    assert!(access.contains("Domain=example.com"), "{access}");
    assert!(
        answer
            .set_cookie(REFRESH)
            .unwrap()
            .contains("Domain=example.com")
    );
    let token = answer.cookie_value("__Secure-sk-access");
    let refresh = answer.cookie_value(REFRESH);
    let me = h
        .cookie(
            Method::GET,
            "/api/me",
            &format!("__Secure-sk-access={token}"),
        )
        .await;
    assert_eq!(me.json["user_id"], "alice");
    let out = h
        .cookie(
            Method::POST,
            "/auth/logout",
            &format!("{REFRESH}={refresh}"),
        )
        .await;
    assert_eq!(out.json, json!({ "revoked": 1 }), "{}", out.text);
    // Both cookies are cleared, on the same domain.
    for name in ["__Secure-sk-access", REFRESH] {
        let c = out.set_cookie(name).unwrap_or_default();
        assert!(
            c.contains("Domain=example.com") && c.contains("Max-Age=0"),
            "{name}: {c:?}"
        );
    }
}

#[actix_web::test]
async fn headers_transport_never_reads_or_sets_a_cookie() {
    let h = Harness::with(SigningKey::hs256("k1", &[7u8; 32]).unwrap(), |b| {
        b.transport(Transport::Headers)
    })
    .await;
    let login = h.login("alice").await;
    assert!(login.set_cookies().is_empty());
    let access = login.json["access_token"].as_str().unwrap().to_owned();
    // The token in a cookie counts for nothing here.
    h.cookie(Method::GET, "/api/me", &format!("{ACCESS}={access}"))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let out = h
        .send(
            TestRequest::post()
                .uri("/auth/logout")
                .insert_header(("authorization", format!("Bearer {access}"))),
        )
        .await;
    assert_eq!(out.json, json!({ "revoked": 1 }));
    assert!(out.set_cookies().is_empty());
    assert!(out.header("clear-site-data").is_none());
}

#[actix_web::test]
async fn verify_only_checks_tokens_with_the_public_keys() {
    let issuer = Harness::with(SigningKey::generate_ed25519("ed1").unwrap(), |b| b).await;
    let jar = issuer.session("alice").await;
    let verifier = Verifier::builder()
        .jwks(Jwks::from_json(&issuer.manager.jwks_json()).unwrap())
        .build()
        .unwrap();
    let sessions = Sessions::verify_only(verifier)
        .csrf(CsrfPolicy::new([ORIGIN]).unwrap())
        .build()
        .unwrap();
    let resource =
        Harness::serve(sessions, issuer.manager.clone(), Arc::clone(&issuer.clock)).await;
    let me = resource.me(&jar).await;
    assert_eq!(me.json["user_id"], "alice", "{}", me.text);
    // No store here: the strict extractor and the session routes need a manager.
    resource
        .send(
            TestRequest::get()
                .uri("/api/strict")
                .insert_header(("cookie", jar.access())),
        )
        .await
        .assert_error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
    resource
        .refresh(&jar)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    resource
        .login("bob")
        .await
        .assert_error(StatusCode::INTERNAL_SERVER_ERROR, "internal_error");
}

#[test]
fn configuration_mistakes_are_refused() {
    let clock = Arc::new(ManualClock::starting_now());
    let m = || manager(&clock, SigningKey::hs256("k1", &[7u8; 32]).unwrap());
    // Cookies without allowed origins.
    assert!(Sessions::builder(m()).build().is_err());
    assert!(
        Sessions::builder(m())
            .transport(Transport::Both)
            .build()
            .is_err()
    );
    assert!(
        Sessions::builder(m())
            .transport(Transport::Headers)
            .build()
            .is_ok()
    );
    // Without cookies, the routes may live anywhere.
    assert!(
        Sessions::builder(m())
            .transport(Transport::Headers)
            .paths(Paths::under("/api"))
            .build()
            .is_ok()
    );
    let csrf = || CsrfPolicy::new([ORIGIN]).unwrap();
    // A refresh route the refresh cookie never reaches.
    for routes in [
        Paths::default().refresh("/api/refresh"),
        Paths::default().logout("/logout"),
        Paths::default().refresh("/authx/refresh"),
        Paths::default().sessions("/auth/{x}"),
        Paths::under("/api"),
        Paths::default().logout_all("no-slash"),
    ] {
        assert!(
            Sessions::builder(m())
                .csrf(csrf())
                .paths(routes.clone())
                .build()
                .is_err(),
            "{routes:?}"
        );
    }
    let moved = CookieConfig::default().refresh_path("/session").unwrap();
    let routes = Paths::under("/session/");
    assert!(
        Sessions::builder(m())
            .csrf(csrf())
            .cookies(moved)
            .paths(routes)
            .build()
            .is_ok()
    );
}
