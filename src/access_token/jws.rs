//! Compact JWS (RFC 7515 §7.1): the token's shape, its header and its
//! signature, all checked before a byte of the payload is decoded (SEC-32).
//!
//! The length is bounded before anything else looks at the token (SEC-39).
//! Only the compact form is accepted: three non-empty segments in unpadded
//! base64url (SEC-31). The header may carry `alg`, `typ` and `kid` and
//! nothing else, since every other parameter either points at a key the
//! token chose itself or changes how the payload is read (SEC-27, SEC-31).
//! The key comes from the local key set by exact `kid` (SEC-27), and its
//! algorithm is pinned to it, never taken from the token (SEC-25, SEC-26);
//! `typ: at+jwt` keeps other JWTs and refresh tokens out (SEC-30).

use std::cell::Cell;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use time::OffsetDateTime;

use super::json::{Name, duplicate, parse_json};
use crate::error::Rejection;
use crate::keys::{ACCESS_TOKEN_TYPE, Key, KeySet, Trust};

/// The longest signature accepted, in bytes: room for Ed25519 (64) next to
/// HS256 (32), so adding it does not change the parser.
const MAX_SIGNATURE_LEN: usize = 64;

/// `MAX_SIGNATURE_LEN` bytes in unpadded base64url.
pub(super) const MAX_SIGNATURE_B64: usize = 86;

/// How the header is read.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(super) enum HeaderPath {
    /// A header segment equal, byte for byte, to the precomputed header of a
    /// key that may verify at `now` is known without parsing; anything else
    /// goes to the strict parser.
    Precomputed,
    /// Always the strict parser (tests check that both paths agree).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only tests force the strict path")
    )]
    Strict,
}

/// The key that verifies a token with this header segment, and what it
/// may vouch for at `now`.
#[inline]
pub(super) fn key_for<'k>(
    keys: &'k KeySet,
    header: &str,
    now: OffsetDateTime,
    path: HeaderPath,
) -> Result<KeyFound<'k>, Rejection> {
    // A key's own header parses to its `alg`, `typ: at+jwt` and its `kid`,
    // and `find` by that kid returns that key (kids are unique): the strict
    // path below would reach the same key with every check passed.
    let known = match path {
        HeaderPath::Precomputed => keys.find_by_encoded_header(header, now),
        HeaderPath::Strict => None,
    };
    match known {
        Some((key, trust)) => Ok(KeyFound {
            key,
            trust,
            canonical: true,
        }),
        None => key_from_header(keys, header, now).map(|(key, trust)| KeyFound {
            key,
            trust,
            canonical: false,
        }),
    }
}

/// The key a header leads to.
pub(super) struct KeyFound<'k> {
    pub(super) key: &'k Key,
    /// What the key may vouch for now.
    pub(super) trust: Trust,
    /// The header is the key's own, byte for byte (as every token it signs
    /// has): the key can be found again from the header alone.
    pub(super) canonical: bool,
}

/// The strict header checks: JSON with only `alg`, `typ` and `kid`, `typ:
/// at+jwt`, a known kid, and that key's algorithm.
fn key_from_header<'k>(
    keys: &'k KeySet,
    segment: &str,
    now: OffsetDateTime,
) -> Result<(&'k Key, Trust), Rejection> {
    let header = parse_header(segment)?;
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
        return Err(Rejection::Type);
    }
    let kid = header.kid.as_deref().ok_or(Rejection::UnknownKey)?;
    let (key, trust) = keys.find(kid, now).ok_or(Rejection::UnknownKey)?;
    if header.alg.as_deref() != Some(key.algorithm().as_str()) {
        return Err(Rejection::Algorithm);
    }
    Ok((key, trust))
}

/// The three parts of a compact JWS.
pub(super) struct Segments<'t> {
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'t str,
    pub(super) header: &'t str,
    pub(super) payload: &'t str,
    signature: &'t str,
}

