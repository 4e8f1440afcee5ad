//! The one configuration value: the manager (or a verifier), the cookies,
//! the CSRF policy, the token transfer mode and the routes' paths.

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use serde_json::{Map, Value};
use sessionkit::clock::{Clock, SystemClock};
use sessionkit::store::SessionStore;
use sessionkit::web::{CookieConfig, CsrfPolicy};
use sessionkit::{ConfigError, SessionInfo, SessionManager, Verifier};
use time::OffsetDateTime;

use crate::engine::{Backend, Engine};

/// The request header that selects header mode under [`Transport::Both`].
pub const AUTH_MODE_HEADER: &str = "x-auth-mode";

/// How tokens travel between server and client.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub enum Transport {
    /// In the two `HttpOnly` session cookies (the default): the browser
    /// keeps them out of reach of scripts. State-changing requests pass
    /// the CSRF policy.
    #[default]
    Cookies,
    /// In JSON bodies and `Authorization: Bearer`, for clients that are
    /// not browsers. No cookie is ever set or read.
    Headers,
    /// Cookies, except for requests that say `X-Auth-Mode: header` (login,
    /// refresh, logout) or carry `Authorization: Bearer`.
    Both,
}

/// Where the session routes live. The default puts them under `/auth`,
/// the default path of the refresh cookie, which the refresh and logout
/// routes need to receive.
///
/// ```
/// use sessionkit::web::CookieConfig;
/// use sessionkit_axum::Paths;
///
/// // Routes under /session: the refresh cookie must follow them.
/// let paths = Paths::under("/session");
/// let cookies = CookieConfig::default().refresh_path("/session")?;
/// # let _ = (paths, cookies);
/// # Ok::<(), sessionkit::ConfigError>(())
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Paths {
    pub(crate) refresh: String,
    pub(crate) logout: String,
    pub(crate) logout_all: String,
    pub(crate) sessions: String,
    pub(crate) jwks: String,
    pub(crate) client_js: String,
}

impl Default for Paths {
    fn default() -> Self {
        Self::under("/auth")
    }
}

impl Paths {
    /// `{prefix}/refresh`, `{prefix}/logout`, `{prefix}/logout-all` and
    /// `{prefix}/sessions` (with `{prefix}/sessions/{handle}`), plus
    /// `/.well-known/jwks.json` and `/sessionkit.js`.
    pub fn under(prefix: &str) -> Self {
        let prefix = prefix.trim_end_matches('/');
        Self {
            refresh: format!("{prefix}/refresh"),
            logout: format!("{prefix}/logout"),
            logout_all: format!("{prefix}/logout-all"),
            sessions: format!("{prefix}/sessions"),
            jwks: "/.well-known/jwks.json".to_owned(),
            client_js: "/sessionkit.js".to_owned(),
        }
    }

    /// Moves the refresh route.
    pub fn refresh(mut self, path: impl Into<String>) -> Self {
        self.refresh = path.into();
        self
    }

    /// Moves the logout route.
    pub fn logout(mut self, path: impl Into<String>) -> Self {
        self.logout = path.into();
        self
    }

    /// Moves the "log out everywhere" route.
    pub fn logout_all(mut self, path: impl Into<String>) -> Self {
        self.logout_all = path.into();
        self
    }

    /// Moves the session list (and `{path}/{handle}` with it).
    pub fn sessions(mut self, path: impl Into<String>) -> Self {
        self.sessions = path.into();
        self
    }

    /// Moves the JWKS.
    pub fn jwks(mut self, path: impl Into<String>) -> Self {
        self.jwks = path.into();
        self
    }

    /// Moves the browser client.
    pub fn client_js(mut self, path: impl Into<String>) -> Self {
        self.client_js = path.into();
        self
    }
}

type SessionFields = dyn Fn(&SessionInfo) -> Map<String, Value> + Send + Sync;

