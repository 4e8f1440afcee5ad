//! JWT access tokens (compact JWS): signing and stateless verification.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use time::OffsetDateTime;

use crate::error::{Rejection, VerifyError};
use crate::keys::{ACCESS_TOKEN_TYPE, Key, KeySet, SigningKey};
use crate::store::SessionHandle;

/// Claim names sessionkit sets itself; custom claims may not use them.
pub const RESERVED_CLAIMS: &[&str] = &[
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
];

/// An encoded access token. Its text is only reachable through [`AccessToken::expose`].
#[derive(Clone, Eq, PartialEq)]
pub struct AccessToken(String);

impl AccessToken {
    /// The compact JWS, to be sent to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Consumes the token, returning its text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// A token with arbitrary text, for unit tests of code that only
    /// carries tokens around.
    #[cfg(test)]
    pub(crate) fn from_string(text: String) -> Self {
        Self(text)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").finish_non_exhaustive()
    }
}

/// What the verifier checks besides the signature.
#[derive(Clone, Debug)]
pub(crate) struct Validation {
    /// Allowed clock skew, in seconds (0..=300).
    pub(crate) leeway: i64,
    /// Expected `iss`, checked exactly when set.
    pub(crate) issuer: Option<String>,
    /// Expected `aud` (the token's `aud` string or one array element must
    /// equal it), checked when set; a token with `aud` is rejected when unset.
    pub(crate) audience: Option<String>,
    /// Longest accepted token, in bytes.
    pub(crate) max_len: usize,
}

/// The claims of a token to be signed.
#[derive(Debug)]
pub(crate) struct Claims<'a> {
    pub(crate) sub: &'a str,
    pub(crate) sid: &'a SessionHandle,
    pub(crate) generation: u64,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    pub(crate) auth_time: i64,
    pub(crate) iss: Option<&'a str>,
    pub(crate) aud: Option<&'a str>,
    pub(crate) custom: &'a Map<String, Value>,
}

/// Whether an expired (but otherwise valid) token is accepted.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Expiry {
    /// Expired tokens give [`VerifyError::TryRefresh`].
    Enforce,
    /// Expired tokens are accepted (to identify a session on logout).
    Ignore,
}

/// A verified access token: only the verifier constructs one, after the
/// signature and every claim check passed.
#[derive(Clone)]
pub struct Verified {
    user_id: String,
    handle: SessionHandle,
    generation: u64,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    auth_time: OffsetDateTime,
    custom: Map<String, Value>,
}

impl Verified {
    /// The `sub` claim: the user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The `sid` claim: the session handle.
    pub fn session_handle(&self) -> SessionHandle {
        self.handle
    }

    /// The `gen` claim: the refresh generation this token was issued with.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The `iat` claim.
    pub fn issued_at(&self) -> OffsetDateTime {
        self.issued_at
    }

    /// The `exp` claim.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }

    /// The `auth_time` claim: when the user last authenticated.
    pub fn auth_time(&self) -> OffsetDateTime {
        self.auth_time
    }

    /// The custom claims (every claim that is not reserved).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.custom
    }

    /// The custom claims deserialized into a type of yours.
    ///
    /// # Errors
    /// [`Rejection::Claims`] if they do not fit `C`.
    pub fn claims_as<C: serde::de::DeserializeOwned>(&self) -> Result<C, Rejection> {
        C::deserialize(&Value::Object(self.custom.clone())).map_err(|_| Rejection::Claims)
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("user_id", &self.user_id)
            .field("handle", &self.handle)
            .field("generation", &self.generation)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("auth_time", &self.auth_time)
            .finish_non_exhaustive()
    }
}

/// Signs `claims` with `key`.
pub(crate) fn sign(key: &SigningKey, claims: &Claims<'_>) -> AccessToken {
    // Serializing strings, integers and a `serde_json::Map` cannot fail. Were it
    // ever to, the empty payload makes a token that fails verification
    // (empty segment) rather than a panic in the issuing path.
    let mut payload = Vec::with_capacity(256 + claims.sub.len());
    if serde_json::to_writer(&mut payload, claims).is_err() {
        payload.clear();
    }
    let header = key.encoded_header();
    let mut token =
        String::with_capacity(header.len() + payload.len().div_ceil(3) * 4 + MAX_SIGNATURE_B64 + 2);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    key.append_signature(&mut token);
    AccessToken(token)
}

