//! `edge-agent bench --input FILE`: frames per second for decode only,
//! decode + detect, and the full per-frame pipeline (detect, track, lines,
//! zones, events, faces), at 1 and 2 inference threads, beside FFmpeg's
//! own decoder speed on the same file in the same run; peak memory.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Context, bail};
use atrium_proto::{CameraId, Event, LineConfig, Side, SiteId};
use atrium_vision::face::quality::assess;
use atrium_vision::{Detector, Models, RuntimeOptions};
use edge_agent::analytics::{Analytics, Anchor};
use edge_agent::decode::FrameMaker;
use edge_agent::face::head_region;
use edge_agent::source::file::{FileOptions, play};
use edge_agent::track::{Observation, Tracker, TrackerConfig};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Video file to play (e.g. tests/fixtures/vtest.avi).
    #[arg(long)]
    input: PathBuf,
    /// Models directory (with models.toml).
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Run one stage only (`detect` or `full`) at `--threads` and print its
    /// frame rate and this process's peak memory: the agent's own
    /// footprint for that work, without the other stages' sessions.
    #[arg(long, value_parser = ["detect", "full"])]
    only: Option<String>,
    /// Inference threads for `--only`.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Decode,
    Detect,
    Full,
}

fn pass(args: &Args, stage: Stage, threads: usize) -> anyhow::Result<(u64, f64)> {
    let runtime = RuntimeOptions {
        intra_threads: threads,
        ..Default::default()
    };
    let models = Models::open(&args.models, runtime)?;
    let mut detector = models.person_detector(None, None)?;
    let mut faces = models.face_detector()?;
    let mut embedder = models.face_embedder()?;
    let quality = models.quality_config();
    let input = {
        let lb = detector.letterbox(1000, 1000);
        (lb.input_w, lb.input_h)
    };
    let started = Instant::now();
    let mut maker = FrameMaker::new(input, started, atrium_clock::system());
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut analytics = Analytics::new(Anchor::BottomCentre, 6.0, Default::default());
    analytics.configure(
        &[LineConfig {
            id: "bench".into(),
            name: None,
            a: [0.45, 0.3],
            b: [0.45, 0.8],
            in_side: Side::Left,
        }],
        &[],
    );
    let (site, camera) = (SiteId::new("bench")?, CameraId::new("bench")?);
    let mut last_face = 0.0f64;
    let mut error: Option<anyhow::Error> = None;
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let frames = play(
        &FileOptions {
            path: args.input.clone(),
            realtime: false,
            loop_file: false,
            threads: 1,
        },
        &stop,
        |_| {},
        |picture, ms| {
            if stage == Stage::Decode || error.is_some() {
                return;
            }
            let want_full = stage == Stage::Full && ms as f64 / 1000.0 - last_face >= 0.5;
            let frame = match maker.make(picture, Some(ms), want_full) {
                Ok(f) => f,
                Err(e) => return error = Some(e.into()),
            };
            let dets =
                match detector.detect_prescaled(&frame.scaled.view(), frame.width, frame.height) {
                    Ok(d) => d,
                    Err(e) => return error = Some(e.into()),
                };
            if stage == Stage::Detect {
                return;
            }
            analytics.set_frame_size(frame.width, frame.height);
            let obs: Vec<Observation> = dets
                .iter()
                .map(|d| Observation {
                    bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
                    score: d.score,
                })
                .collect();
            let t = ms as f64 / 1000.0;
            let changes = tracker.update(&obs, t);
            let visible: Vec<(u64, [f32; 4])> =
                tracker.visible().map(|t| (t.id, t.bbox())).collect();
            for body in analytics.update(&visible, &changes.removed, t) {
                let _ = serde_json::to_vec(&Event::new(
                    site.clone(),
                    camera.clone(),
                    frame.captured,
                    body,
                ));
            }
            let _ = serde_json::to_vec(&Event::new(
                site.clone(),
                camera.clone(),
                frame.captured,
                analytics.occupancy(visible.len() as u32),
            ));
            if let Some(full) = &frame.full {
                last_face = t;
                let view = full.view();
                for (_, b) in &visible {
                    let Ok(found) = faces.detect(&view, Some(head_region(*b))) else {
                        continue;
                    };
                    if let Some(f) = found.first()
                        && assess(&view, f, &quality).overall >= 0.5
                    {
                        let _ = embedder.embed(&view, std::slice::from_ref(f));
                    }
                }
            }
        },
    )?;
    if let Some(e) = error {
        return Err(e);
    }
    Ok((frames, t0.elapsed().as_secs_f64()))
}

