//! Lifetimes that cannot be stretched, revocation that cannot half-happen,
//! and bounded sessions per user: SEC-41 to SEC-46.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use serde_json::json;
use sessionkit::clock::Clock as _;
use sessionkit::config::TheftPolicy;
use sessionkit::store::{SessionHandle, SessionRecord, SessionStore, StoreError};
use sessionkit::{
    ConfigError, MemoryStore, RefreshError, Rejection, RevokeReason, SessionError, SessionEvent,
    SessionManager, VerifyError,
};
use time::{Duration, OffsetDateTime};

/// SEC-41: reissuing (a privilege change) every 150 s cannot carry a
/// session past its absolute expiry, and the access tokens keep the
/// original `auth_time`, so `require_recent_auth` cannot be satisfied by a
/// reissue.
#[tokio::test]
async fn sec_41_reissue_never_extends_the_absolute_lifetime_or_auth_time() {
    let f = fixture_with(|b| {
        b.absolute_ttl(Duration::seconds(1000))
            .refresh_idle_ttl(Duration::seconds(1000))
            .access_ttl(Duration::seconds(60))
    });
    let login = f.manager.create("alice").await.unwrap();
    let end = login.session_expires_at;
    assert_eq!(end.unix_timestamp(), T0 + 1000);
    let mut current = login.clone();
    for round in 1..=6 {
        f.advance(150);
        current = f
            .manager
            .reissue(&current.handle)
            .claims(json!({ "round": round }))
            .await
            .unwrap();
        assert_eq!(current.session_expires_at, end, "round {round}");
        assert!(current.refresh_expires_at <= end);
        assert!(current.access_expires_at <= end);
        let v = f.manager.verify(current.access_token.expose()).unwrap();
        assert_eq!(
            v.auth_time().unix_timestamp(),
            T0,
            "auth_time stays the login's"
        );
        assert!(
            f.manager
                .require_recent_auth(&v, Duration::seconds(60))
                .is_err(),
            "a reissue is not a recent authentication"
        );
    }
    // 900 s after the login; at 1000 s the session is over whatever was done.
    f.advance(100);
    assert!(matches!(
        f.manager.refresh(current.refresh_token.expose()).await,
        Err(RefreshError::Unauthorized(Rejection::Expired))
    ));
    assert!(matches!(
        f.manager.reissue(&current.handle).await,
        Err(SessionError::NotFound)
    ));
}

/// SEC-41: only a reissue the application marks as a fresh authentication
/// restarts `auth_time` and the absolute lifetime.
#[tokio::test]
async fn sec_41_a_reauthenticated_reissue_restarts_both() {
    let f = fixture_with(|b| b.absolute_ttl(Duration::seconds(1000)));
    let login = f.manager.create("alice").await.unwrap();
    f.advance(400);
    let again = f
        .manager
        .reissue(&login.handle)
        .reauthenticated()
        .await
        .unwrap();
    assert_eq!(again.session_expires_at.unix_timestamp(), T0 + 400 + 1000);
    let v = f.manager.verify(again.access_token.expose()).unwrap();
    assert_eq!(v.auth_time().unix_timestamp(), T0 + 400);
    f.manager
        .require_recent_auth(&v, Duration::seconds(60))
        .unwrap();
}

/// SEC-42: an access lifetime longer than the idle or absolute lifetime is
/// a configuration error, not a silent stretch.
#[test]
fn sec_42_access_ttl_longer_than_the_session_is_refused() {
    let build = |access: i64, idle: i64, absolute: i64| {
        SessionManager::builder(MemoryStore::new())
            .signing_key(signing_key())
            .refresh_key(refresh_key())
            .access_ttl(Duration::seconds(access))
            .refresh_idle_ttl(Duration::seconds(idle))
            .absolute_ttl(Duration::seconds(absolute))
            .build()
    };
    assert!(matches!(
        build(601, 600, 3600),
        Err(ConfigError::InvalidSetting {
            name: "access_ttl",
            ..
        })
    ));
    assert!(matches!(
        build(601, 7200, 600),
        Err(ConfigError::InvalidSetting {
            name: "access_ttl",
            ..
        })
    ));
    assert!(build(600, 600, 600).is_ok());
}

