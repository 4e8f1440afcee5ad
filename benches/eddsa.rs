//! EdDSA verification: sessionkit's `Verifier::verify` (parsing, strict
//! header checks, signature, claims) against the bare signature check it is
//! built on (`verify_strict`, which sessionkit uses, and the plain
//! `verify`), and the same token verified again through a verifier with a
//! cache of verified tokens.
//!
//! `cargo bench --bench eddsa -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::Verifier as _;
use serde_json::json;
use sessionkit::clock::ManualClock;
use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey, Verifier};

const SEED: [u8; 32] = [42u8; 32];

fn verify_eddsa(c: &mut Criterion) {
    let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
    let manager = SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::ed25519("ed-1", &SEED).unwrap())
        .refresh_key(RefreshKey::new(1, &[9u8; 32]).unwrap())
        .issuer("https://auth.example")
        .audience("api")
        .clock(Arc::clone(&clock))
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let token = runtime
        .block_on(
            manager
                .create("user-42")
                .claims(json!({ "role": "admin" }))
                .into_future(),
        )
        .unwrap()
        .access_token
        .into_string();
    let verifier = Verifier::builder()
        .jwks(manager.jwks())
        .issuer("https://auth.example")
        .audience("api")
        .clock(Arc::clone(&clock))
        .build()
        .unwrap();
    assert!(verifier.verify(&token).is_ok());

    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .unwrap()
        .try_into()
        .unwrap();
    let signature = ed25519_dalek::Signature::from_bytes(&signature);
    let public = ed25519_dalek::SigningKey::from_bytes(&SEED).verifying_key();
    assert!(
        public
            .verify_strict(signing_input.as_bytes(), &signature)
            .is_ok()
    );

    let cached = Verifier::builder()
        .jwks(manager.jwks())
        .issuer("https://auth.example")
        .audience("api")
        .clock(Arc::clone(&clock))
        .verified_token_cache(1024)
        .build()
        .unwrap();
    assert!(cached.verify(&token).is_ok());
    assert!(cached.verify(&token).is_ok());

    let mut group = c.benchmark_group("verify_eddsa");
    group.bench_function("sessionkit_verifier_cached_repeat", |b| {
        b.iter(|| cached.verify(black_box(&token)).unwrap())
    });
    group.bench_function("sessionkit_verifier", |b| {
        b.iter(|| verifier.verify(black_box(&token)).unwrap())
    });
    group.bench_function("ed25519_dalek_verify_strict", |b| {
        b.iter(|| {
            public
                .verify_strict(black_box(signing_input.as_bytes()), black_box(&signature))
                .unwrap()
        })
    });
    // The plain check (`Verifier::verify`, without `verify_strict`'s
    // rejection of small-order keys and non-canonical points).
    group.bench_function("ed25519_dalek_verify", |b| {
        b.iter(|| {
            public
                .verify(black_box(signing_input.as_bytes()), black_box(&signature))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, verify_eddsa);
criterion_main!(benches);
