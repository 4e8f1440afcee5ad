//! [`SessionProtocol`]: the one configuration value of a web integration
//! (the manager or a verifier, the cookies, the CSRF policy, the transport
//! and the routes' paths), and how it reads a request: header mode, the
//! CSRF check, the access token and its verification.

use std::fmt;
use std::marker::PhantomData;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::answer::Refusal;
use super::backend::{Backend, Engine};
use super::paths::Paths;
use super::transport::{
    AUTH_MODE_HEADER, RequestHeaders, TokenSource, Transport, is_state_changing,
};
use crate::access_token::Verified;
use crate::clock::{Clock, SystemClock};
use crate::cookies::{CookieConfig, token_from_authorization};
use crate::csrf::CsrfPolicy;
use crate::error::{ConfigError, TokenSourceError};
use crate::manager::{SessionInfo, SessionManager};
use crate::store::SessionStore;
use crate::verifier::Verifier;

/// Extra fields of a session-list entry.
type SessionFields = dyn Fn(&SessionInfo) -> Map<String, Value> + Send + Sync;

/// The framework-agnostic session protocol: everything a web integration's
/// extractors, session routes and login helper need, in one value, and
/// the operations they perform, over request headers and bodies in and
/// [`Answer`](super::Answer)s out. It carries no store type.
///
/// Built with [`SessionProtocol::builder`] (an issuing application, over a
/// [`SessionManager`]) or [`SessionProtocol::verify_only`] (a resource
/// service, over a [`Verifier`]). An integration wraps it in its own
/// configuration type (`sessionkit_axum::Sessions`, ...).
///
/// ```
/// use sessionkit::web::{CsrfPolicy, SessionProtocol, Transport};
/// use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
///
/// let manager = SessionManager::builder(MemoryStore::new())
///     .signing_key(SigningKey::generate_hs256("k1")?)
///     .refresh_key(RefreshKey::generate(1)?)
///     .build()?;
/// let protocol = SessionProtocol::builder(manager)
///     .csrf(CsrfPolicy::new(["https://app.example.com"])?)
///     .transport(Transport::Both)
///     .build()?;
/// assert_eq!(protocol.transport(), Transport::Both);
/// # Ok::<(), sessionkit::ConfigError>(())
/// ```
pub struct SessionProtocol {
    backend: Backend,
    cookies: CookieConfig,
    csrf: Option<CsrfPolicy>,
    transport: Transport,
    paths: Paths,
    clock: Box<dyn Clock>,
    session_fields: Option<Box<SessionFields>>,
}

