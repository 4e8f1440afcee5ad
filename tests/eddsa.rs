//! EdDSA keys, JWKS and the verify-only `Verifier`, through the public API.

#![cfg(test)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use serde_json::json;
use sessionkit::clock::ManualClock;
use sessionkit::jwks::{Jwks, JwksSource};
use sessionkit::{
    ConfigError, MemoryStore, RefreshKey, Rejection, SessionManager, SigningKey, Verifier,
    VerifyError,
};
use time::Duration;

const SEED: [u8; 32] = [42u8; 32];
const T0: i64 = 1_800_000_000;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_unix(T0))
}

fn manager_with(
    clock: &Arc<ManualClock>,
    configure: impl FnOnce(
        sessionkit::SessionManagerBuilder<MemoryStore>,
    ) -> sessionkit::SessionManagerBuilder<MemoryStore>,
) -> SessionManager<MemoryStore> {
    configure(
        SessionManager::builder(MemoryStore::new())
            .refresh_key(RefreshKey::new(1, &[9u8; 32]).unwrap())
            .issuer("https://auth.example")
            .audience("api")
            .clock(Arc::clone(clock)),
    )
    .build()
    .unwrap()
}

fn ed_manager(clock: &Arc<ManualClock>) -> SessionManager<MemoryStore> {
    manager_with(clock, |b| {
        b.signing_key(SigningKey::ed25519("ed-1", &SEED).unwrap())
    })
}

fn verifier_for(jwks: Jwks, clock: &Arc<ManualClock>) -> Verifier {
    Verifier::builder()
        .jwks(jwks)
        .issuer("https://auth.example")
        .audience("api")
        .clock(Arc::clone(clock))
        .build()
        .unwrap()
}

async fn token(manager: &SessionManager<MemoryStore>) -> String {
    manager
        .create("alice")
        .claims(json!({ "role": "reader" }))
        .await
        .unwrap()
        .access_token
        .into_string()
}

