//! The manager itself: its shared state, the tokens it issues, and
//! verification (stateless and strict).

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::access_token::{self, AccessToken, Claims, Validation, Verified};
use crate::clock::{Clock, whole_seconds};
use crate::config::Config;
use crate::error::{Rejection, VerifyError};
use crate::events::{EventHook, SessionEvent};
use crate::jwks::{Jwks, MAX_JWKS_KEYS};
use crate::keys::{KeySet, SigningKey};
use crate::record::{SessionHandle, SessionRecord};
use crate::refresh_token::{RefreshKeys, RefreshSecret, RefreshToken};
use crate::rotation::{accepts_generation, is_burned};
use crate::store::SessionStore;
use crate::verify_cache::{self, VerifyCache};

/// How many times an operation that writes with a compare-and-swap (a
/// refresh, an update) reads and tries again after another writer got in
/// between. Each lost race means the record moved on; for a refresh the
/// next decision is then grace or theft and needs no write. More than two
/// rounds means the store does not keep its contract.
pub(super) const MAX_ROUNDS: usize = 4;

/// The error a store that keeps losing races is reported with.
pub(super) const ROUNDS_EXHAUSTED: &str =
    "compare-and-swap kept failing: the store does not keep its contract";

/// Creates, verifies, refreshes and revokes sessions over a
/// [`SessionStore`].
///
/// Cloning is cheap (one `Arc`); share one manager across request handlers.
pub struct SessionManager<S> {
    pub(super) inner: Arc<Inner<S>>,
}

pub(super) struct Inner<S> {
    pub(super) store: S,
    pub(super) signing_key: SigningKey,
    pub(super) keys: KeySet,
    pub(super) refresh_keys: RefreshKeys,
    pub(super) config: Config,
    pub(super) validation: Validation,
    pub(super) cache: Option<VerifyCache>,
    pub(super) clock: Box<dyn Clock>,
    pub(super) hook: Option<Box<dyn EventHook>>,
}

/// The tokens of a session, as returned by create, refresh and reissue.
///
/// Send `access_token` on every request and `refresh_token` only to the
/// refresh endpoint. `Debug` never prints the tokens.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionTokens {
    /// The short-lived JWT.
    pub access_token: AccessToken,
    /// The single-use refresh token.
    pub refresh_token: RefreshToken,
    /// The session's handle (not secret).
    pub handle: SessionHandle,
    /// The session's owner.
    pub user_id: String,
    /// When the access token expires.
    pub access_expires_at: OffsetDateTime,
    /// When the refresh token expires unless used.
    pub refresh_expires_at: OffsetDateTime,
    /// When the session ends whatever happens.
    pub session_expires_at: OffsetDateTime,
}

/// What the server knows of a live session; no secret or hash.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session's handle.
    pub handle: SessionHandle,
    /// Its owner.
    pub user_id: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When the user last authenticated.
    pub auth_time: OffsetDateTime,
    /// When the refresh token expires unless used.
    pub refresh_expires_at: OffsetDateTime,
    /// When the session ends whatever happens.
    pub session_expires_at: OffsetDateTime,
    /// How many times it has been refreshed.
    pub generation: u64,
    /// When it was last refreshed.
    pub last_refreshed_at: Option<OffsetDateTime>,
    /// The custom claims its access tokens carry.
    pub access_claims: Map<String, Value>,
    /// Server-only data.
    pub session_data: Value,
}

impl<S> Clone for SessionManager<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S> fmt::Debug for SessionManager<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore> SessionManager<S> {
    /// The store, for maintenance such as
    /// [`SessionStore::purge_expired`](crate::store::SessionStore::purge_expired).
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The current time, in whole seconds (the resolution stores keep).
    pub(super) fn now(&self) -> OffsetDateTime {
        whole_seconds(self.inner.clock.now())
    }

    pub(super) fn emit(&self, event: SessionEvent) {
        if let Some(hook) = &self.inner.hook {
            hook.on_event(&event);
        }
    }

    /// Mints the tokens for the record's current generation.
    pub(super) fn issue(
        &self,
        record: &SessionRecord,
        secret: &RefreshSecret,
        now: OffsetDateTime,
    ) -> SessionTokens {
        let inner = &self.inner;
        let cfg = &inner.config;
        // No access token outlives its session (SEC-22), nor the refresh
        // token it comes with: once the session idles out, so does every
        // access token of it (SEC-09).
        let access_expires_at = now
            .saturating_add(cfg.access_ttl)
            .min(record.refresh_expires_at)
            .min(record.absolute_expires_at);
        let claims = Claims {
            sub: &record.user_id,
            sid: &record.handle,
            generation: record.generation,
            iat: now.unix_timestamp(),
            exp: access_expires_at.unix_timestamp(),
            auth_time: record.auth_time.unix_timestamp(),
            iss: cfg.issuer.as_deref(),
            aud: cfg.audience.as_deref(),
            custom: &record.access_claims,
        };
        SessionTokens {
            access_token: access_token::sign(&inner.signing_key, &claims),
            refresh_token: inner
                .refresh_keys
                .seal(&record.handle, record.generation, secret),
            handle: record.handle,
            user_id: record.user_id.clone(),
            access_expires_at,
            refresh_expires_at: record.refresh_expires_at,
            session_expires_at: record.absolute_expires_at,
        }
    }

