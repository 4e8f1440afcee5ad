//! Randomized concurrent histories, checked for linearizability against a
//! reference model of the refresh table (the `rotation` module).
//!
//! Each round creates one session, rotates it a few times, then lets
//! participants act on it at once: the owner refreshing with the newest
//! token it holds, a thief replaying a copied token, a revoker, a strict
//! verifier and a clock that moves. Every call and return takes a number
//! from one global sequence, so the round is a history of overlapping
//! operations; a backtracking search (Wing & Gong, with memoization) then
//! looks for one serial order of the operations, each placed between its
//! call and its return, that the model explains answer by answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, join_all};
use time::Duration;

use crate::clock::ManualClock;
use crate::error::{RefreshError, SessionError, VerifyError};
use crate::keys::SigningKey;
use crate::manager::{SessionManager, SessionTokens};
use crate::refresh_token::RefreshKey;
use crate::store::{SessionHandle, SessionStore};
use crate::testing::fault::{Fault, FaultyStore, SplitMix64, YieldOnce};
use crate::testing::fixtures::{T0, random_bytes, unique_user};
use crate::testing::history_model::{ABSOLUTE, Answer, Call, Event, IDLE, Model, check};

/// What [`run_history_suite`](super::run_history_suite) checked.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct HistoryReport {
    /// The seed of the first round; round `i` uses `seed + i`.
    pub seed: u64,
    /// Rounds (histories) checked.
    pub rounds: usize,
    /// Concurrent operations checked, over all rounds (clock moves and the
    /// sequential set-up of each round not included).
    pub operations: usize,
}

