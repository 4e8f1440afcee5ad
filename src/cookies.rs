//! Session cookies: `Set-Cookie` values with secure defaults, and reading
//! the session cookies back from `Cookie` headers.
//!
//! Two cookies carry a browser session (SEC-35, SEC-36):
//!
//! | cookie | default name | attributes |
//! |---|---|---|
//! | access | `__Host-sk-access` | `Secure; HttpOnly; Path=/; SameSite=Strict`, no `Domain` |
//! | refresh | `__Secure-sk-refresh` | `Secure; HttpOnly; Path=/auth; SameSite=Strict` |
//!
//! The refresh cookie is scoped to the session routes under `/auth`
//! (refresh and logout, so that logout works with the refresh token alone),
//! so the browser never sends it to the application's own routes. The
//! `__Host-` prefix makes the browser refuse an access cookie that is not
//! `Secure`, has a `Domain` or another `Path`, so a sibling subdomain cannot
//! plant one. Sharing the session with subdomains
//! ([`DangerousCookieConfig::domain`]) gives that up.
//!
//! Browsers treat `http://localhost` and loopback addresses as secure, so
//! these cookies work in local development without TLS; anywhere else they
//! need HTTPS.

use time::{Duration, OffsetDateTime};

use crate::access_token::AccessToken;
use crate::error::{ConfigError, TokenSourceError};
use crate::refresh_token::RefreshToken;

/// The default name of the access cookie.
pub const DEFAULT_ACCESS_COOKIE: &str = "__Host-sk-access";
/// The default name of the refresh cookie.
pub const DEFAULT_REFRESH_COOKIE: &str = "__Secure-sk-refresh";
/// The default path of the refresh cookie: the prefix of the session
/// routes (refresh, logout), and nothing else of the application.
pub const DEFAULT_REFRESH_PATH: &str = "/auth";
/// The name the default access cookie takes when the session is shared
/// with subdomains ([`DangerousCookieConfig::domain`]): `__Host-` cookies
/// cannot have a `Domain`.
pub const DEFAULT_SHARED_ACCESS_COOKIE: &str = "__Secure-sk-access";

/// The longest token value accepted from a header (SEC-39): larger input is
/// rejected before anything else looks at it.
const MAX_TOKEN_LEN: usize = 4096;

/// The `SameSite` attribute of the session cookies.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum SameSite {
    /// Sent only on requests from the site itself (the default).
    Strict,
    /// Also sent on top-level navigations from other sites
    /// ([`CookieConfig::same_site_lax`]).
    Lax,
    /// Sent on every cross-site request; only through
    /// [`DangerousCookieConfig::allow_same_site_none`].
    None,
}

/// Names, path and `SameSite` policy of the session cookies, and the
/// `Set-Cookie` values built from them.
///
/// ```
/// use sessionkit::web::CookieConfig;
///
/// let cookies = CookieConfig::default();
/// assert_eq!(
///     cookies.clear_access_cookie(),
///     "__Host-sk-access=; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=0"
/// );
/// assert_eq!(
///     cookies.clear_refresh_cookie(),
///     "__Secure-sk-refresh=; HttpOnly; SameSite=Strict; Secure; Path=/auth; Max-Age=0"
/// );
/// ```
///
/// Every cookie is `Secure` and `HttpOnly`, which cannot be turned off, and
/// has no `Domain` unless [`DangerousCookieConfig::domain`] says otherwise.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CookieConfig {
    access_name: String,
    refresh_name: String,
    refresh_path: String,
    same_site: SameSite,
    domain: Option<String>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            access_name: DEFAULT_ACCESS_COOKIE.to_owned(),
            refresh_name: DEFAULT_REFRESH_COOKIE.to_owned(),
            refresh_path: DEFAULT_REFRESH_PATH.to_owned(),
            same_site: SameSite::Strict,
            domain: None,
        }
    }
}

impl CookieConfig {
    /// The default configuration (same as [`Default::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Renames the access cookie. Keep the `__Host-` prefix unless you have
    /// a reason not to.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] if the name is not a valid cookie
    /// name, equals the refresh cookie's name, or has the `__Host-` prefix
    /// while the cookies are shared with subdomains.
    pub fn access_name(mut self, name: impl Into<String>) -> Result<Self, ConfigError> {
        let name = name.into();
        check_name("access cookie name", &name)?;
        if name == self.refresh_name {
            return Err(invalid("access cookie name", "same as the refresh cookie"));
        }
        if self.domain.is_some() && has_host_prefix(&name) {
            return Err(invalid(
                "access cookie name",
                "a __Host- cookie cannot have a Domain",
            ));
        }
        self.access_name = name;
        Ok(self)
    }

