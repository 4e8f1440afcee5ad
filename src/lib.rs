//! sessionkit
#![forbid(unsafe_code)]

mod access_token;
mod clock;
mod error;
mod keys;
mod store;

pub use crate::access_token::{AccessToken, RESERVED_CLAIMS, Verified};
pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::error::{
    ConfigError, RandomError, RefreshError, Rejection, SessionError, StoreError, VerifyError,
};
pub use crate::keys::{Algorithm, SigningKey};
pub use crate::store::{
    ParseHandleError, RotationNonce, SessionHandle, SessionRecord, SessionStore, TokenHash,
};
