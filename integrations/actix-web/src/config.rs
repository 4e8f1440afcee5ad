//! [`Sessions`]: the one configuration value every extractor, route and the
//! login helper read: the manager (or a verifier), the cookies, the CSRF
//! policy, the token transport and the route paths.

use std::fmt;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap};
use serde_json::{Map, Value};
use sessionkit::clock::{Clock, SystemClock};
use sessionkit::store::SessionStore;
use sessionkit::web::{CookieConfig, CsrfPolicy, TokenSourceError, token_from_authorization};
use sessionkit::{ConfigError, SessionInfo, SessionManager, Verifier};
use time::OffsetDateTime;

use crate::backend::{Backend, Manager};
use crate::error::SessionRejection;
use crate::extract::TokenSource;

/// The request header that selects header mode under
/// [`Transport::Both`]: `X-Auth-Mode: header`.
pub const AUTH_MODE_HEADER: &str = "x-auth-mode";

/// How tokens travel between client and server.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub enum Transport {
    /// Browsers: both tokens in `HttpOnly` cookies, every cookie-authenticated
    /// state-changing request checked against the [`CsrfPolicy`]. The
    /// default.
    #[default]
    Cookies,
    /// Other clients: the access token in `Authorization: Bearer`, the
    /// refresh token in the JSON body of refresh and logout
    /// (`{"refresh_token": ...}`), new tokens in JSON bodies. No cookie is
    /// read or set.
    Headers,
    /// Cookies, except for requests that say `X-Auth-Mode: header` (login,
    /// refresh, logout: tokens in JSON) or carry `Authorization: Bearer`.
    Both,
}

/// Where the session routes live ([`Sessions::configure`]). The default
/// puts them under `/auth`, the default path of the refresh cookie, which
/// the refresh and logout routes need to receive; [`SessionsBuilder::build`]
/// checks that they do.
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

    /// Moves the refresh route (`POST`).
    pub fn refresh(mut self, path: impl Into<String>) -> Self {
        self.refresh = path.into();
        self
    }

    /// Moves the logout route (`POST`).
    pub fn logout(mut self, path: impl Into<String>) -> Self {
        self.logout = path.into();
        self
    }

    /// Moves the "log out everywhere" route (`POST`).
    pub fn logout_all(mut self, path: impl Into<String>) -> Self {
        self.logout_all = path.into();
        self
    }

    /// Moves the session list (`GET`), and `DELETE {path}/{handle}` with
    /// it.
    pub fn sessions(mut self, path: impl Into<String>) -> Self {
        self.sessions = path.into();
        self
    }

    /// Moves the JWKS (`GET`).
    pub fn jwks(mut self, path: impl Into<String>) -> Self {
        self.jwks = path.into();
        self
    }

    /// Moves the browser client (`GET`).
    pub fn client_js(mut self, path: impl Into<String>) -> Self {
        self.client_js = path.into();
        self
    }

    /// Plain paths; the refresh and logout routes under the refresh
    /// cookie's path when cookies are used.
    fn check(&self, cookie_path: Option<&str>) -> Result<(), ConfigError> {
        let paths = [
            &self.refresh,
            &self.logout,
            &self.logout_all,
            &self.sessions,
            &self.jwks,
            &self.client_js,
        ];
        if paths.iter().any(|p| !valid_path(p)) {
            return Err(ConfigError::InvalidSetting {
                name: "session route",
                reason: "must start with / and hold no {, }, ?, # or whitespace",
            });
        }
        let Some(scope) = cookie_path else {
            return Ok(());
        };
        for route in [&self.refresh, &self.logout] {
            if !under(route, scope) {
                return Err(ConfigError::InvalidSetting {
                    name: "refresh or logout route",
                    reason: "must lie under the refresh cookie's path, or the browser never sends the cookie there",
                });
            }
        }
        Ok(())
    }
}

fn valid_path(path: &str) -> bool {
    path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"{}?#".contains(&b))
}

/// Whether a browser sends a cookie with `Path=scope` to `route` (RFC 6265
/// §5.1.4 path-match).
fn under(route: &str, scope: &str) -> bool {
    route == scope
        || route
            .strip_prefix(scope)
            .is_some_and(|rest| scope.ends_with('/') || rest.starts_with('/'))
}

