//! ByteTrack-style multi-object tracking of people.
//!
//! Why our own and not `similari`: similari offers SORT and visual SORT but
//! not ByteTrack's second association stage, which matches *low*-confidence
//! boxes to existing tracks and is what keeps a partly occluded pedestrian's
//! id; it also brings pyo3, rayon and env_logger into a small edge binary.
//! This module is ByteTrack's algorithm on nalgebra (Kalman filter) and
//! pathfinding (optimal assignment):
//!
//! 1. predict every track to now (time-based steps: detection may run on
//!    every Nth frame);
//! 2. match high-score detections to confirmed and lost tracks by IoU,
//!    both boxes widened by a buffer that grows with the time since the
//!    track was last matched (so a person who moved further between two
//!    detections, at a low detection rate or after an occlusion, still
//!    overlaps their prediction: the C-BIoU idea, scaled by elapsed time);
//! 3. match the remaining tracks to low-score detections;
//! 4. match tentative tracks to the remaining high-score detections;
//! 5. start tentative tracks from unmatched high-score detections; confirm
//!    a tentative track on its second hit; mark unmatched confirmed tracks
//!    lost, and remove lost ones after `lost_ttl`.
//!
//! Pure: boxes and a timestamp in, tracks and changes out.

pub mod kalman;

use pathfinding::kuhn_munkres::kuhn_munkres_min;
use pathfinding::matrix::Matrix;

use kalman::KalmanState;

/// A detection handed to the tracker: x1, y1, x2, y2 and score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub bbox: [f32; 4],
    pub score: f32,
}

/// Tracker thresholds.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections at or above this score are "high" (first association,
    /// can start tracks).
    pub high_score: f32,
    /// Detections below this are ignored altogether.
    pub low_score: f32,
    /// A high detection this confident may start a new track.
    pub new_track_score: f32,
    /// Minimum IoU for a match in the first association.
    pub match_iou: f32,
    /// Minimum IoU for a match with a low-score detection.
    pub low_match_iou: f32,
    /// Seconds a lost track is kept for re-identification.
    pub lost_ttl_s: f32,
    /// Association buffer: both boxes are widened on each side by this
    /// fraction of their size per second since the track's last match…
    pub buffer_per_s: f32,
    /// …up to this fraction.
    pub max_buffer: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.35,
            low_score: 0.1,
            new_track_score: 0.4,
            match_iou: 0.2,
            low_match_iou: 0.4,
            lost_ttl_s: 2.0,
            buffer_per_s: 1.0,
            max_buffer: 0.5,
        }
    }
}

/// Life cycle of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackState {
    /// Seen once; not reported yet.
    Tentative,
    /// Matched this update.
    Confirmed,
    /// Not matched recently; kept for `lost_ttl`.
    Lost,
}

/// One track.
#[derive(Debug, Clone)]
pub struct Track {
    pub id: u64,
    pub state: TrackState,
    kalman: KalmanState,
    /// Last detection score.
    pub score: f32,
    pub hits: u32,
    /// Time of the last matched detection (seconds).
    pub last_seen: f64,
    pub first_seen: f64,
}

impl Track {
    /// The filtered box (x1, y1, x2, y2).
    pub fn bbox(&self) -> [f32; 4] {
        self.kalman.bbox()
    }
}

/// What an update changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Tracks confirmed by this update (first report).
    pub confirmed: Vec<u64>,
    /// Tracks removed by this update (lost for too long).
    pub removed: Vec<u64>,
}

/// The tracker.
#[derive(Debug, Clone)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    last_time: Option<f64>,
}

