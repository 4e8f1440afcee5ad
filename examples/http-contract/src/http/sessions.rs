//! The session list, revoking one session, and the CSRF refusals.

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;
use time::Duration;

use super::Ctx;

pub(super) async fn sessions_lists_the_callers_live_sessions_with_device_and_times(ctx: Arc<Ctx>) {
    let first = ctx.session("alice").await;
    ctx.clock.advance(Duration::seconds(5));
    let second = ctx.session("alice").await;
    let third = ctx.session("alice").await;
    let _bob = ctx.session("bob").await;
    ctx.post("/auth/logout", &third).await.assert_ok();
    ctx.clock.advance(Duration::seconds(7));
    let second = crate::client::Jar::from(&ctx.refresh(&second).await);

    let answer = ctx.sessions(&second).await;
    answer.assert_ok();
    answer.assert_no_store();
    let list = answer.json.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 2, "{}", answer.text);
    let mine = ctx.handle_of(&second).await;
    let theirs = ctx.handle_of(&first).await;
    let now = ctx.clock_now();
    for entry in &list {
        let current = entry["session_handle"] == mine.as_str();
        assert_eq!(entry["current"], current, "{entry}");
        assert!(
            current || entry["session_handle"] == theirs.as_str(),
            "{entry}"
        );
        assert_eq!(entry["device"], "Firefox on Linux", "{entry}");
        let created = entry["created_at"].as_i64().unwrap_or(0);
        let active = entry["last_active_at"].as_i64().unwrap_or(0);
        if current {
            // Refreshed just now, created 7 seconds ago.
            assert_eq!((created, active), (now - 7, now), "{entry}");
        } else {
            // Never refreshed: last active when it started.
            assert_eq!((created, active), (now - 12, now - 12), "{entry}");
        }
    }
    // Oldest first.
    assert_eq!(
        list.first().map(|e| e["session_handle"].clone()),
        Some(theirs.into())
    );
}

pub(super) async fn deleting_one_of_my_sessions_works(ctx: Arc<Ctx>) {
    let laptop = ctx.session("alice").await;
    let phone = ctx.session("alice").await;
    let phone_handle = ctx.handle_of(&phone).await;
    let answer = ctx
        .cookie_request(
            Method::DELETE,
            &format!("/auth/sessions/{phone_handle}"),
            &laptop.both_header(),
            Some(&ctx.origin),
            Some("same-origin"),
        )
        .await;
    answer.assert_ok();
    assert_eq!(answer.json, json!({ "revoked": 1 }));
    // Another session: this browser's cookies stay.
    assert!(
        answer.set_cookies().is_empty(),
        "{:?}",
        answer.set_cookies()
    );
    assert_eq!(ctx.live("alice").await, 1);
    // The phone is told why: it was signed out from another device.
    let refused = ctx.refresh(&phone).await;
    refused.assert_error(401, "unauthorized");
    assert_eq!(refused.json["reason"], "signed_out", "{}", refused.text);
    let laptop = crate::client::Jar::from(&ctx.refresh(&laptop).await);
    // Revoking the current session logs this browser out.
    let own = ctx.handle_of(&laptop).await;
    let answer = ctx
        .cookie_request(
            Method::DELETE,
            &format!("/auth/sessions/{own}"),
            &laptop.both_header(),
            Some(&ctx.origin),
            None,
        )
        .await;
    answer.assert_ok();
    answer.assert_logged_out();
    assert_eq!(ctx.live("alice").await, 0);
}

pub(super) async fn deleting_another_users_session_is_404_and_changes_nothing(ctx: Arc<Ctx>) {
    let alice = ctx.session("alice").await;
    let bob = ctx.session("bob").await;
    let bob_handle = ctx.handle_of(&bob).await;
    for handle in [bob_handle.as_str(), "AAAAAAAAAAAAAAAAAAAAAAAA", "nope"] {
        ctx.cookie_request(
            Method::DELETE,
            &format!("/auth/sessions/{handle}"),
            &alice.both_header(),
            Some(&ctx.origin),
            None,
        )
        .await
        .assert_error(404, "not_found");
    }
    assert_eq!(ctx.live("bob").await, 1);
    ctx.refresh(&bob).await.assert_ok();
}

pub(super) async fn sec_38_cross_site_cookie_requests_are_403_and_change_nothing(ctx: Arc<Ctx>) {
    let jar = ctx.session("alice").await;
    let other = ctx.session("alice").await;
    let other_handle = ctx.handle_of(&other).await;
    let port = ctx.origin.rsplit(':').next().unwrap_or("0");
    let next_port = format!("http://localhost:{}", port.parse::<u32>().unwrap_or(0) + 1);
    let foreign = [
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (Some(next_port.as_str()), None),
        (None, Some("cross-site")),
        (Some(ctx.origin.as_str()), Some("cross-site")),
    ];
    for (origin, site) in foreign {
        let requests = [
            (Method::POST, "/auth/logout".to_owned()),
            (Method::POST, "/auth/logout-all".to_owned()),
            (Method::POST, "/auth/refresh".to_owned()),
            (Method::DELETE, format!("/auth/sessions/{other_handle}")),
        ];
        for (method, path) in requests {
            for cookie in [jar.both_header(), jar.access_header(), jar.refresh_header()] {
                let answer = ctx
                    .cookie_request(method.clone(), &path, &cookie, origin, site)
                    .await;
                assert_eq!(
                    (answer.status, answer.error()),
                    (403, "csrf"),
                    "{method} {path} {origin:?} {site:?} {cookie}"
                );
                assert!(answer.set_cookies().is_empty());
            }
        }
        // Login CSRF: no session is created for a forged login.
        let forged = ctx
            .client
            .post("/auth/login")
            .maybe_header("origin", origin)
            .maybe_header("sec-fetch-site", site)
            .json(&json!({ "username": "bob", "password": "builder" }))
            .send()
            .await;
        forged.assert_error(403, "csrf");
    }
    assert_eq!(ctx.live("bob").await, 0);
    // Nothing changed: both sessions live, and the refresh token unused.
    assert_eq!(ctx.live("alice").await, 2);
    ctx.refresh(&jar).await.assert_ok();
}

pub(super) async fn sec_38_allowed_origins_and_non_browser_requests_pass(ctx: Arc<Ctx>) {
    let port = ctx.origin.rsplit(':').next().unwrap_or("0").to_owned();
    let localhost = format!("http://localhost:{port}");
    for origin in [Some(ctx.origin.as_str()), Some(localhost.as_str()), None] {
        let jar = ctx.session("alice").await;
        let answer = ctx
            .cookie_request(
                Method::POST,
                "/auth/logout",
                &jar.both_header(),
                origin,
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{origin:?}: {}", answer.text);
    }
    assert_eq!(ctx.live("alice").await, 0);
}
