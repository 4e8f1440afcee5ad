//! The page, the browser client, unknown routes and the JWKS.

use std::sync::Arc;

use super::Ctx;

pub(super) async fn page_is_served_with_its_stable_ids_and_messages(ctx: Arc<Ctx>) {
    let answer = ctx.client.get("/").send().await;
    answer.assert_ok();
    assert!(answer.header("content-type").starts_with("text/html"));
    let csp = answer.header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    for id in [
        "login-form",
        "username",
        "password",
        "login",
        "message",
        "whoami",
        "current-session",
        "sessions",
        "reload",
        "logout",
        "logout-all",
    ] {
        assert!(answer.text.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(answer.text.contains("from \"/sessionkit.js\""));
    assert!(!answer.text.contains("src=\"http"), "no external assets");
    // What the user is told when the session ends without them asking, one
    // message per reason the refresh route gives.
    for (reason, text) in [
        ("theft", "a copy of your sign-in was used elsewhere"),
        ("signed_out", "You were signed out from another device"),
        ("expired", "Your session expired"),
    ] {
        let line = answer
            .text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{reason}:")))
            .unwrap_or_else(|| panic!("no message for {reason}"));
        assert!(line.contains(text), "{reason}: {line}");
    }
    // The session list's columns.
    for column in ["Device", "Started", "Last active", "this device"] {
        assert!(answer.text.contains(column), "{column}");
    }
}

pub(super) async fn browser_client_is_served(ctx: Arc<Ctx>) {
    let answer = ctx.client.get("/sessionkit.js").send().await;
    answer.assert_ok();
    assert!(
        answer.header("content-type").starts_with("text/javascript"),
        "{:?}",
        answer.headers
    );
    assert_eq!(answer.text, sessionkit::web::BROWSER_CLIENT_JS);
    assert!(answer.text.contains("navigator.locks"));
    assert!(answer.text.contains("export function createClient"));
}

pub(super) async fn unknown_routes_and_methods_answer_json(ctx: Arc<Ctx>) {
    ctx.client
        .get("/nope")
        .send()
        .await
        .assert_error(404, "not_found");
    for (method, path) in [
        (reqwest::Method::GET, "/auth/refresh"),
        (reqwest::Method::GET, "/auth/logout"),
        (reqwest::Method::PUT, "/auth/sessions"),
        (reqwest::Method::GET, "/auth/login"),
    ] {
        let answer = ctx.client.request(method.clone(), path).send().await;
        answer.assert_error(405, "method_not_allowed");
        assert!(
            answer
                .header("content-type")
                .starts_with("application/json")
        );
    }
}

pub(super) async fn jwks_is_404_with_hs256(ctx: Arc<Ctx>) {
    ctx.client
        .get("/.well-known/jwks.json")
        .send()
        .await
        .assert_error(404, "not_found");
}

pub(super) async fn jwks_is_published_with_eddsa(ctx: Arc<Ctx>) {
    let answer = ctx.client.get("/.well-known/jwks.json").send().await;
    answer.assert_ok();
    assert_eq!(answer.header("content-type"), "application/jwk-set+json");
    let keys = answer.json["keys"].as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), 1, "{}", answer.text);
    assert_eq!(keys.first().map(|k| k["kty"].clone()), Some("OKP".into()));
    assert!(!answer.text.contains("\"d\""), "no private key material");
    // And the tokens verify end to end.
    let jar = ctx.session("bob").await;
    assert_eq!(ctx.me(&jar).await.json["user_id"], "bob");
}
