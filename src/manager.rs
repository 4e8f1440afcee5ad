//! The session manager: create, verify, refresh, revoke.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroize as _;

use crate::access_token::{
    self, AccessToken, Claims, Expiry, RESERVED_CLAIMS, Validation, Verified,
};
use crate::clock::{Clock, SystemClock, whole_seconds};
use crate::config::{Config, TheftPolicy};
use crate::error::{ConfigError, RefreshError, Rejection, SessionError, StoreError, VerifyError};
use crate::events::{EventHook, RevokeReason, SessionEvent};
use crate::jwks::{Jwks, MAX_JWKS_KEYS};
use crate::keys::{KeySet, SigningKey};
use crate::random;
use crate::refresh_token::{Presented, RefreshKey, RefreshKeys, RefreshSecret, RefreshToken};
use crate::rotation::{self, Decision, PresentedToken};
use crate::store::{
    RotateOutcome, Rotation, RotationNonce, SessionHandle, SessionRecord, SessionStore,
};

/// Longest user id accepted, in bytes.
const MAX_USER_ID_LEN: usize = 256;

/// How many times a refresh re-reads the record after losing a
/// compare-and-swap before giving up. Each loss means another request
/// rotated the session, after which the decision is grace or theft and
/// needs no write: more than two rounds means the store misbehaves.
const MAX_CAS_ROUNDS: usize = 8;

macro_rules! log_warn {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::warn!($($arg)*);
    };
}

macro_rules! log_debug {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        tracing::debug!($($arg)*);
    };
}

/// Creates, verifies, refreshes and revokes sessions over a
/// [`SessionStore`].
///
/// Cloning is cheap (one `Arc`); share one manager across request handlers.
pub struct SessionManager<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    store: S,
    signing_key: SigningKey,
    keys: KeySet,
    refresh_keys: RefreshKeys,
    config: Config,
    validation: Validation,
    clock: Box<dyn Clock>,
    hook: Option<Box<dyn EventHook>>,
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

impl SessionInfo {
    fn from_record(r: SessionRecord) -> Self {
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
    /// Starts building a manager over `store`.
    pub fn builder(store: S) -> SessionManagerBuilder<S> {
        SessionManagerBuilder {
            store,
            signing_key: None,
            upcoming_signing_keys: Vec::new(),
            retired_signing_keys: Vec::new(),
            refresh_key: None,
            retired_refresh_keys: Vec::new(),
            config: Config::default(),
            clock: Box::new(SystemClock),
            hook: None,
        }
    }

    /// The store, for maintenance such as [`SessionStore::purge_expired`].
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    fn now(&self) -> OffsetDateTime {
        whole_seconds(self.inner.clock.now())
    }

    fn emit(&self, event: SessionEvent) {
        if let Some(hook) = &self.inner.hook {
            hook.on_event(&event);
        }
    }

    /// Creates a session for `user_id` and returns its first tokens.
    ///
    /// `access_claims` must be a JSON object (or `null` for none); it is
    /// carried by every access token of the session and must not use a
    /// [reserved claim name](crate::RESERVED_CLAIMS). `session_data` stays
    /// on the server.
    ///
    /// # Errors
    /// [`SessionError::InvalidUserId`] for an empty user id or one over 256
    /// bytes; [`SessionError::InvalidClaims`]; [`SessionError::Store`] if the
    /// record could not be written (no session exists then).
    pub async fn create(
        &self,
        user_id: &str,
        access_claims: Value,
        session_data: Value,
    ) -> Result<SessionTokens, SessionError> {
        let now = self.now();
        self.create_at(
            user_id,
            claims_object(access_claims)?,
            session_data,
            now,
            now,
        )
        .await
    }

    async fn create_at(
        &self,
        user_id: &str,
        access_claims: Map<String, Value>,
        session_data: Value,
        now: OffsetDateTime,
        auth_time: OffsetDateTime,
    ) -> Result<SessionTokens, SessionError> {
        if user_id.is_empty() || user_id.len() > MAX_USER_ID_LEN {
            return Err(SessionError::InvalidUserId);
        }
        let cfg = &self.inner.config;
        let absolute = now.saturating_add(cfg.absolute_ttl);
        let (handle, secret, nonce) = new_session_randomness()?;
        let mut record = SessionRecord {
            handle,
            user_id: user_id.to_owned(),
            created_at: now,
            auth_time,
            absolute_expires_at: absolute,
            refresh_expires_at: now.saturating_add(cfg.refresh_idle_ttl).min(absolute),
            generation: 0,
            current_hash: secret.hash(),
            prev_hash: None,
            rotated_at: None,
            nonce,
            access_claims,
            session_data,
            version: 1,
        };
        // A handle collision needs 2^64 sessions; retry once rather than
        // reason about it.
        match self.insert_new(&record).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => {
                record.handle = new_handle()?;
                self.insert_new(&record).await?;
            }
            Err(e) => return Err(e.into()),
        }
        log_debug!(session = %record.handle, "session created");
        Ok(self.issue(&record, &secret, now))
    }

