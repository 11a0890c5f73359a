//! State shared between the stages: the knobs the adaptive controller turns
//! and the health the heartbeat reports. Atomics and one small mutex; no
//! stage waits on another through it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

use atrium_proto::CameraState;

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
    camera: Mutex<(CameraState, Option<String>)>,
}

impl Shared {
    pub fn new(detect_every: u32) -> Self {
        Self {
            metrics: Metrics::new(),
            detect_every: AtomicU32::new(detect_every.max(1)),
            face_slowdown: AtomicU32::new(1),
            load_level: AtomicU8::new(0),
            broker_connected: AtomicBool::new(false),
            camera: Mutex::new((CameraState::Offline, Some("starting".into()))),
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

    pub fn face_paused(&self) -> bool {
        self.face_slowdown.load(Ordering::Relaxed) == 0
    }
}