    /// The public keys that verify this manager's tokens now, as a JWKS:
    /// the signing key, the upcoming keys and the retired keys still inside
    /// their verification window. Serve [`Jwks::to_json`] at
    /// `/.well-known/jwks.json` for services that verify with a
    /// [`Verifier`](crate::Verifier).
    ///
    /// Only EdDSA keys have a public half: HS256 secrets are never exported,
    /// so a manager that signs with HS256 publishes an empty set.
    pub fn jwks(&self) -> Jwks {
        let keys = self.inner.keys.public_keys(self.now());
        // The key set has unique kids and fewer keys than the JWKS limit in
        // any sane configuration; past the limit, the first keys (active,
        // then upcoming, then retired) are published.
        let len = keys.len().min(MAX_JWKS_KEYS);
        Jwks::new(keys.into_iter().take(len).collect()).unwrap_or_default()
    }

    /// [`jwks`](Self::jwks) as a JSON document.
    pub fn jwks_json(&self) -> String {
        self.jwks().to_json()
    }

    /// Verifies an access token without touching the store.
    ///
    /// Checks, in order: length, JWS form, header (`typ: at+jwt`, known
    /// `kid`, the key's own `alg`), signature, then claims (`nbf`, `iat`,
    /// `iss`, `aud`, and `exp` last) with the configured leeway.
    ///
    /// # Security
    /// A revoked session's access tokens keep verifying here until they
    /// expire (at most the access lifetime, 10 minutes by default). Use
    /// [`verify_strict`](Self::verify_strict) where revocation must take
    /// effect at once.
    ///
    /// With a [cache of verified tokens](crate::SessionManagerBuilder::verified_token_cache),
    /// a token seen before is answered without the signature check, with
    /// the same answer.
    ///
    /// # Errors
    /// [`VerifyError::TryRefresh`] when the token is genuine and valid but
    /// expired; [`VerifyError::Unauthorized`] for anything else.
    pub fn verify(&self, access_token: &str) -> Result<Verified, VerifyError> {
        let inner = &self.inner;
        verify_cache::verify(
            inner.cache.as_ref(),
            &inner.keys,
            access_token,
            self.now(),
            &inner.validation,
        )
    }

    /// Verifies an access token, then checks with the store that its
    /// session is alive and the token belongs to its current or previous
    /// generation: revocation takes effect at once (SEC-15).
    ///
    /// # Errors
    /// As [`verify`](Self::verify); also [`VerifyError::Unauthorized`] for
    /// a revoked or expired session or a stale generation, and
    /// [`VerifyError::Store`] if the store cannot be read (fail closed).
    pub async fn verify_strict(&self, access_token: &str) -> Result<Verified, VerifyError> {
        let verified = self.verify(access_token)?;
        let record = self
            .inner
            .store
            .load(&verified.session_handle())
            .await?
            .ok_or(VerifyError::Unauthorized(Rejection::SessionNotFound))?;
        if record.is_expired(self.now()) {
            return Err(VerifyError::Unauthorized(Rejection::Expired));
        }
        if is_burned(&record) {
            return Err(VerifyError::Unauthorized(Rejection::TheftRevoked));
        }
        if record.user_id != verified.user_id() {
            return Err(VerifyError::Unauthorized(Rejection::SessionNotFound));
        }
        if !accepts_generation(&record, verified.generation()) {
            return Err(VerifyError::Unauthorized(Rejection::StaleGeneration));
        }
        Ok(verified)
    }

    /// Checks that the user authenticated at most `max_age` ago (SEC-16):
    /// call it before sensitive operations and re-authenticate on failure.
    ///
    /// # Errors
    /// [`VerifyError::Unauthorized`] with [`Rejection::AuthTooOld`].
    pub fn require_recent_auth(
        &self,
        verified: &Verified,
        max_age: Duration,
    ) -> Result<(), VerifyError> {
        if self.now() - verified.auth_time() <= max_age {
            Ok(())
        } else {
            Err(VerifyError::Unauthorized(Rejection::AuthTooOld))
        }
    }
}

/// Converts a record into what applications see of it.
impl From<SessionRecord> for SessionInfo {
    fn from(r: SessionRecord) -> Self {
        Self {
            handle: r.handle,
            user_id: r.user_id,
            created_at: r.created_at,
            auth_time: r.auth_time,
            refresh_expires_at: r.refresh_expires_at,
            session_expires_at: r.absolute_expires_at,
            generation: r.generation,
            last_refreshed_at: r.rotated_at,
            access_claims: r.access_claims,
            session_data: r.session_data,
        }
    }
}