impl<'t> Segments<'t> {
    /// Splits a compact JWS, refusing an oversized one before reading it.
    #[inline]
    pub(super) fn split(token: &'t str, max_len: usize) -> Result<Self, Rejection> {
        // Before any work that grows with the input (SEC-39).
        if token.len() > max_len {
            return Err(Rejection::TooLong);
        }
        // One pass over the bytes, no allocation: a token made of thousands
        // of dots costs no more than any other (CVE-2025-30204). Only the
        // compact form, in the unpadded base64url alphabet: the JSON
        // serialization, padding and whitespace all fail here
        // (CVE-2022-39227). The payload is decoded only after the signature
        // verified.
        let mut dots = [0usize; 2];
        let mut found = 0;
        for (i, &b) in token.as_bytes().iter().enumerate() {
            if b == b'.' {
                *dots.get_mut(found).ok_or(Rejection::Malformed)? = i;
                found += 1;
            } else if !is_base64url(b) {
                return Err(Rejection::Malformed);
            }
        }
        let [first, second] = dots;
        if found != 2 {
            return Err(Rejection::Malformed);
        }
        let signing_input = token.get(..second).ok_or(Rejection::Malformed)?;
        let header = token.get(..first).ok_or(Rejection::Malformed)?;
        let payload = token.get(first + 1..second).ok_or(Rejection::Malformed)?;
        let signature = token.get(second + 1..).ok_or(Rejection::Malformed)?;
        if header.is_empty() || payload.is_empty() || signature.is_empty() {
            return Err(Rejection::Malformed);
        }
        Ok(Self {
            signing_input,
            header,
            payload,
            signature,
        })
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[inline]
pub(super) fn check_signature(key: &Key, segments: &Segments<'_>) -> Result<(), Rejection> {
    if segments.signature.len() > MAX_SIGNATURE_B64 {
        return Err(Rejection::Signature);
    }
    // The decoder's length estimate rounds up to whole 3-byte groups.
    let mut buf = [0u8; MAX_SIGNATURE_LEN + 2];
    let len = URL_SAFE_NO_PAD
        .decode_slice(segments.signature, &mut buf)
        .map_err(|_| Rejection::Malformed)?;
    let signature = buf.get(..len).ok_or(Rejection::Malformed)?;
    if key.verify_signature(segments.signing_input.as_bytes(), signature) {
        Ok(())
    } else {
        Err(Rejection::Signature)
    }
}

/// Segments up to this many decoded bytes are decoded on the stack.
const STACK_SEGMENT: usize = 1024;

/// Decodes a segment and hands the bytes to `f`: on the stack when they
/// fit, on the heap otherwise.
#[inline]
pub(super) fn with_decoded<T>(
    segment: &str,
    f: impl FnOnce(&[u8]) -> Result<T, Rejection>,
) -> Result<T, Rejection> {
    if base64::decoded_len_estimate(segment.len()) <= STACK_SEGMENT {
        let mut buf = [0u8; STACK_SEGMENT];
        let len = URL_SAFE_NO_PAD
            .decode_slice(segment, &mut buf)
            .map_err(|_| Rejection::Malformed)?;
        f(buf.get(..len).ok_or(Rejection::Malformed)?)
    } else {
        let buf = URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|_| Rejection::Malformed)?;
        f(&buf)
    }
}

/// The JOSE header. Only these three members are allowed.
#[derive(Default)]
struct Header {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
}

fn parse_header(segment: &str) -> Result<Header, Rejection> {
    with_decoded(segment, |json| {
        let reason = Cell::new(None);
        parse_json(json, HeaderVisitor { reason: &reason }, &reason)
    })
}

struct HeaderVisitor<'r> {
    reason: &'r Cell<Option<Rejection>>,
}

