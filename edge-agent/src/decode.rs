//! Decoding with the system FFmpeg (`ffmpeg-next`).
//!
//! The source hands us Annex B access units with parameter sets before each
//! key frame, so the decoder needs no extradata and can be fed from any key
//! frame after a reconnect. A corrupt packet is an error for that packet
//! only: the caller counts it and goes on; FFmpeg resynchronises at the next
//! key frame.

use std::sync::Once;

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling::{self, flag::Flags};
use ffmpeg_next as ffmpeg;

use atrium_vision::RgbImage;

use crate::source::{EncodedFrame, VideoCodec};

/// Why decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("FFmpeg has no {0} decoder")]
    NoDecoder(VideoCodec),
    #[error("opening the {codec} decoder: {source}")]
    Open {
        codec: VideoCodec,
        #[source]
        source: ffmpeg::Error,
    },
    #[error("decoding a {codec} packet at pts {pts}: {source}")]
    Packet {
        codec: VideoCodec,
        pts: i64,
        #[source]
        source: ffmpeg::Error,
    },
    #[error("building an image: {0}")]
    Image(String),
    #[error("converting a {w}x{h} {format:?} frame to RGB: {source}")]
    Scale {
        w: u32,
        h: u32,
        format: Pixel,
        #[source]
        source: ffmpeg::Error,
    },
}

static INIT: Once = Once::new();

/// Initialises FFmpeg once per process and keeps its own logging quiet
/// (errors are reported through ours).
pub fn init_ffmpeg() {
    INIT.call_once(|| {
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    });
}

/// A video decoder for one stream.
pub struct Decoder {
    codec: VideoCodec,
    inner: ffmpeg::decoder::Video,
    frame: ffmpeg::frame::Video,
    /// Until the first key frame nothing can be decoded; packets before it
    /// (a client joining a shared stream mid-GOP) are skipped, not errors.
    seen_key: bool,
    skipped: u64,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// Opens a decoder using `threads` threads (0 lets FFmpeg choose).
    pub fn new(codec: VideoCodec, threads: usize) -> Result<Self, DecodeError> {
        init_ffmpeg();
        let id = match codec {
            VideoCodec::H264 => ffmpeg::codec::Id::H264,
            VideoCodec::H265 => ffmpeg::codec::Id::HEVC,
        };
        let found = ffmpeg::decoder::find(id).ok_or(DecodeError::NoDecoder(codec))?;
        let mut ctx = ffmpeg::codec::context::Context::new_with_codec(found);
        ctx.set_threading(ffmpeg::codec::threading::Config {
            kind: ffmpeg::codec::threading::Type::Frame,
            count: threads,
            ..Default::default()
        });
        let inner = ctx
            .decoder()
            .video()
            .map_err(|source| DecodeError::Open { codec, source })?;
        Ok(Self {
            codec,
            inner,
            frame: ffmpeg::frame::Video::empty(),
            seen_key: false,
            skipped: 0,
        })
    }

    /// Forgets decoding state up to the next key frame (after packets were
    /// dropped upstream, decoding on would show corrupted pictures).
    pub fn resync(&mut self) {
        self.seen_key = false;
        self.inner.flush();
    }

    /// Packets skipped while waiting for the first key frame.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Decodes one access unit and calls `on_frame` for every picture it
    /// completes (zero or more, because of decoder delay). Returns how many.
    pub fn decode(
        &mut self,
        input: &EncodedFrame,
        mut on_frame: impl FnMut(&ffmpeg::frame::Video),
    ) -> Result<usize, DecodeError> {
        if !self.seen_key {
            if !input.is_key {
                self.skipped += 1;
                return Ok(0);
            }
            self.seen_key = true;
        }
        let mut packet = ffmpeg::Packet::copy(&input.data);
        packet.set_pts(Some(input.pts));
        packet.set_dts(None);
        if input.is_key {
            packet.set_flags(ffmpeg::packet::Flags::KEY);
        }
        self.inner
            .send_packet(&packet)
            .map_err(|source| DecodeError::Packet {
                codec: self.codec,
                pts: input.pts,
                source,
            })?;
        let mut n = 0;
        while self.inner.receive_frame(&mut self.frame).is_ok() {
            on_frame(&self.frame);
            n += 1;
        }
        Ok(n)
    }
}

