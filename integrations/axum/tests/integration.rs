//! The integration through `tower::ServiceExt::oneshot`: extractor
//! answers, CSRF, header mode, the login helper, logout with each token,
//! the verify-only mode and the configuration checks.
#![cfg(test)]

use std::sync::Arc;

use axum::body::Body;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sessionkit::clock::ManualClock;
use sessionkit::jwks::Jwks;
use sessionkit::web::{CookieConfig, CsrfPolicy};
use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey, Verifier};
use sessionkit_axum::{
    LoggedIn, Login, Paths, Session, SessionRejection, Sessions, StrictSession, Transport,
};
use time::Duration;
use tower::ServiceExt as _;

const ORIGIN: &str = "https://app.example";

struct Setup {
    app: Router,
    manager: SessionManager<MemoryStore>,
    clock: Arc<ManualClock>,
}

fn manager(clock: &Arc<ManualClock>, key: SigningKey) -> SessionManager<MemoryStore> {
    SessionManager::builder(MemoryStore::new())
        .signing_key(key)
        .refresh_key(RefreshKey::generate(1).unwrap())
        .grace(Duration::ZERO)
        .clock(Arc::clone(clock))
        .build()
        .unwrap()
}

async fn login(login: Login) -> Result<LoggedIn, SessionRejection> {
    login
        .create("alice")
        .claims(json!({ "role": "reader" }))
        .session_data(json!({ "device": "test" }))
        .await
}

async fn me(session: Session) -> Json<Value> {
    Json(json!({ "user": session.user_id(), "role": session.claims()["role"] }))
}

async fn maybe(session: Option<Session>) -> String {
    session.map_or_else(|| "anonymous".to_owned(), |s| s.user_id().to_owned())
}

async fn strict(session: StrictSession) -> String {
    session.user_id().to_owned()
}

fn setup_with(transport: Transport, cookies: CookieConfig) -> Setup {
    let clock = Arc::new(ManualClock::starting_now());
    let manager = manager(&clock, SigningKey::generate_ed25519("k1").unwrap());
    let sessions = Sessions::builder(manager.clone())
        .csrf(CsrfPolicy::new([ORIGIN]).unwrap())
        .transport(transport)
        .cookies(cookies)
        .clock(Arc::clone(&clock))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/auth/login", post(login))
        .route("/me", get(me).post(me))
        .route("/maybe", get(maybe))
        .route("/strict", get(strict))
        .merge(sessions.router())
        .with_state(sessions);
    Setup {
        app,
        manager,
        clock,
    }
}

fn setup(transport: Transport) -> Setup {
    setup_with(transport, CookieConfig::default())
}

struct Answer {
    status: StatusCode,
    cookies: Vec<String>,
    headers: http::HeaderMap,
    json: Value,
}

async fn read(response: Response<Body>) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let cookies = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        cookies,
        headers,
        json,
    }
}

impl Setup {
    async fn send(&self, request: Request<Body>) -> Answer {
        read(self.app.clone().oneshot(request).await.unwrap()).await
    }

