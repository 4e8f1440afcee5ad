//! sessionkit
#![forbid(unsafe_code)]

mod access_token;
mod clock;
pub mod config;
mod error;
mod events;
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

pub use crate::access_token::{AccessToken, RESERVED_CLAIMS, Verified};
pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::config::TheftPolicy;
pub use crate::error::{
    ConfigError, RandomError, RefreshError, Rejection, SessionError, StoreError, VerifyError,
};
pub use crate::events::{EventHook, RevokeReason, SessionEvent};
pub use crate::keys::{Algorithm, SigningKey};
pub use crate::manager::{SessionInfo, SessionManager, SessionManagerBuilder, SessionTokens};
#[cfg(feature = "memory-store")]
pub use crate::memory_store::MemoryStore;
pub use crate::refresh_token::{RefreshKey, RefreshToken};
pub use crate::store::{
    ParseHandleError, RotationNonce, SessionHandle, SessionRecord, SessionStore, TokenHash,
};