/// SEC-42: no access token outlives the refresh expiry of its session. A
/// retry inside the grace window is issued a new access token late in the
/// current generation's idle window: its `exp` is the idle expiry, so once
/// the session idles out, the token stops verifying too.
#[tokio::test]
async fn sec_42_access_tokens_expire_when_the_session_idles_out() {
    let f = fixture_with(|b| {
        b.access_ttl(Duration::seconds(120))
            .refresh_idle_ttl(Duration::seconds(120))
            .grace(Duration::seconds(10))
            .leeway(Duration::ZERO)
    });
    let r1 = f.manager.create("alice").await.unwrap();
    f.advance(100);
    let r2 = f.manager.refresh(r1.refresh_token.expose()).await.unwrap();
    assert_eq!(r2.refresh_expires_at.unix_timestamp(), T0 + 220);
    f.advance(5);
    let retry = f.manager.refresh(r1.refresh_token.expose()).await.unwrap();
    assert_eq!(retry.refresh_token, r2.refresh_token, "the grace successor");
    assert_eq!(
        retry.access_expires_at, retry.refresh_expires_at,
        "capped at the idle expiry, not now + access_ttl"
    );
    f.advance(115); // T0 + 220: the session idled out.
    assert!(matches!(
        f.manager.verify(retry.access_token.expose()),
        Err(VerifyError::TryRefresh)
    ));
    assert!(f.manager.refresh(r2.refresh_token.expose()).await.is_err());
}

/// SEC-45: logging out with an access token takes the generations strict
/// verification takes (current and previous): an old access token found in
/// a log cannot end a session that has been refreshed since.
#[tokio::test]
async fn sec_45_logout_by_an_old_generation_access_token_is_refused() {
    let f = fixture_grace(0);
    let g0 = f.manager.create("alice").await.unwrap();
    f.advance(1);
    let g1 = f.manager.refresh(g0.refresh_token.expose()).await.unwrap();
    f.advance(1);
    let g2 = f.manager.refresh(g1.refresh_token.expose()).await.unwrap();
    assert!(matches!(
        f.manager
            .revoke_with_access_token(g0.access_token.expose())
            .await,
        Err(SessionError::Unauthorized(Rejection::StaleGeneration))
    ));
    f.manager
        .verify_strict(g2.access_token.expose())
        .await
        .expect("the session is untouched");
    // The previous generation's token logs out, even once expired.
    f.advance(3600);
    assert_eq!(
        f.manager
            .revoke_with_access_token(g1.access_token.expose())
            .await
            .unwrap(),
        Some(g2.handle)
    );
    assert!(f.manager.refresh(g2.refresh_token.expose()).await.is_err());
}

/// SEC-12, SEC-44: any genuine refresh token of the session logs it out
/// without rotating anything; a forged one changes nothing.
#[tokio::test]
async fn sec_44_logout_by_refresh_token_revokes_the_session() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    let other = f.manager.create("alice").await.unwrap();
    // Another last character (always a change): the MAC no longer matches.
    let mut forged = s.refresh_token.expose().to_owned();
    let last = forged.pop();
    forged.push(if last == Some('A') { 'Q' } else { 'A' });
    assert!(matches!(
        f.manager.revoke_with_refresh_token(&forged).await,
        Err(SessionError::Unauthorized(_))
    ));
    assert_eq!(
        f.manager
            .revoke_with_refresh_token(s.refresh_token.expose())
            .await
            .unwrap(),
        Some(s.handle)
    );
    assert!(f.manager.refresh(s.refresh_token.expose()).await.is_err());
    assert_eq!(
        f.manager
            .revoke_with_refresh_token(s.refresh_token.expose())
            .await
            .unwrap(),
        None,
        "already gone"
    );
    f.manager
        .verify_strict(other.access_token.expose())
        .await
        .expect("other sessions stay");
}

/// SEC-43: one more session than the limit revokes the user's oldest, and
/// says so to the event hook; other users and reissues are not affected.
#[tokio::test]
async fn sec_43_sessions_per_user_are_bounded_oldest_first() {
    let f = fixture_with(|b| b.max_sessions_per_user(3));
    let mut alice = Vec::new();
    for _ in 0..3 {
        alice.push(f.manager.create("alice").await.unwrap());
        f.advance(1);
    }
    let bob = f.manager.create("bob").await.unwrap();
    // A reissue replaces a session: the count does not grow.
    let reissued = f.manager.reissue(&alice[2].handle).await.unwrap();
    assert_eq!(f.manager.sessions_for_user("alice").await.unwrap().len(), 3);
    f.manager
        .refresh(alice[0].refresh_token.expose())
        .await
        .expect("the oldest survived a reissue");
    f.advance(1);
    let fourth = f.manager.create("alice").await.unwrap();
    let left: Vec<SessionHandle> = f
        .manager
        .sessions_for_user("alice")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.handle)
        .collect();
    assert_eq!(left.len(), 3);
    assert!(!left.contains(&alice[0].handle), "the oldest went");
    assert!(left.contains(&fourth.handle));
    assert!(left.contains(&reissued.handle));
    assert!(f.events.lock().unwrap().contains(&SessionEvent::Revoked {
        handle: alice[0].handle,
        reason: RevokeReason::SessionLimit,
    }));
    f.manager
        .verify_strict(bob.access_token.expose())
        .await
        .expect("other users are unaffected");
}

