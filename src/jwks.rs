//! JSON Web Key Sets (RFC 7517) of Ed25519 public keys (RFC 8037): how an
//! issuer publishes its verifying keys and how other services load them,
//! once or again whenever a token names a key they have not seen.

use std::error::Error as StdError;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Duration;

use crate::keys::{ED25519_KEY_LEN, VerifyingKey, check_kid};

/// The most keys a set may hold. A JWKS holds the current key, the next
/// and a few retired ones; more is a mistake or an attempt to make every
/// lookup slow.
pub const MAX_JWKS_KEYS: usize = 64;

/// The default shortest time between two JWKS fetches: 60 seconds.
pub const DEFAULT_MIN_FETCH_INTERVAL: Duration = Duration::seconds(60);

/// How old a [`Verifier`](crate::Verifier)'s keys may get before
/// [`verify_or_fetch_keys`](crate::Verifier::verify_or_fetch_keys) fetches
/// them again: an issuer's retired key stops verifying (for the access
/// lifetime plus the leeway, 10.5 minutes by default, after its
/// retirement) and leaves the JWKS; a verifier that is verifying tokens
/// learns it within this long, plus up to a minimum fetch interval.
pub const DEFAULT_MAX_KEY_AGE: Duration = Duration::minutes(10);

/// Where a [`Verifier`](crate::Verifier) fetches the issuer's current JWKS document, for
/// example with your HTTP client from `https://auth.example/.well-known/jwks.json`.
///
/// sessionkit depends on no HTTP client: bring your own.
#[async_trait::async_trait]
pub trait JwksSource: Send + Sync + 'static {
    /// The current JWKS document.
    ///
    /// # Errors
    /// Whatever went wrong fetching it; the verifier keeps its keys.
    async fn fetch(&self) -> Result<String, Box<dyn StdError + Send + Sync>>;
}

/// An Ed25519 public key in unpadded base64url.
const ED25519_B64_LEN: usize = 43;

/// A set of public keys that verify access tokens, with unique key ids.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use sessionkit::jwks::Jwks;
/// use sessionkit::SigningKey;
///
/// let key = SigningKey::generate_ed25519("2026-11")?;
/// let public = key.verifying_key().ok_or("an Ed25519 key has a public half")?;
/// let json = Jwks::new(vec![public])?.to_json();
/// let loaded = Jwks::from_json(&json)?;
/// assert_eq!(loaded.keys()[0].kid(), "2026-11");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Jwks {
    keys: Vec<VerifyingKey>,
}

/// Why a JWKS was not accepted. `index` is the position of the offending
/// key in the `keys` array.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The document is not JSON of the form `{"keys": [{...}, ...]}`, or a
    /// member has the wrong JSON type or appears twice.
    #[error("malformed jwks")]
    Malformed(#[source] Box<dyn StdError + Send + Sync>),
    /// More keys than [`MAX_JWKS_KEYS`].
    #[error("too many keys: at most {max}")]
    TooManyKeys {
        /// The limit.
        max: usize,
    },
    /// `kty` is not `OKP`.
    #[error("key {index}: unsupported key type")]
    UnsupportedKeyType {
        /// The key's position.
        index: usize,
    },
    /// `crv` is not `Ed25519`.
    #[error("key {index}: unsupported curve")]
    UnsupportedCurve {
        /// The key's position.
        index: usize,
    },
    /// `alg` is present and is not `EdDSA`.
    #[error("key {index}: unsupported algorithm")]
    UnsupportedAlgorithm {
        /// The key's position.
        index: usize,
    },
    /// `use` is present and is not `sig`.
    #[error("key {index}: key use is not sig")]
    UnsupportedUse {
        /// The key's position.
        index: usize,
    },
    /// The key carries the private member `d`: a secret was published.
    #[error("key {index}: private key where a public key was expected")]
    PrivateKey {
        /// The key's position.
        index: usize,
    },
    /// `x` is missing, not unpadded base64url, or not 32 bytes.
    #[error("key {index}: invalid public key encoding")]
    InvalidPublicKey {
        /// The key's position.
        index: usize,
    },
    /// `x` is not a usable curve point (not on the curve, or of small order).
    #[error("key {index}: invalid curve point")]
    InvalidPoint {
        /// The key's position.
        index: usize,
    },
    /// `kid` is missing, empty, longer than 64 bytes or not printable ASCII.
    #[error("key {index}: missing or invalid key id")]
    InvalidKeyId {
        /// The key's position.
        index: usize,
    },
    /// Two keys share a `kid`.
    #[error("key {index}: duplicate key id")]
    DuplicateKeyId {
        /// The position of the second key with that id.
        index: usize,
    },
}