impl fmt::Debug for SessionProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionProtocol")
            .field("verify_only", &self.is_verify_only())
            .field("cookies", &self.cookies)
            .field("csrf", &self.csrf)
            .field("transport", &self.transport)
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl SessionProtocol {
    /// Starts the configuration of an application that issues sessions.
    pub fn builder<S: SessionStore>(manager: SessionManager<S>) -> SessionProtocolBuilder {
        SessionProtocolBuilder::new(manager)
    }

    /// Starts the configuration of a resource service, verifying with
    /// `verifier` (public keys, no store, no secret); see
    /// [`SessionProtocolBuilder::verify_only`].
    pub fn verify_only(verifier: Verifier) -> SessionProtocolBuilder {
        SessionProtocolBuilder::verify_only(verifier)
    }

    /// The cookie settings.
    pub fn cookies(&self) -> &CookieConfig {
        &self.cookies
    }

    /// The token transfer mode.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Where the session routes live.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Whether this configuration only verifies (over a [`Verifier`]): no
    /// session routes but the browser client, no strict verification, no
    /// login.
    pub fn is_verify_only(&self) -> bool {
        self.backend.engine().is_none()
    }

    /// Whether a request is answered in header mode (tokens in JSON, no
    /// cookies): the transport is [`Transport::Headers`], or
    /// [`Transport::Both`] and the request says `X-Auth-Mode: header`.
    pub fn is_header_mode(&self, headers: &impl RequestHeaders) -> bool {
        match self.transport {
            Transport::Cookies => false,
            Transport::Headers => true,
            Transport::Both => headers
                .values(AUTH_MODE_HEADER)
                .next()
                .is_some_and(|v| v.eq_ignore_ascii_case(b"header")),
        }
    }

    /// The CSRF check for a cookie-authenticated request (SEC-38): the
    /// request's `Origin` and `Sec-Fetch-Site` must pass the [`CsrfPolicy`].
    ///
    /// # Errors
    /// 403 `csrf`; 500 `internal_error` when no policy is configured (the
    /// builder refuses cookie transports without one).
    pub fn check_csrf(&self, headers: &impl RequestHeaders) -> Result<(), Refusal> {
        let Some(policy) = &self.csrf else {
            return Err(Refusal::internal("no CSRF policy for a cookie transport"));
        };
        policy.check(headers.values("origin"), headers.values("sec-fetch-site"))?;
        Ok(())
    }

    /// The access token of a request: `Authorization: Bearer` when the
    /// transport allows it and the request has one (always with
    /// [`Transport::Headers`]), the access cookie otherwise, after the CSRF
    /// check for a state-changing `method` (SEC-06, SEC-38).
    ///
    /// # Errors
    /// 401 `unauthorized` (no token, a duplicated cookie, a malformed
    /// header), 403 `csrf`.
    pub fn access_token<'h>(
        &self,
        method: &str,
        headers: &'h impl RequestHeaders,
    ) -> Result<(&'h str, TokenSource), Refusal> {
        let transport = self.transport;
        if transport == Transport::Headers
            || (transport == Transport::Both && headers.contains("authorization"))
        {
            let token = token_from_authorization(headers.values("authorization"))?;
            return Ok((token, TokenSource::Bearer));
        }
        if is_state_changing(method) {
            self.check_csrf(headers)?;
        }
        let token = self
            .cookies
            .access_token_from_cookies(headers.values("cookie"))?;
        Ok((token, TokenSource::Cookie))
    }

    /// The caller's session: the [`access_token`](Self::access_token)
    /// verified without a store round trip (by the manager, or by the
    /// verifier, which fetches keys it does not know yet).
    ///
    /// # Errors
    /// 401 `try_refresh_token` (expired: refresh, then retry), 401
    /// `unauthorized`, 403 `csrf`, 503 `unavailable`.
    pub async fn verify_request(
        &self,
        method: &str,
        headers: &impl RequestHeaders,
    ) -> Result<(Verified, TokenSource), Refusal> {
        let (token, source) = self.access_token(method, headers)?;
        Ok((self.backend.verify(token).await?, source))
    }

    /// As [`verify_request`](Self::verify_request), and the session is
    /// also live in the store: a revoked session is refused at once.
    ///
    /// # Errors
    /// As `verify_request`; 500 `internal_error` in verify-only mode
    /// (there is no store).
    pub async fn verify_request_strict(
        &self,
        method: &str,
        headers: &impl RequestHeaders,
    ) -> Result<(Verified, TokenSource), Refusal> {
        let (token, source) = self.access_token(method, headers)?;
        Ok((self.engine()?.verify_strict(token).await?, source))
    }

    /// As [`verify_request`](Self::verify_request), but `None` when the
    /// request carries no token at all (no `Authorization` header, no
    /// access cookie). A token that fails is still refused, so that a
    /// client refreshes rather than carrying on as nobody.
    ///
    /// # Errors
    /// As `verify_request`.
    pub async fn verify_request_if_any(
        &self,
        method: &str,
        headers: &impl RequestHeaders,
    ) -> Result<Option<(Verified, TokenSource)>, Refusal> {
        match self.verify_request(method, headers).await {
            Ok(session) => Ok(Some(session)),
            Err(e) if e.code() == "unauthorized" && self.carries_no_token(headers) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a request carries no access token at all.
    fn carries_no_token(&self, headers: &impl RequestHeaders) -> bool {
        !headers.contains("authorization")
            && self
                .cookies
                .access_token_from_cookies(headers.values("cookie"))
                == Err(TokenSourceError::Missing)
    }

    /// The refresh cookie's value.
    pub(crate) fn refresh_cookie<'h>(
        &self,
        headers: &'h impl RequestHeaders,
    ) -> Result<&'h str, TokenSourceError> {
        self.cookies
            .refresh_token_from_cookies(headers.values("cookie"))
    }

    /// The manager, or 500 in verify-only mode.
    pub(crate) fn engine(&self) -> Result<&dyn Engine, Refusal> {
        self.backend.engine().ok_or_else(|| {
            Refusal::internal("this operation needs a session manager, not a verifier")
        })
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub(crate) fn session_fields(&self) -> Option<&SessionFields> {
        self.session_fields.as_deref()
    }

    /// The refusal, also clearing both cookies when the transport uses
    /// cookies.
    pub(crate) fn clearing(&self, refusal: Refusal) -> Refusal {
        if self.transport.uses_cookies() {
            refusal.clearing(&self.cookies)
        } else {
            refusal
        }
    }
}