/// SEC-43: the limit is on by default and 0 turns it off.
#[tokio::test]
async fn sec_43_default_limit_is_100_and_zero_is_unlimited() {
    let f = fixture();
    for _ in 0..101 {
        f.manager.create("alice").await.unwrap();
    }
    assert_eq!(
        f.manager.sessions_for_user("alice").await.unwrap().len(),
        100
    );
    let f = fixture_with(|b| b.max_sessions_per_user(0));
    for _ in 0..101 {
        f.manager.create("alice").await.unwrap();
    }
    assert_eq!(
        f.manager.sessions_for_user("alice").await.unwrap().len(),
        101
    );
}

/// How many times in a row [`PartialRevokeAll`] fails: as many as the
/// manager tries before it reports the revocation incomplete.
const FAILURES: usize = 3;

/// A store whose `delete_by_user` fails [`FAILURES`] times, the first time
/// after deleting one of the user's sessions: a partial failure the trait
/// allows.
struct PartialRevokeAll {
    inner: MemoryStore,
    failures_left: Mutex<usize>,
}

#[async_trait::async_trait]
impl SessionStore for PartialRevokeAll {
    async fn insert(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.inner.insert(record).await
    }
    async fn load(&self, handle: &SessionHandle) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.load(handle).await
    }
    async fn compare_and_swap(&self, v: u64, record: &SessionRecord) -> Result<bool, StoreError> {
        self.inner.compare_and_swap(v, record).await
    }
    async fn delete(&self, handle: &SessionHandle) -> Result<bool, StoreError> {
        self.inner.delete(handle).await
    }
    async fn list_by_user(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.list_by_user(user_id).await
    }
    async fn delete_by_user(
        &self,
        user_id: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<u64, StoreError> {
        let attempt = {
            let mut left = self
                .failures_left
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let attempt = *left;
            *left = left.saturating_sub(1);
            attempt
        };
        if attempt > 0 {
            // The first failing call deletes one session (the newest but
            // the one to keep) before it fails, to leave a partial effect.
            if attempt == FAILURES {
                let records = self.inner.list_by_user(user_id).await?;
                if let Some(r) = records
                    .iter()
                    .filter(|r| Some(&r.handle) != keep)
                    .max_by_key(|r| (r.created_at, r.handle))
                {
                    self.inner.delete(&r.handle).await?;
                }
            }
            return Err(StoreError::Timeout);
        }
        self.inner.delete_by_user(user_id, keep).await
    }
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.inner.purge_expired(now).await
    }
}

