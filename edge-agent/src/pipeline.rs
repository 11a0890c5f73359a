//! Wires the stages together and runs them until shutdown.
//!
//! ```text
//! source (tokio / thread) → decode thread → hand-off (latest frame wins)
//!   → inference thread: detect → track → analytics → events
//!        └─ face jobs → face thread → events
//! events → spool (disk) → publisher task → broker
//! load task: CPU/latency → adaptive controller → knobs; heartbeat values
//! http task: /health, /metrics
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atrium_proto::CameraConfig;
use atrium_proto::event::EventBody;
use atrium_vision::{Detector, Models, RuntimeOptions};
use tokio::sync::{Notify, watch};

use crate::adaptive::{Controller, Load};
use crate::analytics::Analytics;
use crate::config::{Config, SourceUrl};
use crate::events::EventSink;
use crate::face::{FaceJob, FaceQueue, FaceSettings};
use crate::frames::{Handoff, Taken};
use crate::outbox::{Figures, Outbox};
use crate::source::file::FileOptions;
use crate::source::rtsp::RtspOptions;
use crate::source::supervisor::{Backoff, SourceContext, run_file, run_rtsp};
use crate::state::Shared;
use crate::sysload::SysLoad;
use crate::track::{Observation, Tracker};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("models: {0}")]
    Vision(#[from] atrium_vision::VisionError),
    #[error("spool: {0}")]
    Spool(#[from] atrium_spool::SpoolError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::Io {
        what: what.to_owned(),
        source,
    }
}

/// Loads the models the configuration names.
pub fn load_detector(config: &Config) -> Result<(Models, Box<dyn Detector>), StartError> {
    let runtime = RuntimeOptions {
        intra_threads: config.detector.threads,
        provider: config.detector.provider,
        library: config.detector.onnxruntime.clone(),
    };
    let models = Models::open(&config.detector.models_dir, runtime)?;
    let model = config.detector.model.as_str();
    let detector: Box<dyn Detector> = if model.ends_with(".onnx") || model.contains('/') {
        let mut c = atrium_vision::DetectorConfig::default();
        if let Some(s) = config.detector.score {
            c.score = s;
        }
        if let Some(i) = config.detector.nms_iou {
            c.nms_iou = i;
        }
        Box::new(models.yolo_detector(
            &PathBuf::from(model),
            config.detector.sha256.as_deref(),
            c,
        )?)
    } else {
        let id = (model != "default").then_some(model);
        let mut c =
            models.detector_config(id.unwrap_or(&models.manifest().defaults.person_detector))?;
        if let Some(s) = config.detector.score {
            c.score = s;
        }
        if let Some(i) = config.detector.nms_iou {
            c.nms_iou = i;
        }
        // The tracker's second stage wants low-score boxes too.
        c.score = c.score.min(config.tracker.low_score.max(0.05));
        Box::new(models.person_detector(id, Some(c))?)
    };
    Ok((models, detector))
}

/// How `run` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunOptions {
    /// Stop by itself when a file source reaches its end (no loop) and
    /// every event has been acknowledged (or 30 s have passed).
    pub exit_when_source_ends: bool,
}

