//! Security requirements, each test named after its ID in SECURITY.md.

#![cfg(test)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use serde_json::{Value, json};
use sessionkit::clock::ManualClock;
use sessionkit::config::TheftPolicy;
use sessionkit::store::{SessionRecord, SessionStore, StoreError};
use sessionkit::testing::{Fault, FaultyStore, Op};
use sessionkit::{
    MemoryStore, RefreshError, RefreshKey, Rejection, SessionError, SessionEvent, SessionHandle,
    SessionManager, VerifyError,
};
use time::{Duration, OffsetDateTime};

/// The 32 secret bytes inside a refresh token (after version, key id,
/// handle and generation).
fn refresh_secret(token: &str) -> Vec<u8> {
    let raw = URL_SAFE_NO_PAD
        .decode(token.strip_prefix("skr_").unwrap())
        .unwrap();
    assert_eq!(raw.len(), 95, "the refresh token layout this test knows");
    raw[31..63].to_vec()
}

/// A store that keeps a serialized copy of everything written to it and
/// every key it was asked for.
#[derive(Default)]
struct RecordingStore {
    inner: MemoryStore,
    written: Mutex<Vec<Vec<u8>>>,
    loads: Mutex<Vec<SessionHandle>>,
    /// Revoked while the next session is being inserted, as a concurrent
    /// logout or theft verdict would be.
    revoke_on_insert: Mutex<Option<SessionHandle>>,
}

impl RecordingStore {
    fn keep(&self, r: &SessionRecord) {
        let mut bytes = serde_json::to_vec(r).unwrap();
        // Also the raw binary fields, in case a store writes them unencoded.
        bytes.extend_from_slice(r.current_hash.as_bytes());
        if let Some(p) = &r.prev_hash {
            bytes.extend_from_slice(p.as_bytes());
        }
        bytes.extend_from_slice(r.nonce.as_bytes());
        self.written.lock().unwrap().push(bytes);
    }
}

#[async_trait::async_trait]
impl SessionStore for RecordingStore {
    async fn insert(&self, r: &SessionRecord) -> Result<(), StoreError> {
        self.keep(r);
        let victim = self.revoke_on_insert.lock().unwrap().take();
        if let Some(v) = victim {
            self.inner.delete(&v).await?;
        }
        self.inner.insert(r).await
    }
    async fn load(&self, h: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        self.loads.lock().unwrap().push(*h);
        self.inner.load(h).await
    }
    async fn compare_and_swap(&self, v: u64, r: &SessionRecord) -> Result<bool, StoreError> {
        self.keep(r);
        self.inner.compare_and_swap(v, r).await
    }
    async fn delete(&self, h: &SessionHandle) -> Result<bool, StoreError> {
        self.inner.delete(h).await
    }
    async fn list_by_user(&self, u: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.list_by_user(u).await
    }
    async fn delete_by_user(&self, u: &str, k: Option<&SessionHandle>) -> Result<u64, StoreError> {
        self.inner.delete_by_user(u, k).await
    }
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.inner.purge_expired(now).await
    }
}

