//! Fuzz entry points for the parsers (SEC-40), shared by the `cargo fuzz`
//! targets in `fuzz/` and the stable test `tests/fuzz_inputs.rs`.
//!
//! Each function takes arbitrary bytes and must return without panicking,
//! whatever they are; it also checks the invariants a parser must keep
//! (a verified token is one the fixed keys signed, a parsed JWKS round
//! trips). The `*_seeds` functions give valid inputs to start mutating
//! from: the keys, the clock and the claims are fixed, so a seed stays
//! valid forever.

use std::sync::OnceLock;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::access_token::{self, Claims, Expiry, Validation};
use crate::cookies::{CookieConfig, token_from_authorization, token_from_cookies};
use crate::csrf::CsrfPolicy;
use crate::jwks::Jwks;
use crate::keys::KeySet;
use crate::keys::SigningKey;
use crate::refresh_token::RefreshKey;
use crate::refresh_token::{RefreshKeys, RefreshSecret};
use crate::store::SessionHandle;

/// The fixed "now" of the fuzz targets (2030-03-17).
const NOW: i64 = 1_900_000_000;
/// The issuer and audience the targets require.
const ISSUER: &str = "https://issuer.example";
const AUDIENCE: &str = "api";

struct Fixture {
    hs256: SigningKey,
    ed25519: SigningKey,
    /// HS256: an active and a retired key.
    hs_keys: KeySet,
    /// EdDSA, public keys only (as a `Verifier` holds them).
    ed_keys: KeySet,
    refresh: RefreshKeys,
    validation: Validation,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let hs256 = SigningKey::hs256("fuzz-hs", &[0x11; 32]).expect("valid key");
        let retired = SigningKey::hs256("fuzz-hs-old", &[0x22; 32]).expect("valid key");
        let ed25519 = SigningKey::ed25519("fuzz-ed", &[0x33; 32]).expect("valid key");
        let at = OffsetDateTime::from_unix_timestamp(NOW + 600).expect("in range");
        let hs_keys =
            KeySet::for_issuer(hs256.clone(), Vec::new(), vec![(retired, at)]).expect("keys");
        let public = ed25519.verifying_key().expect("EdDSA has a public key");
        let ed_keys = KeySet::verify_only(vec![public]).expect("keys");
        let refresh = RefreshKeys::new(
            RefreshKey::new(1, &[0x44; 32]).expect("valid key"),
            vec![RefreshKey::new(2, &[0x55; 32]).expect("valid key")],
        )
        .expect("keys");
        Fixture {
            hs256,
            ed25519,
            hs_keys,
            ed_keys,
            refresh,
            validation: Validation {
                leeway: 30,
                issuer: Some(ISSUER.to_owned()),
                audience: Some(AUDIENCE.to_owned()),
                max_len: 4096,
            },
        }
    })
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).expect("in range")
}

/// Verifies `data` as an access token. The first byte picks the mode:
///
/// - `0` (mod 4): the rest is a token, checked against HS256 keys (an
///   active and a retired one);
/// - `1`: the rest is a token, checked against EdDSA public keys only;
/// - `2`: the rest is a claims payload, signed with the HS256 key under
///   its own header, so that the claim checks behind the signature are
///   reached (SEC-28);
/// - `3`: the rest is a header, with valid claims, signed with the HS256
///   key.
///
/// Non-UTF-8 bytes are replaced. Returns whether the token verified.
///
/// # Panics
/// When verification panics, accepts a token in mode 0 or 1 that the
/// fixture never signed, or accepts an expired token.
pub fn verify_access_token(data: &[u8]) -> bool {
    let Some((&select, rest)) = data.split_first() else {
        return false;
    };
    let f = fixture();
    let text = String::from_utf8_lossy(rest);
    let (keys, token) = match select % 4 {
        0 => (&f.hs_keys, text.into_owned()),
        1 => (&f.ed_keys, text.into_owned()),
        2 => (&f.hs_keys, signed(&f.hs256, f.hs256.encoded_header(), rest)),
        _ => (
            &f.hs_keys,
            signed(&f.hs256, &b64(rest), VALID_CLAIMS.as_bytes()),
        ),
    };
    match access_token::verify(keys, &token, now(), &f.validation, Expiry::Enforce) {
        Ok(v) => {
            if select % 4 < 2 {
                assert!(
                    v.user_id().starts_with("fuzz-user"),
                    "a token the fixture never signed verified"
                );
            }
            assert!(
                v.expires_at().unix_timestamp() + f.validation.leeway >= NOW,
                "an expired token verified"
            );
            true
        }
        Err(_) => false,
    }
}

