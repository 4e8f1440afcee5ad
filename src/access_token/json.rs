//! The strict JSON layer under the header and the claims.
//!
//! `serde_json` lets the last of two members with the same name win, so a
//! token could mean one thing to us and another to a parser in front of or
//! behind us. RFC 7515 §4 and RFC 7519 §4 allow either that or rejection; we
//! reject (SEC-31). Every JSON document in a token is read through
//! [`parse_json`], which also refuses anything after the one value. The
//! header and claims visitors above read member names as [`Name`] and report
//! a repeat with [`duplicate`]; custom claims of any shape are read as
//! [`StrictValue`], which does the same at every depth. The layers above
//! decide which members and types they accept; this one makes sure that what
//! they see is all the token says.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::Rejection;

/// Parses `json` with `seed`. Visitors store a more precise reason than
/// "malformed" in `reason` before they fail.
#[inline]
pub(super) fn parse_json<'de, S: DeserializeSeed<'de>>(
    json: &'de [u8],
    seed: S,
    reason: &Cell<Option<Rejection>>,
) -> Result<S::Value, Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    seed.deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|_| reason.get().unwrap_or(Rejection::Malformed))
}

/// The error for a member name seen twice in one object: never "the last
/// one wins".
#[inline]
pub(super) fn duplicate<E: de::Error>() -> E {
    E::custom("duplicate member")
}

/// A JSON member name, borrowed from the input when it has no escapes.
pub(super) struct Name<'de>(pub(super) Cow<'de, str>);

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
pub(super) struct StrictValue;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_token::test_support::*;
    use crate::access_token::{Expiry, Validation};

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
}
