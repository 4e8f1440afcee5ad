//! Both services on ephemeral ports of 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;

use axum::Router;
use sessionkit::jwks::Jwks;
use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey, Verifier};
use sessionkit_microservices::{HttpJwksSource, Tokens, auth_service, http, resource_service};
use tokio::net::TcpListener;

async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn auth_manager(kid: &str) -> SessionManager<MemoryStore> {
    SessionManager::builder(MemoryStore::new())
        .signing_key(SigningKey::generate_ed25519(kid).unwrap())
        .refresh_key(RefreshKey::new(1, &[9u8; 32]).unwrap())
        .issuer("https://auth.example")
        .build()
        .unwrap()
}

async fn login(auth: SocketAddr, user: &str) -> String {
    let (status, body) = http(
        auth,
        "POST",
        "/login",
        &[("content-type", "application/json")],
        &format!(r#"{{"user":"{user}"}}"#),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Tokens>(&body).unwrap().access_token
}

async fn me(resource: SocketAddr, token: &str) -> (u16, String) {
    let bearer = format!("Bearer {token}");
    http(resource, "GET", "/me", &[("authorization", &bearer)], "")
        .await
        .unwrap()
}

#[tokio::test]
async fn resource_service_verifies_auth_service_tokens_from_the_jwks_alone() {
    let auth = serve(auth_service(auth_manager("k1"))).await;
    let source = HttpJwksSource { addr: auth };
    let (status, jwks) = http(auth, "GET", "/.well-known/jwks.json", &[], "")
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(!jwks.contains("\"d\""));
    let verifier = Verifier::builder()
        .jwks(Jwks::from_json(&jwks).unwrap())
        .issuer("https://auth.example")
        .source(source)
        .build()
        .unwrap();
    let resource = serve(resource_service(verifier)).await;

    let token = login(auth, "alice").await;
    assert_eq!(me(resource, &token).await, (200, String::from("alice")));
    assert_eq!(me(resource, "not-a-token").await.0, 401);
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(me(resource, &tampered).await.0, 401);
}

#[tokio::test]
async fn resource_service_learns_keys_on_first_use() {
    let auth = serve(auth_service(auth_manager("k2"))).await;
    let verifier = Verifier::builder()
        .issuer("https://auth.example")
        .source(HttpJwksSource { addr: auth })
        .build()
        .unwrap();
    let resource = serve(resource_service(verifier)).await;
    let token = login(auth, "bob").await;
    assert_eq!(me(resource, &token).await, (200, String::from("bob")));
}
