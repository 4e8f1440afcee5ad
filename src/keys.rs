//! Signing keys for access tokens, and the key set that verifies them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use hmac::{Hmac, KeyInit, Mac};
use rand::TryRng as _;
use serde::Serialize;
use sha2::Sha256;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroize as _;

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
    /// Ed25519 signatures (RFC 8037), JWS name `EdDSA`: services that only
    /// verify need nothing but the public key.
    EdDsa,
}

impl Algorithm {
    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::EdDsa => "EdDSA",
        }
    }
}

/// The length of an Ed25519 seed, public key, in bytes.
pub(crate) const ED25519_KEY_LEN: usize = 32;

/// The length of an Ed25519 signature, in bytes.
const ED25519_SIGNATURE_LEN: usize = 64;

/// The secret part of a key. One variant per algorithm, so that a key can
/// never be used with an algorithm it was not made for.
#[derive(Clone)]
enum KeyMaterial {
    /// The HMAC state after absorbing the key: cloning it saves re-deriving
    /// the inner and outer pads on every token.
    Hs256(Hmac<Sha256>),
    /// The expanded secret key, with its public key precomputed (boxed: the
    /// expanded key is large, and zeroized on drop).
    Ed25519(Box<ed25519_dalek::SigningKey>),
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

/// The key material is wiped when the key is dropped: an HS256 key keeps
/// only its HMAC state, whose hash cores zeroize themselves (the `zeroize`
/// features of `hmac` and `sha2`); an Ed25519 key is `ed25519-dalek`'s,
/// which zeroizes itself (its `zeroize` feature). Key bytes given to the
/// constructors are not kept.
impl zeroize::ZeroizeOnDrop for SigningKey {}

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
        let key = Self::hs256(kid, &secret);
        secret.zeroize();
        key
    }

    /// An EdDSA (Ed25519) key from its 32-byte secret seed (RFC 8032 §5.1.5,
    /// the `d` member of an RFC 8037 JWK).
    ///
    /// # Errors
    /// [`ConfigError::KeyTooShort`] unless the seed is exactly 32 bytes
    /// (`actual` gives its length); [`ConfigError::InvalidKeyId`] as for
    /// [`SigningKey::hs256`].
    pub fn ed25519(kid: impl Into<String>, seed: &[u8]) -> Result<Self, ConfigError> {
        let mut seed: [u8; ED25519_KEY_LEN] =
            seed.try_into().map_err(|_| ConfigError::KeyTooShort {
                min: ED25519_KEY_LEN,
                actual: seed.len(),
            })?;
        let kid = kid.into();
        check_kid(&kid)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        seed.zeroize();
        Self::new(kid, KeyMaterial::Ed25519(Box::new(key)))
    }

    /// A new random EdDSA (Ed25519) key, its seed from the operating system.
    ///
    /// # Errors
    /// [`ConfigError::InvalidKeyId`] as for [`SigningKey::hs256`], or
    /// [`ConfigError::InvalidKey`] if the random number generator fails.
    pub fn generate_ed25519(kid: impl Into<String>) -> Result<Self, ConfigError> {
        let mut seed = [0u8; ED25519_KEY_LEN];
        rand::rngs::SysRng
            .try_fill_bytes(&mut seed)
            .map_err(|_| ConfigError::InvalidKey)?;
        let key = Self::ed25519(kid, &seed);
        seed.zeroize();
        key
    }

    fn new(kid: String, material: KeyMaterial) -> Result<Self, ConfigError> {
        let alg = match material {
            KeyMaterial::Hs256(_) => Algorithm::Hs256,
            KeyMaterial::Ed25519(_) => Algorithm::EdDsa,
        };
        Ok(Self {
            encoded_header: encode_header(alg, &kid)?,
            kid,
            material,
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
            KeyMaterial::Ed25519(_) => Algorithm::EdDsa,
        }
    }

    /// The public half of an EdDSA key, to hand to services that only
    /// verify; `None` for an HS256 key, which has no public half.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        match &self.material {
            KeyMaterial::Hs256(_) => None,
            KeyMaterial::Ed25519(key) => Some(VerifyingKey {
                kid: self.kid.clone(),
                key: key.verifying_key(),
                encoded_header: self.encoded_header.clone(),
            }),
        }
    }

    /// The first segment of every token this key signs.
    pub(crate) fn encoded_header(&self) -> &str {
        &self.encoded_header
    }

    /// Signs everything in `token` so far (the JWS signing input) and appends
    /// `.` and the base64url signature.
    pub(crate) fn append_signature(&self, token: &mut String) {
        token.reserve(ED25519_SIGNATURE_LEN.div_ceil(3) * 4 + 1);
        match &self.material {
            KeyMaterial::Hs256(mac) => {
                let mut mac = mac.clone();
                mac.update(token.as_bytes());
                let tag = mac.finalize().into_bytes();
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(tag, token);
            }
            KeyMaterial::Ed25519(key) => {
                let signature = key.sign(token.as_bytes()).to_bytes();
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(signature, token);
            }
        }
    }

    /// Whether `signature` is this key's signature over `message` (MACs
    /// compared in constant time, Ed25519 checked strictly).
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            KeyMaterial::Hs256(mac) => {
                if signature.len() != 32 {
                    return false;
                }
                let mut mac = mac.clone();
                mac.update(message);
                mac.verify_slice(signature).is_ok()
            }
            KeyMaterial::Ed25519(key) => {
                let public: &ed25519_dalek::VerifyingKey = (**key).as_ref();
                verify_ed25519(public, message, signature)
            }
        }
    }
}