    /// Renames the refresh cookie. Keep the `__Secure-` prefix unless you
    /// have a reason not to.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] if the name is not a valid cookie
    /// name, equals the access cookie's name, or has the `__Host-` prefix
    /// while the refresh path is not `/`.
    pub fn refresh_name(mut self, name: impl Into<String>) -> Result<Self, ConfigError> {
        let name = name.into();
        check_name("refresh cookie name", &name)?;
        if name == self.access_name {
            return Err(invalid("refresh cookie name", "same as the access cookie"));
        }
        check_host_prefix(&name, &self.refresh_path)?;
        self.refresh_name = name;
        Ok(self)
    }

    /// Sets the path of the refresh cookie (default `/auth`): a prefix of
    /// your refresh and logout routes, and of nothing else.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] if the path does not start with `/`,
    /// contains `;`, whitespace or control characters, or is not `/` while
    /// the refresh cookie has the `__Host-` prefix.
    pub fn refresh_path(mut self, path: impl Into<String>) -> Result<Self, ConfigError> {
        let path = path.into();
        let valid =
            path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic() && b != b';');
        if !valid {
            return Err(invalid(
                "refresh cookie path",
                "must start with / and hold no ;, space or control character",
            ));
        }
        check_host_prefix(&self.refresh_name, &path)?;
        self.refresh_path = path;
        Ok(self)
    }

    /// Uses `SameSite=Lax` instead of `Strict`: the access cookie is then
    /// also sent when the user follows a link from another site, so they
    /// arrive logged in.
    ///
    /// # Security
    /// Lax cookies ride along on cross-site top-level `GET` navigations:
    /// `GET` handlers must not change state, and state-changing requests
    /// still need a [`CsrfPolicy`](crate::web::CsrfPolicy) check.
    pub fn same_site_lax(mut self) -> Self {
        self.same_site = SameSite::Lax;
        self
    }

    /// Settings that weaken the defaults. Read their documentation first.
    pub fn dangerous(self) -> DangerousCookieConfig {
        DangerousCookieConfig { config: self }
    }

    /// The access cookie's name.
    pub fn access_cookie_name(&self) -> &str {
        &self.access_name
    }

    /// The refresh cookie's name.
    pub fn refresh_cookie_name(&self) -> &str {
        &self.refresh_name
    }

    /// The refresh cookie's path.
    pub fn refresh_cookie_path(&self) -> &str {
        &self.refresh_path
    }

    /// The `SameSite` policy.
    pub fn same_site(&self) -> SameSite {
        self.same_site
    }

    /// The `Domain` the cookies are shared with, if any.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The `Set-Cookie` value carrying an access token.
    ///
    /// The cookie should live as long as the refresh token
    /// ([`SessionTokens::refresh_expires_at`](crate::SessionTokens::refresh_expires_at)),
    /// not just as long as the access token: once the access token has
    /// expired, the server still needs to see it to answer "try refresh"
    /// rather than "unauthorized", and to identify the session at logout.
    /// `Max-Age` is `expires_at - now` in whole seconds, at least 0.
    pub fn access_cookie(
        &self,
        token: &AccessToken,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> String {
        self.render(
            &self.access_name,
            token.expose(),
            "/",
            max_age(expires_at, now),
        )
    }

    /// The `Set-Cookie` value carrying a refresh token, scoped to the
    /// refresh path. Pass
    /// [`SessionTokens::refresh_expires_at`](crate::SessionTokens::refresh_expires_at)
    /// as `expires_at`.
    pub fn refresh_cookie(
        &self,
        token: &RefreshToken,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> String {
        self.render(
            &self.refresh_name,
            token.expose(),
            &self.refresh_path,
            max_age(expires_at, now),
        )
    }

    /// The `Set-Cookie` value that deletes the access cookie: same name,
    /// path and `Secure` attribute, empty value, `Max-Age=0` (SEC-12).
    pub fn clear_access_cookie(&self) -> String {
        self.render(&self.access_name, "", "/", Duration::ZERO)
    }

    /// The `Set-Cookie` value that deletes the refresh cookie: same name,
    /// path and `Secure` attribute, empty value, `Max-Age=0` (SEC-12).
    pub fn clear_refresh_cookie(&self) -> String {
        self.render(&self.refresh_name, "", &self.refresh_path, Duration::ZERO)
    }

    /// The access token from a request's `Cookie` headers (pass every one:
    /// HTTP/2 may split cookies over several).
    ///
    /// # Errors
    /// [`TokenSourceError::Missing`] when no cookie has the access cookie's
    /// exact name; [`TokenSourceError::Duplicate`] when more than one has
    /// (SEC-37); [`TokenSourceError::Malformed`] when its value cannot be a
    /// token.
    pub fn access_token_from_cookies<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<&'a str, TokenSourceError> {
        token_from_cookies(cookie_headers, &self.access_name)
    }

    /// The refresh token from a request's `Cookie` headers.
    ///
    /// # Errors
    /// As for [`access_token_from_cookies`](Self::access_token_from_cookies).
    pub fn refresh_token_from_cookies<'a>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<&'a str, TokenSourceError> {
        token_from_cookies(cookie_headers, &self.refresh_name)
    }

    fn render(&self, name: &str, value: &str, path: &str, max_age: Duration) -> String {
        let mut cookie = cookie::Cookie::new(name, value);
        cookie.set_secure(true);
        cookie.set_http_only(true);
        cookie.set_path(path);
        cookie.set_same_site(match self.same_site {
            SameSite::Strict => cookie::SameSite::Strict,
            SameSite::Lax => cookie::SameSite::Lax,
            SameSite::None => cookie::SameSite::None,
        });
        cookie.set_max_age(max_age);
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie.to_string()
    }
}