fn rejection(result: Result<sessionkit::Verified, VerifyError>) -> Rejection {
    match result {
        Err(VerifyError::Unauthorized(r)) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A token with this header over the payload of `genuine`, signed with
/// `SEED` (so only the header trick can make it fail).
fn reheader(genuine: &str, header: &str) -> String {
    let payload = genuine.split('.').nth(1).unwrap();
    let input = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(header));
    let key = ed25519_dalek::SigningKey::from_bytes(&SEED);
    let signature = key.sign(input.as_bytes()).to_bytes();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[tokio::test]
async fn eddsa_token_verifies_on_a_verifier_that_has_only_the_jwks() {
    let clock = clock();
    let manager = ed_manager(&clock);
    let jwks_json = manager.jwks_json();
    assert!(!jwks_json.contains("\"d\""), "{jwks_json}");
    let verifier = verifier_for(Jwks::from_json(&jwks_json).unwrap(), &clock);

    let token = token(&manager).await;
    let header = URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    assert_eq!(header, br#"{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1"}"#);
    let verified = verifier.verify(&token).unwrap();
    assert_eq!(verified.user_id(), "alice");
    assert_eq!(verified.claims()["role"], "reader");
    assert_eq!(
        manager.verify(&token).unwrap().session_handle(),
        verified.session_handle()
    );

    // Same claim checks as the manager: expiry, then iss and aud.
    clock.advance(Duration::minutes(11));
    assert!(matches!(
        verifier.verify(&token),
        Err(VerifyError::TryRefresh)
    ));
    clock.set_unix(T0);
    let elsewhere = Verifier::builder()
        .jwks(Jwks::from_json(&jwks_json).unwrap())
        .issuer("https://auth.example")
        .audience("billing")
        .clock(Arc::clone(&clock))
        .build()
        .unwrap();
    assert_eq!(rejection(elsewhere.verify(&token)), Rejection::Claims);
}

#[tokio::test]
async fn sec_26_hs256_token_rejected_by_eddsa_verifier() {
    let clock = clock();
    let ed = SigningKey::ed25519("k", &SEED).unwrap();
    let public = ed.verifying_key().unwrap();
    let verifier = verifier_for(Jwks::new(vec![public.clone()]).unwrap(), &clock);
    // The confusion attack: an HS256 "secret" equal to the public key
    // (and to its JWK text), under the EdDSA key's kid.
    for secret in [
        public.to_bytes().to_vec(),
        URL_SAFE_NO_PAD.encode(public.to_bytes()).into_bytes(),
        Jwks::new(vec![public.clone()])
            .unwrap()
            .to_json()
            .into_bytes(),
    ] {
        let hs = manager_with(&clock, |b| {
            b.signing_key(SigningKey::hs256("k", &secret).unwrap())
        });
        let token = token(&hs).await;
        assert_eq!(rejection(verifier.verify(&token)), Rejection::Algorithm);
    }
    // Under another kid it is simply unknown: a verifier holds no HMAC key.
    let hs = manager_with(&clock, |b| {
        b.signing_key(SigningKey::hs256("hmac", &[7u8; 32]).unwrap())
    });
    let token = token(&hs).await;
    assert_eq!(rejection(verifier.verify(&token)), Rejection::UnknownKey);
}

#[tokio::test]
async fn sec_26_eddsa_token_rejected_by_hs256_key_of_the_same_kid() {
    let clock = clock();
    let hs = manager_with(&clock, |b| {
        b.signing_key(SigningKey::hs256("ed-1", &SEED).unwrap())
    });
    let ed_token = token(&ed_manager(&clock)).await;
    assert_eq!(rejection(hs.verify(&ed_token)), Rejection::Algorithm);
}

#[tokio::test]
async fn sec_25_27_30_31_header_tricks_are_rejected_by_the_verifier() {
    let clock = clock();
    let manager = ed_manager(&clock);
    let verifier = verifier_for(manager.jwks(), &clock);
    let genuine = token(&manager).await;
    assert!(
        verifier
            .verify(&reheader(
                &genuine,
                r#"{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1"}"#
            ))
            .is_ok()
    );
    let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
    let cases = [
        (
            r#"{"alg":"none","typ":"at+jwt","kid":"ed-1"}"#,
            Rejection::Algorithm,
        ),
        (
            r#"{"alg":"NONE","typ":"at+jwt","kid":"ed-1"}"#,
            Rejection::Algorithm,
        ),
        (
            r#"{"alg":"HS256","typ":"at+jwt","kid":"ed-1"}"#,
            Rejection::Algorithm,
        ),
        (
            r#"{"alg":"eddsa","typ":"at+jwt","kid":"ed-1"}"#,
            Rejection::Algorithm,
        ),
        (
            r#"{"alg":"Ed25519","typ":"at+jwt","kid":"ed-1"}"#,
            Rejection::Algorithm,
        ),
        (r#"{"typ":"at+jwt","kid":"ed-1"}"#, Rejection::Algorithm),
        (r#"{"alg":"EdDSA","kid":"ed-1"}"#, Rejection::Type),
        (
            r#"{"alg":"EdDSA","typ":"JWT","kid":"ed-1"}"#,
            Rejection::Type,
        ),
        (
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"ED-1"}"#,
            Rejection::UnknownKey,
        ),
        (
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1 "}"#,
            Rejection::UnknownKey,
        ),
        (r#"{"alg":"EdDSA","typ":"at+jwt"}"#, Rejection::UnknownKey),
        (
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1","kid":"ed-1"}"#,
            Rejection::Malformed,
        ),
        (
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1","crit":["exp"]}"#,
            Rejection::Header,
        ),
        (
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1","jku":"https://evil.example/jwks"}"#,
            Rejection::Header,
        ),
        (
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1","x5u":"https://evil.example/c"}"#,
            Rejection::Header,
        ),
        (
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1","x5c":["MIIB"]}"#,
            Rejection::Header,
        ),
    ];
    for (header, expected) in cases {
        let forged = reheader(&genuine, header);
        assert_eq!(rejection(verifier.verify(&forged)), expected, "{header}");
    }
    let jwk_header = format!(
        r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"ed-1","jwk":{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}}}"#
    );
    assert_eq!(
        rejection(verifier.verify(&reheader(&genuine, &jwk_header))),
        Rejection::Header
    );

    // Signature tricks: empty, truncated, HS256-sized, flipped.
    let (input, signature) = genuine.rsplit_once('.').unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let flipped = {
        let mut b = bytes.clone();
        b[0] ^= 1;
        b
    };
    for sig in [&bytes[..0], &bytes[..63], &bytes[..32], &flipped[..]] {
        let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
        assert!(verifier.verify(&forged).is_err(), "{}", sig.len());
    }
    assert!(verifier.verify(&format!("{input}.")).is_err());
    assert!(verifier.verify(input).is_err());
}

#[tokio::test]
async fn sec_34_rotation_through_an_upcoming_key_logs_nobody_out() {
    let clock = clock();
    let old = || SigningKey::ed25519("2026-10", &[1u8; 32]).unwrap();
    let new = || SigningKey::ed25519("2026-11", &[2u8; 32]).unwrap();

    // Phase 1: the old key signs and the new one is announced.
    let before = manager_with(&clock, |b| b.signing_key(old()).upcoming_signing_key(new()));
    let kids: Vec<String> = before
        .jwks()
        .keys()
        .iter()
        .map(|k| k.kid().to_owned())
        .collect();
    assert_eq!(kids, ["2026-10", "2026-11"]);
    // A resource service caches this JWKS and never refreshes.
    let verifier = verifier_for(Jwks::from_json(&before.jwks_json()).unwrap(), &clock);
    let old_token = token(&before).await;
    assert!(verifier.verify(&old_token).is_ok());

    // Phase 2: the new key signs, the old one is retired now.
    clock.advance(Duration::minutes(1));
    let retired_at = time::OffsetDateTime::from_unix_timestamp(T0 + 60).unwrap();
    let after = manager_with(&clock, |b| {
        b.signing_key(new()).retired_signing_key(old(), retired_at)
    });
    let new_token = token(&after).await;
    assert!(
        verifier.verify(&new_token).is_ok(),
        "the cached JWKS knew it"
    );
    assert!(after.verify(&old_token).is_ok());
    assert!(after.jwks().keys().iter().any(|k| k.kid() == "2026-10"));

    // The old key's tokens verify to the end of their lifetime...
    clock.set_unix(T0 + 10 * 60 - 1);
    assert!(after.verify(&old_token).is_ok());
    assert!(verifier.verify(&old_token).is_ok());
    // ...and once no token of it can be valid, it leaves the JWKS.
    clock.set_unix(T0 + 60 + 10 * 60 + 30);
    let kids: Vec<String> = after
        .jwks()
        .keys()
        .iter()
        .map(|k| k.kid().to_owned())
        .collect();
    assert_eq!(kids, ["2026-11"]);
    // The issuer still recognises the expired token as its own: a refresh,
    // not a logout (SEC-44).
    assert!(matches!(
        after.verify(&old_token),
        Err(VerifyError::TryRefresh)
    ));
}

#[tokio::test]
async fn hs256_secrets_are_never_exported() {
    let clock = clock();
    let hs = manager_with(&clock, |b| {
        b.signing_key(SigningKey::hs256("hmac", &[7u8; 32]).unwrap())
            .upcoming_signing_key(SigningKey::ed25519("ed", &SEED).unwrap())
    });
    let json = hs.jwks_json();
    let public = SigningKey::ed25519("ed", &SEED)
        .unwrap()
        .verifying_key()
        .unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{}","kid":"ed","alg":"EdDSA","use":"sig"}}]}}"#,
            URL_SAFE_NO_PAD.encode(public.to_bytes())
        )
    );
    assert!(!json.contains(&URL_SAFE_NO_PAD.encode(SEED)));
}

/// Two issuers: one signing with the key "old", one with "new".
fn old_and_new(
    clock: &Arc<ManualClock>,
) -> (SessionManager<MemoryStore>, SessionManager<MemoryStore>) {
    let with = |kid: &str, seed: u8| {
        manager_with(clock, |b| {
            b.signing_key(SigningKey::ed25519(kid, &[seed; 32]).unwrap())
        })
    };
    (with("old", 1), with("new", 2))
}

fn refreshing_verifier(
    initial: Jwks,
    served: Result<String, String>,
    clock: &Arc<ManualClock>,
) -> (Verifier, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let verifier = Verifier::builder()
        .jwks(initial)
        .issuer("https://auth.example")
        .audience("api")
        .clock(Arc::clone(clock))
        .source(SharedSource {
            json: Arc::new(std::sync::Mutex::new(served)),
            fetches: Arc::clone(&fetches),
        })
        .build()
        .unwrap();
    (verifier, fetches)
}

#[tokio::test]
async fn verify_or_fetch_keys_learns_a_new_key_with_one_fetch() {
    let clock = clock();
    let (old, new) = old_and_new(&clock);
    let (verifier, fetches) = refreshing_verifier(old.jwks(), Ok(new.jwks_json()), &clock);
    let old_token = token(&old).await;
    let new_token = token(&new).await;

    // Known keys never cause a fetch, nor do other failures.
    assert!(verifier.verify_or_fetch_keys(&old_token).await.is_ok());
    assert!(verifier.verify_or_fetch_keys("a.b.c").await.is_err());
    assert_eq!(fetches.load(Ordering::SeqCst), 0);

    assert_eq!(
        rejection(verifier.verify(&new_token)),
        Rejection::UnknownKey
    );
    assert_eq!(
        verifier
            .verify_or_fetch_keys(&new_token)
            .await
            .unwrap()
            .user_id(),
        "alice"
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert!(
        verifier.verify(&new_token).is_ok(),
        "the key set was swapped"
    );
    // The served set no longer has the old key.
    assert_eq!(
        rejection(verifier.verify(&old_token)),
        Rejection::UnknownKey
    );
}

/// SEC-44 on a resource service: once the issuer stops publishing a retired
/// key (every token it signed has expired), a verifier that learns the new
/// JWKS still recognises the expired tokens that key signed: they ask for
/// a refresh, so a client that was away is not sent to the login form. The
/// removed key never makes a token valid, and is forgotten after the
/// retention period (the issuer's refresh idle lifetime, 7 days by default).
#[tokio::test]
async fn sec_44_a_key_the_jwks_drops_still_sends_its_expired_tokens_to_refresh() {
    let clock = clock();
    let (old, new) = old_and_new(&clock);
    let (verifier, fetches) = refreshing_verifier(old.jwks(), Ok(new.jwks_json()), &clock);
    let old_token = token(&old).await;
    assert!(verifier.verify(&old_token).is_ok());
    // A token of the new key: the verifier fetches the JWKS, which no
    // longer lists "old".
    assert!(
        verifier
            .verify_or_fetch_keys(&token(&new).await)
            .await
            .is_ok()
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // The removed key vouches for no valid token...
    assert_eq!(
        rejection(verifier.verify(&old_token)),
        Rejection::UnknownKey
    );
    // ...but its expired tokens ask for a refresh, not a login.
    clock.advance(Duration::minutes(11));
    assert!(matches!(
        verifier.verify(&old_token),
        Err(VerifyError::TryRefresh)
    ));
    // Later key sets keep it for the rest of the retention period, counted
    // from its removal.
    clock.advance(Duration::days(6));
    verifier.set_jwks(new.jwks()).unwrap();
    assert!(matches!(
        verifier.verify(&old_token),
        Err(VerifyError::TryRefresh)
    ));
    // Past the retention it is forgotten, with no new key set needed.
    clock.advance(Duration::days(1));
    assert_eq!(
        rejection(verifier.verify(&old_token)),
        Rejection::UnknownKey
    );

    // With no retention the removed key is forgotten at once.
    let forgetful = Verifier::builder()
        .jwks(old.jwks())
        .issuer("https://auth.example")
        .audience("api")
        .clock(Arc::clone(&clock))
        .removed_key_retention(Duration::ZERO)
        .build()
        .unwrap();
    forgetful.set_jwks(new.jwks()).unwrap();
    assert_eq!(
        rejection(forgetful.verify(&old_token)),
        Rejection::UnknownKey
    );
}

/// A verifier that knows every key in use still fetches the JWKS once its
/// keys are older than the maximum key age (10 minutes by default), so
/// that a key the issuer has dropped (retired, perhaps because it leaked)
/// stops being trusted; a fetch that fails then leaves the keys at hand.
#[tokio::test]
async fn keys_older_than_the_maximum_age_are_fetched_again() {
    let clock = clock();
    let both = manager_with(&clock, |b| {
        b.signing_key(SigningKey::ed25519("old", &[1u8; 32]).unwrap())
            .upcoming_signing_key(SigningKey::ed25519("new", &[2u8; 32]).unwrap())
    });
    let (old, new) = old_and_new(&clock);
    let fetches = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(std::sync::Mutex::new(Err("unreachable".to_owned())));
    let verifier = Verifier::builder()
        .jwks(both.jwks())
        .issuer("https://auth.example")
        .audience("api")
        .clock(Arc::clone(&clock))
        .source(SharedSource {
            json: Arc::clone(&served),
            fetches: Arc::clone(&fetches),
        })
        .build()
        .unwrap();
    // Young keys: no fetch, "old" trusted.
    clock.advance(Duration::minutes(9));
    assert!(
        verifier
            .verify_or_fetch_keys(&token(&old).await)
            .await
            .is_ok()
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 0);
    // Old keys and an unreachable source: one attempt, then the keys at
    // hand answer.
    clock.advance(Duration::minutes(2));
    assert!(
        verifier
            .verify_or_fetch_keys(&token(&old).await)
            .await
            .is_ok()
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // The source is back and serves only "new": the next attempt (after
    // the minimum interval) learns that "old" was dropped, and a token
    // signed with it now is refused.
    *served.lock().unwrap() = Ok(new.jwks_json());
    clock.advance(Duration::minutes(1));
    assert_eq!(
        rejection(verifier.verify_or_fetch_keys(&token(&old).await).await),
        Rejection::UnknownKey
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert!(verifier.verify(&token(&new).await).is_ok());
}

/// A JWKS endpoint whose answer a test can change, counting its calls.
struct SharedSource {
    json: Arc<std::sync::Mutex<Result<String, String>>>,
    fetches: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl JwksSource for SharedSource {
    async fn fetch(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.json.lock().unwrap().clone().map_err(Into::into)
    }
}

#[tokio::test]
async fn verify_or_fetch_keys_flood_of_bogus_kids_fetches_once_per_interval() {
    let clock = clock();
    let manager = ed_manager(&clock);
    let (verifier, fetches) = refreshing_verifier(manager.jwks(), Ok(manager.jwks_json()), &clock);
    let genuine = token(&manager).await;
    for i in 0..1000 {
        let bogus = reheader(
            &genuine,
            &format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"bogus-{i}"}}"#),
        );
        assert_eq!(
            rejection(verifier.verify_or_fetch_keys(&bogus).await),
            Rejection::UnknownKey
        );
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    let bogus = reheader(&genuine, r#"{"alg":"EdDSA","typ":"at+jwt","kid":"bogus"}"#);
    clock.advance(Duration::seconds(59));
    assert!(verifier.verify_or_fetch_keys(&bogus).await.is_err());
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    clock.advance(Duration::seconds(1));
    for _ in 0..1000 {
        assert!(verifier.verify_or_fetch_keys(&bogus).await.is_err());
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // Genuine tokens are unaffected throughout.
    assert!(verifier.verify_or_fetch_keys(&genuine).await.is_ok());
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn concurrent_flood_fetches_once() {
    let clock = clock();
    let manager = ed_manager(&clock);
    let (verifier, fetches) = refreshing_verifier(manager.jwks(), Ok(manager.jwks_json()), &clock);
    let genuine = token(&manager).await;
    let bogus = reheader(&genuine, r#"{"alg":"EdDSA","typ":"at+jwt","kid":"x"}"#);
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (verifier, bogus) = (verifier.clone(), bogus.clone());
            tokio::spawn(async move { verifier.verify_or_fetch_keys(&bogus).await.is_err() })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn failed_or_bad_fetch_is_a_key_source_error_and_keeps_the_keys() {
    let clock = clock();
    let manager = ed_manager(&clock);
    let genuine = token(&manager).await;
    let bogus = reheader(&genuine, r#"{"alg":"EdDSA","typ":"at+jwt","kid":"x"}"#);
    for served in [
        Err(String::from("connection refused")),
        Ok(String::from("<html>")),
        Ok(String::from(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#)),
    ] {
        let (verifier, fetches) = refreshing_verifier(manager.jwks(), served, &clock);
        assert!(matches!(
            verifier.verify_or_fetch_keys(&bogus).await,
            Err(VerifyError::KeySource(_))
        ));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(verifier.verify(&genuine).is_ok());
    }
}

#[tokio::test]
async fn verifier_with_only_a_source_fetches_on_first_use() {
    let clock = clock();
    let manager = ed_manager(&clock);
    let fetches = Arc::new(AtomicUsize::new(0));
    let verifier = Verifier::builder()
        .issuer("https://auth.example")
        .audience("api")
        .clock(Arc::clone(&clock))
        .source(SharedSource {
            json: Arc::new(std::sync::Mutex::new(Ok(manager.jwks_json()))),
            fetches: Arc::clone(&fetches),
        })
        .build()
        .unwrap();
    let token = token(&manager).await;
    assert_eq!(rejection(verifier.verify(&token)), Rejection::UnknownKey);
    assert!(verifier.verify_or_fetch_keys(&token).await.is_ok());
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn verifier_configuration_errors() {
    assert!(matches!(
        Verifier::builder().build(),
        Err(ConfigError::MissingKey(_))
    ));
    assert!(matches!(
        Verifier::builder()
            .jwks(Jwks::default())
            .leeway(Duration::seconds(301))
            .build(),
        Err(ConfigError::InvalidSetting { name: "leeway", .. })
    ));
    assert!(matches!(
        Verifier::builder()
            .jwks(Jwks::default())
            .min_fetch_interval(Duration::seconds(-1))
            .build(),
        Err(ConfigError::InvalidSetting { .. })
    ));
    assert!(matches!(
        Verifier::builder()
            .jwks(Jwks::default())
            .removed_key_retention(Duration::seconds(-1))
            .build(),
        Err(ConfigError::InvalidSetting {
            name: "removed_key_retention",
            ..
        })
    ));
}
