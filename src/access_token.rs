//! JWT access tokens (compact JWS): signing and stateless verification.

use std::fmt;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{Rejection, VerifyError};
use crate::keys::{KeySet, SigningKey};
use crate::store::SessionHandle;

/// Claim names sessionkit sets itself; custom claims may not use them.
pub const RESERVED_CLAIMS: &[&str] = &[
    "sub", "sid", "gen", "iat", "exp", "nbf", "auth_time", "iss", "aud", "jti",
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
    let _ = (key, claims);
    AccessToken(String::new())
}

/// Verifies a compact JWS access token.
pub(crate) fn verify(
    keys: &KeySet,
    token: &str,
    now: OffsetDateTime,
    validation: &Validation,
    expiry: Expiry,
) -> Result<Verified, VerifyError> {
    let _ = (keys, token, now, validation, expiry);
    Err(VerifyError::Unauthorized(Rejection::Malformed))
}