/// Settings of [`CookieConfig`] that weaken its defaults, reached through
/// [`CookieConfig::dangerous`].
#[derive(Debug)]
pub struct DangerousCookieConfig {
    config: CookieConfig,
}

impl DangerousCookieConfig {
    /// Shares the session cookies with every subdomain of `domain` (a
    /// `Domain` attribute on both), for a session that spans
    /// `app.example.com` and `api.example.com`. The default access cookie
    /// is then called [`DEFAULT_SHARED_ACCESS_COOKIE`] (`__Secure-`), since
    /// a `__Host-` cookie cannot have a `Domain`.
    ///
    /// # Security
    /// Every subdomain of `domain` then receives the session cookies, and
    /// any of them can set cookies that shadow them: one compromised or
    /// user-controlled subdomain (a staging site, a user-content host)
    /// can read the refresh token and hijack sessions. Only use it when
    /// every subdomain is trusted as much as the application itself.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] if `domain` is not a host name
    /// (letters, digits, `-` and `.`, no leading dot), or the access cookie
    /// has a custom `__Host-` name.
    pub fn domain(self, domain: impl Into<String>) -> Result<CookieConfig, ConfigError> {
        let domain = domain.into();
        let valid = !domain.is_empty()
            && domain.len() <= 253
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid {
            return Err(invalid(
                "cookie domain",
                "must be a host name: letters, digits, - and ., no leading dot",
            ));
        }
        let mut config = self.config;
        if config.access_name == DEFAULT_ACCESS_COOKIE {
            config.access_name = DEFAULT_SHARED_ACCESS_COOKIE.to_owned();
        } else if has_host_prefix(&config.access_name) {
            return Err(invalid(
                "access cookie name",
                "a __Host- cookie cannot have a Domain",
            ));
        }
        config.domain = Some(domain.to_ascii_lowercase());
        Ok(config)
    }

    /// Uses `SameSite=None`: the browser sends the session cookies on every
    /// cross-site request, including ones forged by any other website.
    ///
    /// # Security
    /// This removes the browser's own protection against cross-site request
    /// forgery. Only use it when the site really is embedded in another
    /// site, check every state-changing request with a
    /// [`CsrfPolicy`](crate::web::CsrfPolicy), and never change state on `GET`.
    pub fn allow_same_site_none(self) -> CookieConfig {
        CookieConfig {
            same_site: SameSite::None,
            ..self.config
        }
    }
}

