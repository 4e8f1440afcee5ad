//! The revocation cases of the fault suite: revoke, revoke-all, and a
//! theft under `RevokeAllForUser` (SEC-46), each with a fault at every
//! store call.

use std::sync::Arc;

use time::Duration;

use super::fault_suite::{Ctx, GRACE};
use crate::clock::ManualClock;
use crate::config::TheftPolicy;
use crate::error::{RefreshError, SessionError};
use crate::manager::SessionManager;
use crate::store::SessionStore;
use crate::testing::fault::FaultyStore;
use crate::testing::fixtures::unique_user;

impl<S: SessionStore> Ctx<'_, S> {
    pub(super) async fn revoke(&self, m: &SessionManager<Arc<FaultyStore<Arc<S>>>>) {
        let s = self
            .plain
            .create(unique_user("fault-revoke"))
            .await
            .expect("create without faults");
        let before = self.load(&s.handle).await;
        let result = m.revoke(&s.handle).await;
        let after = self.load(&s.handle).await;
        match result {
            Ok(existed) => assert!(
                existed && after.is_none(),
                "a successful revoke removes the session ({})",
                self.context()
            ),
            Err(SessionError::Store(_)) => assert!(
                after.is_none() || after == before,
                "a failed revoke leaves the session whole or gone ({})",
                self.context()
            ),
            Err(e) => panic!("unexpected {e:?} ({})", self.context()),
        }
        if after.is_some() {
            self.plain
                .verify_strict(s.access_token.expose())
                .await
                .expect("an unrevoked session still verifies");
        }
        self.plain.revoke(&s.handle).await.expect("retried revoke");
        assert!(self.load(&s.handle).await.is_none());
        assert!(
            matches!(
                self.plain.refresh(s.refresh_token.expose()).await,
                Err(RefreshError::Unauthorized(_))
            ),
            "a revoked session does not refresh ({})",
            self.context()
        );
    }

    pub(super) async fn revoke_all(&self, m: &SessionManager<Arc<FaultyStore<Arc<S>>>>) {
        let user = unique_user("fault-all");
        let other = unique_user("fault-other");
        let mut sessions = Vec::new();
        for _ in 0..3 {
            sessions.push(
                self.plain
                    .create(&user)
                    .await
                    .expect("create without faults"),
            );
        }
        let bystander = self
            .plain
            .create(&other)
            .await
            .expect("create without faults");
        let keep = sessions[0].handle;
        let mut before = Vec::new();
        for s in &sessions {
            before.push(self.load(&s.handle).await);
        }
        let result = m.revoke_all_for_user(&user, Some(&keep)).await;
        let mut after = Vec::new();
        for s in &sessions {
            after.push(self.load(&s.handle).await);
        }
        assert_eq!(
            after[0],
            before[0],
            "the kept session is untouched ({})",
            self.context()
        );
        match result {
            Ok(n) => assert!(
                n == 2 && after[1..].iter().all(Option::is_none),
                "a successful revoke-all removes every other session, got {n} ({})",
                self.context()
            ),
            Err(SessionError::Store(_)) => {
                for (b, a) in before.iter().zip(&after) {
                    assert!(
                        a.is_none() || a == b,
                        "each session is whole or gone ({})",
                        self.context()
                    );
                }
            }
            Err(e) => panic!("unexpected {e:?} ({})", self.context()),
        }
        self.plain
            .revoke_all_for_user(&user, Some(&keep))
            .await
            .expect("retried revoke-all");
        for s in &sessions[1..] {
            assert!(
                matches!(
                    self.plain.refresh(s.refresh_token.expose()).await,
                    Err(RefreshError::Unauthorized(_))
                ),
                "revoked sessions do not refresh ({})",
                self.context()
            );
        }
        self.plain
            .refresh(sessions[0].refresh_token.expose())
            .await
            .expect("the kept session refreshes");
        self.plain
            .refresh(bystander.refresh_token.expose())
            .await
            .expect("other users are unaffected");
    }

    /// SEC-46: a theft under `RevokeAllForUser` ends with every session of
    /// the user revoked: at once when the store allows, otherwise after the
    /// next presentation of a token of the stolen session, with the
    /// incomplete revocation reported meanwhile.
    pub(super) async fn theft_revoke_all(
        &self,
        store: Arc<S>,
        faulty: Arc<FaultyStore<Arc<S>>>,
        clock: &Arc<ManualClock>,
    ) {
        let plain = &revoke_all_manager(store, Arc::clone(clock));
        let m = &revoke_all_manager(faulty, Arc::clone(clock));
        let user = unique_user("fault-theft");
        let stolen = plain.create(&user).await.expect("create without faults");
        let mut others = Vec::new();
        for _ in 0..2 {
            others.push(plain.create(&user).await.expect("create without faults"));
        }
        let bystander = plain
            .create(unique_user("fault-bystander"))
            .await
            .expect("create without faults");
        self.clock.advance(Duration::seconds(1));
        let owner = plain
            .refresh(stolen.refresh_token.expose())
            .await
            .expect("refresh without faults");
        self.clock.advance(Duration::seconds(GRACE + 1));
        let before = self.load(&stolen.handle).await.expect("session exists");

        let result = m.refresh(stolen.refresh_token.expose()).await;
        let after = self.load(&stolen.handle).await;
        let user_left = plain.sessions_for_user(&user).await.expect("list");
        match &result {
            Err(RefreshError::TokenTheftDetected { handle, .. }) => {
                assert_eq!(*handle, stolen.handle);
                assert!(
                    user_left.is_empty(),
                    "a complete theft revocation leaves the user no session ({})",
                    self.context()
                );
            }
            Err(RefreshError::TheftRevocationIncomplete { handle, .. }) => {
                assert_eq!(*handle, stolen.handle);
                assert!(
                    user_left.iter().all(|s| s.handle != stolen.handle),
                    "the stolen session is dead even when the rest is not ({})",
                    self.context()
                );
            }
            Err(RefreshError::Store(_)) => assert!(
                after
                    .as_ref()
                    .is_none_or(|a| *a == before || crate::rotation::is_burned(a)),
                "a failed theft verdict leaves the session whole, dead or gone ({})",
                self.context()
            ),
            other => panic!(
                "a replayed token under faults is theft or a store error, got {other:?} ({})",
                self.context()
            ),
        }
        if !matches!(result, Err(RefreshError::Store(_))) {
            assert!(
                plain
                    .verify_strict(owner.access_token.expose())
                    .await
                    .is_err(),
                "after a theft verdict no token of the session verifies strictly ({})",
                self.context()
            );
        }

        // A later presentation, without faults, finishes the job.
        let later = plain.refresh(stolen.refresh_token.expose()).await;
        assert!(
            matches!(
                later,
                Err(RefreshError::TokenTheftDetected { .. } | RefreshError::Unauthorized(_))
            ),
            "a later presentation is theft again or finds nothing, got {later:?} ({})",
            self.context()
        );
        assert!(
            plain
                .sessions_for_user(&user)
                .await
                .expect("list")
                .is_empty(),
            "in the end every session of the user is revoked ({})",
            self.context()
        );
        for s in others.iter().chain([&owner]) {
            assert!(
                plain.refresh(s.refresh_token.expose()).await.is_err(),
                "no session of the user refreshes ({})",
                self.context()
            );
        }
        plain
            .refresh(bystander.refresh_token.expose())
            .await
            .expect("other users are unaffected");
    }
}

/// A manager like [`manager`]'s, revoking every session of the user on
/// theft.
fn revoke_all_manager<S: SessionStore>(store: S, clock: Arc<ManualClock>) -> SessionManager<S> {
    SessionManager::builder(store)
        .signing_key(crate::SigningKey::hs256("suite", &[0x5a; 32]).expect("valid key"))
        .refresh_key(crate::RefreshKey::new(1, &[0xa5; 32]).expect("valid key"))
        .grace(Duration::seconds(GRACE))
        .theft_policy(TheftPolicy::RevokeAllForUser)
        .clock(clock)
        .build()
        .expect("valid configuration")
}
