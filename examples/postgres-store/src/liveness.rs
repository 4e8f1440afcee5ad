//! [`Liveness`]: after a lost connection, idle connections are tested
//! before use.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// How many idle connections to test before handing them out.
///
/// The store does not ping connections before every operation (a round
/// trip each). When an operation finds its connection dead, the others
/// usually are too (a server restart, terminated backends), and a write on
/// one is never retried (it might have been applied): until as many idle
/// connections as the pool held have answered a ping, each is pinged before
/// use and dropped if it does not answer, so that the next writes get live
/// ones.
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    to_test: AtomicU32,
}

impl Liveness {
    /// An operation found its connection dead while the pool held
    /// `pool_size` connections.
    pub(crate) fn connection_lost(&self, pool_size: u32) {
        self.to_test.fetch_max(pool_size, Ordering::Relaxed);
    }

    /// Whether the idle `conn` may be handed out (the pool's
    /// `before_acquire`): yes while nothing was lost, else if it answers a
    /// ping.
    pub(crate) async fn check(&self, conn: &mut PgConnection) -> bool {
        if self.to_test.load(Ordering::Relaxed) == 0 {
            return true;
        }
        let alive = conn.ping().await.is_ok();
        if alive {
            // Saturating: another check may have brought it to 0.
            let _ = self
                .to_test
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
        alive
    }
}
