//! Helpers shared by the tests of every layer: a key set, valid claims, and
//! tokens forged by hand so that each layer can be fed exactly the input it
//! must refuse, with a valid signature where the input should get that far.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use time::OffsetDateTime;

use super::{AccessToken, Claims, Expiry, Validation, Verified, sign, verify};
use crate::error::{Rejection, VerifyError};
use crate::keys::{KeySet, SigningKey};
use crate::record::SessionHandle;

pub(super) const SECRET: &[u8] = b"access-token-test-secret-0123456789";
const KID: &str = "k1";
pub(super) const NOW: i64 = 1_700_000_000;
pub(super) const HEADER: &str = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#;

pub(super) fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).unwrap()
}

pub(super) fn key() -> SigningKey {
    SigningKey::hs256(KID, SECRET).unwrap()
}

pub(super) fn keys() -> KeySet {
    KeySet::new(key(), vec![]).unwrap()
}

pub(super) fn validation() -> Validation {
    Validation {
        leeway: 30,
        issuer: None,
        audience: None,
        max_len: 4096,
    }
}

pub(super) fn handle() -> SessionHandle {
    SessionHandle::from_bytes([0xa5; 18])
}

pub(super) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn hmac(secret: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(message.as_bytes());
    b64(mac.finalize().into_bytes())
}

/// A token built by hand from raw JSON, with a valid HMAC under `secret`.
pub(super) fn forge_with(header: &str, claims: &str, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let sig = hmac(secret, &input);
    format!("{input}.{sig}")
}

/// A hand-built token with a valid signature from the test key.
pub(super) fn forge(header: &str, claims: &str) -> String {
    forge_with(header, claims, SECRET)
}

/// Valid claims as raw JSON; each override replaces (`Some`) or removes
/// (`None`) a member, or appends it when new.
pub(super) fn payload(overrides: &[(&str, Option<&str>)]) -> String {
    let mut members: Vec<(String, String)> = vec![
        ("sub".into(), r#""user-1""#.into()),
        ("sid".into(), format!("\"{}\"", handle())),
        ("gen".into(), "3".into()),
        ("iat".into(), (NOW - 10).to_string()),
        ("exp".into(), (NOW + 600).to_string()),
        ("auth_time".into(), (NOW - 100).to_string()),
    ];
    for (name, value) in overrides {
        let pos = members.iter().position(|(n, _)| n == name);
        match (pos, value) {
            (Some(i), Some(v)) => members[i].1 = (*v).to_owned(),
            (Some(i), None) => {
                members.remove(i);
            }
            (None, Some(v)) => members.push(((*name).to_owned(), (*v).to_owned())),
            (None, None) => {}
        }
    }
    let body: Vec<String> = members
        .iter()
        .map(|(n, v)| format!("\"{n}\":{v}"))
        .collect();
    format!("{{{}}}", body.join(","))
}

pub(super) fn token_with(overrides: &[(&str, Option<&str>)]) -> String {
    forge(HEADER, &payload(overrides))
}

pub(super) fn run(
    token: &str,
    validation: &Validation,
    expiry: Expiry,
) -> Result<Verified, VerifyError> {
    verify(&keys(), token, now(), validation, expiry)
}

pub(super) fn check_default(token: &str) -> Result<Verified, VerifyError> {
    run(token, &validation(), Expiry::Enforce)
}

pub(super) fn rejection(result: Result<Verified, VerifyError>) -> Rejection {
    match result {
        Err(VerifyError::Unauthorized(r)) => r,
        Err(other) => panic!("expected Unauthorized, got {other:?}"),
        Ok(v) => panic!("expected Unauthorized, got {v:?}"),
    }
}

pub(super) fn reject(token: &str) -> Rejection {
    rejection(check_default(token))
}

pub(super) fn signed(
    custom: &Map<String, Value>,
    iss: Option<&str>,
    aud: Option<&str>,
) -> AccessToken {
    let sid = handle();
    sign(
        &key(),
        &Claims {
            sub: "user-1",
            sid: &sid,
            generation: 3,
            iat: NOW - 10,
            exp: NOW + 600,
            auth_time: NOW - 100,
            iss,
            aud,
            custom,
        },
    )
}

pub(super) fn custom() -> Map<String, Value> {
    let Value::Object(map) = json!({
        "role": "admin",
        "tenant": 42,
        "nested": {"a": [1, 2, {"b": null}], "c": {"d": true, "e": 1.5}},
        "alg": "not a header",
    }) else {
        unreachable!()
    };
    map
}
