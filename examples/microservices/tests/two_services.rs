//! Both services on ephemeral ports of 127.0.0.1.
#![cfg(test)]

use std::net::SocketAddr;

use axum::Router;
use sessionkit::jwks::Jwks;
use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey, Verifier};
use sessionkit_microservices::{HttpJwksSource, Tokens, auth_service, resource_service};
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

fn jwks_url(auth: SocketAddr) -> String {
    format!("http://{auth}/.well-known/jwks.json")
}

async fn login(auth: SocketAddr, user: &str) -> String {
    let answer = reqwest::Client::new()
        .post(format!("http://{auth}/login"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"user":"{user}"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    serde_json::from_str::<Tokens>(&answer.text().await.unwrap())
        .unwrap()
        .access_token
}

async fn me(resource: SocketAddr, token: &str) -> (u16, String) {
    let answer = reqwest::Client::new()
        .get(format!("http://{resource}/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test]
async fn resource_service_verifies_auth_service_tokens_from_the_jwks_alone() {
    let auth = serve(auth_service(auth_manager("k1")).unwrap()).await;
    let jwks = reqwest::get(jwks_url(auth)).await.unwrap();
    assert_eq!(jwks.status(), 200);
    let jwks = jwks.text().await.unwrap();
    assert!(!jwks.contains("\"d\""));
    let verifier = Verifier::builder()
        .jwks(Jwks::from_json(&jwks).unwrap())
        .issuer("https://auth.example")
        .source(HttpJwksSource::new(jwks_url(auth)).unwrap())
        .build()
        .unwrap();
    let resource = serve(resource_service(verifier).unwrap()).await;

    let token = login(auth, "alice").await;
    assert_eq!(me(resource, &token).await, (200, String::from("alice")));
    let (status, body) = me(resource, "not-a-token").await;
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"error":"unauthorized"}"#)
    );
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(me(resource, &tampered).await.0, 401);
}

#[tokio::test]
async fn resource_service_learns_keys_on_first_use() {
    let auth = serve(auth_service(auth_manager("k2")).unwrap()).await;
    let verifier = Verifier::builder()
        .issuer("https://auth.example")
        .source(HttpJwksSource::new(jwks_url(auth)).unwrap())
        .build()
        .unwrap();
    let resource = serve(resource_service(verifier).unwrap()).await;
    let token = login(auth, "bob").await;
    assert_eq!(me(resource, &token).await, (200, String::from("bob")));
}

#[tokio::test]
async fn an_unreachable_jwks_is_503_not_401() {
    let verifier = Verifier::builder()
        .source(HttpJwksSource::new("http://127.0.0.1:9/.well-known/jwks.json").unwrap())
        .build()
        .unwrap();
    let resource = serve(resource_service(verifier).unwrap()).await;
    let auth = serve(auth_service(auth_manager("k3")).unwrap()).await;
    let token = login(auth, "carol").await;
    assert_eq!(me(resource, &token).await.0, 503);
}