/// Builds a [`SessionProtocol`], or an integration's configuration type
/// `T` made from one (`sessionkit_axum::SessionsBuilder` is
/// `SessionProtocolBuilder<sessionkit_axum::Sessions>`).
#[must_use = "a builder does nothing until `build` is called"]
pub struct SessionProtocolBuilder<T = SessionProtocol> {
    protocol: SessionProtocol,
    into: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for SessionProtocolBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionProtocolBuilder")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl<T> SessionProtocolBuilder<T> {
    fn with_backend(backend: Backend) -> Self {
        Self {
            protocol: SessionProtocol {
                backend,
                cookies: CookieConfig::default(),
                csrf: None,
                transport: Transport::default(),
                paths: Paths::default(),
                clock: Box::new(SystemClock),
                session_fields: None,
            },
            into: PhantomData,
        }
    }

    /// Starts the configuration of an application that issues sessions.
    pub fn new<S: SessionStore>(manager: SessionManager<S>) -> Self {
        Self::with_backend(Backend::Manager(Box::new(manager)))
    }

    /// Starts the configuration of a resource service: access tokens are
    /// checked with `verifier` (public keys from a JWKS, no store, no
    /// secret). Strict verification and the login helper need a manager
    /// and answer `500 internal_error`; of the session routes only the
    /// browser client is served.
    pub fn verify_only(verifier: Verifier) -> Self {
        Self::with_backend(Backend::VerifyOnly(verifier))
    }

    /// The cookies' names, path, `SameSite` and domain (default:
    /// [`CookieConfig::default`]). Every cookie the integration sets or
    /// clears uses these.
    ///
    /// # Security
    /// `CookieConfig::dangerous().domain(..)` shares the session with every
    /// subdomain: any of them can then read and shadow the session
    /// cookies. Only do it when every subdomain is as trusted as the
    /// application.
    pub fn cookies(mut self, cookies: CookieConfig) -> Self {
        self.protocol.cookies = cookies;
        self
    }

    /// The origins allowed to make cookie-authenticated state-changing
    /// requests (SEC-38). Required unless the transport is
    /// [`Transport::Headers`].
    pub fn csrf(mut self, policy: CsrfPolicy) -> Self {
        self.protocol.csrf = Some(policy);
        self
    }

    /// The token transfer mode (default [`Transport::Cookies`]).
    ///
    /// # Security
    /// [`Transport::Headers`] and [`Transport::Both`] hand tokens to the
    /// client's code: a script injected into a page can then read them,
    /// which it cannot do with `HttpOnly` cookies.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.protocol.transport = transport;
        self
    }

    /// Where the session routes live (default [`Paths::default`]).
    pub fn paths(mut self, paths: Paths) -> Self {
        self.protocol.paths = paths;
        self
    }

    /// The clock the cookies' `Max-Age` is counted from: give it the
    /// manager's clock when that is not the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.protocol.clock = Box::new(clock);
        self
    }

    /// Extra fields for each entry of the session list, from the session's
    /// server-side data (for example the device it was created on). The
    /// rest of the server-side data is never sent. Fields named
    /// `session_handle`, `created_at`, `last_active_at` or `current` are
    /// ignored.
    pub fn session_fields(
        mut self,
        fields: impl Fn(&SessionInfo) -> Map<String, Value> + Send + Sync + 'static,
    ) -> Self {
        self.protocol.session_fields = Some(Box::new(fields));
        self
    }
}

impl<T: From<SessionProtocol>> SessionProtocolBuilder<T> {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] when a cookie transport has no CSRF
    /// policy, when a route path is not a plain path (it must start with
    /// `/` and hold no `{`, `}`, `?`, `#` or whitespace), or when the
    /// refresh or logout route is not under the refresh cookie's path (the
    /// browser would not send the cookie there).
    pub fn build(self) -> Result<T, ConfigError> {
        let protocol = self.protocol;
        let uses_cookies = protocol.transport.uses_cookies();
        if uses_cookies && protocol.csrf.is_none() {
            return Err(ConfigError::InvalidSetting {
                name: "csrf policy",
                reason: "cookie transports need the allowed origins",
            });
        }
        let cookie_path = uses_cookies.then(|| protocol.cookies.refresh_cookie_path());
        protocol.paths.check(cookie_path)?;
        Ok(T::from(protocol))
    }
}
