//! Error types, one per domain.
//!
//! Hostile input is always reported as [`VerifyError::Unauthorized`] or
//! [`RefreshError::Unauthorized`] with a [`Rejection`] that says why, for the
//! server's logs. Clients should only ever be told "unauthorized": the reason
//! helps an attacker more than it helps a legitimate user.

use std::error::Error as StdError;

use crate::record::SessionHandle;

/// Why a token was rejected.
///
/// This is meant for server-side logs and metrics. Do not send it to the
/// client: map every variant to the same generic answer.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Rejection {
    /// The token is longer than the configured maximum; it was not decoded.
    TooLong,
    /// The token is not well formed (segments, base64url, JSON, field types).
    Malformed,
    /// The header names an algorithm that is not the one pinned to the key.
    Algorithm,
    /// The header `typ` is not the one expected for this kind of token.
    Type,
    /// The header carries a parameter that is not allowed (`crit`, `jwk`, ...).
    Header,
    /// The key id is not in the local key set (or the key has been retired).
    UnknownKey,
    /// The signature or MAC does not verify.
    Signature,
    /// A claim is missing, has the wrong type, or does not match (`iss`, `aud`, `nbf`, `iat`).
    Claims,
    /// The token, or the session behind it, has expired.
    Expired,
    /// No live session has this handle (it never existed, was revoked or purged).
    SessionNotFound,
    /// The token belongs to a generation the session no longer accepts.
    StaleGeneration,
    /// The token names a generation the store has never reached (a lost write).
    FutureGeneration,
    /// The session was revoked because one of its refresh tokens was used
    /// twice (theft): every token of it is refused from then on.
    TheftRevoked,
    /// The authentication is older than the maximum age the caller asked for.
    AuthTooOld,
}

impl Rejection {
    /// A short, stable, lowercase description, safe for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLong => "token too long",
            Self::Malformed => "malformed token",
            Self::Algorithm => "unexpected algorithm",
            Self::Type => "unexpected token type",
            Self::Header => "forbidden header parameter",
            Self::UnknownKey => "unknown key id",
            Self::Signature => "invalid signature",
            Self::Claims => "invalid claims",
            Self::Expired => "expired",
            Self::SessionNotFound => "no such session",
            Self::StaleGeneration => "stale token generation",
            Self::FutureGeneration => "unknown future token generation",
            Self::TheftRevoked => "session revoked after token theft",
            Self::AuthTooOld => "authentication too old",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from verifying an access token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is genuine and otherwise valid but has expired: the client
    /// should call the refresh endpoint and retry.
    #[error("access token expired, try refresh")]
    TryRefresh,
    /// The token must not be accepted. The client should be treated as
    /// logged out.
    #[error("unauthorized: {0}")]
    Unauthorized(Rejection),
    /// Strict verification could not reach the store. Fail closed.
    #[error("session store failed")]
    Store(#[from] StoreError),
    /// [`Verifier::verify_or_fetch_keys`](crate::Verifier::verify_or_fetch_keys)
    /// could not fetch a usable JWKS. Fail closed; the token is unverified.
    #[error("jwks source failed")]
    KeySource(#[source] Box<dyn StdError + Send + Sync>),
}

/// An error from [`SessionManager::refresh`](crate::SessionManager::refresh).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// The token must not be accepted (invalid, expired, revoked, unknown).
    /// Nothing was revoked.
    #[error("unauthorized: {0}")]
    Unauthorized(Rejection),
    /// A genuine refresh token was presented after it had been retired: it
    /// was copied. The session (or every session of the user, depending on
    /// the [`TheftPolicy`](crate::config::TheftPolicy)) has been revoked.
    #[error("refresh token reuse detected, session {handle} revoked")]
    TokenTheftDetected {
        /// The session whose refresh token was reused.
        handle: SessionHandle,
        /// The owner of that session.
        user_id: String,
    },
    /// Like [`TokenTheftDetected`](Self::TokenTheftDetected), under
    /// [`TheftPolicy::RevokeAllForUser`](crate::config::TheftPolicy::RevokeAllForUser),
    /// but the user's other sessions could not all be revoked: the store
    /// kept failing. The stolen session itself is dead. The next
    /// presentation of any of its tokens tries again, and so does
    /// [`SessionManager::revoke_all_for_user`](crate::SessionManager::revoke_all_for_user).
    #[error(
        "refresh token reuse detected, session {handle} revoked, revoking the user's other sessions failed"
    )]
    TheftRevocationIncomplete {
        /// The session whose refresh token was reused.
        handle: SessionHandle,
        /// The owner of that session.
        user_id: String,
        /// The last store failure.
        #[source]
        source: StoreError,
    },
    /// The store failed. The presented token is still valid if it was valid
    /// before: nothing was half-written.
    #[error("session store failed")]
    Store(#[from] StoreError),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random(#[from] RandomError),
}

