//! The applications the suites run against: one line each.

use http_contract::AppKind;

/// Every example application. Add yours with its `start` function.
pub(crate) const APPS: &[AppKind] = &[
    AppKind {
        name: "axum",
        start: axum_app::start,
    },
    AppKind {
        name: "actix",
        start: actix_app::start,
    },
];
