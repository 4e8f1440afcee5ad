//! Two services sharing nothing but a URL: an auth service that issues
//! EdDSA access tokens and publishes its public keys at
//! `/.well-known/jwks.json`, and a resource service that verifies tokens
//! with those public keys alone (no store, no secret), through
//! `sessionkit-axum`'s verify-only mode.

use std::error::Error as StdError;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sessionkit::jwks::JwksSource;
use sessionkit::{ConfigError, MemoryStore, SessionManager, Verifier};
use sessionkit_axum::{Session, Sessions, Transport};

/// A login request (a real service would check a password here).
#[derive(Debug, Deserialize, Serialize)]
pub struct Login {
    /// Who logs in.
    pub user: String,
}

/// A login response.
#[derive(Debug, Deserialize, Serialize)]
pub struct Tokens {
    /// The EdDSA access token.
    pub access_token: String,
}

/// The auth service: `POST /login` and `GET /.well-known/jwks.json` (the
/// JWKS from `sessionkit-axum`'s router).
///
/// # Errors
/// The integration's configuration is invalid.
pub fn auth_service(manager: SessionManager<MemoryStore>) -> Result<Router, ConfigError> {
    let sessions = Sessions::builder(manager.clone())
        .transport(Transport::Headers)
        .build()?;
    Ok(Router::new()
        .route("/login", post(login))
        .with_state(manager)
        .merge(sessions.router()))
}

async fn login(
    State(manager): State<SessionManager<MemoryStore>>,
    Json(login): Json<Login>,
) -> Result<Json<Tokens>, StatusCode> {
    let session = manager
        .create(&login.user)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(Tokens {
        access_token: session.access_token.into_string(),
    }))
}

/// The resource service: `GET /me` answers the caller's user id. The
/// [`Session`] extractor verifies the bearer token with `verifier` alone:
/// 401 `{"error": ...}` for a bad token, 503 when no usable JWKS could be
/// fetched.
///
/// # Errors
/// The integration's configuration is invalid.
pub fn resource_service(verifier: Verifier) -> Result<Router, ConfigError> {
    let sessions = Sessions::verify_only(verifier)
        .transport(Transport::Headers)
        .build()?;
    Ok(Router::new().route("/me", get(me)).with_state(sessions))
}

async fn me(session: Session) -> String {
    session.user_id().to_owned()
}

/// Fetches the auth service's JWKS with reqwest (rustls, no native TLS).
#[derive(Clone, Debug)]
pub struct HttpJwksSource {
    url: String,
    client: reqwest::Client,
}

impl HttpJwksSource {
    /// A source reading `url` (`https://auth.example/.well-known/jwks.json`),
    /// with a 5-second timeout.
    ///
    /// # Errors
    /// The HTTP client could not be built (no TLS roots).
    pub fn new(url: impl Into<String>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url: url.into(),
            client,
        })
    }
}

#[async_trait::async_trait]
impl JwksSource for HttpJwksSource {
    async fn fetch(&self) -> Result<String, Box<dyn StdError + Send + Sync>> {
        let response = self.client.get(&self.url).send().await?;
        if !response.status().is_success() {
            return Err(format!("jwks endpoint answered {}", response.status()).into());
        }
        Ok(response.text().await?)
    }
}
