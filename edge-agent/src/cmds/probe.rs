//! `edge-agent probe`: is this camera usable? Connects, decodes a few
//! frames and prints what it found, so an installer can check a camera
//! before writing its configuration.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use edge_agent::decode::Decoder;
use edge_agent::source::rtsp::{self, RtspOptions};
use url::Url;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Camera URL, e.g. rtsp://192.0.2.10:554/stream1.
    #[arg(long)]
    url: Url,
    /// File holding `user:password` for the camera (kept out of the command
    /// line so it does not show in `ps`).
    #[arg(long)]
    credentials_file: Option<std::path::PathBuf>,
    /// How many frames to decode.
    #[arg(long, default_value_t = 30)]
    frames: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(probe(args))
}

async fn probe(args: Args) -> anyhow::Result<ExitCode> {
    let mut opts = RtspOptions::new(args.url);
    if let Some(path) = &args.credentials_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading credentials file {}", path.display()))?;
        let (user, pass) = text
            .trim_end_matches(['\r', '\n'])
            .split_once(':')
            .with_context(|| format!("{} must hold user:password", path.display()))?;
        opts.credentials = Some((user.to_owned(), pass.to_owned()));
    }
    let started = Instant::now();
    let mut stream = rtsp::connect(&opts).await?;
    let info = stream.info().clone();
    let mut decoder = Decoder::new(info.codec, 0)?;
    let mut decoded = 0usize;
    let mut size = info.size;
    let first_frame_at = Instant::now();
    while decoded < args.frames {
        let frame = stream.next_frame().await?;
        decoder.decode(&frame, |f| {
            size = Some((f.width(), f.height()));
            decoded += 1;
        })?;
    }
    let elapsed = first_frame_at.elapsed().max(Duration::from_millis(1));
    println!("camera:     {}", rtsp::redact(&opts.url));
    println!("codec:      {}", info.codec);
    if let Some((w, h)) = size {
        println!("resolution: {w}x{h}");
    }
    match info.fps {
        Some(fps) => println!("announced:  {fps:.2} fps"),
        None => println!("announced:  (no frame rate in SDP)"),
    }
    println!(
        "measured:   {decoded} frames in {:.2} s ({:.2} fps); connected in {:.2} s",
        elapsed.as_secs_f64(),
        decoded as f64 / elapsed.as_secs_f64(),
        (first_frame_at - started).as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