fn manager_over<S: SessionStore>(store: S, clock: Arc<ManualClock>) -> SessionManager<S> {
    SessionManager::builder(store)
        .signing_key(signing_key())
        .refresh_key(refresh_key())
        .clock(clock)
        .build()
        .unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn sec_01_refresh_secrets_are_256_bit_and_unique() {
    let f = fixture();
    let mut seen = HashSet::new();
    // 10^5 secrets: sessions are cheap, rotations add one secret each.
    let s = f.manager.create("alice").await.unwrap();
    let mut token = s.refresh_token;
    for _ in 0..20_000 {
        let secret = refresh_secret(token.expose());
        assert_eq!(secret.len(), 32);
        assert!(seen.insert(secret), "secret collision");
        token = f
            .manager
            .refresh(token.expose())
            .await
            .unwrap()
            .refresh_token;
    }
    for _ in 0..80_000 {
        let s = f.manager.create("bob").await.unwrap();
        assert!(
            seen.insert(refresh_secret(s.refresh_token.expose())),
            "secret collision"
        );
    }
    assert_eq!(seen.len(), 100_000);
}

#[tokio::test]
async fn sec_02_refresh_token_carries_no_user_data() {
    let f = fixture();
    let user = "alice.liddell@example.com";
    let s = f
        .manager
        .create(user)
        .claims(json!({"email": user}))
        .session_data(json!({"name": "Alice"}))
        .await
        .unwrap();
    let text = s.refresh_token.expose();
    let raw = URL_SAFE_NO_PAD
        .decode(text.strip_prefix("skr_").unwrap())
        .unwrap();
    assert!(!text.contains("alice") && !contains(&raw, b"alice") && !contains(&raw, b"Alice"));
    let now = (T0 as u64).to_be_bytes();
    assert!(!contains(&raw, &now[4..]), "no timestamp in the token");
}

#[tokio::test]
async fn sec_03_store_only_ever_receives_hashes() {
    let store = Arc::new(RecordingStore::default());
    let clock = Arc::new(ManualClock::at_unix(T0));
    let m = manager_over(Arc::clone(&store), Arc::clone(&clock));
    let s = m.create("alice").await.unwrap();
    let mut tokens = vec![s.refresh_token.clone()];
    let mut access = vec![s.access_token.clone()];
    let mut t = s.refresh_token;
    for _ in 0..5 {
        let next = m.refresh(t.expose()).await.unwrap();
        access.push(next.access_token.clone());
        t = next.refresh_token;
        tokens.push(t.clone());
    }
    m.update_session_data(&s.handle, json!({"x": 1}))
        .await
        .unwrap();
    let written = store.written.lock().unwrap();
    assert!(written.len() >= 7);
    for bytes in written.iter() {
        for token in &tokens {
            assert!(
                !contains(bytes, token.expose().as_bytes()),
                "raw refresh token stored"
            );
            assert!(
                !contains(bytes, &refresh_secret(token.expose())),
                "raw secret stored"
            );
            let b64 = URL_SAFE_NO_PAD.encode(refresh_secret(token.expose()));
            assert!(!contains(bytes, b64.as_bytes()), "encoded secret stored");
        }
        for a in &access {
            let sig = a.expose().rsplit('.').next().unwrap();
            assert!(!contains(bytes, sig.as_bytes()), "access token stored");
        }
    }
}

#[tokio::test]
async fn sec_04_lookup_goes_by_the_non_secret_handle() {
    let store = Arc::new(RecordingStore::default());
    let m = manager_over(Arc::clone(&store), Arc::new(ManualClock::at_unix(T0)));
    let s = m.create("alice").await.unwrap();
    m.refresh(s.refresh_token.expose()).await.unwrap();
    let loads = store.loads.lock().unwrap();
    assert!(!loads.is_empty());
    assert!(
        loads.iter().all(|h| *h == s.handle),
        "the store is only asked for the handle"
    );
    // The handle is not derived from the secret.
    let secret = refresh_secret(s.refresh_token.expose());
    assert!(!contains(&secret, s.handle.as_bytes()));
}

#[tokio::test]
async fn sec_05_no_token_or_secret_in_debug_display_or_errors() {
    let f = fixture_grace(0);
    let s = f
        .manager
        .create("alice")
        .claims(json!({"role": "admin"}))
        .session_data(json!({"k": "v"}))
        .await
        .unwrap();
    let r2 = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    let verified = f.manager.verify(r2.access_token.expose()).unwrap();
    let theft = f
        .manager
        .refresh(s.refresh_token.expose())
        .await
        .unwrap_err();
    let unauthorized = f
        .manager
        .refresh(r2.refresh_token.expose())
        .await
        .unwrap_err();
    let verify_err = f.manager.verify("garbage").unwrap_err();
    let record = f.store.load(&r2.handle).await.unwrap();
    let s2 = f.manager.create("alice").await.unwrap();
    let info = f.manager.session(&s2.handle).await.unwrap();
    let events = f.events.lock().unwrap().clone();
    let outputs = [
        format!("{s:?}"),
        format!("{r2:?}"),
        format!("{:?}", s.access_token),
        format!("{:?}", s.refresh_token),
        format!("{verified:?}"),
        format!("{theft:?} {theft}"),
        format!("{unauthorized:?} {unauthorized}"),
        format!("{verify_err:?} {verify_err}"),
        format!("{record:?}"),
        format!("{info:?}"),
        format!("{events:?}"),
        format!("{:?}", f.manager),
        format!("{:?}", signing_key()),
        format!("{:?}", refresh_key()),
        format!("{:?}", f.store),
    ];
    let mut secrets: Vec<String> = Vec::new();
    for t in [&s, &r2, &s2] {
        secrets.push(t.refresh_token.expose().to_owned());
        secrets.push(URL_SAFE_NO_PAD.encode(refresh_secret(t.refresh_token.expose())));
        secrets.push(t.access_token.expose().to_owned());
        secrets.push(
            t.access_token
                .expose()
                .rsplit('.')
                .next()
                .unwrap()
                .to_owned(),
        );
    }
    // The signing keys' bytes, in the forms a Debug impl might print them.
    secrets.push(format!("{:?}", [0x11u8; 32]));
    secrets.push("1111111111111111".to_owned());
    secrets.push(format!("{:?}", [0x22u8; 32]));
    secrets.push("2222222222222222".to_owned());
    let mut hits = 0;
    for out in &outputs {
        for secret in &secrets {
            if out.contains(secret.as_str()) {
                hits += 1;
                eprintln!("leak in: {out}");
            }
        }
    }
    assert_eq!(hits, 0);
}

#[tokio::test]
async fn sec_08_reissue_replaces_session_and_revokes_the_old_one() {
    let f = fixture();
    let old = f
        .manager
        .create("alice")
        .claims(json!({"role": "user"}))
        .session_data(json!({"cart": 1}))
        .await
        .unwrap();
    f.advance(60);
    let new = f
        .manager
        .reissue(&old.handle)
        .claims(json!({"role": "admin"}))
        .reauthenticated()
        .await
        .unwrap();
    assert_ne!(new.handle, old.handle);
    assert_eq!(new.user_id, "alice");
    assert!(matches!(
        f.manager.refresh(old.refresh_token.expose()).await,
        Err(RefreshError::Unauthorized(_))
    ));
    assert!(
        f.manager
            .verify_strict(old.access_token.expose())
            .await
            .is_err()
    );
    let v = f
        .manager
        .verify_strict(new.access_token.expose())
        .await
        .unwrap();
    assert_eq!(v.claims()["role"], "admin");
    assert_eq!(
        v.auth_time().unix_timestamp(),
        T0 + 60,
        "reissue is a fresh authentication"
    );
    let info = f.manager.session(&new.handle).await.unwrap().unwrap();
    assert_eq!(
        info.session_data,
        json!({"cart": 1}),
        "server data carries over"
    );
    assert_eq!(info.generation, 0, "new lineage");
}

#[tokio::test]
async fn sec_08_reissue_failure_leaves_old_session_and_no_new_one() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let m = manager_over(Arc::clone(&store), Arc::new(ManualClock::at_unix(T0)));
    let old = m.create("alice").await.unwrap();
    // Retiring the old session fails: nothing changes.
    store.fail_next(Op::CompareAndSwap, Fault::Before);
    assert!(matches!(
        m.reissue(&old.handle).await,
        Err(SessionError::Store(_))
    ));
    assert_eq!(m.sessions_for_user("alice").await.unwrap().len(), 1);
    m.refresh(old.refresh_token.expose()).await.unwrap();
}