    /// Logs in with cookies; returns `name=value` of both cookies.
    async fn cookie_login(&self) -> (String, String) {
        let answer = self
            .send(
                Request::post("/auth/login")
                    .header("origin", ORIGIN)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        assert_eq!(answer.headers["cache-control"], "no-store");
        let pair = |i: usize| answer.cookies[i].split(';').next().unwrap().to_owned();
        (pair(0), pair(1))
    }
}

fn get_with(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap()
}

fn post_with(path: &str, cookie: &str, origin: Option<&str>) -> Request<Body> {
    let mut builder = Request::post(path).header("cookie", cookie);
    if let Some(origin) = origin {
        builder = builder.header("origin", origin);
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn session_extractor_answers_try_refresh_then_unauthorized() {
    let s = setup(Transport::Cookies);
    let (access, _) = s.cookie_login().await;
    let ok = s.send(get_with("/me", &access)).await;
    assert_eq!(ok.json, json!({ "user": "alice", "role": "reader" }));
    s.clock.advance(Duration::minutes(11));
    let expired = s.send(get_with("/me", &access)).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.json, json!({ "error": "try_refresh_token" }));
    assert_eq!(expired.headers["cache-control"], "no-store");
    for cookie in ["", "__Host-sk-access=a.b.c", &format!("{access}; {access}")] {
        let answer = s.send(get_with("/me", cookie)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.json, json!({ "error": "unauthorized" }));
    }
    // Cookies only: a bearer token is not looked at.
    let bearer = access.split_once('=').unwrap().1;
    let answer = s
        .send(
            Request::get("/me")
                .header("authorization", format!("Bearer {bearer}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.json, json!({ "error": "unauthorized" }));
}

#[tokio::test]
async fn sec_38_state_changing_cookie_requests_pass_csrf_before_the_handler() {
    let s = setup(Transport::Cookies);
    let (access, refresh) = s.cookie_login().await;
    for (origin, expected) in [
        (Some("https://evil.example"), StatusCode::FORBIDDEN),
        (Some("null"), StatusCode::FORBIDDEN),
        (Some(ORIGIN), StatusCode::OK),
        (None, StatusCode::OK),
    ] {
        let answer = s.send(post_with("/me", &access, origin)).await;
        assert_eq!(answer.status, expected, "{origin:?}");
        if expected == StatusCode::FORBIDDEN {
            assert_eq!(answer.json, json!({ "error": "csrf" }));
        }
    }
    let cross = s
        .send(
            Request::post("/auth/refresh")
                .header("cookie", &refresh)
                .header("sec-fetch-site", "cross-site")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(cross.json, json!({ "error": "csrf" }));
    assert!(cross.cookies.is_empty());
    // A forged login is refused before the handler creates anything.
    let forged = s
        .send(
            Request::post("/auth/login")
                .header("origin", "https://evil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(s.manager.sessions_for_user("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn optional_and_strict_sessions() {
    let s = setup(Transport::Cookies);
    let anonymous = s
        .send(Request::get("/maybe").body(Body::empty()).unwrap())
        .await;
    assert_eq!(anonymous.status, StatusCode::OK);
    let (access, refresh) = s.cookie_login().await;
    let known = s.send(get_with("/maybe", &access)).await;
    assert_eq!(known.status, StatusCode::OK);
    // A token that fails is not "anonymous".
    let bad = s.send(get_with("/maybe", "__Host-sk-access=a.b.c")).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.send(get_with("/strict", &access)).await.status,
        StatusCode::OK
    );
    let logout = s
        .send(post_with("/auth/logout", &refresh, Some(ORIGIN)))
        .await;
    assert_eq!(logout.status, StatusCode::OK);
    // Revoked: the stateless extractor still accepts, the strict one not.
    assert_eq!(
        s.send(get_with("/me", &access)).await.status,
        StatusCode::OK
    );
    let strict = s.send(get_with("/strict", &access)).await;
    assert_eq!(strict.json, json!({ "error": "unauthorized" }));
}

#[tokio::test]
async fn header_mode_login_refresh_and_logout() {
    let s = setup(Transport::Both);
    let login = s
        .send(
            Request::post("/auth/login")
                .header("x-auth-mode", "header")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.cookies.is_empty());
    assert_eq!(login.headers["cache-control"], "no-store");
    let access = login.json["access_token"].as_str().unwrap().to_owned();
    let refresh = login.json["refresh_token"].as_str().unwrap().to_owned();
    let me = s
        .send(
            Request::post("/me")
                .header("authorization", format!("Bearer {access}"))
                .header("origin", "https://evil.example") // no CSRF check for bearer tokens
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);
    let refreshed = s
        .send(
            Request::post("/auth/refresh")
                .header("x-auth-mode", "header")
                .body(Body::from(json!({ "refresh_token": refresh }).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    assert!(refreshed.cookies.is_empty());
    let newer = refreshed.json["refresh_token"].as_str().unwrap();
    let logout = s
        .send(
            Request::post("/auth/logout")
                .header("x-auth-mode", "header")
                .body(Body::from(json!({ "refresh_token": newer }).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(logout.json, json!({ "revoked": 1 }));
    assert!(
        s.manager
            .sessions_for_user("alice")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn sec_44_sec_45_logout_with_each_token() {
    let s = setup(Transport::Cookies);
    // The refresh cookie alone.
    let (_, refresh) = s.cookie_login().await;
    let answer = s
        .send(post_with("/auth/logout", &refresh, Some(ORIGIN)))
        .await;
    assert_eq!(answer.json, json!({ "revoked": 1 }));
    assert_eq!(answer.headers["clear-site-data"], "\"cookies\"");
    assert_eq!(answer.cookies.len(), 2);
    // The access cookie alone, expired.
    let (access, _) = s.cookie_login().await;
    s.clock.advance(Duration::minutes(11));
    let answer = s
        .send(post_with("/auth/logout", &access, Some(ORIGIN)))
        .await;
    assert_eq!(answer.json, json!({ "revoked": 1 }));
    // An access token of an old generation is refused.
    let (old_access, refresh) = s.cookie_login().await;
    let rotated = s
        .send(post_with("/auth/refresh", &refresh, Some(ORIGIN)))
        .await;
    let refresh = rotated.cookies[1].split(';').next().unwrap().to_owned();
    s.clock.advance(Duration::seconds(1));
    s.send(post_with("/auth/refresh", &refresh, Some(ORIGIN)))
        .await;
    let answer = s
        .send(post_with("/auth/logout", &old_access, Some(ORIGIN)))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.manager.sessions_for_user("alice").await.unwrap().len(), 1);
}

#[tokio::test]
async fn sec_48_login_revokes_the_session_the_browser_still_holds() {
    let s = setup(Transport::Cookies);
    let (access, refresh) = s.cookie_login().await;
    let again = s
        .send(
            Request::post("/auth/login")
                .header("origin", ORIGIN)
                .header("cookie", format!("{access}; {refresh}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let live = s.manager.sessions_for_user("alice").await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].session_data, json!({ "device": "test" }));
    assert_eq!(live[0].access_claims["role"], "reader");
}

#[tokio::test]
async fn refresh_failure_says_why_and_clears_the_cookies() {
    let s = setup(Transport::Cookies);
    let (_, refresh) = s.cookie_login().await;
    s.send(post_with("/auth/refresh", &refresh, Some(ORIGIN)))
        .await;
    s.clock.advance(Duration::seconds(1));
    let theft = s
        .send(post_with("/auth/refresh", &refresh, Some(ORIGIN)))
        .await;
    assert_eq!(theft.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        theft.json,
        json!({ "error": "token_theft_detected", "reason": "theft" })
    );
    assert!(theft.cookies.iter().all(|c| c.contains("Max-Age=0")));
    assert_eq!(theft.cookies.len(), 2);
}

#[tokio::test]
async fn shared_domain_cookies_are_set_and_cleared_with_their_domain() {
    let cookies = CookieConfig::default()
        .dangerous()
        .domain("example.com")
        .unwrap();
    let s = setup_with(Transport::Cookies, cookies);
    let (access, refresh) = s.cookie_login().await;
    assert!(access.starts_with("__Secure-sk-access="));
    let logout = s
        .send(post_with(
            "/auth/logout",
            &format!("{access}; {refresh}"),
            Some(ORIGIN),
        ))
        .await;
    assert_eq!(logout.cookies.len(), 2);
    for c in &logout.cookies {
        assert!(c.contains("Domain=example.com"), "{c}");
        assert!(c.contains("Max-Age=0"), "{c}");
    }
}

#[tokio::test]
async fn verify_only_mode_verifies_with_public_keys() {
    let s = setup(Transport::Cookies);
    let (access, _) = s.cookie_login().await;
    let token = access.split_once('=').unwrap().1.to_owned();
    let jwks = s
        .send(
            Request::get("/.well-known/jwks.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let verifier = Verifier::builder()
        .jwks(Jwks::from_json(&jwks.json.to_string()).unwrap())
        .build()
        .unwrap();
    let sessions = Sessions::verify_only(verifier)
        .transport(Transport::Headers)
        .build()
        .unwrap();
    let resource = Router::new()
        .route("/me", get(me))
        .route("/strict", get(strict))
        .merge(sessions.router())
        .with_state(sessions);
    let ask = |path: &str, token: &str| {
        Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let ok = read(resource.clone().oneshot(ask("/me", &token)).await.unwrap()).await;
    assert_eq!(ok.json["user"], "alice");
    let bad = read(resource.clone().oneshot(ask("/me", "a.b.c")).await.unwrap()).await;
    assert_eq!(bad.json, json!({ "error": "unauthorized" }));
    // No store: strict verification is a server mistake, and there are no
    // session routes, only the browser client.
    let strict = read(
        resource
            .clone()
            .oneshot(ask("/strict", &token))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(strict.status, StatusCode::INTERNAL_SERVER_ERROR);
    let refresh = Request::post("/auth/refresh").body(Body::empty()).unwrap();
    assert_eq!(
        resource.clone().oneshot(refresh).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let js = Request::get("/sessionkit.js").body(Body::empty()).unwrap();
    assert_eq!(resource.oneshot(js).await.unwrap().status(), StatusCode::OK);
}

#[test]
fn configuration_mistakes_are_errors() {
    let clock = Arc::new(ManualClock::starting_now());
    let m = || manager(&clock, SigningKey::generate_hs256("k").unwrap());
    // Cookies without the allowed origins.
    assert!(Sessions::builder(m()).build().is_err());
    assert!(
        Sessions::builder(m())
            .transport(Transport::Headers)
            .build()
            .is_ok()
    );
    // A refresh route the refresh cookie does not reach.
    let csrf = || CsrfPolicy::new([ORIGIN]).unwrap();
    let outside = Paths::default().refresh("/api/refresh");
    assert!(
        Sessions::builder(m())
            .csrf(csrf())
            .paths(outside)
            .build()
            .is_err()
    );
    let elsewhere = Paths::under("/session");
    assert!(
        Sessions::builder(m())
            .csrf(csrf())
            .paths(elsewhere.clone())
            .build()
            .is_err()
    );
    let cookies = CookieConfig::default().refresh_path("/session").unwrap();
    assert!(
        Sessions::builder(m())
            .csrf(csrf())
            .paths(elsewhere)
            .cookies(cookies)
            .build()
            .is_ok()
    );
    assert!(
        Sessions::builder(m())
            .csrf(csrf())
            .paths(Paths::default().jwks("no-slash"))
            .build()
            .is_err()
    );
}
