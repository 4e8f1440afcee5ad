//! Lifetimes and policies, with the defaults and the reasons for them.

use time::Duration;

pub use crate::access_token::RESERVED_CLAIMS;
use crate::error::ConfigError;

/// Default access-token lifetime: 10 minutes.
///
/// Stateless verification cannot see a revocation, so this is the longest a
/// revoked session's access token keeps working where `verify` (not
/// `verify_strict`) is used. Ten minutes keeps that window short while
/// costing one refresh per ten minutes of activity.
pub const DEFAULT_ACCESS_TTL: Duration = Duration::minutes(10);

/// Default refresh idle lifetime: 7 days, sliding with every refresh.
///
/// A user who comes back within a week stays signed in; a device left
/// unused for a week is signed out (OWASP idle timeout, SEC-09).
pub const DEFAULT_REFRESH_IDLE_TTL: Duration = Duration::days(7);

/// Default absolute session lifetime: 30 days, never extended by activity.
///
/// Bounds how long a stolen session can live however it is used (SEC-10).
pub const DEFAULT_ABSOLUTE_TTL: Duration = Duration::days(30);

/// Default grace window: 10 seconds.
///
/// Long enough to absorb a lost response or two tabs refreshing at once;
/// short enough that a thief replaying a copied token later is caught.
pub const DEFAULT_GRACE: Duration = Duration::seconds(10);

/// Longest grace window allowed: 60 seconds (SEC-21).
pub const MAX_GRACE: Duration = Duration::seconds(60);

/// Default JWT leeway for clock skew between services: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::seconds(30);

/// Largest JWT leeway allowed: 300 seconds (SEC-28).
pub const MAX_LEEWAY: Duration = Duration::seconds(300);

/// Default longest token accepted, in bytes: 4096 (SEC-39). Longer input is
/// rejected before it is decoded.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 4096;

/// Default most sessions one user may hold: 100.
///
/// Each login adds a session; without a bound, a script logging in in a
/// loop grows one user's sessions, and the per-user work of the store
/// (listing, "log out everywhere"), without limit. A hundred devices is
/// more than any person uses; the oldest session goes first (SEC-43).
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 100;

/// What to revoke when a refresh token is reused.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub enum TheftPolicy {
    /// Revoke the session (the whole token family) whose token was reused.
    #[default]
    RevokeSession,
    /// Revoke every session of the user: use it when one stolen device
    /// suggests the account is compromised.
    RevokeAllForUser,
}

/// The validated settings of a [`SessionManager`](crate::SessionManager).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_idle_ttl: Duration,
    pub(crate) absolute_ttl: Duration,
    pub(crate) grace: Duration,
    pub(crate) leeway: Duration,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) theft_policy: TheftPolicy,
    pub(crate) max_token_len: usize,
    pub(crate) max_sessions_per_user: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            access_ttl: DEFAULT_ACCESS_TTL,
            refresh_idle_ttl: DEFAULT_REFRESH_IDLE_TTL,
            absolute_ttl: DEFAULT_ABSOLUTE_TTL,
            grace: DEFAULT_GRACE,
            leeway: DEFAULT_LEEWAY,
            issuer: None,
            audience: None,
            theft_policy: TheftPolicy::default(),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            max_sessions_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
        }
    }
}

impl Config {
    /// Checks every bound; called once by the builder.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let whole = |name, d: Duration| {
            if d.subsec_nanoseconds() != 0 {
                Err(ConfigError::InvalidSetting {
                    name,
                    reason: "must be whole seconds",
                })
            } else {
                Ok(())
            }
        };
        let positive = |name, d: Duration| {
            whole(name, d)?;
            if d <= Duration::ZERO {
                Err(ConfigError::InvalidSetting {
                    name,
                    reason: "must be positive",
                })
            } else {
                Ok(())
            }
        };
        positive("access_ttl", self.access_ttl)?;
        positive("refresh_idle_ttl", self.refresh_idle_ttl)?;
        positive("absolute_ttl", self.absolute_ttl)?;
        whole("grace", self.grace)?;
        whole("leeway", self.leeway)?;
        // Ten years: far beyond any sane session, and far from any overflow.
        let cap = Duration::days(3650);
        for (name, d) in [
            ("access_ttl", self.access_ttl),
            ("refresh_idle_ttl", self.refresh_idle_ttl),
            ("absolute_ttl", self.absolute_ttl),
        ] {
            if d > cap {
                return Err(ConfigError::InvalidSetting {
                    name,
                    reason: "must be at most 3650 days",
                });
            }
        }
        // An access token must not outlive the session it speaks for: it
        // would keep verifying after the session idled out (SEC-09) or
        // ended (SEC-22). Issued tokens are capped as well; refusing the
        // setting makes the mistake visible.
        if self.access_ttl > self.refresh_idle_ttl {
            return Err(ConfigError::InvalidSetting {
                name: "access_ttl",
                reason: "must not be longer than refresh_idle_ttl",
            });
        }
        if self.access_ttl > self.absolute_ttl {
            return Err(ConfigError::InvalidSetting {
                name: "access_ttl",
                reason: "must not be longer than absolute_ttl",
            });
        }
        if self.grace < Duration::ZERO || self.grace > MAX_GRACE {
            return Err(ConfigError::InvalidSetting {
                name: "grace",
                reason: "must be between 0 and 60 seconds",
            });
        }
        if self.leeway < Duration::ZERO || self.leeway > MAX_LEEWAY {
            return Err(ConfigError::InvalidSetting {
                name: "leeway",
                reason: "must be between 0 and 300 seconds",
            });
        }
        if !(256..=65_536).contains(&self.max_token_len) {
            return Err(ConfigError::InvalidSetting {
                name: "max_token_len",
                reason: "must be between 256 and 65536 bytes",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn sec_21_grace_is_bounded() {
        let mut c = Config {
            grace: Duration::seconds(61),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        c.grace = Duration::seconds(60);
        assert!(c.validate().is_ok());
        c.grace = Duration::ZERO;
        assert!(c.validate().is_ok());
        c.grace = Duration::seconds(-1);
        assert!(c.validate().is_err());
    }

    #[test]
    fn sec_28_leeway_is_bounded() {
        let mut c = Config {
            leeway: Duration::seconds(301),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        c.leeway = Duration::seconds(300);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn lifetimes_must_be_positive_whole_seconds() {
        let c = Config {
            access_ttl: Duration::ZERO,
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            access_ttl: Duration::milliseconds(1500),
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }
}
