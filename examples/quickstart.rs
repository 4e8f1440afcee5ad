//! The whole life of a session on the in-memory store: create, verify,
//! refresh, and a stolen refresh token caught when it is replayed.
//!
//! Run it with `cargo run --example quickstart`.

use std::error::Error;

use serde_json::json;
use sessionkit::{MemoryStore, RefreshError, RefreshKey, SessionManager, SigningKey};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    // In production, load both keys from your secret manager; every instance
    // of the app must use the same ones.
    let manager = SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::generate_hs256("demo-key")?)
        .refresh_key(RefreshKey::generate(1)?)
        .event_hook(|event: &sessionkit::SessionEvent| println!("   [event hook] {event:?}"))
        .build()?;

    println!("1. create: alice logs in");
    let session = manager
        .create("alice")
        .claims(json!({ "role": "reader" }))
        .await?;
    println!(
        "   session {} (access token expires {})",
        session.handle, session.access_expires_at
    );

    println!("2. verify: the access token is checked without touching the store");
    let verified = manager.verify(session.access_token.expose())?;
    println!(
        "   user {} in session {}, role {}",
        verified.user_id(),
        verified.session_handle(),
        verified.claims()["role"]
    );

    println!("3. refresh: the refresh token is rotated (the old one is retired)");
    let second = manager.refresh(session.refresh_token.expose()).await?;
    let third = manager.refresh(second.refresh_token.expose()).await?;
    let generation = manager.verify(third.access_token.expose())?.generation();
    println!("   now at generation {generation}");

    println!("4. an attacker replays a copy of the first refresh token");
    match manager.refresh(session.refresh_token.expose()).await {
        Err(RefreshError::TokenTheftDetected { handle, user_id }) => {
            println!("   theft detected: session {handle} of {user_id} revoked");
        }
        other => return Err(format!("expected theft detection, got {other:?}").into()),
    }

    println!("5. the owner's newest refresh token no longer works either");
    match manager.refresh(third.refresh_token.expose()).await {
        Err(RefreshError::Unauthorized(reason)) => println!("   refused: {reason}"),
        other => return Err(format!("expected refusal, got {other:?}").into()),
    }
    match manager.verify_strict(third.access_token.expose()).await {
        Err(e) => println!("   strict verification of its access token: {e}"),
        Ok(_) => return Err("strict verification accepted a revoked session".into()),
    }
    if manager.session(&session.handle).await?.is_some() {
        return Err("the stolen session is still live".into());
    }
    println!(
        "done: the session is revoked (its tombstone tells later tokens why, until it expires)"
    );
    Ok(())
}
