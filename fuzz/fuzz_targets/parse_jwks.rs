//! Fuzzes a JWKS document (`Jwks::from_json`), which must round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sessionkit::testing::fuzz::parse_jwks(data);
});
