//! `edge-agent replay --config FILE --input VIDEO`: counts a recorded
//! video with the configuration's lines, zones, detector and tracker, as
//! the camera would at real time detecting every `--every`-th frame, and
//! prints each line crossing and zone event with its frame, then the
//! totals and what the replay cost. Installers check a line on footage
//! before a camera goes live; nothing is published.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use atrium_proto::event::{Direction, EventBody};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent's configuration (lines, zones, detector, tracker).
    #[arg(long, short)]
    config: PathBuf,
    /// Video file to replay (any container and codec FFmpeg reads).
    #[arg(long)]
    input: PathBuf,
    /// Detect on every Nth frame (default: the configuration's
    /// `adaptive.base_every`).
    #[arg(long)]
    every: Option<u32>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = edge_agent::config::Config::load(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let every = args.every.unwrap_or(config.adaptive.base_every).max(1);
    let r = edge_agent::replay::replay(&config, &args.input, every)?;
    let (mut ins, mut outs) = (0u64, 0u64);
    for e in &r.events {
        match &e.body {
            EventBody::LineCrossed {
                line,
                direction,
                track,
            } => {
                match direction {
                    Direction::In => ins += 1,
                    Direction::Out => outs += 1,
                }
                let dir = direction.as_str();
                println!(
                    "frame {:>6}  {:>8} ms  line {line} {dir} (track {track})",
                    e.frame, e.ms
                );
            }
            EventBody::ZoneEntered { zone, track } => {
                println!(
                    "frame {:>6}  {:>8} ms  zone {zone} entered (track {track})",
                    e.frame, e.ms
                );
            }
            EventBody::ZoneViolation { zone, .. } => {
                println!(
                    "frame {:>6}  {:>8} ms  zone {zone} violation",
                    e.frame, e.ms
                );
            }
            _ => {}
        }
    }
    println!(
        "{} frames ({:.1} s of video), detection on every {every}: {} detections; crossings IN {ins} OUT {outs}",
        r.frames, r.video_s, r.detections
    );
    println!(
        "took {:.1} s wall, {:.1} s CPU: {:.2} cores for this camera at real time",
        r.wall_s,
        r.cpu_s,
        r.cpu_s / r.video_s.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
