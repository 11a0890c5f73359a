//! Keeps a camera connected: connect, stream, notice the loss, back off,
//! reconnect, forever. Reports `online`/`offline` as it goes.
//!
//! The RTSP side runs on tokio; decoding runs on its own thread behind a
//! bounded queue. When that queue is full (decoding cannot keep up),
//! packets are dropped and the decoder is told to resynchronise at the next
//! key frame, so it never decodes a picture whose references are missing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use atrium_proto::CameraState;
use atrium_proto::event::EventBody;
use tokio::sync::watch;

use super::file::{FileOptions, play};
use super::rtsp::{self, RtspOptions};
use super::{EncodedFrame, VideoCodec};
use crate::decode::{Decoder, FrameMaker};
use crate::events::EventSink;
use crate::frames::Handoff;
use crate::internal_events::{DropStage, FrameDropped, InternalEvent};
use crate::metrics::Kind;
use crate::state::Shared;

pub use atrium_worker::Backoff;
use atrium_worker::{Attempt, Worker, supervise};

/// Everything a source needs to deliver frames and report state.
#[derive(Debug, Clone)]
pub struct SourceContext {
    pub shared: Arc<Shared>,
    pub sink: EventSink,
    pub handoff: Arc<Handoff>,
    pub detector_input: (u32, u32),
    pub started: Instant,
    /// Attach a full-resolution frame at most this often (face work);
    /// `None` when faces are disabled.
    pub full_every: Option<Duration>,
    pub decode_threads: usize,
    /// Woken when the camera state changes (the status publisher listens).
    pub status_changed: Arc<tokio::sync::Notify>,
}

impl SourceContext {
    /// Records a camera state change: metrics, a `camera_status` event and
    /// a prompt status update.
    pub fn report(&self, state: CameraState, reason: Option<String>) {
        if self.shared.set_camera(state, reason.clone()) {
            match state {
                CameraState::Offline => {
                    tracing::warn!(reason = reason.as_deref().unwrap_or(""), "camera offline")
                }
                _ => tracing::info!("camera {state:?}"),
            }
            self.sink.emit(
                self.shared.clock.now(),
                None,
                EventBody::CameraStatus { state, reason },
            );
            self.status_changed.notify_one();
        }
    }
}

/// Decides when a frame carries its full-resolution copy.
#[derive(Debug)]
struct FullFramePolicy {
    every: Option<Duration>,
    last: Option<Instant>,
}

impl FullFramePolicy {
    fn want(&mut self, shared: &Shared) -> bool {
        let Some(every) = self.every else {
            return false;
        };
        let slowdown = shared.face_slowdown.load(Ordering::Relaxed);
        if slowdown == 0 {
            return false;
        }
        let now = shared.clock.instant();
        if self.last.is_some_and(|l| now - l < every * slowdown) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

/// Turns decoded pictures into frames for the hand-off (the same for a
/// camera and a file).
struct Framer {
    maker: FrameMaker,
    full: FullFramePolicy,
}

impl Framer {
    fn new(ctx: &SourceContext) -> Self {
        Self {
            maker: FrameMaker::new(ctx.detector_input, ctx.started, ctx.shared.clock.clone()),
            full: FullFramePolicy {
                every: ctx.full_every,
                last: None,
            },
        }
    }

    /// Converts a picture and offers it to inference; a frame it replaces
    /// unconsumed is counted as dropped.
    fn deliver(
        &mut self,
        ctx: &SourceContext,
        picture: &ffmpeg_next::frame::Video,
        stream_ms: Option<i64>,
    ) {
        let m = &ctx.shared.metrics;
        m.frames_in.inc();
        let want = self.full.want(&ctx.shared);
        match self.maker.make(picture, stream_ms, want) {
            Ok(frame) => {
                if ctx.handoff.put(frame) {
                    FrameDropped {
                        stage: DropStage::Handoff,
                    }
                    .emit(m);
                }
            }
            Err(e) => tracing::warn!(error = %e, "frame conversion failed"),
        }
    }
}

enum DecodeMsg {
    Session(VideoCodec),
    Packet(EncodedFrame),
    Resync,
}

fn decode_thread(ctx: SourceContext, rx: std::sync::mpsc::Receiver<DecodeMsg>) {
    let mut framer = Framer::new(&ctx);
    let mut decoder: Option<Decoder> = None;
    let m = &ctx.shared.metrics;
    while let Ok(msg) = rx.recv() {
        match msg {
            DecodeMsg::Session(codec) => match Decoder::new(codec, ctx.decode_threads) {
                Ok(d) => decoder = Some(d),
                Err(e) => {
                    tracing::error!(error = %e, "cannot decode the camera's stream");
                    decoder = None;
                }
            },
            DecodeMsg::Resync => {
                if let Some(d) = decoder.as_mut() {
                    d.resync();
                }
            }
            DecodeMsg::Packet(packet) => {
                let Some(d) = decoder.as_mut() else { continue };
                let stream_ms = packet.pts / 90;
                let result = d.decode(&packet, |picture| {
                    framer.deliver(&ctx, picture, Some(stream_ms))
                });
                if let Err(e) = result {
                    m.decode_errors.inc();
                    tracing::debug!(error = %e, "packet not decoded");
                }
            }
        }
    }
    ctx.handoff.close();
}

/// Streams an RTSP camera until `stop` turns true.
pub async fn run_rtsp(
    ctx: SourceContext,
    opts: RtspOptions,
    backoff: Backoff,
    stop: watch::Receiver<bool>,
) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<DecodeMsg>(64);
    let dctx = ctx.clone();
    let decode = atrium_worker::thread("decode", move || decode_thread(dctx, rx));
    if let Err(e) = &decode {
        tracing::error!(error = %e, "cannot start the decode thread");
        return;
    }
    let mut camera = Camera {
        ctx: &ctx,
        opts: &opts,
        tx: &tx,
    };
    supervise("camera session", &mut camera, backoff, stop).await;
    drop(tx);
    if let Ok(handle) = decode {
        // The decode thread reports its own failures; a panic is logged.
        atrium_worker::joined_thread("decode", handle).await;
    }
}

/// Why a camera session ended (it is retried after the back-off).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SessionEnded(String);

/// One attempt is one RTSP session.
struct Camera<'a> {
    ctx: &'a SourceContext,
    opts: &'a RtspOptions,
    tx: &'a SyncSender<DecodeMsg>,
}

