//! A failing store: the client is told to retry later (503), and keeps its
//! cookies and its session (SEC-24).

#![cfg(test)]

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use sessionkit::testing::{Fault, FaultyStore, Op};
use sessionkit::web::CsrfPolicy;
use sessionkit::{MemoryStore, RefreshKey, SessionManager, SigningKey};
use sessionkit_actix_web::{Sessions, StrictSession};

const ORIGIN: &str = "https://app.example";

async fn strict(session: StrictSession) -> HttpResponse {
    HttpResponse::Ok().body(session.user_id().to_owned())
}

#[actix_web::test]
async fn sec_24_store_failures_answer_503_and_keep_the_session() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let manager = SessionManager::builder(Arc::clone(&store))
        .signing_key(SigningKey::hs256("k1", &[7u8; 32]).unwrap())
        .refresh_key(RefreshKey::new(1, &[9u8; 32]).unwrap())
        .build()
        .unwrap();
    let tokens = manager.create("alice").await.unwrap();
    let sessions = Sessions::builder(manager.clone())
        .csrf(CsrfPolicy::new([ORIGIN]).unwrap())
        .build()
        .unwrap();
    let app = test::init_service(
        App::new()
            .configure(sessions.configure())
            .route("/api/strict", web::get().to(strict)),
    )
    .await;
    let access = format!("__Host-sk-access={}", tokens.access_token.expose());
    let refresh = format!("__Secure-sk-refresh={}", tokens.refresh_token.expose());

    store.fail_next(Op::Load, Fault::Before);
    let answer = test::call_service(
        &app,
        TestRequest::post()
            .uri("/auth/refresh")
            .insert_header(("origin", ORIGIN))
            .insert_header(("cookie", refresh.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.headers().get("set-cookie").is_none());
    let body: serde_json::Value = test::read_body_json(answer).await;
    assert_eq!(body, serde_json::json!({ "error": "unavailable" }));

    store.fail_next(Op::Load, Fault::Before);
    let answer = test::call_service(
        &app,
        TestRequest::get()
            .uri("/api/strict")
            .insert_header(("cookie", access.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);

    store.fail_next(Op::Delete, Fault::Before);
    let answer = test::call_service(
        &app,
        TestRequest::post()
            .uri("/auth/logout")
            .insert_header(("origin", ORIGIN))
            .insert_header(("cookie", refresh.clone()))
            .to_request(),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.headers().get("set-cookie").is_none());

    // Nothing was lost: the refresh token still works.
    let answer = test::call_service(
        &app,
        TestRequest::post()
            .uri("/auth/refresh")
            .insert_header(("origin", ORIGIN))
            .insert_header(("cookie", refresh))
            .to_request(),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK);
}
