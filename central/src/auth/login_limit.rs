//! Brute-force brake on `auth/login`: at most 5 attempts per minute per
//! user name and 30 per minute per client address (the planning document's
//! 5/minute), answered with 429 and `Retry-After`. Kept in memory: each
//! instance limits on its own, which still bounds guessing to a few
//! attempts per minute per instance.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use atrium_clock::SharedClock;
use governor::clock::{Clock as _, ReasonablyRealtime};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

/// Governor reads the time through this, so the limiter follows the
/// process's [`atrium_clock::Clock`] (and a test's manual clock).
#[derive(Debug, Clone)]
pub struct GovernorClock(pub SharedClock);

impl governor::clock::Clock for GovernorClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        self.0.instant()
    }
}

impl ReasonablyRealtime for GovernorClock {}

type Keyed<K> = RateLimiter<K, DashMapStateStore<K>, GovernorClock, NoOpMiddleware<Instant>>;

/// Per-user and per-address limiters.
pub struct LoginLimiter {
    per_user: Keyed<String>,
    per_addr: Keyed<IpAddr>,
    clock: GovernorClock,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter").finish_non_exhaustive()
    }
}

impl LoginLimiter {
    /// The planning document's limits: 5 attempts per minute per user,
    /// 30 per address.
    pub fn standard(clock: SharedClock) -> Self {
        Self::new(5, 30, clock)
    }

    /// `per_user` and `per_addr` attempts per minute.
    pub fn new(per_user: u32, per_addr: u32, clock: SharedClock) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        let clock = GovernorClock(clock);
        Self {
            per_user: RateLimiter::dashmap_with_clock(quota(per_user), clock.clone()),
            per_addr: RateLimiter::dashmap_with_clock(quota(per_addr), clock.clone()),
            clock,
        }
    }

    /// Counts one attempt; `Err(wait)` when over the limit.
    pub fn check(&self, username: &str, addr: Option<IpAddr>) -> Result<(), Duration> {
        if let Some(a) = addr {
            self.per_addr
                .check_key(&a)
                .map_err(|n| n.wait_time_from(self.clock.now()))?;
        }
        self.per_user
            .check_key(&username.to_lowercase())
            .map_err(|n| n.wait_time_from(self.clock.now()))?;
        Ok(())
    }

    /// Forgets idle keys (call now and then).
    pub fn shrink(&self) {
        self.per_user.retain_recent();
        self.per_addr.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use atrium_clock::ManualClock;

    #[test]
    fn the_sixth_attempt_within_a_minute_waits_and_is_let_through_once_time_passes() {
        let clock = ManualClock::new(chrono::Utc::now());
        let l = LoginLimiter::new(5, 100, clock.shared());
        let addr = Some(IpAddr::from([127, 0, 0, 1]));
        for _ in 0..5 {
            assert!(l.check("alice", addr).is_ok());
        }
        let wait = l.check("Alice", addr).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(12),
            "{wait:?}"
        );
        assert!(l.check("bob", addr).is_ok(), "other users are not affected");
        clock.advance(wait - Duration::from_millis(1));
        assert!(
            l.check("alice", addr).is_err(),
            "not before the wait is over"
        );
        clock.advance(Duration::from_millis(1));
        assert!(
            l.check("alice", addr).is_ok(),
            "one attempt back after 12 s"
        );
        assert!(l.check("alice", addr).is_err());
    }
}
