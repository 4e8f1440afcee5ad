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
use sessionkit::{ConfigError, SessionManager, Verifier};
use time::OffsetDateTime;

use crate::backend::{Backend, Manager};
use crate::error::ApiError;

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
    /// Cookies, unless the request says `X-Auth-Mode: header`: then as
    /// [`Headers`](Self::Headers). An `Authorization: Bearer` header is
    /// used whenever a request carries one.
    Both,
}

/// The paths of the session routes that [`Sessions::configure`] registers.
///
/// The refresh and logout routes must lie under the refresh cookie's path
/// ([`CookieConfig::refresh_path`], `/auth` by default): the browser sends
/// the refresh cookie nowhere else. [`SessionsBuilder::build`] checks it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SessionRoutes {
    pub(crate) refresh: String,
    pub(crate) logout: String,
    pub(crate) logout_all: String,
    pub(crate) sessions: String,
    pub(crate) jwks: Option<String>,
    pub(crate) client_js: Option<String>,
}

impl Default for SessionRoutes {
    fn default() -> Self {
        Self {
            refresh: "/auth/refresh".to_owned(),
            logout: "/auth/logout".to_owned(),
            logout_all: "/auth/logout-all".to_owned(),
            sessions: "/auth/sessions".to_owned(),
            jwks: Some("/.well-known/jwks.json".to_owned()),
            client_js: Some("/sessionkit.js".to_owned()),
        }
    }
}

impl SessionRoutes {
    /// `POST`: new tokens for a refresh token (default `/auth/refresh`).
    pub fn refresh(mut self, path: impl Into<String>) -> Self {
        self.refresh = path.into();
        self
    }

    /// `POST`: ends the session (default `/auth/logout`).
    pub fn logout(mut self, path: impl Into<String>) -> Self {
        self.logout = path.into();
        self
    }

    /// `POST`: ends every session of the caller (default `/auth/logout-all`).
    pub fn logout_all(mut self, path: impl Into<String>) -> Self {
        self.logout_all = path.into();
        self
    }

    /// `GET`: the caller's sessions; `DELETE {path}/{handle}` revokes one of
    /// them (default `/auth/sessions`).
    pub fn sessions(mut self, path: impl Into<String>) -> Self {
        self.sessions = path.into();
        self
    }

    /// `GET`: the public keys as a JWKS (default
    /// `/.well-known/jwks.json`); `None` to leave it out.
    pub fn jwks(mut self, path: Option<String>) -> Self {
        self.jwks = path;
        self
    }

    /// `GET`: the browser client module (default `/sessionkit.js`); `None`
    /// to leave it out.
    pub fn client_js(mut self, path: Option<String>) -> Self {
        self.client_js = path;
        self
    }

    fn check(&self, cookies: &CookieConfig) -> Result<(), ConfigError> {
        let mut paths = vec![
            &self.refresh,
            &self.logout,
            &self.logout_all,
            &self.sessions,
        ];
        paths.extend(self.jwks.iter());
        paths.extend(self.client_js.iter());
        if paths.iter().any(|p| !valid_path(p)) {
            return Err(ConfigError::InvalidSetting {
                name: "session route",
                reason: "must start with / and hold no {, }, ?, # or whitespace",
            });
        }
        let scope = cookies.refresh_cookie_path();
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
/// [`Transport`] and the [`SessionRoutes`].
///
/// Cloning is cheap (one `Arc`). Register it once:
/// `App::new().configure(sessions.configure())` adds it as app data and
/// mounts the session routes; `App::new().app_data(sessions.clone())` adds
/// only the app data, for the extractors. A handler takes it as an
/// argument (it is an extractor too).
#[derive(Clone)]
pub struct Sessions {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Backend,
    pub(crate) cookies: CookieConfig,
    pub(crate) csrf: Option<CsrfPolicy>,
    pub(crate) transport: Transport,
    pub(crate) routes: SessionRoutes,
    pub(crate) clock: Box<dyn Clock>,
    pub(crate) list_fields: Option<Box<ListFields>>,
}

/// Extra fields of a session-list entry, from the session's server-side
/// data.
pub(crate) type ListFields = dyn Fn(&Value) -> Map<String, Value> + Send + Sync;

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Sessions")
            .field("verify_only", &inner.backend.manager().is_none())
            .field("cookies", &inner.cookies)
            .field("csrf", &inner.csrf)
            .field("transport", &inner.transport)
            .field("routes", &inner.routes)
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
    /// [`StrictSession`](crate::StrictSession), the session routes and the
    /// login helper need a manager and answer `500 internal_error` here.
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

    /// The session routes' paths.
    pub fn routes(&self) -> &SessionRoutes {
        &self.inner.routes
    }

    /// Whether this request uses header mode: the transport is
    /// [`Transport::Headers`], or [`Transport::Both`] and the request says
    /// `X-Auth-Mode: header`.
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

    /// The CSRF check (SEC-38) for a cookie-authenticated request: passes
    /// for safe methods (`GET`, `HEAD`, `OPTIONS`, `TRACE`) and for header
    /// mode; otherwise the request's `Origin` and `Sec-Fetch-Site` must
    /// pass the [`CsrfPolicy`]. The extractors and the session routes call
    /// it themselves; a login handler may call it before checking a
    /// password, so that a forged login costs no password hash.
    ///
    /// # Errors
    /// `403 {"error":"csrf"}`.
    pub fn check_csrf(&self, request: &HttpRequest) -> Result<(), ApiError> {
        if is_safe(request.method()) || self.is_header_mode(request) {
            return Ok(());
        }
        self.csrf_policy_check(request.headers())
    }

    pub(crate) fn csrf_policy_check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(policy) = &self.inner.csrf else {
            // `build` refuses cookie transports without a policy.
            return Err(ApiError::internal("no CSRF policy for a cookie transport"));
        };
        policy
            .check(
                values(headers, header::ORIGIN.as_str()),
                values(headers, "sec-fetch-site"),
            )
            .map_err(ApiError::from)
    }

