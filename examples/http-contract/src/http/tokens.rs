//! Reading tokens (`/api/me`) and the refresh route: expiry, failures with
//! their reasons, theft, the grace window.

use std::sync::Arc;

use reqwest::Method;
use time::Duration;

use super::Ctx;
use crate::client::{ACCESS, Jar, REFRESH};

pub(super) async fn me_accepts_the_access_cookie_or_a_bearer_token(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    let by_cookie = ctx.me(&jar).await;
    by_cookie.assert_ok();
    assert_eq!(by_cookie.json["user_id"], "alice");
    let by_bearer = ctx
        .client
        .get("/api/me")
        .header("authorization", format!("bearer {}", jar.access))
        .send()
        .await;
    by_bearer.assert_ok();
    assert_eq!(by_bearer.json, by_cookie.json);
}

pub(super) async fn me_without_a_valid_token_is_401_unauthorized(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    let cases = [
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
        let mut request = ctx.client.get("/api/me");
        if !cookie.is_empty() {
            request = request.header("cookie", cookie);
        }
        let answer = request.send().await;
        assert_eq!(
            (answer.status, answer.error()),
            (401, "unauthorized"),
            "{what}: {}",
            answer.text
        );
    }
    // Duplicate cookies over two Cookie headers are refused too.
    ctx.client
        .get("/api/me")
        .header("cookie", jar.access_header())
        .header("cookie", jar.access_header())
        .send()
        .await
        .assert_error(401, "unauthorized");
    for auth in [
        "Bearer",
        "Bearer  x",
        "Basic YWxpY2U6d29uZGVybGFuZA==",
        "Bearer a.b.c",
    ] {
        // A bad Authorization header is not rescued by the cookie.
        ctx.client
            .get("/api/me")
            .header("authorization", auth)
            .header("cookie", jar.access_header())
            .send()
            .await
            .assert_error(401, "unauthorized");
    }
}

pub(super) async fn sec_06_token_in_the_url_is_ignored(ctx: Arc<Ctx>) {
    let login = ctx.header_login("alice", "wonderland").await;
    let token = login.json["access_token"].as_str().unwrap_or_default();
    for uri in [
        format!("/api/me?access_token={token}"),
        format!("/api/me?{ACCESS}={token}"),
    ] {
        ctx.client
            .get(&uri)
            .send()
            .await
            .assert_error(401, "unauthorized");
    }
}

pub(super) async fn expired_access_token_is_try_refresh_token_then_refresh_works(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    ctx.expire_access_token();
    ctx.me(&jar).await.assert_error(401, "try_refresh_token");
    let refreshed = ctx.refresh(&jar).await;
    refreshed.assert_ok();
    refreshed.assert_no_store();
    assert_eq!(refreshed.json["user_id"], "alice");
    let new = Jar::from(&refreshed);
    assert_ne!(new.refresh, jar.refresh);
    assert_ne!(new.access, jar.access);
    let cookie = refreshed.set_cookie(REFRESH).unwrap_or_default();
    assert!(cookie.contains("Path=/auth;"), "{cookie}");
    ctx.me(&new).await.assert_ok();
}

pub(super) async fn refresh_without_a_valid_token_is_401_and_clears_both_cookies(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    for cookie in [
        String::new(),
        format!("{REFRESH}=skr_garbage"),
        format!("{REFRESH}={0}; {REFRESH}={0}", jar.refresh),
        // The access token is no refresh token.
        format!("{REFRESH}={}", jar.access),
    ] {
        let answer = ctx
            .cookie_request(
                Method::POST,
                "/auth/refresh",
                &cookie,
                Some(&ctx.origin),
                None,
            )
            .await;
        answer.assert_error(401, "unauthorized");
        // Not a genuine token: no reason is given.
        assert!(answer.json.get("reason").is_none(), "{}", answer.text);
        answer.assert_clears_both_cookies();
        answer.assert_no_store();
    }
    let header_mode = ctx
        .client
        .post("/auth/refresh")
        .header("x-auth-mode", "header")
        .body("{}")
        .send()
        .await;
    header_mode.assert_error(401, "unauthorized");
    // The session itself was not touched.
    ctx.refresh(&jar).await.assert_ok();
}

pub(super) async fn refresh_of_a_revoked_session_is_401_signed_out(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    let other = ctx.session("alice").await;
    // Logged out everywhere from the other device.
    ctx.post("/auth/logout-all", &other).await.assert_ok();
    let answer = ctx.refresh(&jar).await;
    answer.assert_error(401, "unauthorized");
    assert_eq!(answer.json["reason"], "signed_out", "{}", answer.text);
    answer.assert_clears_both_cookies();
}

pub(super) async fn refresh_of_an_expired_session_is_401_expired(ctx: Arc<Ctx>) {
    let jar = ctx.session("bob").await;
    ctx.clock.advance(Duration::days(8));
    let answer = ctx.refresh(&jar).await;
    answer.assert_error(401, "unauthorized");
    assert_eq!(answer.json["reason"], "expired", "{}", answer.text);
    answer.assert_clears_both_cookies();
}

pub(super) async fn theft_through_the_refresh_endpoint_revokes_the_session(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    let copy = jar.clone();
    let rotated = Jar::from(&ctx.refresh(&jar).await);
    // Past the grace window, the old refresh token comes back: a copy.
    ctx.pass_grace();
    let answer = ctx.refresh(&copy).await;
    answer.assert_error(401, "token_theft_detected");
    assert_eq!(answer.json["reason"], "theft", "{}", answer.text);
    answer.assert_clears_both_cookies();
    answer.assert_no_store();
    // The owner's newest refresh token died with the session, and the
    // owner is told why: a copy was used elsewhere.
    let owner = ctx.refresh(&rotated).await;
    owner.assert_error(401, "unauthorized");
    assert_eq!(owner.json["reason"], "theft", "{}", owner.text);
    owner.assert_clears_both_cookies();
    assert_eq!(ctx.live("alice").await, 0);
    // Strict verification sees the revocation at once.
    ctx.sessions(&rotated)
        .await
        .assert_error(401, "unauthorized");
}

pub(super) async fn concurrent_refresh_inside_the_grace_window_is_not_theft(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    let (first, second) = tokio::join!(ctx.refresh(&jar), ctx.refresh(&jar));
    first.assert_ok();
    second.assert_ok();
    // Both receive the same successor: one lineage.
    assert_eq!(Jar::from(&first).refresh, Jar::from(&second).refresh);
    let again = ctx.refresh(&jar).await;
    again.assert_ok();
    assert_eq!(ctx.live("alice").await, 1);
}