impl<'de> DeserializeSeed<'de> for HeaderVisitor<'_> {
    type Value = Header;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Header, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderVisitor<'_> {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut header = Header::default();
        while let Some(Name(name)) = map.next_key()? {
            // Anything else could ask us to trust a key from the token itself
            // (`jwk`, `jku`, `x5u`, `x5c`: CVE-2018-0114) or to process the
            // payload differently (`crit`, `b64`, `zip`): none is supported,
            // so none is ignored either.
            let slot = match name.as_ref() {
                "alg" => &mut header.alg,
                "typ" => &mut header.typ,
                "kid" => &mut header.kid,
                _ => {
                    self.reason.set(Some(Rejection::Header));
                    return Err(de::Error::custom("forbidden header parameter"));
                }
            };
            if slot.is_some() {
                return Err(duplicate());
            }
            *slot = Some(map.next_value()?);
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, json};
    use time::Duration;

    use super::*;
    use crate::access_token::test_support::*;
    use crate::access_token::{
        AccessToken, Checked, Claims, Expiry, Validation, check_with, sign, verify,
    };
    use crate::keys::SigningKey;

    #[test]
    fn sec_25_alg_none_any_casing_rejected() {
        let claims = payload(&[]);
        for alg in ["none", "None", "NONE", "nOnE"] {
            let header = format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"k1"}}"#);
            let unsigned = format!("{}.{}.", b64(&header), b64(&claims));
            assert_eq!(reject(&unsigned), Rejection::Malformed, "{alg}");
            let no_sig_segment = format!("{}.{}", b64(&header), b64(&claims));
            assert_eq!(reject(&no_sig_segment), Rejection::Malformed, "{alg}");
            assert_eq!(
                reject(&forge(&header, &claims)),
                Rejection::Algorithm,
                "{alg}"
            );
        }
    }

    #[test]
    fn sec_25_empty_signature_rejected() {
        let good = token_with(&[]);
        let (input, _) = good.rsplit_once('.').unwrap();
        assert_eq!(reject(&format!("{input}.")), Rejection::Malformed);
        // A shorter or longer MAC is not a truncated match.
        let sig = hmac(SECRET, input);
        // 40 characters: the first 30 bytes of the MAC.
        let short = &sig[..sig.len() - 3];
        assert_eq!(reject(&format!("{input}.{short}")), Rejection::Signature);
        // 41 characters cannot be base64 at all.
        let odd = &sig[..sig.len() - 2];
        assert_eq!(reject(&format!("{input}.{odd}")), Rejection::Malformed);
        assert_eq!(reject(&format!("{input}.{sig}AAAA")), Rejection::Signature);
        assert_eq!(
            reject(&format!("{input}.{}", "A".repeat(200))),
            Rejection::Signature
        );
    }

    #[test]
    fn sec_25_unexpected_alg_rejected() {
        let claims = payload(&[]);
        for alg in [
            "HS512", "HS384", "RS256", "ES256", "EdDSA", "PS256", "hs256", "HS256 ", "",
        ] {
            let header = format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"k1"}}"#);
            assert_eq!(
                reject(&forge(&header, &claims)),
                Rejection::Algorithm,
                "{alg}"
            );
        }
        let missing = r#"{"typ":"at+jwt","kid":"k1"}"#;
        assert_eq!(reject(&forge(missing, &claims)), Rejection::Algorithm);
        for alg in ["null", "256", r#"["HS256"]"#, r#"{"HS256":1}"#] {
            let header = format!(r#"{{"alg":{alg},"typ":"at+jwt","kid":"k1"}}"#);
            assert_eq!(
                reject(&forge(&header, &claims)),
                Rejection::Malformed,
                "{alg}"
            );
        }
    }

    #[test]
    fn sec_26_token_signed_with_public_key_bytes_rejected() {
        // The classic confusion: an attacker HMACs the token with the
        // verifier's public key, hoping it is used as an HMAC secret.
        let public_key = b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        let claims = payload(&[]);
        for alg in ["RS256", "EdDSA", "ES256"] {
            let header = format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"k1"}}"#);
            let token = forge_with(&header, &claims, public_key);
            assert_eq!(reject(&token), Rejection::Algorithm, "{alg}");
        }
        let token = forge_with(HEADER, &claims, public_key);
        assert_eq!(reject(&token), Rejection::Signature);
    }

    #[test]
    fn sec_27_unknown_kid_rejected() {
        let claims = payload(&[]);
        for kid in ["k2", "K1", "k1 ", " k1", "k1\\u0000", "", "k"] {
            let header = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{kid}"}}"#);
            assert_eq!(
                reject(&forge(&header, &claims)),
                Rejection::UnknownKey,
                "{kid:?}"
            );
        }
        let missing = r#"{"alg":"HS256","typ":"at+jwt"}"#;
        assert_eq!(reject(&forge(missing, &claims)), Rejection::UnknownKey);
        // Compared after JSON unescaping: "k\u0031" is the string "k1".
        let escaped = r#"{"alg":"HS256","typ":"at+jwt","kid":"k\u0031"}"#;
        assert!(check_default(&forge(escaped, &claims)).is_ok());
        let numeric = r#"{"alg":"HS256","typ":"at+jwt","kid":1}"#;
        assert_eq!(reject(&forge(numeric, &claims)), Rejection::Malformed);
    }

    #[test]
    fn sec_27_key_carrying_headers_rejected() {
        let claims = payload(&[]);
        let params = [
            ("jku", r#""https://attacker.example/jwks.json""#),
            ("x5u", r#""https://attacker.example/cert.pem""#),
            ("jwk", r#"{"kty":"oct","k":"c2VjcmV0"}"#),
            ("x5c", r#"["MIIB"]"#),
            ("x5t", r#""abc""#),
            ("x5t#S256", r#""abc""#),
            ("crit", r#"["exp"]"#),
            ("b64", "false"),
            ("cty", r#""JWT""#),
            ("zip", r#""DEF""#),
            ("enc", r#""A256GCM""#),
            ("unknown", "1"),
        ];
        for (name, value) in params {
            let header = format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"k1","{name}":{value}}}"#);
            assert_eq!(
                reject(&forge(&header, &claims)),
                Rejection::Header,
                "{name}"
            );
            let first = format!(r#"{{"{name}":{value},"alg":"HS256","typ":"at+jwt","kid":"k1"}}"#);
            assert_eq!(reject(&forge(&first, &claims)), Rejection::Header, "{name}");
        }
    }

    #[test]
    fn sec_27_same_kid_other_secret_rejected() {
        let token = forge_with(HEADER, &payload(&[]), b"another-secret-another-secret-000");
        assert_eq!(reject(&token), Rejection::Signature);
    }

    #[test]
    fn sec_34_retired_key_verifies_until_its_deadline() {
        let old = SigningKey::hs256("old", b"the-old-secret-the-old-secret-000").unwrap();
        let new = SigningKey::hs256("new", b"the-new-secret-the-new-secret-000").unwrap();
        let until = now() + Duration::seconds(100);
        let set = KeySet::new(new.clone(), vec![(old.clone(), until)]).unwrap();
        let sid = handle();
        let claims = Claims {
            sub: "u",
            sid: &sid,
            generation: 0,
            iat: NOW,
            exp: NOW + 600,
            auth_time: NOW,
            iss: None,
            aud: None,
            custom: &Map::new(),
        };
        let by_old = sign(&old, &claims);
        let by_new = sign(&new, &claims);
        let at = |t: OffsetDateTime, token: &AccessToken| {
            verify(&set, token.expose(), t, &validation(), Expiry::Enforce)
        };
        assert!(at(now(), &by_old).is_ok());
        assert!(at(until - Duration::seconds(1), &by_old).is_ok());
        assert_eq!(rejection(at(until, &by_old)), Rejection::UnknownKey);
        assert!(at(until, &by_new).is_ok());
    }

    #[test]
    fn sec_30_typ_must_be_at_jwt() {
        let claims = payload(&[]);
        let missing = r#"{"alg":"HS256","kid":"k1"}"#;
        assert_eq!(reject(&forge(missing, &claims)), Rejection::Type);
        for typ in [
            "JWT",
            "AT+JWT",
            "application/at+jwt",
            "at+jwt ",
            "",
            "rt+jwt",
            "at+JWT",
        ] {
            let header = format!(r#"{{"alg":"HS256","typ":"{typ}","kid":"k1"}}"#);
            assert_eq!(reject(&forge(&header, &claims)), Rejection::Type, "{typ}");
        }
        let numeric = r#"{"alg":"HS256","typ":1,"kid":"k1"}"#;
        assert_eq!(reject(&forge(numeric, &claims)), Rejection::Malformed);
    }

    #[test]
    fn sec_30_refresh_token_shapes_never_pass() {
        // Refresh tokens are opaque strings, possibly with one separator:
        // none has the three-segment form.
        for token in [
            "AAAAAAAAAAAAAAAAAAAAAA.c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MDA",
            "rt_AAAAAAAAAAAAAAAAAAAAAA_c2VjcmV0",
            "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MDA",
        ] {
            assert_eq!(reject(token), Rejection::Malformed, "{token}");
        }
    }

    #[test]
    fn sec_31_only_three_segments() {
        let good = token_with(&[]);
        let (input, sig) = good.rsplit_once('.').unwrap();
        let (h, p) = input.split_once('.').unwrap();
        for bad in [
            format!("{h}.{p}"),
            format!("{h}.{p}.{sig}.{sig}"),
            format!("{h}.{p}.{sig}."),
            format!(".{h}.{p}.{sig}"),
            format!("{h}..{sig}"),
            format!(".{p}.{sig}"),
            format!("{h}.{p}..{sig}"),
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            h.to_owned(),
        ] {
            assert_eq!(reject(&bad), Rejection::Malformed, "{bad}");
        }
    }

    #[test]
    fn sec_31_many_dots_rejected_without_splitting() {
        let dots = ".".repeat(10_000);
        let no_limit = Validation {
            max_len: usize::MAX,
            ..validation()
        };
        assert_eq!(
            rejection(run(&dots, &no_limit, Expiry::Enforce)),
            Rejection::Malformed
        );
        let mixed = "a.".repeat(5_000);
        assert_eq!(
            rejection(run(&mixed, &no_limit, Expiry::Enforce)),
            Rejection::Malformed
        );
        // With the default limit the length check comes first.
        assert_eq!(reject(&dots), Rejection::TooLong);
    }

    #[test]
    fn sec_31_padding_whitespace_and_other_alphabets_rejected() {
        let good = token_with(&[]);
        let (input, sig) = good.rsplit_once('.').unwrap();
        let (h, p) = input.split_once('.').unwrap();
        for bad in [
            format!("{h}=.{p}.{sig}"),
            format!("{h}.{p}=.{sig}"),
            format!("{h}.{p}.{sig}="),
            format!("{h}.{p}.{sig}=="),
            format!(" {good}"),
            format!("{good} "),
            format!("{good}\n"),
            format!("{h} .{p}.{sig}"),
            format!("{h}.{p}.\t{sig}"),
            format!("{h}.{p}.{}", sig.replace('-', "+").replace('_', "/")),
            format!("{h}.{p}.{sig}%3D"),
            good.replacen('e', "é", 1),
        ] {
            if bad == good {
                continue;
            }
            assert_eq!(reject(&bad), Rejection::Malformed, "{bad}");
        }
        // Standard-alphabet characters are rejected even where they would decode.
        let plus = format!("{h}.{p}.+{}", &sig[1..]);
        assert_eq!(reject(&plus), Rejection::Malformed);
    }

    #[test]
    fn sec_31_json_serialization_rejected() {
        let good = token_with(&[]);
        let (input, sig) = good.rsplit_once('.').unwrap();
        let (h, p) = input.split_once('.').unwrap();
        let flattened = format!(r#"{{"payload":"{p}","protected":"{h}","signature":"{sig}"}}"#);
        let general = format!(
            r#"{{"payload":"{p}","signatures":[{{"protected":"{h}","signature":"{sig}"}}]}}"#
        );
        // CVE-2022-39227 mixed a compact token into a JSON document.
        let mixed = format!(r#"{{"{h}.{p}.{sig}":"","payload":"{p}"}}"#);
        for bad in [flattened, general, mixed] {
            assert_eq!(reject(&bad), Rejection::Malformed, "{bad}");
        }
    }

    #[test]
    fn sec_31_crit_header_rejected() {
        let header = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1","crit":["exp"],"exp":1}"#;
        assert_eq!(reject(&forge(header, &payload(&[]))), Rejection::Header);
    }

    #[test]
    fn sec_39_oversized_token_rejected_before_decoding() {
        assert_eq!(reject(&"A".repeat(4097)), Rejection::TooLong);
        assert_eq!(reject(&".".repeat(4097)), Rejection::TooLong);
        let mut padded = Map::new();
        padded.insert("pad".into(), json!("x".repeat(4000)));
        let big = signed(&padded, None, None);
        assert!(big.expose().len() > 4096);
        assert_eq!(reject(big.expose()), Rejection::TooLong);

        let token = signed(&custom(), None, None);
        let len = token.expose().len();
        let exact = Validation {
            max_len: len,
            ..validation()
        };
        assert!(run(token.expose(), &exact, Expiry::Enforce).is_ok());
        let one_less = Validation {
            max_len: len - 1,
            ..validation()
        };
        assert_eq!(
            rejection(run(token.expose(), &one_less, Expiry::Enforce)),
            Rejection::TooLong
        );
    }

    /// An HS256 key, an EdDSA key, a retired key still verifying and one
    /// past its deadline.
    fn mixed_keys() -> (KeySet, Vec<SigningKey>) {
        let ed = SigningKey::ed25519("ed-1", &[7; 32]).unwrap();
        let live = SigningKey::hs256("old-live", &[1; 32]).unwrap();
        let dead = SigningKey::hs256("old-dead", &[2; 32]).unwrap();
        let set = KeySet::for_issuer(
            key(),
            vec![ed.clone()],
            vec![
                (live.clone(), now() + Duration::hours(1)),
                (dead.clone(), now() - Duration::seconds(1)),
            ],
        )
        .unwrap();
        (set, vec![key(), ed, live, dead])
    }

    fn signed_by(key: &SigningKey) -> String {
        let sid = handle();
        let custom = custom();
        sign(
            key,
            &Claims {
                sub: "user-1",
                sid: &sid,
                generation: 3,
                iat: NOW - 10,
                exp: NOW + 600,
                auth_time: NOW - 100,
                iss: None,
                aud: None,
                custom: &custom,
            },
        )
        .into_string()
    }

    /// What a check decided, comparable across the two header paths.
    fn outcome(keys: &KeySet, token: &str, path: HeaderPath) -> Result<(bool, String), Rejection> {
        check_with(keys, token, now(), &validation(), path).map(|checked| match checked {
            Checked::Valid(v) => (true, format!("{v:?} {:?}", v.claims())),
            Checked::Expired(v) => (false, format!("{v:?} {:?}", v.claims())),
        })
    }

    #[test]
    fn precomputed_headers_parse_to_their_own_key() {
        let (set, keys) = mixed_keys();
        for key in &keys {
            let header = parse_header(key.encoded_header()).unwrap();
            assert_eq!(header.alg.as_deref(), Some(key.algorithm().as_str()));
            assert_eq!(header.typ.as_deref(), Some(ACCESS_TOKEN_TYPE));
            assert_eq!(header.kid.as_deref(), Some(key.kid()));
        }
        // The fast path finds every key, with what it may vouch for now.
        let trust = |k: &SigningKey| {
            set.find_by_encoded_header(k.encoded_header(), now())
                .map(|(_, trust)| trust)
        };
        assert_eq!(trust(&keys[0]), Some(Trust::Full));
        assert_eq!(trust(&keys[2]), Some(Trust::Full));
        assert_eq!(trust(&keys[3]), Some(Trust::ExpiredOnly));
        // A token the dead key signed that is still valid is refused (it
        // was signed after the key's retirement).
        let dead = signed_by(&keys[3]);
        for path in [HeaderPath::Precomputed, HeaderPath::Strict] {
            assert_eq!(outcome(&set, &dead, path), Err(Rejection::UnknownKey));
            for key in &keys[..3] {
                assert!(outcome(&set, &signed_by(key), path).unwrap().0);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The precomputed-header path answers exactly as the strict parser
        /// does, on genuine tokens of every key and on mutations of them,
        /// header mutations in particular.
        #[test]
        fn precomputed_header_path_agrees_with_strict_path(
            which in 0..6usize,
            mutation in 0..4u8,
            header_only in any::<bool>(),
            index in any::<prop::sample::Index>(),
            byte in 0x20u8..0x7f,
            flip in 1u8..0x80,
        ) {
            let (set, keys) = mixed_keys();
            let original = match keys.get(which) {
                Some(key) => signed_by(key),
                // The same claims under headers the fast path never matches.
                None if which == 4 => forge(r#"{"kid":"k1","alg":"HS256","typ":"at+jwt"}"#, &payload(&[])),
                None => forge(r#"{"alg":"HS256","typ":"at+jwt","kid":"k1" }"#, &payload(&[])),
            };
            let mut bytes = original.into_bytes();
            let header_len = bytes.iter().position(|&b| b == b'.').unwrap();
            let i = index.index(if header_only { header_len } else { bytes.len() });
            match mutation {
                0 => bytes[i] ^= flip,
                1 => bytes.truncate(i),
                2 => bytes.insert(i, byte),
                _ => {}
            }
            let token = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(
                outcome(&set, &token, HeaderPath::Precomputed),
                outcome(&set, &token, HeaderPath::Strict),
                "{}", token
            );
        }
    }
}
