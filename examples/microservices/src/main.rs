//! Runs the auth and resource services on ephemeral ports and walks
//! through a login and a request: `cargo run -p sessionkit-microservices`.

use std::error::Error;

use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey, Verifier};
use sessionkit_microservices::{HttpJwksSource, Tokens, auth_service, http, resource_service};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let manager = SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::generate_ed25519("2026-11")?)
        .refresh_key(RefreshKey::new(1, &[9u8; 32])?) // load from your secret store
        .build()?;
    let auth_listener = TcpListener::bind("127.0.0.1:0").await?;
    let auth = auth_listener.local_addr()?;
    tokio::spawn(async move { axum::serve(auth_listener, auth_service(manager)).await });

    // The resource service knows only where the JWKS is.
    let verifier = Verifier::builder()
        .source(HttpJwksSource { addr: auth })
        .build()?;
    let resource_listener = TcpListener::bind("127.0.0.1:0").await?;
    let resource = resource_listener.local_addr()?;
    tokio::spawn(async move { axum::serve(resource_listener, resource_service(verifier)).await });

    let (_, body) = http(
        auth,
        "POST",
        "/login",
        &[("content-type", "application/json")],
        r#"{"user":"alice"}"#,
    )
    .await?;
    let token = serde_json::from_str::<Tokens>(&body)?.access_token;
    let bearer = format!("Bearer {token}");
    let (status, user) = http(resource, "GET", "/me", &[("authorization", &bearer)], "").await?;
    println!("auth service on {auth}, resource service on {resource}");
    println!("GET /me -> {status} {user}");
    Ok(())
}