/// Converts decoded frames to RGB at a chosen size with swscale, rebuilding
/// its context when the input format or size changes (cameras may switch
/// resolution mid-stream).
pub struct RgbConverter {
    out_size: Option<(u32, u32)>,
    ctx: Option<(scaling::Context, Pixel, u32, u32)>,
    out: ffmpeg::frame::Video,
}

impl std::fmt::Debug for RgbConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbConverter")
            .field("out_size", &self.out_size)
            .finish_non_exhaustive()
    }
}

impl RgbConverter {
    /// `out_size` of `None` keeps the input size.
    pub fn new(out_size: Option<(u32, u32)>) -> Self {
        Self {
            out_size,
            ctx: None,
            out: ffmpeg::frame::Video::empty(),
        }
    }

    /// Converts one frame.
    pub fn convert(&mut self, frame: &ffmpeg::frame::Video) -> Result<RgbImage, DecodeError> {
        let (w, h, format) = (frame.width(), frame.height(), frame.format());
        let (ow, oh) = self.out_size.unwrap_or((w, h));
        let scale_err = |source| DecodeError::Scale {
            w,
            h,
            format,
            source,
        };
        let stale =
            !matches!(&self.ctx, Some((_, f, cw, ch)) if *f == format && *cw == w && *ch == h);
        if stale {
            self.ctx = None;
        }
        let (ctx, ..) = match &mut self.ctx {
            Some(c) => c,
            None => {
                let c = scaling::Context::get(format, w, h, Pixel::RGB24, ow, oh, Flags::BILINEAR)
                    .map_err(scale_err)?;
                self.ctx.insert((c, format, w, h))
            }
        };
        ctx.run(frame, &mut self.out).map_err(scale_err)?;
        let stride = self.out.stride(0);
        let row = ow as usize * 3;
        let plane = self.out.data(0);
        let mut data = Vec::with_capacity(row * oh as usize);
        for y in 0..oh as usize {
            data.extend_from_slice(&plane[y * stride..y * stride + row]);
        }
        RgbImage::from_raw(ow, oh, data).map_err(|e| DecodeError::Image(e.to_string()))
    }
}

/// Turns decoded pictures into [`crate::frames::Frame`]s: always the
/// detector-sized image (swscale straight from YUV to the letterbox's inner
/// size), and the full-resolution image when face work asks for it.
pub struct FrameMaker {
    detector_input: (u32, u32),
    scaled: RgbConverter,
    scaled_size: Option<(u32, u32)>,
    full: RgbConverter,
    started: std::time::Instant,
    clock: atrium_clock::SharedClock,
    seq: u64,
}

impl std::fmt::Debug for FrameMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameMaker")
            .field("detector_input", &self.detector_input)
            .finish_non_exhaustive()
    }
}

impl FrameMaker {
    /// `detector_input` is the model's input size; `started` the agent's
    /// start, the zero of `Frame::t`.
    pub fn new(
        detector_input: (u32, u32),
        started: std::time::Instant,
        clock: atrium_clock::SharedClock,
    ) -> Self {
        Self {
            clock,
            detector_input,
            scaled: RgbConverter::new(None),
            scaled_size: None,
            full: RgbConverter::new(None),
            started,
            seq: 0,
        }
    }

    /// Builds a frame from a decoded picture.
    pub fn make(
        &mut self,
        picture: &ffmpeg::frame::Video,
        stream_ms: Option<i64>,
        want_full: bool,
    ) -> Result<crate::frames::Frame, DecodeError> {
        let (w, h) = (picture.width(), picture.height());
        let lb = atrium_vision::letterbox::Letterbox::full(
            w,
            h,
            self.detector_input.0,
            self.detector_input.1,
        );
        let size = (lb.inner_w, lb.inner_h);
        if self.scaled_size != Some(size) {
            self.scaled = RgbConverter::new(Some(size));
            self.scaled_size = Some(size);
        }
        let scaled = self.scaled.convert(picture)?;
        let full = if want_full {
            Some(std::sync::Arc::new(self.full.convert(picture)?))
        } else {
            None
        };
        self.seq += 1;
        Ok(crate::frames::Frame {
            seq: self.seq,
            captured: self.clock.now(),
            t: self
                .clock
                .instant()
                .saturating_duration_since(self.started)
                .as_secs_f64(),
            stream_ms,
            width: w,
            height: h,
            scaled,
            full,
        })
    }
}
