//! [axum] integration for [sessionkit]: session extractors with the CSRF
//! check built in, the session routes (refresh, logout, logout everywhere,
//! the session list, the JWKS, the browser client), and a login helper, all
//! from one configuration value, [`Sessions`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::body::Body;
//! use axum::routing::{get, post};
//! use axum::{Json, Router};
//! use http::{Request, StatusCode};
//! use serde_json::{Value, json};
//! use sessionkit::web::CsrfPolicy;
//! use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
//! use sessionkit_axum::{LoggedIn, Login, Session, SessionRejection, Sessions};
//! use tower::ServiceExt as _;
//!
//! let manager = SessionManager::builder(MemoryStore::new())
//!     .signing_key(SigningKey::generate_hs256("k1")?) // load from your secret store
//!     .refresh_key(RefreshKey::generate(1)?)
//!     .build()?;
//! let sessions = Sessions::builder(manager)
//!     .csrf(CsrfPolicy::new(["https://app.example.com"])?)
//!     .build()?;
//!
//! async fn login(login: Login) -> Result<LoggedIn, SessionRejection> {
//!     // Check the credentials here (rate-limited, with a slow hash) ...
//!     login.create("alice").await
//! }
//!
//! async fn me(session: Session) -> Json<Value> {
//!     Json(json!({ "user_id": session.user_id() }))
//! }
//!
//! let app = Router::new()
//!     .route("/auth/login", post(login))
//!     .route("/api/me", get(me))
//!     .merge(sessions.router())
//!     .with_state(sessions);
//!
//! // Log in: the session arrives in two cookies.
//! let login = Request::post("/auth/login")
//!     .header("origin", "https://app.example.com")
//!     .body(Body::empty())?;
//! let answer = app.clone().oneshot(login).await?;
//! assert_eq!(answer.status(), StatusCode::OK);
//! let cookies: Vec<String> = answer
//!     .headers()
//!     .get_all("set-cookie")
//!     .iter()
//!     .filter_map(|c| c.to_str().ok()?.split(';').next().map(str::to_owned))
//!     .collect();
//! assert!(cookies[0].starts_with("__Host-sk-access="));
//!
//! // The access cookie authenticates the next request.
//! let me = Request::get("/api/me").header("cookie", &cookies[0]).body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(me).await?.status(), StatusCode::OK);
//!
//! // Without it: 401 {"error":"unauthorized"}.
//! let anonymous = Request::get("/api/me").body(Body::empty())?;
//! assert_eq!(app.oneshot(anonymous).await?.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```
//!
//! # Extractors
//!
//! - [`Session`]: the access token verified without a store round trip;
//!   401 `{"error":"try_refresh_token"}` when it has expired (the client
//!   refreshes and retries), 401 `{"error":"unauthorized"}` otherwise.
//!   `Option<Session>` is `None` when the request carries no token.
//! - [`StrictSession`]: also checked against the store, so that revocation
//!   is immediate.
//! - [`Login`]: the login helper (see its documentation).
//!
//! In cookie mode every state-changing request (`POST`, `PUT`, `PATCH`,
//! `DELETE`, ...) passes the [`CsrfPolicy`](sessionkit::web::CsrfPolicy)
//! before the handler runs: 403 `{"error":"csrf"}` (SEC-38). Tokens are
//! read from the configured cookie or `Authorization: Bearer`, never from
//! the URL (SEC-06), and a duplicated session cookie is refused (SEC-37).
//!
//! # Transport
//!
//! [`Transport::Cookies`] (the default) keeps tokens in two `HttpOnly`
//! cookies; [`Transport::Headers`] hands them to the client in JSON and
//! reads `Authorization: Bearer`; [`Transport::Both`] does the former
//! unless a request says `X-Auth-Mode: header` (or carries a bearer token).
//!
//! # The protocol
//!
//! Everything here that does not depend on the framework (the configuration
//! and its checks, the token source and the CSRF gate, the login flow, the
//! session routes' answers, the error bodies) is
//! [`sessionkit::web::SessionProtocol`], which [`Sessions`] derefs to; this
//! crate turns requests into its inputs and its
//! [`Answer`](sessionkit::web::Answer)s into responses. [`Transport`],
//! [`Paths`] and [`TokenSource`] are re-exported from `sessionkit::web`, and
//! [`SessionsBuilder`] is its builder. With [`Transport::Headers`] no answer
//! sets or clears a cookie.
//!
//! # Resource services
//!
//! [`Sessions::verify_only`] takes a [`sessionkit::Verifier`] (public keys
//! from a JWKS, no store, no secret) instead of a manager: the same
//! [`Session`] extractor then works in a service that only verifies.
//!
//! # Sharing a session with subdomains
//!
//! Give [`SessionsBuilder::cookies`] a `CookieConfig::dangerous().domain("example.com")`:
//! every cookie the integration sets and clears carries that domain and the
//! configured names (the access cookie becomes `__Secure-sk-access`, as a
//! `__Host-` cookie cannot have a domain). Every subdomain can then read
//! the session and plant cookies that shadow it: do it only when all of
//! them are as trusted as the application itself.
//!
//! # The browser client
//!
//! The router serves [`sessionkit::web::BROWSER_CLIENT_JS`] at
//! `/sessionkit.js`: a `fetch` wrapper that refreshes on a 401, one tab at
//! a time, and reports why a session ended.
#![forbid(unsafe_code)]

mod config;
mod extract;
mod login;
mod response;
mod routes;

pub use crate::config::{Sessions, SessionsBuilder};
pub use crate::extract::{Session, StrictSession};
pub use crate::login::{CreateLogin, LoggedIn, Login};
pub use crate::response::{
    SessionRejection, error_response, method_not_allowed, no_store, not_found,
};
pub use sessionkit::web::{AUTH_MODE_HEADER, Paths, TokenSource, Transport};
