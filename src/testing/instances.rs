//! Several instances of one application over one store's data: a token
//! rotated on one instance and replayed on another is theft, a revocation
//! on one stops a refresh on the other, and concurrent refreshes spread
//! over both never fork a lineage.

use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, join_all};
use time::Duration;

use crate::clock::ManualClock;
use crate::error::RefreshError;
use crate::manager::SessionManager;
use crate::store::SessionStore;
use crate::testing::fixtures::{T0, create, manager, sample_record, unique_user};
use crate::testing::history::Spawn;

/// The grace window of the scenarios that have one, in seconds.
const GRACE: i64 = 10;

/// How many refreshes of one token race, alternating between the
/// instances.
const RACERS: usize = 64;

/// What a racing refresh answered: the new refresh token, or why not.
type Answer = Result<String, RefreshError>;

/// Runs the instance suite: see
/// [`run_instance_suite`](super::run_instance_suite).
pub(super) async fn run<S, F, Fut>(make_pair: F, spawn: Option<Spawn>)
where
    S: SessionStore,
    F: Fn() -> Fut,
    Fut: Future<Output = (S, S)>,
{
    macro_rules! scenario {
        ($name:ident $(, $arg:expr)?) => {
            println!("instance suite: {}", stringify!($name));
            let (a, b) = make_pair().await;
            the_pair_shares_its_data(&a, &b).await;
            $name(a, b $(, $arg)?).await;
        };
    }
    scenario!(sec_18_replay_on_b_of_a_token_rotated_on_a_is_theft);
    scenario!(sec_13_revocation_on_b_stops_a_refresh_on_a);
    scenario!(
        sec_20_concurrent_refreshes_on_a_and_b_share_one_successor_with_grace,
        spawn.as_ref()
    );
    scenario!(
        sec_20_concurrent_refreshes_on_a_and_b_have_at_most_one_winner_without_grace,
        spawn.as_ref()
    );
}

/// The precondition of every scenario: what one store of the pair writes,
/// the other reads.
async fn the_pair_shares_its_data<S: SessionStore>(a: &S, b: &S) {
    let r = sample_record(&unique_user("instances-pair"));
    a.insert(&r).await.expect("insert on A");
    assert_eq!(
        b.load(&r.handle).await.expect("load on B"),
        Some(r.clone()),
        "make_pair must return two stores over the same data: B does not see A's insert"
    );
    assert!(
        b.delete(&r.handle).await.expect("delete on B"),
        "make_pair must return two stores over the same data: B cannot delete A's record"
    );
    assert!(
        a.load(&r.handle).await.expect("load on A").is_none(),
        "make_pair must return two stores over the same data: A still sees what B deleted"
    );
}

/// Two managers with the same keys and one clock, one over each store.
fn managers<S: SessionStore>(
    a: S,
    b: S,
    grace: i64,
) -> (SessionManager<S>, SessionManager<S>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at_unix(T0));
    (
        manager(a, Arc::clone(&clock), grace),
        manager(b, Arc::clone(&clock), grace),
        clock,
    )
}

async fn sec_18_replay_on_b_of_a_token_rotated_on_a_is_theft<S: SessionStore>(a: S, b: S) {
    let (a, b, clock) = managers(a, b, GRACE);
    let user = unique_user("instances-theft");
    let s = create(&a, &user).await;
    clock.advance(Duration::seconds(1));
    let r2 = a
        .refresh(s.refresh_token.expose())
        .await
        .expect("rotate on A");
    clock.advance(Duration::seconds(GRACE + 1));
    match b.refresh(s.refresh_token.expose()).await {
        Err(RefreshError::TokenTheftDetected { handle, user_id }) => {
            assert_eq!(handle, s.handle);
            assert_eq!(user_id, user);
        }
        other => panic!("replay on B after the grace must be theft, got {other:?}"),
    }
    assert!(
        matches!(
            a.refresh(r2.refresh_token.expose()).await,
            Err(RefreshError::Unauthorized(_))
        ),
        "theft revoked the lineage for A too"
    );
    assert!(
        a.store()
            .load(&s.handle)
            .await
            .expect("load")
            .is_none_or(|r| crate::rotation::is_burned(&r)),
        "theft revoked the session, as A sees it"
    );
    assert!(
        b.store()
            .load(&s.handle)
            .await
            .expect("load")
            .is_none_or(|r| crate::rotation::is_burned(&r)),
        "theft revoked the session, as B sees it"
    );
}

