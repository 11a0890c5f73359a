//! Frames of a video file as RGB, for golden tests of the vision code.
//!
//! Decodes with the system FFmpeg through ffmpeg-next (any codec FFmpeg
//! knows, e.g. vtest.avi's MS-MPEG4), converting with swscale the way the
//! `ffmpeg` CLI does for `-pix_fmt rgb24` (bicubic), which is how the
//! reference frames were extracted.

use std::path::Path;

use ffmpeg_next as ffmpeg;

use crate::HarnessError;

/// A packed RGB frame.
#[derive(Debug, Clone)]
pub struct RgbFrame {
    pub index: usize,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

fn ff(what: &str) -> impl FnOnce(ffmpeg::Error) -> HarnessError + '_ {
    move |e| HarnessError::Io {
        what: what.to_owned(),
        source: std::io::Error::other(e),
    }
}

/// Decodes `path` and returns the frames at `indices` (0-based, display
/// order), in ascending order.
pub fn frames(path: &Path, indices: &[usize]) -> Result<Vec<RgbFrame>, HarnessError> {
    let _ = ffmpeg::init();
    let mut input = ffmpeg::format::input(path).map_err(ff("open the video"))?;
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or_else(|| HarnessError::Io {
            what: format!("{} has no video stream", path.display()),
            source: std::io::Error::other("no video"),
        })?;
    let stream_index = stream.index();
    let mut decoder = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .map_err(ff("decoder parameters"))?
        .decoder()
        .video()
        .map_err(ff("open the decoder"))?;
    let last = indices.iter().copied().max().unwrap_or(0);
    let mut out = Vec::new();
    let mut n = 0usize;
    let mut frame = ffmpeg::frame::Video::empty();
    let mut rgb = ffmpeg::frame::Video::empty();
    let mut scaler: Option<ffmpeg::software::scaling::Context> = None;
    let mut take = |frame: &ffmpeg::frame::Video,
                    n: usize,
                    out: &mut Vec<RgbFrame>|
     -> Result<(), HarnessError> {
        if !indices.contains(&n) {
            return Ok(());
        }
        let s = match scaler.as_mut() {
            Some(s) => s,
            None => scaler.insert(
                ffmpeg::software::scaling::Context::get(
                    frame.format(),
                    frame.width(),
                    frame.height(),
                    ffmpeg::format::Pixel::RGB24,
                    frame.width(),
                    frame.height(),
                    ffmpeg::software::scaling::flag::Flags::BICUBIC,
                )
                .map_err(ff("swscale"))?,
            ),
        };
        s.run(frame, &mut rgb).map_err(ff("convert to RGB"))?;
        let (w, h) = (rgb.width(), rgb.height());
        let stride = rgb.stride(0);
        let mut data = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h as usize {
            data.extend_from_slice(&rgb.data(0)[y * stride..y * stride + w as usize * 3]);
        }
        out.push(RgbFrame {
            index: n,
            width: w,
            height: h,
            data,
        });
        Ok(())
    };
    for (s, packet) in input.packets() {
        if s.index() != stream_index {
            continue;
        }
        decoder.send_packet(&packet).map_err(ff("decode"))?;
        while decoder.receive_frame(&mut frame).is_ok() {
            take(&frame, n, &mut out)?;
            n += 1;
        }
        if n > last {
            return Ok(out);
        }
    }
    decoder.send_eof().map_err(ff("flush the decoder"))?;
    while decoder.receive_frame(&mut frame).is_ok() {
        take(&frame, n, &mut out)?;
        n += 1;
    }
    Ok(out)
}
