//! SEC-24 under injected faults: create, refresh, revoke, revoke-all and a
//! theft under `RevokeAllForUser` (SEC-46), with a fault at every store
//! call they make.

use std::sync::Arc;

use time::Duration;

use crate::clock::ManualClock;
use crate::error::{RefreshError, SessionError};
use crate::manager::{SessionManager, SessionTokens};
use crate::store::{SessionHandle, SessionRecord, SessionStore};
use crate::testing::fault::{Fault, FaultyStore, Op};
use crate::testing::fixtures::{T0, manager, unique_user};

/// At most this many faults per run: one, and every pair (a fault, then a
/// second one in the recovery it triggers, such as the read-back after an
/// unconfirmed compare-and-swap).
const MAX_FAULTS: usize = 2;

/// The fault kinds put at each call. A delay changes no outcome of a lone
/// operation, but is injected to show that it does not.
const KINDS: [Fault; 3] = [
    Fault::Before,
    Fault::After,
    Fault::Delay(std::time::Duration::ZERO),
];

/// The grace window of the refresh runs that have one, in seconds.
pub(super) const GRACE: i64 = 10;

/// What [`run_fault_suite`](super::run_fault_suite) did.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct FaultReport {
    /// Operations run, each on a fresh session.
    pub runs: usize,
    /// Faults that made a store call fail ([`Fault::Before`], [`Fault::After`]).
    pub errors_injected: usize,
    /// Delays injected ([`Fault::Delay`]).
    pub delays_injected: usize,
}

/// The operation under test.
#[derive(Clone, Copy, Debug)]
enum Case {
    Create,
    /// Refresh with this grace, retried by the client after this many
    /// seconds with the token it presented.
    Refresh {
        grace: i64,
        retry_after: i64,
    },
    Revoke,
    RevokeAll,
    /// A retired token replayed under [`TheftPolicy::RevokeAllForUser`].
    TheftRevokeAll,
    /// The same, with the user-wide delete failing in this way every time
    /// the manager tries it: the revocation is incomplete, and a later
    /// presentation must finish it.
    TheftRevokeAllStoreDown(Fault),
}

type Schedule = Vec<(usize, Fault)>;

/// Runs the fault suite: see [`run_fault_suite`](super::run_fault_suite).
pub(super) async fn run<S, F, Fut>(make_store: F) -> FaultReport
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let cases = [
        Case::Create,
        Case::Refresh {
            grace: GRACE,
            retry_after: 1,
        },
        Case::Refresh {
            grace: GRACE,
            retry_after: GRACE + 10,
        },
        Case::Refresh {
            grace: 0,
            retry_after: 1,
        },
        Case::Revoke,
        Case::RevokeAll,
        Case::TheftRevokeAll,
        Case::TheftRevokeAllStoreDown(Fault::Before),
        Case::TheftRevokeAllStoreDown(Fault::After),
    ];
    let mut report = FaultReport::default();
    for case in cases {
        let store = Arc::new(make_store().await);
        let mut queue: Vec<Schedule> = vec![Vec::new()];
        let mut runs = 0;
        while let Some(schedule) = queue.pop() {
            let faulty = run_case(Arc::clone(&store), case, &schedule).await;
            runs += 1;
            report.runs += 1;
            for (_, _, fault) in faulty.injected() {
                if fault.is_error() {
                    report.errors_injected += 1;
                } else {
                    report.delays_injected += 1;
                }
            }
            let planned_by_case = matches!(case, Case::TheftRevokeAllStoreDown(_));
            if schedule.len() < MAX_FAULTS && !planned_by_case {
                let from = schedule.last().map_or(0, |(i, _)| i + 1);
                for i in from..faulty.calls().len() {
                    for kind in KINDS {
                        let mut next = schedule.clone();
                        next.push((i, kind));
                        queue.push(next);
                    }
                }
            }
        }
        println!("fault suite: {case:?}: {runs} runs");
    }
    println!(
        "fault suite: {} runs, {} errors and {} delays injected",
        report.runs, report.errors_injected, report.delays_injected
    );
    report
}

