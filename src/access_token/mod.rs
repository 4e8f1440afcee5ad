//! JWT access tokens (compact JWS): signing and stateless verification.
//!
//! The layers follow JOSE's own: [`jws`] for the compact serialization, its
//! header and signature, [`json`] for the strict JSON under both header and
//! payload, [`claims`] for what the token says, and [`sign`](mod@sign) for
//! making one. [`verify`] runs them in an order that is the security
//! argument:
//!
//! 1. the length, before anything grows with the input (SEC-39);
//! 2. the compact form: three base64url segments (SEC-31);
//! 3. the header: `typ`, the key by exact `kid`, that key's algorithm
//!    (SEC-25 to SEC-27, SEC-30);
//! 4. the signature, BEFORE any claim is decoded or looked at (SEC-32), so
//!    that nothing an attacker wrote reaches the claims parser unsigned;
//! 5. the claims (SEC-28, SEC-29), expiry last: an expired token that passed
//!    everything else is the one soft failure, a reason to refresh.

mod claims;
mod json;
mod jws;
mod sign;

use time::OffsetDateTime;

use self::claims::Checked;
pub(crate) use self::claims::{Claims, Validation};
pub use self::claims::{RESERVED_CLAIMS, Verified};
use self::jws::{HeaderPath, Segments};
pub use self::sign::AccessToken;
pub(crate) use self::sign::sign;
use crate::error::{Rejection, VerifyError};
use crate::keys::{KeySet, Trust};

/// Whether an expired (but otherwise valid) token is accepted.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Expiry {
    /// Expired tokens give [`VerifyError::TryRefresh`].
    Enforce,
    /// Expired tokens are accepted (to identify a session on logout).
    Ignore,
}

/// Verifies a compact JWS access token.
pub(crate) fn verify(
    keys: &KeySet,
    token: &str,
    now: OffsetDateTime,
    validation: &Validation,
    expiry: Expiry,
) -> Result<Verified, VerifyError> {
    let checked = check_with(keys, token, now, validation, HeaderPath::Precomputed)
        .map_err(VerifyError::Unauthorized)?;
    match checked {
        Checked::Expired(_) if expiry == Expiry::Enforce => Err(VerifyError::TryRefresh),
        Checked::Valid(verified) | Checked::Expired(verified) => Ok(verified),
    }
}

/// Every check, in an order where nothing from the payload is read before the
/// signature verified, and expiry (the one soft failure) comes last.
fn check_with(
    keys: &KeySet,
    token: &str,
    now: OffsetDateTime,
    validation: &Validation,
    path: HeaderPath,
) -> Result<Checked, Rejection> {
    check_found(keys, token, now, validation, path).map(|(checked, _)| checked)
}

/// [`check_with`], also saying whether the token may be cached: valid, with
/// a fully trusted key found again from the header alone.
fn check_found(
    keys: &KeySet,
    token: &str,
    now: OffsetDateTime,
    validation: &Validation,
    path: HeaderPath,
) -> Result<(Checked, bool), Rejection> {
    let segments = Segments::split(token, validation.max_len)?;
    let found = jws::key_for(keys, segments.header, now, path)?;
    jws::check_signature(found.key, &segments)?;
    // The payload is decoded only now that the signature verified.
    let checked = jws::with_decoded(segments.payload, |json| {
        claims::check_claims(json, now, validation)
    })?;
    match (found.trust, checked) {
        (Trust::Full, checked @ Checked::Valid(_)) => Ok((checked, found.canonical)),
        (Trust::Full, checked) => Ok((checked, false)),
        // A retired key past its window vouches for expired tokens only:
        // such a token asks for a refresh (a key rotation logs nobody out,
        // SEC-44); one still valid was signed after the retirement.
        (Trust::ExpiredOnly, Checked::Expired(verified)) => Ok((Checked::Expired(verified), false)),
        (Trust::ExpiredOnly, Checked::Valid(_)) => Err(Rejection::UnknownKey),
    }
}

/// [`verify`] with [`Expiry::Enforce`], also saying whether the verified
/// token may enter a cache of verified tokens.
pub(crate) fn verify_cacheable(
    keys: &KeySet,
    token: &str,
    now: OffsetDateTime,
    validation: &Validation,
) -> Result<(Verified, bool), VerifyError> {
    match check_found(keys, token, now, validation, HeaderPath::Precomputed) {
        Ok((Checked::Valid(verified), cacheable)) => Ok((verified, cacheable)),
        Ok((Checked::Expired(_), _)) => Err(VerifyError::TryRefresh),
        Err(rejection) => Err(VerifyError::Unauthorized(rejection)),
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use proptest::prelude::*;

    use super::*;
    use crate::access_token::test_support::*;

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
        let last = forged.pop();
        forged.push(if last == Some('A') { 'Q' } else { 'A' });
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
}
