//! Verification for services that do not issue tokens: public keys from a
//! JWKS, no store, no secret.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use time::{Duration, OffsetDateTime};

use crate::access_token::{Validation, Verified};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, DEFAULT_REFRESH_IDLE_TTL};
use crate::error::{ConfigError, Rejection, VerifyError};
use crate::jwks::{
    DEFAULT_MAX_KEY_AGE, DEFAULT_MIN_FETCH_INTERVAL, Jwks, JwksSource, MAX_JWKS_KEYS,
};
use crate::keys::{KeySet, VerifyingKey};
use crate::log::log_warn;
use crate::verify_cache::{self, VerifyCache};

/// Verifies access tokens with public keys only: for services that accept
/// tokens an auth service issued and hold neither its store nor any secret.
///
/// It runs the same checks as [`SessionManager::verify`](crate::SessionManager::verify),
/// without I/O. Cloning is cheap (one `Arc`).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use sessionkit::jwks::Jwks;
/// use sessionkit::Verifier;
///
/// # let jwks_json = r#"{"keys":[]}"#;
/// let verifier = Verifier::builder()
///     .jwks(Jwks::from_json(jwks_json)?) // as published by the auth service
///     .issuer("https://auth.example")
///     .build()?;
/// assert!(verifier.verify("not.a.token").is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    keys: RwLock<Arc<KeySet>>,
    validation: Validation,
    cache: Option<VerifyCache>,
    clock: Box<dyn Clock>,
    source: Option<Box<dyn JwksSource>>,
    min_fetch_interval: Duration,
    /// How long a key the JWKS no longer lists still recognises the expired
    /// tokens it signed.
    removed_key_retention: Duration,
    /// How old the keys may get before a verification fetches them again.
    max_key_age: Duration,
    /// When the keys in use were loaded, in Unix seconds (read on every
    /// verification, so an atomic rather than a lock).
    loaded_at: AtomicI64,
    /// When the last fetch started, successful or not.
    last_fetch: Mutex<Option<OffsetDateTime>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.key_set())
            .field("validation", &self.inner.validation)
            .field("fetches_keys", &self.inner.source.is_some())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Starts building a verifier.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder {
            jwks: None,
            config: Config::default(),
            clock: Box::new(SystemClock),
            source: None,
            min_fetch_interval: DEFAULT_MIN_FETCH_INTERVAL,
            removed_key_retention: DEFAULT_REFRESH_IDLE_TTL,
            max_key_age: DEFAULT_MAX_KEY_AGE,
            cache_capacity: 0,
        }
    }

    /// Verifies an access token with the keys loaded so far.
    ///
    /// # Errors
    /// [`VerifyError::TryRefresh`] when the token is genuine and valid but
    /// expired, also when its key has since left the JWKS (see
    /// [`VerifierBuilder::removed_key_retention`]); [`VerifyError::Unauthorized`]
    /// for anything else, with [`Rejection::UnknownKey`] for a kid not in
    /// the key set (HS256 tokens included: a verifier holds no HMAC secret)
    /// and for a token still valid whose key has left the JWKS.
    pub fn verify(&self, access_token: &str) -> Result<Verified, VerifyError> {
        self.verify_at(access_token, self.inner.clock.now())
    }

    fn verify_at(&self, access_token: &str, now: OffsetDateTime) -> Result<Verified, VerifyError> {
        let keys = self.key_set();
        verify_cache::verify(
            self.inner.cache.as_ref(),
            &keys,
            access_token,
            now,
            &self.inner.validation,
        )
    }

    /// As [`verify`](Self::verify), but fetches the JWKS again from the
    /// [`JwksSource`] when it is needed: when a token is signed with an
    /// unknown key (then the token is verified again), which is how a key
    /// the issuer started using after the verifier loaded its keys becomes
    /// known; and when the keys are older than the
    /// [maximum key age](VerifierBuilder::max_key_age), which is how a key
    /// the issuer has dropped stops being trusted. The call that finds the
    /// keys too old fetches them before verifying (so the source should
    /// bound its own time, as an HTTP client's timeout does); if that
    /// fetch fails, it verifies with the keys at hand (with the `tracing`
    /// feature, a warning says so) and the next attempt comes a minimum
    /// fetch interval later. Either fetch uses the interval, so a new key
    /// may wait for it: issuers publish keys before signing with them.
    ///
    /// # Security
    /// Anyone can send tokens with made-up kids. Fetches are rate limited:
    /// at most one per minimum fetch interval (60 s by default), however
    /// many tokens arrive; the others are rejected with the keys at hand.
    ///
    /// # Errors
    /// As [`verify`](Self::verify); [`VerifyError::KeySource`] if a fetch
    /// for an unknown key failed or returned an unusable JWKS (the old keys
    /// stay in place).
    pub async fn verify_or_fetch_keys(&self, access_token: &str) -> Result<Verified, VerifyError> {
        let Some(source) = &self.inner.source else {
            return self.verify(access_token);
        };
        let now = self.inner.clock.now();
        if self.keys_are_old(now) && self.claim_fetch_slot() {
            // Availability first: a failed fetch leaves the keys at hand,
            // which verify below, and is tried again a minimum fetch
            // interval later.
            if let Err(_error) = self.fetch_keys(source.as_ref()).await {
                log_warn!(error = %_error, "JWKS fetch for keys past their maximum age failed; verifying with the keys at hand");
            }
        }
        match self.verify_at(access_token, now) {
            Err(VerifyError::Unauthorized(Rejection::UnknownKey)) => {}
            other => return other,
        }
        if !self.claim_fetch_slot() {
            return Err(VerifyError::Unauthorized(Rejection::UnknownKey));
        }
        self.fetch_keys(source.as_ref()).await?;
        self.verify(access_token)
    }

    /// Fetches the JWKS and makes its keys the ones in use.
    async fn fetch_keys(&self, source: &dyn JwksSource) -> Result<(), VerifyError> {
        let json = source.fetch().await.map_err(VerifyError::KeySource)?;
        let jwks = Jwks::from_json(&json).map_err(|err| VerifyError::KeySource(Box::new(err)))?;
        self.replace_keys(jwks.into_keys())
            .map_err(|err| VerifyError::KeySource(Box::new(err)))
    }

    fn mark_loaded(&self, now: OffsetDateTime) {
        self.inner
            .loaded_at
            .store(now.unix_timestamp(), Ordering::Relaxed);
    }

    /// Whether the keys in use were loaded longer ago than the maximum key
    /// age.
    fn keys_are_old(&self, now: OffsetDateTime) -> bool {
        let loaded_at = self.inner.loaded_at.load(Ordering::Relaxed);
        now.unix_timestamp() >= loaded_at.saturating_add(self.inner.max_key_age.whole_seconds())
    }

    /// Replaces the key set with the keys of `jwks`, for applications that
    /// fetch the JWKS on their own schedule. Keys `jwks` no longer lists
    /// keep recognising the expired tokens they signed for a while (see
    /// [`VerifierBuilder::removed_key_retention`]).
    ///
    /// # Errors
    /// [`ConfigError::DuplicateKeyId`] (which a parsed [`Jwks`] never has).
    pub fn set_jwks(&self, jwks: Jwks) -> Result<(), ConfigError> {
        self.replace_keys(jwks.into_keys())
    }

    /// Takes the right to fetch if the last fetch started at least the
    /// minimum interval ago.
    fn claim_fetch_slot(&self) -> bool {
        let now = self.inner.clock.now();
        let mut last = self
            .inner
            .last_fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = last.is_none_or(|at| now >= at.saturating_add(self.inner.min_fetch_interval));
        if due {
            *last = Some(now);
        }
        due
    }

    fn key_set(&self) -> Arc<KeySet> {
        // A poisoned lock still holds a whole key set: the swap below is a
        // single assignment.
        Arc::clone(
            &self
                .inner
                .keys
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Makes `fresh` the trusted keys. A key of the current set that
    /// `fresh` does not list (by kid) has been removed by the issuer, who
    /// removes a retired key once every token it signed has expired: it is
    /// kept, from the instant of its removal and for the retention period,
    /// as the signer of expired tokens only, which then ask for a refresh
    /// rather than a login (SEC-44); it never makes a token valid.
    fn replace_keys(&self, fresh: Vec<VerifyingKey>) -> Result<(), ConfigError> {
        let now = self.inner.clock.now();
        let retention = self.inner.removed_key_retention;
        let mut current = self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // The same keys again (the usual answer to a fetch on age): keep the
        // key set, and with it the cache of verified tokens.
        if current.same_current_keys(&fresh) {
            drop(current);
            self.mark_loaded(now);
            return Ok(());
        }
        let removed = current
            .verifying_keys()
            .filter(|(key, _)| fresh.iter().all(|k| k.kid() != key.kid()))
            .map(|(key, since)| (key.clone(), since.unwrap_or(now)))
            .filter(|(_, since)| now < since.saturating_add(retention))
            .take(MAX_JWKS_KEYS)
            .collect();
        *current = Arc::new(KeySet::verify_only_with_removed(fresh, removed, retention)?);
        drop(current);
        self.mark_loaded(now);
        // Entries name the key set that verified them and are never
        // answered under another; this only frees their memory.
        if let Some(cache) = &self.inner.cache {
            cache.clear();
        }
        Ok(())
    }
}

/// Configures a [`Verifier`].
pub struct VerifierBuilder {
    jwks: Option<Jwks>,
    config: Config,
    clock: Box<dyn Clock>,
    source: Option<Box<dyn JwksSource>>,
    min_fetch_interval: Duration,
    removed_key_retention: Duration,
    max_key_age: Duration,
    cache_capacity: usize,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("jwks", &self.jwks)
            .field("min_fetch_interval", &self.min_fetch_interval)
            .field("max_key_age", &self.max_key_age)
            .field("removed_key_retention", &self.removed_key_retention)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// The keys to verify with (required unless a [`source`](Self::source)
    /// is set, from which they are then fetched on first use).
    pub fn jwks(mut self, jwks: Jwks) -> Self {
        self.jwks = Some(jwks);
        self
    }

    /// The `iss` claim to require, as the issuer sets it.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.issuer = Some(issuer.into());
        self
    }

    /// The `aud` claim to require, as the issuer sets it.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.config.audience = Some(audience.into());
        self
    }

    /// Clock-skew leeway for JWT time claims, default
    /// [30 seconds](crate::config::DEFAULT_LEEWAY), at most 300 seconds.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.config.leeway = leeway;
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

    /// Where [`Verifier::verify_or_fetch_keys`] fetches the JWKS again when a
    /// token names an unknown key.
    pub fn source(mut self, source: impl JwksSource) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The shortest time between two fetches, default
    /// [60 seconds](DEFAULT_MIN_FETCH_INTERVAL).
    pub fn min_fetch_interval(mut self, interval: Duration) -> Self {
        self.min_fetch_interval = interval;
        self
    }

    /// How old the keys may get before [`Verifier::verify_or_fetch_keys`]
    /// fetches them again from the source, default
    /// [10 minutes](crate::jwks::DEFAULT_MAX_KEY_AGE). Without it, a
    /// verifier that knows every key in use would never fetch again, and
    /// would go on trusting a key the issuer has retired and dropped (for
    /// instance because it leaked). Zero fetches as often as the minimum
    /// fetch interval allows.
    pub fn max_key_age(mut self, age: Duration) -> Self {
        self.max_key_age = age;
        self
    }

    /// How long a key that a new JWKS (from the source or
    /// [`Verifier::set_jwks`]) no longer lists still recognises the
    /// expired tokens it signed, default
    /// [7 days](crate::config::DEFAULT_REFRESH_IDLE_TTL), the issuer's
    /// default refresh idle lifetime; zero forgets such keys at once.
    ///
    /// An issuer stops publishing a retired key once every token it signed
    /// has expired. A client that was away still holds such a token and a
    /// live refresh token: answered [`VerifyError::TryRefresh`] it
    /// refreshes, while "unauthorized" would send it to the login form.
    /// A removed key never makes a token valid: a token it signed that
    /// claims to be still valid is refused: whoever holds a key that was
    /// dropped because it leaked can make tokens that ask for a refresh,
    /// nothing more (zero forgets dropped keys at once). Match the
    /// issuer's refresh idle lifetime. The memory of removed keys is the
    /// verifier's own: a verifier built from a JWKS that already lacks a key
    /// does not know it.
    pub fn removed_key_retention(mut self, retention: Duration) -> Self {
        self.removed_key_retention = retention;
        self
    }

    /// Keeps up to `capacity` verified access tokens, so that a token seen
    /// before is answered without the signature check; 0 (the default) for
    /// none. Worth it for EdDSA tokens, whose verification costs about
    /// 45 µs: a cached answer costs about a tenth of a microsecond. See
    /// [`SessionManagerBuilder::verified_token_cache`](crate::SessionManagerBuilder::verified_token_cache)
    /// for the rules that keep a cached answer exact. A JWKS with other keys
    /// (from the source or [`Verifier::set_jwks`]) empties the cache; the
    /// same keys fetched again keep it.
    pub fn verified_token_cache(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Validates the settings and builds the verifier.
    ///
    /// # Errors
    /// [`ConfigError::MissingKey`] with neither keys nor a source;
    /// [`ConfigError::DuplicateKeyId`]; [`ConfigError::InvalidSetting`] for
    /// a leeway that is not 0 to 300 whole seconds, or a negative fetch
    /// interval, removed-key retention or maximum key age.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        self.config.validate()?;
        if self.min_fetch_interval < Duration::ZERO {
            return Err(ConfigError::InvalidSetting {
                name: "min_fetch_interval",
                reason: "must not be negative",
            });
        }
        if self.removed_key_retention < Duration::ZERO {
            return Err(ConfigError::InvalidSetting {
                name: "removed_key_retention",
                reason: "must not be negative",
            });
        }
        if self.max_key_age < Duration::ZERO {
            return Err(ConfigError::InvalidSetting {
                name: "max_key_age",
                reason: "must not be negative",
            });
        }
        if self.jwks.is_none() && self.source.is_none() {
            return Err(ConfigError::MissingKey("jwks or jwks source"));
        }
        let keys = KeySet::verify_only(self.jwks.map(Jwks::into_keys).unwrap_or_default())?;
        let loaded_at = self.clock.now();
        let validation = Validation {
            leeway: self.config.leeway.whole_seconds(),
            issuer: self.config.issuer,
            audience: self.config.audience,
            max_len: self.config.max_token_len,
        };
        Ok(Verifier {
            inner: Arc::new(Inner {
                keys: RwLock::new(Arc::new(keys)),
                validation,
                cache: verify_cache::optional(self.cache_capacity),
                clock: self.clock,
                source: self.source,
                min_fetch_interval: self.min_fetch_interval,
                removed_key_retention: self.removed_key_retention,
                max_key_age: self.max_key_age,
                loaded_at: AtomicI64::new(loaded_at.unix_timestamp()),
                last_fetch: Mutex::new(None),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::ManualClock;
    use crate::keys::SigningKey;
    use crate::{MemoryStore, RefreshKey, SessionManager};

    /// Serves one JWKS, counting its calls.
    struct Fixed(String, Arc<AtomicUsize>);

    #[async_trait::async_trait]
    impl JwksSource for Fixed {
        async fn fetch(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Ok(self.0.clone())
        }
    }

    fn issuer(clock: &Arc<ManualClock>, kid: &str, seed: u8) -> SessionManager<MemoryStore> {
        SessionManager::builder(MemoryStore::new())
            .signing_key(SigningKey::ed25519(kid, &[seed; 32]).unwrap())
            .refresh_key(RefreshKey::new(1, &[9; 32]).unwrap())
            .access_ttl(Duration::hours(1))
            .clock(Arc::clone(clock))
            .build()
            .unwrap()
    }

    /// A fetch on age that brings the same keys keeps the key set, and so
    /// the cache of verified tokens; other keys replace it.
    #[tokio::test]
    async fn the_same_keys_fetched_again_keep_the_key_set_and_its_cache() {
        let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
        let auth = issuer(&clock, "k1", 1);
        let fetches = Arc::new(AtomicUsize::new(0));
        let verifier = Verifier::builder()
            .jwks(auth.jwks())
            .clock(Arc::clone(&clock))
            .source(Fixed(auth.jwks_json(), Arc::clone(&fetches)))
            .verified_token_cache(16)
            .build()
            .unwrap();
        let token = auth.create("alice").await.unwrap().access_token;
        for _ in 0..2 {
            verifier.verify_or_fetch_keys(token.expose()).await.unwrap();
        }
        let cached = |v: &Verifier| v.inner.cache.as_ref().map_or(0, VerifyCache::len);
        assert_eq!(cached(&verifier), 1);
        let before = verifier.key_set();
        clock.advance(Duration::minutes(11));
        verifier.verify_or_fetch_keys(token.expose()).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(Arc::ptr_eq(&before, &verifier.key_set()));
        assert_eq!(cached(&verifier), 1);
        // Other keys: a new key set, an empty cache.
        verifier.set_jwks(issuer(&clock, "k2", 2).jwks()).unwrap();
        assert!(!Arc::ptr_eq(&before, &verifier.key_set()));
        assert_eq!(cached(&verifier), 0);
    }
}
