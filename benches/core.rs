//! Core costs, each beside its peer or floor in the same group and run:
//!
//! - `verify_hs256`: `SessionManager::verify` (and the same token without
//!   its custom claim) against `jsonwebtoken` 11
//!   `decode` of the same token and two raw HMAC-SHA256 floors over the same
//!   signing input (keyed on every call, as a naive caller does, and cloned
//!   from a precomputed keyed state, the stricter floor);
//! - `verified_cache_hs256`: a hit in the cache of verified tokens against
//!   `jsonwebtoken`'s `decode` of the same token, and a miss (a stream of
//!   tokens the cache has not seen) against the same stream verified with
//!   no cache;
//! - `sign_hs256`: signing the same claims with sessionkit and with
//!   `jsonwebtoken::encode`;
//! - `memory_store`: create (for one user, at the session limit, and for a
//!   user under it), refresh, refresh inside the grace window,
//!   revoke, `sessions_for_user` and `verify_strict`, beside the
//!   `tower-sessions` memory store (create, load + save, delete of an
//!   equivalent record).
//!
//! `cargo bench -p sessionkit --bench core`
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a benchmark stops on the first failure"
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use sessionkit::clock::ManualClock;
use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
use sha2::Sha256;
use time::OffsetDateTime;
use tower_sessions_core::SessionStore as _;
use tower_sessions_core::session::{Id, Record};

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

/// The claims of a sessionkit access token, typed, as a `jsonwebtoken` user
/// would declare them.
#[derive(Deserialize, Serialize)]
struct JwtClaims {
    sub: String,
    sid: String,
    #[serde(rename = "gen")]
    generation: u64,
    iat: i64,
    exp: i64,
    auth_time: i64,
    role: String,
}

fn jwt_header() -> jsonwebtoken::Header {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("bench".into());
    header
}

fn verify(c: &mut Criterion) {
    let rt = runtime();
    let m = manager();
    let s = rt
        .block_on(
            m.create("user-1234")
                .claims(json!({"role": "admin"}))
                .into_future(),
        )
        .expect("create");
    let token = s.access_token.expose().to_owned();
    let (signing_input, signature) = token.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    let decoding_key = jsonwebtoken::DecodingKey::from_secret(&KEY);
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::decode::<JwtClaims>(&token, &decoding_key, &validation).expect("peer decodes");
    let keyed = Hmac::<Sha256>::new_from_slice(&KEY).expect("any key length");
    // The same token without the custom claim: what materialising the
    // `claims()` map costs.
    let bare = rt
        .block_on(m.create("user-1234").into_future())
        .expect("create")
        .access_token
        .expose()
        .to_owned();

    let mut group = c.benchmark_group("verify_hs256");
    group.bench_function("sessionkit_verify", |b| {
        b.iter(|| m.verify(black_box(&token)).expect("valid"))
    });
    group.bench_function("sessionkit_verify_no_custom_claims", |b| {
        b.iter(|| m.verify(black_box(&bare)).expect("valid"))
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<JwtClaims>(black_box(&token), &decoding_key, &validation)
                .expect("valid")
        })
    });
    // Floor 1: keying HMAC-SHA256 on every call, as a naive caller does.
    group.bench_function("raw_hmac_sha256", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(&KEY).expect("any key length");
            mac.update(black_box(signing_input.as_bytes()));
            mac.verify_slice(black_box(&signature)).expect("valid")
        })
    });
    // Floor 2 (the stricter): the keyed state computed once and cloned.
    group.bench_function("raw_hmac_sha256_precomputed", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(signing_input.as_bytes()));
            mac.verify_slice(black_box(&signature)).expect("valid")
        })
    });
    group.finish();
}

fn verified_cache(c: &mut Criterion) {
    let rt = runtime();
    let plain = manager();
    let cached = SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::hs256("bench", &KEY).expect("valid key"))
        .refresh_key(RefreshKey::new(1, &[0x24; 32]).expect("valid key"))
        .clock(Arc::new(ManualClock::starting_now()))
        .verified_token_cache(1024)
        .build()
        .expect("valid configuration");
    let token = rt
        .block_on(
            cached
                .create("user-1234")
                .claims(json!({"role": "admin"}))
                .into_future(),
        )
        .expect("create")
        .access_token
        .into_string();
    // A token is kept the second time it verifies.
    cached.verify(&token).expect("valid");
    cached.verify(&token).expect("valid");
    let decoding_key = jsonwebtoken::DecodingKey::from_secret(&KEY);
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // Misses: many more distinct tokens than the cache holds, cycled, so
    // that every verification is a miss; each token comes back only after
    // 16,384 others, so it is a first sight again for the cache.
    let tokens = |prefix: &str| -> Vec<String> {
        (0..16_384)
            .map(|i| {
                rt.block_on(
                    cached
                        .create(format!("{prefix}-{i}"))
                        .claims(json!({"role": "admin"}))
                        .into_future(),
                )
                .expect("create")
                .access_token
                .into_string()
            })
            .collect()
    };
    let stream = tokens("user");
    for t in &stream {
        plain.verify(t).expect("the plain manager shares the key");
    }
    // Misses that insert: a token's second verification, when the cache
    // keeps it (evicting another, the cache being full); its first, which
    // only notes its hash, runs untimed just before. Another 16,384
    // tokens, cycled.
    let second_sight = tokens("other");

    let mut group = c.benchmark_group("verified_cache_hs256");
    group.bench_function("sessionkit_cache_hit", |b| {
        b.iter(|| cached.verify(black_box(&token)).expect("valid"))
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<JwtClaims>(black_box(&token), &decoding_key, &validation)
                .expect("valid")
        })
    });
    let mut i = 0;
    group.bench_function("sessionkit_cache_miss", |b| {
        b.iter(|| {
            i = (i + 1) % stream.len();
            cached.verify(black_box(&stream[i])).expect("valid")
        })
    });
    let mut j = 0;
    group.bench_function("sessionkit_no_cache_same_stream", |b| {
        b.iter(|| {
            j = (j + 1) % stream.len();
            plain.verify(black_box(&stream[j])).expect("valid")
        })
    });
    // The same pair for the second sight: the first verification untimed,
    // the second timed, with and without the cache.
    for (name, manager) in [
        ("sessionkit_cache_miss_that_inserts", &cached),
        ("sessionkit_no_cache_second_sight", &plain),
    ] {
        let mut k = 0;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    k = (k + 1) % second_sight.len();
                    let token = &second_sight[k];
                    manager.verify(token).expect("valid");
                    let start = Instant::now();
                    black_box(manager.verify(black_box(token)).expect("valid"));
                    timed += start.elapsed();
                }
                timed
            })
        });
    }
    group.finish();
}

