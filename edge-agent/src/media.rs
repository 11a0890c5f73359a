//! Camera pictures for central: the retained snapshot (on the first
//! frame, every `media.snapshot_interval_s`, and when central asks) and
//! live frames with the current person boxes while central asks for them.
//!
//! Nothing listens on the edge box: central asks over MQTT
//! (`…/cam/{camera}/request`) and the pictures go back through the broker
//! on the connection the events use. A live request lasts `for_s`
//! seconds; central renews it while someone watches, so when the viewer
//! leaves (or central dies) the stream stops by itself. Frames are encoded
//! on the inference thread, at most `media.live_fps` a second, from the
//! detector-sized copy the thread already has: no extra scaling, a few
//! milliseconds a frame, nothing at all while nobody watches.

use chrono::{DateTime, Utc};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use atrium_proto::limits::MAX_FRAME_PAYLOAD;
use atrium_proto::media::{CameraFrame, CameraRequest, FrameBox, FrameKind, RequestKind};
use atrium_proto::topic::CameraChannel;
use atrium_proto::{CameraId, SiteId};
use atrium_vision::RgbImage;

use crate::config::MediaSection;
use crate::frames::Frame;
use crate::metrics::Kind;
use crate::state::Shared;

/// A picture ready for the broker connection.
#[derive(Debug)]
pub struct Outgoing {
    /// [`CameraChannel::Snapshot`] (retained) or [`CameraChannel::Live`].
    pub channel: CameraChannel,
    pub payload: Vec<u8>,
}

/// The sending half the inference thread uses; bounded, so a slow broker
/// connection drops pictures (counted), never events.
pub type MediaTx = tokio::sync::mpsc::Sender<Outgoing>;
pub type MediaRx = tokio::sync::mpsc::Receiver<Outgoing>;

/// Pictures waiting for the broker connection at most.
pub const QUEUE: usize = 4;

/// What central has asked for, shared between the broker connection
/// (which records requests) and the inference thread (which serves them).
#[derive(Debug, Default)]
pub struct Requests {
    wanted: Mutex<Wanted>,
}

#[derive(Debug, Default)]
struct Wanted {
    live_until: Option<Instant>,
    snapshot: bool,
}

impl Requests {
    /// Records a request that arrived at `now`.
    pub fn record(&self, request: CameraRequest, now: Instant) {
        let Ok(mut w) = self.wanted.lock() else {
            return;
        };
        match request.kind {
            RequestKind::Snapshot => w.snapshot = true,
            RequestKind::Live { for_s } => {
                w.live_until = Some(now + Duration::from_secs(u64::from(for_s)));
            }
        }
    }

    /// Whether live frames are wanted at `now`.
    pub fn live(&self, now: Instant) -> bool {
        self.wanted
            .lock()
            .is_ok_and(|w| w.live_until.is_some_and(|u| now < u))
    }

    /// Takes a pending snapshot request.
    fn take_snapshot(&self) -> bool {
        self.wanted
            .lock()
            .is_ok_and(|mut w| std::mem::take(&mut w.snapshot))
    }
}

/// Parses a request from the broker and records it; a bad one is logged
/// and counted.
pub fn on_request(shared: &Shared, payload: &[u8]) {
    match CameraRequest::parse(payload) {
        Ok(r) => {
            tracing::debug!(request = ?r.kind, "request from central");
            shared.media.record(r, shared.clock.instant());
        }
        Err(e) => {
            tracing::warn!(error = %e, bytes = payload.len(), "refused a request from central");
            shared.metrics.requests_refused.inc();
        }
    }
}

/// The inference thread's picture maker.
#[derive(Debug)]
pub struct Pictures {
    site: SiteId,
    camera: CameraId,
    settings: MediaSection,
    tx: MediaTx,
    next_snapshot: Option<Instant>,
    last_live: Option<Instant>,
    /// The capture time of the last live frame: frames processed late
    /// (a backlog under load) must still be a period apart in the video.
    last_live_captured: Option<DateTime<Utc>>,
    live: bool,
}

impl Pictures {
    pub fn new(site: SiteId, camera: CameraId, settings: MediaSection, tx: MediaTx) -> Self {
        Self {
            site,
            camera,
            settings,
            tx,
            next_snapshot: None,
            last_live: None,
            last_live_captured: None,
            live: false,
        }
    }

