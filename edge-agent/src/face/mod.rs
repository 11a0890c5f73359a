//! Face observation, on its own thread so it never holds up counting.
//!
//! The inference thread hands over a full-resolution frame and the tracks
//! whose face is due (about once a second each); if the face thread is
//! still busy the job is dropped and counted, never queued. For each track
//! the face is searched in the upper part of the person's box, the best
//! face is quality-checked, aligned and embedded with `atrium-vision`, and
//! a `face_observed` event carries the embedding. [`schedule`] decides
//! which tracks are due.

pub mod schedule;

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use atrium_proto::WireEmbedding;
use atrium_proto::event::EventBody;
use atrium_vision::face::quality::assess;
use atrium_vision::face::{FaceDetector, FaceEmbedder, QualityConfig};
use atrium_vision::{BBox, RgbImage};
use chrono::{DateTime, Utc};

use crate::events::EventSink;
use crate::metrics::Kind;
use crate::state::Shared;

/// One frame's worth of face work.
#[derive(Debug)]
pub struct FaceJob {
    pub image: Arc<RgbImage>,
    pub captured: DateTime<Utc>,
    pub stream_ms: Option<i64>,
    /// Track id and person box (frame pixels).
    pub tracks: Vec<(u64, [f32; 4])>,
}

/// The region where a standing person's face is: the top of the box,
/// squared around the head.
pub fn head_region(b: [f32; 4]) -> BBox {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let side = w.max(0.5 * h) * 1.1;
    let cx = (b[0] + b[2]) / 2.0;
    let cy = b[1] + 0.2 * h;
    BBox::new(
        cx - side / 2.0,
        cy - side / 2.0,
        cx + side / 2.0,
        cy + side / 2.0,
    )
}

/// Where a standing person's face usually is: centred, a tenth of the
/// height below the top of the box.
pub fn head_point(b: [f32; 4]) -> atrium_vision::Point {
    atrium_vision::Point::new((b[0] + b[2]) / 2.0, b[1] + 0.1 * (b[3] - b[1]))
}

/// Sends jobs to the face thread without ever blocking.
#[derive(Debug, Clone)]
pub struct FaceQueue {
    tx: SyncSender<FaceJob>,
    shared: Arc<Shared>,
}

impl FaceQueue {
    /// Offers a job; returns false (and counts it) when the thread is busy.
    pub fn offer(&self, job: FaceJob) -> bool {
        match self.tx.try_send(job) {
            Ok(()) => true,
            Err(TrySendError::Full(job)) | Err(TrySendError::Disconnected(job)) => {
                self.shared
                    .metrics
                    .faces
                    .get_or_create(&Kind::of("skipped_busy"))
                    .inc_by(job.tracks.len() as u64);
                false
            }
        }
    }
}

/// Face thread settings.
#[derive(Debug, Clone)]
pub struct FaceSettings {
    pub min_quality: f32,
    pub quality: QualityConfig,
}

/// Starts the face thread.
pub fn spawn(
    detector: FaceDetector,
    embedder: FaceEmbedder,
    settings: FaceSettings,
    sink: EventSink,
    shared: Arc<Shared>,
) -> std::io::Result<(FaceQueue, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let queue = FaceQueue {
        tx,
        shared: shared.clone(),
    };
    let handle = atrium_worker::thread("faces", move || {
        work(rx, detector, embedder, settings, sink, shared)
    })?;
    Ok((queue, handle))
}

fn work(
    rx: Receiver<FaceJob>,
    mut detector: FaceDetector,
    mut embedder: FaceEmbedder,
    settings: FaceSettings,
    sink: EventSink,
    shared: Arc<Shared>,
) {
    let outcome = |k: &str| shared.metrics.faces.get_or_create(&Kind::of(k)).inc();
    while let Ok(job) = rx.recv() {
        let view = job.image.view();
        for (track, person) in &job.tracks {
            let region = head_region(*person);
            let faces = match detector.detect(&view, Some(region)) {
                Ok(f) => f,
                Err(e) => {
                    outcome("error");
                    tracing::warn!(error = %e, track, "face detection failed");
                    continue;
                }
            };
            // The face must belong to this person: its centre inside the box,
            // and of several (neighbours in a group) the one nearest where
            // this person's head should be.
            let person_box = BBox::new(person[0], person[1], person[2], person[3]);
            let head = head_point(*person);
            let Some(face) = faces
                .into_iter()
                .filter(|f| {
                    let c = f.bbox.centre();
                    c.x >= person_box.x1
                        && c.x <= person_box.x2
                        && c.y >= person_box.y1
                        && c.y <= person_box.y2
                })
                .min_by(|a, b| {
                    a.bbox
                        .centre()
                        .distance(head)
                        .total_cmp(&b.bbox.centre().distance(head))
                })
            else {
                outcome("no_face");
                continue;
            };
            let q = assess(&view, &face, &settings.quality);
            if q.overall < settings.min_quality {
                outcome("low_quality");
                tracing::debug!(track, quality = q.overall, issue = ?q.limiting, "face below the quality gate");
                continue;
            }
            match embedder.embed(&view, &[face]) {
                Ok(mut e) if !e.is_empty() => {
                    let e = e.remove(0);
                    outcome("published");
                    sink.emit(
                        job.captured,
                        job.stream_ms,
                        EventBody::FaceObserved {
                            track: *track,
                            quality: q.overall,
                            bbox: [face.bbox.x1, face.bbox.y1, face.bbox.x2, face.bbox.y2],
                            embedding: WireEmbedding::encode(&e.model, &e.values),
                        },
                    );
                }
                Ok(_) => {
                    outcome("error");
                }
                Err(e) => {
                    outcome("error");
                    tracing::warn!(error = %e, track, "face embedding failed");
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_region_is_a_square_at_the_top_of_the_person() {
        let r = head_region([100.0, 50.0, 140.0, 250.0]);
        assert!((r.width() - r.height()).abs() < 1e-3);
        assert!(
            (r.width() - 110.0).abs() < 1e-3,
            "half the height, plus margin"
        );
        assert!(r.y1 < 50.0 && r.y2 < 150.0, "{r:?}");
        assert!((r.centre().x - 120.0).abs() < 1e-3);
    }
}
