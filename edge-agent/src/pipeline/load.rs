//! The load task: once per `adaptive.interval_s`, reads CPU, memory and
//! the inference latencies, lets the adaptive controller turn its knobs
//! (detect every Nth frame, face slowdown) and keeps the figures the
//! heartbeat reports. Stops when `stop` turns true.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::inference::Latencies;
use crate::adaptive::{AdaptiveConfig, Controller, Load};
use crate::internal_events::{InternalEvent, LoadLevelChanged};
use crate::outbox::Figures;
use crate::state::Shared;
use crate::sysload::SysLoad;

/// Runs the controller until `stop`.
pub async fn run(
    adaptive: AdaptiveConfig,
    shared: Arc<Shared>,
    latency: Latencies,
    figures: Arc<Mutex<Figures>>,
    mut stop: watch::Receiver<bool>,
) {
    let period = Duration::from_secs_f64(adaptive.interval_s.max(0.5) as f64);
    let mut controller = Controller::new(adaptive);
    let mut sys = SysLoad::new();
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
        let median = median_latency(&latency);
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
        LoadLevelChanged {
            from: shared.load_level.swap(plan.level, Ordering::Relaxed),
            to: plan.level,
            cpu_percent: r.cpu_percent,
            inference_ms: median,
        }
        .emit(m);
        shared
            .detect_every
            .store(plan.detect_every, Ordering::Relaxed);
        shared
            .face_slowdown
            .store(plan.face_slowdown.unwrap_or(0), Ordering::Relaxed);
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
}

/// Takes the latencies gathered since the last tick and returns their
/// median (0 with none). A lock poisoned by a panicked inference thread
/// still holds whole samples (each is one push), so they are read as well.
fn median_latency(latency: &Latencies) -> f32 {
    let mut guard = latency
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut l = std::mem::take(&mut *guard);
    drop(guard);
    l.sort_by(f32::total_cmp);
    l.get(l.len() / 2).copied().unwrap_or(0.0)
}