/// `base64url(header JSON)` of the tokens a key signs: `alg`, `typ`, `kid`
/// in that order.
fn encode_header(alg: Algorithm, kid: &str) -> Result<String, ConfigError> {
    let header = serde_json::to_vec(&HeaderOut {
        alg: alg.as_str(),
        typ: ACCESS_TOKEN_TYPE,
        kid,
    })
    .map_err(|_| ConfigError::InvalidKeyId)?;
    Ok(URL_SAFE_NO_PAD.encode(header))
}

/// Strict Ed25519 verification: `verify_strict` also rejects small-order
/// public keys and `R` points, so a signature cannot be mauled into a second
/// valid one (RFC 8032 §5.1.7 with the checks of "Taming the many EdDSAs").
fn verify_ed25519(key: &ed25519_dalek::VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(bytes) = <&[u8; ED25519_SIGNATURE_LEN]>::try_from(signature) else {
        return false;
    };
    let signature = ed25519_dalek::Signature::from_bytes(bytes);
    key.verify_strict(message, &signature).is_ok()
}

/// Key ids go into a JSON header and into logs: keep them short and printable.
pub(crate) fn check_kid(kid: &str) -> Result<(), ConfigError> {
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

/// A public key that verifies access tokens and can never sign: what a
/// service that only checks tokens holds, usually loaded from a
/// [`Jwks`](crate::jwks::Jwks).
#[derive(Clone, Eq, PartialEq)]
pub struct VerifyingKey {
    kid: String,
    /// The decompressed point, precomputed once.
    key: ed25519_dalek::VerifyingKey,
    /// The first segment of the tokens this key verifies, as its signing
    /// key writes it.
    encoded_header: String,
}

impl VerifyingKey {
    /// An EdDSA (Ed25519) public key from its 32-byte encoding (the `x`
    /// member of an RFC 8037 JWK).
    ///
    /// # Errors
    /// [`ConfigError::InvalidKey`] unless `public` is 32 bytes encoding a
    /// curve point of large order (small-order keys would accept forged
    /// signatures); [`ConfigError::InvalidKeyId`] as for [`SigningKey::hs256`].
    pub fn ed25519(kid: impl Into<String>, public: &[u8]) -> Result<Self, ConfigError> {
        let bytes: &[u8; ED25519_KEY_LEN] =
            public.try_into().map_err(|_| ConfigError::InvalidKey)?;
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| ConfigError::InvalidKey)?;
        if key.is_weak() {
            return Err(ConfigError::InvalidKey);
        }
        let kid = kid.into();
        check_kid(&kid)?;
        Ok(Self {
            encoded_header: encode_header(Algorithm::EdDsa, &kid)?,
            kid,
            key,
        })
    }

    /// The key id, matched exactly against the `kid` header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        Algorithm::EdDsa
    }

    /// The 32-byte public key.
    pub fn to_bytes(&self) -> [u8; ED25519_KEY_LEN] {
        self.key.to_bytes()
    }

    fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        verify_ed25519(&self.key, message, signature)
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .field("x", &URL_SAFE_NO_PAD.encode(self.key.as_bytes()))
            .finish()
    }
}