/// Runs the agent until `external_stop` turns true.
pub async fn run(
    config: Config,
    external_stop: watch::Receiver<bool>,
    options: RunOptions,
) -> Result<(), StartError> {
    let started = Instant::now();
    let (stop_tx, mut stop) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    {
        let stop_tx = stop_tx.clone();
        let mut ext = external_stop;
        atrium_worker::spawn(async move {
            while !*ext.borrow() {
                if ext.changed().await.is_err() {
                    return;
                }
            }
            let _ = stop_tx.send(true);
        });
    }
    let source = config.source().map_err(StartError::Other)?;
    let credentials = config.credentials()?;
    let transport = crate::outbox::transport(&config)?;
    let (models, detector) = load_detector(&config)?;
    let detector_input = {
        let lb = detector.letterbox(1000, 1000);
        (lb.input_w, lb.input_h)
    };
    let fsync_interval = Duration::from_millis(config.spool.fsync_ms);
    let shared = Arc::new(Shared::new(config.adaptive.base_every));
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
                models.face_embedder()?,
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
    let listen: SocketAddr = config
        .http
        .listen
        .parse()
        .map_err(|e| StartError::Other(format!("http.listen: {e}")))?;
    let (bound, http) = crate::http::serve(listen, shared.clone(), stop.clone())
        .await
        .map_err(io("binding the HTTP port"))?;
    tracing::info!(%bound, "serving /health and /metrics");
    let _ = std::fs::write(config.spool.dir.join("http.addr"), bound.to_string());
    let http = atrium_worker::spawn(http);

    // Source.
    let handoff = Arc::new(Handoff::new());
    let ctx = SourceContext {
        shared: shared.clone(),
        sink: sink.clone(),
        handoff: handoff.clone(),
        detector_input,
        started,
        full_every: config
            .faces
            .enabled
            .then(|| Duration::from_secs_f64(config.faces.interval_s / 2.0)),
        decode_threads: config.camera.decode_threads,
        status_changed: status_changed.clone(),
    };
    let file_stop = Arc::new(AtomicBool::new(false));
    let mut file_thread = None;
    let mut rtsp_task = None;
    match source {
        SourceUrl::Rtsp(url) => {
            let mut o = RtspOptions::new(url);
            o.credentials = credentials;
            o.stall_timeout = Duration::from_secs_f64(config.camera.stall_timeout_s);
            let backoff = Backoff::new(
                Duration::from_secs_f64(config.camera.reconnect_initial_s),
                Duration::from_secs_f64(config.camera.reconnect_max_s),
            );
            rtsp_task = Some(atrium_worker::spawn(run_rtsp(
                ctx,
                o,
                backoff,
                stop.clone(),
            )));
        }
        SourceUrl::File(path) => {
            let o = FileOptions {
                path,
                realtime: config.camera.realtime,
                loop_file: config.camera.loop_file,
                threads: config.camera.decode_threads,
            };
            file_thread =
                Some(run_file(ctx, o, file_stop.clone()).map_err(io("starting the file source"))?);
        }
    }

    // Inference thread.
    let (config_tx, config_rx) = std::sync::mpsc::channel::<CameraConfig>();
    let latency = Arc::new(Mutex::new(Vec::<f32>::new()));
    let inference = {
        let shared = shared.clone();
        let sink = sink.clone();
        let handoff = handoff.clone();
        let face_queue = faces.as_ref().map(|(q, _)| q.clone());
        let config = config.clone();
        let latency = latency.clone();
        atrium_worker::thread("inference", move || {
            inference_loop(
                config, detector, handoff, config_rx, sink, shared, face_queue, latency,
            )
        })
        .map_err(io("starting the inference thread"))?
    };

    // Load control and heartbeat figures.
    let figures = Arc::new(Mutex::new(Figures::default()));
    let load_task = {
        let shared = shared.clone();
        let figures = figures.clone();
        let latency = latency.clone();
        let adaptive = config.adaptive.clone();
        let mut stop = stop.clone();
        atrium_worker::spawn(async move {
            let mut controller = Controller::new(adaptive.clone());
            let mut sys = SysLoad::new();
            let period = Duration::from_secs_f64(adaptive.interval_s.max(0.5) as f64);
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            let m = &shared.metrics;
            let (mut last_in, mut last_proc) = (m.frames_in.get(), m.frames_processed.get());
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => break,
                }
                let r = sys.read();
                let (fin, fproc) = (m.frames_in.get(), m.frames_processed.get());
                let secs = period.as_secs_f64() as f32;
                let fps_in = (fin - last_in) as f32 / secs;
                let fps_proc = (fproc - last_proc) as f32 / secs;
                (last_in, last_proc) = (fin, fproc);
                let median = {
                    let mut l = latency
                        .lock()
                        .map(|mut v| std::mem::take(&mut *v))
                        .unwrap_or_default();
                    l.sort_by(f32::total_cmp);
                    l.get(l.len() / 2).copied().unwrap_or(0.0)
                };
                // Time available per detected frame at the incoming rate.
                let every = shared.detect_every.load(Ordering::Relaxed).max(1) as f32;
                let budget_ms = if fps_in > 0.0 {
                    1000.0 * every / fps_in
                } else {
                    f32::MAX
                };
                let plan = controller.tick(Load {
                    cpu_percent: r.cpu_percent,
                    latency_ratio: median / budget_ms,
                });
                let before = shared.load_level.swap(plan.level, Ordering::Relaxed);
                if before != plan.level {
                    tracing::warn!(
                        from = before,
                        to = plan.level,
                        cpu = r.cpu_percent,
                        inference_ms = median,
                        "adaptive load level changed"
                    );
                }
                shared
                    .detect_every
                    .store(plan.detect_every, Ordering::Relaxed);
                shared
                    .face_slowdown
                    .store(plan.face_slowdown.unwrap_or(0), Ordering::Relaxed);
                m.load_level.set(i64::from(plan.level));
                m.detect_every.set(i64::from(plan.detect_every));
                m.cpu_percent.set(f64::from(r.cpu_percent));
                m.rss_bytes.set(r.rss_bytes as i64);
                m.fps_in.set(f64::from(fps_in));
                m.fps_processed.set(f64::from(fps_proc));
                if let Ok(mut f) = figures.lock() {
                    *f = Figures {
                        fps_in,
                        fps_processed: fps_proc,
                        inference_ms: median,
                        cpu_percent: r.cpu_percent,
                        rss_bytes: r.rss_bytes,
                    };
                }
            }
        })
    };

    // Publisher: stopped last, after every event has been spooled.
    let (publisher_stop, publisher_stop_rx) = watch::channel(false);
    let publisher_stop_rx_for_sync = publisher_stop_rx.clone();
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
        publisher_stop_rx,
    ));

    let syncer = atrium_worker::spawn(crate::spool_sync::run(
        spool.clone(),
        fsync_interval,
        shared.clone(),
        publisher_stop_rx_for_sync,
    ));

    if options.exit_when_source_ends {
        let stop_tx = stop_tx.clone();
        let spool = spool.clone();
        let handoff = handoff.clone();
        let shared = shared.clone();
        atrium_worker::spawn(async move {
            while !handoff.is_closed() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // Let the inference and face threads finish their last frame.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let deadline = Instant::now() + Duration::from_secs(30);
            // Accepted events that only wait out their linger count as
            // delivered (a next start would send them again, harmlessly).
            let unsent = || {
                let lingering = shared.lingering.load(Ordering::Relaxed) as u64;
                spool
                    .lock()
                    .map(|s| s.pending() > lingering)
                    .unwrap_or(false)
            };
            while Instant::now() < deadline && unsent() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = stop_tx.send(true);
        });
    }

    // Wait for the stop signal, then wind down in pipeline order.
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            break;
        }
    }
    tracing::info!("stopping");
    file_stop.store(true, Ordering::Relaxed);
    if let Some(t) = rtsp_task {
        let _ = t.await;
    }
    if let Some(t) = file_thread {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    tracing::debug!("source stopped");
    handoff.close();
    let _ = tokio::task::spawn_blocking(move || inference.join()).await;
    tracing::debug!("inference stopped");
    if let Some((queue, thread)) = faces {
        drop(queue);
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    let _ = load_task.await;
    tracing::debug!("face and load tasks stopped; stopping the publisher");
    let _ = publisher_stop.send(true);
    if let Err(e) = publisher.await {
        return Err(StartError::Other(format!("publisher task: {e}")));
    }
    // These tasks log their own errors; a join error is a panic, already
    // printed by the panic hook.
    let _ = syncer.await;
    let _ = http.await;
    if let Ok(mut s) = spool.lock() {
        s.sync()?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn inference_loop(
    config: Config,
    mut detector: Box<dyn Detector>,
    handoff: Arc<Handoff>,
    config_rx: std::sync::mpsc::Receiver<CameraConfig>,
    sink: EventSink,
    shared: Arc<Shared>,
    faces: Option<FaceQueue>,
    latency: Arc<Mutex<Vec<f32>>>,
) {
    let mut tracker = Tracker::new(config.tracker.clone());
    let mut analytics = Analytics::new(
        config.analytics.anchor,
        config.analytics.hysteresis_px,
        config.analytics.count_policy,
    );
    let initial = config.initial_camera_config();
    analytics.configure(&initial.lines, &initial.zones);
    let m = &shared.metrics;
    let mut frames = 0u64;
    let mut last_occupancy: Option<f64> = None;
    let mut last_face: HashMap<u64, f64> = HashMap::new();
    let face_interval = config.faces.interval_s;
    let max_faces = config.faces.max_per_frame.max(1);
    let mut last_frame_ts = chrono::Utc::now();
    loop {
        while let Ok(c) = config_rx.try_recv() {
            analytics.configure(&c.lines, &c.zones);
            tracing::info!(version = c.version, "applied camera configuration");
        }
        let frame = match handoff.take(Duration::from_millis(500)) {
            Taken::Frame(f) => f,
            Taken::Empty => continue,
            Taken::Closed => break,
        };
        frames += 1;
        last_frame_ts = frame.captured;
        let every = u64::from(shared.detect_every.load(Ordering::Relaxed).max(1));
        if !frames.is_multiple_of(every) && frame.full.is_none() {
            continue;
        }
        analytics.set_frame_size(frame.width, frame.height);
        let t0 = Instant::now();
        let detections =
            match detector.detect_prescaled(&frame.scaled.view(), frame.width, frame.height) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "person detection failed");
                    continue;
                }
            };
        let elapsed = t0.elapsed();
        m.inference_seconds.observe(elapsed.as_secs_f64());
        m.frames_processed.inc();
        if let Ok(mut l) = latency.lock() {
            l.push(elapsed.as_secs_f32() * 1000.0);
        }
        let observations: Vec<Observation> = detections
            .iter()
            .filter(|d| d.class == 0)
            .map(|d| Observation {
                bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
                score: d.score,
            })
            .collect();
        let changes = tracker.update(&observations, frame.t);
        let visible: Vec<(u64, [f32; 4])> = tracker.visible().map(|t| (t.id, t.bbox())).collect();
        m.tracks.set(visible.len() as i64);
        for id in &changes.confirmed {
            if let Some(t) = tracker.tracks().iter().find(|t| t.id == *id) {
                sink.emit(
                    frame.captured,
                    frame.stream_ms,
                    EventBody::PersonDetected {
                        track: *id,
                        bbox: t.bbox(),
                        score: t.score,
                    },
                );
            }
        }
        for body in analytics.update(&visible, &changes.removed, frame.t) {
            sink.emit(frame.captured, frame.stream_ms, body);
        }
        for id in &changes.removed {
            last_face.remove(id);
        }
        // Face work for the tracks whose turn it is.
        if let (Some(queue), Some(full)) = (&faces, &frame.full) {
            let slowdown = shared.face_slowdown.load(Ordering::Relaxed);
            if slowdown > 0 {
                let interval = face_interval * f64::from(slowdown);
                let mut due: Vec<(f64, u64, [f32; 4])> = visible
                    .iter()
                    .filter_map(|(id, b)| {
                        let last = last_face.get(id).copied().unwrap_or(f64::MIN);
                        (frame.t - last >= interval).then_some((last, *id, *b))
                    })
                    .collect();
                due.sort_by(|a, b| a.0.total_cmp(&b.0));
                due.truncate(max_faces);
                if !due.is_empty() {
                    for (_, id, _) in &due {
                        last_face.insert(*id, frame.t);
                    }
                    queue.offer(FaceJob {
                        image: full.clone(),
                        captured: frame.captured,
                        stream_ms: frame.stream_ms,
                        tracks: due.into_iter().map(|(_, id, b)| (id, b)).collect(),
                    });
                }
            }
        }
        if last_occupancy.is_none_or(|t| frame.t - t >= config.analytics.occupancy_interval_s) {
            last_occupancy = Some(frame.t);
            sink.emit(
                frame.captured,
                frame.stream_ms,
                analytics.occupancy(visible.len() as u32),
            );
        }
    }
    // Tracks still open when the source ends leave their zones.
    let ended: Vec<u64> = tracker.tracks().iter().map(|t| t.id).collect();
    for body in analytics.update(&[], &ended, f64::MAX / 4.0) {
        if !matches!(body, EventBody::ZoneExited { .. }) {
            sink.emit(last_frame_ts, None, body);
        }
    }
}
