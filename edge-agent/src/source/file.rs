//! Video files as a camera (tests, the demo, benchmarks): FFmpeg demuxes
//! and decodes any format it knows, optionally paced to the file's frame
//! rate and looped, so a file behaves like a live camera.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;

use crate::decode::init_ffmpeg;

/// How to play the file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileOptions {
    pub path: PathBuf,
    /// Sleep so frames come at the file's rate.
    pub realtime: bool,
    /// Start again at the end.
    pub loop_file: bool,
    pub threads: usize,
}

/// Why a file could not be played.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("video file {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("video file {path}: {message}")]
    Decode { path: PathBuf, message: String },
}

/// What a file source reports about itself once opened.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    pub codec: String,
    pub size: (u32, u32),
    pub fps: Option<f64>,
}

fn open_err(path: &Path) -> impl FnOnce(ffmpeg::Error) -> FileError + '_ {
    move |e| FileError::Open {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Plays the file, calling `on_picture(picture, stream_ms)` for every
/// decoded frame until the end (or forever when looping) or until `stop`.
/// `on_info` is called once the stream is open.
pub fn play(
    opts: &FileOptions,
    stop: &AtomicBool,
    mut on_info: impl FnMut(&FileInfo),
    mut on_picture: impl FnMut(&ffmpeg::frame::Video, i64),
) -> Result<u64, FileError> {
    init_ffmpeg();
    let path = opts.path.as_path();
    let started = Instant::now();
    let mut offset_ms: i64 = 0;
    let mut frames = 0u64;
    let mut first_loop = true;
    loop {
        let mut input = ffmpeg::format::input(path).map_err(open_err(path))?;
        let stream = input
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or_else(|| FileError::Open {
                path: path.to_owned(),
                message: "no video stream".into(),
            })?;
        let index = stream.index();
        let tb = stream.time_base();
        let rate = stream.avg_frame_rate();
        let fps = (rate.denominator() != 0 && rate.numerator() > 0).then(|| f64::from(rate));
        let mut ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
            .map_err(open_err(path))?;
        ctx.set_threading(ffmpeg::codec::threading::Config {
            kind: ffmpeg::codec::threading::Type::Frame,
            count: opts.threads,
            ..Default::default()
        });
        let mut decoder = ctx.decoder().video().map_err(open_err(path))?;
        if first_loop {
            on_info(&FileInfo {
                codec: decoder
                    .codec()
                    .map(|c| c.name().to_owned())
                    .unwrap_or_default(),
                size: (decoder.width(), decoder.height()),
                fps,
            });
            first_loop = false;
        }
        let frame_ms = fps.map_or(40, |f| (1000.0 / f).round() as i64);
        let mut picture = ffmpeg::frame::Video::empty();
        let mut last_ms = offset_ms;
        let mut deliver = |decoder: &mut ffmpeg::decoder::Video, last_ms: &mut i64| -> bool {
            while decoder.receive_frame(&mut picture).is_ok() {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                let pts = picture.timestamp().unwrap_or(0);
                let ms = offset_ms + (pts as f64 * f64::from(tb) * 1000.0).round() as i64;
                if opts.realtime {
                    let due = started + Duration::from_millis(ms.max(0) as u64);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
                *last_ms = ms;
                frames += 1;
                on_picture(&picture, ms);
            }
            true
        };
        for (s, packet) in input.packets() {
            if s.index() != index {
                continue;
            }
            if decoder.send_packet(&packet).is_err() {
                continue; // a corrupt packet: skip, the decoder resynchronises
            }
            if !deliver(&mut decoder, &mut last_ms) {
                return Ok(frames);
            }
        }
        // Fails only if the decoder already ended; `deliver` drains either way.
        let _ = decoder.send_eof();
        if !deliver(&mut decoder, &mut last_ms) || !opts.loop_file {
            return Ok(frames);
        }
        offset_ms = last_ms + frame_ms;
    }
}
