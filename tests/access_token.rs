//! Access-token keys through the public API. Signing and verification are
//! crate-private; their tests live beside each layer in `src/access_token/`.

use sessionkit::config::RESERVED_CLAIMS;
use sessionkit::{Algorithm, ConfigError, SigningKey};

#[test]
fn sec_33_hmac_key_shorter_than_32_bytes_is_config_error() {
    for len in [0, 1, 16, 31] {
        let err = SigningKey::hs256("k", &vec![7u8; len]).unwrap_err();
        assert!(
            matches!(err, ConfigError::KeyTooShort { min: 32, actual } if actual == len),
            "{err:?}"
        );
    }
    let key = SigningKey::hs256("k", &[7u8; 32]).unwrap();
    assert_eq!(key.kid(), "k");
    assert_eq!(key.algorithm(), Algorithm::Hs256);
    assert_eq!(key.algorithm().as_str(), "HS256");
}

#[test]
fn key_id_is_validated() {
    for bad in ["", "has space", "ünïcode", "new\nline", &"k".repeat(65)] {
        assert!(
            matches!(
                SigningKey::hs256(bad, &[7u8; 32]),
                Err(ConfigError::InvalidKeyId)
            ),
            "{bad:?}"
        );
    }
    assert!(SigningKey::hs256("k".repeat(64), &[7u8; 32]).is_ok());
}

#[test]
fn generated_key_is_usable() {
    let key = SigningKey::generate_hs256("gen-1").unwrap();
    assert_eq!(key.kid(), "gen-1");
    assert_eq!(key.algorithm(), Algorithm::Hs256);
}

#[test]
fn sec_05_signing_key_debug_hides_the_secret() {
    let secret = b"integration-secret-0123456789abcdef";
    let key = SigningKey::hs256("kid-7", secret).unwrap();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    for text in [format!("{key:?}"), format!("{key:#?}")] {
        assert!(text.contains("kid-7"));
        assert!(!text.contains("integration-secret"), "{text}");
        assert!(!text.contains(&hex), "{text}");
        assert!(!text.contains("0123456789"), "{text}");
    }
}

#[test]
fn reserved_claims_cover_every_registered_claim_the_verifier_reads() {
    for name in [
        "sub",
        "sid",
        "gen",
        "iat",
        "exp",
        "nbf",
        "auth_time",
        "iss",
        "aud",
        "jti",
    ] {
        assert!(RESERVED_CLAIMS.contains(&name), "{name}");
    }
}
