//! SEC-40 on the stable toolchain: the fuzz targets of `fuzz/` run here on
//! 100,000 generated inputs each (seeded byte mutations of valid tokens and
//! documents). A failure prints the seed and the input; set
//! `SESSIONKIT_SEED` to replay.

#![cfg(test)]

use std::time::Instant;

use sessionkit::testing::fuzz;

const INPUTS: usize = 100_000;

/// SplitMix64: small and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that matter to base64url, JSON and the token formats.
const INTERESTING: &[u8] = b".\"{}[],:0123456789-_eE+\\/= Aaz\x00\xff\xc3\x80nulltrue";

/// One input: a seed with one to four mutations, or a splice of two seeds.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        let pos = rng.below(len + 1);
        match rng.below(8) {
            0 if len > 0 => data[pos.min(len - 1)] ^= 1 << rng.below(8),
            1 if len > 0 => data[pos.min(len - 1)] = INTERESTING[rng.below(INTERESTING.len())],
            2 => data.insert(pos, INTERESTING[rng.below(INTERESTING.len())]),
            3 if len > 0 => {
                let end = (pos + 1 + rng.below(8)).min(len);
                data.drain(pos.min(len - 1)..end);
            }
            4 => data.truncate(pos),
            5 if len > 0 => {
                // Repeat a chunk: long inputs, many dots, deep nesting.
                let start = pos.min(len - 1);
                let end = (start + 1 + rng.below(16)).min(len);
                let chunk = data[start..end].to_vec();
                for _ in 0..1 + rng.below(300) {
                    data.splice(start..start, chunk.iter().copied());
                }
            }
            6 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(other.len() + 1);
                data.truncate(pos);
                data.extend_from_slice(&other[cut..]);
            }
            _ => {
                let b = rng.next().to_le_bytes()[0];
                data.insert(pos, b);
            }
        }
    }
    data
}

fn seed() -> u64 {
    match std::env::var("SESSIONKIT_SEED") {
        Ok(s) => s.trim().parse().expect("SESSIONKIT_SEED is a u64"),
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default();
            t ^ u64::from(std::process::id()).rotate_left(32)
        }
    }
}

/// Runs `target` on the seeds, then on generated inputs, and prints how
/// many were accepted.
fn run(name: &str, target: fn(&[u8]) -> bool, seeds: &[Vec<u8>]) {
    let seed = seed();
    println!("{name}: seed {seed} (set SESSIONKIT_SEED={seed} to replay)");
    // Seeds include expired and mistyped inputs; most are accepted.
    let valid = seeds.iter().filter(|s| target(s)).count();
    assert!(
        valid * 2 > seeds.len(),
        "{name}: most seeds must be accepted"
    );
    let started = Instant::now();
    let mut rng = Rng(seed);
    let mut accepted = 0;
    for i in 0..INPUTS {
        let input = mutate(&mut rng, seeds);
        let outcome = std::panic::catch_unwind(|| target(&input));
        match outcome {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => panic!(
                "{name}: input {i} of seed {seed} panicked: {:?}",
                String::from_utf8_lossy(&input)
            ),
        }
    }
    println!(
        "{name}: {INPUTS} inputs, {accepted} accepted, in {:?}",
        started.elapsed()
    );
}

#[test]
fn sec_40_access_token_verification_survives_generated_inputs() {
    run(
        "verify_access_token",
        fuzz::verify_access_token,
        &fuzz::access_token_seeds(),
    );
}

#[test]
fn sec_40_refresh_token_opening_survives_generated_inputs() {
    run(
        "open_refresh_token",
        fuzz::open_refresh_token,
        &fuzz::refresh_token_seeds(),
    );
}

#[test]
fn sec_40_jwks_parsing_survives_generated_inputs() {
    run("parse_jwks", fuzz::parse_jwks, &fuzz::jwks_seeds());
}

#[test]
fn sec_40_request_header_parsing_survives_generated_inputs() {
    run(
        "parse_request_headers",
        fuzz::parse_request_headers,
        &fuzz::request_header_seeds(),
    );
}

/// Writes the seed corpus of `fuzz/seeds/` (valid inputs, and a few
/// near-valid ones: truncated, one byte changed). Run after changing the
/// seeds: `cargo test --all-features --test fuzz_inputs -- --ignored`.
#[test]
#[ignore = "writes files; run by hand to refresh the committed seeds"]
fn write_fuzz_seed_corpus() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for (name, seeds) in [
        ("verify_access_token", fuzz::access_token_seeds()),
        ("open_refresh_token", fuzz::refresh_token_seeds()),
        ("parse_jwks", fuzz::jwks_seeds()),
        ("parse_request_headers", fuzz::request_header_seeds()),
    ] {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("create seed directory");
        let mut all = seeds.clone();
        for s in &seeds {
            let mut truncated = s.clone();
            truncated.truncate(s.len() - 1);
            all.push(truncated);
            let mut flipped = s.clone();
            let mid = s.len() / 2;
            flipped[mid] ^= 0x01;
            all.push(flipped);
        }
        for (i, s) in all.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), s).expect("write seed");
        }
    }
}
