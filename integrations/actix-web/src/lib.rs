//! [sessionkit](https://docs.rs/sessionkit) for actix-web 4: the caller's
//! session as a handler argument, CSRF checks for cookie-authenticated
//! requests, the session routes (refresh, logout, logout everywhere, the
//! session list), and a login helper.
//!
//! ```
//! use actix_web::{App, HttpResponse, http::StatusCode, test, web};
//! use sessionkit::web::CsrfPolicy;
//! use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
//! use sessionkit_actix_web::{LoggedIn, Login, Session, SessionRejection, Sessions, Transport};
//!
//! /// Log in: in cookie mode `Login` has passed the CSRF check; check the
//! /// credentials, then one call.
//! async fn login(login: Login, body: web::Bytes) -> Result<LoggedIn, SessionRejection> {
//!     if body.as_ref() != b"alice:wonderland" {
//!         return Err(SessionRejection::new(StatusCode::UNAUTHORIZED, "invalid_credentials"));
//!     }
//!     login.create("alice").await
//! }
//!
//! /// An ordinary route: the session is an argument.
//! async fn me(session: Session) -> HttpResponse {
//!     HttpResponse::Ok().body(format!("hello {}", session.user_id()))
//! }
//!
//! # #[actix_web::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let manager = SessionManager::builder(MemoryStore::new())
//!     .signing_key(SigningKey::hs256("2026-11", &[7u8; 32])?) // load from your secret store
//!     .refresh_key(RefreshKey::new(1, &[9u8; 32])?)
//!     .build()?;
//! let sessions = Sessions::builder(manager)
//!     .csrf(CsrfPolicy::new(["https://app.example.com"])?)
//!     .transport(Transport::Both) // cookies, or tokens in JSON with `X-Auth-Mode: header`
//!     .build()?;
//!
//! // `HttpServer::new(move || App::new().configure(sessions.configure())...)`
//! let app = test::init_service(
//!     App::new()
//!         .configure(sessions.configure()) // /auth/refresh, /auth/logout, ...
//!         .route("/auth/login", web::post().to(login))
//!         .route("/api/me", web::get().to(me)),
//! )
//! .await;
//!
//! let answer = test::call_service(
//!     &app,
//!     test::TestRequest::post()
//!         .uri("/auth/login")
//!         .insert_header(("origin", "https://app.example.com"))
//!         .set_payload("alice:wonderland")
//!         .to_request(),
//! )
//! .await;
//! assert!(answer.status().is_success());
//! let set_cookies: Vec<&str> = answer
//!     .headers()
//!     .get_all("set-cookie")
//!     .filter_map(|v| v.to_str().ok())
//!     .collect();
//! assert_eq!(set_cookies.len(), 2); // __Host-sk-access, __Secure-sk-refresh
//!
//! // The browser sends the access cookie back.
//! let access = set_cookies[0].split(';').next().unwrap_or_default().to_owned();
//! let me = test::call_service(
//!     &app,
//!     test::TestRequest::get().uri("/api/me").insert_header(("cookie", access)).to_request(),
//! )
//! .await;
//! assert_eq!(test::read_body(me).await, "hello alice");
//! # Ok(())
//! # }
//! ```
//!
//! # The pieces
//!
//! - [`Sessions`]: one configuration value, cheap to clone: the session
//!   manager (or, in a service that only verifies, a
//!   [`Verifier`](sessionkit::Verifier)), the
//!   [`CookieConfig`](sessionkit::web::CookieConfig), the
//!   [`CsrfPolicy`](sessionkit::web::CsrfPolicy), the [`Transport`] and the
//!   [`Paths`]. It carries no store type: handlers do not either.
//! - Extractors: [`Session`] (stateless, no store read), [`OptionalSession`]
//!   (`None` without a token; use it rather than `Option<Session>`, which
//!   actix-web turns into `None` on any rejection) and [`StrictSession`]
//!   (asks the store, so revocation is immediate).
//!   Refusals are `401 {"error":"try_refresh_token"}` (refresh, then
//!   retry), `401 {"error":"unauthorized"}` and `403 {"error":"csrf"}`.
//! - [`Sessions::configure`]: the session routes at the [`Paths`],
//!   `POST /auth/refresh`, `POST /auth/logout`, `POST /auth/logout-all`,
//!   `GET /auth/sessions`, `DELETE /auth/sessions/{handle}`,
//!   `GET /.well-known/jwks.json` and the browser client at
//!   `GET /sessionkit.js`.
//! - [`Login`]: the login helper, an extractor that has passed the CSRF
//!   check; [`Login::create`] makes the session once your handler has
//!   checked the credentials and answers with the cookies (or the tokens).
//! - [`SessionRejection`]: the `{"error": CODE}` answer all of them use,
//!   for your handlers too; [`not_found`] and [`method_not_allowed`] as
//!   default services, [`no_store`] as middleware.
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
//! # Transports
//!
//! With [`Transport::Cookies`] (the default) both tokens live in
//! `HttpOnly` cookies that page scripts never see, and every
//! cookie-authenticated `POST`, `PUT`, `PATCH` or `DELETE`, login, refresh
//! and logout included, must pass the CSRF policy (SEC-38). With
//! [`Transport::Headers`] the access token travels in
//! `Authorization: Bearer`, the refresh token in the JSON body of refresh
//! and logout, new tokens in JSON answers, and no cookie is read or set.
//! [`Transport::Both`] picks per request: `X-Auth-Mode: header` selects
//! headers, and a bearer token is used whenever a request carries one.
//! Tokens are never read from a URL (SEC-06).
//!
//! # Sharing a session with subdomains
//!
//! Give [`SessionsBuilder::cookies`] a
//! `CookieConfig::dangerous().domain("example.com")`: every cookie the
//! integration sets and clears carries that domain and the configured
//! names (the access cookie becomes `__Secure-sk-access`, as a `__Host-`
//! cookie cannot have a domain). Every subdomain can then read the session
//! and plant cookies that shadow it: do it only when all of them are as
//! trusted as the application itself.
//!
//! # The browser client
//!
//! [`Sessions::configure`] serves [`sessionkit::web::BROWSER_CLIENT_JS`] at
//! `/sessionkit.js`: a `fetch` wrapper that refreshes on a 401, one tab at
//! a time, and reports why a session ended.
//!
//! Every answer that carries tokens or per-user data has
//! `Cache-Control: no-store`.
#![forbid(unsafe_code)]

mod config;
mod error;
mod extract;
mod login;
mod routes;

pub use crate::config::{Sessions, SessionsBuilder};
pub use crate::error::{SessionRejection, error_response, method_not_allowed, no_store, not_found};
pub use crate::extract::{OptionalSession, Session, StrictSession};
pub use crate::login::{CreateLogin, LoggedIn, Login};
pub use sessionkit::web::{AUTH_MODE_HEADER, Paths, TokenSource, Transport};