impl Worker for Camera<'_> {
    type Error = SessionEnded;

    async fn run_once(&mut self, attempt: &mut Attempt) -> Result<(), SessionEnded> {
        if attempt.number() > 1 {
            self.ctx
                .shared
                .metrics
                .reconnects
                .get_or_create(&Kind::of("camera"))
                .inc();
        }
        let reason = tokio::select! {
            r = stream_session(self.ctx, self.opts, self.tx, attempt) => r,
            _ = attempt.stopped() => return Ok(()),
        };
        self.ctx.report(CameraState::Offline, Some(reason.clone()));
        Err(SessionEnded(reason))
    }
}

/// One connection; returns why it ended.
async fn stream_session(
    ctx: &SourceContext,
    opts: &RtspOptions,
    tx: &SyncSender<DecodeMsg>,
    attempt: &Attempt,
) -> String {
    let mut stream = match rtsp::connect(opts).await {
        Ok(s) => s,
        Err(e) => return e.to_string(),
    };
    let info = stream.info().clone();
    tracing::info!(codec = %info.codec, size = ?info.size, fps = ?info.fps, "camera connected");
    if tx.send(DecodeMsg::Session(info.codec)).is_err() {
        return "decoder stopped".into();
    }
    let mut need_resync = false;
    loop {
        let frame = match stream.next_frame().await {
            Ok(f) => f,
            Err(e) => return e.to_string(),
        };
        if ctx.shared.camera().0 == CameraState::Offline {
            attempt.progressed();
            ctx.report(CameraState::Online, None);
        }
        if need_resync {
            match tx.try_send(DecodeMsg::Resync) {
                Ok(()) => need_resync = false,
                Err(TrySendError::Full(_)) => {
                    FrameDropped {
                        stage: DropStage::DecodeQueue,
                    }
                    .emit(&ctx.shared.metrics);
                    continue;
                }
                Err(TrySendError::Disconnected(_)) => return "decoder stopped".into(),
            }
        }
        match tx.try_send(DecodeMsg::Packet(frame)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                FrameDropped {
                    stage: DropStage::DecodeQueue,
                }
                .emit(&ctx.shared.metrics);
                need_resync = true;
            }
            Err(TrySendError::Disconnected(_)) => return "decoder stopped".into(),
        }
    }
}

/// Plays a video file (on a thread) until its end or `stop`.
pub fn run_file(
    ctx: SourceContext,
    opts: FileOptions,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    atrium_worker::thread("file-source", move || {
        let mut framer = Framer::new(&ctx);
        let result = play(
            &opts,
            &stop,
            |info| {
                tracing::info!(codec = %info.codec, size = ?info.size, fps = ?info.fps, "video file opened");
                ctx.report(CameraState::Online, None);
            },
            |picture, ms| framer.deliver(&ctx, picture, Some(ms)),
        );
        let reason = match result {
            Ok(n) => format!("end of file after {n} frames"),
            Err(e) => e.to_string(),
        };
        ctx.report(CameraState::Offline, Some(reason));
        ctx.handoff.close();
    })
}