/// SEC-46: under `RevokeAllForUser`, a theft whose revocation of the
/// user's other sessions fails partway is reported as incomplete, to the
/// caller and to the event hook; the stolen session is dead at once; and
/// the next presentation of any of its tokens finishes the job.
#[tokio::test]
async fn sec_46_an_incomplete_revoke_all_after_theft_is_reported_and_finished_later() {
    let store = Arc::new(PartialRevokeAll {
        inner: MemoryStore::new(),
        failures_left: Mutex::new(FAILURES),
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let clock = Arc::new(sessionkit::clock::ManualClock::at_unix(T0));
    let m = SessionManager::builder(Arc::clone(&store))
        .signing_key(signing_key())
        .refresh_key(refresh_key())
        .grace(Duration::ZERO)
        .theft_policy(TheftPolicy::RevokeAllForUser)
        .clock(Arc::clone(&clock))
        .event_hook(move |e: &SessionEvent| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    let stolen = m.create("alice").await.unwrap();
    let laptop = m.create("alice").await.unwrap();
    let phone = m.create("alice").await.unwrap();
    clock.advance(Duration::seconds(1));
    let owner = m.refresh(stolen.refresh_token.expose()).await.unwrap();

    // The thief replays the retired token: theft, but revoke-all fails.
    match m.refresh(stolen.refresh_token.expose()).await {
        Err(RefreshError::TheftRevocationIncomplete {
            handle, user_id, ..
        }) => {
            assert_eq!(handle, stolen.handle);
            assert_eq!(user_id, "alice");
        }
        other => panic!("expected an incomplete revocation, got {other:?}"),
    }
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        SessionEvent::TheftRevocationIncomplete { handle, .. } if *handle == stolen.handle
    )));
    // The stolen session is dead at once, for both lineages.
    assert!(
        m.verify_strict(owner.access_token.expose()).await.is_err(),
        "strict verification of the stolen session fails"
    );
    assert!(
        m.sessions_for_user("alice")
            .await
            .unwrap()
            .iter()
            .all(|s| s.handle != stolen.handle)
    );
    let survivors = m.sessions_for_user("alice").await.unwrap().len();
    assert!(survivors >= 1, "the failure left some of alice's sessions");

    // The owner's newer token is refused as a token of a stolen session;
    // the store has recovered, and this presentation finishes the job.
    assert!(matches!(
        m.refresh(owner.refresh_token.expose()).await,
        Err(RefreshError::Unauthorized(Rejection::TheftRevoked))
    ));
    assert!(m.sessions_for_user("alice").await.unwrap().is_empty());
    for s in [&laptop, &phone] {
        assert!(m.refresh(s.refresh_token.expose()).await.is_err());
    }
    assert_eq!(store.inner.len(), 1, "only the stolen session's tombstone");
    // The job is done: a later login is not undone by the copied token.
    let again = m.create("alice").await.unwrap();
    assert!(matches!(
        m.refresh(stolen.refresh_token.expose()).await,
        Err(RefreshError::Unauthorized(Rejection::TheftRevoked))
    ));
    m.verify_strict(again.access_token.expose())
        .await
        .expect("the new login survives");
}

/// SEC-44: rotating the signing key logs nobody out. Once a retired key's
/// window has ended, an expired access token it signed still answers
/// "refresh" (not "unauthorized"), logs its session out, and the refresh
/// token keeps working; a token it signed after its retirement is refused.
#[tokio::test]
async fn sec_44_a_key_rotation_never_logs_out_a_live_session() {
    let f = fixture();
    let s = f.manager.create("alice").await.unwrap();
    let other = f.manager.create("alice").await.unwrap();
    let retired_at = f.clock.now();
    let rotated = SessionManager::builder(Arc::clone(&f.store))
        .signing_key(sessionkit::SigningKey::hs256("next", &[0x44; 32]).unwrap())
        .retired_signing_key(signing_key(), retired_at)
        .refresh_key(refresh_key())
        .clock(Arc::clone(&f.clock))
        .build()
        .unwrap();
    // A day later the old key's window is long over.
    f.advance(86_400);
    assert!(matches!(
        rotated.verify(s.access_token.expose()),
        Err(VerifyError::TryRefresh)
    ));
    assert!(matches!(
        rotated.verify_strict(s.access_token.expose()).await,
        Err(VerifyError::TryRefresh)
    ));
    // The client refreshes and carries on under the new key.
    let next = rotated
        .refresh(other.refresh_token.expose())
        .await
        .expect("the refresh token still works");
    rotated.verify(next.access_token.expose()).unwrap();
    // Logout with the old expired token still ends its session.
    assert_eq!(
        rotated
            .revoke_with_access_token(s.access_token.expose())
            .await
            .unwrap(),
        Some(s.handle)
    );
    assert!(rotated.refresh(s.refresh_token.expose()).await.is_err());
    // A token the retired key signed after its retirement is not expired:
    // no retired key vouches for that.
    let late = f.manager.create("bob").await.unwrap();
    assert!(matches!(
        rotated.verify(late.access_token.expose()),
        Err(VerifyError::Unauthorized(Rejection::UnknownKey))
    ));
}