impl VerifyError {
    /// The HTTP status to answer with: 401 for [`TryRefresh`](Self::TryRefresh)
    /// and [`Unauthorized`](Self::Unauthorized); 503 for
    /// [`Store`](Self::Store) and [`KeySource`](Self::KeySource).
    ///
    /// 503 rather than 500: the request was fine and the failure is on the
    /// server's side and usually passing, so the client should retry later
    /// and must not treat itself as logged out.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::TryRefresh | Self::Unauthorized(_) => 401,
            Self::Store(_) | Self::KeySource(_) => 503,
        }
    }

    /// The error code to send to the client: `try_refresh_token` (call the
    /// refresh endpoint, then retry), `unauthorized` (log in again) or
    /// `unavailable` (retry later). The [`Rejection`] is never revealed.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::TryRefresh => "try_refresh_token",
            Self::Unauthorized(_) => "unauthorized",
            Self::Store(_) | Self::KeySource(_) => "unavailable",
        }
    }
}

impl RefreshError {
    /// The HTTP status to answer with: 401 for
    /// [`Unauthorized`](Self::Unauthorized),
    /// [`TokenTheftDetected`](Self::TokenTheftDetected) and
    /// [`TheftRevocationIncomplete`](Self::TheftRevocationIncomplete); 503 for
    /// [`Store`](Self::Store) and [`Random`](Self::Random) (see
    /// [`VerifyError::http_status`]).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Unauthorized(_)
            | Self::TokenTheftDetected { .. }
            | Self::TheftRevocationIncomplete { .. } => 401,
            Self::Store(_) | Self::Random(_) => 503,
        }
    }

    /// The error code to send to the client: `unauthorized`,
    /// `token_theft_detected` (the session is gone; tell the user their
    /// session was ended for safety and ask them to log in) or
    /// `unavailable` (retry later; the refresh token is still valid).
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::TokenTheftDetected { .. } | Self::TheftRevocationIncomplete { .. } => {
                "token_theft_detected"
            }
            Self::Store(_) | Self::Random(_) => "unavailable",
        }
    }
}

/// Why a client's session ended, as its holder may be told: a page can say
/// "your session expired" or "you were signed out from another device"
/// rather than a bare "unauthorized". Only a genuine token's failure has a
/// reason ([`RefreshError::logout_reason`]); a forged or malformed one
/// learns nothing.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum LogoutReason {
    /// A copy of the session's refresh token was used elsewhere; the
    /// session was ended for safety.
    Theft,
    /// The session was revoked: logged out on another device, logged out
    /// everywhere, or replaced.
    SignedOut,
    /// The session reached its idle or absolute lifetime.
    Expired,
}

impl LogoutReason {
    /// `theft`, `signed_out` or `expired`: stable, for a JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Theft => "theft",
            Self::SignedOut => "signed_out",
            Self::Expired => "expired",
        }
    }
}

impl RefreshError {
    /// Why the session of a genuine refresh token is over, for the client:
    /// `None` when the token was not genuine (forged, malformed, an unknown
    /// key) or the failure was the server's (the token still works then).
    pub fn logout_reason(&self) -> Option<LogoutReason> {
        match self {
            Self::TokenTheftDetected { .. } | Self::TheftRevocationIncomplete { .. } => {
                Some(LogoutReason::Theft)
            }
            Self::Unauthorized(Rejection::TheftRevoked) => Some(LogoutReason::Theft),
            Self::Unauthorized(Rejection::Expired) => Some(LogoutReason::Expired),
            Self::Unauthorized(
                Rejection::SessionNotFound
                | Rejection::StaleGeneration
                | Rejection::FutureGeneration,
            ) => Some(LogoutReason::SignedOut),
            Self::Unauthorized(_) | Self::Store(_) | Self::Random(_) => None,
        }
    }
}

/// Why no token could be read from a request (SEC-06, SEC-37).
///
/// Every variant means the same to the client: 401 `unauthorized`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenSourceError {
    /// No `Authorization` header, or no cookie of that exact name.
    #[error("no token in the request")]
    Missing,
    /// The session cookie (or the `Authorization` header) appears more
    /// than once: a shadowing cookie is an attack, not a choice to make.
    #[error("token given more than once")]
    Duplicate,
    /// The header is not `Bearer <token>`, or the value cannot be a token.
    #[error("malformed token header")]
    Malformed,
}

