//! The one configuration value, [`Sessions`]: the framework-agnostic
//! [`SessionProtocol`] behind an `Arc`.

use std::ops::Deref;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use sessionkit::store::SessionStore;
use sessionkit::web::{RequestHeaders, SessionProtocol, SessionProtocolBuilder};
use sessionkit::{SessionManager, Verifier};

/// Everything the extractors, the login helper and the session routes need,
/// in one value: the manager (or a verifier), the cookies, the CSRF policy,
/// the [`Transport`](crate::Transport) and the [`Paths`](crate::Paths). Cloning is cheap (one `Arc`); make
/// it reachable from your router's state with `axum::extract::FromRef` (or
/// use it as the state).
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
#[derive(Clone, Debug)]
pub struct Sessions {
    protocol: Arc<SessionProtocol>,
}

/// Builds [`Sessions`]; from [`Sessions::builder`] or
/// [`Sessions::verify_only`]. The settings are those of
/// [`SessionProtocolBuilder`].
pub type SessionsBuilder = SessionProtocolBuilder<Sessions>;

/// The protocol's settings and operations: `cookies()`, `transport()`,
/// `paths()`, and the session routes for routes of your own.
impl Deref for Sessions {
    type Target = SessionProtocol;

    fn deref(&self) -> &SessionProtocol {
        &self.protocol
    }
}

impl From<SessionProtocol> for Sessions {
    fn from(protocol: SessionProtocol) -> Self {
        Self {
            protocol: Arc::new(protocol),
        }
    }
}

impl Sessions {
    /// Starts the configuration of an application that issues sessions.
    pub fn builder<S: SessionStore>(manager: SessionManager<S>) -> SessionsBuilder {
        SessionsBuilder::new(manager)
    }

    /// Starts the configuration of a resource service: the [`Session`](crate::Session)
    /// extractor verifies with `verifier` (public keys from a JWKS, no
    /// store, no secret). [`StrictSession`](crate::StrictSession) and the
    /// login helper then answer 500, and [`router`](Self::router) serves
    /// the browser client only.
    pub fn verify_only(verifier: Verifier) -> SessionsBuilder {
        SessionsBuilder::verify_only(verifier)
    }

    /// Whether a request is answered in header mode (tokens in JSON, no
    /// cookies).
    pub fn is_header_mode(&self, headers: &HeaderMap) -> bool {
        self.protocol.is_header_mode(&Head(headers))
    }
}

/// A request's headers, as the protocol reads them.
pub(crate) struct Head<'a>(pub(crate) &'a HeaderMap);

impl RequestHeaders for Head<'_> {
    fn values(&self, name: &'static str) -> impl Iterator<Item = &[u8]> {
        self.0.get_all(name).into_iter().map(HeaderValue::as_bytes)
    }
}
