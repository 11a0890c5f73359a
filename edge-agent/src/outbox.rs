//! What `run` and `relay` share between producing an event and the broker:
//! the spool (opened and recovered), the sink that writes to it, the
//! heartbeat's status, and the publisher's settings. One place, so the two
//! commands cannot deliver differently.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atrium_mqtt::TlsFiles;
use atrium_proto::{CameraState, SCHEMA_VERSION, Status};
use atrium_spool::{Spool, SpoolConfig};
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::events::EventSink;
use crate::metrics::Kind;
use crate::pipeline::StartError;
use crate::publish::{PublisherConfig, StatusSource};
use crate::state::Shared;

/// The spool and its sink.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub spool: Arc<Mutex<Spool>>,
    pub sink: EventSink,
    /// Woken on every spooled event (the publisher waits on it).
    pub spooled: Arc<Notify>,
}

/// Opens and recovers the spool (what recovery found is logged and
/// counted), the optional journal, and the sink.
pub fn open(config: &Config, shared: &Arc<Shared>) -> Result<Outbox, StartError> {
    let (spool, recovery) = Spool::open(SpoolConfig {
        dir: config.spool.dir.clone(),
        max_bytes: config.spool.max_mib * 1024 * 1024,
        segment_bytes: config.spool.segment_kib * 1024,
        fsync_interval: Duration::from_millis(config.spool.fsync_ms),
        clock: shared.clock.clone(),
    })?;
    tracing::info!(
        pending = recovery.pending,
        truncated = recovery.truncated_bytes,
        corrupt_ranges = recovery.corrupt_ranges,
        "spool opened"
    );
    let m = &shared.metrics;
    m.spool_corrupt.inc_by(recovery.corrupt_ranges);
    m.spool_depth.set(spool.pending() as i64);
    m.spool_bytes.set(spool.bytes() as i64);
    let spool = Arc::new(Mutex::new(spool));
    let journal = if config.spool.journal {
        Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(config.spool.dir.join("produced.log"))
                .map_err(|source| StartError::Io {
                    what: "opening the spool journal".into(),
                    source,
                })?,
        )
    } else {
        None
    };
    let spooled = Arc::new(Notify::new());
    let sink = EventSink::new(
        config.camera.site.clone(),
        config.camera.id.clone(),
        spool.clone(),
        journal,
        spooled.clone(),
        shared.clone(),
    );
    Ok(Outbox {
        spool,
        sink,
        spooled,
    })
}

/// The broker's TLS transport, built (and its files checked) now: a typo
/// must stop the start, not leave an agent that spools for ever.
pub fn transport(config: &Config) -> Result<rumqttc::Transport, StartError> {
    TlsFiles {
        ca: config.broker.ca_file.clone(),
        cert: config.broker.cert_file.clone(),
        key: config.broker.key_file.clone(),
    }
    .transport()
    .map_err(StartError::from)
}

/// Waits until the broker has taken every spooled event (accepted ones
/// that only wait out their linger count as taken), `limit` at most, or
/// until `stop`. Woken by the publisher on each acknowledgement, never by
/// polling. Returns whether everything was taken.
pub async fn wait_delivered(
    spool: &Mutex<Spool>,
    shared: &Shared,
    limit: Duration,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let woken = shared.delivered.notified();
        tokio::pin!(woken);
        // Registered before the check, so an acknowledgement between the
        // check and the wait still wakes it.
        woken.as_mut().enable();
        let lingering = shared.lingering.load(Ordering::Relaxed) as u64;
        // A poisoned spool lock (a panicked thread) has nothing more to
        // deliver in this run.
        let unsent = spool
            .lock()
            .map(|s| s.pending() > lingering)
            .unwrap_or(false);
        if !unsent {
            return true;
        }
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep_until(deadline) => return false,
            _ = stop.changed() => return false,
        }
    }
}

/// The publisher's settings from the configuration.
pub fn publisher_config(config: &Config, transport: rumqttc::Transport) -> PublisherConfig {
    PublisherConfig {
        site: config.camera.site.clone(),
        camera: config.camera.id.clone(),
        host: config.broker.host.clone(),
        port: config.broker.port,
        transport,
        keep_alive: Duration::from_secs(config.broker.keep_alive_s),
        heartbeat: Duration::from_secs_f64(config.broker.heartbeat_s),
        inflight: usize::from(config.broker.inflight.max(1)),
        linger: Duration::from_secs_f64(config.broker.linger_s),
    }
}

/// Pipeline figures the heartbeat reports (zero for the relay).
#[derive(Debug, Default, Clone, Copy)]
pub struct Figures {
    pub fps_in: f32,
    pub fps_processed: f32,
    pub inference_ms: f32,
    pub cpu_percent: f32,
    pub rss_bytes: u64,
}

/// The heartbeat's status: the camera state (degraded under the heaviest
/// load), the spool, and the figures.
pub fn status_source(
    config: &Config,
    shared: Arc<Shared>,
    spool: Arc<Mutex<Spool>>,
    figures: Arc<Mutex<Figures>>,
) -> StatusSource {
    let site = config.camera.site.clone();
    let camera = config.camera.id.clone();
    Arc::new(move |state: CameraState, reason: Option<String>| {
        // Poisoned (a pipeline thread panicked): report zero figures
        // rather than no heartbeat.
        let f = figures.lock().map(|f| *f).unwrap_or_default();
        let (depth, fill) = spool
            .lock()
            .map(|s| (s.pending(), s.fill()))
            .unwrap_or((0, 0.0));
        let level = shared.load_level.load(Ordering::Relaxed);
        let state = if state == CameraState::Online && level >= 3 {
            CameraState::Degraded
        } else {
            state
        };
        let m = &shared.metrics;
        let dropped: u64 = ["handoff", "decode_queue"]
            .iter()
            .map(|k| m.frames_dropped.get_or_create(&Kind::of(k)).get())
            .sum();
        let faces = |k: &str| m.faces.get_or_create(&Kind::of(k)).get();
        let faces_failed = faces("error");
        Status {
            faces_attempted: faces("published") + faces("low_quality") + faces_failed,
            faces_failed,
            schema: SCHEMA_VERSION,
            ts: shared.clock.now(),
            site: site.clone(),
            camera: camera.clone(),
            state,
            reason,
            version: env!("CARGO_PKG_VERSION").into(),
            fps_in: f.fps_in,
            fps_processed: f.fps_processed,
            dropped_frames: dropped,
            inference_ms: f.inference_ms,
            spool_depth: depth,
            spool_fill: fill,
            cpu_percent: f.cpu_percent,
            rss_bytes: f.rss_bytes,
            load_level: level,
            events_unspooled: m.events_unspooled.get(),
            spool_corrupt: m.spool_corrupt.get(),
            events_refused: m.publish_refused.get(),
            config_version: shared.config_version.load(Ordering::Relaxed),
        }
    })
}