impl Serialize for Claims<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("sub", self.sub)?;
        map.serialize_entry("sid", self.sid)?;
        map.serialize_entry("gen", &self.generation)?;
        map.serialize_entry("iat", &self.iat)?;
        map.serialize_entry("exp", &self.exp)?;
        map.serialize_entry("auth_time", &self.auth_time)?;
        if let Some(iss) = self.iss {
            map.serialize_entry("iss", iss)?;
        }
        if let Some(aud) = self.aud {
            map.serialize_entry("aud", aud)?;
        }
        // The manager refuses reserved names in custom claims; skipping them
        // here as well guarantees a token never carries a duplicate member,
        // which our own verifier would reject.
        for (name, value) in self.custom {
            if !RESERVED_CLAIMS.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

/// The longest signature accepted, in bytes: room for Ed25519 (64) next to
/// HS256 (32), so adding it does not change the parser.
const MAX_SIGNATURE_LEN: usize = 64;

/// `MAX_SIGNATURE_LEN` bytes in unpadded base64url.
const MAX_SIGNATURE_B64: usize = 86;

/// Verifies a compact JWS access token.
pub(crate) fn verify(
    keys: &KeySet,
    token: &str,
    now: OffsetDateTime,
    validation: &Validation,
    expiry: Expiry,
) -> Result<Verified, VerifyError> {
    let checked = check(keys, token, now, validation).map_err(VerifyError::Unauthorized)?;
    match checked {
        Checked::Expired(_) if expiry == Expiry::Enforce => Err(VerifyError::TryRefresh),
        Checked::Valid(verified) | Checked::Expired(verified) => Ok(verified),
    }
}

/// A token that passed every check, except possibly expiry.
enum Checked {
    Valid(Verified),
    Expired(Verified),
}

/// Every check, in an order where nothing from the payload is read before the
/// signature verified, and expiry (the one soft failure) comes last.
fn check(
    keys: &KeySet,
    token: &str,
    now: OffsetDateTime,
    validation: &Validation,
) -> Result<Checked, Rejection> {
    check_with(keys, token, now, validation, HeaderPath::Precomputed)
}

/// How the header is read.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum HeaderPath {
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

fn check_with(
    keys: &KeySet,
    token: &str,
    now: OffsetDateTime,
    validation: &Validation,
    path: HeaderPath,
) -> Result<Checked, Rejection> {
    if token.len() > validation.max_len {
        return Err(Rejection::TooLong);
    }
    let segments = Segments::split(token)?;
    // A key's own header parses to its `alg`, `typ: at+jwt` and its `kid`,
    // and `find` by that kid returns that key (kids are unique): the strict
    // path below would reach the same key with every check passed.
    let known = match path {
        HeaderPath::Precomputed => keys.find_by_encoded_header(segments.header, now),
        HeaderPath::Strict => None,
    };
    let key = match known {
        Some(key) => key,
        None => key_from_header(keys, segments.header, now)?,
    };
    check_signature(key, &segments)?;
    check_claims(segments.payload, now, validation)
}

/// The strict header checks: JSON with only `alg`, `typ` and `kid`, `typ:
/// at+jwt`, a known kid, and that key's algorithm.
fn key_from_header<'k>(
    keys: &'k KeySet,
    segment: &str,
    now: OffsetDateTime,
) -> Result<&'k Key, Rejection> {
    let header = parse_header(segment)?;
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
        return Err(Rejection::Type);
    }
    let kid = header.kid.as_deref().ok_or(Rejection::UnknownKey)?;
    let key = keys.find(kid, now).ok_or(Rejection::UnknownKey)?;
    if header.alg.as_deref() != Some(key.algorithm().as_str()) {
        return Err(Rejection::Algorithm);
    }
    Ok(key)
}

/// The three parts of a compact JWS.
struct Segments<'t> {
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'t str,
    header: &'t str,
    payload: &'t str,
    signature: &'t str,
}

impl<'t> Segments<'t> {
    fn split(token: &'t str) -> Result<Self, Rejection> {
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

fn check_signature(key: &Key, segments: &Segments<'_>) -> Result<(), Rejection> {
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
fn with_decoded<T>(
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

/// Parses `json` with `seed`. Visitors store a more precise reason than
/// "malformed" in `reason` before they fail.
fn parse_json<'de, S: DeserializeSeed<'de>>(
    json: &'de [u8],
    seed: S,
    reason: &Cell<Option<Rejection>>,
) -> Result<S::Value, Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    seed.deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|_| reason.get().unwrap_or(Rejection::Malformed))
}

fn duplicate<E: de::Error>() -> E {
    E::custom("duplicate member")
}

/// A JSON member name, borrowed from the input when it has no escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(v)))
    }
}

/// A JSON value like `serde_json::Value`, except that duplicate member names,
/// at any depth, are an error instead of "the last one wins".
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(Name(name)) = map.next_key()? {
            if members.contains_key(name.as_ref()) {
                return Err(duplicate());
            }
            let value = map.next_value_seed(StrictValue)?;
            members.insert(name.into_owned(), value);
        }
        Ok(Value::Object(members))
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

/// `aud`: one audience or several (RFC 7519 §4.1.3).
enum Audience<'de> {
    One(Name<'de>),
    Many(Vec<Name<'de>>),
}

impl Audience<'_> {
    fn contains(&self, expected: &str) -> bool {
        match self {
            Self::One(aud) => aud.0 == expected,
            Self::Many(auds) => auds.iter().any(|aud| aud.0 == expected),
        }
    }
}

