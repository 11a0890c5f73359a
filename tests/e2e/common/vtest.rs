//! The counting ground truth of vtest.avi (tests/fixtures/
//! vtest_line_road.expected.json, established by hand) and how a run's
//! crossings are scored against it. Shared by the RTSP test (every frame,
//! real time) and the replay test (every Nth frame).

use atrium_proto::Direction;
use atrium_testkit::fixture;
use serde::Deserialize;

/// vtest.avi frames are 100 ms apart.
pub const FRAME_MS: i64 = 100;
pub const VTEST_FRAMES: i64 = 795;

#[derive(Deserialize)]
pub struct GroundTruth {
    pub line: GtLine,
    pub crossings: Vec<GtCrossing>,
}

#[derive(Deserialize)]
pub struct GtLine {
    pub id: String,
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub in_side: String,
}

#[derive(Deserialize)]
pub struct GtCrossing {
    pub frame: i64,
    pub direction: Direction,
}

pub fn ground_truth() -> GroundTruth {
    let text = std::fs::read_to_string(fixture("vtest_line_road.expected.json").unwrap()).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The line as a `[[lines]]` table of the edge configuration.
pub fn line_toml(gt: &GroundTruth) -> String {
    format!(
        "[[lines]]\nid = \"{}\"\na = [{}, {}]\nb = [{}, {}]\nin_side = \"{}\"\n",
        gt.line.id, gt.line.a[0], gt.line.a[1], gt.line.b[0], gt.line.b[1], gt.line.in_side
    )
}

/// How a run's crossings compare with the ground truth.
pub struct Score {
    /// Ground-truth crossings no crossing of the run matched.
    pub missed: Vec<(i64, Direction)>,
    /// Crossings of the run that match no ground-truth crossing.
    pub extra: Vec<(i64, Direction)>,
    pub ours_in: usize,
    pub ours_out: usize,
    pub gt_in: usize,
    pub gt_out: usize,
}

impl Score {
    pub fn miscounts(&self) -> usize {
        self.missed.len() + self.extra.len()
    }

    /// The tolerance every detection rate is held to: a tenth of the
    /// ground truth's crossings.
    pub fn allowed(&self) -> usize {
        (self.gt_in + self.gt_out) / 10
    }

    /// Fails the test when the run miscounted more than [`Self::allowed`];
    /// `ours` is every crossing of the run, for the message.
    pub fn assert_within_tolerance(&self, ours: &[(i64, Direction)]) {
        assert!(
            self.miscounts() <= self.allowed(),
            "{} miscounts (allowed {}): missed {:?}, extra {:?}; all ours: {ours:?}",
            self.miscounts(),
            self.allowed(),
            self.missed,
            self.extra
        );
    }
}

/// Matches `ours` (frame, direction) to the ground truth: same direction,
/// within 15 frames (the truth is ±3 frames), nearest first.
pub fn score(gt: &GroundTruth, ours: &[(i64, Direction)]) -> Score {
    let mut unmatched: Vec<&GtCrossing> = gt.crossings.iter().collect();
    let mut extra = Vec::new();
    for (frame, dir) in ours {
        let best = unmatched
            .iter()
            .enumerate()
            .filter(|(_, g)| g.direction == *dir && (g.frame - frame).abs() <= 15)
            .min_by_key(|(_, g)| (g.frame - frame).abs())
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                unmatched.remove(i);
            }
            None => extra.push((*frame, *dir)),
        }
    }
    let count = |v: &[(i64, Direction)], d: Direction| v.iter().filter(|c| c.1 == d).count();
    let gt_in = gt
        .crossings
        .iter()
        .filter(|c| c.direction == Direction::In)
        .count();
    Score {
        missed: unmatched.iter().map(|g| (g.frame, g.direction)).collect(),
        extra,
        ours_in: count(ours, Direction::In),
        ours_out: count(ours, Direction::Out),
        gt_in,
        gt_out: gt.crossings.len() - gt_in,
    }
}
