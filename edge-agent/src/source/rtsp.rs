//! RTSP cameras through `retina`.
//!
//! TCP-interleaved transport by default: it survives NAT and firewalls and
//! loses nothing to UDP drops. retina signals a server that goes away by
//! ending the stream and raises nothing for a camera that hangs with the
//! connection open, so every read here has a stall timeout; both cases become
//! a [`SourceError`] that the supervisor turns into "camera offline" and a
//! reconnect.

use std::time::Duration;

use futures::StreamExt;
use retina::client::{Credentials, Demuxed, PlayOptions, SessionOptions, SetupOptions, Transport};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};
use url::Url;

use super::{EncodedFrame, StreamInfo, VideoCodec};

/// How to reach one camera.
#[derive(Debug, Clone)]
pub struct RtspOptions {
    pub url: Url,
    pub credentials: Option<(String, String)>,
    /// Longest wait for DESCRIBE/SETUP/PLAY to finish.
    pub connect_timeout: Duration,
    /// No frame for this long means the camera is lost.
    pub stall_timeout: Duration,
}

impl RtspOptions {
    /// Options with the defaults: 10 s to connect, 10 s stall limit.
    pub fn new(url: Url) -> Self {
        Self {
            url,
            credentials: None,
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a camera gave no frame. The URL is always shown without credentials.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("camera {url}: connecting failed: {source}")]
    Connect {
        url: String,
        #[source]
        source: retina::Error,
    },
    #[error("camera {url}: no answer within {secs} s while connecting")]
    ConnectTimeout { url: String, secs: u64 },
    #[error("camera {url}: no video stream (streams offered: {offered})")]
    NoVideo { url: String, offered: String },
    #[error("camera {url}: video codec {encoding:?} is not supported (H.264 and H.265 are)")]
    UnsupportedCodec { url: String, encoding: String },
    #[error("camera {url}: no frame for {secs} s")]
    Stalled { url: String, secs: u64 },
    #[error("camera {url}: the server ended the stream")]
    Ended { url: String },
    #[error("camera {url}: stream error: {source}")]
    Stream {
        url: String,
        #[source]
        source: retina::Error,
    },
}

/// The URL without user name or password, for logs and errors.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// A playing RTSP session delivering one video stream.
pub struct RtspStream {
    url: String,
    demuxed: Demuxed,
    info: StreamInfo,
    stall_timeout: Duration,
}

impl std::fmt::Debug for RtspStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspStream")
            .field("url", &self.url)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Connects, picks the first H.264/H.265 video stream and starts playing.
pub async fn connect(opts: &RtspOptions) -> Result<RtspStream, SourceError> {
    let url = redact(&opts.url);
    let secs = opts.connect_timeout.as_secs();
    tokio::time::timeout(opts.connect_timeout, connect_inner(opts, url.clone()))
        .await
        .map_err(|_| SourceError::ConnectTimeout { url, secs })?
}

async fn connect_inner(opts: &RtspOptions, url: String) -> Result<RtspStream, SourceError> {
    let creds = opts.credentials.as_ref().map(|(u, p)| Credentials {
        username: u.clone(),
        password: p.clone(),
    });
    let connect_err = |source| SourceError::Connect {
        url: url.clone(),
        source,
    };
    let session_opts = SessionOptions::default()
        .creds(creds)
        .user_agent(format!("atrium-edge-agent/{}", env!("CARGO_PKG_VERSION")));
    let mut session = retina::client::Session::describe(opts.url.clone(), session_opts)
        .await
        .map_err(connect_err)?;

    let videos: Vec<(usize, String)> = session
        .streams()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.media() == "video")
        .map(|(i, s)| (i, s.encoding_name().to_ascii_lowercase()))
        .collect();
    let Some((index, codec)) = videos.iter().find_map(|(i, enc)| match enc.as_str() {
        "h264" => Some((*i, VideoCodec::H264)),
        "h265" => Some((*i, VideoCodec::H265)),
        _ => None,
    }) else {
        return Err(match videos.first() {
            Some((_, enc)) => SourceError::UnsupportedCodec {
                url,
                encoding: enc.clone(),
            },
            None => SourceError::NoVideo {
                url: url.clone(),
                offered: session
                    .streams()
                    .iter()
                    .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        });
    };
    let fps = session.streams()[index].framerate().map(f64::from);
    session
        .setup(
            index,
            SetupOptions::default()
                .transport(Transport::Tcp(Default::default()))
                .frame_format(FrameFormat::SIMPLE),
        )
        .await
        .map_err(connect_err)?;
    let size = match session.streams()[index].parameters() {
        Some(ParametersRef::Video(v)) => Some(v.pixel_dimensions()),
        _ => None,
    };
    let demuxed = session
        .play(PlayOptions::default())
        .await
        .map_err(connect_err)?
        .demuxed()
        .map_err(connect_err)?;
    Ok(RtspStream {
        url,
        demuxed,
        info: StreamInfo { codec, size, fps },
        stall_timeout: opts.stall_timeout,
    })
}

impl RtspStream {
    /// What the camera announced.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The next video frame, or why there is none.
    pub async fn next_frame(&mut self) -> Result<EncodedFrame, SourceError> {
        loop {
            let item = tokio::time::timeout(self.stall_timeout, self.demuxed.next())
                .await
                .map_err(|_| SourceError::Stalled {
                    url: self.url.clone(),
                    secs: self.stall_timeout.as_secs(),
                })?;
            match item {
                None => {
                    return Err(SourceError::Ended {
                        url: self.url.clone(),
                    });
                }
                Some(Err(source)) => {
                    return Err(SourceError::Stream {
                        url: self.url.clone(),
                        source,
                    });
                }
                Some(Ok(CodecItem::VideoFrame(f))) => {
                    if f.has_new_parameters()
                        && let Some(ParametersRef::Video(v)) = self
                            .demuxed
                            .streams()
                            .get(f.stream_id())
                            .and_then(|s| s.parameters())
                    {
                        self.info.size = Some(v.pixel_dimensions());
                    }
                    let pts = f.timestamp().elapsed();
                    let is_key = f.is_random_access_point();
                    return Ok(EncodedFrame {
                        data: f.into_data(),
                        pts,
                        is_key,
                    });
                }
                Some(Ok(_)) => continue,
            }
        }
    }
}
