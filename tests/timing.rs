//! SEC-04, measured: refresh-token checks take the same time wherever the
//! first wrong byte is. A statistical test (Welch's t over interleaved
//! samples, as in dudect), ignored in the normal run because it measures
//! time:
//!
//! ```sh
//! cargo test --release --all-features --test timing -- --ignored --nocapture
//! ```
//!
//! |t| below 4.5 (dudect's threshold) means no difference was detected.

#![cfg(test)]

use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sessionkit::store::TokenHash;
use sessionkit::testing::fuzz;
use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};

/// dudect's threshold: above it, the timings differ.
const THRESHOLD: f64 = 4.5;
const SAMPLES: usize = 20_000;
const BATCH: usize = 50;

/// Welch's t statistic of two samples, after dropping the slowest 5 % of
/// each (interrupts, preemption).
fn welch_t(a: &mut [f64], b: &mut [f64]) -> f64 {
    fn crop(x: &mut [f64]) -> &[f64] {
        x.sort_by(f64::total_cmp);
        let keep = x.len() * 95 / 100;
        &x[..keep]
    }
    fn mean_var(x: &[f64]) -> (f64, f64) {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }
    let (a, b) = (crop(a), crop(b));
    let (ma, va) = mean_var(a);
    let (mb, vb) = mean_var(b);
    (ma - mb) / (va / a.len() as f64 + vb / b.len() as f64).sqrt()
}

/// Times `f` on the two inputs, interleaved in a pseudo-random order.
fn measure<T>(inputs: [&T; 2], f: impl Fn(&T) -> bool) -> f64 {
    let mut times = [Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES)];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..2 * SAMPLES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let which = (state & 1) as usize;
        if times[which].len() == SAMPLES {
            continue;
        }
        let input = inputs[which];
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(f(black_box(input)));
        }
        times[which].push(start.elapsed().as_nanos() as f64);
    }
    let [mut a, mut b] = times;
    welch_t(&mut a, &mut b)
}

/// A genuine refresh token with one byte of its raw form changed.
fn tampered(token: &[u8], raw_index: usize) -> Vec<u8> {
    let text = std::str::from_utf8(token).expect("ascii");
    let (prefix, encoded) = text.split_at(4);
    let mut raw = URL_SAFE_NO_PAD.decode(encoded).expect("base64url");
    raw[raw_index] ^= 0x80;
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw)).into_bytes()
}

#[test]
#[ignore = "measures time; run by hand with --release"]
fn sec_04_refresh_token_mac_check_time_does_not_depend_on_the_first_wrong_byte() {
    let token = fuzz::refresh_token_seeds().remove(0);
    let raw_len = URL_SAFE_NO_PAD
        .decode(&token[4..])
        .expect("base64url")
        .len();
    // The MAC is the last 32 bytes: wrong at its first byte, or its last.
    let first = tampered(&token, raw_len - 32);
    let last = tampered(&token, raw_len - 1);
    assert!(!fuzz::open_refresh_token(&first) && !fuzz::open_refresh_token(&last));
    let t = measure([&first, &last], |t| fuzz::open_refresh_token(t));
    println!(
        "refresh-token MAC: |t| = {:.2} (threshold {THRESHOLD})",
        t.abs()
    );
    assert!(t.abs() < THRESHOLD, "|t| = {t:.2}");
}

#[test]
#[ignore = "measures time; run by hand with --release"]
fn sec_04_secret_hash_comparison_time_does_not_depend_on_the_first_wrong_byte() {
    let stored = TokenHash::from_bytes([0x5a; 32]);
    let mut first = [0x5a; 32];
    first[0] ^= 1;
    let mut last = [0x5a; 32];
    last[31] ^= 1;
    let (first, last) = (TokenHash::from_bytes(first), TokenHash::from_bytes(last));
    let t = measure([&first, &last], |h| stored.ct_eq(h));
    println!("secret hash: |t| = {:.2} (threshold {THRESHOLD})", t.abs());
    assert!(t.abs() < THRESHOLD, "|t| = {t:.2}");
}

/// SEC-50: looking a token up in the cache of verified tokens takes the
/// same time wherever it first differs from a cached one (here: at the
/// first or the last character of the signature of a cached token), as an
/// attacker timing requests sees it: the lookup is by a keyed hash of the
/// whole token, so a near miss lands elsewhere and is verified in full,
/// whose MAC comparison is constant-time. Should a keyed hash collide, the
/// stored token is compared with `constant_time_eq`
/// (`verify_cache::sec_50_a_hash_collision_is_never_answered_from_the_cache`
/// shows that comparison decides).
#[test]
#[ignore = "measures time; run by hand with --release"]
fn sec_50_cached_lookup_time_does_not_depend_on_the_first_wrong_byte() {
    let manager = SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::hs256("timing", &[0x61; 32]).expect("key"))
        .refresh_key(RefreshKey::new(1, &[0x62; 32]).expect("key"))
        .verified_token_cache(1000)
        .build()
        .expect("manager");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let session = rt
        .block_on(manager.create("timing-user").into_future())
        .expect("create");
    let token = session.access_token.expose().to_owned();
    // Seen twice: cached.
    manager.verify(&token).expect("valid");
    manager.verify(&token).expect("cached");
    let signature_at = token.rfind('.').expect("three segments") + 1;
    let change = |i: usize| {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'Q' } else { b'A' };
        String::from_utf8(bytes).expect("ascii")
    };
    let (first, last) = (change(signature_at), change(token.len() - 1));
    assert!(manager.verify(&first).is_err() && manager.verify(&last).is_err());
    let t = measure([&first, &last], |t| manager.verify(t).is_ok());
    println!(
        "cached lookup: |t| = {:.2} (threshold {THRESHOLD})",
        t.abs()
    );
    assert!(t.abs() < THRESHOLD, "|t| = {t:.2}");
}

/// The control: the harness does see a difference where there is one (a
/// token rejected at its prefix against one rejected at its MAC).
#[test]
#[ignore = "measures time; run by hand with --release"]
fn timing_harness_detects_an_early_exit() {
    let token = fuzz::refresh_token_seeds().remove(0);
    let raw_len = URL_SAFE_NO_PAD
        .decode(&token[4..])
        .expect("base64url")
        .len();
    let wrong_mac = tampered(&token, raw_len - 1);
    let wrong_prefix = [b"xxx_".as_slice(), &token[4..]].concat();
    let t = measure([&wrong_mac, &wrong_prefix], |t| fuzz::open_refresh_token(t));
    println!("control: |t| = {:.2} (threshold {THRESHOLD})", t.abs());
    assert!(t.abs() > THRESHOLD, "|t| = {t:.2}");
}
