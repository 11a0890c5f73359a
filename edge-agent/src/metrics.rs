//! Prometheus metrics, served on `/metrics`. One struct of handles, created
//! once and shared by every stage; each stage bumps its own counters.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A label set with one `kind` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    pub kind: String,
}

impl Kind {
    pub fn of(kind: &str) -> Self {
        Self {
            kind: kind.to_owned(),
        }
    }
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric the agent exports.
pub struct Metrics {
    pub registry: Registry,
    pub frames_in: Counter,
    pub frames_processed: Counter,
    pub frames_dropped: Family<Kind, Counter>,
    pub decode_errors: Counter,
    pub inference_seconds: Histogram,
    pub fps_in: FloatGauge,
    pub fps_processed: FloatGauge,
    pub tracks: Gauge,
    pub events: Family<Kind, Counter>,
    pub faces: Family<Kind, Counter>,
    pub spool_depth: Gauge,
    pub spool_bytes: Gauge,
    pub spool_dropped: Counter,
    pub reconnects: Family<Kind, Counter>,
    pub publish_refused: Counter,
    pub spool_corrupt: Counter,
    pub spool_sync_errors: Counter,
    pub events_unspooled: Counter,
    pub config_refused: Counter,
    pub camera_online: Gauge,
    pub broker_connected: Gauge,
    pub load_level: Gauge,
    pub detect_every: Gauge,
    pub cpu_percent: FloatGauge,
    pub rss_bytes: Gauge,
    /// Pictures handed to the broker connection, by kind (snapshot, live).
    pub media_frames: Family<Kind, Counter>,
    /// Pictures not sent, by reason (too_large, queue_full, encode).
    pub media_dropped: Family<Kind, Counter>,
    /// 1 while central has asked for live frames.
    pub live_active: Gauge,
    /// Requests from central refused (malformed, invalid).
    pub requests_refused: Counter,
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
        let mut r = Registry::with_prefix("atrium_edge");
        let m = Self {
            frames_in: Counter::default(),
            frames_processed: Counter::default(),
            frames_dropped: Family::default(),
            decode_errors: Counter::default(),
            inference_seconds: Histogram::new([
                0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28,
            ]),
            fps_in: FloatGauge::default(),
            fps_processed: FloatGauge::default(),
            tracks: Gauge::default(),
            events: Family::default(),
            faces: Family::default(),
            spool_depth: Gauge::default(),
            spool_bytes: Gauge::default(),
            spool_dropped: Counter::default(),
            reconnects: Family::default(),
            publish_refused: Counter::default(),
            spool_corrupt: Counter::default(),
            spool_sync_errors: Counter::default(),
            events_unspooled: Counter::default(),
            config_refused: Counter::default(),
            camera_online: Gauge::default(),
            broker_connected: Gauge::default(),
            load_level: Gauge::default(),
            detect_every: Gauge::default(),
            cpu_percent: FloatGauge::default(),
            rss_bytes: Gauge::default(),
            media_frames: Family::default(),
            media_dropped: Family::default(),
            live_active: Gauge::default(),
            requests_refused: Counter::default(),
            registry: Registry::default(),
        };
        r.register(
            "frames_in",
            "Frames decoded from the camera",
            m.frames_in.clone(),
        );
        r.register(
            "frames_processed",
            "Frames run through person detection",
            m.frames_processed.clone(),
        );
        r.register(
            "frames_dropped",
            "Frames dropped, by stage (decode_queue, handoff)",
            m.frames_dropped.clone(),
        );
        r.register(
            "decode_errors",
            "Packets the decoder rejected",
            m.decode_errors.clone(),
        );
        r.register(
            "inference_seconds",
            "Person detection time per frame",
            m.inference_seconds.clone(),
        );
        r.register(
            "fps_in",
            "Frames per second from the camera (last heartbeat interval)",
            m.fps_in.clone(),
        );
        r.register(
            "fps_processed",
            "Frames per second detected (last heartbeat interval)",
            m.fps_processed.clone(),
        );
        r.register(
            "tracks",
            "Confirmed person tracks in view",
            m.tracks.clone(),
        );
        r.register("events", "Events produced, by type", m.events.clone());
        r.register("faces", "Face attempts, by outcome", m.faces.clone());
        r.register(
            "spool_depth",
            "Events waiting for a broker acknowledgement",
            m.spool_depth.clone(),
        );
        r.register("spool_bytes", "Bytes in the spool", m.spool_bytes.clone());
        r.register(
            "spool_dropped",
            "Events dropped because the spool quota was full",
            m.spool_dropped.clone(),
        );
        r.register(
            "reconnects",
            "Reconnections, by kind (camera, broker)",
            m.reconnects.clone(),
        );
        r.register(
            "publish_refused",
            "Events the broker did not take (kept and sent again; the log names the PUBACK reason)",
            m.publish_refused.clone(),
        );
        r.register(
            "spool_corrupt",
            "Spooled events that failed their checksum on reading (dropped)",
            m.spool_corrupt.clone(),
        );
        r.register(
            "spool_sync_errors",
            "Spool fsyncs that failed (what was appended since may not survive a power cut)",
            m.spool_sync_errors.clone(),
        );
        r.register(
            "events_unspooled",
            "Events that could not be written to the spool (disk full, I/O error): lost",
            m.events_unspooled.clone(),
        );
        r.register(
            "config_refused",
            "Camera configurations from central refused (too large, malformed, invalid)",
            m.config_refused.clone(),
        );
        r.register(
            "media_frames",
            "Camera pictures sent to the broker, by kind (snapshot, live)",
            m.media_frames.clone(),
        );
        r.register(
            "media_dropped",
            "Camera pictures not sent, by kind of reason (too_large, queue_full, encode)",
            m.media_dropped.clone(),
        );
        r.register(
            "live_active",
            "1 while central asks for live frames",
            m.live_active.clone(),
        );
        r.register(
            "requests_refused",
            "Requests from central refused (malformed, invalid)",
            m.requests_refused.clone(),
        );
        r.register(
            "camera_online",
            "1 when frames arrive",
            m.camera_online.clone(),
        );
        r.register(
            "broker_connected",
            "1 when connected to the broker",
            m.broker_connected.clone(),
        );
        r.register(
            "load_level",
            "Adaptive load level (0 = full processing)",
            m.load_level.clone(),
        );
        r.register(
            "detect_every",
            "Detection runs on every Nth frame",
            m.detect_every.clone(),
        );
        r.register("cpu_percent", "System CPU use", m.cpu_percent.clone());
        r.register(
            "rss_bytes",
            "Resident memory of the agent",
            m.rss_bytes.clone(),
        );
        Self { registry: r, ..m }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