/// The value of the cookie called exactly `name` in a request's `Cookie`
/// headers.
///
/// Names are compared byte for byte, never normalised: `__host-sk-access`
/// is not `__Host-sk-access` (SEC-37). Pairs without `=` are ignored, as
/// browsers do.
///
/// # Errors
/// [`TokenSourceError::Missing`] when no cookie has that name;
/// [`TokenSourceError::Duplicate`] when more than one has, whatever their
/// values: a second cookie of the same name is how a sibling subdomain or
/// an insecure origin shadows the real one; [`TokenSourceError::Malformed`]
/// when the value is empty, longer than 4096 bytes, or holds a character no
/// token has.
pub fn token_from_cookies<'a>(
    cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    name: &str,
) -> Result<&'a str, TokenSourceError> {
    let mut found = None;
    for header in cookie_headers {
        for pair in header.split(|&b| b == b';') {
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            let (key, value) = pair.split_at(eq);
            if trim_ows(key) != name.as_bytes() {
                continue;
            }
            if found.is_some() {
                return Err(TokenSourceError::Duplicate);
            }
            found = Some(value.get(1..).unwrap_or_default());
        }
    }
    let value = found.ok_or(TokenSourceError::Missing)?;
    token_text(trim_ows(value))
}

/// The token of an `Authorization: Bearer <token>` header (pass every
/// `Authorization` header of the request).
///
/// The scheme is matched without regard to case; it must be followed by
/// exactly one space and a single token of RFC 6750 `b64token` characters.
///
/// # Errors
/// [`TokenSourceError::Missing`] without an `Authorization` header;
/// [`TokenSourceError::Duplicate`] with more than one;
/// [`TokenSourceError::Malformed`] for another scheme, an empty token,
/// extra spaces or characters, or more than 4096 bytes of token.
pub fn token_from_authorization<'a>(
    authorization_headers: impl IntoIterator<Item = &'a [u8]>,
) -> Result<&'a str, TokenSourceError> {
    let mut headers = authorization_headers.into_iter();
    let header = headers.next().ok_or(TokenSourceError::Missing)?;
    if headers.next().is_some() {
        return Err(TokenSourceError::Duplicate);
    }
    let (scheme, token) = header
        .split_at_checked(7)
        .ok_or(TokenSourceError::Malformed)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return Err(TokenSourceError::Malformed);
    }
    token_text(token)
}

/// Checks that `value` can be a token and returns it as text.
fn token_text(value: &[u8]) -> Result<&str, TokenSourceError> {
    let valid = !value.is_empty()
        && value.len() <= MAX_TOKEN_LEN
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if !valid {
        return Err(TokenSourceError::Malformed);
    }
    std::str::from_utf8(value).map_err(|_| TokenSourceError::Malformed)
}

/// Strips the optional whitespace (space, tab) around a cookie name or value.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn max_age(expires_at: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let seconds = (expires_at - now).whole_seconds().max(0);
    Duration::seconds(seconds)
}

fn invalid(name: &'static str, reason: &'static str) -> ConfigError {
    ConfigError::InvalidSetting { name, reason }
}

/// A cookie name is an RFC 9110 token.
fn check_name(setting: &'static str, name: &str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(invalid(setting, "not a valid cookie name"))
    }
}

/// Browsers only keep a `__Host-` cookie with `Path=/` (and no `Domain`,
/// which these cookies never have). Browsers match the prefix without
/// regard to case, and so does this check.
fn has_host_prefix(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("__Host-"))
}

