//! The supervised-worker shape (moonfire-nvr's streamer, in the house
//! style): a long-lived worker makes attempts (one camera session, one
//! broker connection); the supervisor logs why an attempt failed with its
//! whole error chain, waits out the back-off, and checks shutdown, so no
//! worker writes that loop again. An attempt that made progress (it
//! connected) resets the back-off before the next delay.

use std::error::Error;
use std::fmt::Write;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use crate::Backoff;

/// One attempt's view of its supervision.
#[derive(Debug)]
pub struct Attempt {
    stop: watch::Receiver<bool>,
    progressed: AtomicBool,
    number: u64,
}

impl Attempt {
    /// The attempt worked (connected, streamed): when it ends, the next
    /// one starts after the initial delay, not a grown one.
    pub fn progressed(&self) {
        self.progressed.store(true, Ordering::Relaxed);
    }

    /// 1 for the first attempt, 2 for the first retry, …
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Resolves when shutdown is asked for (or its sender is gone).
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                return;
            }
        }
    }

    /// Whether shutdown has been asked for.
    pub fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }
}

/// A long-lived worker.
pub trait Worker {
    type Error: Error;

    /// One attempt: runs until it fails (`Err`, retried after the
    /// back-off), it is finished or [`Attempt::stopped`] (`Ok`, not retried).
    fn run_once(&mut self, attempt: &mut Attempt) -> impl Future<Output = Result<(), Self::Error>>;
}

/// The error and its sources, `a: b: c`.
fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        // Writing to a String cannot fail.
        let _ = write!(s, ": {cause}");
        source = cause.source();
    }
    s
}

/// Runs `worker` until an attempt ends with `Ok` or `stop` turns true.
/// The first failure after progress, and the first of a series of failed
/// attempts, are logged at warn; later ones of the series at debug (a
/// camera or broker that stays away does not flood the log).
pub async fn supervise<W: Worker>(
    name: &str,
    worker: &mut W,
    mut backoff: Backoff,
    stop: watch::Receiver<bool>,
) {
    let mut number = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        number += 1;
        let mut attempt = Attempt {
            stop: stop.clone(),
            progressed: AtomicBool::new(false),
            number,
        };
        let result = worker.run_once(&mut attempt).await;
        let Err(e) = result else { return };
        if attempt.is_stopped() {
            return;
        }
        if attempt.progressed.load(Ordering::Relaxed) {
            backoff.reset();
        }
        let first = backoff.failures() == 0;
        let delay = backoff.next_delay();
        let error = chain(&e);
        if first {
            tracing::warn!(
                worker = name,
                error,
                retry_in_s = delay.as_secs_f64(),
                "{name} failed; retrying"
            );
        } else {
            tracing::debug!(
                worker = name,
                error,
                retry_in_s = delay.as_secs_f64(),
                "{name} failed again"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = attempt.stopped() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("attempt {0} failed")]
    struct Failed(u64, #[source] std::io::Error);

    /// Fails `fail` times (progressing on attempts in `progress`), then
    /// finishes; records when each attempt started (paused clock).
    struct Script {
        fail: u64,
        progress: Vec<u64>,
        started: Vec<tokio::time::Instant>,
    }

    impl Worker for Script {
        type Error = Failed;
        async fn run_once(&mut self, attempt: &mut Attempt) -> Result<(), Failed> {
            self.started.push(tokio::time::Instant::now());
            if self.progress.contains(&attempt.number()) {
                attempt.progressed();
            }
            if attempt.number() <= self.fail {
                return Err(Failed(attempt.number(), std::io::Error::other("refused")));
            }
            Ok(())
        }
    }

    fn gaps(started: &[tokio::time::Instant]) -> Vec<u64> {
        started
            .windows(2)
            .map(|w| (w[1] - w[0]).as_millis() as u64)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn failed_attempts_are_retried_after_a_growing_back_off_until_one_finishes() {
        let (_tx, stop) = watch::channel(false);
        let mut w = Script {
            fail: 3,
            progress: vec![],
            started: vec![],
        };
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        supervise("script", &mut w, b, stop).await;
        assert_eq!(w.started.len(), 4);
        assert_eq!(gaps(&w.started), vec![100, 150, 225]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_that_progressed_resets_the_back_off() {
        let (_tx, stop) = watch::channel(false);
        let mut w = Script {
            fail: 4,
            progress: vec![3],
            started: vec![],
        };
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        supervise("script", &mut w, b, stop).await;
        assert_eq!(gaps(&w.started), vec![100, 150, 100, 150]);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_during_the_back_off_ends_supervision() {
        let (tx, stop) = watch::channel(false);
        let mut w = Script {
            fail: u64::MAX,
            progress: vec![],
            started: vec![],
        };
        let b = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        let task = supervise("script", &mut w, b, stop);
        let stopper = async {
            tokio::time::sleep(Duration::from_secs(25)).await;
            tx.send(true).unwrap();
        };
        tokio::join!(task, stopper);
        // Attempts at 0, 10 and 20 s; the stop at 25 s ends the wait.
        assert_eq!(w.started.len(), 3);
    }

    #[test]
    fn the_error_chain_names_every_cause() {
        let e = Failed(2, std::io::Error::other("refused"));
        assert_eq!(chain(&e), "attempt 2 failed: refused");
    }
}
