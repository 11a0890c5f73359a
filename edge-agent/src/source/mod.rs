//! Where encoded video comes from.
//!
//! A source yields encoded access units in Annex B form with parameter sets
//! in front of every key frame, so the decoder never needs out-of-band
//! configuration and a decoder can be (re)started at any key frame.

pub mod file;
pub mod rtsp;
pub mod supervisor;

use std::fmt;

/// Video codecs the agent accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    H265,
}

impl fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::H264 => "H.264",
            Self::H265 => "H.265",
        })
    }
}

/// What the camera says about its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    pub codec: VideoCodec,
    /// Pixel dimensions, once known (usually right after DESCRIBE).
    pub size: Option<(u32, u32)>,
    /// Frames per second announced by the camera, if any.
    pub fps: Option<f64>,
}

/// One encoded access unit.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// Annex B NAL units; parameter sets precede every key frame.
    pub data: Vec<u8>,
    /// Presentation time in 90 kHz ticks since the stream started.
    pub pts: i64,
    /// A frame a decoder can start from.
    pub is_key: bool,
}
