//! Time, injected so that expiry can be tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A source of the current time.
///
/// sessionkit works at one-second resolution: every timestamp it writes or
/// compares is truncated to whole seconds, as JWT `iat`/`exp` are.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> OffsetDateTime;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to, for tests.
///
/// ```
/// use sessionkit::clock::{Clock, ManualClock};
/// use time::Duration;
///
/// let clock = ManualClock::at_unix(1_700_000_000);
/// clock.advance(Duration::seconds(30));
/// assert_eq!(clock.now().unix_timestamp(), 1_700_000_030);
/// ```
#[derive(Debug)]
pub struct ManualClock {
    unix: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at the given Unix time (seconds).
    pub fn at_unix(seconds: i64) -> Self {
        Self {
            unix: AtomicI64::new(seconds),
        }
    }

    /// A clock stopped at the current system time.
    pub fn starting_now() -> Self {
        Self::at_unix(OffsetDateTime::now_utc().unix_timestamp())
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.unix.fetch_add(by.whole_seconds(), Ordering::SeqCst);
    }

    /// Sets the clock to the given Unix time (seconds).
    pub fn set_unix(&self, seconds: i64) {
        self.unix.store(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let secs = self.unix.load(Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

/// Truncates a time to whole seconds.
pub(crate) fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.unix_timestamp()).unwrap_or(t)
}
