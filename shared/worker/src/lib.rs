//! What Atrium's long-lived loops share, so that retrying works the same
//! everywhere: camera reconnects, broker reconnects on both sides, refused
//! publishes, database retries. [`Backoff`] is a pure value (no clock:
//! callers sleep); [`supervise`] is the one loop shape around a worker's
//! attempts.

mod supervise;

use std::time::Duration;

pub use supervise::{Attempt, Worker, supervise};

/// `tokio::spawn` inside the caller's span: a long-lived task keeps the
/// fields (`instance`, `camera`, `site`) that tell its logs apart.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    use tracing::Instrument;
    tokio::spawn(future.in_current_span())
}

/// A named thread inside the caller's span (decode, inference, faces).
pub fn thread<F, T>(name: &str, f: F) -> std::io::Result<std::thread::JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || span.in_scope(f))
}

/// Waits for a task and returns its value; a task that panicked is logged
/// as having ended by panic (the panic hook printed the panic itself; this
/// says which task it was) and gives `None`, so a shutdown goes on.
pub async fn joined<T>(what: &str, task: tokio::task::JoinHandle<T>) -> Option<T> {
    match task.await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(task = what, error = %e, "task ended abnormally");
            None
        }
    }
}

/// The same for a thread, joined without blocking the async runtime.
pub async fn joined_thread<T: Send + 'static>(
    what: &str,
    thread: std::thread::JoinHandle<T>,
) -> Option<T> {
    match tokio::task::spawn_blocking(move || thread.join()).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(_)) => {
            tracing::error!(thread = what, "thread panicked");
            None
        }
        Err(e) => {
            tracing::error!(thread = what, error = %e, "joining the thread failed");
            None
        }
    }
}

/// Delays between attempts: `initial`, then ×1.5 after each failure,
/// capped at `max`; [`Backoff::reset`] after a success.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            next: initial,
            failures: 0,
        }
    }

    /// The delay before the next attempt; counts a failure.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.mul_f64(1.5).min(self.max);
        self.failures = self.failures.saturating_add(1);
        d
    }

    /// After a success: start from `initial` again.
    pub fn reset(&mut self) {
        self.next = self.initial;
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_half_and_caps_then_resets() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(10));
        let d: Vec<f64> = (0..6).map(|_| b.next_delay().as_secs_f64()).collect();
        assert_eq!(d, vec![2.0, 3.0, 4.5, 6.75, 10.0, 10.0]);
        assert_eq!(b.failures(), 6);
        b.reset();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.next_delay(), Duration::from_secs(2));
    }

    #[test]
    fn a_max_below_initial_is_raised_to_it() {
        let mut b = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(b.next_delay(), Duration::from_secs(5));
        assert_eq!(b.next_delay(), Duration::from_secs(5));
    }
}
