//! Two services sharing nothing but a URL: an auth service that issues
//! EdDSA access tokens and publishes its public keys at
//! `/.well-known/jwks.json`, and a resource service that verifies tokens
//! with those public keys alone (no store, no secret).

use std::error::Error as StdError;
use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sessionkit::jwks::JwksSource;
use sessionkit::{MemoryStore, SessionManager, Verifier, VerifyError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

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

/// The auth service: `POST /login` and `GET /.well-known/jwks.json`.
pub fn auth_service(manager: SessionManager<MemoryStore>) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(manager)
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

async fn jwks(
    State(manager): State<SessionManager<MemoryStore>>,
) -> impl axum::response::IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/jwk-set+json")],
        manager.jwks_json(),
    )
}

/// The resource service: `GET /me` answers the caller's user id.
pub fn resource_service(verifier: Verifier) -> Router {
    Router::new().route("/me", get(me)).with_state(verifier)
}

async fn me(State(verifier): State<Verifier>, headers: HeaderMap) -> Result<String, StatusCode> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    match verifier.verify_or_fetch_keys(token).await {
        Ok(verified) => Ok(verified.user_id().to_owned()),
        // Every rejection looks the same to the client.
        Err(VerifyError::KeySource(_)) => Err(StatusCode::SERVICE_UNAVAILABLE),
        Err(_) => Err(StatusCode::UNAUTHORIZED),
    }
}

/// Fetches the auth service's JWKS over plain HTTP/1.1. Production code
/// would use its HTTP client of choice, over TLS.
#[derive(Clone, Debug)]
pub struct HttpJwksSource {
    /// The auth service.
    pub addr: SocketAddr,
}

#[async_trait::async_trait]
impl JwksSource for HttpJwksSource {
    async fn fetch(&self) -> Result<String, Box<dyn StdError + Send + Sync>> {
        let (status, body) = http(self.addr, "GET", "/.well-known/jwks.json", &[], "").await?;
        if status != 200 {
            return Err(format!("jwks endpoint answered {status}").into());
        }
        Ok(body)
    }
}

/// A minimal HTTP/1.1 request: status code and body.
///
/// # Errors
/// Connection failures and unreadable responses.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String), Box<dyn StdError + Send + Sync>> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let status = head.split(' ').nth(1).ok_or("no status")?.parse::<u16>()?;
    Ok((status, body.to_owned()))
}
