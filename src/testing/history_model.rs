//! The histories the history suite records, and the reference model of
//! the refresh table it checks them against: a backtracking search for a
//! serial order that explains every answer (Wing & Gong, memoized).

use std::collections::HashSet;

use crate::error::Rejection;

/// Refresh idle lifetime in the rounds, short so that rounds reach it.
pub(super) const IDLE: i64 = 30;
/// Absolute lifetime in the rounds.
pub(super) const ABSOLUTE: i64 = 60;

/// What an operation was asked to do.
#[derive(Clone, Copy, Debug)]
pub(super) enum Call {
    /// Refresh with this token (an index into the round's tokens).
    Refresh(usize),
    Revoke,
    RevokeAll,
    /// Strict verification of an access token of this generation.
    Strict(u64),
    /// The store write that follows a theft verdict (the tombstone) of the
    /// refresh with this event index: it lands some time after the verdict,
    /// before the refresh returns.
    WriteAfter(usize),
}

/// What it answered, reduced to what the model predicts.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(super) enum Answer {
    /// New tokens: the refresh token (an index) and its expiry.
    Tokens {
        token: usize,
        refresh_expires_at: i64,
    },
    Rejected(Rejection),
    Theft,
    Revoked(u64),
    Verified,
    VerifyRejected,
    /// The write of [`Call::WriteAfter`]: answers nothing.
    Silent,
}

#[derive(Clone, Debug)]
pub(super) struct Event {
    pub(super) call: Call,
    pub(super) invoked: u64,
    pub(super) returned: u64,
    /// The clock at call and at return: every time the operation read lies
    /// between them.
    pub(super) t_call: i64,
    pub(super) t_return: i64,
    pub(super) answer: Answer,
}

/// The reference model: the refresh table's view of one session.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub(super) struct Model {
    pub(super) exists: bool,
    /// Revoked for a theft: a tombstone that refuses every token.
    pub(super) burned: bool,
    pub(super) generation: u64,
    /// The current and previous refresh tokens (indexes).
    pub(super) current: usize,
    pub(super) previous: Option<usize>,
    pub(super) rotated_at: Option<i64>,
    pub(super) refresh_expires_at: i64,
    pub(super) absolute: i64,
}

struct Checker<'a> {
    events: &'a [Event],
    tokens: &'a [(String, u64)],
    times: &'a [i64],
    grace: i64,
    dead_ends: HashSet<(u32, Model)>,
}

/// Checks one history; panics with the seed if no serial order explains
/// it. Returns the number of operations.
pub(super) fn check(
    seed: u64,
    grace: i64,
    initial: &Model,
    mut events: Vec<Event>,
    tokens: &[(String, u64)],
    times: &[i64],
) -> usize {
    let ops = events.len();
    // A theft verdict leaves a tombstone after the read it was decided on,
    // before the refresh returns.
    for i in 0..ops {
        let e = &events[i];
        if matches!(e.call, Call::Refresh(_)) && e.answer == Answer::Theft {
            let delete = Event {
                call: Call::WriteAfter(i),
                answer: Answer::Silent,
                ..e.clone()
            };
            events.push(delete);
        }
    }
    assert!(events.len() <= 32, "history too long to check");
    let mut checker = Checker {
        events: &events,
        tokens,
        times,
        grace,
        dead_ends: HashSet::new(),
    };
    if !checker.search(0, initial) {
        let mut sorted: Vec<&Event> = events.iter().collect();
        sorted.sort_by_key(|e| e.invoked);
        let mut text = String::new();
        for e in sorted {
            text.push_str(&format!(
                "  [{}..{}] t {}..{} {:?} -> {:?}\n",
                e.invoked, e.returned, e.t_call, e.t_return, e.call, e.answer
            ));
        }
        let gens: Vec<u64> = tokens.iter().map(|t| t.1).collect();
        panic!(
            "history not linearizable (round seed {seed}; SESSIONKIT_SEED={seed} replays this \
             round first, its interleaving may differ)\ngrace {grace}, token generations \
             {gens:?}, clock values {times:?}\ninitial {initial:?}\n{text}"
        );
    }
    ops
}

