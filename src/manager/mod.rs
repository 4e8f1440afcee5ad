//! The session manager: create, verify, refresh, revoke.
//!
//! One file per concern, all of them `impl` blocks of [`SessionManager`]
//! over the state in `state.rs` (which also verifies): `create.rs` (create,
//! reissue), `refresh.rs` (the refresh table), `revoke.rs` (logout, the
//! session list, updates), `builder.rs`, `dangerous.rs`. Nothing imports
//! this file.

mod builder;
mod create;
mod dangerous;
mod refresh;
mod revoke;
mod state;

pub use self::builder::SessionManagerBuilder;
pub use self::create::{CreateSession, ReissueSession};
pub use self::dangerous::DangerousSessionManager;
pub use self::state::{SessionInfo, SessionManager, SessionTokens};