#[tokio::test]
async fn sec_09_idle_timeout_slides_with_use() {
    let f = fixture_with(|b| b.refresh_idle_ttl(Duration::hours(1)));
    let s = f.manager.create("alice").await.unwrap();
    f.advance(3599);
    let s2 = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    assert_eq!(s2.refresh_expires_at.unix_timestamp(), T0 + 3599 + 3600);
    f.advance(3599);
    let s3 = f.manager.refresh(s2.refresh_token.expose()).await.unwrap();
    f.advance(3601);
    assert!(matches!(
        f.manager.refresh(s3.refresh_token.expose()).await,
        Err(RefreshError::Unauthorized(Rejection::Expired))
    ));
    assert!(
        f.manager
            .sessions_for_user("alice")
            .await
            .unwrap()
            .is_empty()
    );
    // Expired records go with a purge (a refresh that meets one may have
    // read it before a concurrent rotation extended it, so it leaves it).
    let now = OffsetDateTime::from_unix_timestamp(T0 + 3599 * 2 + 3601).unwrap();
    assert_eq!(f.store.purge_expired(now).await.unwrap(), 1);
    assert!(f.store.is_empty());
}

#[tokio::test]
async fn sec_10_absolute_timeout_is_never_extended() {
    let f = fixture_with(|b| {
        b.refresh_idle_ttl(Duration::hours(1))
            .absolute_ttl(Duration::hours(2))
    });
    let s = f.manager.create("alice").await.unwrap();
    let end = s.session_expires_at;
    let mut t = s.refresh_token;
    for _ in 0..7 {
        f.advance(1000);
        let next = f.manager.refresh(t.expose()).await.unwrap();
        assert_eq!(next.session_expires_at, end);
        assert!(next.refresh_expires_at <= end && next.access_expires_at <= end);
        t = next.refresh_token;
    }
    f.advance(2 * 3600 - 7000 - 1);
    let last = f.manager.refresh(t.expose()).await.unwrap();
    f.advance(1);
    assert!(matches!(
        f.manager.refresh(last.refresh_token.expose()).await,
        Err(RefreshError::Unauthorized(Rejection::Expired))
    ));
    assert!(matches!(
        f.manager.verify_strict(last.access_token.expose()).await,
        Err(VerifyError::Unauthorized(_))
    ));
}

