//! Signing keys for access tokens, and the key set that verifies them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::TryRng as _;
use serde::Serialize;
use sha2::Sha256;
use time::OffsetDateTime;

use crate::error::ConfigError;

/// The shortest HMAC secret accepted, in bytes (RFC 7518 §3.2: at least the hash output size).
const HMAC_MIN_SECRET: usize = 32;

/// The longest key id accepted, in bytes.
const MAX_KID_LEN: usize = 64;

/// The `typ` header every access token carries (RFC 9068).
pub(crate) const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// A JWS algorithm. Each key is bound to exactly one.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256 (RFC 7518 §3.2), a shared secret of at least 32 bytes.
    Hs256,
}

impl Algorithm {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
        }
    }
}

/// The secret part of a key. One variant per algorithm, so that a key can
/// never be used with an algorithm it was not made for.
#[derive(Clone)]
enum KeyMaterial {
    /// The HMAC state after absorbing the key: cloning it saves re-deriving
    /// the inner and outer pads on every token.
    Hs256(Hmac<Sha256>),
}

/// A key that signs (and verifies) access tokens.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    material: KeyMaterial,
    /// `base64url(header JSON)`, computed once: the header of every token a
    /// key signs is the same.
    encoded_header: String,
}

/// The protected header of the tokens a key signs, in the order it is written.
#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

impl SigningKey {
    /// An HS256 key from a secret of at least 32 bytes.
    ///
    /// # Errors
    /// [`ConfigError::KeyTooShort`] under 32 bytes; [`ConfigError::InvalidKeyId`]
    /// for an empty kid, one over 64 bytes or one with characters outside
    /// printable ASCII.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, ConfigError> {
        if secret.len() < HMAC_MIN_SECRET {
            return Err(ConfigError::KeyTooShort {
                min: HMAC_MIN_SECRET,
                actual: secret.len(),
            });
        }
        let kid = kid.into();
        check_kid(&kid)?;
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| ConfigError::InvalidKey)?;
        Self::new(kid, KeyMaterial::Hs256(mac))
    }

    /// A new random HS256 key (256 bits from the operating system).
    ///
    /// # Errors
    /// As [`SigningKey::hs256`], or [`ConfigError::InvalidKey`] if the random
    /// number generator fails.
    pub fn generate_hs256(kid: impl Into<String>) -> Result<Self, ConfigError> {
        let mut secret = [0u8; HMAC_MIN_SECRET];
        rand::rngs::SysRng
            .try_fill_bytes(&mut secret)
            .map_err(|_| ConfigError::InvalidKey)?;
        Self::hs256(kid, &secret)
    }

    fn new(kid: String, material: KeyMaterial) -> Result<Self, ConfigError> {
        let alg = match material {
            KeyMaterial::Hs256(_) => Algorithm::Hs256,
        };
        let header = serde_json::to_vec(&HeaderOut {
            alg: alg.as_str(),
            typ: ACCESS_TOKEN_TYPE,
            kid: &kid,
        })
        .map_err(|_| ConfigError::InvalidKeyId)?;
        Ok(Self {
            kid,
            material,
            encoded_header: URL_SAFE_NO_PAD.encode(header),
        })
    }

    /// The key id, carried in the `kid` header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key is used with.
    pub fn algorithm(&self) -> Algorithm {
        match self.material {
            KeyMaterial::Hs256(_) => Algorithm::Hs256,
        }
    }

    /// The first segment of every token this key signs.
    pub(crate) fn encoded_header(&self) -> &str {
        &self.encoded_header
    }

    /// The exact length of a signature made with this key, in bytes.
    pub(crate) fn signature_len(&self) -> usize {
        match self.material {
            KeyMaterial::Hs256(_) => 32,
        }
    }

    /// Signs everything in `token` so far (the JWS signing input) and appends
    /// `.` and the base64url signature.
    pub(crate) fn append_signature(&self, token: &mut String) {
        match &self.material {
            KeyMaterial::Hs256(mac) => {
                let mut mac = mac.clone();
                mac.update(token.as_bytes());
                let tag = mac.finalize().into_bytes();
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(tag, token);
            }
        }
    }

    /// Whether `signature` is this key's signature over `message`, compared
    /// in constant time.
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != self.signature_len() {
            return false;
        }
        match &self.material {
            KeyMaterial::Hs256(mac) => {
                let mut mac = mac.clone();
                mac.update(message);
                mac.verify_slice(signature).is_ok()
            }
        }
    }
}

