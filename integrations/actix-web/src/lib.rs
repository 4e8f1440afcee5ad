//! [sessionkit](https://docs.rs/sessionkit) for actix-web 4: the caller's
//! session as a handler argument, CSRF checks for cookie-authenticated
//! requests, the session routes (refresh, logout, logout everywhere, the
//! session list), and a login helper.
//!
//! ```
//! use actix_web::{App, HttpRequest, HttpResponse, http::StatusCode, test, web};
//! use sessionkit::web::CsrfPolicy;
//! use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
//! use sessionkit_actix_web::{ApiError, Session, Sessions, Transport};
//!
//! /// Log in: check the credentials, then one call.
//! async fn login(
//!     sessions: Sessions,
//!     request: HttpRequest,
//!     body: web::Bytes,
//! ) -> Result<HttpResponse, ApiError> {
//!     sessions.check_csrf(&request)?;
//!     if body.as_ref() != b"alice:wonderland" {
//!         return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials"));
//!     }
//!     sessions.login(&request, "alice").await
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
//!   [`SessionRoutes`]. It carries no store type: handlers do not either.
//! - Extractors: [`Session`] (stateless, no store read), [`OptionalSession`]
//!   and [`StrictSession`] (asks the store, so revocation is immediate).
//!   Refusals are `401 {"error":"try_refresh_token"}` (refresh, then
//!   retry), `401 {"error":"unauthorized"}` and `403 {"error":"csrf"}`.
//! - [`Sessions::configure`]: the session routes, `POST /auth/refresh`,
//!   `POST /auth/logout`, `POST /auth/logout-all`, `GET /auth/sessions`,
//!   `DELETE /auth/sessions/{handle}`, `GET /.well-known/jwks.json`.
//! - [`Sessions::login`]: creates the session once your handler has checked
//!   the credentials, and answers with the cookies (or the tokens).
//! - [`ApiError`]: the `{"error": CODE}` answer all of them use, for your
//!   handlers too; [`not_found`] as the application's default service.
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
//! headers. Tokens are never read from a URL (SEC-06).
//!
//! Every answer that carries tokens or per-user data has
//! `Cache-Control: no-store`.
#![forbid(unsafe_code)]

mod backend;
mod config;
mod error;
mod extract;
mod login;
mod respond;
mod routes;

pub use crate::config::{AUTH_MODE_HEADER, SessionRoutes, Sessions, SessionsBuilder, Transport};
pub use crate::error::ApiError;
pub use crate::extract::{OptionalSession, Session, StrictSession};
pub use crate::login::Login;

/// A default service answering `404 {"error":"not_found"}`:
/// `App::new().default_service(actix_web::web::to(sessionkit_actix_web::not_found))`.
pub async fn not_found() -> actix_web::HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::not_found())
}