async fn sec_13_revocation_on_b_stops_a_refresh_on_a<S: SessionStore>(a: S, b: S) {
    let (a, b, _clock) = managers(a, b, GRACE);
    let s = create(&a, &unique_user("instances-revoke")).await;
    assert!(b.revoke(&s.handle).await.expect("revoke on B"));
    assert!(
        matches!(
            a.refresh(s.refresh_token.expose()).await,
            Err(RefreshError::Unauthorized(_))
        ),
        "a revocation on B stops a refresh on A"
    );
    assert!(
        a.verify_strict(s.access_token.expose()).await.is_err(),
        "a revocation on B stops strict verification on A at once"
    );
}

async fn sec_20_concurrent_refreshes_on_a_and_b_share_one_successor_with_grace<S: SessionStore>(
    a: S,
    b: S,
    spawn: Option<&Spawn>,
) {
    let (a, b, _clock) = managers(a, b, GRACE);
    let s = create(&a, &unique_user("instances-race-grace")).await;
    let answers = race(&a, &b, s.refresh_token.expose(), spawn).await;
    let failures: Vec<&RefreshError> = answers.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "inside the grace every concurrent refresh succeeds: {failures:?}"
    );
    let successes: Vec<&String> = answers.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(successes.len(), RACERS);
    assert!(
        successes.iter().all(|t| *t == successes[0]),
        "one successor for all"
    );
    for (store, name) in [(a.store(), "A"), (b.store(), "B")] {
        let record = store.load(&s.handle).await.expect("load").expect("alive");
        assert_eq!(
            record.generation, 1,
            "exactly one rotation happened, as {name} sees it"
        );
    }
    b.refresh(successes[0])
        .await
        .expect("the single lineage continues on B");
}

async fn sec_20_concurrent_refreshes_on_a_and_b_have_at_most_one_winner_without_grace<
    S: SessionStore,
>(
    a: S,
    b: S,
    spawn: Option<&Spawn>,
) {
    let (a, b, _clock) = managers(a, b, 0);
    let s = create(&a, &unique_user("instances-race")).await;
    let answers = race(&a, &b, s.refresh_token.expose(), spawn).await;
    let successes: Vec<&String> = answers.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert!(
        successes.len() <= 1,
        "without grace at most one refresh succeeds, got {}",
        successes.len()
    );
    for failure in answers.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(
                failure,
                RefreshError::TokenTheftDetected { .. } | RefreshError::Unauthorized(_)
            ),
            "losers are refused, not failed: {failure:?}"
        );
    }
    if let Some(winner) = successes.first() {
        assert!(
            a.refresh(winner).await.is_err(),
            "the losers' theft verdict revoked the lineage"
        );
    }
}

/// [`RACERS`] refreshes of `token`, alternating between `a` and `b`, each
/// its own task when `spawn` is given, else joined in this one. Returns
/// each racer's new refresh token or error, in racer order.
async fn race<S: SessionStore>(
    a: &SessionManager<S>,
    b: &SessionManager<S>,
    token: &str,
    spawn: Option<&Spawn>,
) -> Vec<Answer> {
    let answers: Arc<Mutex<Vec<Option<Answer>>>> =
        Arc::new(Mutex::new((0..RACERS).map(|_| None).collect()));
    let tasks: Vec<BoxFuture<'static, ()>> = (0..RACERS)
        .map(|i| {
            let m = if i % 2 == 0 { a.clone() } else { b.clone() };
            let token = token.to_owned();
            let answers = Arc::clone(&answers);
            Box::pin(async move {
                let answer = m
                    .refresh(&token)
                    .await
                    .map(|t| t.refresh_token.expose().to_owned());
                answers.lock().expect("no racer panicked")[i] = Some(answer);
            }) as BoxFuture<'static, ()>
        })
        .collect();
    match spawn {
        Some(spawn) => join_all(tasks.into_iter().map(|t| spawn(t))).await,
        None => join_all(tasks).await,
    };
    let answers = std::mem::take(&mut *answers.lock().expect("no racer panicked"));
    answers
        .into_iter()
        .map(|a| a.expect("every racer answered"))
        .collect()
}
