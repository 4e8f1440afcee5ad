//! SEC-05 for logs: every flow runs under a `tracing` subscriber that
//! records everything at TRACE level, and no token or secret appears in it.

#![cfg(test)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn sec_05_tracing_output_never_contains_tokens_or_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut tokens = Vec::new();
    tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let f = fixture_grace(0);
            let m = &f.manager;
            let s = m
                .create("alice")
                .claims(json!({"role": "admin"}))
                .await
                .unwrap();
            let r2 = m.refresh(s.refresh_token.expose()).await.unwrap();
            m.verify_strict(r2.access_token.expose()).await.unwrap();
            // Reuse (theft), then the revoked lineage, then garbage.
            assert!(m.refresh(s.refresh_token.expose()).await.is_err());
            assert!(m.refresh(r2.refresh_token.expose()).await.is_err());
            assert!(m.refresh("skr_garbage").await.is_err());
            let t = m.create("alice").await.unwrap();
            m.revoke(&t.handle).await.unwrap();
            for x in [&s, &r2, &t] {
                tokens.push(x.refresh_token.expose().to_owned());
                tokens.push(x.access_token.expose().to_owned());
                let raw = URL_SAFE_NO_PAD
                    .decode(x.refresh_token.expose().strip_prefix("skr_").unwrap())
                    .unwrap();
                tokens.push(URL_SAFE_NO_PAD.encode(&raw[31..63]));
                tokens.push(
                    x.access_token
                        .expose()
                        .rsplit('.')
                        .next()
                        .unwrap()
                        .to_owned(),
                );
            }
        });
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("refresh token reuse detected"),
        "the theft was logged:\n{log}"
    );
    for secret in &tokens {
        assert!(
            !log.contains(secret.as_str()),
            "secret material in the logs"
        );
    }
}