/// Everything the extractors, the login helper and the session routes need,
/// in one value. Cloning is cheap (one `Arc`); make it reachable from your
/// router's state with `axum::extract::FromRef` (or use it as the state).
///
/// Built with [`Sessions::builder`] (an issuing application, over a
/// [`SessionManager`]) or [`Sessions::verify_only`] (a resource service,
/// over a [`Verifier`]). Neither carries the store's type.
///
/// ```
/// use sessionkit::web::CsrfPolicy;
/// use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
/// use sessionkit_axum::{Sessions, Transport};
///
/// let manager = SessionManager::builder(MemoryStore::new())
///     .signing_key(SigningKey::generate_hs256("k1")?)
///     .refresh_key(RefreshKey::generate(1)?)
///     .build()?;
/// let sessions = Sessions::builder(manager)
///     .csrf(CsrfPolicy::new(["https://app.example.com"])?)
///     .transport(Transport::Both) // cookies, or tokens with `X-Auth-Mode: header`
///     .build()?;
/// assert_eq!(sessions.transport(), Transport::Both);
/// # Ok::<(), sessionkit::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Sessions {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Backend,
    pub(crate) cookies: CookieConfig,
    pub(crate) csrf: Option<CsrfPolicy>,
    pub(crate) transport: Transport,
    pub(crate) paths: Paths,
    pub(crate) clock: Box<dyn Clock>,
    pub(crate) session_fields: Option<Box<SessionFields>>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Sessions")
            .field("verify_only", &inner.backend.engine().is_none())
            .field("cookies", &inner.cookies)
            .field("csrf", &inner.csrf)
            .field("transport", &inner.transport)
            .field("paths", &inner.paths)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Starts the configuration of an application that issues sessions.
    pub fn builder<S: SessionStore>(manager: SessionManager<S>) -> SessionsBuilder {
        SessionsBuilder::new(Backend::Manager(Box::new(manager)))
    }

    /// Starts the configuration of a resource service: the [`Session`](crate::Session)
    /// extractor verifies with `verifier` (public keys from a JWKS, no
    /// store, no secret). [`StrictSession`](crate::StrictSession) then
    /// answers 500, and [`router`](Self::router) serves the browser client
    /// only.
    pub fn verify_only(verifier: Verifier) -> SessionsBuilder {
        SessionsBuilder::new(Backend::VerifyOnly(verifier))
    }

    /// The cookie settings.
    pub fn cookies(&self) -> &CookieConfig {
        &self.inner.cookies
    }

    /// The token transfer mode.
    pub fn transport(&self) -> Transport {
        self.inner.transport
    }

    /// Whether a request is answered in header mode (tokens in JSON, no
    /// cookies).
    pub fn is_header_mode(&self, headers: &HeaderMap) -> bool {
        match self.inner.transport {
            Transport::Cookies => false,
            Transport::Headers => true,
            Transport::Both => headers
                .get(AUTH_MODE_HEADER)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"header")),
        }
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }
}

/// Builds [`Sessions`]; from [`Sessions::builder`] or
/// [`Sessions::verify_only`].
pub struct SessionsBuilder {
    backend: Backend,
    cookies: CookieConfig,
    csrf: Option<CsrfPolicy>,
    transport: Transport,
    paths: Paths,
    clock: Box<dyn Clock>,
    session_fields: Option<Box<SessionFields>>,
}

impl fmt::Debug for SessionsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionsBuilder")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl SessionsBuilder {
    fn new(backend: Backend) -> Self {
        Self {
            backend,
            cookies: CookieConfig::default(),
            csrf: None,
            transport: Transport::default(),
            paths: Paths::default(),
            clock: Box::new(SystemClock),
            session_fields: None,
        }
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
        self.cookies = cookies;
        self
    }

    /// The origins allowed to make cookie-authenticated state-changing
    /// requests (SEC-38). Required unless the transport is
    /// [`Transport::Headers`].
    pub fn csrf(mut self, policy: CsrfPolicy) -> Self {
        self.csrf = Some(policy);
        self
    }

    /// The token transfer mode (default [`Transport::Cookies`]).
    ///
    /// # Security
    /// [`Transport::Headers`] and [`Transport::Both`] hand tokens to the
    /// client's code: a script injected into a page can then read them,
    /// which it cannot do with `HttpOnly` cookies.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Where the session routes live (default [`Paths::default`]).
    pub fn paths(mut self, paths: Paths) -> Self {
        self.paths = paths;
        self
    }

    /// The clock the cookies' `Max-Age` is computed with: give it the
    /// manager's clock when that is not the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Extra fields for each entry of the session list, from the session's
    /// server-side data (for example the device it was created on). The
    /// rest of the server-side data is never sent.
    pub fn session_fields(
        mut self,
        fields: impl Fn(&SessionInfo) -> Map<String, Value> + Send + Sync + 'static,
    ) -> Self {
        self.session_fields = Some(Box::new(fields));
        self
    }

    /// The configuration.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] when cookies are used without a CSRF
    /// policy, when a path does not start with `/`, or when the refresh or
    /// logout route is not under the refresh cookie's path (the browser
    /// would not send the cookie there).
    pub fn build(self) -> Result<Sessions, ConfigError> {
        let invalid = |name, reason| Err(ConfigError::InvalidSetting { name, reason });
        if self.transport != Transport::Headers && self.csrf.is_none() {
            return invalid("csrf policy", "cookie transport needs the allowed origins");
        }
        let p = &self.paths;
        let all = [
            &p.refresh,
            &p.logout,
            &p.logout_all,
            &p.sessions,
            &p.jwks,
            &p.client_js,
        ];
        if all
            .iter()
            .any(|path| !path.starts_with('/') || path.contains(['{', '}']))
        {
            return invalid("route path", "must start with / and hold no { or }");
        }
        let cookie_path = self.cookies.refresh_cookie_path().trim_end_matches('/');
        let covered = |path: &str| {
            cookie_path.is_empty()
                || path == cookie_path
                || path
                    .strip_prefix(cookie_path)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        if self.transport != Transport::Headers && !(covered(&p.refresh) && covered(&p.logout)) {
            return invalid(
                "route path",
                "the refresh and logout routes must be under the refresh cookie's path",
            );
        }
        Ok(Sessions {
            inner: Arc::new(Inner {
                backend: self.backend,
                cookies: self.cookies,
                csrf: self.csrf,
                transport: self.transport,
                paths: self.paths,
                clock: self.clock,
                session_fields: self.session_fields,
            }),
        })
    }
}

impl Inner {
    pub(crate) fn engine(&self) -> Option<&dyn Engine> {
        self.backend.engine()
    }
}
