//! The public rotation scenarios, as SuperTokens and Auth0 document them,
//! run end to end on the memory store with an injected clock.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use serde_json::json;
use sessionkit::clock::Clock;
use sessionkit::store::SessionStore;
use sessionkit::{RefreshError, Rejection, SessionManager, SigningKey, VerifyError};
use time::Duration;

fn is_theft(r: &Result<sessionkit::SessionTokens, RefreshError>) -> bool {
    matches!(r, Err(RefreshError::TokenTheftDetected { .. }))
}

fn is_unauthorized(r: &Result<sessionkit::SessionTokens, RefreshError>) -> bool {
    matches!(r, Err(RefreshError::Unauthorized(_)))
}

/// 1. create -> R1; refresh R1 -> R2; refresh R2 -> R3; replay R1 -> theft,
///    session revoked, R3 fails.
#[tokio::test]
async fn scenario_01_replay_two_generations_back_is_theft() {
    let f = fixture();
    let m = &f.manager;
    let s = m.create("alice").await.unwrap();
    let r2 = m.refresh(s.refresh_token.expose()).await.unwrap();
    let r3 = m.refresh(r2.refresh_token.expose()).await.unwrap();
    assert_ne!(r2.refresh_token, r3.refresh_token);
    match m.refresh(s.refresh_token.expose()).await {
        Err(RefreshError::TokenTheftDetected { handle, user_id }) => {
            assert_eq!(handle, s.handle);
            assert_eq!(user_id, "alice");
        }
        other => panic!("expected theft, got {other:?}"),
    }
    assert!(
        m.session(&s.handle).await.unwrap().is_none(),
        "no live session"
    );
    assert!(is_unauthorized(&m.refresh(r3.refresh_token.expose()).await));
    assert_eq!(f.theft_events(), 1);
}

/// 2. refresh R1 -> R2; replay R1 after the grace -> theft; with grace 0 at once.
#[tokio::test]
async fn scenario_02_replay_after_grace_is_theft_and_at_once_without_grace() {
    let f = fixture_grace(10);
    let s = f.manager.create("alice").await.unwrap();
    let r2 = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    f.advance(10);
    // Still inside: exactly at the edge of the window.
    assert!(f.manager.refresh(s.refresh_token.expose()).await.is_ok());
    f.advance(1);
    assert!(is_theft(&f.manager.refresh(s.refresh_token.expose()).await));
    assert!(is_unauthorized(
        &f.manager.refresh(r2.refresh_token.expose()).await
    ));

    let f = fixture_grace(0);
    let s = f.manager.create("alice").await.unwrap();
    f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    assert!(is_theft(&f.manager.refresh(s.refresh_token.expose()).await));
}

/// 3. refresh R1 twice inside the grace -> the same R2 both times; no store
///    write the second time.
#[tokio::test]
async fn scenario_03_retry_inside_grace_returns_same_successor_without_write() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    let first = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    let before = f.store.load(&s.handle).await.unwrap().unwrap();
    f.advance(3);
    let second = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    assert_eq!(first.refresh_token, second.refresh_token);
    let after = f.store.load(&s.handle).await.unwrap().unwrap();
    assert_eq!(before, after, "a grace retry must not write");
    f.manager.verify(second.access_token.expose()).unwrap();
    // The lineage continues from the shared successor.
    f.manager
        .refresh(second.refresh_token.expose())
        .await
        .unwrap();
}

/// 4. tampered R1 (one byte flipped in the secret or MAC) -> Unauthorized,
///    session still works.
#[tokio::test]
async fn scenario_04_tampered_token_is_unauthorized_and_session_survives() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    let text = s.refresh_token.expose();
    // The last characters encode the MAC, the middle ones the secret.
    for pos in [text.len() - 1, text.len() - 30, text.len() - 60] {
        let mut bytes = text.as_bytes().to_vec();
        bytes[pos] = if bytes[pos] == b'x' { b'y' } else { b'x' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(is_unauthorized(&f.manager.refresh(&tampered).await));
    }
    assert_eq!(f.theft_events(), 0);
    f.manager.refresh(s.refresh_token.expose()).await.unwrap();
}

/// 5. revoke(handle) -> refresh fails; stateless verify of its access token
///    still works until exp; strict verify fails at once.
#[tokio::test]
async fn scenario_05_revoke_stops_refresh_and_strict_verify() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    f.manager
        .verify_strict(s.access_token.expose())
        .await
        .unwrap();
    assert!(f.manager.revoke(&s.handle).await.unwrap());
    assert!(is_unauthorized(
        &f.manager.refresh(s.refresh_token.expose()).await
    ));
    f.manager.verify(s.access_token.expose()).unwrap();
    assert!(matches!(
        f.manager.verify_strict(s.access_token.expose()).await,
        Err(VerifyError::Unauthorized(Rejection::SessionNotFound))
    ));
    f.advance(600 + 30);
    assert!(matches!(
        f.manager.verify(s.access_token.expose()),
        Err(VerifyError::TryRefresh)
    ));
}

/// 6. access token expired -> TryRefresh; refresh works; the new access token
///    verifies.
#[tokio::test]
async fn scenario_06_expired_access_token_says_try_refresh() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    // 10 minutes + 30 s leeway: still valid at the edge, expired after.
    f.advance(600 + 29);
    f.manager.verify(s.access_token.expose()).unwrap();
    f.advance(1);
    assert!(matches!(
        f.manager.verify(s.access_token.expose()),
        Err(VerifyError::TryRefresh)
    ));
    let next = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    let v = f.manager.verify(next.access_token.expose()).unwrap();
    assert_eq!(v.generation(), 1);
    assert_eq!(v.session_handle(), s.handle);
}