/// One run: a fresh session, the operation through a store failing as
/// `schedule` says, then the checks. Returns the faulty store, for its
/// call log.
async fn run_case<S: SessionStore>(
    store: Arc<S>,
    case: Case,
    schedule: &Schedule,
) -> Arc<FaultyStore<Arc<S>>> {
    let grace = match case {
        Case::Refresh { grace, .. } => grace,
        _ => GRACE,
    };
    let clock = Arc::new(ManualClock::at_unix(T0));
    let faulty = Arc::new(FaultyStore::new(Arc::clone(&store)));
    for &(index, fault) in schedule {
        faulty.fail_call(index, fault);
    }
    if let Case::TheftRevokeAllStoreDown(fault) = case {
        // More failures than the manager makes attempts.
        for _ in 0..8 {
            faulty.fail_next(Op::DeleteByUser, fault);
        }
    }
    let plain = manager(Arc::clone(&store), Arc::clone(&clock), grace);
    let under_fault = manager(Arc::clone(&faulty), Arc::clone(&clock), grace);
    let ctx = Ctx {
        store: &*store,
        plain: &plain,
        clock: &clock,
        schedule,
        faulted: &faulty,
    };
    match case {
        Case::Create => ctx.create(&under_fault).await,
        Case::Refresh { grace, retry_after } => {
            ctx.refresh(&under_fault, grace, retry_after).await;
        }
        Case::Revoke => ctx.revoke(&under_fault).await,
        Case::RevokeAll => ctx.revoke_all(&under_fault).await,
        Case::TheftRevokeAll | Case::TheftRevokeAllStoreDown(_) => {
            ctx.theft_revoke_all(Arc::clone(&store), Arc::clone(&faulty), &clock)
                .await;
        }
    }
    faulty
}

pub(super) struct Ctx<'a, S: SessionStore> {
    pub(super) store: &'a S,
    pub(super) plain: &'a SessionManager<Arc<S>>,
    pub(super) clock: &'a ManualClock,
    pub(super) schedule: &'a Schedule,
    pub(super) faulted: &'a FaultyStore<Arc<S>>,
}