/// A key in a [`KeySet`]: one that can also sign, or a public key only.
#[derive(Clone, Debug)]
pub(crate) enum Key {
    Signing(SigningKey),
    Verifying(VerifyingKey),
}

impl Key {
    pub(crate) fn kid(&self) -> &str {
        match self {
            Self::Signing(key) => key.kid(),
            Self::Verifying(key) => key.kid(),
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        match self {
            Self::Signing(key) => key.algorithm(),
            Self::Verifying(key) => key.algorithm(),
        }
    }

    /// The header segment of the tokens this key signs.
    pub(crate) fn encoded_header(&self) -> &str {
        match self {
            Self::Signing(key) => key.encoded_header(),
            Self::Verifying(key) => &key.encoded_header,
        }
    }

    /// Whether `signature` over `message` verifies with this key.
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Signing(key) => key.verify_signature(message, signature),
            Self::Verifying(key) => key.verify_signature(message, signature),
        }
    }

    /// The public half, if there is one.
    fn public(&self) -> Option<VerifyingKey> {
        match self {
            Self::Signing(key) => key.verifying_key(),
            Self::Verifying(key) => Some(key.clone()),
        }
    }
}

/// What a key may vouch for at a given time.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Trust {
    /// A token it signed is valid if its claims are.
    Full,
    /// A retired key past its verification window: every token it signed
    /// before it was retired has expired by now, so a genuine token of it
    /// can only be an expired one. It is recognised as such (the client
    /// should refresh, and can log out with it) and never accepted; one
    /// that claims to be still valid was signed after the retirement and
    /// is rejected.
    ExpiredOnly,
}

impl Trust {
    fn at(until: Option<OffsetDateTime>, now: OffsetDateTime) -> Self {
        match until {
            Some(until) if now >= until => Self::ExpiredOnly,
            _ => Self::Full,
        }
    }
}

/// The keys that verify access tokens, each fully until an optional
/// deadline, then only as the signer of expired tokens ([`Trust`]).
#[derive(Clone, Debug)]
pub(crate) struct KeySet {
    keys: Vec<(Key, Option<OffsetDateTime>)>,
    /// How long after its deadline a key is forgotten altogether; `None`:
    /// never (an issuer's retired keys, which its application configures).
    /// A verifier's keys that its JWKS dropped are forgotten after the
    /// verifier's retention period.
    forget_after: Option<Duration>,
    /// Unique to this key set among those the process makes: what a cache
    /// of verified tokens checks, so that no entry outlives the keys that
    /// verified it.
    id: u64,
}

