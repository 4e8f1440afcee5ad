//! The claims: what a token says, written when signing and read back,
//! strictly, once the JWS layer has verified the signature over them.
//!
//! Reading is one pass over the decoded payload into [`RawClaims`], whose
//! strings borrow from it. Each registered claim has exactly one accepted
//! type, and any other type is an error rather than "absent" (SEC-28,
//! CVE-2026-25537); the rest are custom claims, read through the strict JSON
//! layer. Validation then compares them with [`Validation`]: time claims with
//! a bounded leeway and saturating arithmetic (SEC-28), `iss` and `aud`
//! exactly (SEC-29). Expiry is checked last, because an expired token that
//! is otherwise valid asks for a refresh rather than being refused.
//!
//! [`Verified`] is defined here, beside the checks, so that its fields are
//! private to the one function that builds it after they all passed.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::json::{Name, StrictValue, duplicate, parse_json};
use crate::error::Rejection;
use crate::record::SessionHandle;

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

impl Serialize for Claims<'_> {
    #[inline]
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

/// A verified access token: only the verifier constructs one, after the
/// signature and every claim check passed.
///
/// Cloning is cheap (one `Arc`): a cache of verified tokens hands out the
/// same one again.
#[derive(Clone)]
pub struct Verified(Arc<VerifiedClaims>);

/// What a [`Verified`] holds.
struct VerifiedClaims {
    user_id: String,
    handle: SessionHandle,
    generation: u64,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    auth_time: OffsetDateTime,
    custom: Map<String, Value>,
    times: TimeClaims,
}

/// The time claims of a verified token, which a cached verification checks
/// again against the clock: exactly the checks [`RawClaims::validate`]
/// makes of them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeClaims {
    nbf: Option<i64>,
    iat: i64,
    auth_time: i64,
    exp: i64,
}

impl TimeClaims {
    /// Whether the token is still acceptable at `now`: not before `nbf`,
    /// `iat` or `auth_time`, and not expired, all with the leeway.
    #[inline]
    pub(crate) fn hold_at(&self, now: OffsetDateTime, leeway: i64) -> bool {
        let now = now.unix_timestamp();
        !self.too_early(now, leeway) && !self.expired(now, leeway)
    }

    /// Whether `now` (Unix seconds) is before `nbf`, `iat` or `auth_time`,
    /// even with the leeway. Saturating: a time claim at `i64::MAX` or
    /// `MIN` is an ordinary rejection, never an overflow.
    #[inline]
    fn too_early(&self, now: i64, leeway: i64) -> bool {
        let latest = now.saturating_add(leeway);
        self.nbf.is_some_and(|nbf| latest < nbf) || self.iat > latest || self.auth_time > latest
    }

    /// Whether the token has expired at `now` (Unix seconds), even with
    /// the leeway.
    #[inline]
    fn expired(&self, now: i64, leeway: i64) -> bool {
        now.saturating_sub(leeway) >= self.exp
    }
}

impl Verified {
    /// The `sub` claim: the user id.
    pub fn user_id(&self) -> &str {
        &self.0.user_id
    }

    /// The `sid` claim: the session handle.
    pub fn session_handle(&self) -> SessionHandle {
        self.0.handle
    }

    /// The `gen` claim: the refresh generation this token was issued with.
    pub fn generation(&self) -> u64 {
        self.0.generation
    }

    /// The `iat` claim.
    pub fn issued_at(&self) -> OffsetDateTime {
        self.0.issued_at
    }

    /// The `exp` claim.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.0.expires_at
    }

    /// The `auth_time` claim: when the user last authenticated.
    pub fn auth_time(&self) -> OffsetDateTime {
        self.0.auth_time
    }

    /// The custom claims (every claim that is not reserved).
    pub fn claims(&self) -> &Map<String, Value> {
        &self.0.custom
    }

    /// The time claims, for a cache to check again.
    pub(crate) fn times(&self) -> TimeClaims {
        self.0.times
    }

    /// The custom claims deserialized into a type of yours.
    ///
    /// # Errors
    /// [`Rejection::Claims`] if they do not fit `C`.
    pub fn claims_as<C: serde::de::DeserializeOwned>(&self) -> Result<C, Rejection> {
        C::deserialize(&Value::Object(self.0.custom.clone())).map_err(|_| Rejection::Claims)
    }
}

impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("user_id", &self.0.user_id)
            .field("handle", &self.0.handle)
            .field("generation", &self.0.generation)
            .field("issued_at", &self.0.issued_at)
            .field("expires_at", &self.0.expires_at)
            .field("auth_time", &self.0.auth_time)
            .finish_non_exhaustive()
    }
}

/// A token that passed every check, except possibly expiry.
pub(super) enum Checked {
    Valid(Verified),
    Expired(Verified),
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

/// Parses the decoded payload in one pass, then checks the claims: the
/// borrowed strings live only as long as `json`.
pub(super) fn check_claims(
    json: &[u8],
    now: OffsetDateTime,
    validation: &Validation,
) -> Result<Checked, Rejection> {
    let reason = Cell::new(None);
    parse_json(json, ClaimsVisitor { reason: &reason }, &reason)?.validate(now, validation)
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
        let times = TimeClaims {
            nbf: self.nbf,
            iat,
            auth_time,
            exp,
        };

        let now_s = now.unix_timestamp();
        if times.too_early(now_s, validation.leeway) {
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

        let verified = Verified(Arc::new(VerifiedClaims {
            user_id: user_id.0.into_owned(),
            handle,
            generation,
            issued_at,
            expires_at,
            auth_time,
            custom: self.custom,
            times,
        }));
        if times.expired(now_s, validation.leeway) {
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
mod tests {
    use proptest::prelude::*;
    use serde_json::{Number, json};

    use super::*;
    use crate::access_token::Expiry;
    use crate::access_token::test_support::*;
    use crate::error::VerifyError;

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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

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
