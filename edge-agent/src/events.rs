//! Turning what the stages observe into events: envelope, JSON, spool.
//!
//! Every stage emits through one [`EventSink`]. An event is serialised and
//! appended to the spool *before* the publisher is told about it, so a
//! crash after `emit` returns cannot lose it; the optional journal records
//! `seq id type` of each produced event for audits and tests. An event
//! the spool cannot take (disk full, I/O error) is lost, and never
//! silently: it is logged, counted (`events_unspooled`) and reported in
//! `/health` and the heartbeat.

use std::io::Write;
use std::sync::{Arc, Mutex};

use atrium_proto::event::EventBody;
use atrium_proto::{CameraId, Event, SiteId};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::internal_events::{EventUnspooled, InternalEvent, SpoolOverflowed};
use crate::metrics::Kind;
use crate::state::Shared;
use atrium_spool::{Spool, SpoolError};

/// Where stages send events.
#[derive(Debug, Clone)]
pub struct EventSink {
    site: SiteId,
    camera: CameraId,
    spool: Arc<Mutex<Spool>>,
    journal: Option<Arc<Mutex<std::fs::File>>>,
    notify: Arc<Notify>,
    shared: Arc<Shared>,
}

impl EventSink {
    pub fn new(
        site: SiteId,
        camera: CameraId,
        spool: Arc<Mutex<Spool>>,
        journal: Option<std::fs::File>,
        notify: Arc<Notify>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            site,
            camera,
            spool,
            journal: journal.map(|f| Arc::new(Mutex::new(f))),
            notify,
            shared,
        }
    }

    /// Spools an event that happened at `ts`.
    pub fn emit(&self, ts: DateTime<Utc>, stream_ms: Option<i64>, body: EventBody) {
        let mut event = Event::new(self.site.clone(), self.camera.clone(), ts, body);
        event.stream_ms = stream_ms;
        // A failure is counted and reported (metric, /health, heartbeat)
        // by `spool`.
        let _ = self.spool(&event);
    }

    /// Spools a complete event (its id and time chosen by the caller);
    /// returns its spool sequence number. A failure is logged, counted in
    /// `events_unspooled` and reported in the heartbeat: the event is lost.
    pub fn spool(&self, event: &Event) -> Result<u64, SpoolError> {
        let result = self.spool_event(event);
        if let Err(error) = &result {
            EventUnspooled {
                error,
                id: event.id,
                kind: event.body.kind(),
            }
            .emit(&self.shared.metrics);
        }
        result
    }

    fn spool_event(&self, event: &Event) -> Result<u64, SpoolError> {
        let kind = event.body.kind().as_str();
        let json = serde_json::to_vec(event).map_err(|e| SpoolError::Io {
            path: "(serialise)".into(),
            source: std::io::Error::other(e),
        })?;
        if json.len() > atrium_proto::limits::MAX_EVENT_PAYLOAD {
            // Central would only dead-letter it.
            return Err(SpoolError::TooLarge { len: json.len() });
        }
        let (seq, dropped, pending, bytes, dropped_total) = {
            let mut spool = self.spool.lock().map_err(|_| SpoolError::Io {
                path: "(lock)".into(),
                source: std::io::Error::other("spool lock poisoned"),
            })?;
            let (seq, dropped) = spool.append(&json)?;
            (
                seq,
                dropped,
                spool.pending(),
                spool.bytes(),
                spool.dropped_total(),
            )
        };
        let m = &self.shared.metrics;
        m.events.get_or_create(&Kind::of(kind)).inc();
        m.spool_depth.set(pending as i64);
        m.spool_bytes.set(bytes as i64);
        if let Some(j) = &self.journal
            && let Ok(mut f) = j.lock()
        {
            let _ = writeln!(f, "{seq} {} {kind}", event.id);
        }
        self.notify.notify_one();
        if dropped > 0 {
            SpoolOverflowed {
                dropped,
                dropped_total,
            }
            .emit(m);
            // The alert is itself an event, so central learns what was lost.
            self.emit(
                self.shared.clock.now(),
                None,
                EventBody::SpoolOverflow {
                    dropped,
                    dropped_total,
                },
            );
        }
        Ok(seq)
    }
}