/// The document as read: only `keys` is looked at.
#[derive(Deserialize)]
struct JwksIn {
    keys: Vec<JwkIn>,
}

/// One key as read. The derive rejects a member that appears twice and a
/// member of the wrong JSON type; members not listed are ignored (RFC 7517
/// §4).
#[derive(Deserialize)]
struct JwkIn {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    d: Option<Value>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
}

/// One key as written (RFC 8037 §2).
#[derive(Serialize)]
struct JwkOut<'a> {
    kty: &'a str,
    crv: &'a str,
    x: String,
    kid: &'a str,
    alg: &'a str,
    #[serde(rename = "use")]
    use_: &'a str,
}

#[derive(Serialize)]
struct JwksOut<'a> {
    keys: Vec<JwkOut<'a>>,
}

impl Jwks {
    /// A set of the given keys.
    ///
    /// # Errors
    /// [`JwksError::DuplicateKeyId`] if two keys share a kid;
    /// [`JwksError::TooManyKeys`] over [`MAX_JWKS_KEYS`].
    pub fn new(keys: Vec<VerifyingKey>) -> Result<Self, JwksError> {
        if keys.len() > MAX_JWKS_KEYS {
            return Err(JwksError::TooManyKeys { max: MAX_JWKS_KEYS });
        }
        for (index, key) in keys.iter().enumerate() {
            if keys.iter().take(index).any(|k| k.kid() == key.kid()) {
                return Err(JwksError::DuplicateKeyId { index });
            }
        }
        Ok(Self { keys })
    }