/// Claims that pass every check at the fixed time.
const VALID_CLAIMS: &str = r#"{"sub":"fuzz-user-1","sid":"BwcHBwcHBwcHBwcHBwcHBwcH","gen":1,"iat":1899999990,"exp":1900000590,"auth_time":1899999990,"iss":"https://issuer.example","aud":"api"}"#;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature`, with the header already encoded.
fn signed(key: &SigningKey, encoded_header: &str, payload: &[u8]) -> String {
    let mut token = format!("{encoded_header}.{}", b64(payload));
    key.append_signature(&mut token);
    token
}

/// Opens `data` as a refresh token (format, key id, MAC). Returns whether
/// it opened.
///
/// # Panics
/// When opening panics.
pub fn open_refresh_token(data: &[u8]) -> bool {
    let token = String::from_utf8_lossy(data);
    fixture().refresh.open(&token, 4096).is_ok()
}

/// Parses `data` as a JWKS document. A document that parses must round
/// trip through [`Jwks::to_json`]. Returns whether it parsed.
///
/// # Panics
/// When parsing panics or a parsed document does not round trip.
pub fn parse_jwks(data: &[u8]) -> bool {
    let json = String::from_utf8_lossy(data);
    match Jwks::from_json(&json) {
        Ok(jwks) => {
            let again = Jwks::from_json(&jwks.to_json()).expect("a parsed JWKS round trips");
            assert_eq!(again, jwks, "a parsed JWKS round trips unchanged");
            true
        }
        Err(_) => false,
    }
}

/// Reads tokens and checks CSRF headers from `data` as a request's headers
/// would carry them: the bytes are split at `\n` into header values, which
/// go, in turn, to the cookie reader, the `Authorization` reader and the
/// CSRF check (as `Origin` and `Sec-Fetch-Site` values). A token that is
/// read must be a sub-slice of the input holding only token characters, and
/// a request the CSRF check accepts must carry no cross-site marker.
/// Returns whether any token was read.
///
/// # Panics
/// When a reader panics or breaks those invariants.
pub fn parse_request_headers(data: &[u8]) -> bool {
    static POLICY: OnceLock<CsrfPolicy> = OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        CsrfPolicy::new(["https://app.example", "http://127.0.0.1:3000"]).expect("valid origins")
    });
    let values: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let token_chars = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
    };
    let cookies = CookieConfig::new();
    let mut read = false;
    let tokens = [
        token_from_cookies(values.iter().copied(), cookies.access_cookie_name()),
        cookies.refresh_token_from_cookies(values.iter().copied()),
        token_from_authorization(values.iter().copied()),
        token_from_authorization(values.first().copied()),
    ];
    for token in tokens.into_iter().flatten() {
        assert!(
            token_chars(token),
            "a token read holds only token characters"
        );
        read = true;
    }
    let (origin, fetch) = values.split_at(values.len() / 2);
    if policy
        .check(origin.iter().copied(), fetch.iter().copied())
        .is_ok()
    {
        assert!(
            !fetch
                .iter()
                .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"cross-site")),
            "a cross-site request is never accepted"
        );
    }
    read
}