/// The id of the next key set.
static NEXT_KEY_SET: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl KeySet {
    /// The keys of an issuer: the active signing key, keys published ahead
    /// of signing (`upcoming`, verify with no deadline) and `retired` keys
    /// that verify (never sign) until the given instant.
    pub(crate) fn for_issuer(
        active: SigningKey,
        upcoming: Vec<SigningKey>,
        retired: Vec<(SigningKey, OffsetDateTime)>,
    ) -> Result<Self, ConfigError> {
        let keys = std::iter::once((Key::Signing(active), None))
            .chain(upcoming.into_iter().map(|k| (Key::Signing(k), None)))
            .chain(
                retired
                    .into_iter()
                    .map(|(k, at)| (Key::Signing(k), Some(at))),
            )
            .collect();
        Self::from_keys(keys)
    }

    /// The active key and `retired` keys verifying until the given instant.
    #[cfg(test)]
    pub(crate) fn new(
        active: SigningKey,
        retired: Vec<(SigningKey, OffsetDateTime)>,
    ) -> Result<Self, ConfigError> {
        Self::for_issuer(active, Vec::new(), retired)
    }

    /// Public keys only: a key set that can verify and never sign.
    pub(crate) fn verify_only(keys: Vec<VerifyingKey>) -> Result<Self, ConfigError> {
        Self::verify_only_with_removed(keys, Vec::new(), Duration::ZERO)
    }

    /// Public keys only, with keys their publisher has since `removed`
    /// (each with the instant it was removed): those vouch for expired
    /// tokens only ([`Trust::ExpiredOnly`]), as an issuer's retired key
    /// past its window does, and are forgotten `retention` after their
    /// removal.
    pub(crate) fn verify_only_with_removed(
        keys: Vec<VerifyingKey>,
        removed: Vec<(VerifyingKey, OffsetDateTime)>,
        retention: Duration,
    ) -> Result<Self, ConfigError> {
        let mut set = Self::from_keys(
            keys.into_iter()
                .map(|k| (Key::Verifying(k), None))
                .chain(
                    removed
                        .into_iter()
                        .map(|(k, at)| (Key::Verifying(k), Some(at))),
                )
                .collect(),
        )?;
        set.forget_after = Some(retention);
        Ok(set)
    }

    /// Whether `keys` are exactly this set's keys that were never removed,
    /// in the same order.
    pub(crate) fn same_current_keys(&self, keys: &[VerifyingKey]) -> bool {
        let mut current = self.verifying_keys().filter(|(_, until)| until.is_none());
        keys.iter()
            .all(|key| current.next().is_some_and(|(k, _)| k == key))
            && current.next().is_none()
    }

    /// The public keys of a verify-only set, each with the instant it was
    /// removed, if it was.
    pub(crate) fn verifying_keys(
        &self,
    ) -> impl Iterator<Item = (&VerifyingKey, Option<OffsetDateTime>)> {
        self.keys.iter().filter_map(|(key, until)| match key {
            Key::Verifying(key) => Some((key, *until)),
            Key::Signing(_) => None,
        })
    }

    fn from_keys(keys: Vec<(Key, Option<OffsetDateTime>)>) -> Result<Self, ConfigError> {
        for (i, (key, _)) in keys.iter().enumerate() {
            if keys
                .iter()
                .skip(i + 1)
                .any(|(other, _)| other.kid() == key.kid())
            {
                return Err(ConfigError::DuplicateKeyId);
            }
        }
        let id = NEXT_KEY_SET.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Self {
            keys,
            forget_after: None,
            id,
        })
    }

    /// Whether a key with this deadline is still known at `now`.
    fn known(&self, until: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
        match (until, self.forget_after) {
            (Some(until), Some(after)) => now < until.saturating_add(after),
            _ => true,
        }
    }

    /// This key set's id, unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The key with exactly this kid, and what it may vouch for at `now`.
    pub(crate) fn find(&self, kid: &str, now: OffsetDateTime) -> Option<(&Key, Trust)> {
        // Byte equality, no normalisation: "Key1" and "key1 " are other keys.
        // Key ids are public, so a variable-time comparison leaks nothing.
        self.keys
            .iter()
            .find(|(key, _)| key.kid().as_bytes() == kid.as_bytes())
            .filter(|(_, until)| self.known(*until, now))
            .map(|(key, until)| (key, Trust::at(*until, now)))
    }

    /// The key whose own header segment is exactly `header`, and what it
    /// may vouch for at `now`: the tokens a key signs all start with the
    /// same bytes, so they need no parsing. `None` sends the caller to the
    /// strict parser.
    pub(crate) fn find_by_encoded_header(
        &self,
        header: &str,
        now: OffsetDateTime,
    ) -> Option<(&Key, Trust)> {
        self.keys
            .iter()
            .find(|(key, _)| key.encoded_header().as_bytes() == header.as_bytes())
            .filter(|(_, until)| self.known(*until, now))
            .map(|(key, until)| (key, Trust::at(*until, now)))
    }

    /// The public keys that verify at `now`, in key-set order (HS256 keys
    /// have none and are left out).
    pub(crate) fn public_keys(&self, now: OffsetDateTime) -> Vec<VerifyingKey> {
        self.keys
            .iter()
            .filter(|(_, until)| until.is_none_or(|until| now < until))
            .filter_map(|(key, _)| key.public())
            .collect()
    }
}