    /// Inserts a record under a fresh handle. When the insert fails, it may
    /// still have been applied with its answer lost (SEC-24): the record is
    /// then deleted, best effort, so that a failed create leaves no session
    /// behind (nobody would hold its token, but it would show in
    /// [`sessions_for_user`](Self::sessions_for_user) until it expired).
    /// The handle is fresh random, so nothing else lives under it.
    async fn insert_new(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let store = &self.inner.store;
        match store.insert(record).await {
            Ok(()) => Ok(()),
            Err(StoreError::AlreadyExists) => Err(StoreError::AlreadyExists),
            Err(e) => {
                let _ = store.delete(&record.handle).await;
                Err(e)
            }
        }
    }

    /// Mints the tokens for the record's current generation.
    fn issue(
        &self,
        record: &SessionRecord,
        secret: &RefreshSecret,
        now: OffsetDateTime,
    ) -> SessionTokens {
        let inner = &self.inner;
        let cfg = &inner.config;
        // No access token outlives its session (SEC-22).
        let access_expires_at = now
            .saturating_add(cfg.access_ttl)
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
    /// # Errors
    /// [`VerifyError::TryRefresh`] when the token is genuine and valid but
    /// expired; [`VerifyError::Unauthorized`] for anything else.
    pub fn verify(&self, access_token: &str) -> Result<Verified, VerifyError> {
        let inner = &self.inner;
        access_token::verify(
            &inner.keys,
            access_token,
            self.now(),
            &inner.validation,
            Expiry::Enforce,
        )
    }

    /// Verifies an access token that may have expired, to find out which
    /// session it belongs to (for example to log it out).
    ///
    /// # Security
    /// Never use this to authorize anything: an expired token proves
    /// nothing about the present. Every other check still applies.
    ///
    /// # Errors
    /// [`VerifyError::Unauthorized`] for anything but expiry.
    pub fn verify_ignoring_expiry(&self, access_token: &str) -> Result<Verified, VerifyError> {
        let inner = &self.inner;
        access_token::verify(
            &inner.keys,
            access_token,
            self.now(),
            &inner.validation,
            Expiry::Ignore,
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
        if record.user_id != verified.user_id() {
            return Err(VerifyError::Unauthorized(Rejection::SessionNotFound));
        }
        let g = verified.generation();
        if g != record.generation && Some(g) != record.generation.checked_sub(1) {
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

    /// Exchanges a refresh token for new tokens, rotating it.
    ///
    /// The presented token is retired. Presenting it again is only
    /// accepted inside the grace window, where it returns the very same
    /// successor; after that, or for any older token, it is treated as
    /// theft and the session is revoked.
    ///
    /// The common case, a current token, is one store call:
    /// [`SessionStore::rotate_if_current`] (one round trip for a store that
    /// implements it). Otherwise the record that call found decides the
    /// answer (grace, theft, expiry), exactly as a loaded one would.
    ///
    /// # Errors
    /// [`RefreshError::Unauthorized`] for an invalid, forged, expired or
    /// unknown token (nothing is revoked);
    /// [`RefreshError::TokenTheftDetected`] for a reused token (the session
    /// has been revoked); [`RefreshError::Store`] if the store failed
    /// (SEC-24). Then either nothing was written and the presented token
    /// still works, or the rotation was written but could not be confirmed
    /// (the store failed again when read back): a retry with the presented
    /// token inside the grace window then receives the persisted successor.
    /// With a grace window of 0 such a retry is treated as reuse, which is
    /// why the default window is not 0.
    pub async fn refresh(&self, refresh_token: &str) -> Result<SessionTokens, RefreshError> {
        let inner = &self.inner;
        let presented = inner
            .refresh_keys
            .open(refresh_token, inner.config.max_token_len)
            .map_err(RefreshError::Unauthorized)?;
        // Row 4 first, as one conditional write: in the common case the
        // refresh costs one store call. When it does not apply, the record
        // it found goes through the full decision below, as a loaded one
        // would.
        let mut found = match self.rotate_if_current(&presented).await? {
            FirstAttempt::Issued(tokens) => return Ok(tokens),
            FirstAttempt::Found(record, now) => Some((record, now)),
            FirstAttempt::Skipped => None,
        };
        for _ in 0..MAX_CAS_ROUNDS {
            let (record, now) = match found.take() {
                Some(found) => found,
                None => {
                    let now = self.now();
                    (inner.store.load(&presented.handle).await?, now)
                }
            };
            let record = record.filter(|r| r.handle == presented.handle);
            let token = PresentedToken {
                generation: presented.generation,
                hash: &presented.hash,
            };
            match rotation::decide(record.as_ref(), token, now, inner.config.grace) {
                Decision::NotFound => {
                    return Err(RefreshError::Unauthorized(Rejection::SessionNotFound));
                }
                Decision::Expired => {
                    // Cleaning up is a courtesy; the answer does not depend on it.
                    let _ = inner.store.delete(&presented.handle).await;
                    return Err(RefreshError::Unauthorized(Rejection::Expired));
                }
                Decision::FutureGeneration => {
                    log_warn!(session = %presented.handle, "refresh token from a generation the store never reached");
                    return Err(RefreshError::Unauthorized(Rejection::FutureGeneration));
                }
                Decision::Grace => {
                    let Some(record) = record else { break };
                    return self.grace(&presented, &record, now);
                }
                Decision::Theft => {
                    let Some(record) = record else { break };
                    return Err(self.theft(&presented, &record).await);
                }
                // After a race, or from a store that answered with a
                // snapshot taken before a concurrent rotation: one
                // compare-and-swap on what was read.
                Decision::Rotate => {
                    let Some(record) = record else { break };
                    if let Some(tokens) = self.rotate(&presented, &record, now).await? {
                        return Ok(tokens);
                    }
                    log_debug!(session = %presented.handle, "lost a rotation race, re-reading");
                }
            }
        }
        Err(RefreshError::Store(StoreError::backend(
            "compare-and-swap kept failing: the store does not keep its contract",
        )))
    }

    /// Row 4 in one store call: [`SessionStore::rotate_if_current`] with
    /// the presented generation and hash as the expectation.
    async fn rotate_if_current(&self, presented: &Presented) -> Result<FirstAttempt, RefreshError> {
        let inner = &self.inner;
        let now = self.now();
        // Without a nonce (the OS generator failed) or a successor (a
        // generation at the end of its range) there is nothing to try: the
        // decision then answers exactly as it would have.
        let Ok(nonce) = new_nonce() else {
            return Ok(FirstAttempt::Skipped);
        };
        let Some(secret) = inner.refresh_keys.successor(presented, &nonce) else {
            return Ok(FirstAttempt::Skipped);
        };
        let rotation = Rotation::new(
            presented.handle,
            presented.generation,
            presented.hash,
            secret.hash(),
            nonce,
            now,
            inner.config.refresh_idle_ttl,
        );
        let failure = match inner.store.rotate_if_current(&rotation).await {
            Ok(RotateOutcome::Unchanged(record)) => return Ok(FirstAttempt::Found(record, now)),
            Ok(RotateOutcome::Rotated(next)) if is_rotation_of(&next, &rotation) => {
                log_debug!(session = %next.handle, generation = next.generation, "refresh token rotated");
                return Ok(FirstAttempt::Issued(self.issue(&next, &secret, now)));
            }
            // Never issue from a record that is not the one asked for.
            Ok(RotateOutcome::Rotated(_)) => {
                StoreError::backend("the store reported a rotation other than the one requested")
            }
            Err(e) => e,
        };
        // The rotation may have been applied with its answer lost. Handing
        // the client an error would leave it holding a retired token, which
        // a retry after the grace window (or any retry with grace 0) would
        // present as theft. Read back to find out.
        match inner.store.load(&presented.handle).await {
            Ok(Some(next)) if is_rotation_of(&next, &rotation) => {
                log_debug!(session = %next.handle, generation = next.generation, "refresh token rotated");
                Ok(FirstAttempt::Issued(self.issue(&next, &secret, now)))
            }
            _ => Err(failure.into()),
        }
    }

    /// Row 4: one compare-and-swap. `None` when another request won it.
    async fn rotate(
        &self,
        presented: &Presented,
        record: &SessionRecord,
        now: OffsetDateTime,
    ) -> Result<Option<SessionTokens>, RefreshError> {
        let inner = &self.inner;
        let nonce = new_nonce()?;
        let secret = inner
            .refresh_keys
            .successor(presented, &nonce)
            .ok_or(RefreshError::Unauthorized(Rejection::Malformed))?;
        let next = rotation::rotated(
            record,
            now,
            inner.config.refresh_idle_ttl,
            secret.hash(),
            nonce,
        )
        .ok_or(RefreshError::Unauthorized(Rejection::Malformed))?;
        match inner.store.compare_and_swap(record.version, &next).await {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            // The write may have been applied with its answer lost. Handing
            // the client an error would leave it holding a retired token,
            // which a retry after the grace window (or any retry with grace
            // 0) would present as theft. Read back to find out.
            Err(e) => {
                let applied = matches!(
                    inner.store.load(&next.handle).await,
                    Ok(Some(r)) if r.version == next.version && r.current_hash.ct_eq(&next.current_hash)
                );
                if !applied {
                    return Err(e.into());
                }
            }
        }
        log_debug!(session = %next.handle, generation = next.generation, "refresh token rotated");
        Ok(Some(self.issue(&next, &secret, now)))
    }

    /// Row 5: re-derive the successor that the first request received.
    fn grace(
        &self,
        presented: &Presented,
        record: &SessionRecord,
        now: OffsetDateTime,
    ) -> Result<SessionTokens, RefreshError> {
        let secret = self
            .inner
            .refresh_keys
            .successor(presented, &record.nonce)
            .ok_or(RefreshError::Unauthorized(Rejection::StaleGeneration))?;
        // The current hash was made from exactly this derivation; if it does
        // not match, the lineage was not ours to continue.
        if !secret.hash().ct_eq(&record.current_hash) {
            return Err(RefreshError::Unauthorized(Rejection::StaleGeneration));
        }
        log_debug!(session = %record.handle, "refresh retried inside the grace window");
        Ok(self.issue(record, &secret, now))
    }

    /// Row 7: revoke per policy and report.
    async fn theft(&self, presented: &Presented, record: &SessionRecord) -> RefreshError {
        log_warn!(
            session = %record.handle,
            presented_generation = presented.generation,
            current_generation = record.generation,
            "refresh token reuse detected, revoking"
        );
        let store = &self.inner.store;
        let revoked = match self.inner.config.theft_policy {
            TheftPolicy::RevokeSession => store.delete(&record.handle).await.map(|_| ()),
            TheftPolicy::RevokeAllForUser => store
                .delete_by_user(&record.user_id, None)
                .await
                .map(|_| ()),
        };
        if let Err(e) = revoked {
            // The delete may have happened with its answer lost: if the
            // session is gone, the revocation took effect.
            if !matches!(store.load(&record.handle).await, Ok(None)) {
                // Still there: the next presentation of the stolen token
                // tries again.
                return RefreshError::Store(e);
            }
        }
        self.emit(SessionEvent::TheftDetected {
            handle: record.handle,
            user_id: record.user_id.clone(),
            presented_generation: presented.generation,
            current_generation: record.generation,
        });
        self.emit(SessionEvent::Revoked {
            handle: record.handle,
            reason: RevokeReason::Theft,
        });
        RefreshError::TokenTheftDetected {
            handle: record.handle,
            user_id: record.user_id.clone(),
        }
    }

    /// Revokes one session (logout). Returns whether it existed.
    ///
    /// Its refresh token stops working at once, and so do its access tokens
    /// under [`verify_strict`](Self::verify_strict).
    ///
    /// # Errors
    /// [`SessionError::Store`].
    pub async fn revoke(&self, handle: &SessionHandle) -> Result<bool, SessionError> {
        let existed = self.inner.store.delete(handle).await?;
        if existed {
            log_debug!(session = %handle, "session revoked");
            self.emit(SessionEvent::Revoked {
                handle: *handle,
                reason: RevokeReason::Requested,
            });
        }
        Ok(existed)
    }

    /// Revokes every session of a user, except `keep` (for "log out other
    /// devices"). Returns how many were revoked.
    ///
    /// # Errors
    /// [`SessionError::Store`]; some sessions may then have been revoked,
    /// and calling again finishes the job.
    pub async fn revoke_all_for_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, SessionError> {
        Ok(self.inner.store.delete_by_user(user_id, keep).await?)
    }

    /// The user's live sessions, oldest first.
    ///
    /// # Errors
    /// [`SessionError::Store`].
    pub async fn sessions_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, SessionError> {
        let now = self.now();
        let mut records = self.inner.store.list_by_user(user_id).await?;
        records.retain(|r| !r.is_expired(now) && r.user_id == user_id);
        records.sort_by_key(|r| (r.created_at, r.handle));
        Ok(records.into_iter().map(SessionInfo::from_record).collect())
    }

    /// One live session, `None` if it does not exist or has expired.
    ///
    /// # Errors
    /// [`SessionError::Store`].
    pub async fn session(
        &self,
        handle: &SessionHandle,
    ) -> Result<Option<SessionInfo>, SessionError> {
        let now = self.now();
        Ok(self
            .inner
            .store
            .load(handle)
            .await?
            .filter(|r| !r.is_expired(now))
            .map(SessionInfo::from_record))
    }

    /// Replaces the server-only data of a session.
    ///
    /// # Errors
    /// [`SessionError::NotFound`]; [`SessionError::Store`] (the data is then
    /// unchanged, or the store rejected it with [`StoreError::InvalidData`]).
    pub async fn update_session_data(
        &self,
        handle: &SessionHandle,
        data: Value,
    ) -> Result<(), SessionError> {
        self.update(handle, |r| r.session_data = data.clone()).await
    }

    /// Replaces the custom claims of a session. Tokens already issued keep
    /// the old claims; the next access token (after the next refresh)
    /// carries the new ones. For a privilege change, use
    /// [`reissue`](Self::reissue) instead.
    ///
    /// # Errors
    /// [`SessionError::InvalidClaims`], [`SessionError::NotFound`],
    /// [`SessionError::Store`].
    pub async fn update_access_claims(
        &self,
        handle: &SessionHandle,
        claims: Value,
    ) -> Result<(), SessionError> {
        let claims = claims_object(claims)?;
        self.update(handle, |r| r.access_claims = claims.clone())
            .await
    }

    async fn update(
        &self,
        handle: &SessionHandle,
        change: impl Fn(&mut SessionRecord),
    ) -> Result<(), SessionError> {
        let store = &self.inner.store;
        for _ in 0..MAX_CAS_ROUNDS {
            let now = self.now();
            let Some(mut record) = store.load(handle).await?.filter(|r| !r.is_expired(now)) else {
                return Err(SessionError::NotFound);
            };
            let expected = record.version;
            change(&mut record);
            record.version = expected.checked_add(1).ok_or(SessionError::NotFound)?;
            if store.compare_and_swap(expected, &record).await? {
                return Ok(());
            }
        }
        Err(SessionError::Store(StoreError::backend(
            "compare-and-swap kept failing: the store does not keep its contract",
        )))
    }

    /// Replaces a session with a new one for the same user (new handle, new
    /// refresh lineage, `auth_time` now, fresh lifetimes), carrying its
    /// session data, and revokes the old one (SEC-08). Call it when
    /// privileges change, for example after the user re-authenticates or
    /// is granted a role.
    ///
    /// `access_claims` replaces the old claims when given.
    ///
    /// # Errors
    /// [`SessionError::NotFound`] if the old session is not live;
    /// [`SessionError::InvalidClaims`]; [`SessionError::Store`], in which
    /// case no new session exists and the old one is either still valid or
    /// revoked (if the failed delete had in fact been applied).
    pub async fn reissue(
        &self,
        old: &SessionHandle,
        access_claims: Option<Value>,
    ) -> Result<SessionTokens, SessionError> {
        let now = self.now();
        let store = &self.inner.store;
        let record = store
            .load(old)
            .await?
            .filter(|r| !r.is_expired(now))
            .ok_or(SessionError::NotFound)?;
        let claims = match access_claims {
            Some(c) => claims_object(c)?,
            None => record.access_claims.clone(),
        };
        let tokens = self
            .create_at(
                &record.user_id,
                claims,
                record.session_data.clone(),
                now,
                now,
            )
            .await?;
        match store.delete(old).await {
            Ok(true) => {}
            // Revoked meanwhile (logout, theft): the family must not go on
            // under a new handle.
            Ok(false) => {
                let _ = store.delete(&tokens.handle).await;
                return Err(SessionError::NotFound);
            }
            // Never hand out a second session while the first may survive.
            Err(e) => {
                let _ = store.delete(&tokens.handle).await;
                return Err(e.into());
            }
        }
        self.emit(SessionEvent::Revoked {
            handle: *old,
            reason: RevokeReason::Reissued,
        });
        Ok(tokens)
    }
}

/// What the one-call attempt at row 4 came to.
enum FirstAttempt {
    /// Rotated: the tokens of the new generation.
    Issued(SessionTokens),
    /// Not rotated: the record as the store found it, and the time the
    /// attempt was made at, for the decision.
    Found(Option<SessionRecord>, OffsetDateTime),
    /// Not attempted.
    Skipped,
}

/// Whether `record` is the result of `rotation`: the session it names, at
/// the next generation, holding the new hash (which only this request
/// knows).
fn is_rotation_of(record: &SessionRecord, rotation: &Rotation) -> bool {
    record.handle == rotation.handle
        && Some(record.generation) == rotation.new_generation()
        && record.current_hash.ct_eq(&rotation.new_hash)
}

fn new_handle() -> Result<SessionHandle, crate::error::RandomError> {
    let mut b = [0u8; SessionHandle::LEN];
    random::fill(&mut b)?;
    Ok(SessionHandle::from_bytes(b))
}

/// A new session's handle, first refresh secret and nonce, from one call to
/// the operating system's generator (each call is a system call).
fn new_session_randomness()
-> Result<(SessionHandle, RefreshSecret, RotationNonce), crate::error::RandomError> {
    const SECRET_LEN: usize = 32;
    let mut buf = [0u8; SessionHandle::LEN + SECRET_LEN + 32];
    random::fill(&mut buf)?;
    let mut handle = [0u8; SessionHandle::LEN];
    let mut secret = [0u8; SECRET_LEN];
    let mut nonce = [0u8; 32];
    let (h, rest) = buf.split_at(SessionHandle::LEN);
    let (s, n) = rest.split_at(SECRET_LEN);
    handle.copy_from_slice(h);
    secret.copy_from_slice(s);
    nonce.copy_from_slice(n);
    buf.zeroize();
    Ok((
        SessionHandle::from_bytes(handle),
        RefreshSecret::from_bytes(secret),
        RotationNonce::from_bytes(nonce),
    ))
}

fn new_nonce() -> Result<RotationNonce, crate::error::RandomError> {
    let mut b = [0u8; 32];
    random::fill(&mut b)?;
    Ok(RotationNonce::from_bytes(b))
}

/// Accepts a JSON object (or null) of custom claims without reserved names.
fn claims_object(value: Value) -> Result<Map<String, Value>, SessionError> {
    let map = match value {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        _ => {
            return Err(SessionError::InvalidClaims(
                "access claims must be a JSON object".into(),
            ));
        }
    };
    if let Some(name) = map.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
        return Err(SessionError::InvalidClaims(format!(
            "claim name {name:?} is reserved"
        )));
    }
    Ok(map)
}

/// Builds a [`SessionManager`]. Every setting has a secure default except
/// the keys, which must be given.
///
/// ```
/// # fn main() -> Result<(), sessionkit::ConfigError> {
/// use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
/// use time::Duration;
///
/// let manager = SessionManager::builder(MemoryStore::new())
///     .signing_key(SigningKey::hs256("k1", &[7u8; 32])?)
///     .refresh_key(RefreshKey::new(1, &[8u8; 32])?)
///     .access_ttl(Duration::minutes(5))
///     .build()?;
/// # let _ = manager;
/// # Ok(())
/// # }
/// ```
pub struct SessionManagerBuilder<S> {
    store: S,
    signing_key: Option<SigningKey>,
    upcoming_signing_keys: Vec<SigningKey>,
    retired_signing_keys: Vec<(SigningKey, OffsetDateTime)>,
    refresh_key: Option<RefreshKey>,
    retired_refresh_keys: Vec<RefreshKey>,
    config: Config,
    clock: Box<dyn Clock>,
    hook: Option<Box<dyn EventHook>>,
}

impl<S> fmt::Debug for SessionManagerBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManagerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore> SessionManagerBuilder<S> {
    /// The key that signs access tokens (required).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// A key published ahead of its use: it appears in [`SessionManager::jwks`]
    /// and verifies tokens, but signs nothing. Announce the next key this way
    /// one cache lifetime before it becomes the signing key, so that every
    /// service that caches the JWKS knows it before the first token it signs
    /// arrives.
    pub fn upcoming_signing_key(mut self, key: SigningKey) -> Self {
        self.upcoming_signing_keys.push(key);
        self
    }

    /// A former signing key, retired at `retired_at`. It keeps verifying
    /// tokens for the access lifetime plus the leeway after that, so that
    /// no token it signed is rejected early (SEC-34), then stops.
    pub fn retired_signing_key(mut self, key: SigningKey, retired_at: OffsetDateTime) -> Self {
        self.retired_signing_keys.push((key, retired_at));
        self
    }

    /// The key that seals refresh tokens (required).
    pub fn refresh_key(mut self, key: RefreshKey) -> Self {
        self.refresh_key = Some(key);
        self
    }

    /// A former refresh key. Tokens it sealed keep refreshing (their
    /// successors are sealed with the current key). Keep it configured for
    /// the absolute session lifetime.
    pub fn retired_refresh_key(mut self, key: RefreshKey) -> Self {
        self.retired_refresh_keys.push(key);
        self
    }

    /// Access-token lifetime, default [10 minutes](crate::config::DEFAULT_ACCESS_TTL).
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.config.access_ttl = ttl;
        self
    }

    /// Refresh idle lifetime, sliding, default [7 days](crate::config::DEFAULT_REFRESH_IDLE_TTL).
    pub fn refresh_idle_ttl(mut self, ttl: Duration) -> Self {
        self.config.refresh_idle_ttl = ttl;
        self
    }

    /// Absolute session lifetime, default [30 days](crate::config::DEFAULT_ABSOLUTE_TTL).
    pub fn absolute_ttl(mut self, ttl: Duration) -> Self {
        self.config.absolute_ttl = ttl;
        self
    }

    /// Grace window for reusing the previous refresh token, default
    /// [10 seconds](crate::config::DEFAULT_GRACE), 0 to 60 seconds; 0
    /// disables it.
    ///
    /// # Security
    /// During the window a copied token obtains the same successor as its
    /// owner; the next rotation by either side then exposes the other.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.config.grace = grace;
        self
    }

    /// Clock-skew leeway for JWT time claims, default
    /// [30 seconds](crate::config::DEFAULT_LEEWAY), at most 300 seconds.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.config.leeway = leeway;
        self
    }