#[tokio::test]
async fn sec_11_expiry_cannot_be_set_by_client_controlled_claims() {
    let f = fixture();
    for reserved in [
        "exp",
        "iat",
        "nbf",
        "auth_time",
        "sub",
        "sid",
        "gen",
        "iss",
        "aud",
    ] {
        let mut claims = serde_json::Map::new();
        claims.insert(reserved.into(), json!(i64::MAX));
        assert!(matches!(
            f.manager
                .create("alice")
                .claims(Value::Object(claims))
                .await,
            Err(SessionError::InvalidClaims(_))
        ));
    }
    let s = f
        .manager
        .create("alice")
        .session_data(json!({"exp": i64::MAX}))
        .await
        .unwrap();
    assert_eq!(s.access_expires_at.unix_timestamp(), T0 + 600);
    assert!(
        f.manager
            .update_access_claims(&s.handle, json!({"exp": 1}))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sec_12_logout_revokes_refresh_and_strict_access() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    assert!(f.manager.revoke(&s.handle).await.unwrap());
    assert!(!f.manager.revoke(&s.handle).await.unwrap());
    assert!(f.manager.refresh(s.refresh_token.expose()).await.is_err());
    assert!(
        f.manager
            .verify_strict(s.access_token.expose())
            .await
            .is_err()
    );
    // An expired access token still identifies the session to log out.
    let t = f.manager.create("alice").await.unwrap();
    f.advance(3600);
    assert_eq!(
        f.manager
            .revoke_with_access_token(t.access_token.expose())
            .await
            .unwrap(),
        Some(t.handle)
    );
}

#[tokio::test]
async fn sec_13_revoke_one_session_leaves_others_valid() {
    let f = fixture();
    let a = f.manager.create("alice").await.unwrap();
    let b = f.manager.create("alice").await.unwrap();
    f.manager.revoke(&a.handle).await.unwrap();
    f.manager
        .verify_strict(b.access_token.expose())
        .await
        .unwrap();
    f.manager.refresh(b.refresh_token.expose()).await.unwrap();
}

#[tokio::test]
async fn sec_14_revoke_all_for_user_can_keep_the_current_session() {
    let f = fixture();
    let keep = f.manager.create("alice").await.unwrap();
    let other = f.manager.create("alice").await.unwrap();
    let bob = f.manager.create("bob").await.unwrap();
    assert_eq!(
        f.manager
            .revoke_all_for_user("alice", Some(&keep.handle))
            .await
            .unwrap(),
        1
    );
    assert!(
        f.manager
            .refresh(other.refresh_token.expose())
            .await
            .is_err()
    );
    f.manager
        .refresh(keep.refresh_token.expose())
        .await
        .unwrap();
    f.manager.refresh(bob.refresh_token.expose()).await.unwrap();
    let listed = f.manager.sessions_for_user("alice").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].handle, keep.handle);
}

#[tokio::test]
async fn sec_15_strict_verify_honours_revocation_stateless_lag_is_bounded() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    f.manager.revoke(&s.handle).await.unwrap();
    assert!(
        f.manager
            .verify_strict(s.access_token.expose())
            .await
            .is_err()
    );
    // Stateless: accepted only until exp + leeway.
    f.advance(600 + 29);
    assert!(f.manager.verify(s.access_token.expose()).is_ok());
    f.advance(1);
    assert!(f.manager.verify(s.access_token.expose()).is_err());
}

