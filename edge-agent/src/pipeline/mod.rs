//! Wires the stages together and runs them until shutdown.
//!
//! ```text
//! source (tokio task / file thread)      source.rs, crate::source
//!   → decode → hand-off (latest frame wins)   crate::decode, crate::frames
//!   → inference thread: detect → track → analytics → events   inference.rs
//!        ├─ face jobs → face thread → events                 crate::face
//!        └─ snapshots, live frames → publisher (bounded)     crate::media
//! events → spool (disk) → publisher task → broker   crate::outbox, crate::publish
//! load task: CPU/latency → adaptive controller → knobs       load.rs
//! http task: /health, /metrics                               crate::http
//! ```
//!
//! Shutdown goes in pipeline order and by joining: the source stops, the
//! hand-off closes, the inference thread finishes its last frame and ends,
//! the face thread drains and ends, then the load task, and the publisher
//! last, so every event produced reaches the spool before it stops.

mod inference;
mod load;
mod source;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atrium_proto::CameraConfig;
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::detect::PersonDetector;
use crate::face::{FaceQueue, FaceSettings};
use crate::frames::Handoff;
use crate::outbox::{Figures, Outbox};
use crate::source::supervisor::SourceContext;
use crate::state::Shared;
use inference::Inference;

/// Why the agent could not start (or stop cleanly).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Source(#[from] crate::config::SourceError),
    #[error("models: {0}")]
    Vision(#[from] atrium_vision::VisionError),
    #[error("spool: {0}")]
    Spool(#[from] atrium_spool::SpoolError),
    #[error("broker TLS: {0}")]
    Tls(#[from] atrium_mqtt::TlsError),
    #[error("http.listen {listen:?}: {source}")]
    Listen {
        listen: String,
        #[source]
        source: std::net::AddrParseError,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the publisher task failed: {0}")]
    Publisher(#[from] tokio::task::JoinError),
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::Io {
        what: what.to_owned(),
        source,
    }
}

/// The address `http.listen` names.
pub(crate) fn listen_addr(config: &Config) -> Result<SocketAddr, StartError> {
    config
        .http
        .listen
        .parse()
        .map_err(|source| StartError::Listen {
            listen: config.http.listen.clone(),
            source,
        })
}

/// How `run` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunOptions {
    /// Stop by itself when a file source reaches its end (no loop) and
    /// every event has been acknowledged (or 30 s have passed).
    pub exit_when_source_ends: bool,
}

/// How long a source that ended by itself waits for the broker to take
/// what is spooled before the agent exits (the rest waits for the next
/// start).
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Runs the agent until `external_stop` turns true (or, with
/// `exit_when_source_ends`, until the file is played and delivered).
pub async fn run(
    config: Config,
    external_stop: watch::Receiver<bool>,
    options: RunOptions,
) -> Result<(), StartError> {
    let clock = atrium_clock::system();
    let started = clock.instant();
    let (stop_tx, mut stop) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    {
        let stop_tx = stop_tx.clone();
        let mut ext = external_stop;
        atrium_worker::spawn(async move {
            // Err: the sender is gone without asking for a stop; the agent
            // runs on (as before), stopped by its own end or a later signal.
            if ext.wait_for(|s| *s).await.is_ok() {
                // Sets the flag even when every receiver has already gone.
                stop_tx.send_replace(true);
            }
        });
    }
    let source = config.source()?;
    let transport = crate::outbox::transport(&config)?;
    let (models, detector) = crate::detect::load(&config)?;
    let detector = PersonDetector::new(detector);
    let fsync_interval = Duration::from_millis(config.spool.fsync_ms);
    let shared = Arc::new(Shared::new(config.adaptive.base_every, clock));
    let status_changed = Arc::new(Notify::new());
    let Outbox {
        spool,
        sink,
        spooled,
    } = crate::outbox::open(&config, &shared)?;

    // Face thread.
    let faces: Option<(FaceQueue, std::thread::JoinHandle<()>)> = if config.faces.enabled {
        let settings = FaceSettings {
            min_quality: config
                .faces
                .min_quality
                .map_or_else(|| models.min_face_quality(), Ok)?,
            quality: models.quality_config(),
        };
        Some(
            crate::face::spawn(
                models.face_detector()?,
                models.face_embedder_by_id(config.faces.embedder.as_deref())?,
                settings,
                sink.clone(),
                shared.clone(),
            )
            .map_err(io("starting the face thread"))?,
        )
    } else {
        None
    };

    // HTTP.
    let (bound, http) = crate::http::serve(listen_addr(&config)?, shared.clone(), stop.clone())
        .await
        .map_err(io("binding the HTTP port"))?;
    tracing::info!(%bound, "serving /health and /metrics");
    // A convenience for scripts and tests (the address is also logged).
    if let Err(e) = std::fs::write(config.spool.dir.join("http.addr"), bound.to_string()) {
        tracing::warn!(error = %e, "cannot write http.addr beside the spool");
    }
    let http = atrium_worker::spawn(http);

    // Source.
    let handoff = Arc::new(Handoff::new());
    let ctx = SourceContext {
        shared: shared.clone(),
        sink: sink.clone(),
        handoff: handoff.clone(),
        detector_input: detector.input_size(),
        started,
        full_every: config
            .faces
            .enabled
            .then(|| Duration::from_secs_f64(config.faces.interval_s / 2.0)),
        decode_threads: config.camera.decode_threads,
        status_changed: status_changed.clone(),
    };
    let mut source = source::start(&config, source, ctx, stop.clone())?;

    // Inference thread.
    let (config_tx, config_rx) = std::sync::mpsc::channel::<CameraConfig>();
    let (media_tx, media_rx) = tokio::sync::mpsc::channel(crate::media::QUEUE);
    let latency = Arc::new(Mutex::new(Vec::<f32>::new()));
    let inference = {
        let work = Inference {
            detector,
            handoff: handoff.clone(),
            configs: config_rx,
            sink: sink.clone(),
            shared: shared.clone(),
            faces: faces.as_ref().map(|(q, _)| q.clone()),
            latency: latency.clone(),
            pictures: crate::media::Pictures::new(
                config.camera.site.clone(),
                config.camera.id.clone(),
                config.media.clone(),
                media_tx,
            ),
            status_changed: status_changed.clone(),
        };
        let config = config.clone();
        atrium_worker::thread("inference", move || work.run(&config))
            .map_err(io("starting the inference thread"))?
    };

    // Load control and heartbeat figures.
    let figures = Arc::new(Mutex::new(Figures::default()));
    let load_task = atrium_worker::spawn(load::run(
        config.adaptive.clone(),
        shared.clone(),
        latency,
        figures.clone(),
        stop.clone(),
    ));

    // Publisher: stopped last, after every event has been spooled.
    let (publisher_stop, publisher_stop_rx) = watch::channel(false);
    let status =
        crate::outbox::status_source(&config, shared.clone(), spool.clone(), figures.clone());
    let publisher = atrium_worker::spawn(crate::publish::run(
        crate::outbox::publisher_config(&config, transport),
        spool.clone(),
        spooled,
        status_changed,
        shared.clone(),
        status,
        config_tx,
        media_rx,
        publisher_stop_rx.clone(),
    ));
    let syncer = atrium_worker::spawn(crate::spool_sync::run(
        spool.clone(),
        fsync_interval,
        shared.clone(),
        publisher_stop_rx,
    ));

    // Run until told to stop or, if asked, until the source ends.
    let source_ended = tokio::select! {
        _ = stop.wait_for(|s| *s) => false,
        _ = source.ended(), if options.exit_when_source_ends => true,
    };
    tracing::info!(source_ended, "stopping");
    // Wind down in pipeline order, each stage joined before the next.
    source.stop().await;
    tracing::debug!("source stopped");
    handoff.close();
    // A panicked stage is logged by `joined_thread`; the shutdown goes on
    // so the events already spooled are delivered.
    atrium_worker::joined_thread("inference", inference).await;
    tracing::debug!("inference stopped");
    if let Some((queue, thread)) = faces {
        drop(queue);
        atrium_worker::joined_thread("faces", thread).await;
    }
    if source_ended {
        // Accepted events that only wait out their linger count as
        // delivered (a next start would send them again, harmlessly).
        let delivered =
            crate::outbox::wait_delivered(&spool, &shared, DRAIN_LIMIT, &mut stop.clone()).await;
        tracing::info!(delivered, "source ended; spool drained");
    }
    stop_tx.send_replace(true);
    atrium_worker::joined("load", load_task).await;
    tracing::debug!("face and load tasks stopped; stopping the publisher");
    publisher_stop.send_replace(true);
    publisher.await?;
    atrium_worker::joined("spool sync", syncer).await;
    if let Some(Err(e)) = atrium_worker::joined("http", http).await {
        tracing::warn!(error = %e, "the /health and /metrics server failed");
    }
    if let Ok(mut s) = spool.lock() {
        s.sync()?;
    }
    Ok(())
}