    /// The `iss` claim to issue and require.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuer = Some(issuer.into());
        self
    }

    /// The `aud` claim to issue and require.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.config.audience = Some(audience.into());
        self
    }

    /// What to revoke on refresh-token reuse, default the session.
    pub fn theft_policy(mut self, policy: TheftPolicy) -> Self {
        self.config.theft_policy = policy;
        self
    }

    /// Longest token accepted, default [4096 bytes](crate::config::DEFAULT_MAX_TOKEN_LEN).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.config.max_token_len = bytes;
        self
    }

    /// The clock, default the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// A hook told of theft and revocations.
    pub fn event_hook(mut self, hook: impl EventHook) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }

    /// Validates the settings and builds the manager.
    ///
    /// # Errors
    /// [`ConfigError::MissingKey`] without a signing or refresh key;
    /// [`ConfigError::DuplicateKeyId`]; [`ConfigError::InvalidSetting`] for
    /// a lifetime that is not a positive whole number of seconds, a grace
    /// window over 60 s or a leeway over 300 s.
    pub fn build(self) -> Result<SessionManager<S>, ConfigError> {
        let config = self.config;
        config.validate()?;
        let signing_key = self
            .signing_key
            .ok_or(ConfigError::MissingKey("signing key"))?;
        let refresh_key = self
            .refresh_key
            .ok_or(ConfigError::MissingKey("refresh key"))?;
        let verify_window = config.access_ttl.saturating_add(config.leeway);
        let retired = self
            .retired_signing_keys
            .into_iter()
            .map(|(k, at)| (k, at.saturating_add(verify_window)))
            .collect();
        let keys = KeySet::for_issuer(signing_key.clone(), self.upcoming_signing_keys, retired)?;
        let refresh_keys = RefreshKeys::new(refresh_key, self.retired_refresh_keys)?;
        let validation = Validation {
            leeway: config.leeway.whole_seconds(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            max_len: config.max_token_len,
        };
        Ok(SessionManager {
            inner: Arc::new(Inner {
                store: self.store,
                signing_key,
                keys,
                refresh_keys,
                config,
                validation,
                clock: self.clock,
                hook: self.hook,
            }),
        })
    }
}