impl Checker<'_> {
    fn search(&mut self, done: u32, model: &Model) -> bool {
        let n = self.events.len();
        if done.count_ones() as usize == n {
            return true;
        }
        if self.dead_ends.contains(&(done, *model)) {
            return false;
        }
        let pending = |i: usize| done & (1 << i) == 0;
        let first_return = (0..n)
            .filter(|&i| pending(i))
            .map(|i| self.events[i].returned)
            .min()
            .unwrap_or(u64::MAX);
        for i in (0..n).filter(|&i| pending(i)) {
            let e = &self.events[i];
            if e.invoked > first_return {
                continue;
            }
            if let Call::WriteAfter(j) = e.call
                && pending(j)
            {
                continue;
            }
            for next in self.step(model, e) {
                if self.search(done | (1 << i), &next) {
                    return true;
                }
            }
        }
        self.dead_ends.insert((done, *model));
        false
    }

    /// The states after `e`, for each time it may have read, in which the
    /// model gives `e`'s answer.
    fn step(&self, m: &Model, e: &Event) -> Vec<Model> {
        let mut times: Vec<i64> = self
            .times
            .iter()
            .copied()
            .filter(|t| (e.t_call..=e.t_return).contains(t))
            .collect();
        times.sort_unstable();
        times.dedup();
        let mut out = Vec::new();
        for now in times {
            if let Some(next) = self.apply(m, e, now)
                && !out.contains(&next)
            {
                out.push(next);
            }
        }
        out
    }

    fn apply(&self, m: &Model, e: &Event, now: i64) -> Option<Model> {
        let expired = now >= m.refresh_expires_at.min(m.absolute);
        let (expected, next) = match e.call {
            Call::Refresh(token) => {
                let generation = self.tokens[token].1;
                if !m.exists {
                    (Answer::Rejected(Rejection::SessionNotFound), *m)
                } else if expired {
                    (Answer::Rejected(Rejection::Expired), *m)
                } else if m.burned {
                    (Answer::Rejected(Rejection::TheftRevoked), *m)
                } else if generation == m.generation && token == m.current {
                    // Rotation: the successor is whatever this call
                    // returned, if it is new and one generation up.
                    let Answer::Tokens {
                        token: successor, ..
                    } = e.answer
                    else {
                        return None;
                    };
                    if self.tokens[successor].1 != m.generation + 1
                        || successor == m.current
                        || Some(successor) == m.previous
                    {
                        return None;
                    }
                    let refresh_expires_at = (now + IDLE).min(m.absolute);
                    (
                        Answer::Tokens {
                            token: successor,
                            refresh_expires_at,
                        },
                        Model {
                            generation: m.generation + 1,
                            current: successor,
                            previous: Some(m.current),
                            rotated_at: Some(now),
                            refresh_expires_at,
                            ..*m
                        },
                    )
                } else if generation > m.generation {
                    (Answer::Rejected(Rejection::FutureGeneration), *m)
                } else if generation + 1 == m.generation
                    && m.previous == Some(token)
                    && self.grace > 0
                    && m.rotated_at.is_some_and(|r| (now - r).abs() <= self.grace)
                {
                    (
                        Answer::Tokens {
                            token: m.current,
                            refresh_expires_at: m.refresh_expires_at,
                        },
                        *m,
                    )
                } else {
                    (Answer::Theft, *m)
                }
            }
            // Revoking a session revoked for a theft keeps its tombstone.
            Call::Revoke if m.burned => (Answer::Revoked(u64::from(m.exists)), *m),
            Call::Revoke | Call::RevokeAll => (
                Answer::Revoked(u64::from(m.exists)),
                Model {
                    exists: false,
                    ..*m
                },
            ),
            Call::Strict(generation) => {
                let live = m.exists
                    && !m.burned
                    && !expired
                    && (generation == m.generation || generation + 1 == m.generation);
                let answer = if live {
                    Answer::Verified
                } else {
                    Answer::VerifyRejected
                };
                (answer, *m)
            }
            // A theft leaves a tombstone.
            Call::WriteAfter(_) => (Answer::Silent, Model { burned: true, ..*m }),
        };
        (expected == e.answer).then_some(next)
    }
}
