//! Fuzzes reading tokens from `Cookie` and `Authorization` headers and the
//! CSRF check over `Origin` and `Sec-Fetch-Site`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sessionkit::testing::fuzz::parse_request_headers(data);
});