    /// The access token of a request: from `Authorization: Bearer` when
    /// the request has that header (and the transport allows headers),
    /// otherwise from the access cookie, after the CSRF check for
    /// state-changing methods. `Ok(None)` when the request carries none.
    ///
    /// The CSRF check comes before the cookie is looked at, so a
    /// cross-site request is refused as such whatever its cookies; only
    /// with `anonymous_ok` does a request without the cookie skip it (it
    /// carries no ambient authority then).
    pub(crate) fn access_token<'r>(
        &self,
        request: &'r HttpRequest,
        anonymous_ok: bool,
    ) -> Result<Option<&'r str>, ApiError> {
        let headers = request.headers();
        if self.inner.transport != Transport::Cookies && headers.contains_key(header::AUTHORIZATION)
        {
            return token_from_authorization(values(headers, header::AUTHORIZATION.as_str()))
                .map(Some)
                .map_err(ApiError::from);
        }
        if self.is_header_mode(request) {
            return Ok(None);
        }
        let cookie = self
            .inner
            .cookies
            .access_token_from_cookies(values(headers, header::COOKIE.as_str()));
        present(cookie, !anonymous_ok, || self.check_csrf(request))
    }

    /// The refresh token from the refresh cookie, after the CSRF check;
    /// `Ok(None)` when there is none.
    pub(crate) fn refresh_cookie<'r>(
        &self,
        request: &'r HttpRequest,
    ) -> Result<Option<&'r str>, ApiError> {
        let cookie = self
            .inner
            .cookies
            .refresh_token_from_cookies(values(request.headers(), header::COOKIE.as_str()));
        present(cookie, true, || self.check_csrf(request))
    }

    pub(crate) fn manager(&self) -> Result<&dyn Manager, ApiError> {
        self.inner.backend.manager().ok_or_else(|| {
            ApiError::internal("this operation needs a session manager, not a verifier")
        })
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    pub(crate) fn uses_cookies(&self) -> bool {
        self.inner.transport != Transport::Headers
    }

    /// The configuration registered with the application.
    pub(crate) fn from_app_data(request: &HttpRequest) -> Result<Self, ApiError> {
        request
            .app_data::<Self>()
            .cloned()
            .ok_or_else(|| ApiError::internal("no sessionkit_actix_web::Sessions in the app data"))
    }
}

/// A cookie's token, `None` when it is missing, after `csrf` (always, or
/// only when the cookie is there).
fn present(
    cookie: Result<&str, TokenSourceError>,
    always_check: bool,
    csrf: impl FnOnce() -> Result<(), ApiError>,
) -> Result<Option<&str>, ApiError> {
    let missing = cookie == Err(TokenSourceError::Missing);
    if always_check || !missing {
        csrf()?;
    }
    match cookie {
        Ok(token) => Ok(Some(token)),
        Err(TokenSourceError::Missing) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn is_safe(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(method)
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
    routes: SessionRoutes,
    clock: Box<dyn Clock>,
    list_fields: Option<Box<ListFields>>,
}

impl fmt::Debug for SessionsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionsBuilder")
            .field("cookies", &self.cookies)
            .field("csrf", &self.csrf)
            .field("transport", &self.transport)
            .field("routes", &self.routes)
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
            routes: SessionRoutes::default(),
            clock: Box::new(SystemClock),
            list_fields: None,
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

    /// The session routes' paths (default [`SessionRoutes::default`]).
    pub fn routes(mut self, routes: SessionRoutes) -> Self {
        self.routes = routes;
        self
    }

    /// The clock that cookie lifetimes (`Max-Age`) are counted from: give
    /// the manager's clock when it is not the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Adds fields to each entry of the session list (`GET
    /// /auth/sessions`), computed from the session's server-side data: for
    /// example the device the session was created on. The data itself is
    /// never sent; only what `fields` picks from it. Fields named
    /// `session_handle`, `created_at`, `last_active_at` or `current` are
    /// ignored.
    pub fn session_list_fields(
        mut self,
        fields: impl Fn(&Value) -> Map<String, Value> + Send + Sync + 'static,
    ) -> Self {
        self.list_fields = Some(Box::new(fields));
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
        self.routes.check(&self.cookies)?;
        Ok(Sessions {
            inner: Arc::new(Inner {
                backend: self.backend,
                cookies: self.cookies,
                csrf: self.csrf,
                transport: self.transport,
                routes: self.routes,
                clock: self.clock,
                list_fields: self.list_fields,
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