impl<'de> Deserialize<'de> for Audience<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AudienceVisitor)
    }
}

struct AudienceVisitor;

impl<'de> Visitor<'de> for AudienceVisitor {
    type Value = Audience<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Audience<'de>, E> {
        Ok(Audience::One(Name(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience<'de>, E> {
        Ok(Audience::One(Name(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Audience<'de>, E> {
        Ok(Audience::One(Name(Cow::Owned(v))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience<'de>, A::Error> {
        let mut auds = Vec::new();
        while let Some(aud) = seq.next_element::<Name<'de>>()? {
            auds.push(aud);
        }
        Ok(Audience::Many(auds))
    }
}

/// The claims as found in the token, before any check. Strings borrow from
/// the decoded payload unless they contain escapes.
#[derive(Default)]
struct RawClaims<'de> {
    sub: Option<Name<'de>>,
    sid: Option<SessionHandle>,
    generation: Option<u64>,
    iat: Option<i64>,
    exp: Option<i64>,
    auth_time: Option<i64>,
    nbf: Option<i64>,
    iss: Option<Name<'de>>,
    aud: Option<Audience<'de>>,
    jti: Option<Name<'de>>,
    custom: Map<String, Value>,
}

/// Decodes and parses the claims in one pass, then checks them: the
/// borrowed strings live only as long as the decoded payload.
fn check_claims(
    segment: &str,
    now: OffsetDateTime,
    validation: &Validation,
) -> Result<Checked, Rejection> {
    with_decoded(segment, |json| {
        let reason = Cell::new(None);
        parse_json(json, ClaimsVisitor { reason: &reason }, &reason)?.validate(now, validation)
    })
}

#[derive(Clone, Copy)]
struct ClaimsVisitor<'r> {
    reason: &'r Cell<Option<Rejection>>,
}

impl ClaimsVisitor<'_> {
    /// Reads a registered claim with its one accepted type. A value of any
    /// other type is an error, never "absent" (CVE-2026-25537).
    fn registered<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
        self,
        map: &mut A,
        slot: &mut Option<T>,
    ) -> Result<(), A::Error> {
        if slot.is_some() {
            return Err(duplicate());
        }
        match map.next_value() {
            Ok(value) => {
                *slot = Some(value);
                Ok(())
            }
            Err(err) => {
                self.reason.set(Some(Rejection::Claims));
                Err(err)
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for ClaimsVisitor<'_> {
    type Value = RawClaims<'de>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<RawClaims<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsVisitor<'_> {
    type Value = RawClaims<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawClaims<'de>, A::Error> {
        let mut claims = RawClaims::default();
        while let Some(Name(name)) = map.next_key()? {
            match name.as_ref() {
                "sub" => self.registered(&mut map, &mut claims.sub)?,
                "sid" => self.registered(&mut map, &mut claims.sid)?,
                "gen" => self.registered(&mut map, &mut claims.generation)?,
                "iat" => self.registered(&mut map, &mut claims.iat)?,
                "exp" => self.registered(&mut map, &mut claims.exp)?,
                "auth_time" => self.registered(&mut map, &mut claims.auth_time)?,
                "nbf" => self.registered(&mut map, &mut claims.nbf)?,
                "iss" => self.registered(&mut map, &mut claims.iss)?,
                "aud" => self.registered(&mut map, &mut claims.aud)?,
                "jti" => self.registered(&mut map, &mut claims.jti)?,
                _ => {
                    if claims.custom.contains_key(name.as_ref()) {
                        return Err(duplicate());
                    }
                    let value = map.next_value_seed(StrictValue)?;
                    claims.custom.insert(name.into_owned(), value);
                }
            }
        }
        Ok(claims)
    }
}

impl RawClaims<'_> {
    fn validate(self, now: OffsetDateTime, validation: &Validation) -> Result<Checked, Rejection> {
        let sub = self.sub.filter(|sub| !sub.0.is_empty());
        let (Some(user_id), Some(handle), Some(generation)) = (sub, self.sid, self.generation)
        else {
            return Err(Rejection::Claims);
        };
        let (Some(iat), Some(exp), Some(auth_time)) = (self.iat, self.exp, self.auth_time) else {
            return Err(Rejection::Claims);
        };

        // Saturating: `exp` or `nbf` at i64::MAX or MIN must be an ordinary
        // rejection, never an overflow.
        let now_s = now.unix_timestamp();
        let latest = now_s.saturating_add(validation.leeway);
        if self.nbf.is_some_and(|nbf| latest < nbf) || iat > latest || auth_time > latest {
            return Err(Rejection::Claims);
        }
        if iat > exp {
            return Err(Rejection::Claims);
        }
        let issued_at = timestamp(iat)?;
        let expires_at = timestamp(exp)?;
        let auth_time = timestamp(auth_time)?;

        if let Some(issuer) = &validation.issuer
            && self.iss.as_ref().map(|iss| iss.0.as_ref()) != Some(issuer.as_str())
        {
            return Err(Rejection::Claims);
        }
        // A token for a named audience is not for a verifier that has none.
        let audience_ok = match (&validation.audience, &self.aud) {
            (Some(expected), Some(aud)) => aud.contains(expected),
            (None, None) => true,
            (Some(_), None) | (None, Some(_)) => false,
        };
        if !audience_ok {
            return Err(Rejection::Claims);
        }

        let verified = Verified {
            user_id: user_id.0.into_owned(),
            handle,
            generation,
            issued_at,
            expires_at,
            auth_time,
            custom: self.custom,
        };
        if now_s.saturating_sub(validation.leeway) >= exp {
            Ok(Checked::Expired(verified))
        } else {
            Ok(Checked::Valid(verified))
        }
    }
}

fn timestamp(seconds: i64) -> Result<OffsetDateTime, Rejection> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| Rejection::Claims)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    reason = "a failing test should stop loudly"
)]
mod tests {
    use hmac::{Hmac, KeyInit, Mac};
    use proptest::prelude::*;
    use serde_json::json;
    use sha2::Sha256;
    use time::Duration;

