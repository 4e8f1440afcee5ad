//! [`SessionManagerBuilder`]: the keys, lifetimes and policies of a
//! manager, checked once in [`build`](SessionManagerBuilder::build).

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::state::{Inner, SessionManager};
use crate::access_token::Validation;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, TheftPolicy};
use crate::error::ConfigError;
use crate::events::EventHook;
use crate::keys::{KeySet, SigningKey};
use crate::refresh_token::{RefreshKey, RefreshKeys};
use crate::store::SessionStore;
use crate::verify_cache;

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
    cache_capacity: usize,
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

impl<S: SessionStore> SessionManager<S> {
    /// Starts building a manager over `store`.
    pub fn builder(store: S) -> SessionManagerBuilder<S> {
        SessionManagerBuilder::new(store)
    }
}

impl<S: SessionStore> SessionManagerBuilder<S> {
    fn new(store: S) -> Self {
        Self {
            store,
            signing_key: None,
            upcoming_signing_keys: Vec::new(),
            retired_signing_keys: Vec::new(),
            refresh_key: None,
            retired_refresh_keys: Vec::new(),
            config: Config::default(),
            cache_capacity: 0,
            clock: Box::new(SystemClock),
            hook: None,
        }
    }

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
    /// no token it signed is rejected early (SEC-34). After that window it
    /// makes no token valid, but still recognises the expired tokens it
    /// signed: they answer [`TryRefresh`](crate::VerifyError::TryRefresh)
    /// and can log their session out (SEC-44). Keep it configured for the
    /// refresh idle lifetime, so that a client that was away refreshes
    /// instead of being sent to the login form.
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

    /// The most sessions one user may hold, default
    /// [100](crate::config::DEFAULT_MAX_SESSIONS_PER_USER); 0 for no limit.
    /// Creating one more revokes the user's oldest session (by creation
    /// time), reported to the event hook as
    /// [`RevokeReason::SessionLimit`](crate::RevokeReason::SessionLimit).
    ///
    /// # Security
    /// With no limit, every login adds a session for good (until it
    /// expires), and the store's work per user (listing sessions, logging
    /// out everywhere) grows without bound.
    pub fn max_sessions_per_user(mut self, max: usize) -> Self {
        self.config.max_sessions_per_user = max;
        self
    }

    /// Keeps up to `capacity` verified access tokens, so that a token sent
    /// again (clients send the same one with every request for its whole
    /// lifetime) is answered without the signature check; 0 (the default)
    /// for none.
    ///
    /// Off by default: for HS256 a verification costs about a microsecond,
    /// which the cache saves but which no request notices, at the price of
    /// memory (about 1 KB a token) holding tokens beyond their request. Turn
    /// it on where verification dominates, typically EdDSA (about 45 µs a
    /// verification) in a busy service. A hit gives exactly the answer a
    /// full verification would: the whole token must match (compared in
    /// constant time), and its expiry and its key's trust are checked
    /// again; see BENCHMARKS.md for the figures.
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
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
                cache: verify_cache::optional(self.cache_capacity),
                clock: self.clock,
                hook: self.hook,
            }),
        })
    }
}
