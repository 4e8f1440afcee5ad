//! Where the session routes live, and the check that the browser sends the
//! refresh cookie to the routes that need it.

use crate::error::ConfigError;

/// Where the session routes live. The default puts them under `/auth`,
/// the default path of the refresh cookie, which the refresh and logout
/// routes need to receive; building the configuration checks that they do.
///
/// ```
/// use sessionkit::web::{CookieConfig, Paths};
///
/// // Routes under /session: the refresh cookie must follow them.
/// let paths = Paths::under("/session");
/// let cookies = CookieConfig::default().refresh_path("/session")?;
/// assert_eq!(paths.refresh_path(), "/session/refresh");
/// # let _ = cookies;
/// # Ok::<(), sessionkit::ConfigError>(())
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Paths {
    refresh: String,
    logout: String,
    logout_all: String,
    sessions: String,
    jwks: String,
    client_js: String,
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

    /// The refresh route.
    pub fn refresh_path(&self) -> &str {
        &self.refresh
    }

    /// The logout route.
    pub fn logout_path(&self) -> &str {
        &self.logout
    }

    /// The "log out everywhere" route.
    pub fn logout_all_path(&self) -> &str {
        &self.logout_all
    }

    /// The session list; one session is `{sessions_path}/{handle}`.
    pub fn sessions_path(&self) -> &str {
        &self.sessions
    }

    /// The JWKS.
    pub fn jwks_path(&self) -> &str {
        &self.jwks
    }

    /// The browser client.
    pub fn client_js_path(&self) -> &str {
        &self.client_js
    }

    /// Plain paths; the refresh and logout routes under the refresh
    /// cookie's path when cookies are used (`cookie_path`).
    pub(crate) fn check(&self, cookie_path: Option<&str>) -> Result<(), ConfigError> {
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
        if ![&self.refresh, &self.logout]
            .iter()
            .all(|r| under(r, scope))
        {
            return Err(ConfigError::InvalidSetting {
                name: "refresh or logout route",
                reason: "must lie under the refresh cookie's path, or the browser never sends the cookie there",
            });
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
        assert!(!under("/auth", "/auth/"));
    }

    #[test]
    fn route_paths_are_plain() {
        let check = |paths: Paths| paths.check(Some("/auth"));
        assert!(check(Paths::default()).is_ok());
        assert!(check(Paths::default().sessions("/auth/{x}")).is_err());
        assert!(check(Paths::default().jwks("no-slash")).is_err());
        assert!(check(Paths::default().jwks("/jwks?x")).is_err());
        assert!(check(Paths::under("/api")).is_err());
        assert!(Paths::under("/api").check(None).is_ok());
    }
}