#[tokio::test]
async fn sec_15_strict_verify_rejects_stale_generations() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    let r1 = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    f.manager
        .verify_strict(s.access_token.expose())
        .await
        .unwrap();
    let r2 = f.manager.refresh(r1.refresh_token.expose()).await.unwrap();
    assert!(matches!(
        f.manager.verify_strict(s.access_token.expose()).await,
        Err(VerifyError::Unauthorized(Rejection::StaleGeneration))
    ));
    f.manager
        .verify_strict(r1.access_token.expose())
        .await
        .unwrap();
    f.manager
        .verify_strict(r2.access_token.expose())
        .await
        .unwrap();
}

#[tokio::test]
async fn sec_15_strict_verify_fails_closed_on_store_error() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let m = manager_over(Arc::clone(&store), Arc::new(ManualClock::at_unix(T0)));
    let s = m.create("alice").await.unwrap();
    store.fail_next(Op::Load, Fault::Before);
    assert!(matches!(
        m.verify_strict(s.access_token.expose()).await,
        Err(VerifyError::Store(_))
    ));
}

#[tokio::test]
async fn sec_16_auth_time_is_carried_and_recent_auth_can_be_required() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    f.advance(500);
    let r = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    let v = f.manager.verify(r.access_token.expose()).unwrap();
    assert_eq!(
        v.auth_time().unix_timestamp(),
        T0,
        "refresh does not renew auth_time"
    );
    f.manager
        .require_recent_auth(&v, Duration::seconds(500))
        .unwrap();
    assert!(matches!(
        f.manager.require_recent_auth(&v, Duration::seconds(499)),
        Err(VerifyError::Unauthorized(Rejection::AuthTooOld))
    ));
}

#[tokio::test]
async fn sec_17_each_refresh_issues_a_new_token_and_retires_the_old() {
    let f = fixture_grace(0);
    let s = f.manager.create("alice").await.unwrap();
    let mut seen = HashSet::new();
    let mut t = s.refresh_token;
    for g in 1..=10u64 {
        assert!(seen.insert(t.expose().to_owned()));
        let next = f.manager.refresh(t.expose()).await.unwrap();
        assert_eq!(
            f.manager
                .verify(next.access_token.expose())
                .unwrap()
                .generation(),
            g
        );
        t = next.refresh_token;
    }
}

