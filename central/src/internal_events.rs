//! What central tells operators about itself, one type per happening,
//! each emitting its log line and its metric together (vector's
//! internal-events pattern). A call site builds the event and calls
//! `emit`; it cannot log without counting or count without logging, and
//! the wording of each line lives in one place.

use std::time::Duration;

use crate::metrics::Metrics;

/// A happening worth a log line and a metric.
pub trait InternalEvent {
    fn emit(self, metrics: &Metrics);
}

/// Messages taken from the broker for one batch.
#[derive(Debug, Clone, Copy)]
pub struct MessagesReceived {
    pub count: usize,
}

impl InternalEvent for MessagesReceived {
    fn emit(self, m: &Metrics) {
        tracing::trace!(messages = self.count, "batch received");
        m.messages.inc_by(self.count as u64);
    }
}

/// A message refused by the wire contract's checks; it is stored in
/// `dead_letters` with the batch (counted when that commits).
#[derive(Debug, Clone, Copy)]
pub struct MessageDeadLettered<'a> {
    pub topic: &'a str,
    pub reason: &'a str,
    pub bytes: usize,
}

impl InternalEvent for MessageDeadLettered<'_> {
    fn emit(self, _: &Metrics) {
        tracing::warn!(
            topic = self.topic,
            reason = self.reason,
            bytes = self.bytes,
            "message dead-lettered"
        );
    }
}

/// A batch committed to the database.
#[derive(Debug, Clone, Copy)]
pub struct BatchCommitted {
    pub messages: usize,
    pub events: usize,
    pub new_events: u64,
    /// Building-system points: stored for the first time, and received
    /// again.
    pub device_points: u64,
    pub device_duplicates: u64,
    pub device_events: u64,
    pub dead_letters: u64,
    pub took: Duration,
    /// Age at commit of the batch's oldest event (capture to storage).
    pub lag: Option<chrono::Duration>,
}

impl InternalEvent for BatchCommitted {
    fn emit(self, m: &Metrics) {
        tracing::debug!(
            messages = self.messages,
            new_events = self.new_events,
            device_points = self.device_points,
            dead_letters = self.dead_letters,
            ms = self.took.as_millis() as u64,
            "batch committed"
        );
        m.commit_seconds.observe(self.took.as_secs_f64());
        m.batch_size.observe(self.messages as f64);
        m.events_stored.inc_by(self.new_events);
        m.events_duplicate
            .inc_by(self.events as u64 - self.new_events.min(self.events as u64));
        m.device_points_stored.inc_by(self.device_points);
        m.device_points_duplicate.inc_by(self.device_duplicates);
        m.device_events_stored.inc_by(self.device_events);
        m.dead_letters.inc_by(self.dead_letters);
        if let Some(lag) = self.lag {
            m.lag_seconds.set(lag.num_milliseconds() as f64 / 1000.0);
        }
    }
}

/// A transient database error; the same batch is tried again.
#[derive(Debug, Clone, Copy)]
pub struct CommitRetried<'a, R: std::fmt::Debug> {
    pub reason: &'a R,
    /// Whether this is a whole batch (logged) or one message of a split.
    pub whole_batch: bool,
}

impl<R: std::fmt::Debug> InternalEvent for CommitRetried<'_, R> {
    fn emit(self, m: &Metrics) {
        if self.whole_batch {
            tracing::info!(reason = ?self.reason, "transient database error; retrying the batch");
        } else {
            tracing::debug!(reason = ?self.reason, "transient database error; retrying the message");
        }
        m.commit_retries.inc();
    }
}

/// The database became reachable or unreachable (`changed`), or was
/// found as it was.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseAvailability {
    pub up: bool,
    pub changed: bool,
}

impl InternalEvent for DatabaseAvailability {
    fn emit(self, m: &Metrics) {
        match (self.changed, self.up) {
            (true, true) => tracing::info!("database reachable again"),
            (true, false) => tracing::error!("database unreachable"),
            (false, _) => {}
        }
        m.database_up.set(i64::from(self.up));
    }
}

/// The ingest spool could not be read; replay tries again later.
#[derive(Debug, Clone, Copy)]
pub struct SpoolReadFailed<'a> {
    pub error: &'a atrium_spool::SpoolError,
    /// Messages waiting in the spool.
    pub spooled: u64,
}

impl InternalEvent for SpoolReadFailed<'_> {
    fn emit(self, m: &Metrics) {
        tracing::error!(error = %self.error, spooled = self.spooled, "cannot read the ingest spool; retrying later");
        m.spool_errors.inc();
    }
}

/// Spooled records that do not decode; they go to the dead letters.
#[derive(Debug, Clone, Copy)]
pub struct SpoolRecordsUndecodable {
    pub records: usize,
}

impl InternalEvent for SpoolRecordsUndecodable {
    fn emit(self, m: &Metrics) {
        tracing::error!(
            records = self.records,
            "undecodable ingest spool records go to the dead letters"
        );
        m.spool_errors.inc_by(self.records as u64);
    }
}

/// The broker connection came up or went down.
#[derive(Debug, Clone, Copy)]
pub struct BrokerConnection {
    pub up: bool,
}

impl InternalEvent for BrokerConnection {
    fn emit(self, m: &Metrics) {
        if self.up {
            tracing::info!("ingest connected to the broker");
            m.broker_connects.inc();
        }
        m.broker_connected.set(i64::from(self.up));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn text(m: &Metrics) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        out
    }

    fn value(m: &Metrics, name: &str) -> f64 {
        text(m)
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    #[test]
    fn a_committed_batch_counts_new_duplicate_and_dead_lettered_messages() {
        let m = Metrics::new();
        BatchCommitted {
            messages: 10,
            events: 8,
            new_events: 6,
            device_points: 40,
            device_duplicates: 3,
            device_events: 1,
            dead_letters: 2,
            took: Duration::from_millis(5),
            lag: Some(chrono::Duration::milliseconds(1500)),
        }
        .emit(&m);
        assert_eq!(value(&m, "atrium_central_ingest_events_stored_total"), 6.0);
        assert_eq!(
            value(&m, "atrium_central_ingest_events_duplicate_total"),
            2.0
        );
        assert_eq!(value(&m, "atrium_central_ingest_dead_letters_total"), 2.0);
        assert_eq!(
            value(&m, "atrium_central_ingest_device_points_stored_total"),
            40.0
        );
        assert_eq!(
            value(&m, "atrium_central_ingest_device_points_duplicate_total"),
            3.0
        );
        assert_eq!(
            value(&m, "atrium_central_ingest_device_events_stored_total"),
            1.0
        );
        assert_eq!(value(&m, "atrium_central_ingest_lag_seconds"), 1.5);
    }

    #[test]
    fn database_and_broker_availability_set_their_gauges() {
        let m = Metrics::new();
        DatabaseAvailability {
            up: false,
            changed: true,
        }
        .emit(&m);
        assert_eq!(value(&m, "atrium_central_database_up"), 0.0);
        BrokerConnection { up: true }.emit(&m);
        BrokerConnection { up: false }.emit(&m);
        assert_eq!(value(&m, "atrium_central_broker_connected"), 0.0);
        assert_eq!(
            value(&m, "atrium_central_ingest_broker_connections_total"),
            1.0
        );
    }
}
