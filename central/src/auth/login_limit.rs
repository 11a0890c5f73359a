//! Brute-force brake on `auth/login`: at most 5 attempts per minute per
//! user name and 30 per minute per client address (the planning document's
//! 5/minute), answered with 429 and `Retry-After`. Kept in memory: each
//! instance limits on its own, which still bounds guessing to a few
//! attempts per minute per instance.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Per-user and per-address limiters.
pub struct LoginLimiter {
    per_user: DefaultKeyedRateLimiter<String>,
    per_addr: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter").finish_non_exhaustive()
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(5, 30)
    }
}

impl LoginLimiter {
    /// `per_user` and `per_addr` attempts per minute.
    pub fn new(per_user: u32, per_addr: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            per_user: governor::RateLimiter::keyed(quota(per_user)),
            per_addr: governor::RateLimiter::keyed(quota(per_addr)),
        }
    }

    /// Counts one attempt; `Err(wait)` when over the limit.
    pub fn check(&self, username: &str, addr: Option<IpAddr>) -> Result<(), Duration> {
        let clock = DefaultClock::default();
        if let Some(a) = addr {
            self.per_addr
                .check_key(&a)
                .map_err(|n| n.wait_time_from(clock.now()))?;
        }
        self.per_user
            .check_key(&username.to_lowercase())
            .map_err(|n| n.wait_time_from(clock.now()))?;
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

    #[test]
    fn the_sixth_attempt_within_a_minute_waits() {
        let l = LoginLimiter::new(5, 100);
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
    }
}