/// Valid inputs for [`parse_request_headers`]: cookie headers with the
/// session cookies, bearer headers, origins.
pub fn request_header_seeds() -> Vec<Vec<u8>> {
    [
        "__Host-sk-access=eyJhbGciOiJIUzI1NiJ9.e30.c2ln; theme=dark",
        "a=b; __Secure-sk-refresh=skr_AAAA; c=d",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
        "bearer skr_AAAA\nhttps://app.example",
        "https://app.example\nsame-origin",
        "null\ncross-site",
        "__Host-sk-access=x; __Host-sk-access=y",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Valid inputs for [`verify_access_token`]: tokens from both key sets,
/// with and without custom claims, expired ones, and the retired key's.
pub fn access_token_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let handle = SessionHandle::from_bytes([7; 18]);
    let mut custom = Map::new();
    custom.insert("role".into(), Value::String("admin".into()));
    custom.insert("n".into(), Value::from(1.5));
    let empty = Map::new();
    let retired = SigningKey::hs256("fuzz-hs-old", &[0x22; 32]).expect("valid key");
    let mut seeds = Vec::new();
    for (select, key) in [(0u8, &f.hs256), (1, &f.ed25519), (0, &retired)] {
        for (iat, exp, claims) in [
            (NOW - 10, NOW + 590, &empty),
            (NOW - 10, NOW + 590, &custom),
            (NOW - 900, NOW - 300, &empty),
        ] {
            let token = access_token::sign(
                key,
                &Claims {
                    sub: "fuzz-user-42",
                    sid: &handle,
                    generation: 3,
                    iat,
                    exp,
                    auth_time: iat,
                    iss: Some(ISSUER),
                    aud: Some(AUDIENCE),
                    custom: claims,
                },
            );
            let mut seed = vec![select];
            seed.extend_from_slice(token.expose().as_bytes());
            seeds.push(seed);
        }
    }
    // Claims and headers to be signed (modes 2 and 3).
    let mut claims = vec![2u8];
    claims.extend_from_slice(VALID_CLAIMS.as_bytes());
    seeds.push(claims);
    let mut mistyped = vec![2u8];
    mistyped.extend_from_slice(VALID_CLAIMS.replace("1900000590", "\"never\"").as_bytes());
    seeds.push(mistyped);
    let mut header = vec![3u8];
    header.extend_from_slice(br#"{"alg":"HS256","typ":"at+jwt","kid":"fuzz-hs"}"#);
    seeds.push(header);
    seeds
}

/// Valid inputs for [`open_refresh_token`]: tokens sealed with the active
/// and the retired key, at generations 0, 1 and `u64::MAX`.
pub fn refresh_token_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let retired = RefreshKeys::new(
        RefreshKey::new(2, &[0x55; 32]).expect("valid key"),
        Vec::new(),
    )
    .expect("keys");
    let secret = RefreshSecret::from_bytes([9; 32]);
    let handle = SessionHandle::from_bytes([8; 18]);
    [0, 1, u64::MAX]
        .into_iter()
        .flat_map(|g| {
            [
                f.refresh.seal(&handle, g, &secret),
                retired.seal(&handle, g, &secret),
            ]
        })
        .map(|t| t.expose().as_bytes().to_vec())
        .collect()
}

/// Valid inputs for [`parse_jwks`]: the fixture's public key set, an empty
/// set, and a set with two keys.
pub fn jwks_seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let one = f.ed25519.verifying_key().expect("EdDSA has a public key");
    let two = SigningKey::ed25519("fuzz-ed-2", &[0x66; 32])
        .expect("valid key")
        .verifying_key()
        .expect("EdDSA has a public key");
    [
        Jwks::new(vec![one.clone()]).expect("jwks"),
        Jwks::default(),
        Jwks::new(vec![one, two]).expect("jwks"),
    ]
    .iter()
    .map(|j| j.to_json().into_bytes())
    .collect()
}