/// After a theft, every later token of the session (the owner's newest
/// included) is refused as `TheftRevoked`, so the owner's page can say the
/// session ended because a copy was used elsewhere, not just "signed out";
/// the session is gone for listing and strict verification, and a logout
/// still clears it.
#[tokio::test]
async fn sec_18_a_session_ended_by_theft_says_so_to_every_later_token() {
    let f = fixture_grace(0);
    // The thief replays the copy it took before the owner's refresh.
    let (s, owner) = f.stolen("alice").await;
    // The owner comes back with the newest token: told why.
    let err = f
        .manager
        .refresh(owner.refresh_token.expose())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RefreshError::Unauthorized(Rejection::TheftRevoked)
    ));
    assert_eq!(
        err.logout_reason(),
        Some(sessionkit::web::LogoutReason::Theft)
    );
    assert_eq!(err.error_code(), "unauthorized");
    assert_eq!(f.theft_events(), 1, "the theft is reported once");
    assert!(f.manager.session(&s.handle).await.unwrap().is_none());
    assert!(
        f.manager
            .sessions_for_user("alice")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        f.manager.verify_strict(owner.access_token.expose()).await,
        Err(VerifyError::Unauthorized(_))
    ));
    // The tombstone lasts until the session would have expired, then a
    // purge removes it.
    f.advance(7 * 86_400);
    assert!(matches!(
        f.manager.refresh(owner.refresh_token.expose()).await,
        Err(RefreshError::Unauthorized(Rejection::Expired))
    ));
    let now = OffsetDateTime::from_unix_timestamp(T0 + 2 + 7 * 86_400).unwrap();
    assert_eq!(f.store.purge_expired(now).await.unwrap(), 1);
    assert!(f.store.is_empty());
}

/// SEC-08, SEC-18: a session revoked for a theft cannot be reissued: a
/// thief holding one of its access tokens (still valid for stateless
/// verification) gets no new lineage out of a privilege change.
#[tokio::test]
async fn sec_18_a_theft_revoked_session_cannot_be_reissued() {
    let f = fixture_grace(0);
    let (s, thief) = f.stolen("alice").await;
    // The thief's access token still verifies statelessly until it expires,
    // but the session behind it is dead for everything else.
    f.manager.verify(thief.access_token.expose()).unwrap();
    assert!(matches!(
        f.manager.verify_strict(thief.access_token.expose()).await,
        Err(VerifyError::Unauthorized(Rejection::TheftRevoked))
    ));
    assert!(matches!(
        f.manager.reissue(&s.handle).reauthenticated().await,
        Err(SessionError::NotFound)
    ));
    assert!(
        f.manager
            .sessions_for_user("alice")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(f.store.len(), 1, "only the tombstone");
}

/// SEC-46: with the user-wide revocation still owed (the store failed at
/// the theft), a logout with a token of the stolen session finishes it
/// instead of erasing the tombstone that remembers it; and a later login of
/// the user, made after the theft, is spared.
#[tokio::test]
async fn sec_46_an_owed_revoke_all_is_finished_by_logout_and_spares_later_logins() {
    let store = Arc::new(PartialRevokeAll {
        inner: MemoryStore::new(),
        failures_left: Mutex::new(FAILURES),
    });
    let clock = Arc::new(sessionkit::clock::ManualClock::at_unix(T0));
    let m = SessionManager::builder(Arc::clone(&store))
        .signing_key(signing_key())
        .refresh_key(refresh_key())
        .grace(Duration::ZERO)
        .theft_policy(TheftPolicy::RevokeAllForUser)
        .clock(Arc::clone(&clock))
        .build()
        .unwrap();
    let stolen = m.create("alice").await.unwrap();
    let _laptop = m.create("alice").await.unwrap();
    let _phone = m.create("alice").await.unwrap();
    clock.advance(Duration::seconds(1));
    m.refresh(stolen.refresh_token.expose()).await.unwrap();
    clock.advance(Duration::seconds(1));
    assert!(matches!(
        m.refresh(stolen.refresh_token.expose()).await,
        Err(RefreshError::TheftRevocationIncomplete { .. })
    ));
    // Told of the theft, alice logs in again.
    clock.advance(Duration::seconds(1));
    let fresh = m.create("alice").await.unwrap();
    // A logout with the stolen session's refresh token finishes the job.
    assert_eq!(
        m.revoke_with_refresh_token(stolen.refresh_token.expose())
            .await
            .unwrap(),
        Some(stolen.handle)
    );
    let left: Vec<SessionHandle> = m
        .sessions_for_user("alice")
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.handle)
        .collect();
    assert_eq!(left, vec![fresh.handle], "only the login after the theft");
    // The tombstone still tells later tokens why.
    assert!(matches!(
        m.refresh(stolen.refresh_token.expose()).await,
        Err(RefreshError::Unauthorized(Rejection::TheftRevoked))
    ));
    m.verify_strict(fresh.access_token.expose()).await.unwrap();
}