/// 7. revoke_all_for_user(u) -> every session of u fails to refresh; user v
///    is unaffected.
#[tokio::test]
async fn scenario_07_revoke_all_for_user_spares_other_users() {
    let f = fixture();
    let mut alice = Vec::new();
    for _ in 0..3 {
        alice.push(f.manager.create("alice").await.unwrap());
    }
    let bob = f.manager.create("bob").await.unwrap();
    assert_eq!(
        f.manager.revoke_all_for_user("alice", None).await.unwrap(),
        3
    );
    for s in &alice {
        assert!(is_unauthorized(
            &f.manager.refresh(s.refresh_token.expose()).await
        ));
    }
    f.manager.refresh(bob.refresh_token.expose()).await.unwrap();
}

/// 8. idle expiry and absolute expiry, each at -1 s and +1 s.
#[tokio::test]
async fn scenario_08_idle_and_absolute_expiry_at_the_edges() {
    let idle = 3600;
    let absolute = 3 * 3600;
    let make = || {
        fixture_with(|b| {
            b.refresh_idle_ttl(Duration::seconds(idle))
                .absolute_ttl(Duration::seconds(absolute))
        })
    };
    // Idle: one second before the limit the token refreshes, at +1 s it does not.
    let f = make();
    let s = f.manager.create("alice").await.unwrap();
    f.advance(idle - 1);
    let s2 = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    let f2 = make();
    let t = f2.manager.create("alice").await.unwrap();
    f2.advance(idle + 1);
    assert!(matches!(
        f2.manager.refresh(t.refresh_token.expose()).await,
        Err(RefreshError::Unauthorized(Rejection::Expired))
    ));
    // Absolute: activity slides the idle expiry but never past the absolute one.
    let mut current = s2;
    let mut elapsed = idle - 1;
    while elapsed + (idle - 1) < absolute - 1 {
        f.advance(idle - 1);
        elapsed += idle - 1;
        current = f
            .manager
            .refresh(current.refresh_token.expose())
            .await
            .unwrap();
    }
    assert!(current.refresh_expires_at <= current.session_expires_at);
    f.advance(absolute - 1 - elapsed);
    let last = f
        .manager
        .refresh(current.refresh_token.expose())
        .await
        .unwrap();
    assert_eq!(last.refresh_expires_at, last.session_expires_at);
    assert!(last.access_expires_at <= last.session_expires_at);
    f.advance(2);
    assert!(matches!(
        f.manager.refresh(last.refresh_token.expose()).await,
        Err(RefreshError::Unauthorized(Rejection::Expired))
    ));
}

/// 9. 64 concurrent refreshes with one token -> all carry the same successor
///    (grace > 0) or exactly one succeeds (grace 0); one lineage remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scenario_09_sec_20_sixty_four_concurrent_refreshes() {
    for grace in [10, 0] {
        let f = fixture_grace(grace);
        let s = f.manager.create("alice").await.unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let m = f.manager.clone();
                let token = s.refresh_token.expose().to_owned();
                tokio::spawn(async move { m.refresh(&token).await })
            })
            .collect();
        let mut ok = HashSet::new();
        let mut thefts = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(tokens) => {
                    ok.insert(tokens.refresh_token.expose().to_owned());
                }
                Err(RefreshError::TokenTheftDetected { .. }) => thefts += 1,
                Err(_) => {}
            }
        }
        if grace > 0 {
            assert_eq!(ok.len(), 1, "one successor for everyone");
            assert_eq!(thefts, 0);
            let record = f.store.load(&s.handle).await.unwrap().unwrap();
            assert_eq!(record.generation, 1);
        } else {
            // Exactly one rotation wins; at least one loser then presents a
            // retired token, which is theft and ends the session.
            assert_eq!(ok.len(), 1, "one rotation wins");
            assert!(thefts >= 1);
            assert!(f.manager.session(&s.handle).await.unwrap().is_none());
        }
    }
}

/// 10. an access token signed with a retired key verifies until the key's
///     retirement window (access lifetime + leeway) ends; after it, it is
///     only ever an expired token.
#[tokio::test]
async fn scenario_10_retired_key_verifies_until_its_window_ends() {
    let f = fixture();
    let s = f
        .manager
        .create("alice")
        .claims(json!({"role": "x"}))
        .await
        .unwrap();
    let retired_at = f.clock.now();
    let rotated = SessionManager::builder(Arc::clone(&f.store))
        .signing_key(SigningKey::hs256("next-key", &[0x33; 32]).unwrap())
        .retired_signing_key(signing_key(), retired_at)
        .refresh_key(refresh_key())
        .clock(Arc::clone(&f.clock))
        .build()
        .unwrap();
    rotated.verify(s.access_token.expose()).unwrap();
    let renewed = rotated.refresh(s.refresh_token.expose()).await.unwrap();
    rotated.verify(renewed.access_token.expose()).unwrap();
    // The old manager does not know the new key.
    assert!(matches!(
        f.manager.verify(renewed.access_token.expose()),
        Err(VerifyError::Unauthorized(Rejection::UnknownKey))
    ));
    f.advance(600 + 30 - 1);
    rotated.verify(s.access_token.expose()).unwrap();
    f.advance(1);
    // The window is over: the old key no longer makes any token valid. The
    // token it signed has expired by then, and is recognised as such, so
    // its holder refreshes instead of being logged out (SEC-44).
    assert!(matches!(
        rotated.verify(s.access_token.expose()),
        Err(VerifyError::TryRefresh)
    ));
}
