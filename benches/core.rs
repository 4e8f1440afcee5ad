//! Core costs on the memory store: access-token verification beside the raw
//! HMAC floor, and create / refresh / grace refresh.
//!
//! `cargo bench --bench core`
#![allow(clippy::expect_used, reason = "a benchmark stops on the first failure")]

use std::hint::black_box;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sessionkit::{ManualClock, MemoryStore, RefreshKey, SessionManager, SigningKey};
use sha2::Sha256;

const KEY: [u8; 32] = [0x42; 32];

fn manager() -> SessionManager<MemoryStore> {
    SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::hs256("bench", &KEY).expect("valid key"))
        .refresh_key(RefreshKey::new(1, &[0x24; 32]).expect("valid key"))
        .clock(Arc::new(ManualClock::starting_now()))
        .build()
        .expect("valid configuration")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

fn verify(c: &mut Criterion) {
    let rt = runtime();
    let m = manager();
    let s = rt
        .block_on(m.create("user-1234", json!({"role": "admin"}), json!(null)))
        .expect("create");
    let token = s.access_token.expose().to_owned();
    let (signing_input, signature) = token.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    let mut group = c.benchmark_group("verify_hs256");
    group.bench_function("sessionkit_verify", |b| {
        b.iter(|| m.verify(black_box(&token)).expect("valid"))
    });
    // The floor: keying HMAC-SHA256 and checking the same signature.
    group.bench_function("raw_hmac_sha256", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&KEY).expect("any key length");
            mac.update(black_box(signing_input.as_bytes()));
            mac.verify_slice(black_box(&signature)).expect("valid")
        })
    });
    group.finish();
}

fn sessions(c: &mut Criterion) {
    let rt = runtime();
    let m = manager();
    let mut group = c.benchmark_group("memory_store");
    group.bench_function("create", |b| {
        b.iter(|| {
            rt.block_on(m.create("user-1234", json!(null), json!(null)))
                .expect("create")
        })
    });
    let s = rt
        .block_on(m.create("user-1234", json!(null), json!(null)))
        .expect("create");
    let mut token = s.refresh_token;
    group.bench_function("refresh", |b| {
        b.iter(|| {
            token = rt
                .block_on(m.refresh(token.expose()))
                .expect("refresh")
                .refresh_token;
        })
    });
    let s = rt
        .block_on(m.create("user-5678", json!(null), json!(null)))
        .expect("create");
    rt.block_on(m.refresh(s.refresh_token.expose()))
        .expect("refresh");
    group.bench_function("refresh_inside_grace", |b| {
        b.iter(|| {
            rt.block_on(m.refresh(s.refresh_token.expose()))
                .expect("grace")
        })
    });
    group.bench_function("verify_strict", |b| {
        let s = rt
            .block_on(m.create("user-9", json!(null), json!(null)))
            .expect("create");
        b.iter(|| {
            rt.block_on(m.verify_strict(s.access_token.expose()))
                .expect("valid")
        })
    });
    group.finish();
}

criterion_group!(benches, verify, sessions);
criterion_main!(benches);