#[cfg(test)]
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
        assert_eq!(set.find("key1", now()).unwrap().0.kid(), "key1");
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
        let trust = |kid, at| set.find(kid, at).map(|(_, trust)| trust);
        assert_eq!(trust("old", now()), Some(Trust::Full));
        assert_eq!(
            trust("old", until - Duration::seconds(1)),
            Some(Trust::Full)
        );
        // Past the window, only as the signer of expired tokens (SEC-44).
        assert_eq!(trust("old", until), Some(Trust::ExpiredOnly));
        assert_eq!(
            trust("old", until + Duration::days(1)),
            Some(Trust::ExpiredOnly)
        );
        // The active key never expires.
        assert_eq!(trust("new", until + Duration::days(365)), Some(Trust::Full));
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

    /// RFC 8032 §7.1, TEST 2: one-byte message 0x72.
    const RFC_8032_SEED: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
    const RFC_8032_PUBLIC: &str =
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    const RFC_8032_SIGNATURE: &str = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ed25519_matches_rfc_8032_test_2() {
        let k = SigningKey::ed25519("rfc8032", &hex(RFC_8032_SEED)).unwrap();
        assert_eq!(k.algorithm(), Algorithm::EdDsa);
        let public = k.verifying_key().unwrap();
        assert_eq!(public.to_bytes().to_vec(), hex(RFC_8032_PUBLIC));
        let mut token = String::from("r");
        k.append_signature(&mut token);
        let signature = URL_SAFE_NO_PAD.decode(&token[2..]).unwrap();
        assert_eq!(signature, hex(RFC_8032_SIGNATURE));
        for key in [Key::Signing(k.clone()), Key::Verifying(public)] {
            assert!(key.verify_signature(b"r", &signature));
            assert!(!key.verify_signature(b"s", &signature));
            assert!(!key.verify_signature(b"r", &signature[..63]));
            assert!(!key.verify_signature(b"r", &[]));
            let mut flipped = signature.clone();
            flipped[10] ^= 1;
            assert!(!key.verify_signature(b"r", &flipped));
        }
    }

    #[test]
    fn ed25519_strict_verification_rejects_non_canonical_s() {
        // S + L (the group order) verifies with lax checks but is not the
        // canonical encoding: a second valid-looking signature for the same
        // message would be a malleability hole.
        let k = SigningKey::ed25519("k", &hex(RFC_8032_SEED)).unwrap();
        let mut signature = hex(RFC_8032_SIGNATURE);
        let order = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(signature[32 + i]) + u16::from(order[i]) + carry;
            signature[32 + i] = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        assert!(!k.verify_signature(b"r", &signature));
    }

    #[test]
    fn ed25519_seed_must_be_32_bytes() {
        for len in [0, 31, 33, 64] {
            assert!(matches!(
                SigningKey::ed25519("k", &vec![1u8; len]),
                Err(ConfigError::KeyTooShort { min: 32, actual }) if actual == len
            ));
        }
        assert!(matches!(
            SigningKey::ed25519("", &[1u8; 32]),
            Err(ConfigError::InvalidKeyId)
        ));
        assert!(matches!(
            VerifyingKey::ed25519("k", &[1u8; 31]),
            Err(ConfigError::InvalidKey)
        ));
    }

    #[test]
    fn ed25519_header_names_eddsa() {
        let k = SigningKey::generate_ed25519("ed-1").unwrap();
        let json = URL_SAFE_NO_PAD.decode(k.encoded_header()).unwrap();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1"}"#
        );
        let other = SigningKey::generate_ed25519("ed-1").unwrap();
        assert_ne!(k.verifying_key(), other.verifying_key());
    }

    #[test]
    fn sec_26_a_key_verifies_only_its_own_algorithm() {
        // The HS256 key's secret is the Ed25519 public key: the classic
        // confusion attack. Neither key accepts the other's signature.
        let ed = SigningKey::ed25519("k", &hex(RFC_8032_SEED)).unwrap();
        let public = ed.verifying_key().unwrap();
        let hs = SigningKey::hs256("k", &public.to_bytes()).unwrap();
        let (mut by_hs, mut by_ed) = (String::from("m"), String::from("m"));
        hs.append_signature(&mut by_hs);
        ed.append_signature(&mut by_ed);
        let hs_sig = URL_SAFE_NO_PAD.decode(&by_hs[2..]).unwrap();
        let ed_sig = URL_SAFE_NO_PAD.decode(&by_ed[2..]).unwrap();
        assert!(!Key::Verifying(public.clone()).verify_signature(b"m", &hs_sig));
        assert!(!Key::Signing(ed).verify_signature(b"m", &hs_sig));
        assert!(!Key::Signing(hs).verify_signature(b"m", &ed_sig));
        assert!(Key::Verifying(public).verify_signature(b"m", &ed_sig));
    }

    #[test]
    fn upcoming_keys_verify_and_are_published_hs256_never() {
        let until = now() + Duration::seconds(930);
        let set = KeySet::for_issuer(
            SigningKey::generate_ed25519("active").unwrap(),
            vec![
                SigningKey::generate_ed25519("next").unwrap(),
                key("hmac-next"),
            ],
            vec![(SigningKey::generate_ed25519("old").unwrap(), until)],
        )
        .unwrap();
        assert!(set.find("next", now() + Duration::days(365)).is_some());
        let kids = |at| -> Vec<String> {
            set.public_keys(at)
                .iter()
                .map(|k| k.kid().to_owned())
                .collect()
        };
        assert_eq!(kids(now()), ["active", "next", "old"]);
        assert_eq!(kids(until), ["active", "next"]);
        assert!(matches!(
            KeySet::verify_only(vec![
                SigningKey::generate_ed25519("a")
                    .unwrap()
                    .verifying_key()
                    .unwrap(),
                SigningKey::generate_ed25519("a")
                    .unwrap()
                    .verifying_key()
                    .unwrap(),
            ]),
            Err(ConfigError::DuplicateKeyId)
        ));
    }

    #[test]
    fn sec_05_ed25519_debug_shows_no_seed() {
        let seed = hex(RFC_8032_SEED);
        let k = SigningKey::ed25519("ed-kid", &seed).unwrap();
        let set = KeySet::for_issuer(k.clone(), vec![], vec![]).unwrap();
        let b64 = URL_SAFE_NO_PAD.encode(&seed);
        let std_b64 = base64::engine::general_purpose::STANDARD.encode(&seed);
        for text in [format!("{k:?}"), format!("{k:#?}"), format!("{set:?}")] {
            assert!(text.contains("ed-kid"), "{text}");
            for secret in [RFC_8032_SEED, &b64, &std_b64, &format!("{seed:?}")] {
                assert!(!text.contains(secret), "{text}");
            }
            // Not even a prefix of the seed, in any of its spellings.
            assert!(!text.contains(&RFC_8032_SEED[..12]), "{text}");
            assert!(!text.contains(&b64[..12]), "{text}");
        }
    }
}