#[tokio::test]
async fn sec_18_reuse_revokes_the_family_and_reports_handle_and_user() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    let r2 = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    f.advance(11);
    let err = f
        .manager
        .refresh(s.refresh_token.expose())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RefreshError::TokenTheftDetected { handle, user_id } if *handle == s.handle && user_id == "alice")
    );
    let events = f.events.lock().unwrap().clone();
    assert!(events.iter().any(|e| matches!(e, SessionEvent::TheftDetected { handle, user_id, presented_generation: 0, current_generation: 1 } if *handle == s.handle && user_id == "alice")));
    assert!(f.manager.refresh(r2.refresh_token.expose()).await.is_err());
    assert!(
        f.manager
            .verify_strict(r2.access_token.expose())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sec_18_theft_policy_can_revoke_every_session_of_the_user() {
    let f = fixture_with(|b| {
        b.theft_policy(TheftPolicy::RevokeAllForUser)
            .grace(Duration::ZERO)
    });
    let a = f.manager.create("alice").await.unwrap();
    let other = f.manager.create("alice").await.unwrap();
    let bob = f.manager.create("bob").await.unwrap();
    f.manager.refresh(a.refresh_token.expose()).await.unwrap();
    assert!(matches!(
        f.manager.refresh(a.refresh_token.expose()).await,
        Err(RefreshError::TokenTheftDetected { .. })
    ));
    assert!(
        f.manager
            .refresh(other.refresh_token.expose())
            .await
            .is_err()
    );
    f.manager.refresh(bob.refresh_token.expose()).await.unwrap();
}

#[tokio::test]
async fn sec_19_forged_token_naming_a_victims_session_changes_nothing() {
    let f = fixture();
    let victim = f.manager.create("alice").await.unwrap();
    let r2 = f
        .manager
        .refresh(victim.refresh_token.expose())
        .await
        .unwrap();
    f.advance(60);
    // An attacker's own deployment, with its own key under the victim's key id.
    let attacker = SessionManager::builder(MemoryStore::new())
        .signing_key(signing_key())
        .refresh_key(RefreshKey::new(1, &[0x99; 32]).unwrap())
        .build()
        .unwrap();
    let forged_lineage = attacker.create("mallory").await.unwrap();
    // Splice the victim's handle into the forged token: the MAC no longer matches.
    let forged = forged_lineage.refresh_token.expose();
    let raw_victim = URL_SAFE_NO_PAD
        .decode(victim.refresh_token.expose().strip_prefix("skr_").unwrap())
        .unwrap();
    let mut raw = URL_SAFE_NO_PAD
        .decode(forged.strip_prefix("skr_").unwrap())
        .unwrap();
    raw[5..21].copy_from_slice(&raw_victim[5..21]);
    let spliced = format!("skr_{}", URL_SAFE_NO_PAD.encode(&raw));
    let before = f.store.load(&victim.handle).await.unwrap();
    for token in [spliced.as_str(), forged] {
        assert!(matches!(
            f.manager.refresh(token).await,
            Err(RefreshError::Unauthorized(Rejection::Signature))
        ));
    }
    assert_eq!(
        f.store.load(&victim.handle).await.unwrap(),
        before,
        "victim untouched"
    );
    assert_eq!(f.theft_events(), 0);
    f.manager.refresh(r2.refresh_token.expose()).await.unwrap();
}

#[tokio::test]
async fn sec_21_grace_accepts_only_the_previous_token_and_never_forks() {
    let f = fixture_grace(60);
    let s = f.manager.create("alice").await.unwrap();
    let r2 = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    let again = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    assert_eq!(
        again.refresh_token, r2.refresh_token,
        "same successor, not a fork"
    );
    let r3 = f.manager.refresh(r2.refresh_token.expose()).await.unwrap();
    // R1 is now two generations back: theft even inside the window.
    assert!(matches!(
        f.manager.refresh(s.refresh_token.expose()).await,
        Err(RefreshError::TokenTheftDetected { .. })
    ));
    assert!(f.manager.refresh(r3.refresh_token.expose()).await.is_err());
}

#[tokio::test]
async fn sec_21_grace_replay_by_a_thief_is_exposed_by_the_next_rotation() {
    let f = fixture_grace(10);
    let s = f.manager.create("alice").await.unwrap();
    let owner = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    let thief = f.manager.refresh(s.refresh_token.expose()).await.unwrap();
    assert_eq!(owner.refresh_token, thief.refresh_token);
    // The owner moves on; once the grace has passed the thief's copy is theft.
    f.advance(5);
    f.manager
        .refresh(owner.refresh_token.expose())
        .await
        .unwrap();
    f.advance(11);
    assert!(matches!(
        f.manager.refresh(thief.refresh_token.expose()).await,
        Err(RefreshError::TokenTheftDetected { .. })
    ));
}

#[tokio::test]
async fn sec_22_no_issued_expiry_passes_the_absolute_lifetime() {
    let f = fixture_with(|b| {
        b.absolute_ttl(Duration::seconds(300))
            .refresh_idle_ttl(Duration::seconds(300))
            .access_ttl(Duration::seconds(120))
    });
    let first = f.manager.create("alice").await.unwrap();
    // Near the end of the session, a refresh would issue tokens past it.
    f.advance(250);
    let s = f
        .manager
        .refresh(first.refresh_token.expose())
        .await
        .unwrap();
    assert_eq!(s.access_expires_at, s.session_expires_at);
    assert_eq!(s.refresh_expires_at, s.session_expires_at);
    let v = f.manager.verify(s.access_token.expose()).unwrap();
    assert_eq!(v.expires_at(), s.session_expires_at);
}

#[tokio::test]
async fn sec_24_cas_failing_before_apply_leaves_the_old_token_working() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let clock = Arc::new(ManualClock::at_unix(T0));
    let m = manager_over(Arc::clone(&store), Arc::clone(&clock));
    let s = m.create("alice").await.unwrap();
    let before = store.load(&s.handle).await.unwrap();
    store.fail_next(Op::CompareAndSwap, Fault::Before);
    assert!(matches!(
        m.refresh(s.refresh_token.expose()).await,
        Err(RefreshError::Store(_))
    ));
    assert_eq!(
        store.load(&s.handle).await.unwrap(),
        before,
        "nothing half-written"
    );
    m.refresh(s.refresh_token.expose()).await.unwrap();
}