    /// Called for each processed frame with the tracks in view.
    pub fn on_frame(&mut self, frame: &Frame, visible: &[(u64, [f32; 4])], shared: &Shared) {
        let now = shared.clock.instant();
        let live = shared.media.live(now);
        if live != self.live {
            self.live = live;
            shared.metrics.live_active.set(i64::from(live));
            tracing::info!(
                live,
                "live view {}",
                if live { "started" } else { "stopped" }
            );
        }
        let snapshot = shared.media.take_snapshot() | self.next_snapshot.is_none_or(|t| now >= t);
        let live_period = Duration::from_secs_f64(1.0 / self.settings.live_fps);
        // A period apart both when processed (the wire rate) and when
        // captured (what the viewer sees); a clock set back allows one.
        let live_due = live
            && self
                .last_live
                .is_none_or(|t| now.duration_since(t) >= live_period)
            && self.last_live_captured.is_none_or(|t| {
                let gap = frame.captured - t;
                gap < chrono::TimeDelta::zero() || gap.to_std().is_ok_and(|g| g >= live_period)
            });
        if !snapshot && !live_due {
            return;
        }
        if snapshot {
            self.next_snapshot =
                Some(now + Duration::from_secs_f64(self.settings.snapshot_interval_s));
        }
        if live_due {
            self.last_live = Some(now);
            self.last_live_captured = Some(frame.captured);
        }
        let boxes: Vec<FrameBox> = visible
            .iter()
            .take(atrium_proto::limits::MAX_FRAME_BOXES)
            .map(|&(track, bbox)| FrameBox { track, bbox })
            .collect();
        for (due, kind, channel, boxes) in [
            (
                snapshot,
                FrameKind::Snapshot,
                CameraChannel::Snapshot,
                Vec::new(),
            ),
            (live_due, FrameKind::Live, CameraChannel::Live, boxes),
        ] {
            if !due {
                continue;
            }
            let label = match kind {
                FrameKind::Snapshot => "snapshot",
                FrameKind::Live => "live",
            };
            match self.payload(frame, kind, boxes) {
                Ok(payload) => match self.tx.try_send(Outgoing { channel, payload }) {
                    Ok(()) => {
                        shared
                            .metrics
                            .media_frames
                            .get_or_create(&Kind::of(label))
                            .inc();
                    }
                    Err(_) => {
                        shared
                            .metrics
                            .media_dropped
                            .get_or_create(&Kind::of("queue_full"))
                            .inc();
                    }
                },
                Err(reason) => {
                    tracing::warn!(reason, kind = label, "camera picture not sent");
                    shared
                        .metrics
                        .media_dropped
                        .get_or_create(&Kind::of(reason))
                        .inc();
                }
            }
        }
    }

    /// The frame message, its JPEG lowered in quality until it fits.
    fn payload(
        &self,
        frame: &Frame,
        kind: FrameKind,
        boxes: Vec<FrameBox>,
    ) -> Result<Vec<u8>, &'static str> {
        let mut quality = self.settings.jpeg_quality;
        loop {
            let jpeg = encode_jpeg(&frame.scaled, quality).ok_or("encode")?;
            let msg = CameraFrame {
                schema: 1,
                ts: frame.captured,
                site: self.site.clone(),
                camera: self.camera.clone(),
                kind,
                seq: frame.seq,
                width: frame.width,
                height: frame.height,
                image_width: frame.scaled.width(),
                image_height: frame.scaled.height(),
                boxes: boxes.clone(),
                jpeg: CameraFrame::encode_jpeg(&jpeg),
            };
            let payload = serde_json::to_vec(&msg).map_err(|_| "encode")?;
            if payload.len() <= MAX_FRAME_PAYLOAD {
                return Ok(payload);
            }
            if quality <= 10 {
                return Err("too_large");
            }
            quality = (quality / 2).max(10);
        }
    }
}

