//! Fuzzes an access token, checked against HS256 or EdDSA key sets (the first byte picks the mode; see `sessionkit::testing::fuzz::verify_access_token`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sessionkit::testing::fuzz::verify_access_token(data);
});
