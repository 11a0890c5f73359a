//! Replaying a recorded video through the agent's counting stages
//! (detect → track → lines and zones) at a chosen detection rate, with
//! the video's own clock, deterministically: every frame is decoded, and
//! the Nth ones are detected, as a camera at real time with
//! `adaptive.base_every = N` would be.
//!
//! Why: the live pipeline drops frames when inference falls behind, so
//! what it counts depends on the machine; counting on footage must give
//! the same answer on every machine, for installers checking a line
//! (`edge-agent replay`), for the counting tests at every detection rate,
//! and for measuring what each rate costs in CPU.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use atrium_proto::event::EventBody;

use crate::analytics::Analytics;
use crate::config::Config;
use crate::decode::FrameMaker;
use crate::detect::PersonDetector;
use crate::source::file::{FileOptions, play};
use crate::track::Tracker;

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("loading the models: {0}")]
    Models(#[from] atrium_vision::VisionError),
    #[error("reading the video: {0}")]
    File(#[from] crate::source::file::FileError),
    #[error("decoding a frame: {0}")]
    Decode(#[from] crate::decode::DecodeError),
}

/// One event of the replay, at its frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayEvent {
    /// Frame number, from 0.
    pub frame: u64,
    /// Milliseconds into the video.
    pub ms: i64,
    pub body: EventBody,
}

/// What a replay did and cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replayed {
    pub events: Vec<ReplayEvent>,
    pub frames: u64,
    pub detections: u64,
    /// Video duration, seconds (the last frame's time).
    pub video_s: f64,
    /// Wall time and CPU time (user + system, all threads) of the replay.
    pub wall_s: f64,
    pub cpu_s: f64,
}

/// CPU time used by this process so far, seconds.
pub fn process_cpu_seconds() -> f64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map(|u| {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        })
        // getrusage(RUSAGE_SELF) fails only on a bad argument; a zero then
        // shows as "no CPU" in a report, never as a wrong count.
        .unwrap_or(0.0)
}

/// Replays `input` with `config`'s detector, tracker, analytics, lines and
/// zones, detecting on every `every`-th frame (frame 0, N, 2N, …).
pub fn replay(config: &Config, input: &Path, every: u32) -> Result<Replayed, ReplayError> {
    let every = u64::from(every.max(1));
    let (_, detector) = crate::detect::load(config)?;
    let mut detector = PersonDetector::new(detector);
    let mut tracker = Tracker::new(config.tracker.clone());
    let mut analytics = Analytics::new(
        config.analytics.anchor,
        config.analytics.hysteresis_px,
        config.analytics.count_policy,
    );
    analytics.configure(&config.lines, &config.zones);
    let wall = Instant::now(); // a measurement, not a clock read
    let cpu = process_cpu_seconds();
    let mut maker = FrameMaker::new(detector.input_size(), wall, atrium_clock::system());
    let mut out = Replayed::default();
    let mut error: Option<ReplayError> = None;
    let stop = AtomicBool::new(false);
    let mut frame_no = 0u64;
    out.frames = play(
        &FileOptions {
            path: input.to_owned(),
            realtime: false,
            loop_file: false,
            threads: 1,
        },
        &stop,
        |_| {},
        |picture, ms| {
            let n = frame_no;
            frame_no += 1;
            out.video_s = ms as f64 / 1000.0;
            if error.is_some() || !n.is_multiple_of(every) {
                return;
            }
            let mut frame = match maker.make(picture, Some(ms), false) {
                Ok(f) => f,
                Err(e) => return error = Some(e.into()),
            };
            // The video's clock, as a camera at real time would give.
            frame.t = ms as f64 / 1000.0;
            let observations = match detector.observe(&frame) {
                Ok(o) => o,
                Err(e) => return error = Some(e.into()),
            };
            out.detections += 1;
            analytics.set_frame_size(frame.width, frame.height);
            let changes = tracker.update(&observations, frame.t);
            let visible: Vec<(u64, [f32; 4])> =
                tracker.visible().map(|t| (t.id, t.bbox())).collect();
            for body in analytics.update(&visible, &changes.removed, frame.t) {
                out.events.push(ReplayEvent { frame: n, ms, body });
            }
        },
    )?;
    if let Some(e) = error {
        return Err(e);
    }
    out.wall_s = wall.elapsed().as_secs_f64();
    out.cpu_s = process_cpu_seconds() - cpu;
    Ok(out)
}
