//! Login: cookies and their attributes, header mode, bad credentials, the
//! rate limits and the old session a login replaces.

use std::sync::Arc;
use std::time::Duration;

use app_common::{LoginLimits, RateLimit, Settings};
use serde_json::{Value, json};

use super::Ctx;
use crate::client::{ACCESS, REFRESH, attributes};

pub(super) async fn sec_35_sec_36_login_sets_both_cookies_with_secure_attributes(ctx: Arc<Ctx>) {
    let answer = ctx.login("alice", "wonderland").await;
    answer.assert_ok();
    answer.assert_no_store();
    assert_eq!(answer.json["user_id"], "alice");
    let handle = answer.json["session_handle"].as_str().unwrap_or_default();
    assert_eq!(handle.len(), 24, "{}", answer.text);
    assert!(answer.json.get("access_token").is_none());
    assert!(answer.json.get("refresh_token").is_none());

    let week = 7 * 24 * 3600;
    // The cookies' lifetime, for the browser client to tell an expiry.
    assert_eq!(answer.json["session_expires_in"], week, "{}", answer.text);
    let expected = |path: &str| {
        vec![
            "HttpOnly".to_owned(),
            format!("Max-Age={week}"),
            format!("Path={path}"),
            "SameSite=Strict".to_owned(),
            "Secure".to_owned(),
        ]
    };
    let access = answer.set_cookie(ACCESS).unwrap_or_default();
    assert_eq!(attributes(&access), expected("/"), "{access}");
    let refresh = answer.set_cookie(REFRESH).unwrap_or_default();
    assert_eq!(attributes(&refresh), expected("/auth"), "{refresh}");
    for c in answer.set_cookies() {
        assert!(!c.to_ascii_lowercase().contains("domain"), "{c}");
    }
}

pub(super) async fn login_with_bad_credentials_is_401_invalid_credentials(ctx: Arc<Ctx>) {
    for (user, password) in [
        ("alice", "builder"),
        ("alice", ""),
        ("mallory", "wonderland"),
        ("", ""),
    ] {
        let answer = ctx.login(user, password).await;
        answer.assert_error(401, "invalid_credentials");
        assert!(answer.set_cookies().is_empty());
    }
    assert_eq!(ctx.live("alice").await, 0);
    ctx.client
        .post("/auth/login")
        .header("x-auth-mode", "header")
        .body("{not json")
        .send()
        .await
        .assert_error(400, "bad_request");
}

/// Three attempts per user name, then one an hour: the fourth is refused
/// at once, without sleeping.
pub(super) fn tight_limits(settings: &mut Settings) {
    settings.login_limits = LoginLimits {
        per_address: RateLimit::new(6, Duration::from_secs(3600)),
        per_user: RateLimit::new(3, Duration::from_secs(3600)),
    };
}

pub(super) async fn sec_48_login_rate_limit_is_429_with_retry_after(ctx: Arc<Ctx>) {
    for _ in 0..2 {
        ctx.login("alice", "wrong")
            .await
            .assert_error(401, "invalid_credentials");
    }
    ctx.login("alice", "wonderland").await.assert_ok();
    // Per user name: even the right password waits now.
    for password in ["wonderland", "wrong"] {
        let limited = ctx.login("alice", password).await;
        limited.assert_error(429, "rate_limited");
        assert!(limited.set_cookies().is_empty());
        let retry: u64 = limited.header("retry-after").parse().unwrap_or(0);
        assert!((1..=3600).contains(&retry), "{:?}", limited.headers);
    }
    assert_eq!(ctx.live("alice").await, 1);
    // Per address: bob still has his own attempts, until the address has
    // used its six.
    ctx.login("bob", "builder").await.assert_ok();
    let limited = ctx.login("carol", "x").await;
    limited.assert_error(429, "rate_limited");
    assert!(!limited.header("retry-after").is_empty());
}

pub(super) async fn sec_48_login_with_a_session_cookie_revokes_the_old_session(ctx: Arc<Ctx>) {
    let old = ctx.session("alice").await;
    let other_device = ctx.session("alice").await;
    assert_eq!(ctx.live("alice").await, 2);
    // The browser logs in again (as someone else, even) while it still
    // holds its cookies: its old session ends.
    let answer = ctx
        .login_with_cookie("bob", "builder", Some(&old.both_header()))
        .await;
    answer.assert_ok();
    assert_eq!(ctx.live("alice").await, 1);
    ctx.refresh(&old).await.assert_error(401, "unauthorized");
    ctx.refresh(&other_device).await.assert_ok();
    // A cookie that is not genuine revokes nothing and does not stop the
    // login.
    let forged = format!("{ACCESS}=a.b.c; {REFRESH}=skr_forged");
    ctx.login_with_cookie("alice", "wonderland", Some(&forged))
        .await
        .assert_ok();
    assert_eq!(ctx.live("alice").await, 2);
}

pub(super) async fn header_mode_login_returns_tokens_and_no_cookies(ctx: Arc<Ctx>) {
    let answer = ctx.header_login("bob", "builder").await;
    answer.assert_ok();
    answer.assert_no_store();
    assert!(answer.set_cookies().is_empty());
    assert_eq!(answer.json["user_id"], "bob");
    let access = answer.json["access_token"].as_str().unwrap_or_default();
    let refresh = answer.json["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!access.is_empty() && !refresh.is_empty(), "{}", answer.text);

    let me = ctx
        .client
        .get("/api/me")
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await;
    me.assert_ok();
    assert_eq!(me.json["user_id"], "bob");
    assert_eq!(me.json["session_handle"], answer.json["session_handle"]);

    let refreshed = ctx
        .client
        .post("/auth/refresh")
        .header("x-auth-mode", "header")
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await;
    refreshed.assert_ok();
    refreshed.assert_no_store();
    assert!(refreshed.set_cookies().is_empty());
    assert_ne!(refreshed.json["refresh_token"], Value::from(refresh));
    assert_ne!(refreshed.json["access_token"], Value::Null);
}