    /// Parses a JWKS document. Every key must be an Ed25519 public key
    /// (`"kty":"OKP","crv":"Ed25519"`) with a `kid`; `alg`, when present,
    /// must be `EdDSA` and `use`, when present, `sig`.
    ///
    /// # Errors
    /// A [`JwksError`] naming the first problem found; no key is loaded
    /// from a document with any problem.
    pub fn from_json(json: &str) -> Result<Self, JwksError> {
        let doc: JwksIn =
            serde_json::from_str(json).map_err(|err| JwksError::Malformed(Box::new(err)))?;
        if doc.keys.len() > MAX_JWKS_KEYS {
            return Err(JwksError::TooManyKeys { max: MAX_JWKS_KEYS });
        }
        let keys = doc
            .keys
            .into_iter()
            .enumerate()
            .map(|(index, jwk)| parse_key(index, jwk))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The set as a JWKS document, ready to serve at
    /// `/.well-known/jwks.json`. Only public members are written.
    pub fn to_json(&self) -> String {
        let doc = JwksOut {
            keys: self
                .keys
                .iter()
                .map(|key| JwkOut {
                    kty: "OKP",
                    crv: "Ed25519",
                    x: URL_SAFE_NO_PAD.encode(key.to_bytes()),
                    kid: key.kid(),
                    alg: key.algorithm().as_str(),
                    use_: "sig",
                })
                .collect(),
        };
        // Strings only: serializing cannot fail. Were it ever to, an empty
        // set verifies nothing, which fails closed.
        serde_json::to_string(&doc).unwrap_or_else(|_| String::from(r#"{"keys":[]}"#))
    }

    /// The keys, in document order.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// The keys, by value.
    pub(crate) fn into_keys(self) -> Vec<VerifyingKey> {
        self.keys
    }
}

fn parse_key(index: usize, jwk: JwkIn) -> Result<VerifyingKey, JwksError> {
    if jwk.kty.as_deref() != Some("OKP") {
        return Err(JwksError::UnsupportedKeyType { index });
    }
    if jwk.crv.as_deref() != Some("Ed25519") {
        return Err(JwksError::UnsupportedCurve { index });
    }
    if jwk.d.is_some() {
        return Err(JwksError::PrivateKey { index });
    }
    if jwk.alg.as_deref().is_some_and(|alg| alg != "EdDSA") {
        return Err(JwksError::UnsupportedAlgorithm { index });
    }
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err(JwksError::UnsupportedUse { index });
    }
    let kid = jwk.kid.ok_or(JwksError::InvalidKeyId { index })?;
    check_kid(&kid).map_err(|_| JwksError::InvalidKeyId { index })?;
    let x = jwk.x.ok_or(JwksError::InvalidPublicKey { index })?;
    // 32 bytes are exactly 43 unpadded base64url characters; anything else
    // is refused before decoding. The buffer leaves room for the decoder's
    // rounding up to whole 3-byte groups.
    if x.len() != ED25519_B64_LEN {
        return Err(JwksError::InvalidPublicKey { index });
    }
    let mut bytes = [0u8; ED25519_KEY_LEN + 2];
    let len = URL_SAFE_NO_PAD
        .decode_slice(&x, &mut bytes)
        .map_err(|_| JwksError::InvalidPublicKey { index })?;
    let public = bytes
        .get(..len)
        .filter(|b| b.len() == ED25519_KEY_LEN)
        .ok_or(JwksError::InvalidPublicKey { index })?;
    VerifyingKey::ed25519(kid, public).map_err(|_| JwksError::InvalidPoint { index })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    /// RFC 8037 Appendix A.1/A.2: the example Ed25519 key pair.
    const RFC_8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const RFC_8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

    fn jwk(fields: &str) -> String {
        format!(r#"{{"keys":[{{{fields}}}]}}"#)
    }

    fn valid(kid: &str) -> String {
        format!(r#""kty":"OKP","crv":"Ed25519","x":"{RFC_8037_X}","kid":"{kid}""#)
    }

    #[test]
    fn rfc_8037_public_key_loads_and_matches_its_private_key() {
        let jwks = Jwks::from_json(&jwk(&valid("rfc8037"))).unwrap();
        assert_eq!(jwks.keys().len(), 1);
        let seed = URL_SAFE_NO_PAD.decode(RFC_8037_D).unwrap();
        let signing = SigningKey::ed25519("rfc8037", &seed).unwrap();
        assert_eq!(signing.verifying_key().unwrap(), jwks.keys()[0]);
    }

    #[test]
    fn export_then_import_round_trips_with_public_members_only() {
        let seed = URL_SAFE_NO_PAD.decode(RFC_8037_D).unwrap();
        let a = SigningKey::ed25519("a", &seed).unwrap();
        let b = SigningKey::generate_ed25519("b").unwrap();
        let jwks = Jwks::new(vec![a.verifying_key().unwrap(), b.verifying_key().unwrap()]).unwrap();
        let json = jwks.to_json();
        assert!(json.starts_with(&format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{RFC_8037_X}","kid":"a","alg":"EdDSA","use":"sig"}}"#
        )), "{json}");
        assert!(!json.contains(RFC_8037_D));
        assert!(!json.contains("\"d\""));
        assert_eq!(Jwks::from_json(&json).unwrap(), jwks);
    }

    #[test]
    fn optional_and_unknown_members_are_accepted() {
        let json = jwk(&format!(
            r#"{},"alg":"EdDSA","use":"sig","key_ops":["verify"],"x5t":"abc""#,
            valid("k")
        ));
        assert_eq!(Jwks::from_json(&json).unwrap().keys()[0].kid(), "k");
        assert!(Jwks::from_json(r#"{"keys":[]}"#).unwrap().keys().is_empty());
    }

    #[test]
    fn typed_errors_for_every_bad_key() {
        let x = RFC_8037_X;
        type Expected = fn(&JwksError) -> bool;
        let cases: Vec<(String, Expected)> = vec![
            (
                jwk(&format!(
                    r#""kty":"RSA","crv":"Ed25519","x":"{x}","kid":"k""#
                )),
                |e| matches!(e, JwksError::UnsupportedKeyType { index: 0 }),
            ),
            (
                jwk(&format!(r#""crv":"Ed25519","x":"{x}","kid":"k""#)),
                |e| matches!(e, JwksError::UnsupportedKeyType { index: 0 }),
            ),
            (
                jwk(&format!(
                    r#""kty":"OKP","crv":"X25519","x":"{x}","kid":"k""#
                )),
                |e| matches!(e, JwksError::UnsupportedCurve { index: 0 }),
            ),
            (
                jwk(&format!(r#""kty":"OKP","crv":"Ed448","x":"{x}","kid":"k""#)),
                |e| matches!(e, JwksError::UnsupportedCurve { index: 0 }),
            ),
            (jwk(&format!(r#"{},"d":"{RFC_8037_D}""#, valid("k"))), |e| {
                matches!(e, JwksError::PrivateKey { index: 0 })
            }),
            (jwk(&format!(r#"{},"alg":"HS256""#, valid("k"))), |e| {
                matches!(e, JwksError::UnsupportedAlgorithm { index: 0 })
            }),
            (jwk(&format!(r#"{},"alg":"none""#, valid("k"))), |e| {
                matches!(e, JwksError::UnsupportedAlgorithm { index: 0 })
            }),
            (jwk(&format!(r#"{},"use":"enc""#, valid("k"))), |e| {
                matches!(e, JwksError::UnsupportedUse { index: 0 })
            }),
            (jwk(r#""kty":"OKP","crv":"Ed25519","kid":"k""#), |e| {
                matches!(e, JwksError::InvalidPublicKey { index: 0 })
            }),
            (
                jwk(r#""kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"k""#),
                |e| matches!(e, JwksError::InvalidPublicKey { index: 0 }),
            ),
            (
                jwk(&format!(
                    r#""kty":"OKP","crv":"Ed25519","x":"{x}AA","kid":"k""#
                )),
                |e| matches!(e, JwksError::InvalidPublicKey { index: 0 }),
            ),
            (
                jwk(&format!(
                    r#""kty":"OKP","crv":"Ed25519","x":"{x}=","kid":"k""#
                )),
                |e| matches!(e, JwksError::InvalidPublicKey { index: 0 }),
            ),
            (
                jwk(&format!(
                    r#""kty":"OKP","crv":"Ed25519","x":"{}","kid":"k""#,
                    x.replace('_', "/")
                )),
                |e| matches!(e, JwksError::InvalidPublicKey { index: 0 }),
            ),
            (
                jwk(&format!(
                    r#""kty":"OKP","crv":"Ed25519","x":"{}","kid":"k""#,
                    "A".repeat(10_000)
                )),
                |e| matches!(e, JwksError::InvalidPublicKey { index: 0 }),
            ),
            (
                jwk(&format!(r#""kty":"OKP","crv":"Ed25519","x":"{x}""#)),
                |e| matches!(e, JwksError::InvalidKeyId { index: 0 }),
            ),
            (
                jwk(&format!(
                    r#""kty":"OKP","crv":"Ed25519","x":"{x}","kid":"""#
                )),
                |e| matches!(e, JwksError::InvalidKeyId { index: 0 }),
            ),
            (
                format!(
                    r#"{{"keys":[{{{}}},{{{}}}]}}"#,
                    valid("same"),
                    valid("same")
                ),
                |e| matches!(e, JwksError::DuplicateKeyId { index: 1 }),
            ),
            (
                format!(r#"{{"keys":[{{{}}},{{"kty":"EC"}}]}}"#, valid("a")),
                |e| matches!(e, JwksError::UnsupportedKeyType { index: 1 }),
            ),
        ];
        for (json, expected) in cases {
            let err = Jwks::from_json(&json).unwrap_err();
            assert!(expected(&err), "{json}: {err:?}");
            let message = err.to_string();
            assert_eq!(message, message.to_lowercase(), "{message}");
        }
    }

    #[test]
    fn invalid_and_small_order_points_are_rejected() {
        // y = 2 is not the y-coordinate of any curve point; the identity
        // (y = 1) and the encoding of a point of order 2 (y = -1) have
        // small order and would let forged signatures through.
        let mut not_on_curve = [0u8; 32];
        not_on_curve[0] = 2;
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut order_two = [0xffu8; 32];
        order_two[0] = 0xec;
        order_two[31] = 0x7f;
        for point in [not_on_curve, identity, order_two] {
            let json = jwk(&format!(
                r#""kty":"OKP","crv":"Ed25519","x":"{}","kid":"k""#,
                URL_SAFE_NO_PAD.encode(point)
            ));
            assert!(
                matches!(
                    Jwks::from_json(&json),
                    Err(JwksError::InvalidPoint { index: 0 })
                ),
                "{point:?}"
            );
        }
    }

    #[test]
    fn malformed_documents_are_errors_not_panics() {
        let x = RFC_8037_X;
        for json in [
            "",
            "null",
            "[]",
            "{}",
            r#"{"keys":{}}"#,
            r#"{"keys":[1]}"#,
            r#"{"keys":[null]}"#,
            &jwk(r#""kty":5"#),
            &jwk(&format!(r#"{},"kid":"twice""#, valid("k"))),
            &jwk(&format!(r#"{},"x":"{x}""#, valid("k"))),
            r#"{"keys":[]} trailing"#,
            "{\"keys\":[{\"kty\":\"OKP\"",
        ] {
            assert!(
                matches!(Jwks::from_json(json), Err(JwksError::Malformed(_))),
                "{json}"
            );
        }
    }

    #[test]
    fn too_many_keys_is_an_error() {
        let keys: Vec<String> = (0..=MAX_JWKS_KEYS)
            .map(|i| format!("{{{}}}", valid(&format!("k{i}"))))
            .collect();
        let json = format!(r#"{{"keys":[{}]}}"#, keys.join(","));
        assert!(matches!(
            Jwks::from_json(&json),
            Err(JwksError::TooManyKeys { max: MAX_JWKS_KEYS })
        ));
    }
}
