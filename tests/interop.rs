//! Interoperability with the `jsonwebtoken` crate (rust_crypto backend):
//! tokens flow both ways, HS256 and EdDSA.

#![cfg(test)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use sessionkit::clock::ManualClock;
use sessionkit::jwks::Jwks;
use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey, Verifier};

const HMAC_SECRET: [u8; 32] = [7u8; 32];
const ED_SEED: [u8; 32] = [42u8; 32];
const ISSUER: &str = "https://auth.example";
const AUDIENCE: &str = "api";

/// The PKCS#8 v1 DER of an Ed25519 private key (RFC 8410 §7): a fixed
/// 16-byte prefix, then the 32-byte seed.
fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn manager(key: SigningKey) -> SessionManager<MemoryStore> {
    // jsonwebtoken reads the system clock: so does this manager.
    SessionManager::builder(MemoryStore::new())
        .signing_key(key)
        .refresh_key(RefreshKey::new(1, &[9u8; 32]).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(Arc::new(ManualClock::at_unix(now())))
        .build()
        .unwrap()
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.leeway = 0;
    v
}

async fn sessionkit_token(manager: &SessionManager<MemoryStore>) -> String {
    manager
        .create("alice")
        .claims(json!({ "role": "reader" }))
        .await
        .unwrap()
        .access_token
        .into_string()
}

fn check_decoded(data: &jsonwebtoken::TokenData<Value>, kid: &str) {
    assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(data.header.kid.as_deref(), Some(kid));
    let c = &data.claims;
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["role"], "reader");
    assert_eq!(c["gen"], 0);
    assert!(c["sid"].is_string());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    assert_eq!(c["auth_time"], c["iat"]);
}

#[tokio::test]
async fn hs256_sessionkit_token_verifies_with_jsonwebtoken() {
    let m = manager(SigningKey::hs256("hs-1", &HMAC_SECRET).unwrap());
    let token = sessionkit_token(&m).await;
    let data = jsonwebtoken::decode::<Value>(
        &token,
        &DecodingKey::from_secret(&HMAC_SECRET),
        &validation(Algorithm::HS256),
    )
    .unwrap();
    check_decoded(&data, "hs-1");
    // The wrong secret fails there too.
    assert!(
        jsonwebtoken::decode::<Value>(
            &token,
            &DecodingKey::from_secret(&[8u8; 32]),
            &validation(Algorithm::HS256)
        )
        .is_err()
    );
}

#[tokio::test]
async fn eddsa_sessionkit_token_verifies_with_jsonwebtoken_from_the_jwks() {
    let m = manager(SigningKey::ed25519("ed-1", &ED_SEED).unwrap());
    let token = sessionkit_token(&m).await;
    // The resource service's view: only the published `x`.
    let jwks: Value = serde_json::from_str(&m.jwks_json()).unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let key = DecodingKey::from_ed_components(x).unwrap();
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation(Algorithm::EdDSA)).unwrap();
    check_decoded(&data, "ed-1");
    // jsonwebtoken reads our JWKS document as well.
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&m.jwks_json()).unwrap();
    let from_jwk = DecodingKey::from_jwk(set.find("ed-1").unwrap()).unwrap();
    assert!(
        jsonwebtoken::decode::<Value>(&token, &from_jwk, &validation(Algorithm::EdDSA)).is_ok()
    );
}

/// The full claim set sessionkit issues, with a genuine session handle.
async fn claims_like(m: &SessionManager<MemoryStore>) -> Value {
    let token = sessionkit_token(m).await;
    let verified = m.verify(&token).unwrap();
    let iat = now();
    json!({
        "sub": "alice",
        "sid": verified.session_handle().to_string(),
        "gen": 0,
        "iat": iat,
        "exp": iat + 300,
        "auth_time": iat,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "role": "writer",
    })
}

fn header(alg: Algorithm, kid: &str) -> Header {
    let mut h = Header::new(alg);
    h.typ = Some(String::from("at+jwt"));
    h.kid = Some(kid.to_owned());
    h
}

#[tokio::test]
async fn hs256_jsonwebtoken_token_verifies_with_sessionkit() {
    let m = manager(SigningKey::hs256("hs-1", &HMAC_SECRET).unwrap());
    let claims = claims_like(&m).await;
    let token = jsonwebtoken::encode(
        &header(Algorithm::HS256, "hs-1"),
        &claims,
        &EncodingKey::from_secret(&HMAC_SECRET),
    )
    .unwrap();
    let verified = m.verify(&token).unwrap();
    assert_eq!(verified.user_id(), "alice");
    assert_eq!(verified.claims()["role"], "writer");
    assert_eq!(verified.session_handle().to_string(), claims["sid"]);
    // Without `typ: at+jwt` it is not an access token (SEC-30).
    let mut plain = header(Algorithm::HS256, "hs-1");
    plain.typ = Some(String::from("JWT"));
    let token =
        jsonwebtoken::encode(&plain, &claims, &EncodingKey::from_secret(&HMAC_SECRET)).unwrap();
    assert!(m.verify(&token).is_err());
}

#[tokio::test]
async fn eddsa_jsonwebtoken_token_verifies_with_sessionkit_manager_and_verifier() {
    let m = manager(SigningKey::ed25519("ed-1", &ED_SEED).unwrap());
    let claims = claims_like(&m).await;
    let token = jsonwebtoken::encode(
        &header(Algorithm::EdDSA, "ed-1"),
        &claims,
        &EncodingKey::from_ed_der(&ed25519_pkcs8(&ED_SEED)),
    )
    .unwrap();
    assert_eq!(m.verify(&token).unwrap().user_id(), "alice");
    let verifier = Verifier::builder()
        .jwks(Jwks::from_json(&m.jwks_json()).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .clock(Arc::new(ManualClock::at_unix(now())))
        .build()
        .unwrap();
    let verified = verifier.verify(&token).unwrap();
    assert_eq!(verified.claims()["role"], "writer");
    // The header jsonwebtoken wrote is the one sessionkit pins for this key.
    let header_b64 = token.split('.').next().unwrap();
    let header_json = URL_SAFE_NO_PAD.decode(header_b64).unwrap();
    assert!(
        String::from_utf8(header_json)
            .unwrap()
            .contains(r#""alg":"EdDSA""#)
    );
}

#[tokio::test]
async fn sec_26_jsonwebtoken_hs256_token_with_public_key_secret_is_rejected() {
    let m = manager(SigningKey::ed25519("ed-1", &ED_SEED).unwrap());
    let claims = claims_like(&m).await;
    let public = SigningKey::ed25519("ed-1", &ED_SEED)
        .unwrap()
        .verifying_key()
        .unwrap()
        .to_bytes();
    let token = jsonwebtoken::encode(
        &header(Algorithm::HS256, "ed-1"),
        &claims,
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert!(m.verify(&token).is_err());
}