impl<S: SessionStore> Ctx<'_, S> {
    pub(super) fn context(&self) -> String {
        format!(
            "faults planned {:?}, injected {:?}, calls {:?}",
            self.schedule,
            self.faulted.injected(),
            self.faulted.calls()
        )
    }

    pub(super) async fn load(&self, handle: &SessionHandle) -> Option<SessionRecord> {
        self.store.load(handle).await.expect("load without faults")
    }

    async fn create(&self, m: &SessionManager<Arc<FaultyStore<Arc<S>>>>) {
        let user = unique_user("fault-create");
        let result = m.create(&user).await;
        let records = self
            .store
            .list_by_user(&user)
            .await
            .expect("list without faults");
        match result {
            Ok(tokens) => {
                assert!(
                    records.len() == 1 && records[0].handle == tokens.handle,
                    "create succeeded: exactly its session must exist ({})",
                    self.context()
                );
                self.plain
                    .refresh(tokens.refresh_token.expose())
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "the created session must refresh: {e:?} ({})",
                            self.context()
                        )
                    });
            }
            Err(SessionError::Store(_)) => {
                // A failed create leaves no session, unless the clean-up
                // of an unconfirmed insert failed too; nobody holds a
                // token for such a record.
                let cleanup_failed = self
                    .faulted
                    .injected()
                    .iter()
                    .any(|(_, op, f)| *op == Op::Delete && *f == Fault::Before);
                assert!(
                    records.is_empty() || cleanup_failed,
                    "a failed create must leave no session ({})",
                    self.context()
                );
            }
            Err(e) => panic!(
                "a store fault must surface as SessionError::Store, got {e:?} ({})",
                self.context()
            ),
        }
    }

    async fn refresh(
        &self,
        m: &SessionManager<Arc<FaultyStore<Arc<S>>>>,
        grace: i64,
        retry_after: i64,
    ) {
        // A session at generation 1, so that it has a previous token.
        let s = self
            .plain
            .create(unique_user("fault-refresh"))
            .await
            .expect("create without faults");
        self.clock.advance(Duration::seconds(1));
        let old = self
            .plain
            .refresh(s.refresh_token.expose())
            .await
            .expect("refresh without faults");
        self.clock.advance(Duration::seconds(30));
        let before = self.load(&s.handle).await.expect("session exists");

        let result = m.refresh(old.refresh_token.expose()).await;
        let after = self.load(&s.handle).await;
        let rotated = match &after {
            Some(a) if *a == before => false,
            Some(a) if is_rotation_of(&before, a) => true,
            other => panic!(
                "the session must be in the old or the rotated state, never between: \
                 before {before:?}, after {other:?} ({})",
                self.context()
            ),
        };
        let received = match result {
            Ok(tokens) => {
                assert!(
                    rotated,
                    "tokens were returned but the rotation is not persisted ({})",
                    self.context()
                );
                self.assert_generation(&tokens, before.generation + 1);
                Some(tokens)
            }
            Err(RefreshError::Store(_)) => None,
            Err(e) => panic!(
                "a store fault must surface as RefreshError::Store, got {e:?} ({})",
                self.context()
            ),
        };

        // The client retries with the token it presented.
        self.clock.advance(Duration::seconds(retry_after));
        let in_grace = grace > 0 && retry_after <= grace;
        let retry = self.plain.refresh(old.refresh_token.expose()).await;
        match (rotated, in_grace) {
            (false, _) => {
                let t = retry.unwrap_or_else(|e| {
                    panic!(
                        "nothing was persisted: the old token must still work, got {e:?} ({})",
                        self.context()
                    )
                });
                self.assert_generation(&t, before.generation + 1);
            }
            (true, true) => {
                let t = retry.unwrap_or_else(|e| {
                    panic!(
                        "a retry inside the grace must receive the persisted successor, got \
                         {e:?} ({})",
                        self.context()
                    )
                });
                self.assert_generation(&t, before.generation + 1);
                if let Some(r) = &received {
                    assert_eq!(
                        t.refresh_token.expose(),
                        r.refresh_token.expose(),
                        "the retry must receive the same successor ({})",
                        self.context()
                    );
                }
                let again = self
                    .plain
                    .refresh(old.refresh_token.expose())
                    .await
                    .expect("a second retry inside the grace");
                assert_eq!(
                    again.refresh_token.expose(),
                    t.refresh_token.expose(),
                    "every retry receives the same successor ({})",
                    self.context()
                );
                assert_eq!(
                    self.load(&s.handle).await.as_ref(),
                    after.as_ref(),
                    "a grace retry writes nothing ({})",
                    self.context()
                );
                self.plain
                    .refresh(t.refresh_token.expose())
                    .await
                    .expect("the successor continues the lineage");
            }
            (true, false) => {
                assert!(
                    matches!(retry, Err(RefreshError::TokenTheftDetected { .. })),
                    "outside the grace, the retired token is reuse (the refresh table's row 7), got \
                     {retry:?} ({})",
                    self.context()
                );
                assert!(
                    self.load(&s.handle)
                        .await
                        .is_none_or(|r| crate::rotation::is_burned(&r)),
                    "theft revokes the session: only its tombstone is left ({})",
                    self.context()
                );
            }
        }
    }

    fn assert_generation(&self, tokens: &SessionTokens, generation: u64) {
        let v = self
            .plain
            .verify(tokens.access_token.expose())
            .expect("issued access token verifies");
        assert_eq!(
            v.generation(),
            generation,
            "tokens of the wrong generation ({})",
            self.context()
        );
    }
}

/// Whether `after` is exactly one rotation of `before`.
fn is_rotation_of(before: &SessionRecord, after: &SessionRecord) -> bool {
    after.generation == before.generation + 1
        && after.version == before.version + 1
        && after.prev_hash == Some(before.current_hash)
        && after.current_hash != before.current_hash
        && after.handle == before.handle
        && after.user_id == before.user_id
        && after.created_at == before.created_at
        && after.auth_time == before.auth_time
        && after.absolute_expires_at == before.absolute_expires_at
        && after.refresh_expires_at <= after.absolute_expires_at
        && after.access_claims == before.access_claims
        && after.session_data == before.session_data
}
