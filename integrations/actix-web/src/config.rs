//! [`Sessions`]: the one configuration value every extractor, route and the
//! login helper read: the framework-agnostic [`SessionProtocol`] behind an
//! `Arc`.

use std::ops::Deref;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderMap;
use sessionkit::store::SessionStore;
use sessionkit::web::{RequestHeaders, SessionProtocol, SessionProtocolBuilder};
use sessionkit::{SessionManager, Verifier};

use crate::error::SessionRejection;

/// Everything the extractors, the session routes and the login helper
/// need: the session manager (or, for a service that only verifies, a
/// [`Verifier`]), the [`CookieConfig`](sessionkit::web::CookieConfig), the
/// [`CsrfPolicy`](sessionkit::web::CsrfPolicy), the [`Transport`](crate::Transport) and the
/// [`Paths`](crate::Paths).
///
/// Cloning is cheap (one `Arc`). Register it once:
/// `App::new().configure(sessions.configure())` adds it as app data and
/// mounts the session routes; `App::new().app_data(sessions.clone())` adds
/// only the app data, for the extractors. A handler can take it as an
/// argument too.
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
    /// Starts a configuration over a session manager: the application that
    /// logs users in, refreshes and revokes.
    pub fn builder<S: SessionStore>(manager: SessionManager<S>) -> SessionsBuilder {
        SessionsBuilder::new(manager)
    }

    /// Starts a verify-only configuration: [`Session`](crate::Session) and
    /// [`OptionalSession`](crate::OptionalSession) check access tokens with
    /// the verifier's public keys; no store, no secret.
    /// [`StrictSession`](crate::StrictSession) and the login helper need a
    /// manager and answer `500 internal_error` here; of the session routes
    /// only the browser client is served.
    pub fn verify_only(verifier: Verifier) -> SessionsBuilder {
        SessionsBuilder::verify_only(verifier)
    }

    /// Whether a request is answered in header mode (tokens in JSON, no
    /// cookies): the transport is [`Transport::Headers`](crate::Transport::Headers), or
    /// [`Transport::Both`](crate::Transport::Both) and the request says `X-Auth-Mode: header`.
    pub fn is_header_mode(&self, request: &HttpRequest) -> bool {
        self.protocol.is_header_mode(&Head(request.headers()))
    }

    /// The configuration registered with the application.
    pub(crate) fn from_app_data(request: &HttpRequest) -> Result<Self, SessionRejection> {
        request.app_data::<Self>().cloned().ok_or_else(|| {
            log::error!("sessionkit-actix-web: no Sessions in the app data");
            SessionRejection::internal()
        })
    }
}

/// A request's headers, as the protocol reads them.
pub(crate) struct Head<'a>(pub(crate) &'a HeaderMap);

impl RequestHeaders for Head<'_> {
    fn values(&self, name: &'static str) -> impl Iterator<Item = &[u8]> {
        self.0.get_all(name).map(|v| v.as_bytes())
    }
}
