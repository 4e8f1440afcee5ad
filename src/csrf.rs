//! Cross-site request forgery checks for cookie-authenticated requests
//! (SEC-38).
//!
//! Browsers attach cookies to requests that other sites trigger. `SameSite`
//! cookies already stop most of them; this check is the second line: a
//! state-changing request authenticated by a cookie (refresh and logout
//! included) must come from one of your own origins.

use crate::error::{ConfigError, CsrfError};

/// The origins allowed to make cookie-authenticated state-changing
/// requests, and the check that enforces it.
///
/// ```
/// use sessionkit::web::{CsrfError, CsrfPolicy};
///
/// let policy = CsrfPolicy::new(["https://app.example.com"])?;
/// let origin = |o: &'static str| Some(o.as_bytes());
/// assert!(policy.check(origin("https://app.example.com"), None).is_ok());
/// assert_eq!(
///     policy.check(origin("https://evil.example"), None),
///     Err(CsrfError::OriginNotAllowed)
/// );
/// assert_eq!(
///     policy.check(None, Some(b"cross-site".as_slice())),
///     Err(CsrfError::CrossSite)
/// );
/// # Ok::<(), sessionkit::ConfigError>(())
/// ```
///
/// Apply it to every `POST`, `PUT`, `PATCH` and `DELETE` that a cookie
/// authenticates. Requests authenticated with `Authorization: Bearer` need
/// no such check: no browser attaches that header on its own.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CsrfPolicy {
    allowed: Vec<String>,
}

impl CsrfPolicy {
    /// A policy allowing exactly these origins, each written
    /// `scheme://host` or `scheme://host:port` (no path, no trailing
    /// slash). Scheme and host are compared without regard to ASCII case;
    /// ports are compared as written, so list `https://example.com`, not
    /// `https://example.com:443`, as browsers omit default ports.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSetting`] if an origin is not of that form.
    pub fn new<I>(allowed_origins: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let allowed = allowed_origins
            .into_iter()
            .map(|o| {
                normalise_origin(o.as_ref().as_bytes()).ok_or(ConfigError::InvalidSetting {
                    name: "allowed origin",
                    reason: "must be scheme://host or scheme://host:port",
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { allowed })
    }

    /// The allowed origins, lowercased.
    pub fn allowed_origins(&self) -> impl Iterator<Item = &str> {
        self.allowed.iter().map(String::as_str)
    }

    /// Checks a cookie-authenticated state-changing request, given the
    /// values of its `Origin` and `Sec-Fetch-Site` headers (pass every one;
    /// `Option<&[u8]>` works for a single header).
    ///
    /// A request is rejected when `Sec-Fetch-Site` says `cross-site`, or
    /// when it has an `Origin` that is not in the allowed list (`null`
    /// included). A request with neither header is not rejected for that
    /// alone: it does not come from a browser that would attach cookies on
    /// another site's behalf.
    ///
    /// # Errors
    /// [`CsrfError::CrossSite`] or [`CsrfError::OriginNotAllowed`].
    pub fn check<'a>(
        &self,
        origin: impl IntoIterator<Item = &'a [u8]>,
        sec_fetch_site: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<(), CsrfError> {
        if sec_fetch_site
            .into_iter()
            .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"cross-site"))
        {
            return Err(CsrfError::CrossSite);
        }
        for value in origin {
            let allowed =
                normalise_origin(value.trim_ascii()).is_some_and(|o| self.allowed.contains(&o));
            if !allowed {
                return Err(CsrfError::OriginNotAllowed);
            }
        }
        Ok(())
    }
}

/// `scheme://host[:port]`, lowercased; `None` for anything else (`null`
/// included).
fn normalise_origin(origin: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(origin).ok()?;
    let (scheme, rest) = text.split_once("://")?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let (host, port) = match rest.rsplit_once(':') {
        // An IPv6 literal has colons of its own: `[::1]:8080` or `[::1]`.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    (scheme_ok && host_ok && port_ok).then(|| text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {

    use proptest::prelude::*;

    use super::*;

    fn policy() -> CsrfPolicy {
        CsrfPolicy::new(["https://app.example.com", "http://127.0.0.1:3000"]).unwrap()
    }

    fn check(origin: Option<&str>, site: Option<&str>) -> Result<(), CsrfError> {
        policy().check(origin.map(str::as_bytes), site.map(str::as_bytes))
    }

    #[test]
    fn sec_38_cross_site_rejected() {
        assert_eq!(check(None, Some("cross-site")), Err(CsrfError::CrossSite));
        assert_eq!(
            check(Some("https://app.example.com"), Some("cross-site")),
            Err(CsrfError::CrossSite)
        );
        assert_eq!(check(None, Some("Cross-Site")), Err(CsrfError::CrossSite));
        let two: [&[u8]; 2] = [b"same-origin", b"cross-site"];
        assert_eq!(policy().check(None, two), Err(CsrfError::CrossSite));
    }

    #[test]
    fn sec_38_foreign_origin_rejected() {
        for origin in [
            "https://evil.example",
            "https://app.example.com.evil.example",
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://app.example.com/",
            "http://127.0.0.1:30000",
            "null",
            "",
            "app.example.com",
        ] {
            assert_eq!(
                check(Some(origin), None),
                Err(CsrfError::OriginNotAllowed),
                "{origin}"
            );
        }
        // Any foreign value among several `Origin` headers is a rejection.
        let two: [&[u8]; 2] = [b"https://app.example.com", b"https://evil.example"];
        assert_eq!(policy().check(two, None), Err(CsrfError::OriginNotAllowed));
    }

    #[test]
    fn sec_38_own_origin_accepted() {
        assert_eq!(check(Some("https://app.example.com"), None), Ok(()));
        assert_eq!(
            check(Some("HTTPS://App.Example.COM"), Some("same-origin")),
            Ok(())
        );
        assert_eq!(
            check(Some("http://127.0.0.1:3000"), Some("same-origin")),
            Ok(())
        );
        assert_eq!(check(None, Some("same-origin")), Ok(()));
        assert_eq!(check(None, Some("none")), Ok(()));
        // Neither header: not a browser acting for another site.
        assert_eq!(check(None, None), Ok(()));
    }

    #[test]
    fn allowed_origins_are_validated() {
        assert!(CsrfPolicy::new(["https://a.example/"]).is_err());
        assert!(CsrfPolicy::new(["https://a.example/path"]).is_err());
        assert!(CsrfPolicy::new(["a.example"]).is_err());
        assert!(CsrfPolicy::new(["null"]).is_err());
        assert!(CsrfPolicy::new(["https://a.example:"]).is_err());
        assert!(CsrfPolicy::new(["https://a.example:99999999"]).is_err());
        let p = CsrfPolicy::new(["HTTPS://A.example", "http://[::1]:8080"]).unwrap();
        assert_eq!(
            p.allowed_origins().collect::<Vec<_>>(),
            ["https://a.example", "http://[::1]:8080"]
        );
        assert_eq!(p.check(Some(b"http://[::1]:8080".as_slice()), None), Ok(()));
    }

    proptest! {
        #[test]
        fn check_never_panics(origin in proptest::option::of(any::<Vec<u8>>()), site in proptest::option::of(any::<Vec<u8>>())) {
            let _ = policy().check(origin.as_deref(), site.as_deref());
        }

        #[test]
        fn new_never_panics(origins in proptest::collection::vec(".{0,40}", 0..3)) {
            let _ = CsrfPolicy::new(origins);
        }
    }
}