/// `b` widened by `f` of its width and height on each side.
fn widen(b: &[f32; 4], f: f32) -> [f32; 4] {
    let (dw, dh) = ((b[2] - b[0]) * f, (b[3] - b[1]) * f);
    [b[0] - dw, b[1] - dh, b[2] + dw, b[3] + dh]
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Optimal assignment maximising total IoU of the boxes widened by each
/// track's buffer, keeping pairs with that IoU ≥ `min`. Returns (track
/// index, detection index) pairs.
fn assign(
    tracks: &[usize],
    boxes: &[[f32; 4]],
    buffers: &[f32],
    dets: &[usize],
    obs: &[Observation],
    min: f32,
) -> Vec<(usize, usize)> {
    if tracks.is_empty() || dets.is_empty() {
        return Vec::new();
    }
    let overlap = |t: usize, d: usize| {
        let b = buffers[t];
        iou(&widen(&boxes[t], b), &widen(&obs[d].bbox, b))
    };
    // Costs in integer thousandths; pairs below `min` cost as much as not
    // matching, and are filtered afterwards.
    let cost = |t: usize, d: usize| -> i64 {
        let v = overlap(t, d);
        if v >= min {
            1000 - (v * 1000.0) as i64
        } else {
            1000
        }
    };
    let transposed = tracks.len() > dets.len();
    let (rows, cols) = if transposed {
        (dets, tracks)
    } else {
        (tracks, dets)
    };
    // kuhn_munkres needs no more rows than columns, hence the transpose.
    let m = Matrix::from_fn(rows.len(), cols.len(), |(r, c)| {
        if transposed {
            cost(cols[c], rows[r])
        } else {
            cost(rows[r], cols[c])
        }
    });
    let (_, assignment) = kuhn_munkres_min(&m);
    assignment
        .iter()
        .enumerate()
        .map(|(r, &c)| {
            if transposed {
                (cols[c], rows[r])
            } else {
                (rows[r], cols[c])
            }
        })
        .filter(|&(t, d)| overlap(t, d) >= min)
        .collect()
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            tracks: Vec::new(),
            next_id: 1,
            last_time: None,
        }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// All tracks, any state.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Tracks matched in the last update and confirmed.
    pub fn visible(&self) -> impl Iterator<Item = &Track> {
        self.tracks
            .iter()
            .filter(|t| t.state == TrackState::Confirmed)
    }

    /// Forgets everything (a new camera session: ids restart from where
    /// they were, so they never repeat within a run).
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.last_time = None;
    }

    /// Feeds the detections of a frame taken at `now` (seconds).
    pub fn update(&mut self, detections: &[Observation], now: f64) -> Changes {
        let cfg = self.config.clone();
        let dt = self.last_time.map_or(0.0, |t| (now - t).max(0.0)) as f32;
        self.last_time = Some(now);
        for t in &mut self.tracks {
            t.kalman.predict(dt);
        }
        let boxes: Vec<[f32; 4]> = self.tracks.iter().map(Track::bbox).collect();
        let buffers: Vec<f32> = self
            .tracks
            .iter()
            .map(|t| (cfg.buffer_per_s * (now - t.last_seen) as f32).clamp(0.0, cfg.max_buffer))
            .collect();
        let high: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].score >= cfg.high_score)
            .collect();
        let low: Vec<usize> = (0..detections.len())
            .filter(|&i| {
                detections[i].score < cfg.high_score && detections[i].score >= cfg.low_score
            })
            .collect();

        let active: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| self.tracks[i].state != TrackState::Tentative)
            .collect();
        let tentative: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| self.tracks[i].state == TrackState::Tentative)
            .collect();

        let mut matched_track = vec![false; self.tracks.len()];
        let mut matched_det = vec![false; detections.len()];
        let mut pairs = Vec::new();

        // 1. High detections ↔ confirmed and lost tracks.
        for (t, d) in assign(&active, &boxes, &buffers, &high, detections, cfg.match_iou) {
            pairs.push((t, d));
            matched_track[t] = true;
            matched_det[d] = true;
        }
        // 2. Remaining confirmed (not lost) tracks ↔ low detections.
        let rest: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&t| !matched_track[t] && self.tracks[t].state == TrackState::Confirmed)
            .collect();
        for (t, d) in assign(&rest, &boxes, &buffers, &low, detections, cfg.low_match_iou) {
            pairs.push((t, d));
            matched_track[t] = true;
            matched_det[d] = true;
        }
        // 3. Tentative tracks ↔ remaining high detections.
        let high_left: Vec<usize> = high.iter().copied().filter(|&d| !matched_det[d]).collect();
        for (t, d) in assign(
            &tentative,
            &boxes,
            &buffers,
            &high_left,
            detections,
            cfg.match_iou,
        ) {
            pairs.push((t, d));
            matched_track[t] = true;
            matched_det[d] = true;
        }

        let mut changes = Changes::default();
        for (t, d) in pairs {
            let track = &mut self.tracks[t];
            track.kalman.update(detections[d].bbox);
            track.score = detections[d].score;
            track.hits += 1;
            track.last_seen = now;
            if track.state != TrackState::Confirmed {
                if track.state == TrackState::Tentative {
                    changes.confirmed.push(track.id);
                }
                track.state = TrackState::Confirmed;
            }
        }
        // 4. Unmatched: tentative tracks die, confirmed ones become lost,
        //    lost ones expire.
        let ttl = f64::from(cfg.lost_ttl_s);
        let mut keep = Vec::with_capacity(self.tracks.len());
        for (i, mut t) in std::mem::take(&mut self.tracks).into_iter().enumerate() {
            if matched_track.get(i).copied().unwrap_or(false) {
                keep.push(t);
                continue;
            }
            match t.state {
                TrackState::Tentative => {}
                TrackState::Confirmed | TrackState::Lost => {
                    if now - t.last_seen > ttl {
                        changes.removed.push(t.id);
                    } else {
                        t.state = TrackState::Lost;
                        keep.push(t);
                    }
                }
            }
        }
        self.tracks = keep;
        // 5. New tentative tracks.
        for d in high.iter().copied().filter(|&d| !matched_det[d]) {
            if detections[d].score < cfg.new_track_score {
                continue;
            }
            self.tracks.push(Track {
                id: self.next_id,
                state: TrackState::Tentative,
                kalman: KalmanState::new(detections[d].bbox),
                score: detections[d].score,
                hits: 1,
                last_seen: now,
                first_seen: now,
            });
            self.next_id += 1;
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(x: f32, y: f32, score: f32) -> Observation {
        Observation {
            bbox: [x, y, x + 40.0, y + 100.0],
            score,
        }
    }

    fn run(tracker: &mut Tracker, frames: &[Vec<Observation>], fps: f64) -> Vec<Changes> {
        frames
            .iter()
            .enumerate()
            .map(|(i, f)| tracker.update(f, i as f64 / fps))
            .collect()
    }

    #[test]
    fn a_walking_person_keeps_one_id() {
        let mut t = Tracker::new(TrackerConfig::default());
        let frames: Vec<_> = (0..50)
            .map(|i| vec![obs(10.0 + 6.0 * i as f32, 100.0, 0.8)])
            .collect();
        let changes = run(&mut t, &frames, 10.0);
        assert_eq!(
            changes[0].confirmed,
            Vec::<u64>::new(),
            "one sighting is tentative"
        );
        assert_eq!(changes[1].confirmed, vec![1]);
        assert!(
            changes[2..]
                .iter()
                .all(|c| c.confirmed.is_empty() && c.removed.is_empty())
        );
        assert_eq!(t.visible().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn sparse_detections_of_a_fast_walker_keep_one_id_and_two_people_stay_apart() {
        // Detection every 3rd frame of a 10 fps camera (0.3 s apart): a
        // person 40 px wide moving 36 px between detections, whose boxes
        // barely overlap (IoU 0.05), so a fixed IoU gate would never
        // confirm the track.
        let mut t = Tracker::new(TrackerConfig::default());
        let frames: Vec<_> = (0..12)
            .map(|i| {
                vec![
                    obs(10.0 + 36.0 * i as f32, 100.0, 0.8),
                    // Someone standing 200 px below: never mixed up.
                    obs(200.0, 300.0, 0.8),
                ]
            })
            .collect();
        let changes = run(&mut t, &frames, 1.0 / 0.3);
        assert_eq!(
            changes[1].confirmed.len(),
            2,
            "both confirmed on their 2nd hit"
        );
        assert!(changes[2..].iter().all(|c| c.confirmed.is_empty()));
        assert_eq!(t.visible().count(), 2);
        let walker = t.visible().find(|k| k.bbox()[1] < 200.0).unwrap();
        assert!(
            walker.bbox()[0] > 300.0,
            "the walker's track followed: {:?}",
            walker.bbox()
        );
        // Without the buffer the walker is never confirmed.
        let mut fixed = Tracker::new(TrackerConfig {
            buffer_per_s: 0.0,
            ..Default::default()
        });
        let changes = run(&mut fixed, &frames, 1.0 / 0.3);
        let confirmed: usize = changes.iter().map(|c| c.confirmed.len()).sum();
        assert_eq!(confirmed, 1, "only the standing person");
        // One seen once 2 s ago does not grab a box far away.
        let mut t = Tracker::new(TrackerConfig::default());
        t.update(&[obs(10.0, 100.0, 0.8)], 0.0);
        let c = t.update(&[obs(400.0, 100.0, 0.8)], 2.0);
        assert!(
            c.confirmed.is_empty(),
            "a box 10 widths away is someone else"
        );
    }

    #[test]
    fn low_score_detections_keep_an_occluded_track_alive() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut frames: Vec<_> = (0..10)
            .map(|i| vec![obs(10.0 + 6.0 * i as f32, 100.0, 0.8)])
            .collect();
        // Partly hidden: the detector is unsure for five frames.
        frames.extend((10..15).map(|i| vec![obs(10.0 + 6.0 * i as f32, 100.0, 0.2)]));
        frames.extend((15..20).map(|i| vec![obs(10.0 + 6.0 * i as f32, 100.0, 0.8)]));
        run(&mut t, &frames, 10.0);
        assert_eq!(t.visible().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
        assert_eq!(t.tracks().len(), 1);
    }

    #[test]
    fn an_occlusion_gap_within_the_ttl_keeps_the_id() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut frames: Vec<_> = (0..10)
            .map(|i| vec![obs(10.0 + 6.0 * i as f32, 100.0, 0.8)])
            .collect();
        frames.extend((10..18).map(|_| vec![])); // 0.8 s behind a pillar
        frames.extend((18..25).map(|i| vec![obs(10.0 + 6.0 * i as f32, 100.0, 0.8)]));
        let changes = run(&mut t, &frames, 10.0);
        assert!(changes.iter().all(|c| c.removed.is_empty()));
        assert_eq!(t.visible().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn a_track_lost_beyond_the_ttl_is_removed_and_a_return_gets_a_new_id() {
        let mut t = Tracker::new(TrackerConfig::default());
        let mut frames: Vec<_> = (0..5).map(|_| vec![obs(100.0, 100.0, 0.8)]).collect();
        frames.extend((5..40).map(|_| vec![]));
        frames.extend((40..43).map(|_| vec![obs(100.0, 100.0, 0.8)]));
        let changes = run(&mut t, &frames, 10.0);
        let removed: Vec<u64> = changes.iter().flat_map(|c| c.removed.clone()).collect();
        assert_eq!(removed, vec![1]);
        assert_eq!(t.visible().map(|t| t.id).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn two_people_passing_each_other_keep_their_ids() {
        let mut t = Tracker::new(TrackerConfig::default());
        let frames: Vec<_> = (0..40)
            .map(|i| {
                let i = i as f32;
                vec![
                    obs(10.0 + 8.0 * i, 100.0, 0.8),
                    obs(330.0 - 8.0 * i, 130.0, 0.8),
                ]
            })
            .collect();
        run(&mut t, &frames[..5], 10.0);
        let left_id = t
            .visible()
            .min_by(|a, b| a.bbox()[0].total_cmp(&b.bbox()[0]))
            .map(|t| t.id)
            .unwrap();
        for (i, f) in frames.iter().enumerate().skip(5) {
            t.update(f, i as f64 / 10.0);
        }
        // After crossing, the person who started on the left is on the right.
        let right_now = t
            .visible()
            .max_by(|a, b| a.bbox()[0].total_cmp(&b.bbox()[0]))
            .unwrap();
        assert_eq!(right_now.id, left_id);
        assert_eq!(t.tracks().len(), 2);
    }

    #[test]
    fn skipped_frames_are_bridged_by_prediction() {
        // Detection every 3rd frame (dt = 0.3 s) at 60 px/s.
        let mut t = Tracker::new(TrackerConfig::default());
        for i in 0..20 {
            let time = i as f64 * 0.3;
            t.update(&[obs(10.0 + 60.0 * time as f32, 100.0, 0.8)], time);
        }
        assert_eq!(t.tracks().len(), 1);
        assert_eq!(t.visible().next().map(|t| t.id), Some(1));
    }

    #[test]
    fn weak_detections_never_start_tracks() {
        let mut t = Tracker::new(TrackerConfig::default());
        let frames: Vec<_> = (0..10).map(|_| vec![obs(100.0, 100.0, 0.2)]).collect();
        run(&mut t, &frames, 10.0);
        assert!(t.tracks().is_empty());
    }
}
