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
//! let session = manager.create("user-42", json!({ "role": "admin" }), json!(null)).await?;
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
//! - **Store**: [`SessionStore`] is seven atomic operations; rotation is one
//!   compare-and-swap, so every store that keeps the contract gets race-free
//!   rotation and theft detection. A store may also implement
//!   [`SessionStore::rotate_if_current`], so that a refresh takes one round
//!   trip instead of two. [`MemoryStore`] ships with the crate
//!   (feature `memory-store`, on by default); the `testing` feature exports
//!   the conformance suite for your own store.
//!
//! # Services that only verify
//!
//! Sign with an EdDSA key ([`SigningKey::generate_ed25519`]) and other
//! services need no secret: publish [`SessionManager::jwks`] at
//! `/.well-known/jwks.json` and give them a [`Verifier`], which runs the same
//! checks as [`SessionManager::verify`] with public keys only. To rotate,
//! announce the next key with
//! [`upcoming_signing_key`](SessionManagerBuilder::upcoming_signing_key)
//! first, then make it the signing key and retire the old one: nobody is
//! logged out. A [`Verifier`] with a [`JwksSource`] also picks up keys it
//! has not seen yet, fetching at most once a minute.
//!
//! # Custom claims
//!
//! Custom access claims are a JSON object (`serde_json::Value`), not a type
//! parameter: the store stays non-generic, a store written once serves every
//! application, and services in other languages read the same claims. Read
//! them back typed with [`Verified::claims_as`].
//!
//! # Features
//!
//! - `memory-store` (default): [`MemoryStore`].
//! - `testing`: the store test kit: [`testing::run_store_suite`],
//!   [`testing::run_instance_suite`], [`testing::CountingStore`] and more.
//! - `tracing`: `tracing` events for security decisions, with session
//!   handles but never token material.
#![forbid(unsafe_code)]

mod access_token;
mod clock;
pub mod config;
mod cookies;
mod csrf;
mod error;
mod events;
mod jwks;
mod keys;
mod manager;
#[cfg(feature = "memory-store")]
mod memory_store;
mod random;
mod refresh_token;
mod rotation;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod verifier;

pub use crate::access_token::{AccessToken, RESERVED_CLAIMS, Verified};
pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::config::TheftPolicy;
pub use crate::cookies::{
    CookieConfig, DEFAULT_ACCESS_COOKIE, DEFAULT_REFRESH_COOKIE, DEFAULT_REFRESH_PATH,
    DangerousCookieConfig, SameSite, token_from_authorization, token_from_cookies,
};
pub use crate::csrf::CsrfPolicy;
pub use crate::error::{
    ConfigError, CsrfError, RandomError, RefreshError, Rejection, SessionError, StoreError,
    TokenSourceError, VerifyError,
};
pub use crate::events::{EventHook, RevokeReason, SessionEvent};
pub use crate::jwks::{Jwks, JwksError, MAX_JWKS_KEYS};
pub use crate::keys::{Algorithm, SigningKey, VerifyingKey};
pub use crate::manager::{SessionInfo, SessionManager, SessionManagerBuilder, SessionTokens};
#[cfg(feature = "memory-store")]
pub use crate::memory_store::MemoryStore;
pub use crate::refresh_token::{RefreshKey, RefreshToken};
pub use crate::store::{
    ParseHandleError, RotateOutcome, Rotation, RotationNonce, SessionHandle, SessionRecord,
    SessionStore, TokenHash,
};
pub use crate::verifier::{DEFAULT_MIN_REFRESH_INTERVAL, JwksSource, Verifier, VerifierBuilder};
