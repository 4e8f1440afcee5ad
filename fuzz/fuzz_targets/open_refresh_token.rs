//! Fuzzes a refresh token: format, key id and MAC.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sessionkit::testing::fuzz::open_refresh_token(data);
});