/// Encodes an RGB image as a baseline JPEG; `None` if the encoder fails
/// (an empty image).
pub fn encode_jpeg(image: &RgbImage, quality: u8) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    encoder
        .encode(
            image.as_bytes(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use atrium_clock::Clock;

    fn wall() -> DateTime<Utc> {
        "2026-12-01T10:00:00Z".parse().unwrap()
    }

    /// Frame `seq` of a 10 fps camera (captured `seq` × 100 ms after `wall()`).
    fn frame(seq: u64, w: u32, h: u32) -> Frame {
        Frame {
            seq,
            captured: wall() + chrono::TimeDelta::milliseconds(100 * seq as i64),
            t: 0.0,
            stream_ms: None,
            width: w * 2,
            height: h * 2,
            scaled: gradient(w, h),
            full: None,
        }
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        let data = (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [(x % 256) as u8, (y % 256) as u8, 90]))
            .collect();
        RgbImage::from_raw(w, h, data).unwrap()
    }

    fn shared(clock: &atrium_clock::SharedClock) -> Shared {
        Shared::new(1, clock.clone())
    }

    fn setup(interval_s: f64) -> (Pictures, MediaRx, atrium_clock::ManualClock) {
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        let settings = MediaSection {
            snapshot_interval_s: interval_s,
            ..MediaSection::default()
        };
        let p = Pictures::new(
            SiteId::new("hq").unwrap(),
            CameraId::new("cam-1").unwrap(),
            settings,
            tx,
        );
        (p, rx, atrium_clock::ManualClock::new(wall()))
    }

    fn drain(rx: &mut MediaRx) -> Vec<(CameraChannel, CameraFrame)> {
        let mut out = Vec::new();
        while let Ok(o) = rx.try_recv() {
            let (f, jpeg) = CameraFrame::parse(&o.payload).unwrap();
            let img = image::load_from_memory(&jpeg).unwrap();
            assert_eq!((img.width(), img.height()), (f.image_width, f.image_height));
            out.push((o.channel, f));
        }
        out
    }

    #[test]
    fn a_snapshot_on_the_first_frame_then_every_interval_and_on_request() {
        let (mut p, mut rx, clock) = setup(300.0);
        let s = shared(&clock.shared());
        p.on_frame(&frame(1, 64, 48), &[], &s);
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, CameraChannel::Snapshot);
        assert_eq!(got[0].1.kind, FrameKind::Snapshot);
        assert_eq!((got[0].1.width, got[0].1.height), (128, 96));
        clock.advance(Duration::from_secs(299));
        p.on_frame(&frame(2, 64, 48), &[], &s);
        assert!(drain(&mut rx).is_empty(), "not due yet");
        s.media
            .record(CameraRequest::new(RequestKind::Snapshot), clock.instant());
        p.on_frame(&frame(3, 64, 48), &[], &s);
        assert_eq!(drain(&mut rx).len(), 1, "asked for");
        clock.advance(Duration::from_secs(300));
        p.on_frame(&frame(4, 64, 48), &[], &s);
        assert_eq!(drain(&mut rx)[0].1.seq, 4, "interval passed");
    }

    #[test]
    fn live_frames_at_most_twice_a_second_until_the_request_runs_out() {
        let (mut p, mut rx, clock) = setup(86_400.0);
        let s = shared(&clock.shared());
        p.on_frame(&frame(1, 32, 24), &[], &s);
        drain(&mut rx); // the first snapshot
        s.media.record(
            CameraRequest::new(RequestKind::Live { for_s: 3 }),
            clock.instant(),
        );
        let mut live = Vec::new();
        // 10 frames a second for 5 s: live for the first 3 s only.
        for i in 0..50u64 {
            p.on_frame(&frame(10 + i, 32, 24), &[(7, [1.0, 2.0, 30.0, 40.0])], &s);
            for (ch, f) in drain(&mut rx) {
                assert_eq!(ch, CameraChannel::Live);
                assert_eq!(
                    f.boxes,
                    vec![FrameBox {
                        track: 7,
                        bbox: [1.0, 2.0, 30.0, 40.0]
                    }]
                );
                live.push(f.seq);
            }
            clock.advance(Duration::from_millis(100));
        }
        assert_eq!(live, vec![10, 15, 20, 25, 30, 35], "2 fps for 3 s");
        assert_eq!(s.metrics.live_active.get(), 0, "stopped by itself");
        assert_eq!(
            s.metrics
                .media_frames
                .get_or_create(&Kind::of("live"))
                .get(),
            6
        );
    }

    #[test]
    fn live_frames_worked_off_a_backlog_are_still_half_a_second_apart_in_the_video() {
        let (mut p, mut rx, clock) = setup(86_400.0);
        let s = shared(&clock.shared());
        p.on_frame(&frame(1, 32, 24), &[], &s);
        drain(&mut rx);
        s.media.record(
            CameraRequest::new(RequestKind::Live { for_s: 60 }),
            clock.instant(),
        );
        // Processed 600 ms apart (a slow machine working off a backlog),
        // captured 100 ms apart: the processing gap alone would send each.
        let mut live = Vec::new();
        for seq in 10..30u64 {
            p.on_frame(&frame(seq, 32, 24), &[], &s);
            live.extend(drain(&mut rx).into_iter().map(|(_, f)| f.seq));
            clock.advance(Duration::from_millis(600));
        }
        assert_eq!(live, vec![10, 15, 20, 25]);
    }

    #[test]
    fn a_full_queue_drops_pictures_and_counts_them() {
        let (mut p, _rx, clock) = setup(0.001);
        let s = shared(&clock.shared());
        for i in 0..(QUEUE as u64 + 3) {
            p.on_frame(&frame(i, 16, 16), &[], &s);
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(
            s.metrics
                .media_dropped
                .get_or_create(&Kind::of("queue_full"))
                .get(),
            3
        );
    }

    #[test]
    fn a_noisy_frame_is_encoded_smaller_until_it_fits() {
        // Random noise compresses badly: at quality 100 a 640 × 480 frame
        // is far over the limit; the encoder must lower the quality.
        let mut seed = 1u32;
        let data = (0..640 * 480 * 3)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                seed.to_le_bytes()[2]
            })
            .collect();
        let noise = RgbImage::from_raw(640, 480, data).unwrap();
        assert!(encode_jpeg(&noise, 100).unwrap().len() > MAX_FRAME_PAYLOAD);
        let (tx, mut rx) = tokio::sync::mpsc::channel(QUEUE);
        let settings = MediaSection {
            jpeg_quality: 100,
            ..MediaSection::default()
        };
        let mut p = Pictures::new(
            SiteId::new("hq").unwrap(),
            CameraId::new("cam-1").unwrap(),
            settings,
            tx,
        );
        let clock = atrium_clock::ManualClock::new(wall());
        let s = shared(&clock.shared());
        let mut f = frame(1, 8, 8);
        f.scaled = noise;
        p.on_frame(&f, &[], &s);
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
    }
}