/// Counting as a camera at real time does it, detecting on every 1st,
/// 2nd and 3rd frame (`edge-agent replay`): the CPU one camera needs
/// (process CPU time over the video's duration) and the crossings of the
/// bench line.
fn rates(args: &Args) -> anyhow::Result<()> {
    let text = format!(
        "[camera]\nid = \"bench\"\nsite = \"bench\"\nurl = \"file:///dev/null\"\n\
         [detector]\nmodels_dir = {models:?}\n[faces]\nenabled = false\n\
         [broker]\nhost = \"localhost\"\nca_file = \"/dev/null\"\ncert_file = \"/dev/null\"\nkey_file = \"/dev/null\"\n\
         [spool]\ndir = \"/nonexistent\"\n\
         [[lines]]\nid = \"bench\"\na = [0.45, 0.3]\nb = [0.45, 0.8]\nin_side = \"left\"\n",
        models = args.models.display().to_string()
    );
    let config = edge_agent::config::Config::parse(&text, std::path::Path::new("bench.toml"))?;
    println!("| counting at real time | detections/s | CPU cores per camera | crossings |");
    println!("|---|---:|---:|---:|");
    for every in [1, 2, 3] {
        let r = edge_agent::replay::replay(&config, &args.input, every)?;
        let crossings = r
            .events
            .iter()
            .filter(|e| matches!(e.body, atrium_proto::event::EventBody::LineCrossed { .. }))
            .count();
        println!(
            "| detect every {every} frame(s) | {:.1} | {:.2} | {crossings} |",
            r.detections as f64 / r.video_s.max(1e-9),
            r.cpu_s / r.video_s.max(1e-9)
        );
    }
    Ok(())
}

fn ffmpeg_cli(input: &PathBuf, frames: u64) -> anyhow::Result<f64> {
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-benchmark",
            "-threads",
            "1",
            "-i",
        ])
        .arg(input)
        .args(["-f", "null", "-"])
        .output()
        .context("running ffmpeg")?;
    let text = String::from_utf8_lossy(&out.stderr);
    let rtime = text
        .lines()
        .find_map(|l| l.split("rtime=").nth(1))
        .and_then(|r| r.trim().trim_end_matches('s').parse::<f64>().ok())
        .context("ffmpeg -benchmark printed no rtime")?;
    Ok(frames as f64 / rtime)
}

fn peak_rss_mib() -> f64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map(|u| u.max_rss() as f64 / 1024.0)
        .unwrap_or(0.0)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.input.is_file() {
        bail!("{}: no such file", args.input.display());
    }
    if let Some(name) = &args.only {
        let stage = if name == "full" {
            Stage::Full
        } else {
            Stage::Detect
        };
        let (n, s) = pass(&args, stage, args.threads)?;
        println!(
            "only {name}: {} inference thread(s), {n} frames in {s:.2} s, {:.1} frames/s, peak RSS {:.0} MiB",
            args.threads,
            n as f64 / s,
            peak_rss_mib()
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("input: {}", args.input.display());
    println!("| stage | inference threads | frames | seconds | frames/s |");
    println!("|---|---:|---:|---:|---:|");
    let (frames, secs) = pass(&args, Stage::Decode, 1)?;
    let ours = frames as f64 / secs;
    println!(
        "| decode only (edge-agent, 1 decoder thread) | - | {frames} | {secs:.2} | {ours:.1} |"
    );
    let theirs = ffmpeg_cli(&args.input, frames)?;
    println!(
        "| decode only (ffmpeg -benchmark -threads 1) | - | {frames} | {:.2} | {theirs:.1} |",
        frames as f64 / theirs
    );
    for (stage, name) in [
        (Stage::Detect, "decode + detect"),
        (Stage::Full, "full pipeline"),
    ] {
        for threads in [1, 2] {
            let (n, s) = pass(&args, stage, threads)?;
            println!(
                "| {name} | {threads} | {n} | {s:.2} | {:.1} |",
                n as f64 / s
            );
        }
    }
    println!();
    println!(
        "decode-only ratio edge-agent / ffmpeg CLI: {:.2}",
        ours / theirs
    );
    println!();
    rates(&args)?;
    println!("peak RSS: {:.0} MiB", peak_rss_mib());
    Ok(ExitCode::SUCCESS)
}