impl TokenSourceError {
    /// Always 401.
    pub fn http_status(&self) -> u16 {
        401
    }

    /// Always `unauthorized`.
    pub fn error_code(&self) -> &'static str {
        "unauthorized"
    }
}

/// Why a cookie-authenticated state-changing request was refused as a
/// possible cross-site request forgery (SEC-38).
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfError {
    /// `Sec-Fetch-Site: cross-site`.
    #[error("cross-site request")]
    CrossSite,
    /// An `Origin` header that is not one of the allowed origins (`null`
    /// included).
    #[error("origin not allowed")]
    OriginNotAllowed,
}

impl CsrfError {
    /// Always 403.
    pub fn http_status(&self) -> u16 {
        403
    }

    /// Always `csrf`.
    pub fn error_code(&self) -> &'static str {
        "csrf"
    }
}

/// An error from session management operations other than verify and refresh.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No live session has this handle.
    #[error("no such session")]
    NotFound,
    /// The token given to identify a session must not be accepted (see
    /// [`SessionManager::revoke_with_access_token`](crate::SessionManager::revoke_with_access_token)).
    /// Nothing was changed.
    #[error("unauthorized: {0}")]
    Unauthorized(Rejection),
    /// The custom access claims are not acceptable (a reserved claim name,
    /// or not a JSON object).
    #[error("invalid access claims: {0}")]
    InvalidClaims(String),
    /// The user id is empty or too long.
    #[error("invalid user id")]
    InvalidUserId,
    /// The store failed; nothing was half-written.
    #[error("session store failed")]
    Store(#[from] StoreError),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random(#[from] RandomError),
}

impl SessionError {
    /// The HTTP status to answer with: 404 for [`NotFound`](Self::NotFound)
    /// (also when the session belongs to someone else: do not reveal that
    /// it exists); 401 for [`Unauthorized`](Self::Unauthorized); 500 for
    /// [`InvalidClaims`](Self::InvalidClaims) and
    /// [`InvalidUserId`](Self::InvalidUserId), which are mistakes of the
    /// application, not of the client; 503 for [`Store`](Self::Store) and
    /// [`Random`](Self::Random) (see [`VerifyError::http_status`]).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::Unauthorized(_) => 401,
            Self::InvalidClaims(_) | Self::InvalidUserId => 500,
            Self::Store(_) | Self::Random(_) => 503,
        }
    }

    /// The error code to send to the client: `not_found`, `unauthorized`,
    /// `internal_error` or `unavailable` (retry later). The details of an
    /// application mistake stay in the server's logs.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidClaims(_) | Self::InvalidUserId => "internal_error",
            Self::Store(_) | Self::Random(_) => "unavailable",
        }
    }
}

