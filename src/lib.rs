//! Session management for Rust services: short-lived JWT access tokens,
//! single-use rotating refresh tokens with theft detection, and a pluggable
//! store.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use sessionkit::{MemoryStore, RefreshError, RefreshKey, SessionManager, SigningKey};
//! use serde_json::json;
//!
//! let manager = SessionManager::builder(MemoryStore::new())
//!     .signing_key(SigningKey::hs256("2026-11", &[7u8; 32])?) // load from your secret store
//!     .refresh_key(RefreshKey::new(1, &[9u8; 32])?)
//!     .build()?;
//!
//! // Log in: one session, two tokens.
//! let session = manager.create("user-42").claims(json!({ "role": "admin" })).await?;
//!
//! // Every request: verify the access token, no store involved.
//! let verified = manager.verify(session.access_token.expose())?;
//! assert_eq!(verified.user_id(), "user-42");
//!
//! // When it expires: rotate. Each refresh token works once.
//! let second = manager.refresh(session.refresh_token.expose()).await?;
//! let third = manager.refresh(second.refresh_token.expose()).await?;
//!
//! // A copy of a retired refresh token, used later, is theft: the whole
//! // session is revoked, and the owner's newest token stops working too.
//! let replay = manager.refresh(session.refresh_token.expose()).await;
//! assert!(matches!(replay, Err(RefreshError::TokenTheftDetected { .. })));
//! assert!(manager.refresh(third.refresh_token.expose()).await.is_err());
//! # Ok(())
//! # }
//! ```
//!
//! # The model
//!
//! - **Access token**: a compact JWS (`typ: at+jwt`) carrying `sub`, `sid`
//!   (the session handle), `gen`, `iat`, `exp`, `auth_time` and your custom
//!   claims. [`SessionManager::verify`] checks it without the store;
//!   [`SessionManager::verify_strict`] also asks the store, so revocation
//!   is immediate.
//! - **Refresh token**: opaque, single use, sealed with an HMAC so forged
//!   tokens are rejected before the store is read. Each refresh retires the
//!   presented token. Presenting a retired token again (outside a short
//!   grace window for lost responses and concurrent tabs) means it was
//!   copied: the session is revoked and [`RefreshError::TokenTheftDetected`]
//!   is returned.
//! - **Store**: [`SessionStore`](store::SessionStore) is seven atomic
//!   operations; rotation is one compare-and-swap, so every store that keeps
//!   the contract gets race-free rotation and theft detection. A store may
//!   also implement
//!   [`rotate_if_current`](store::SessionStore::rotate_if_current), so that
//!   a refresh takes one round trip instead of two. [`MemoryStore`] ships
//!   with the crate (feature `memory-store`, on by default); the `testing`
//!   feature exports the conformance suite for your own store.
//!
//! # Services that only verify
//!
//! Sign with an EdDSA key ([`SigningKey::generate_ed25519`]) and other
//! services need no secret: publish [`SessionManager::jwks_json`] at
//! `/.well-known/jwks.json` and give them a [`Verifier`], which runs the same
//! checks as [`SessionManager::verify`] with public keys only. To rotate,
//! announce the next key with
//! [`upcoming_signing_key`](SessionManagerBuilder::upcoming_signing_key)
//! first, then make it the signing key and retire the old one: nobody is
//! logged out. A [`Verifier`] with a [`JwksSource`](jwks::JwksSource) also
//! picks up keys it has not seen yet, fetching at most once a minute.
//!
//! # Custom claims
//!
//! Custom access claims are a JSON object (`serde_json::Value`), not a type
//! parameter: the store stays non-generic, a store written once serves every
//! application, and services in other languages read the same claims. Read
//! them back typed with [`Verified::claims_as`].
//!
//! # Where things are
//!
//! The crate root is the application's API: the manager, the tokens, the
//! keys, the verifier, the events and the errors. The rest is grouped by
//! who needs it:
//!
//! - [`store`]: for store authors: the [`SessionStore`](store::SessionStore)
//!   trait and the record types it speaks of.
//! - [`web`]: framework-agnostic HTTP: cookies, token sources, CSRF, and
//!   the session protocol (login, refresh, logout) integrations adapt.
//! - [`jwks`]: publishing and loading public keys.
//! - [`config`]: the defaults, with their reasons, and the theft policy.
//! - [`clock`]: the clock, and a manual one for tests.
//! - [`dangerous`]: operations that skip a check on purpose.
//! - `testing` (feature): the conformance, fault and history suites.
//!
//! # Features
//!
//! - `memory-store` (default): [`MemoryStore`].
//! - `testing`: the store test kit: `testing::run_store_suite`,
//!   `testing::run_instance_suite`, `testing::CountingStore` and more.
//! - `tracing`: `tracing` events for security decisions, with session
//!   handles but never token material.
#![forbid(unsafe_code)]

mod access_token;
pub mod clock;
pub mod config;
mod cookies;
mod csrf;
mod error;
mod events;
pub mod jwks;
mod keys;
mod log;
mod manager;
#[cfg(feature = "memory-store")]
mod memory_store;
mod random;
mod record;
mod refresh_token;
mod rotation;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod verifier;
mod verify_cache;

