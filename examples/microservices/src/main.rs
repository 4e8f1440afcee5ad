//! Runs the auth and resource services on ephemeral ports and walks
//! through a login and a request: `cargo run -p sessionkit-microservices`.

use std::error::Error;

use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey, Verifier};
use sessionkit_microservices::{HttpJwksSource, Tokens, auth_service, resource_service};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let manager = SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::generate_ed25519("2026-11")?)
        .refresh_key(RefreshKey::new(1, &[9u8; 32])?) // load from your secret store
        .build()?;
    let auth_listener = TcpListener::bind("127.0.0.1:0").await?;
    let auth = auth_listener.local_addr()?;
    let auth_app = auth_service(manager)?;
    tokio::spawn(async move { axum::serve(auth_listener, auth_app).await });

    // The resource service knows only where the JWKS is.
    let verifier = Verifier::builder()
        .source(HttpJwksSource::new(format!(
            "http://{auth}/.well-known/jwks.json"
        ))?)
        .build()?;
    let resource_listener = TcpListener::bind("127.0.0.1:0").await?;
    let resource = resource_listener.local_addr()?;
    let resource_app = resource_service(verifier)?;
    tokio::spawn(async move { axum::serve(resource_listener, resource_app).await });

    let client = reqwest::Client::new();
    let tokens: Tokens = serde_json::from_str(
        &client
            .post(format!("http://{auth}/login"))
            .header("content-type", "application/json")
            .body(r#"{"user":"alice"}"#)
            .send()
            .await?
            .text()
            .await?,
    )?;
    let answer = client
        .get(format!("http://{resource}/me"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await?;
    println!("auth service on {auth}, resource service on {resource}");
    println!("GET /me -> {} {}", answer.status(), answer.text().await?);
    Ok(())
}