#[tokio::test]
async fn sec_24_cas_applied_but_unconfirmed_is_read_back_even_without_grace() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let clock = Arc::new(ManualClock::at_unix(T0));
    let m = SessionManager::builder(Arc::clone(&store))
        .signing_key(signing_key())
        .refresh_key(refresh_key())
        .grace(Duration::ZERO)
        .clock(clock)
        .build()
        .unwrap();
    let s = m.create("alice").await.unwrap();
    store.fail_next(Op::CompareAndSwap, Fault::After);
    // The write happened but its answer was lost: the manager reads it back
    // and hands out the persisted successor instead of an error that would
    // leave the client with a retired token.
    let next = m.refresh(s.refresh_token.expose()).await.unwrap();
    assert_eq!(store.load(&s.handle).await.unwrap().unwrap().generation, 1);
    m.refresh(next.refresh_token.expose()).await.unwrap();
}

#[tokio::test]
async fn sec_24_cas_applied_and_read_back_failing_is_recovered_inside_the_grace() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let clock = Arc::new(ManualClock::at_unix(T0));
    let m = manager_over(Arc::clone(&store), Arc::clone(&clock));
    let s = m.create("alice").await.unwrap();
    store.fail_next(Op::CompareAndSwap, Fault::After);
    // The first load is the refresh's own; the second is the read-back.
    store.fail_after(Op::Load, 1, Fault::Before);
    assert!(matches!(
        m.refresh(s.refresh_token.expose()).await,
        Err(RefreshError::Store(_))
    ));
    // The rotation was persisted; the client never saw its result. A retry
    // with the old token inside the grace receives the persisted successor.
    clock.advance(Duration::seconds(2));
    let retried = m.refresh(s.refresh_token.expose()).await.unwrap();
    assert_eq!(store.load(&s.handle).await.unwrap().unwrap().generation, 1);
    m.refresh(retried.refresh_token.expose()).await.unwrap();
}

#[tokio::test]
async fn sec_24_theft_revocation_applied_but_unconfirmed_is_still_theft() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let m = SessionManager::builder(Arc::clone(&store))
        .signing_key(signing_key())
        .refresh_key(refresh_key())
        .grace(Duration::ZERO)
        .clock(Arc::new(ManualClock::at_unix(T0)))
        .build()
        .unwrap();
    let s = m.create("alice").await.unwrap();
    m.refresh(s.refresh_token.expose()).await.unwrap();
    // The theft's tombstone is written, its answer lost.
    store.fail_next(Op::CompareAndSwap, Fault::After);
    assert!(matches!(
        m.refresh(s.refresh_token.expose()).await,
        Err(RefreshError::TokenTheftDetected { .. })
    ));
    assert!(m.session(&s.handle).await.unwrap().is_none());
    assert_eq!(store.inner().len(), 1, "the tombstone alone");
}

#[tokio::test]
async fn sec_08_reissue_racing_a_revocation_hands_out_nothing() {
    let store = Arc::new(RecordingStore::default());
    let m = manager_over(Arc::clone(&store), Arc::new(ManualClock::at_unix(T0)));
    let old = m.create("alice").await.unwrap();
    *store.revoke_on_insert.lock().unwrap() = Some(old.handle);
    assert!(matches!(
        m.reissue(&old.handle).await,
        Err(SessionError::NotFound)
    ));
    assert!(
        store.inner.is_empty(),
        "a revoked family does not go on under a new handle"
    );
}

#[tokio::test]
async fn sec_24_failed_create_leaves_no_session_and_failed_load_fails_closed() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let m = manager_over(Arc::clone(&store), Arc::new(ManualClock::at_unix(T0)));
    store.fail_next(Op::Insert, Fault::Before);
    assert!(matches!(
        m.create("alice").await,
        Err(SessionError::Store(_))
    ));
    assert!(store.inner().is_empty());
    let s = m.create("alice").await.unwrap();
    store.fail_next(Op::Load, Fault::Before);
    assert!(matches!(
        m.refresh(s.refresh_token.expose()).await,
        Err(RefreshError::Store(_))
    ));
    m.refresh(s.refresh_token.expose()).await.unwrap();
}