/// Key ids go into a JSON header and into logs: keep them short and printable.
fn check_kid(kid: &str) -> Result<(), ConfigError> {
    let printable = kid.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if kid.is_empty() || kid.len() > MAX_KID_LEN || !printable {
        return Err(ConfigError::InvalidKeyId);
    }
    Ok(())
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// The active signing key and the retired keys that still verify.
#[derive(Clone, Debug)]
pub(crate) struct KeySet {
    active: SigningKey,
    retired: Vec<(SigningKey, OffsetDateTime)>,
}

impl KeySet {
    /// `retired`: keys that verify (never sign) until the given instant.
    pub(crate) fn new(
        active: SigningKey,
        retired: Vec<(SigningKey, OffsetDateTime)>,
    ) -> Result<Self, ConfigError> {
        let kids: Vec<&str> = std::iter::once(active.kid())
            .chain(retired.iter().map(|(key, _)| key.kid()))
            .collect();
        for (i, kid) in kids.iter().enumerate() {
            if kids.iter().skip(i + 1).any(|other| other == kid) {
                return Err(ConfigError::DuplicateKeyId);
            }
        }
        Ok(Self { active, retired })
    }

    /// The key that signs new tokens.
    pub(crate) fn active(&self) -> &SigningKey {
        &self.active
    }

    /// The key with exactly this kid that may verify at `now`.
    pub(crate) fn find(&self, kid: &str, now: OffsetDateTime) -> Option<&SigningKey> {
        // Byte equality, no normalisation: "Key1" and "key1 " are other keys.
        // Key ids are public, so a variable-time comparison leaks nothing.
        if self.active.kid().as_bytes() == kid.as_bytes() {
            return Some(&self.active);
        }
        self.retired
            .iter()
            .find(|(key, until)| key.kid().as_bytes() == kid.as_bytes() && now < *until)
            .map(|(key, _)| key)
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "a failing test should stop loudly"
)]
mod tests {
    use time::Duration;

    use super::*;

    const SECRET: &[u8] = b"keys-test-secret-0123456789abcdef";

    fn key(kid: &str) -> SigningKey {
        SigningKey::hs256(kid, SECRET).unwrap()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap()
    }

    #[test]
    fn sec_33_hmac_key_under_32_bytes_is_config_error() {
        let err = SigningKey::hs256("k", &[1u8; 31]).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::KeyTooShort {
                min: 32,
                actual: 31
            }
        ));
        assert!(matches!(
            SigningKey::hs256("k", &[]).unwrap_err(),
            ConfigError::KeyTooShort { min: 32, actual: 0 }
        ));
        assert!(SigningKey::hs256("k", &[1u8; 32]).is_ok());
        assert!(SigningKey::hs256("k", &[1u8; 64]).is_ok());
    }

    #[test]
    fn kid_must_be_1_to_64_printable_ascii_bytes() {
        for bad in ["", " ", "a b", "tab\t", "é", "k\u{7f}", &"x".repeat(65)] {
            assert!(
                matches!(
                    SigningKey::hs256(bad, SECRET),
                    Err(ConfigError::InvalidKeyId)
                ),
                "{bad:?}"
            );
        }
        for good in ["k", "!", "~", "\"quoted\\", &"x".repeat(64)] {
            assert_eq!(SigningKey::hs256(good, SECRET).unwrap().kid(), good);
        }
    }

    #[test]
    fn header_is_precomputed_json_with_alg_typ_kid() {
        let k = key("key-\"1\"");
        let json = URL_SAFE_NO_PAD.decode(k.encoded_header()).unwrap();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"alg":"HS256","typ":"at+jwt","kid":"key-\"1\""}"#
        );
    }

    #[test]
    fn hs256_matches_rfc_4231_test_case_2_style_vector() {
        // RFC 4231 §4.3 uses the 4-byte key "Jefe"; HMAC pads short keys the same
        // way, so a 32-byte key made of "Jefe" and 28 zero bytes yields the same MAC.
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(b"Jefe");
        let k = SigningKey::hs256("jefe", &secret).unwrap();
        let mut token = String::from("what do ya want for nothing?");
        k.append_signature(&mut token);
        let (message, mac) = token.split_once('.').unwrap();
        assert_eq!(message, "what do ya want for nothing?");
        let mac = URL_SAFE_NO_PAD.decode(mac).unwrap();
        let expected = [
            0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26, 0x08, 0x95,
            0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9,
            0x64, 0xec, 0x38, 0x43,
        ];
        assert_eq!(mac, expected);
        assert!(k.verify_signature(b"what do ya want for nothing?", &expected));
        assert!(!k.verify_signature(b"what do ya want for nothing!", &expected));
        assert!(!k.verify_signature(b"what do ya want for nothing?", &expected[..31]));
        assert!(!k.verify_signature(b"what do ya want for nothing?", &[]));
    }

    #[test]
    fn generated_keys_differ() {
        let a = SigningKey::generate_hs256("a").unwrap();
        let b = SigningKey::generate_hs256("a").unwrap();
        let (mut sa, mut sb) = (String::from("m"), String::from("m"));
        a.append_signature(&mut sa);
        b.append_signature(&mut sb);
        assert_ne!(sa, sb);
        assert!(matches!(
            SigningKey::generate_hs256(""),
            Err(ConfigError::InvalidKeyId)
        ));
    }

    #[test]
    fn duplicate_kid_in_key_set_is_config_error() {
        let until = now() + Duration::hours(1);
        assert!(matches!(
            KeySet::new(key("a"), vec![(key("a"), until)]),
            Err(ConfigError::DuplicateKeyId)
        ));
        assert!(matches!(
            KeySet::new(key("a"), vec![(key("b"), until), (key("b"), until)]),
            Err(ConfigError::DuplicateKeyId)
        ));
        assert!(KeySet::new(key("a"), vec![(key("b"), until), (key("A"), until)]).is_ok());
    }

    #[test]
    fn sec_27_kid_lookup_is_exact() {
        let set = KeySet::new(key("key1"), vec![]).unwrap();
        assert_eq!(set.find("key1", now()).unwrap().kid(), "key1");
        for other in [
            "Key1", "KEY1", "key1 ", " key1", "key", "key10", "key1\0", "",
        ] {
            assert!(set.find(other, now()).is_none(), "{other:?}");
        }
    }

    #[test]
    fn sec_34_retired_key_verifies_until_its_deadline_then_stops() {
        let until = now() + Duration::seconds(930);
        let set = KeySet::new(key("new"), vec![(key("old"), until)]).unwrap();
        assert_eq!(set.active().kid(), "new");
        assert!(set.find("old", now()).is_some());
        assert!(set.find("old", until - Duration::seconds(1)).is_some());
        assert!(set.find("old", until).is_none());
        assert!(set.find("old", until + Duration::days(1)).is_none());
        // The active key never expires.
        assert!(set.find("new", until + Duration::days(365)).is_some());
    }

    #[test]
    fn sec_05_debug_shows_no_secret() {
        let k = key("kid-1");
        let set = KeySet::new(k.clone(), vec![(key("kid-0"), now())]).unwrap();
        let hex: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
        let b64 = URL_SAFE_NO_PAD.encode(SECRET);
        let std_b64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
        let raw = std::str::from_utf8(SECRET).unwrap();
        for text in [format!("{k:?}"), format!("{k:#?}"), format!("{set:?}")] {
            assert!(text.contains("kid-1"), "{text}");
            for secret in [raw, &hex, &b64, &std_b64, &format!("{:?}", SECRET)] {
                assert!(!text.contains(secret), "{text}");
            }
            assert!(!text.contains("0123456789"), "{text}");
        }
    }
}
