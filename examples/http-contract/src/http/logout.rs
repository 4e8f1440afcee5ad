//! Logout with each token, and logout everywhere.

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

use super::Ctx;
use crate::client::{ACCESS, Jar};

pub(super) async fn sec_12_logout_revokes_and_clears_cookies(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    let answer = ctx.post("/auth/logout", &jar).await;
    answer.assert_ok();
    answer.assert_logged_out();
    assert_eq!(ctx.live("alice").await, 0);
    ctx.refresh(&jar).await.assert_error(401, "unauthorized");
    ctx.sessions(&jar).await.assert_error(401, "unauthorized");
    // `/api/me` verifies statelessly: the access token keeps working until
    // it expires (the documented trade-off).
    ctx.me(&jar).await.assert_ok();
}

pub(super) async fn logout_with_an_expired_access_token_still_ends_the_session(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    ctx.expire_access_token();
    let answer = ctx
        .cookie_request(
            Method::POST,
            "/auth/logout",
            &jar.access_header(),
            Some(&ctx.origin),
            None,
        )
        .await;
    answer.assert_ok();
    answer.assert_logged_out();
    assert_eq!(ctx.live("alice").await, 0);
}

pub(super) async fn sec_44_logout_with_only_the_refresh_cookie_ends_the_session(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    let answer = ctx
        .cookie_request(
            Method::POST,
            "/auth/logout",
            &jar.refresh_header(),
            Some(&ctx.origin),
            Some("same-origin"),
        )
        .await;
    answer.assert_ok();
    answer.assert_logged_out();
    assert_eq!(answer.json, json!({ "revoked": 1 }));
    assert_eq!(ctx.live("alice").await, 0);
    // Header mode: the refresh token in the body.
    let login = ctx.header_login("bob", "builder").await;
    let refresh = login.json["refresh_token"].as_str().unwrap_or_default();
    let answer = ctx
        .client
        .post("/auth/logout")
        .header("x-auth-mode", "header")
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await;
    answer.assert_ok();
    assert_eq!(ctx.live("bob").await, 0);
}

pub(super) async fn sec_45_logout_refuses_an_old_generation_access_token(ctx: Arc<Ctx>) {
    let first = ctx.session("alice").await;
    let second = Jar::from(&ctx.refresh(&first).await);
    let third = Jar::from(&ctx.refresh(&second).await);
    // The first access token is two generations old: found in a log, it
    // cannot end a session that has moved on.
    for (cookie, bearer) in [
        (Some(first.access_header()), None),
        (None, Some(&first.access)),
    ] {
        let mut request = ctx
            .client
            .post("/auth/logout")
            .header("origin", &ctx.origin);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let answer = request.send().await;
        answer.assert_error(401, "unauthorized");
        answer.assert_clears_both_cookies();
        assert_eq!(ctx.live("alice").await, 1);
    }
    ctx.me(&third).await.assert_ok();
    // The current one does.
    let answer = ctx
        .cookie_request(
            Method::POST,
            "/auth/logout",
            &third.access_header(),
            Some(&ctx.origin),
            None,
        )
        .await;
    answer.assert_ok();
    assert_eq!(ctx.live("alice").await, 0);
}

pub(super) async fn logout_with_a_bearer_token_needs_no_origin(ctx: Arc<Ctx>) {
    let login = ctx.header_login("alice", "wonderland").await;
    let access = login.json["access_token"].as_str().unwrap_or_default();
    let answer = ctx
        .client
        .post("/auth/logout")
        .header("authorization", format!("Bearer {access}"))
        .header("origin", "https://other.example")
        .send()
        .await;
    answer.assert_ok();
    assert_eq!(ctx.live("alice").await, 0);
}

pub(super) async fn logout_with_a_forged_token_is_401(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    for cookie in [
        format!("{ACCESS}=a.b.c"),
        String::from("__Secure-sk-refresh=skr_forged"),
        String::new(),
    ] {
        let answer = ctx
            .cookie_request(
                Method::POST,
                "/auth/logout",
                &cookie,
                Some(&ctx.origin),
                None,
            )
            .await;
        answer.assert_error(401, "unauthorized");
        answer.assert_clears_both_cookies();
    }
    assert_eq!(ctx.live("alice").await, 1);
    ctx.refresh(&jar).await.assert_ok();
}

pub(super) async fn logout_all_revokes_every_session_of_the_caller_only(ctx: Arc<Ctx>) {
    let first = ctx.session("alice").await;
    let _second = ctx.session("alice").await;
    let bob = ctx.session("bob").await;
    let answer = ctx.post("/auth/logout-all", &first).await;
    answer.assert_ok();
    assert_eq!(answer.json, json!({ "revoked": 2 }));
    answer.assert_logged_out();
    assert_eq!(ctx.live("alice").await, 0);
    assert_eq!(ctx.live("bob").await, 1);
    ctx.refresh(&bob).await.assert_ok();
}