/// An insert applied with its answer lost used to leave a session nobody
/// holds a token for, listed among the user's sessions until it expired.
#[tokio::test]
async fn sec_24_unconfirmed_insert_leaves_no_session() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let m = manager_over(Arc::clone(&store), Arc::new(ManualClock::at_unix(T0)));
    store.fail_next(Op::Insert, Fault::After);
    assert!(matches!(
        m.create("alice").await,
        Err(SessionError::Store(_))
    ));
    assert!(store.inner().is_empty(), "the applied insert was undone");
    assert!(m.sessions_for_user("alice").await.unwrap().is_empty());
}

#[tokio::test]
async fn sec_24_theft_revocation_failure_fails_closed_and_retries() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let clock = Arc::new(ManualClock::at_unix(T0));
    let m = SessionManager::builder(Arc::clone(&store))
        .signing_key(signing_key())
        .refresh_key(refresh_key())
        .grace(Duration::ZERO)
        .clock(clock)
        .build()
        .unwrap();
    let s = m.create("alice").await.unwrap();
    m.refresh(s.refresh_token.expose()).await.unwrap();
    // The theft's tombstone is not written.
    store.fail_next(Op::CompareAndSwap, Fault::Before);
    assert!(matches!(
        m.refresh(s.refresh_token.expose()).await,
        Err(RefreshError::Store(_))
    ));
    assert!(matches!(
        m.refresh(s.refresh_token.expose()).await,
        Err(RefreshError::TokenTheftDetected { .. })
    ));
}

#[tokio::test]
async fn sec_30_tokens_cannot_pass_as_each_other() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    assert!(matches!(
        f.manager.verify(s.refresh_token.expose()),
        Err(VerifyError::Unauthorized(_))
    ));
    assert!(matches!(
        f.manager.refresh(s.access_token.expose()).await,
        Err(RefreshError::Unauthorized(Rejection::Malformed))
    ));
}

#[tokio::test]
async fn sec_25_alg_none_through_the_manager_is_unauthorized() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    let payload = s
        .access_token
        .expose()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"{alg}","typ":"at+jwt","kid":"test-key"}}"#
        ));
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert!(matches!(
                f.manager.verify(&token),
                Err(VerifyError::Unauthorized(_))
            ));
        }
    }
}

#[tokio::test]
async fn sec_39_oversized_input_is_rejected_before_the_store() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let m = manager_over(Arc::clone(&store), Arc::new(ManualClock::at_unix(T0)));
    let huge = "a".repeat(4097);
    assert!(matches!(
        m.refresh(&huge).await,
        Err(RefreshError::Unauthorized(Rejection::TooLong))
    ));
    assert!(matches!(
        m.verify(&huge),
        Err(VerifyError::Unauthorized(Rejection::TooLong))
    ));
    assert!(matches!(
        m.verify_strict(&huge).await,
        Err(VerifyError::Unauthorized(Rejection::TooLong))
    ));
    assert!(
        store.calls().is_empty(),
        "no store call for oversized input"
    );
}

#[tokio::test]
async fn sec_40_bad_input_never_touches_the_store_or_revokes() {
    let store = Arc::new(FaultyStore::new(MemoryStore::new()));
    let m = manager_over(Arc::clone(&store), Arc::new(ManualClock::at_unix(T0)));
    let s = m.create("alice").await.unwrap();
    let calls = store.calls().len();
    let valid = s.refresh_token.expose();
    let inputs = [
        String::new(),
        "skr_".into(),
        valid[..valid.len() - 1].to_owned(),
        format!("{valid}A"),
        valid.replace("skr_", "skr-"),
        "\u{0}\u{ffff}é".into(),
        ".".repeat(5000),
        s.access_token.expose().to_owned(),
    ];
    for input in &inputs {
        assert!(matches!(
            m.refresh(input).await,
            Err(RefreshError::Unauthorized(_))
        ));
        assert!(m.verify(input).is_err() || input == s.access_token.expose());
    }
    assert_eq!(
        store.calls().len(),
        calls,
        "hostile input never reaches the store"
    );
    m.refresh(valid).await.unwrap();
}
