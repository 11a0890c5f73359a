//! Waiting for a condition that something else makes true (a row
//! committed, a page updated, a gauge back at zero) when there is no event
//! to wait on: the check runs every `POLL_INTERVAL` until it holds or the
//! deadline passes. The interval is only the polling rate; the deadline
//! bounds the test.

use std::time::Duration;

/// How often [`poll`] checks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Runs `check` until it returns `Some` (returned) or `limit` has passed
/// (`None`).
pub async fn poll<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