    use super::*;

    const SECRET: &[u8] = b"access-token-test-secret-0123456789";
    const KID: &str = "k1";
    const NOW: i64 = 1_700_000_000;
    const HEADER: &str = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW).unwrap()
    }

    fn key() -> SigningKey {
        SigningKey::hs256(KID, SECRET).unwrap()
    }

    fn keys() -> KeySet {
        KeySet::new(key(), vec![]).unwrap()
    }

    fn validation() -> Validation {
        Validation {
            leeway: 30,
            issuer: None,
            audience: None,
            max_len: 4096,
        }
    }

    fn handle() -> SessionHandle {
        SessionHandle::from_bytes([0xa5; 18])
    }

    fn b64(bytes: impl AsRef<[u8]>) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn hmac(secret: &[u8], message: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(message.as_bytes());
        b64(mac.finalize().into_bytes())
    }

    /// A token built by hand from raw JSON, with a valid HMAC under `secret`.
    fn forge_with(header: &str, claims: &str, secret: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(claims));
        let sig = hmac(secret, &input);
        format!("{input}.{sig}")
    }

    /// A hand-built token with a valid signature from the test key.
    fn forge(header: &str, claims: &str) -> String {
        forge_with(header, claims, SECRET)
    }

    /// Valid claims as raw JSON; each override replaces (`Some`) or removes
    /// (`None`) a member, or appends it when new.
    fn payload(overrides: &[(&str, Option<&str>)]) -> String {
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

    fn token_with(overrides: &[(&str, Option<&str>)]) -> String {
        forge(HEADER, &payload(overrides))
    }

    fn run(token: &str, validation: &Validation, expiry: Expiry) -> Result<Verified, VerifyError> {
        verify(&keys(), token, now(), validation, expiry)
    }

    fn check_default(token: &str) -> Result<Verified, VerifyError> {
        run(token, &validation(), Expiry::Enforce)
    }

    fn rejection(result: Result<Verified, VerifyError>) -> Rejection {
        match result {
            Err(VerifyError::Unauthorized(r)) => r,
            Err(other) => panic!("expected Unauthorized, got {other:?}"),
            Ok(v) => panic!("expected Unauthorized, got {v:?}"),
        }
    }

    fn reject(token: &str) -> Rejection {
        rejection(check_default(token))
    }

    fn signed(custom: &Map<String, Value>, iss: Option<&str>, aud: Option<&str>) -> AccessToken {
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

    fn custom() -> Map<String, Value> {
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

    #[test]
    fn round_trip_preserves_every_claim() {
        let token = signed(&custom(), None, None);
        let v = check_default(token.expose()).unwrap();
        assert_eq!(v.user_id(), "user-1");
        assert_eq!(v.session_handle(), handle());
        assert_eq!(v.generation(), 3);
        assert_eq!(v.issued_at().unix_timestamp(), NOW - 10);
        assert_eq!(v.expires_at().unix_timestamp(), NOW + 600);
        assert_eq!(v.auth_time().unix_timestamp(), NOW - 100);
        assert_eq!(v.claims(), &custom());
        assert_eq!(v.claims()["nested"]["a"][2]["b"], Value::Null);

        #[derive(serde::Deserialize)]
        struct Mine {
            role: String,
            tenant: u32,
        }
        let mine: Mine = v.claims_as().unwrap();
        assert_eq!((mine.role.as_str(), mine.tenant), ("admin", 42));
    }

    #[test]
    fn signed_token_has_the_documented_layout() {
        let token = signed(&Map::new(), Some("https://issuer.example"), Some("api"));
        let parts: Vec<&str> = token.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap(), HEADER.as_bytes());
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            claims,
            format!(
                r#"{{"sub":"user-1","sid":"{}","gen":3,"iat":{},"exp":{},"auth_time":{},"iss":"https://issuer.example","aud":"api"}}"#,
                handle(),
                NOW - 10,
                NOW + 600,
                NOW - 100
            )
        );
        assert_eq!(
            parts[2],
            hmac(SECRET, &format!("{}.{}", parts[0], parts[1]))
        );
        assert_eq!(
            token,
            AccessToken(token.expose().to_owned()),
            "same claims, same token"
        );
        let text = token.clone().into_string();
        assert_eq!(text, token.expose());
    }

    #[test]
    fn sign_never_emits_a_reserved_name_from_custom_claims() {
        let mut custom = Map::new();
        for name in RESERVED_CLAIMS {
            custom.insert((*name).to_owned(), json!("hostile"));
        }
        custom.insert("ok".into(), json!(1));
        let token = signed(&custom, None, None);
        let v = check_default(token.expose()).unwrap();
        assert_eq!(v.user_id(), "user-1");
        assert_eq!(v.expires_at().unix_timestamp(), NOW + 600);
        assert_eq!(v.claims().len(), 1);
        assert_eq!(v.claims()["ok"], json!(1));
    }

    #[test]
    fn iss_and_aud_round_trip() {
        let token = signed(&Map::new(), Some("https://issuer.example"), Some("api"));
        let validation = Validation {
            issuer: Some("https://issuer.example".into()),
            audience: Some("api".into()),
            ..validation()
        };
        assert!(run(token.expose(), &validation, Expiry::Enforce).is_ok());
    }

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
    fn sec_28_missing_required_claim_rejected() {
        for name in ["sub", "sid", "gen", "iat", "exp", "auth_time"] {
            assert_eq!(
                reject(&token_with(&[(name, None)])),
                Rejection::Claims,
                "{name}"
            );
        }
        assert_eq!(reject(&forge(HEADER, "{}")), Rejection::Claims);
    }

    #[test]
    fn sec_28_mistyped_exp_is_an_error_not_absent() {
        let i64_max = i64::MAX.to_string();
        let i64_min = i64::MIN.to_string();
        for exp in [
            r#""never""#,
            "null",
            "1e309",
            "1.5",
            "1700000600.0",
            "1.7000006e9",
            "true",
            "false",
            r#""1700000600""#,
            "[1700000600]",
            r#"{"v":1700000600}"#,
            &i64_max,
            &i64_min,
            "9223372036854775808",
            "18446744073709551616",
            "-9223372036854775809",
        ] {
            let token = token_with(&[("exp", Some(exp))]);
            assert_eq!(reject(&token), Rejection::Claims, "exp {exp}");
            // Expiry::Ignore must not turn a broken exp into "no exp".
            let ignored = run(&token, &validation(), Expiry::Ignore);
            assert_eq!(rejection(ignored), Rejection::Claims, "exp {exp}");
        }
    }

    #[test]
    fn sec_28_mistyped_registered_claims_rejected() {
        let cases: &[(&str, &[&str])] = &[
            ("sub", &["null", "1", r#""""#, r#"["u"]"#]),
            (
                "sid",
                &["null", "1", r#""short""#, r#""AAAAAAAAAAAAAAAAAAAAAA""#],
            ),
            (
                "gen",
                &["-1", "1.5", r#""3""#, "null", "18446744073709551616"],
            ),
            ("iat", &["null", r#""x""#, "1.5", "1e309"]),
            ("auth_time", &["null", r#""x""#, "1.5", "true"]),
            ("nbf", &["null", r#""x""#, "1.5", "1e400"]),
            ("iss", &["null", "1", r#"["a"]"#]),
            ("jti", &["null", "1", "{}"]),
        ];
        for (name, values) in cases {
            for value in *values {
                let token = token_with(&[(name, Some(value))]);
                assert_eq!(reject(&token), Rejection::Claims, "{name}: {value}");
            }
        }
        assert!(check_default(&token_with(&[("gen", Some("18446744073709551615"))])).is_ok());
        assert!(check_default(&token_with(&[("jti", Some(r#""id-1""#))])).is_ok());
    }

    #[test]
    fn sec_28_extreme_times_do_not_overflow() {
        let max = i64::MAX.to_string();
        let min = i64::MIN.to_string();
        for (name, value) in [
            ("iat", &min),
            ("auth_time", &min),
            ("nbf", &max),
            ("iat", &max),
        ] {
            let token = token_with(&[(name, Some(value))]);
            assert_eq!(reject(&token), Rejection::Claims, "{name} {value}");
        }
        // nbf far in the past is no reason to reject.
        assert!(check_default(&token_with(&[("nbf", Some(&min))])).is_ok());
        // An extreme leeway saturates too.
        let wide = Validation {
            leeway: i64::MAX,
            ..validation()
        };
        let token = token_with(&[("exp", Some(&max))]);
        assert_eq!(
            rejection(run(&token, &wide, Expiry::Enforce)),
            Rejection::Claims
        );
        let token = token_with(&[("exp", Some(&min)), ("iat", Some(&min))]);
        assert_eq!(
            rejection(run(&token, &wide, Expiry::Enforce)),
            Rejection::Claims
        );
    }

    #[test]
    fn sec_28_nbf_checked_with_bounded_leeway() {
        let at = |nbf: i64| token_with(&[("nbf", Some(&nbf.to_string()))]);
        assert!(check_default(&at(NOW)).is_ok());
        assert!(check_default(&at(NOW + 30)).is_ok());
        assert_eq!(reject(&at(NOW + 31)), Rejection::Claims);
        let strict = Validation {
            leeway: 0,
            ..validation()
        };
        assert!(run(&at(NOW), &strict, Expiry::Enforce).is_ok());
        assert_eq!(
            rejection(run(&at(NOW + 1), &strict, Expiry::Enforce)),
            Rejection::Claims
        );
    }

    #[test]
    fn sec_28_iat_and_auth_time_in_future_rejected() {
        let t = |v: i64| v.to_string();
        assert!(check_default(&token_with(&[("iat", Some(&t(NOW + 30)))])).is_ok());
        assert_eq!(
            reject(&token_with(&[("iat", Some(&t(NOW + 31)))])),
            Rejection::Claims
        );
        assert!(check_default(&token_with(&[("auth_time", Some(&t(NOW + 30)))])).is_ok());
        assert_eq!(
            reject(&token_with(&[("auth_time", Some(&t(NOW + 31)))])),
            Rejection::Claims
        );
        // Issued after it expires.
        let token = token_with(&[("iat", Some(&t(NOW - 5))), ("exp", Some(&t(NOW - 6)))]);
        assert_eq!(reject(&token), Rejection::Claims);
    }

    #[test]
    fn sec_28_expiry_honours_leeway_bounds() {
        let exp = |e: i64| {
            token_with(&[
                ("iat", Some(&(NOW - 1000).to_string())),
                ("exp", Some(&e.to_string())),
            ])
        };
        assert!(matches!(
            check_default(&exp(NOW - 31)),
            Err(VerifyError::TryRefresh)
        ));
        assert!(matches!(
            check_default(&exp(NOW - 30)),
            Err(VerifyError::TryRefresh)
        ));
        assert!(check_default(&exp(NOW - 29)).is_ok());
        assert!(check_default(&exp(NOW)).is_ok());
        let strict = Validation {
            leeway: 0,
            ..validation()
        };
        assert!(matches!(
            run(&exp(NOW), &strict, Expiry::Enforce),
            Err(VerifyError::TryRefresh)
        ));
        assert!(run(&exp(NOW + 1), &strict, Expiry::Enforce).is_ok());
        let max = Validation {
            leeway: 300,
            ..validation()
        };
        assert!(run(&exp(NOW - 299), &max, Expiry::Enforce).is_ok());
        assert!(matches!(
            run(&exp(NOW - 300), &max, Expiry::Enforce),
            Err(VerifyError::TryRefresh)
        ));
    }

    #[test]
    fn expired_token_is_try_refresh_only_when_everything_else_is_valid() {
        let expired = |extra: &[(&str, Option<&str>)]| {
            let mut all = vec![("iat", Some("1699990000")), ("exp", Some("1699990600"))];
            all.extend_from_slice(extra);
            token_with(&all)
        };
        let checked = Validation {
            issuer: Some("https://issuer.example".into()),
            audience: Some("api".into()),
            ..validation()
        };
        let good = [
            ("iss", Some(r#""https://issuer.example""#)),
            ("aud", Some(r#""api""#)),
        ];
        assert!(matches!(
            run(&expired(&good), &checked, Expiry::Enforce),
            Err(VerifyError::TryRefresh)
        ));
        let bad_iss = [
            ("iss", Some(r#""https://evil.example""#)),
            ("aud", Some(r#""api""#)),
        ];
        assert_eq!(
            rejection(run(&expired(&bad_iss), &checked, Expiry::Enforce)),
            Rejection::Claims
        );
        let bad_aud = [
            ("iss", Some(r#""https://issuer.example""#)),
            ("aud", Some(r#""web""#)),
        ];
        assert_eq!(
            rejection(run(&expired(&bad_aud), &checked, Expiry::Enforce)),
            Rejection::Claims
        );
        let future_nbf = [("nbf", Some("1800000000"))];
        assert_eq!(reject(&expired(&future_nbf)), Rejection::Claims);
        // A forged expired token is a forgery, not a reason to refresh.
        let mut forged = expired(&[]);
        forged.pop();
        forged.push(if forged.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(reject(&forged), Rejection::Signature);
    }

    #[test]
    fn expiry_ignore_accepts_expired_token() {
        let token = token_with(&[("iat", Some("1600000000")), ("exp", Some("1600000600"))]);
        let v = run(&token, &validation(), Expiry::Ignore).unwrap();
        assert_eq!(v.expires_at().unix_timestamp(), 1_600_000_600);
        assert!(matches!(
            check_default(&token),
            Err(VerifyError::TryRefresh)
        ));
    }

    #[test]
    fn sec_29_issuer_matched_exactly_when_configured() {
        let with_iss = Validation {
            issuer: Some("https://issuer.example".into()),
            ..validation()
        };
        let iss = |v: Option<&str>| token_with(&[("iss", v)]);
        let exact = iss(Some(r#""https://issuer.example""#));
        assert!(run(&exact, &with_iss, Expiry::Enforce).is_ok());
        for other in [
            Some(r#""https://issuer.example/""#),
            Some(r#""https://ISSUER.example""#),
            Some(r#""https://evil.example""#),
            Some(r#""""#),
            Some(r#"["https://issuer.example"]"#),
            None,
        ] {
            let token = iss(other);
            assert_eq!(
                rejection(run(&token, &with_iss, Expiry::Enforce)),
                Rejection::Claims,
                "{other:?}"
            );
        }
        // Without a configured issuer the claim is not checked.
        assert!(check_default(&exact).is_ok());
        assert!(check_default(&iss(Some(r#""anyone""#))).is_ok());
    }

    #[test]
    fn sec_29_audience_matched_exactly_in_string_or_array_form() {
        let with_aud = Validation {
            audience: Some("api".into()),
            ..validation()
        };
        let aud = |v: Option<&str>| token_with(&[("aud", v)]);
        for ok in [r#""api""#, r#"["api"]"#, r#"["web","api"]"#] {
            assert!(
                run(&aud(Some(ok)), &with_aud, Expiry::Enforce).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            Some(r#""API""#),
            Some(r#""api ""#),
            Some(r#"["web"]"#),
            Some("[]"),
            Some("1"),
            Some(r#"{"api":true}"#),
            Some("null"),
            Some("true"),
            Some(r#"["api",1]"#),
            Some(r#"[["api"]]"#),
            None,
        ] {
            let result = run(&aud(bad), &with_aud, Expiry::Enforce);
            assert_eq!(rejection(result), Rejection::Claims, "{bad:?}");
        }
        // A token addressed to anyone is not for a verifier with no audience.
        for present in [r#""api""#, r#"["api"]"#, "[]", "5"] {
            assert_eq!(reject(&aud(Some(present))), Rejection::Claims, "{present}");
        }
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
    fn sec_31_duplicate_members_rejected() {
        let dup_exp = format!(
            r#"{},"exp":{}}}"#,
            payload(&[]).trim_end_matches('}'),
            NOW + 9999
        );
        assert_eq!(reject(&forge(HEADER, &dup_exp)), Rejection::Malformed);
        // Same name once escaped: still a duplicate.
        let escaped = format!(
            r#"{},"e\u0078p":{}}}"#,
            payload(&[]).trim_end_matches('}'),
            NOW + 9999
        );
        assert_eq!(reject(&forge(HEADER, &escaped)), Rejection::Malformed);
        let dup_custom = token_with(&[("role", Some(r#""user""#))]).clone();
        assert!(check_default(&dup_custom).is_ok());
        let two_roles = format!(
            r#"{},"role":"user","role":"admin"}}"#,
            payload(&[]).trim_end_matches('}')
        );
        assert_eq!(reject(&forge(HEADER, &two_roles)), Rejection::Malformed);
        for nested in [
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"deep":{"a":1,"b":2,"a":3}}}"#,
            r#"[{"a":1},{"b":1,"b":1}]"#,
        ] {
            let token = token_with(&[("custom", Some(nested))]);
            assert_eq!(reject(&token), Rejection::Malformed, "{nested}");
        }
        let dup_alg = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1","alg":"HS256"}"#;
        assert_eq!(reject(&forge(dup_alg, &payload(&[]))), Rejection::Malformed);
        let dup_kid = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1","kid":"k2"}"#;
        assert_eq!(reject(&forge(dup_kid, &payload(&[]))), Rejection::Malformed);
    }

    #[test]
    fn sec_31_crit_header_rejected() {
        let header = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1","crit":["exp"],"exp":1}"#;
        assert_eq!(reject(&forge(header, &payload(&[]))), Rejection::Header);
    }

    #[test]
    fn sec_31_header_and_payload_must_be_json_objects() {
        let claims = payload(&[]);
        for header in [
            "[]",
            r#""x""#,
            "null",
            "1",
            "{",
            r#"{"alg":"HS256"} x"#,
            "",
            "\u{0}",
        ] {
            if header.is_empty() {
                continue;
            }
            assert_eq!(
                reject(&forge(header, &claims)),
                Rejection::Malformed,
                "{header}"
            );
        }
        let trailing = format!("{HEADER}{{}}");
        assert_eq!(reject(&forge(&trailing, &claims)), Rejection::Malformed);
        for body in ["[]", "null", "\"claims\"", "{", "{}{}", r#"{"sub":"u" "#] {
            assert_eq!(reject(&forge(HEADER, body)), Rejection::Malformed, "{body}");
        }
        // Header bytes that are not UTF-8.
        let raw = format!("{}.{}", b64([0xff, 0xfe, b'{']), b64(&claims));
        let token = format!("{raw}.{}", hmac(SECRET, &raw));
        assert_eq!(reject(&token), Rejection::Malformed);
    }

    #[test]
    fn sec_32_signature_checked_before_payload_is_read() {
        let header = b64(HEADER);
        for garbage in ["A", "____", "AAAA", "e30", "bnVsbA", "eyJleHAiOiJuZXZlciJ9"] {
            let input = format!("{header}.{garbage}");
            let wrong = hmac(b"not-the-key-not-the-key-not-the-k", &input);
            assert_eq!(
                reject(&format!("{input}.{wrong}")),
                Rejection::Signature,
                "{garbage}"
            );
            let right = hmac(SECRET, &input);
            let expected = match garbage {
                // "{}" and {"exp":"never"}: parsed, then the claims fail.
                "e30" | "eyJleHAiOiJuZXZlciJ9" => Rejection::Claims,
                _ => Rejection::Malformed,
            };
            assert_eq!(reject(&format!("{input}.{right}")), expected, "{garbage}");
        }
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

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
        let token = token_with(&[("custom", Some(&deep))]);
        let no_limit = Validation {
            max_len: usize::MAX,
            ..validation()
        };
        assert_eq!(
            rejection(run(&token, &no_limit, Expiry::Enforce)),
            Rejection::Malformed
        );
        let fine = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(check_default(&token_with(&[("custom", Some(&fine))])).is_ok());
    }

    #[test]
    fn sec_05_debug_shows_neither_token_nor_secret() {
        let token = signed(&custom(), None, None);
        let text = token.expose().to_owned();
        let verified = check_default(&text).unwrap();
        let err = check_default(&format!("{text}x")).unwrap_err();
        let hex: String = SECRET.iter().map(|b| format!("{b:02x}")).collect();
        let printed = [
            format!("{token:?}"),
            format!("{token:#?}"),
            format!("{verified:?}"),
            format!("{verified:#?}"),
            format!("{:?}", keys()),
            format!("{:?}", key()),
            format!("{err:?}"),
            format!("{err}"),
        ];
        let secret_forms = [
            String::from_utf8(SECRET.to_vec()).unwrap(),
            hex,
            b64(SECRET),
            base64::engine::general_purpose::STANDARD.encode(SECRET),
        ];
        for out in &printed {
            for segment in text.split('.') {
                assert!(!out.contains(segment), "{out}");
            }
            for secret in &secret_forms {
                assert!(!out.contains(secret.as_str()), "{out}");
            }
        }
    }

    /// A valid token, for the mutation properties.
    fn valid_token() -> String {
        signed(&custom(), Some("iss"), None).into_string()
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
        // The fast path finds a key only while it may verify.
        assert!(
            set.find_by_encoded_header(keys[0].encoded_header(), now())
                .is_some()
        );
        assert!(
            set.find_by_encoded_header(keys[2].encoded_header(), now())
                .is_some()
        );
        assert!(
            set.find_by_encoded_header(keys[3].encoded_header(), now())
                .is_none()
        );
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn sec_40_arbitrary_strings_never_panic_or_verify(input in "\\PC{0,300}") {
            prop_assert!(check_default(&input).is_err());
        }

        #[test]
        fn sec_40_base64url_shaped_strings_never_panic_or_verify(
            input in "[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,90}",
        ) {
            prop_assert!(check_default(&input).is_err());
        }

        #[test]
        fn sec_40_signed_garbage_payload_never_panics(body in "[{}\\[\\]\",:0-9a-z_.eE+\\\\ -]{0,120}") {
            // Valid signature, hostile JSON: the claims parser sees it all.
            let token = forge(HEADER, &body);
            let _ = check_default(&token);
            let _ = run(&token, &validation(), Expiry::Ignore);
        }

        #[test]
        fn sec_40_signed_json_values_never_panic(value in arb_json()) {
            let mut claims = serde_json::from_str::<Map<String, Value>>(&payload(&[])).unwrap();
            claims.insert("exp".into(), value.clone());
            let _ = check_default(&forge(HEADER, &Value::Object(claims).to_string()));
            let _ = check_default(&token_with(&[("custom", Some(&value.to_string()))]));
        }

        #[test]
        fn sec_40_mutated_token_never_verifies(
            mutation in 0..3u8,
            index in any::<prop::sample::Index>(),
            byte in 0x20u8..0x7f,
            flip in 1u8..0x80,
        ) {
            let original = valid_token();
            let mut bytes = original.clone().into_bytes();
            let i = index.index(bytes.len());
            match mutation {
                0 => bytes[i] ^= flip,
                1 => bytes.truncate(i),
                _ => bytes.insert(i, byte),
            }
            // Every mutation keeps the text ASCII.
            let mutated = String::from_utf8(bytes).unwrap();
            let result = check_default(&mutated);
            if mutated == original {
                prop_assert!(result.is_ok());
            } else {
                prop_assert!(result.is_err(), "{mutated}");
            }
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