/// Everything the extractors, the session routes and the login helper
/// need: the session manager (or, for a service that only verifies, a
/// [`Verifier`]), the [`CookieConfig`], the [`CsrfPolicy`], the
/// [`Transport`] and the [`Paths`].
///
/// Cloning is cheap (one `Arc`). Register it once:
/// `App::new().configure(sessions.configure())` adds it as app data and
/// mounts the session routes; `App::new().app_data(sessions.clone())` adds
/// only the app data, for the extractors. A handler can take it as an
/// argument too.
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

/// Extra fields of a session-list entry.
pub(crate) type SessionFields = dyn Fn(&SessionInfo) -> Map<String, Value> + Send + Sync;

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Sessions")
            .field("verify_only", &inner.backend.manager().is_none())
            .field("cookies", &inner.cookies)
            .field("csrf", &inner.csrf)
            .field("transport", &inner.transport)
            .field("paths", &inner.paths)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Starts a configuration over a session manager: the application that
    /// logs users in, refreshes and revokes.
    pub fn builder<S: SessionStore>(manager: SessionManager<S>) -> SessionsBuilder {
        SessionsBuilder::new(Backend::Manager(Box::new(manager)))
    }

    /// Starts a verify-only configuration: [`Session`](crate::Session) and
    /// [`OptionalSession`](crate::OptionalSession) check access tokens with
    /// the verifier's public keys; no store, no secret.
    /// [`StrictSession`](crate::StrictSession) and the login helper need a
    /// manager and answer `500 internal_error` here; of the session routes
    /// only the browser client is served.
    pub fn verify_only(verifier: Verifier) -> SessionsBuilder {
        SessionsBuilder::new(Backend::Verifier(verifier))
    }

    /// The cookie settings.
    pub fn cookies(&self) -> &CookieConfig {
        &self.inner.cookies
    }

    /// The transport.
    pub fn transport(&self) -> Transport {
        self.inner.transport
    }

    /// Where the session routes live.
    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    /// Whether a request is answered in header mode (tokens in JSON, no
    /// cookies): the transport is [`Transport::Headers`], or
    /// [`Transport::Both`] and the request says `X-Auth-Mode: header`.
    pub fn is_header_mode(&self, request: &HttpRequest) -> bool {
        match self.inner.transport {
            Transport::Cookies => false,
            Transport::Headers => true,
            Transport::Both => request
                .headers()
                .get(AUTH_MODE_HEADER)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"header")),
        }
    }

    /// The CSRF check (SEC-38): the request's `Origin` and
    /// `Sec-Fetch-Site` must pass the [`CsrfPolicy`].
    pub(crate) fn check_csrf(&self, headers: &HeaderMap) -> Result<(), SessionRejection> {
        let Some(policy) = &self.inner.csrf else {
            // `build` refuses cookie transports without a policy.
            return Err(SessionRejection::internal(
                "no CSRF policy for a cookie transport",
            ));
        };
        policy
            .check(
                values(headers, header::ORIGIN.as_str()),
                values(headers, "sec-fetch-site"),
            )
            .map_err(SessionRejection::from)
    }

    /// The access token of a request: `Authorization: Bearer` when headers
    /// are allowed and the request has one (or the transport is headers
    /// only), the access cookie otherwise, after the CSRF check for a
    /// state-changing method (SEC-06, SEC-38).
    pub(crate) fn access_token<'r>(
        &self,
        request: &'r HttpRequest,
    ) -> Result<(&'r str, TokenSource), SessionRejection> {
        let headers = request.headers();
        let transport = self.inner.transport;
        if transport == Transport::Headers
            || (transport == Transport::Both && headers.contains_key(header::AUTHORIZATION))
        {
            let token = token_from_authorization(values(headers, header::AUTHORIZATION.as_str()))?;
            return Ok((token, TokenSource::Bearer));
        }
        if is_state_changing(request.method()) {
            self.check_csrf(headers)?;
        }
        let token = self
            .inner
            .cookies
            .access_token_from_cookies(values(headers, header::COOKIE.as_str()))?;
        Ok((token, TokenSource::Cookie))
    }

    /// Whether a request carries no access token at all: no
    /// `Authorization` header and no access cookie.
    pub(crate) fn carries_no_token(&self, headers: &HeaderMap) -> bool {
        !headers.contains_key(header::AUTHORIZATION)
            && self
                .inner
                .cookies
                .access_token_from_cookies(values(headers, header::COOKIE.as_str()))
                == Err(TokenSourceError::Missing)
    }

    /// The refresh cookie's value.
    pub(crate) fn refresh_cookie<'r>(
        &self,
        headers: &'r HeaderMap,
    ) -> Result<&'r str, TokenSourceError> {
        self.inner
            .cookies
            .refresh_token_from_cookies(values(headers, header::COOKIE.as_str()))
    }

    pub(crate) fn manager(&self) -> Result<&dyn Manager, SessionRejection> {
        self.inner.backend.manager().ok_or_else(|| {
            SessionRejection::internal("this operation needs a session manager, not a verifier")
        })
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// The rejection, also clearing both cookies when the transport uses
    /// cookies.
    pub(crate) fn clearing(&self, rejection: SessionRejection) -> SessionRejection {
        if self.uses_cookies() {
            rejection.clearing(self.cookies())
        } else {
            rejection
        }
    }

    pub(crate) fn uses_cookies(&self) -> bool {
        self.inner.transport != Transport::Headers
    }

    /// The configuration registered with the application.
    pub(crate) fn from_app_data(request: &HttpRequest) -> Result<Self, SessionRejection> {
        request.app_data::<Self>().cloned().ok_or_else(|| {
            SessionRejection::internal("no sessionkit_actix_web::Sessions in the app data")
        })
    }
}

