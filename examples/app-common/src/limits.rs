//! Login rate limits (SEC-48): per client address and per user name, with
//! `governor`'s GCRA limiter.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// The longest user name kept as a limiter key, in characters: longer
/// names share the key of their first 64 characters.
const MAX_KEY_CHARS: usize = 64;

/// One limit: `burst` attempts at once, then one more each
/// `replenish_every`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct RateLimit {
    /// Attempts allowed in a burst (at least 1).
    pub burst: u32,
    /// How long until one more attempt is allowed (at least 1 ms).
    pub replenish_every: Duration,
}

impl RateLimit {
    /// `burst` attempts, then one each `replenish_every`.
    pub const fn new(burst: u32, replenish_every: Duration) -> Self {
        Self {
            burst,
            replenish_every,
        }
    }

    fn quota(self) -> Quota {
        let period = self.replenish_every.max(Duration::from_millis(1));
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// The login limits: one per client address, one per user name.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct LoginLimits {
    /// Per client address (the TCP peer: behind a reverse proxy, the
    /// proxy's address, unless the application reads a header it trusts).
    pub per_address: RateLimit,
    /// Per user name tried, whether the user exists or not.
    pub per_user: RateLimit,
}

/// Counts login attempts against [`LoginLimits`].
#[derive(Debug)]
pub struct LoginLimiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    per_user: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl LoginLimiter {
    /// A limiter with nothing counted yet.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            per_address: DefaultKeyedRateLimiter::keyed(limits.per_address.quota()),
            per_user: DefaultKeyedRateLimiter::keyed(limits.per_user.quota()),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt by `client` for `user_name`.
    ///
    /// # Errors
    /// How long to wait, in whole seconds (at least 1), when either limit is
    /// reached.
    pub fn check(&self, client: IpAddr, user_name: &str) -> Result<(), u64> {
        let key: String = user_name
            .trim()
            .to_lowercase()
            .chars()
            .take(MAX_KEY_CHARS)
            .collect();
        let now = self.clock.now();
        self.per_address
            .check_key(&client)
            .and_then(|()| self.per_user.check_key(&key))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(now);
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
            })
    }

    /// Forgets the keys whose limits have fully replenished, so that the
    /// limiter's memory follows the recent attempts only.
    pub fn forget_idle(&self) {
        self.per_address.retain_recent();
        self.per_user.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec_48_limits_per_address_and_per_user() {
        let limiter = LoginLimiter::new(LoginLimits {
            per_address: RateLimit::new(4, Duration::from_secs(3600)),
            per_user: RateLimit::new(2, Duration::from_secs(60)),
        });
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert_eq!(limiter.check(a, "alice"), Ok(()));
        assert_eq!(limiter.check(b, "Alice "), Ok(()));
        let wait = limiter.check(a, "ALICE").unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another name from the same address still works, up to its limit.
        assert_eq!(limiter.check(a, "bob"), Ok(()));
        assert_eq!(limiter.check(a, "carol"), Ok(()));
        // The refused attempt counted for the address too: the fifth is refused.
        let wait = limiter.check(a, "dave").unwrap_err();
        assert!((3000..=3600).contains(&wait), "{wait}");
        assert_eq!(limiter.check(b, "dave"), Ok(()));
        limiter.forget_idle();
    }
}