fn sign(c: &mut Criterion) {
    let key = SigningKey::hs256("bench", &KEY).expect("valid key");
    let handle = sessionkit::SessionHandle::from_bytes([7; 18]);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut custom = Map::new();
    custom.insert("role".into(), json!("admin"));
    let peer_claims = JwtClaims {
        sub: "user-1234".into(),
        sid: handle.to_string(),
        generation: 0,
        iat: now,
        exp: now + 600,
        auth_time: now,
        role: "admin".into(),
    };
    let encoding_key = jsonwebtoken::EncodingKey::from_secret(&KEY);
    let header = jwt_header();

    let mut group = c.benchmark_group("sign_hs256");
    group.bench_function("sessionkit_sign", |b| {
        b.iter(|| {
            sessionkit::testing::sign_access_token(
                &key,
                black_box("user-1234"),
                &handle,
                0,
                now,
                now + 600,
                now,
                &custom,
            )
        })
    });
    group.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| {
            jsonwebtoken::encode(&header, black_box(&peer_claims), &encoding_key).expect("encode")
        })
    });
    group.finish();
}

/// A tower-sessions record holding what a sessionkit record holds for a
/// session without custom claims or data.
fn tower_record(expiry: OffsetDateTime) -> Record {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut data = HashMap::new();
    data.insert("user_id".to_owned(), json!("user-1234"));
    data.insert("created_at".to_owned(), json!(now));
    data.insert("auth_time".to_owned(), json!(now));
    Record {
        id: Id::default(),
        data,
        expiry_date: expiry,
    }
}

fn sessions(c: &mut Criterion) {
    let rt = runtime();
    let m = manager();
    let mut group = c.benchmark_group("memory_store");
    group.bench_function("create", |b| {
        b.iter(|| {
            rt.block_on(m.create("user-1234").into_future())
                .expect("create")
        })
    });
    // The same user every time: past 100 sessions, each create also
    // revokes that user's oldest (max_sessions_per_user); a login of a
    // user under the limit is the next benchmark.
    let mut n = 0u64;
    group.bench_function("create_user_under_the_limit", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(m.create(format!("user-{n}")).into_future())
                .expect("create")
        })
    });
    let s = rt
        .block_on(m.create("user-1234").into_future())
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
        .block_on(m.create("user-5678").into_future())
        .expect("create");
    rt.block_on(m.refresh(s.refresh_token.expose()))
        .expect("refresh");
    group.bench_function("refresh_inside_grace", |b| {
        b.iter(|| {
            rt.block_on(m.refresh(s.refresh_token.expose()))
                .expect("grace")
        })
    });
    group.bench_function("revoke", |b| {
        b.iter_batched(
            || {
                rt.block_on(m.create("user-revoke").into_future())
                    .expect("create")
                    .handle
            },
            |handle| rt.block_on(m.revoke(&handle)).expect("revoke"),
            BatchSize::SmallInput,
        )
    });
    for _ in 0..10 {
        rt.block_on(m.create("user-list").into_future())
            .expect("create");
    }
    group.bench_function("sessions_for_user_10", |b| {
        b.iter(|| {
            let list = rt
                .block_on(m.sessions_for_user(black_box("user-list")))
                .expect("list");
            assert_eq!(list.len(), 10);
            list
        })
    });
    let s = rt
        .block_on(m.create("user-9").into_future())
        .expect("create");
    group.bench_function("verify_strict", |b| {
        b.iter(|| {
            rt.block_on(m.verify_strict(s.access_token.expose()))
                .expect("valid")
        })
    });

    // The peer: tower-sessions' memory store with an equivalent record.
    let store = tower_sessions_memory_store::MemoryStore::default();
    let expiry = OffsetDateTime::now_utc() + time::Duration::days(1);
    group.bench_function("tower_sessions_create", |b| {
        b.iter(|| {
            let mut record = tower_record(expiry);
            rt.block_on(store.create(&mut record)).expect("create");
            record.id
        })
    });
    let mut record = tower_record(expiry);
    rt.block_on(store.create(&mut record)).expect("create");
    let id = record.id;
    group.bench_function("tower_sessions_load_save", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut record = store.load(black_box(&id)).await?.expect("present");
                record.expiry_date = expiry;
                store.save(&record).await
            })
            .expect("load and save")
        })
    });
    group.bench_function("tower_sessions_delete", |b| {
        b.iter_batched(
            || {
                let mut record = tower_record(expiry);
                rt.block_on(store.create(&mut record)).expect("create");
                record.id
            },
            |id| rt.block_on(store.delete(&id)).expect("delete"),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = verify, verified_cache, sign, sessions
}
criterion_main!(benches);
