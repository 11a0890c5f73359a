//! The one place Atrium reads the time.
//!
//! Time-dependent logic (spool fsync deadlines, publisher resends and
//! lingers, ingest batching and replay, rate limiters, the pipeline's
//! frame clock) takes a [`Clock`] instead of calling `Instant::now()` or
//! `Utc::now()` itself. Production passes [`system()`]; a test passes a
//! [`ManualClock`] and moves time with [`ManualClock::advance`] instead of
//! sleeping, so what it checks ("after a minute the sixth login is let
//! through") takes microseconds and cannot flake under load.
//!
//! Async waiting stays with tokio's timers (`tokio::time::sleep`), which
//! tests control with `#[tokio::test(start_paused = true)]`; a clock is
//! for *reading* the time. Measuring how long real work took (inference
//! latency, benchmark figures) is not a clock read for logic and keeps
//! using `Instant` directly.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Wall-clock and monotonic time.
pub trait Clock: Debug + Send + Sync + 'static {
    /// Wall-clock time, for timestamps that leave the process.
    fn now(&self) -> DateTime<Utc>;
    /// Monotonic time, for deadlines and intervals.
    fn instant(&self) -> Instant;
}

/// A clock shared by the tasks of one process.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The real clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that stands still until told to move; both readings move
/// together.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<Reading>>,
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    wall: DateTime<Utc>,
    instant: Instant,
}

impl ManualClock {
    /// A clock reading `wall` now (the monotonic side starts at the real
    /// `Instant::now()`, since an `Instant` cannot be made from nothing).
    pub fn new(wall: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Reading {
                wall,
                instant: Instant::now(),
            })),
        }
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut r = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        r.instant += by;
        r.wall += chrono::Duration::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
    }

    /// This clock as a [`SharedClock`] (both stay in step).
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    fn reading(&self) -> Reading {
        *self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.reading().wall
    }

    fn instant(&self) -> Instant {
        self.reading().instant
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_both_readings_move_together() {
        let start = DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = ManualClock::new(start);
        let shared = c.shared();
        let (w0, i0) = (shared.now(), shared.instant());
        assert_eq!(w0, start);
        assert_eq!(shared.instant(), i0, "a manual clock stands still");
        c.advance(Duration::from_secs(90));
        assert_eq!(shared.now() - w0, chrono::Duration::seconds(90));
        assert_eq!(shared.instant() - i0, Duration::from_secs(90));
    }

    #[test]
    fn the_system_clock_moves_forward() {
        let c = system();
        let (a, b) = (c.instant(), c.instant());
        assert!(b >= a);
        assert!(c.now() > DateTime::UNIX_EPOCH);
    }
}
