//! SEC-50, through the public API: a manager's or a verifier's cache of
//! verified tokens answers exactly as a full verification would.

#![cfg(test)]

mod common;

use std::sync::Arc;

use common::*;
use sessionkit::clock::ManualClock;
use sessionkit::jwks::Jwks;
use sessionkit::{MemoryStore, Rejection, SessionManager, SigningKey, Verifier, VerifyError};

fn eddsa_manager(clock: &Arc<ManualClock>, key: SigningKey) -> SessionManager<MemoryStore> {
    SessionManager::builder(MemoryStore::new())
        .signing_key(key)
        .refresh_key(refresh_key())
        .verified_token_cache(100)
        .clock(Arc::clone(clock))
        .build()
        .unwrap()
}

#[tokio::test]
async fn sec_50_a_managers_cache_answers_as_verification_does() {
    let f = fixture_with(|b| b.verified_token_cache(100));
    let s = f.manager.create("alice").await.unwrap();
    let first = f.manager.verify(s.access_token.expose()).unwrap();
    let again = f.manager.verify(s.access_token.expose()).unwrap();
    assert_eq!(first.user_id(), again.user_id());
    assert_eq!(first.session_handle(), again.session_handle());
    // Revocation: stateless verification does not see it, cached or not;
    // strict verification asks the store, cached or not.
    f.manager.revoke(&s.handle).await.unwrap();
    assert!(f.manager.verify(s.access_token.expose()).is_ok());
    assert!(matches!(
        f.manager.verify_strict(s.access_token.expose()).await,
        Err(VerifyError::Unauthorized(Rejection::SessionNotFound))
    ));
    // Past exp + leeway: refresh, as without a cache.
    f.advance(600 + 30);
    assert!(matches!(
        f.manager.verify(s.access_token.expose()),
        Err(VerifyError::TryRefresh)
    ));
}

#[tokio::test]
async fn sec_50_a_verifiers_new_jwks_drops_a_removed_keys_tokens() {
    let clock = Arc::new(ManualClock::at_unix(T0));
    let old = SigningKey::ed25519("old", &[1; 32]).unwrap();
    let issuer = eddsa_manager(&clock, old.clone());
    let s = issuer.create("alice").await.unwrap();
    let verifier = Verifier::builder()
        .jwks(Jwks::new(vec![old.verifying_key().unwrap()]).unwrap())
        .verified_token_cache(100)
        .clock(Arc::clone(&clock))
        .build()
        .unwrap();
    verifier.verify(s.access_token.expose()).unwrap();
    verifier.verify(s.access_token.expose()).unwrap();
    // The issuer's new JWKS no longer has the old key.
    let new = SigningKey::ed25519("new", &[2; 32]).unwrap();
    verifier
        .set_jwks(Jwks::new(vec![new.verifying_key().unwrap()]).unwrap())
        .unwrap();
    assert!(matches!(
        verifier.verify(s.access_token.expose()),
        Err(VerifyError::Unauthorized(Rejection::UnknownKey))
    ));
}
