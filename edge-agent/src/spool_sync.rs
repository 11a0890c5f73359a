//! Keeps the spool's power-cut promise: whatever was appended is on disk
//! within `spool.fsync_ms`, also when no further event arrives to trigger
//! the sync inside `append` (a quiet camera after its last event).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atrium_spool::Spool;
use tokio::sync::watch;

use crate::state::Shared;

/// Syncs the spool whenever [`Spool::sync_due`] says so, until `stop`.
pub async fn run(
    spool: Arc<Mutex<Spool>>,
    interval: Duration,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    // With nothing unsynced, look again after one interval: an append
    // made just after this look is then synced at most one interval after
    // it was made.
    let idle = interval.max(Duration::from_millis(10));
    loop {
        let due = spool.lock().ok().and_then(|s| s.sync_due());
        let wake = due.unwrap_or_else(|| shared.clock.instant() + idle);
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            _ = stop.changed() => return,
        }
        let failed = {
            let Ok(mut s) = spool.lock() else { return };
            s.sync_due().is_some_and(|t| t <= shared.clock.instant()) && s.sync().is_err_and(|e| {
                shared.metrics.spool_sync_errors.inc();
                tracing::error!(error = %e, "spool sync failed: events appended since the last sync may not survive a power cut");
                true
            })
        };
        if failed {
            // A failing disk stays failing for a while: retry once per
            // interval instead of holding the spool's lock in a loop.
            tokio::select! {
                _ = tokio::time::sleep(idle) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atrium_spool::SpoolConfig;
    use std::time::Instant;

    #[tokio::test]
    async fn an_event_appended_alone_is_synced_within_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let interval = Duration::from_millis(100);
        let (spool, _) = Spool::open(SpoolConfig {
            dir: dir.path().to_owned(),
            max_bytes: 1 << 20,
            segment_bytes: 1 << 16,
            fsync_interval: interval,
            clock: atrium_clock::system(),
        })
        .unwrap();
        let spool = Arc::new(Mutex::new(spool));
        let shared = Arc::new(Shared::new(1, atrium_clock::system()));
        let (stop_tx, stop) = watch::channel(false);
        let task = atrium_worker::spawn(run(spool.clone(), interval, shared, stop));
        let appended = Instant::now();
        spool.lock().unwrap().append(b"the only event").unwrap();
        assert!(spool.lock().unwrap().sync_due().is_some(), "not synced yet");
        // Observe the spool itself; the limit only bounds a failure.
        let limit = appended + interval * 20;
        while spool.lock().unwrap().sync_due().is_some() {
            assert!(Instant::now() < limit, "no sync within {:?}", interval * 20);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let synced_after = appended.elapsed();
        // Not much later than the promise (scheduling slack on a busy CI
        // machine aside).
        assert!(synced_after < interval * 5, "synced after {synced_after:?}");
        stop_tx.send(true).unwrap();
        task.await.unwrap();
    }
}
