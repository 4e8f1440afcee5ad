//! How the store's one bound is split between the pool, the server and the
//! client, so that a timeout normally means "not applied".

use std::time::Duration;

/// The bounds derived from the store's bound `T`
/// ([`PostgresStoreBuilder::timeout`](crate::PostgresStoreBuilder::timeout)):
///
/// | bound | share of `T` | at `T` = 5 s | enforced by |
/// |---|---|---|---|
/// | getting a connection | 1/5 | 1 s | the pool (`acquire_timeout`) |
/// | `lock_timeout` | 2/5 | 2 s | the server, on every lock wait |
/// | `statement_timeout` | 3/5 | 3 s | the server, on every statement |
/// | margin | at least 1/5 | 1 s | nobody: time for the server's answer to arrive |
/// | the whole operation | 1 | 5 s | the client |
///
/// Acquire, statement and margin add up to `T`, so once a connection is in
/// hand the client waits at least `statement_timeout` plus the margin: a
/// statement that runs too long is cancelled by the server (which then
/// applies nothing) before the client gives up on it. The lock bound is
/// shorter than the statement bound, so that a statement that waited
/// almost `lock_timeout` for a row still has time to finish.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct Timeouts {
    /// The client's bound on a whole operation.
    pub(crate) total: Duration,
    /// The pool's bound on getting a connection (connecting included).
    pub(crate) acquire: Duration,
    /// The server's `lock_timeout`.
    pub(crate) lock: Duration,
    /// The server's `statement_timeout`.
    pub(crate) statement: Duration,
    /// What is left of `total` after `acquire` and `statement`.
    pub(crate) margin: Duration,
}

/// The shortest bound accepted: below it the server's bounds (whole
/// milliseconds, and 0 would mean "none") cannot stay under the client's.
pub(crate) const MIN_TOTAL: Duration = Duration::from_millis(10);

impl Timeouts {
    /// Splits `total` (at least [`MIN_TOTAL`]).
    pub(crate) fn new(total: Duration) -> Self {
        let total = total.max(MIN_TOTAL);
        let fifth = total / 5;
        // The server takes whole milliseconds: rounding down only widens
        // the margin.
        let lock = whole_millis(fifth * 2);
        let statement = whole_millis(fifth * 3);
        let acquire = fifth;
        Self {
            total,
            acquire,
            lock,
            statement,
            margin: total.saturating_sub(acquire + statement),
        }
    }

    /// The session settings the store sends when it opens a connection
    /// (startup options: no extra round trip).
    ///
    /// `idle_in_transaction_session_timeout` ends a session whose client
    /// left a transaction open (a stalled process, a lost network) after
    /// the whole bound, so that its locks are not held for longer.
    pub(crate) fn server_options(&self) -> [(&'static str, String); 3] {
        [
            ("statement_timeout", millis(self.statement)),
            ("lock_timeout", millis(self.lock)),
            ("idle_in_transaction_session_timeout", millis(self.total)),
        ]
    }
}

fn whole_millis(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1))
}

fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_split_is_one_two_three_and_one_second() {
        let t = Timeouts::new(Duration::from_secs(5));
        assert_eq!(t.acquire, Duration::from_secs(1));
        assert_eq!(t.lock, Duration::from_secs(2));
        assert_eq!(t.statement, Duration::from_secs(3));
        assert_eq!(t.margin, Duration::from_secs(1));
        let options = t.server_options();
        assert_eq!(options[0], ("statement_timeout", "3000".to_owned()));
        assert_eq!(options[1], ("lock_timeout", "2000".to_owned()));
        assert_eq!(
            options[2],
            ("idle_in_transaction_session_timeout", "5000".to_owned())
        );
    }

    #[test]
    fn the_server_always_gives_up_first_with_a_margin() {
        for ms in [10, 11, 13, 99, 300, 1001, 5_000, 600_000] {
            let t = Timeouts::new(Duration::from_millis(ms));
            assert!(t.lock >= Duration::from_millis(1), "{ms}: 0 disables");
            assert!(t.lock < t.statement, "{ms}");
            assert_eq!(t.acquire + t.statement + t.margin, t.total, "{ms}");
            assert!(t.margin >= t.total / 5, "{ms}: margin {:?}", t.margin);
        }
    }
}
