//! State shared between the stages: the knobs the adaptive controller turns
//! and the health the heartbeat reports. Atomics and one small mutex; no
//! stage waits on another through it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use atrium_clock::SharedClock;
use atrium_proto::CameraState;
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// Knobs and health shared by all stages.
#[derive(Debug)]
pub struct Shared {
    pub metrics: Metrics,
    /// Detect on every Nth frame.
    pub detect_every: AtomicU32,
    /// Face interval multiplier; 0 = face work paused.
    pub face_slowdown: AtomicU32,
    pub load_level: AtomicU8,
    pub broker_connected: AtomicBool,
    /// Accepted events still spooled for their linger (publisher).
    pub lingering: AtomicUsize,
    /// Woken whenever the broker accepts events (the publisher signals,
    /// a draining shutdown waits).
    pub delivered: Notify,
    /// Every stage reads the time here.
    pub clock: SharedClock,
    /// The camera configuration version the inference thread applied
    /// last (0: the file's own lines and zones).
    pub config_version: AtomicU64,
    /// What central has asked for (snapshots, live frames).
    pub media: crate::media::Requests,
    camera: Mutex<(CameraState, Option<String>)>,
    /// Why the broker refuses this camera's events, while it does.
    publish_problem: Mutex<Option<String>>,
}

impl Shared {
    pub fn new(detect_every: u32, clock: SharedClock) -> Self {
        Self {
            metrics: Metrics::new(),
            detect_every: AtomicU32::new(detect_every.max(1)),
            face_slowdown: AtomicU32::new(1),
            load_level: AtomicU8::new(0),
            broker_connected: AtomicBool::new(false),
            lingering: AtomicUsize::new(0),
            delivered: Notify::new(),
            clock,
            config_version: AtomicU64::new(0),
            media: crate::media::Requests::default(),
            camera: Mutex::new((CameraState::Offline, Some("starting".into()))),
            publish_problem: Mutex::new(None),
        }
    }

    /// Camera state and reason.
    pub fn camera(&self) -> (CameraState, Option<String>) {
        self.camera
            .lock()
            .map(|g| g.clone())
            .unwrap_or((CameraState::Offline, None))
    }

    /// Sets the camera state; returns true when it changed.
    pub fn set_camera(&self, state: CameraState, reason: Option<String>) -> bool {
        let Ok(mut g) = self.camera.lock() else {
            return false;
        };
        let changed = g.0 != state;
        *g = (state, reason);
        self.metrics
            .camera_online
            .set(i64::from(state != CameraState::Offline));
        changed
    }

    /// Records (or clears) why the broker refuses events.
    pub fn set_publish_problem(&self, problem: Option<String>) {
        if let Ok(mut g) = self.publish_problem.lock() {
            *g = problem;
        }
    }

    pub fn publish_problem(&self) -> Option<String> {
        self.publish_problem.lock().ok().and_then(|g| g.clone())
    }

    /// The state and reason the heartbeat reports: a streaming camera
    /// whose events the broker refuses is degraded, with that reason.
    pub fn reported_camera(&self) -> (CameraState, Option<String>) {
        let (state, reason) = self.camera();
        match (state, self.publish_problem()) {
            (CameraState::Online, Some(problem)) => (CameraState::Degraded, Some(problem)),
            _ => (state, reason),
        }
    }

    pub fn face_paused(&self) -> bool {
        self.face_slowdown.load(Ordering::Relaxed) == 0
    }
}