/// Runs futures for the history suite, each as its own task: given a
/// future, returns one that completes when it has. See
/// [`run_history_suite_with`](super::run_history_suite_with).
pub type Spawn = Arc<dyn Fn(BoxFuture<'static, ()>) -> BoxFuture<'static, ()> + Send + Sync>;

type Manager<S> = SessionManager<Arc<FaultyStore<S>>>;

/// Runs rounds until `ops` operations have been checked.
pub(super) async fn run<S: SessionStore>(
    store: S,
    ops: usize,
    spawn: Option<Spawn>,
) -> HistoryReport {
    let seed = match std::env::var("SESSIONKIT_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("SESSIONKIT_SEED must be a u64, got {s:?}")),
        Err(_) => u64::from_le_bytes(random_bytes()),
    };
    println!("history suite: seed {seed} (set SESSIONKIT_SEED={seed} to replay)");
    // Random yields before store calls reorder operations even when they
    // are joined in one task over a store that never waits.
    let store = Arc::new(FaultyStore::new(store));
    store.fail_randomly(seed, 2, &[Fault::Delay(std::time::Duration::ZERO)]);
    let mut report = HistoryReport {
        seed,
        ..HistoryReport::default()
    };
    while report.operations < ops {
        let round_seed = seed.wrapping_add(report.rounds as u64);
        report.operations += round(Arc::clone(&store), round_seed, spawn.as_ref()).await;
        report.rounds += 1;
    }
    println!(
        "history suite: {} histories, {} operations linearizable",
        report.rounds, report.operations
    );
    report
}

/// The shared state of a round's participants.
struct Recorder {
    seq: AtomicU64,
    clock: Arc<ManualClock>,
    events: Mutex<Vec<Event>>,
    /// Refresh tokens seen, and their generations.
    tokens: Mutex<Vec<(String, u64)>>,
    /// Every value the clock took during the round.
    times: Mutex<Vec<i64>>,
    handle: SessionHandle,
    user: String,
    /// Access tokens of the set-up, by generation.
    access: Vec<String>,
}

impl Recorder {
    fn now(&self) -> i64 {
        use crate::clock::Clock as _;
        self.clock.now().unix_timestamp()
    }

    fn token(&self, tokens: &SessionTokens, generation: u64) -> usize {
        let text = tokens.refresh_token.expose();
        let mut all = self.tokens.lock().unwrap();
        if let Some(i) = all.iter().position(|(t, _)| t == text) {
            assert_eq!(all[i].1, generation, "one token, two generations");
            return i;
        }
        all.push((text.to_owned(), generation));
        all.len() - 1
    }

    fn token_text(&self, i: usize) -> String {
        self.tokens.lock().unwrap()[i].0.clone()
    }

    async fn record<S: SessionStore>(&self, m: &Manager<S>, call: Call) -> Answer {
        let invoked = self.seq.fetch_add(1, Ordering::SeqCst);
        let t_call = self.now();
        let answer = match call {
            Call::Refresh(token) => {
                let text = self.token_text(token);
                match m.refresh(&text).await {
                    Ok(t) => {
                        let generation = m
                            .dangerous()
                            .verify_ignoring_expiry(t.access_token.expose())
                            .expect("issued access token verifies")
                            .generation();
                        Answer::Tokens {
                            token: self.token(&t, generation),
                            refresh_expires_at: t.refresh_expires_at.unix_timestamp(),
                        }
                    }
                    Err(RefreshError::Unauthorized(r)) => Answer::Rejected(r),
                    Err(RefreshError::TokenTheftDetected { .. }) => Answer::Theft,
                    Err(e) => panic!("refresh failed without a store fault: {e:?}"),
                }
            }
            Call::Revoke => Answer::Revoked(u64::from(ok(m.revoke(&self.handle).await))),
            Call::RevokeAll => Answer::Revoked(ok(m.revoke_all_for_user(&self.user, None).await)),
            Call::Strict(generation) => {
                let access = &self.access[generation as usize];
                match m.verify_strict(access).await {
                    Ok(_) => Answer::Verified,
                    Err(VerifyError::Store(e)) => panic!("store failed: {e:?}"),
                    Err(_) => Answer::VerifyRejected,
                }
            }
            Call::WriteAfter(_) => Answer::Silent,
        };
        let t_return = self.now();
        let returned = self.seq.fetch_add(1, Ordering::SeqCst);
        self.events.lock().unwrap().push(Event {
            call,
            invoked,
            returned,
            t_call,
            t_return,
            answer,
        });
        answer
    }
}

fn ok<T>(r: Result<T, SessionError>) -> T {
    r.unwrap_or_else(|e| panic!("revoke failed without a store fault: {e:?}"))
}

/// One round: set up a session, run the participants at once, check the
/// history. Returns how many operations it checked.
async fn round<S: SessionStore>(
    store: Arc<FaultyStore<S>>,
    seed: u64,
    spawn: Option<&Spawn>,
) -> usize {
    let mut rng = SplitMix64(seed);
    let grace = [0, 5, 10][rng.below(3) as usize];
    let clock = Arc::new(ManualClock::at_unix(T0));
    let m = SessionManager::builder(store)
        .signing_key(SigningKey::hs256("history", &[0x3c; 32]).expect("valid key"))
        .refresh_key(RefreshKey::new(7, &[0xc3; 32]).expect("valid key"))
        .grace(Duration::seconds(grace))
        // An access token may not outlive the idle lifetime; with a leeway
        // (30 s) at least as long as it, a previous generation's access
        // token is still inside its leeway for as long as the session is
        // live, so the model needs no expiry of its own for access tokens.
        .access_ttl(Duration::seconds(IDLE))
        .refresh_idle_ttl(Duration::seconds(IDLE))
        .absolute_ttl(Duration::seconds(ABSOLUTE))
        .clock(Arc::clone(&clock))
        .build()
        .expect("valid configuration");

    // Set-up, sequential: a session a few generations old.
    let user = unique_user("history");
    let mut lineage = vec![m.create(&user).await.expect("create")];
    for _ in 0..rng.below(3) {
        clock.advance(Duration::seconds(rng.below(8) as i64));
        let last = lineage.last().expect("one session").refresh_token.expose();
        let next = m.refresh(last).await.expect("set-up refresh");
        lineage.push(next);
    }
    clock.advance(Duration::seconds(rng.below(12) as i64));
    let handle = lineage[0].handle;
    let record = m
        .store()
        .load(&handle)
        .await
        .expect("load")
        .expect("session exists");
    let g = record.generation;
    assert_eq!(g as usize + 1, lineage.len());
    let initial = Model {
        exists: true,
        burned: false,
        generation: g,
        current: g as usize,
        previous: (g as usize).checked_sub(1),
        rotated_at: record.rotated_at.map(|t| t.unix_timestamp()),
        refresh_expires_at: record.refresh_expires_at.unix_timestamp(),
        absolute: record.absolute_expires_at.unix_timestamp(),
    };
    let rec = Arc::new(Recorder {
        seq: AtomicU64::new(0),
        clock: Arc::clone(&clock),
        events: Mutex::new(Vec::new()),
        tokens: Mutex::new(
            lineage
                .iter()
                .zip(0..)
                .map(|(t, g)| (t.refresh_token.expose().to_owned(), g))
                .collect(),
        ),
        times: Mutex::new(Vec::new()),
        handle,
        user,
        access: lineage
            .iter()
            .map(|t| t.access_token.expose().to_owned())
            .collect(),
    });
    rec.times.lock().unwrap().push(rec.now());

    let mut tasks: Vec<BoxFuture<'static, ()>> = Vec::new();
    let newest = lineage.len() - 1;
    // The owner, with the newest token, refreshing one to three times.
    tasks.push(refresher(&m, &rec, newest, 1 + rng.below(3)));
    // A thief with a copy of any token of the lineage.
    tasks.push(refresher(
        &m,
        &rec,
        rng.below(lineage.len() as u64) as usize,
        1 + rng.below(2),
    ));
    if rng.below(4) == 0 {
        let call = if rng.below(2) == 0 {
            Call::Revoke
        } else {
            Call::RevokeAll
        };
        let (m, rec) = (m.clone(), Arc::clone(&rec));
        tasks.push(Box::pin(async move {
            rec.record(&m, call).await;
        }));
    }
    if rng.below(2) == 0 {
        let call = Call::Strict(rng.below(lineage.len() as u64));
        let (m, rec) = (m.clone(), Arc::clone(&rec));
        tasks.push(Box::pin(async move {
            rec.record(&m, call).await;
        }));
    }
    // The clock, moving once or twice while the others run.
    let ticks: Vec<(u64, i64)> = (0..1 + rng.below(2))
        .map(|_| (rng.below(4), rng.below(8) as i64))
        .collect();
    {
        let (clock, rec) = (Arc::clone(&clock), Arc::clone(&rec));
        tasks.push(Box::pin(async move {
            for (yields, secs) in ticks {
                for _ in 0..yields {
                    YieldOnce::default().await;
                }
                clock.advance(Duration::seconds(secs));
                let now = rec.now();
                rec.times.lock().unwrap().push(now);
            }
        }));
    }
    match spawn {
        Some(spawn) => {
            join_all(tasks.into_iter().map(|t| spawn(t))).await;
        }
        None => {
            join_all(tasks).await;
        }
    }

    let events = rec.events.lock().unwrap().clone();
    let tokens = rec.tokens.lock().unwrap().clone();
    let times = rec.times.lock().unwrap().clone();
    check(seed, grace, &initial, events, &tokens, &times)
}

/// A participant refreshing `times` times, starting with `token` and going
/// on with each successor it receives; it stops at the first refusal.
fn refresher<S: SessionStore>(
    m: &Manager<S>,
    rec: &Arc<Recorder>,
    token: usize,
    times: u64,
) -> BoxFuture<'static, ()> {
    let (m, rec) = (m.clone(), Arc::clone(rec));
    Box::pin(async move {
        let mut token = token;
        for _ in 0..times {
            match rec.record(&m, Call::Refresh(token)).await {
                Answer::Tokens { token: next, .. } => token = next,
                _ => break,
            }
        }
    })
}
