//! Model-based test: random histories of owners refreshing, thieves
//! replaying copies, lost responses, revocations and a moving clock, each
//! answer checked against a small reference model of the rotation table.

#![cfg(test)]

mod common;

use std::collections::HashMap;

use common::*;
use proptest::prelude::*;
use sessionkit::{RefreshError, Rejection};
use time::Duration;

const IDLE: i64 = 60;
const ABSOLUTE: i64 = 400;

#[derive(Clone, Debug)]
enum Step {
    /// Present the token of the newest generation the client holds.
    OwnerRefresh,
    /// Present the token one generation older than the newest (a retry
    /// after a lost response, or a slow second tab).
    OwnerRetry,
    /// A thief presents a copy of the token of this many generations back.
    Replay(u64),
    /// Two requests present the newest token at the same moment (two tabs).
    Concurrent,
    Advance(i64),
    Revoke,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => Just(Step::OwnerRefresh),
        2 => Just(Step::OwnerRetry),
        1 => (0u64..4).prop_map(Step::Replay),
        3 => (0i64..25).prop_map(Step::Advance),
        1 => Just(Step::Revoke),
        2 => Just(Step::Concurrent),
    ]
}

/// What the reference model expects.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Success, returning the token of this generation.
    Ok(u64),
    Unauthorized(Rejection),
    Theft,
}

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Live,
    /// Revoked for a theft: its tombstone refuses every token until the
    /// session would have expired.
    Tombstone,
    Gone,
}

struct Model {
    state: State,
    generation: u64,
    rotated_at: Option<i64>,
    refresh_expires: i64,
    absolute_expires: i64,
    grace: i64,
}

impl Model {
    fn present(&mut self, k: u64, now: i64) -> Expect {
        if self.state == State::Gone {
            return Expect::Unauthorized(Rejection::SessionNotFound);
        }
        if now >= self.refresh_expires.min(self.absolute_expires) {
            // An expired record (tombstone or not) stays until a purge.
            return Expect::Unauthorized(Rejection::Expired);
        }
        if self.state == State::Tombstone {
            return Expect::Unauthorized(Rejection::TheftRevoked);
        }
        if k == self.generation {
            self.generation += 1;
            self.rotated_at = Some(now);
            self.refresh_expires = (now + IDLE).min(self.absolute_expires);
            return Expect::Ok(self.generation);
        }
        let in_grace = self.grace > 0
            && k + 1 == self.generation
            && self.rotated_at.is_some_and(|r| now - r <= self.grace);
        if in_grace {
            return Expect::Ok(self.generation);
        }
        self.state = State::Tombstone;
        Expect::Theft
    }
}

fn classify(r: &Result<sessionkit::SessionTokens, RefreshError>) -> Expect {
    match r {
        Ok(_) => Expect::Ok(u64::MAX),
        Err(RefreshError::TokenTheftDetected { .. }) => Expect::Theft,
        Err(RefreshError::Unauthorized(r)) => Expect::Unauthorized(*r),
        Err(other) => panic!("no store failure is injected here: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rotation_matches_the_reference_model(
        grace in prop_oneof![Just(0i64), Just(5), Just(10)],
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let f = fixture_with(|b| {
            b.grace(Duration::seconds(grace))
                .access_ttl(Duration::seconds(IDLE))
                .refresh_idle_ttl(Duration::seconds(IDLE))
                .absolute_ttl(Duration::seconds(ABSOLUTE))
        });
        let s = rt.block_on(f.manager.create("alice").into_future()).unwrap();
        let mut tokens: HashMap<u64, String> = HashMap::from([(0, s.refresh_token.expose().to_owned())]);
        let mut newest = 0u64;
        let mut now = 0i64;
        let mut model = Model {
            state: State::Live,
            generation: 0,
            rotated_at: None,
            refresh_expires: IDLE,
            absolute_expires: ABSOLUTE,
            grace,
        };
        for step in steps {
            let k = match step {
                Step::Advance(s) => {
                    f.advance(s);
                    now += s;
                    continue;
                }
                Step::Revoke => {
                    rt.block_on(f.manager.revoke(&s.handle)).unwrap();
                    // A session revoked for a theft keeps its tombstone.
                    if model.state == State::Live {
                        model.state = State::Gone;
                    }
                    continue;
                }
                Step::Concurrent => {
                    let token = tokens[&newest].clone();
                    let (a, b) = rt.block_on(async {
                        tokio::join!(f.manager.refresh(&token), f.manager.refresh(&token))
                    });
                    let normalize = |e: Expect| match e {
                        Expect::Ok(_) => Expect::Ok(u64::MAX),
                        other => other,
                    };
                    let mut expected = [
                        normalize(model.present(newest, now)),
                        normalize(model.present(newest, now)),
                    ];
                    let mut actual = [classify(&a), classify(&b)];
                    expected.sort_by_key(|e| format!("{e:?}"));
                    actual.sort_by_key(|e| format!("{e:?}"));
                    prop_assert_eq!(&expected, &actual, "concurrent pair at t={}", now);
                    let winners: Vec<String> = [a, b]
                        .into_iter()
                        .filter_map(|r| r.ok().map(|t| t.refresh_token.expose().to_owned()))
                        .collect();
                    if let Some(first) = winners.first() {
                        prop_assert!(winners.iter().all(|w| w == first), "concurrent refreshes forked");
                        newest += 1;
                        tokens.insert(newest, first.clone());
                    }
                    continue;
                }
                Step::OwnerRefresh => newest,
                Step::OwnerRetry => newest.saturating_sub(1),
                Step::Replay(back) => newest.saturating_sub(back),
            };
            let expected = model.present(k, now);
            let actual = rt.block_on(f.manager.refresh(&tokens[&k]));
            match (&expected, actual) {
                (Expect::Ok(g), Ok(t)) => {
                    let verified = f.manager.verify(t.access_token.expose()).unwrap();
                    prop_assert_eq!(verified.generation(), *g);
                    let text = t.refresh_token.expose().to_owned();
                    // One token per generation: a grace answer is the same successor.
                    if let Some(known) = tokens.get(g) {
                        prop_assert_eq!(known, &text, "fork at generation {}", g);
                    }
                    tokens.insert(*g, text);
                    newest = newest.max(*g);
                }
                (Expect::Unauthorized(expected), Err(RefreshError::Unauthorized(r))) => {
                    prop_assert_eq!(*expected, r);
                }
                (Expect::Theft, Err(RefreshError::TokenTheftDetected { handle, .. })) => {
                    prop_assert_eq!(handle, s.handle);
                }
                (e, a) => prop_assert!(false, "step presenting gen {} at t={}: model {:?}, got {:?}", k, now, e, a),
            }
        }
    }
}
