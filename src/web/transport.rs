//! How tokens travel, where a request's access token comes from, and the
//! request headers the protocol reads.

/// The request header that selects header mode under [`Transport::Both`]:
/// `X-Auth-Mode: header`.
pub const AUTH_MODE_HEADER: &str = "x-auth-mode";

/// How tokens travel between client and server.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub enum Transport {
    /// Browsers: both tokens in `HttpOnly` cookies, out of reach of page
    /// scripts; every cookie-authenticated state-changing request passes
    /// the [`CsrfPolicy`](crate::web::CsrfPolicy). The default.
    #[default]
    Cookies,
    /// Other clients: the access token in `Authorization: Bearer`, the
    /// refresh token in the JSON body of refresh and logout
    /// (`{"refresh_token": ...}`), new tokens in JSON bodies. No cookie is
    /// ever read or set.
    Headers,
    /// Cookies, except for requests that say `X-Auth-Mode: header` (login,
    /// refresh, logout: tokens in JSON) or carry `Authorization: Bearer`.
    Both,
}

impl Transport {
    /// Whether session cookies may be read and set (every transport but
    /// [`Transport::Headers`]).
    pub fn uses_cookies(self) -> bool {
        self != Self::Headers
    }
}

/// Where a request's access token came from.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum TokenSource {
    /// The access cookie.
    Cookie,
    /// `Authorization: Bearer`.
    Bearer,
}

/// A request's headers, as the session protocol reads them: a framework
/// integration implements it over its own header map.
///
/// The protocol asks for `authorization`, `cookie`, `origin`,
/// `sec-fetch-site`, `user-agent` and [`AUTH_MODE_HEADER`], always in
/// lowercase.
///
/// ```
/// use sessionkit::web::RequestHeaders;
///
/// struct Pairs<'a>(&'a [(&'a str, &'a str)]);
///
/// impl RequestHeaders for Pairs<'_> {
///     fn values(&self, name: &'static str) -> impl Iterator<Item = &[u8]> {
///         self.0
///             .iter()
///             .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
///             .map(|(_, v)| v.as_bytes())
///     }
/// }
/// # let _ = Pairs(&[]);
/// ```
pub trait RequestHeaders {
    /// Every value of the header `name` (lowercase), in the request's
    /// order; HTTP/2 may split cookies over several `cookie` headers.
    fn values(&self, name: &'static str) -> impl Iterator<Item = &[u8]>;

    /// Whether the request has the header `name` at all.
    fn contains(&self, name: &'static str) -> bool {
        self.values(name).next().is_some()
    }

    /// The first value of `name`, if it is visible ASCII (spaces and
    /// tabs allowed).
    fn text(&self, name: &'static str) -> Option<&str> {
        let value = self.values(name).next()?;
        let visible = |b: &u8| *b == b'\t' || (b' '..=b'~').contains(b);
        if !value.iter().all(visible) {
            return None;
        }
        std::str::from_utf8(value).ok()
    }
}

/// Whether an HTTP method changes state, for the CSRF check: anything but
/// `GET`, `HEAD`, `OPTIONS` and `TRACE`.
pub fn is_state_changing(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}
