//! The HTTP and browser suites every example application passes, written
//! once, whatever the application's web framework.
//!
//! An application plugs in with one function of the [`StartFn`] shape,
//! `fn(app_common::App, std::net::TcpListener) -> Result<RunningServer, AppError>`:
//! serve the shared application state on the given (bound) listener until
//! the returned [`app_common::RunningServer`] is dropped. The suites build
//! the [`app_common::App`] themselves (store, clock, settings), so that
//! they can move the clock and look into the store, then talk to the
//! application over real HTTP on a loopback port.
//!
//! ```no_run
//! # fn start(_: app_common::App, _: std::net::TcpListener)
//! #     -> Result<app_common::RunningServer, app_common::AppError> { todo!() }
//! use http_contract::{AppKind, Backend, run_http_suite};
//!
//! const APP: AppKind = AppKind { name: "my-app", start };
//!
//! # async fn test() {
//! run_http_suite(&APP, Backend::Memory).await; // every check, fresh app each
//! http_contract::run_browser_suite(&APP).await; // headless Chromium
//! # }
//! ```
//!
//! The checks are listed in [`http::CHECKS`]; their names are the ones
//! SECURITY.md cites.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test harness reports failures by panicking"
)]

mod app;
mod browser;
pub mod client;
pub mod http;

pub use crate::app::{
    AppKind, Backend, Running, StartFn, generous_login_limits, require_services, start,
};
pub use crate::browser::{find_binary, run_browser_suite};
pub use crate::http::run_http_suite;

/// The error type of the harness's fallible steps.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