fn check_host_prefix(name: &str, path: &str) -> Result<(), ConfigError> {
    if has_host_prefix(name) && path != "/" {
        return Err(invalid(
            "refresh cookie path",
            "a __Host- cookie must have Path=/",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use proptest::prelude::*;

    use super::*;
    use crate::refresh_token::RefreshToken;

    const NOW: i64 = 1_700_000_000;

    fn at(offset: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(NOW + offset).unwrap()
    }

    fn access() -> AccessToken {
        AccessToken::from_string("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".to_owned())
    }

    fn refresh() -> RefreshToken {
        RefreshToken::from_string("skr_AAAA-_bb".to_owned())
    }

    /// The attributes of a `Set-Cookie` value, lowercased, without the pair.
    fn attributes(set_cookie: &str) -> Vec<String> {
        let mut attrs: Vec<String> = set_cookie
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        attrs.sort();
        attrs
    }

    #[test]
    fn sec_35_access_cookie_attributes() {
        let c = CookieConfig::default().access_cookie(&access(), at(3600), at(0));
        assert!(c.starts_with("__Host-sk-access=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln;"));
        assert_eq!(
            attributes(&c),
            [
                "httponly",
                "max-age=3600",
                "path=/",
                "samesite=strict",
                "secure"
            ]
        );
        assert!(!c.to_ascii_lowercase().contains("domain"));
    }

    #[test]
    fn sec_35_lax_is_opt_in() {
        let c = CookieConfig::default()
            .same_site_lax()
            .access_cookie(&access(), at(60), at(0));
        assert!(attributes(&c).contains(&"samesite=lax".to_owned()));
        assert!(attributes(&c).contains(&"secure".to_owned()));
    }

    #[test]
    fn sec_35_same_site_none_only_through_dangerous() {
        let strict = CookieConfig::default();
        assert_eq!(strict.same_site(), SameSite::Strict);
        assert_eq!(strict.clone().same_site_lax().same_site(), SameSite::Lax);
        let none = CookieConfig::default().dangerous().allow_same_site_none();
        assert_eq!(none.same_site(), SameSite::None);
        for c in [
            none.access_cookie(&access(), at(60), at(0)),
            none.refresh_cookie(&refresh(), at(60), at(0)),
            none.clear_access_cookie(),
        ] {
            let attrs = attributes(&c);
            assert!(attrs.contains(&"samesite=none".to_owned()), "{c}");
            assert!(attrs.contains(&"secure".to_owned()), "{c}");
            assert!(attrs.contains(&"httponly".to_owned()), "{c}");
        }
    }

    #[test]
    fn sec_36_refresh_cookie_scoped_to_refresh_path() {
        let c = CookieConfig::default().refresh_cookie(&refresh(), at(7 * 86400), at(0));
        assert!(c.starts_with("__Secure-sk-refresh=skr_AAAA-_bb;"));
        assert_eq!(
            attributes(&c),
            [
                "httponly",
                "max-age=604800",
                "path=/auth",
                "samesite=strict",
                "secure"
            ]
        );
        let custom = CookieConfig::default()
            .refresh_path("/api/v1/token")
            .unwrap()
            .refresh_cookie(&refresh(), at(10), at(0));
        assert!(attributes(&custom).contains(&"path=/api/v1/token".to_owned()));
    }

    #[test]
    fn sec_12_clear_cookies_match_name_path_and_secure() {
        let config = CookieConfig::default()
            .refresh_path("/session/refresh")
            .unwrap()
            .access_name("__Host-app")
            .unwrap();
        let pairs = [
            (
                config.access_cookie(&access(), at(10), at(0)),
                config.clear_access_cookie(),
            ),
            (
                config.refresh_cookie(&refresh(), at(10), at(0)),
                config.clear_refresh_cookie(),
            ),
        ];
        for (set, clear) in pairs {
            let name = |c: &str| c.split('=').next().unwrap().to_owned();
            assert_eq!(name(&set), name(&clear));
            assert!(clear.starts_with(&format!("{}=;", name(&set))), "{clear}");
            let keep = |c: &str| {
                attributes(c)
                    .into_iter()
                    .filter(|a| !a.starts_with("max-age"))
                    .collect::<Vec<_>>()
            };
            assert_eq!(keep(&set), keep(&clear));
            assert!(attributes(&clear).contains(&"max-age=0".to_owned()));
        }
    }

    #[test]
    fn max_age_never_negative() {
        let c = CookieConfig::default().access_cookie(&access(), at(-5), at(0));
        assert!(attributes(&c).contains(&"max-age=0".to_owned()));
    }

    #[test]
    fn names_and_paths_are_validated() {
        let c = CookieConfig::default();
        assert!(c.clone().access_name("").is_err());
        assert!(c.clone().access_name("a b").is_err());
        assert!(c.clone().access_name("a;b").is_err());
        assert!(c.clone().access_name("__Secure-sk-refresh").is_err());
        assert!(c.clone().refresh_name("__Host-sk-access").is_err());
        assert!(c.clone().refresh_path("auth/refresh").is_err());
        assert!(c.clone().refresh_path("/a;b").is_err());
        assert!(c.clone().refresh_path("/a b").is_err());
        // `__Host-` requires Path=/, in either order of the settings.
        assert!(c.clone().refresh_name("__Host-refresh").is_err());
        assert!(c.clone().refresh_name("__host-refresh").is_err());
        let root = c.clone().refresh_path("/").unwrap();
        let host = root.refresh_name("__Host-refresh").unwrap();
        assert!(host.clone().refresh_path("/auth/refresh").is_err());
        assert_eq!(host.refresh_cookie_path(), "/");
    }

    #[test]
    fn reads_the_named_cookie() {
        let c = CookieConfig::default();
        let header: &[u8] = b"theme=dark; __Host-sk-access=abc.def.ghi;other=1";
        assert_eq!(c.access_token_from_cookies([header]), Ok("abc.def.ghi"));
        assert_eq!(
            c.refresh_token_from_cookies([header]),
            Err(TokenSourceError::Missing)
        );
        let split: [&[u8]; 2] = [b"a=1", b"__Secure-sk-refresh=skr_x"];
        assert_eq!(c.refresh_token_from_cookies(split), Ok("skr_x"));
        assert_eq!(
            c.access_token_from_cookies([b"__Host-sk-access=".as_slice()]),
            Err(TokenSourceError::Malformed)
        );
        assert_eq!(
            c.access_token_from_cookies([b"__Host-sk-access=\"abc\"".as_slice()]),
            Err(TokenSourceError::Malformed)
        );
    }

    #[test]
    fn sec_37_duplicate_session_cookie_rejected() {
        let c = CookieConfig::default();
        let same_header: &[u8] = b"__Host-sk-access=a.b.c; __Host-sk-access=a.b.c";
        assert_eq!(
            c.access_token_from_cookies([same_header]),
            Err(TokenSourceError::Duplicate)
        );
        let two_headers: [&[u8]; 2] = [b"__Host-sk-access=a.b.c", b"__Host-sk-access=x.y.z"];
        assert_eq!(
            c.access_token_from_cookies(two_headers),
            Err(TokenSourceError::Duplicate)
        );
        let empty_second: &[u8] = b"__Host-sk-access=a.b.c; __Host-sk-access=";
        assert_eq!(
            c.access_token_from_cookies([empty_second]),
            Err(TokenSourceError::Duplicate)
        );
    }

    #[test]
    fn sec_37_cookie_names_not_normalised() {
        let c = CookieConfig::default();
        for header in [
            b"__host-sk-access=a.b.c".as_slice(),
            b"__HOST-SK-ACCESS=a.b.c",
            b"__Host-sk-access%20=a.b.c",
            b"Host-sk-access=a.b.c",
        ] {
            assert_eq!(
                c.access_token_from_cookies([header]),
                Err(TokenSourceError::Missing),
                "{}",
                String::from_utf8_lossy(header)
            );
        }
        // A look-alike does not count as a duplicate either.
        let header: &[u8] = b"__host-sk-access=evil.x.y; __Host-sk-access=a.b.c";
        assert_eq!(c.access_token_from_cookies([header]), Ok("a.b.c"));
    }

    #[test]
    fn sec_06_bearer_token_parsing() {
        fn ok(h: &[u8]) -> Result<&str, TokenSourceError> {
            token_from_authorization([h])
        }
        assert_eq!(ok(b"Bearer abc.def.ghi"), Ok("abc.def.ghi"));
        assert_eq!(ok(b"bearer abc"), Ok("abc"));
        assert_eq!(ok(b"BEARER abc"), Ok("abc"));
        for bad in [
            b"Bearer".as_slice(),
            b"Bearer ",
            b"Bearer  abc",
            b"Bearer abc def",
            b"Bearer abc ",
            b"Bearer\tabc",
            b"Basic YWxpY2U6cHc=",
            b"Bearerabc",
            b"Bearer a\"b",
            b"Bearer \xff\xfe",
            b"",
        ] {
            assert_eq!(
                ok(bad),
                Err(TokenSourceError::Malformed),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            token_from_authorization(std::iter::empty()),
            Err(TokenSourceError::Missing)
        );
        let two: [&[u8]; 2] = [b"Bearer a", b"Bearer b"];
        assert_eq!(
            token_from_authorization(two),
            Err(TokenSourceError::Duplicate)
        );
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert_eq!(ok(long.as_bytes()), Err(TokenSourceError::Malformed));
    }

    /// SEC-06: the only ways in are header values (cookie or
    /// `Authorization`); nothing here takes a URL or a query string. A
    /// URL handed over as a header value is no token.
    #[test]
    fn sec_06_tokens_never_read_from_a_url() {
        let c = CookieConfig::default();
        let url: &[u8] = b"https://example.com/?access_token=abc.def.ghi";
        assert_eq!(
            c.access_token_from_cookies([url]),
            Err(TokenSourceError::Missing)
        );
        assert_eq!(
            token_from_authorization([url]),
            Err(TokenSourceError::Malformed)
        );
        let query: &[u8] = b"access_token=abc.def.ghi&__Host-sk-access=abc";
        assert_eq!(
            c.access_token_from_cookies([query]),
            Err(TokenSourceError::Missing)
        );
    }

    proptest! {
        #[test]
        fn cookie_parser_never_panics(headers in proptest::collection::vec(any::<Vec<u8>>(), 0..4), name in ".{0,20}") {
            let _ = token_from_cookies(headers.iter().map(Vec::as_slice), &name);
            let _ = CookieConfig::default().access_token_from_cookies(headers.iter().map(Vec::as_slice));
        }

        #[test]
        fn authorization_parser_never_panics(headers in proptest::collection::vec(any::<Vec<u8>>(), 0..3)) {
            let _ = token_from_authorization(headers.iter().map(Vec::as_slice));
        }

        #[test]
        fn bearer_round_trip(token in "[A-Za-z0-9._~+/-]{1,200}") {
            let header = format!("Bearer {token}");
            prop_assert_eq!(token_from_authorization([header.as_bytes()]), Ok(token.as_str()));
        }

        #[test]
        fn cookie_round_trip(token in "[A-Za-z0-9._-]{1,200}", before in "[a-z]{1,8}") {
            let header = format!("{before}=1; __Host-sk-access={token}; z=2");
            prop_assert_eq!(
                CookieConfig::default().access_token_from_cookies([header.as_bytes()]),
                Ok(token.as_str())
            );
        }

        #[test]
        fn config_setters_never_panic(name in ".{0,40}", path in ".{0,40}") {
            let _ = CookieConfig::default().access_name(name.clone());
            let _ = CookieConfig::default().refresh_name(name);
            let _ = CookieConfig::default().refresh_path(path);
        }
    }

    #[test]
    fn sharing_with_subdomains_is_dangerous_and_drops_the_host_prefix() {
        let shared = CookieConfig::default()
            .dangerous()
            .domain("Example.com")
            .unwrap();
        assert_eq!(shared.domain(), Some("example.com"));
        assert_eq!(shared.access_cookie_name(), DEFAULT_SHARED_ACCESS_COOKIE);
        for c in [
            shared.access_cookie(&access(), at(60), at(0)),
            shared.refresh_cookie(&refresh(), at(60), at(0)),
            shared.clear_access_cookie(),
            shared.clear_refresh_cookie(),
        ] {
            let attrs = attributes(&c);
            assert!(attrs.contains(&"domain=example.com".to_owned()), "{c}");
            assert!(attrs.contains(&"secure".to_owned()), "{c}");
            assert!(attrs.contains(&"httponly".to_owned()), "{c}");
            assert!(!c.starts_with("__Host-"), "{c}");
        }
        // The default has no Domain at all.
        for c in [
            CookieConfig::default().access_cookie(&access(), at(60), at(0)),
            CookieConfig::default().refresh_cookie(&refresh(), at(60), at(0)),
        ] {
            assert!(!c.to_ascii_lowercase().contains("domain"), "{c}");
        }
        // A __Host- name and a Domain cannot go together.
        assert!(
            CookieConfig::default()
                .access_name("__Host-mine")
                .unwrap()
                .dangerous()
                .domain("example.com")
                .is_err()
        );
        assert!(shared.clone().access_name("__Host-mine").is_err());
        for bad in [
            "",
            ".example.com",
            "example.com.",
            "exa mple.com",
            "a;b",
            "a..b",
        ] {
            assert!(
                CookieConfig::default().dangerous().domain(bad).is_err(),
                "{bad:?}"
            );
        }
    }
}
