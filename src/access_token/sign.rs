//! Signing: claims in, compact JWS out.
//!
//! The issuing side trusts its input, so it carries none of the verifier's
//! checks. What it must guarantee instead is that every token it makes is
//! one the verifier accepts, and that making one cannot panic.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::claims::Claims;
use super::jws::MAX_SIGNATURE_B64;
use crate::keys::SigningKey;

/// An encoded access token. Its text is only reachable through [`AccessToken::expose`].
#[derive(Clone, Eq, PartialEq)]
pub struct AccessToken(Zeroizing<String>);

impl AccessToken {
    /// The compact JWS, to be sent to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Consumes the token, returning its text (which is then yours to
    /// wipe).
    pub fn into_string(mut self) -> String {
        std::mem::take(&mut *self.0)
    }

    /// A token with arbitrary text, for unit tests of code that only
    /// carries tokens around.
    #[cfg(test)]
    pub(crate) fn from_string(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

/// The text is wiped when the token is dropped (SEC-49): it is kept in a
/// [`Zeroizing`] string.
impl ZeroizeOnDrop for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").finish_non_exhaustive()
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
    AccessToken(Zeroizing::new(token))
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::access_token::test_support::*;

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
            AccessToken::from_string(token.expose().to_owned()),
            "same claims, same token"
        );
        let text = token.clone().into_string();
        assert_eq!(text, token.expose());
    }
}
