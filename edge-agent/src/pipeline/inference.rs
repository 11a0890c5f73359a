//! The inference thread: detect → track → count → events, one frame at a
//! time from the hand-off, and face jobs for the tracks whose turn it is.
//! Ends when the hand-off closes; tracks still open then leave their zones
//! without an event (the agent stops, the people did not leave).

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atrium_proto::CameraConfig;
use atrium_proto::event::EventBody;

use crate::analytics::Analytics;
use crate::config::Config;
use crate::detect::PersonDetector;
use crate::events::EventSink;
use crate::face::schedule::FaceSchedule;
use crate::face::{FaceJob, FaceQueue};
use crate::frames::{Frame, Handoff, Taken};
use crate::media::Pictures;
use crate::state::Shared;
use crate::track::Tracker;

/// Inference latencies (ms) since the load task last took them.
pub type Latencies = Arc<Mutex<Vec<f32>>>;

/// What the inference thread works with.
pub struct Inference {
    pub detector: PersonDetector,
    pub handoff: Arc<Handoff>,
    /// Camera configurations from central, applied between frames.
    pub configs: Receiver<CameraConfig>,
    pub sink: EventSink,
    pub shared: Arc<Shared>,
    pub faces: Option<FaceQueue>,
    pub latency: Latencies,
    /// Snapshots and live frames for central.
    pub pictures: Pictures,
    /// Wakes the heartbeat (a configuration was applied).
    pub status_changed: Arc<tokio::sync::Notify>,
}

impl Inference {
    /// Runs until the hand-off closes.
    pub fn run(self, config: &Config) {
        let Inference {
            mut detector,
            handoff,
            configs,
            sink,
            shared,
            faces,
            latency,
            mut pictures,
            status_changed,
        } = self;
        let mut tracker = Tracker::new(config.tracker.clone());
        let mut analytics = Analytics::new(
            config.analytics.anchor,
            config.analytics.hysteresis_px,
            config.analytics.count_policy,
        );
        let initial = config.initial_camera_config();
        analytics.configure(&initial.lines, &initial.zones);
        let mut schedule = FaceSchedule::new(config.faces.interval_s, config.faces.max_per_frame);
        let m = &shared.metrics;
        let mut frames = 0u64;
        let mut last_occupancy: Option<f64> = None;
        let mut last_frame_ts = shared.clock.now();
        loop {
            while let Ok(c) = configs.try_recv() {
                analytics.configure(&c.lines, &c.zones);
                shared.config_version.store(c.version, Ordering::Relaxed);
                // Reported at once, so central's UI sees it applied.
                status_changed.notify_one();
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
            let t0 = Instant::now(); // a measurement, not a clock read
            let observations = match detector.observe(&frame) {
                Ok(o) => o,
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
            let changes = tracker.update(&observations, frame.t);
            let visible: Vec<(u64, [f32; 4])> =
                tracker.visible().map(|t| (t.id, t.bbox())).collect();
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
            schedule.forget(&changes.removed);
            pictures.on_frame(&frame, &visible, &shared);
            if let Some(queue) = &faces {
                offer_faces(queue, &mut schedule, &shared, &frame, &visible);
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
}

/// Hands the face thread this frame's due tracks (only frames that carry
/// their full-resolution copy can).
fn offer_faces(
    queue: &FaceQueue,
    schedule: &mut FaceSchedule,
    shared: &Shared,
    frame: &Frame,
    visible: &[(u64, [f32; 4])],
) {
    let Some(full) = &frame.full else { return };
    let slowdown = shared.face_slowdown.load(Ordering::Relaxed);
    let tracks = schedule.due(frame.t, slowdown, visible);
    if tracks.is_empty() {
        return;
    }
    queue.offer(FaceJob {
        image: full.clone(),
        captured: frame.captured,
        stream_ms: frame.stream_ms,
        tracks,
    });
}