/// Whether a method changes state, for the CSRF check.
pub(crate) fn is_state_changing(method: &Method) -> bool {
    ![Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(method)
}

pub(crate) fn values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a [u8]> {
    headers.get_all(name).map(|v| v.as_bytes())
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
            .field("cookies", &self.cookies)
            .field("csrf", &self.csrf)
            .field("transport", &self.transport)
            .field("paths", &self.paths)
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

    /// The session cookies' names, path and attributes (default:
    /// [`CookieConfig::default`]).
    pub fn cookies(mut self, cookies: CookieConfig) -> Self {
        self.cookies = cookies;
        self
    }

    /// The origins allowed to make cookie-authenticated state-changing
    /// requests. Required with [`Transport::Cookies`] and
    /// [`Transport::Both`].
    pub fn csrf(mut self, policy: CsrfPolicy) -> Self {
        self.csrf = Some(policy);
        self
    }

    /// How tokens travel (default [`Transport::Cookies`]).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Where the session routes live (default [`Paths::default`]).
    pub fn paths(mut self, paths: Paths) -> Self {
        self.paths = paths;
        self
    }

    /// The clock that cookie lifetimes (`Max-Age`) are counted from: give
    /// the manager's clock when it is not the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Extra fields for each entry of the session list (`GET
    /// /auth/sessions`), from the session's server-side data: for example
    /// the device it was created on. The rest of the server-side data is
    /// never sent. Fields named `session_handle`, `created_at`,
    /// `last_active_at` or `current` are ignored.
    pub fn session_fields(
        mut self,
        fields: impl Fn(&SessionInfo) -> Map<String, Value> + Send + Sync + 'static,
    ) -> Self {
        self.session_fields = Some(Box::new(fields));
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] when a cookie transport has no CSRF
    /// policy, a route path is not a plain path, or the refresh or logout
    /// route is not under the refresh cookie's path.
    pub fn build(self) -> Result<Sessions, ConfigError> {
        if self.transport != Transport::Headers && self.csrf.is_none() {
            return Err(ConfigError::InvalidSetting {
                name: "csrf policy",
                reason: "cookie transports need the allowed origins",
            });
        }
        let cookie_path =
            (self.transport != Transport::Headers).then(|| self.cookies.refresh_cookie_path());
        self.paths.check(cookie_path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_match_follows_rfc_6265() {
        assert!(under("/auth/refresh", "/auth"));
        assert!(under("/auth", "/auth"));
        assert!(under("/auth/refresh", "/auth/"));
        assert!(under("/anything", "/"));
        assert!(!under("/authx/refresh", "/auth"));
        assert!(!under("/api/refresh", "/auth"));
    }
}