/// An error from a [`SessionStore`](crate::store::SessionStore) implementation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `insert` found a session with the same handle.
    #[error("a session with this handle already exists")]
    AlreadyExists,
    /// The store rejected the data (too large, not representable).
    #[error("the store rejected the session data")]
    InvalidData(#[source] Box<dyn StdError + Send + Sync>),
    /// The operation did not complete in time. It may or may not have been
    /// applied.
    #[error("the store timed out")]
    Timeout,
    /// The store is unreachable or failed.
    #[error("store backend error")]
    Backend(#[source] Box<dyn StdError + Send + Sync>),
}

impl StoreError {
    /// Wraps any backend error.
    pub fn backend(err: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Backend(err.into())
    }

    /// Wraps an error about data the store cannot hold.
    pub fn invalid_data(err: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::InvalidData(err.into())
    }
}

/// A configuration mistake, found when keys or the manager are built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key is shorter than the minimum (32 bytes for HMAC keys).
    #[error("key too short: {actual} bytes, at least {min} required")]
    KeyTooShort {
        /// The minimum length in bytes.
        min: usize,
        /// The length given.
        actual: usize,
    },
    /// A key id is empty, too long or not printable ASCII.
    #[error("invalid key id")]
    InvalidKeyId,
    /// Two keys share an id.
    #[error("duplicate key id")]
    DuplicateKeyId,
    /// No signing key or no refresh key was configured.
    #[error("missing key: {0}")]
    MissingKey(&'static str),
    /// A duration is outside its allowed range.
    #[error("invalid setting {name}: {reason}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key material is not valid for its algorithm.
    #[error("invalid key material")]
    InvalidKey,
}

/// The operating system's random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("operating system random number generator failed")]
pub struct RandomError(#[source] pub(crate) rand::rngs::SysError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_a_status_and_code() {
        let io = || std::io::Error::other("down");
        let verify = [
            (VerifyError::TryRefresh, 401, "try_refresh_token"),
            (
                VerifyError::Unauthorized(Rejection::Signature),
                401,
                "unauthorized",
            ),
            (VerifyError::Store(StoreError::Timeout), 503, "unavailable"),
            (VerifyError::KeySource(Box::new(io())), 503, "unavailable"),
        ];
        for (e, status, code) in verify {
            assert_eq!((e.http_status(), e.error_code()), (status, code), "{e:?}");
        }
        let refresh = [
            (
                RefreshError::Unauthorized(Rejection::Expired),
                401,
                "unauthorized",
            ),
            (
                RefreshError::TokenTheftDetected {
                    handle: SessionHandle::from_bytes([0; 18]),
                    user_id: "u".to_owned(),
                },
                401,
                "token_theft_detected",
            ),
            (
                RefreshError::TheftRevocationIncomplete {
                    handle: SessionHandle::from_bytes([0; 18]),
                    user_id: "u".to_owned(),
                    source: StoreError::Timeout,
                },
                401,
                "token_theft_detected",
            ),
            (
                RefreshError::Store(StoreError::backend(io())),
                503,
                "unavailable",
            ),
        ];
        for (e, status, code) in refresh {
            assert_eq!((e.http_status(), e.error_code()), (status, code), "{e:?}");
        }
        let session = [
            (SessionError::NotFound, 404, "not_found"),
            (
                SessionError::Unauthorized(Rejection::StaleGeneration),
                401,
                "unauthorized",
            ),
            (
                SessionError::InvalidClaims("x".into()),
                500,
                "internal_error",
            ),
            (SessionError::InvalidUserId, 500, "internal_error"),
            (SessionError::Store(StoreError::Timeout), 503, "unavailable"),
        ];
        for (e, status, code) in session {
            assert_eq!((e.http_status(), e.error_code()), (status, code), "{e:?}");
        }
        for e in [
            TokenSourceError::Missing,
            TokenSourceError::Duplicate,
            TokenSourceError::Malformed,
        ] {
            assert_eq!((e.http_status(), e.error_code()), (401, "unauthorized"));
        }
        for e in [CsrfError::CrossSite, CsrfError::OriginNotAllowed] {
            assert_eq!((e.http_status(), e.error_code()), (403, "csrf"));
        }
    }

    #[test]
    fn only_a_genuine_tokens_end_has_a_reason() {
        let handle = SessionHandle::from_bytes([0; 18]);
        let cases = [
            (
                RefreshError::TokenTheftDetected {
                    handle,
                    user_id: "u".into(),
                },
                Some("theft"),
            ),
            (
                RefreshError::Unauthorized(Rejection::Expired),
                Some("expired"),
            ),
            (
                RefreshError::Unauthorized(Rejection::SessionNotFound),
                Some("signed_out"),
            ),
            (
                RefreshError::Unauthorized(Rejection::TheftRevoked),
                Some("theft"),
            ),
            (RefreshError::Unauthorized(Rejection::Signature), None),
            (RefreshError::Unauthorized(Rejection::Malformed), None),
            (RefreshError::Unauthorized(Rejection::UnknownKey), None),
            (RefreshError::Store(StoreError::Timeout), None),
        ];
        for (e, reason) in cases {
            assert_eq!(e.logout_reason().map(LogoutReason::as_str), reason, "{e:?}");
        }
    }

    #[test]
    fn messages_are_lowercase_without_period() {
        let all = [
            Rejection::TooLong,
            Rejection::Malformed,
            Rejection::Algorithm,
            Rejection::Type,
            Rejection::Header,
            Rejection::UnknownKey,
            Rejection::Signature,
            Rejection::Claims,
            Rejection::Expired,
            Rejection::SessionNotFound,
            Rejection::StaleGeneration,
            Rejection::FutureGeneration,
            Rejection::TheftRevoked,
            Rejection::AuthTooOld,
        ];
        for r in all {
            let s = r.to_string();
            assert!(!s.ends_with('.'), "{s}");
            assert_eq!(s, s.to_lowercase());
        }
    }
}