pub use crate::access_token::{AccessToken, Verified};
pub use crate::error::{
    ConfigError, RandomError, RefreshError, Rejection, SessionError, VerifyError,
};
pub use crate::events::{EventHook, RevokeReason, SessionEvent};
pub use crate::keys::{Algorithm, SigningKey, VerifyingKey};
pub use crate::manager::{
    CreateSession, ReissueSession, SessionInfo, SessionManager, SessionManagerBuilder,
    SessionTokens,
};
#[cfg(feature = "memory-store")]
pub use crate::memory_store::MemoryStore;
pub use crate::record::SessionHandle;
pub use crate::refresh_token::{RefreshKey, RefreshToken};
pub use crate::verifier::{Verifier, VerifierBuilder};

pub mod web {
    //! Framework-agnostic HTTP helpers: the session cookies and their
    //! attributes, reading a token from a request, the CSRF check for
    //! cookie-authenticated requests, and the session protocol every
    //! framework integration speaks.
    //!
    //! [`SessionProtocol`] is that protocol, with no framework and no HTTP
    //! crate: the configuration ([`Transport`], [`Paths`], cookies, CSRF),
    //! reading a request's token ([`RequestHeaders`]), the login flow
    //! ([`LoginRequest`], [`PendingLogin`]) and the session routes (refresh,
    //! logout, logout everywhere, the session list, revoking one session,
    //! the JWKS, the browser client). Each operation answers with an
    //! [`Answer`] (status, headers, body) or a [`Refusal`]
    //! (`{"error": code}`); an integration only moves headers and bodies
    //! between its framework's types and these.

    mod answer;
    mod backend;
    mod login;
    mod paths;
    mod protocol;
    mod routes;
    mod transport;

    pub use self::answer::{Answer, Refusal};
    pub use self::login::{LoginRequest, PendingLogin};
    pub use self::paths::Paths;
    pub use self::protocol::{SessionProtocol, SessionProtocolBuilder};
    pub use self::transport::{
        AUTH_MODE_HEADER, RequestHeaders, TokenSource, Transport, is_state_changing,
    };
    pub use crate::cookies::{
        CookieConfig, DEFAULT_ACCESS_COOKIE, DEFAULT_REFRESH_COOKIE, DEFAULT_REFRESH_PATH,
        DEFAULT_SHARED_ACCESS_COOKIE, DangerousCookieConfig, SameSite, token_from_authorization,
        token_from_cookies,
    };
    pub use crate::csrf::CsrfPolicy;
    pub use crate::error::{CsrfError, LogoutReason, TokenSourceError};

    /// The browser client: a small dependency-free ES module that every
    /// framework integration serves at `GET /sessionkit.js`, so that a page
    /// needs no script of its own to keep its session alive.
    ///
    /// ```js
    /// import { createClient } from "/sessionkit.js";
    /// const sk = createClient({ onLoggedOut: (reason) => showLogin(reason) });
    /// const answer = await sk.fetch("/api/me");
    /// ```
    ///
    /// What it does:
    ///
    /// - `fetch(input, init)` sends the session cookies (same origin). On a
    ///   401 it refreshes the session once, then retries the request.
    /// - Refreshes are serialised across the tabs of a browser with a Web
    ///   Lock. A tab that had to wait for the lock, or that sees a refresh
    ///   counter kept in `localStorage` (read before the request) change,
    ///   knows that another tab has refreshed meanwhile: it retries with the
    ///   new cookie instead of presenting the refresh token that has just
    ///   been retired, and refreshes only if that retry is refused too. The
    ///   wait is what counts: another tab's `localStorage` write can reach a
    ///   tab after the lock does. Two tabs therefore never refresh with the
    ///   same token, and never trigger a false theft alarm, even with a
    ///   grace window of 0.
    /// - When the refresh fails with 401, `onLoggedOut(reason)` is called
    ///   with the `reason` of the refresh answer's JSON body (`theft`,
    ///   `signed_out` or `expired`, see [`LogoutReason`]); with `expired`
    ///   when the server gave none but the session's time is up (the
    ///   browser has then dropped the cookies, so the server saw no token;
    ///   the client keeps the deadline from the last login or refresh
    ///   answer's `session_expires_in`, until the next login or logout).
    ///   That `expired` is the client's inference from its clock: a session
    ///   revoked while the browser was away, once its cookies have lapsed,
    ///   reads as expired too. Otherwise `null`. A page tells the user what
    ///   happened.
    /// - `login(credentials)`, `logout()` (works with the refresh cookie
    ///   alone), `logoutEverywhere()`, `sessions()` and
    ///   `revokeSession(handle)` call the session routes; `createClient`
    ///   takes `paths` when the routes are mounted elsewhere.
    ///
    /// Serve it with `Content-Type: text/javascript; charset=utf-8`.
    pub const BROWSER_CLIENT_JS: &str = include_str!("web/sessionkit.js");
}

pub mod dangerous {
    //! Operations that skip a check on purpose. Every use should be rare
    //! enough to be read twice in review.

    pub use crate::manager::DangerousSessionManager;
}
