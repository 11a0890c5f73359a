//! Central's Prometheus metrics, served on `/metrics`.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Every metric central exports.
pub struct Metrics {
    pub registry: Registry,
    pub messages: Counter,
    pub events_stored: Counter,
    pub events_duplicate: Counter,
    /// Building-system telemetry points stored for the first time.
    pub device_points_stored: Counter,
    /// Points received again (already stored by `(device, ts)`).
    pub device_points_duplicate: Counter,
    /// Building-system events (access, alarm, fault) stored.
    pub device_events_stored: Counter,
    pub dead_letters: Counter,
    pub commit_retries: Counter,
    pub spool_errors: Counter,
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
    pub lag_seconds: Gauge<f64, AtomicU64>,
    pub spool_depth: Gauge,
    pub database_up: Gauge,
    pub broker_connected: Gauge,
    pub broker_connects: Counter,
    pub http_requests: Counter,
    pub ws_clients: Gauge,
    /// Snapshots stored (newer than the one kept).
    pub snapshots_stored: Counter,
    /// Live frames received from edge agents.
    pub live_frames: Counter,
    /// Pictures refused (malformed, unknown camera, wrong topic).
    pub media_refused: Counter,
    /// Cameras someone watches live right now (on this instance).
    pub live_cameras: Gauge,
    /// 1 while this instance evaluates the alert rules.
    pub alerts_evaluator: Gauge,
    /// Rule evaluations run by this instance.
    pub alerts_evaluations: Counter,
    /// Alert state changes made by this instance (fired, raised, …).
    pub alert_changes: Counter,
    /// Notification attempts by channel and outcome (`sent`, `retry`,
    /// `failed`).
    pub alert_deliveries: Family<Vec<(String, String)>, Counter>,
    /// 1 for a channel whose latest attempt from this instance failed.
    pub alert_channel_failing: Family<Vec<(String, String)>, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("atrium_central");
        let m = Self {
            registry: Registry::default(),
            messages: Counter::default(),
            events_stored: Counter::default(),
            events_duplicate: Counter::default(),
            device_points_stored: Counter::default(),
            device_points_duplicate: Counter::default(),
            device_events_stored: Counter::default(),
            dead_letters: Counter::default(),
            commit_retries: Counter::default(),
            spool_errors: Counter::default(),
            batch_size: Histogram::new([1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0]),
            commit_seconds: Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            lag_seconds: Gauge::default(),
            spool_depth: Gauge::default(),
            database_up: Gauge::default(),
            broker_connected: Gauge::default(),
            broker_connects: Counter::default(),
            http_requests: Counter::default(),
            ws_clients: Gauge::default(),
            snapshots_stored: Counter::default(),
            live_frames: Counter::default(),
            media_refused: Counter::default(),
            live_cameras: Gauge::default(),
            alerts_evaluator: Gauge::default(),
            alerts_evaluations: Counter::default(),
            alert_changes: Counter::default(),
            alert_deliveries: Family::default(),
            alert_channel_failing: Family::default(),
        };
        r.register(
            "alerts_evaluator",
            "1 while this instance evaluates the alert rules (one instance does)",
            m.alerts_evaluator.clone(),
        );
        r.register(
            "alerts_evaluations",
            "Alert rule evaluations run by this instance",
            m.alerts_evaluations.clone(),
        );
        r.register(
            "alert_changes",
            "Alert state changes (fired, severity raised, acknowledged, resolved) made by this instance",
            m.alert_changes.clone(),
        );
        r.register(
            "alert_deliveries",
            "Notification attempts by channel and outcome (sent, retry, failed)",
            m.alert_deliveries.clone(),
        );
        r.register(
            "alert_channel_failing",
            "1 for a notification channel whose latest attempt from this instance failed",
            m.alert_channel_failing.clone(),
        );
        r.register(
            "media_snapshots_stored",
            "Camera snapshots stored",
            m.snapshots_stored.clone(),
        );
        r.register(
            "media_live_frames",
            "Live frames received from edge agents",
            m.live_frames.clone(),
        );
        r.register(
            "media_refused",
            "Camera pictures refused (dead-lettered with the reason)",
            m.media_refused.clone(),
        );
        r.register(
            "media_live_cameras",
            "Cameras watched live on this instance",
            m.live_cameras.clone(),
        );
        r.register(
            "ingest_messages",
            "MQTT messages received by ingest",
            m.messages.clone(),
        );
        r.register(
            "ingest_events_stored",
            "Events stored for the first time",
            m.events_stored.clone(),
        );
        r.register(
            "ingest_events_duplicate",
            "Events received again (already stored)",
            m.events_duplicate.clone(),
        );
        r.register(
            "ingest_device_points_stored",
            "Building-system telemetry points stored for the first time",
            m.device_points_stored.clone(),
        );
        r.register(
            "ingest_device_points_duplicate",
            "Building-system telemetry points received again (already stored)",
            m.device_points_duplicate.clone(),
        );
        r.register(
            "ingest_device_events_stored",
            "Building-system events (access decisions, alarms, faults) stored for the first time",
            m.device_events_stored.clone(),
        );
        r.register(
            "ingest_dead_letters",
            "Messages refused and stored in dead_letters",
            m.dead_letters.clone(),
        );
        r.register(
            "ingest_commit_retries",
            "Batches committed again after a transient database error (deadlock, serialization failure)",
            m.commit_retries.clone(),
        );
        r.register(
            "ingest_spool_errors",
            "Ingest spool reads that failed and spooled records that could not be decoded (dead-lettered)",
            m.spool_errors.clone(),
        );
        r.register(
            "ingest_batch_size",
            "Messages per committed batch",
            m.batch_size.clone(),
        );
        r.register(
            "db_commit_seconds",
            "Time to write and commit one batch",
            m.commit_seconds.clone(),
        );
        r.register(
            "ingest_lag_seconds",
            "Commit time minus capture time of the oldest event in the last batch",
            m.lag_seconds.clone(),
        );
        r.register(
            "ingest_spool_depth",
            "Messages waiting in the local spool for the database",
            m.spool_depth.clone(),
        );
        r.register(
            "database_up",
            "1 when the last database write succeeded",
            m.database_up.clone(),
        );
        r.register(
            "ingest_broker_connections",
            "Connections ingest made to the broker (a growing count means the connection keeps breaking)",
            m.broker_connects.clone(),
        );
        r.register(
            "broker_connected",
            "1 when ingest is connected to the broker",
            m.broker_connected.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests served",
            m.http_requests.clone(),
        );
        r.register(
            "websocket_clients",
            "Connected WebSocket clients",
            m.ws_clients.clone(),
        );
        m.database_up.set(1);
        Self { registry: r, ..m }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
