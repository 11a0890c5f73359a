//! Counting lines.
//!
//! A line is a segment a→b and the side people enter by. A track's anchor
//! point (bottom centre of its box: where the feet are) is classified as
//! left or right of the line, with a dead band of `hysteresis` pixels on
//! either side where the previous side is kept, so feet jittering on the
//! line do not count. A change of side counts when the movement crosses the
//! segment itself (not its extension), once per track per direction.

use atrium_proto::{Direction, Side};

/// A point in frame pixels.
pub type Pt = [f32; 2];

/// How many times one track may be counted on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountPolicy {
    /// Every crossing, as long as a track's counts alternate direction.
    #[default]
    Alternate,
    /// At most one IN and one OUT per track.
    OncePerDirection,
}

/// A line in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub id: String,
    pub a: Pt,
    pub b: Pt,
    pub in_side: Side,
    pub hysteresis: f32,
    pub policy: CountPolicy,
}

/// What a line remembers about one track.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineTrack {
    /// Side of the last anchor outside the dead band, and that anchor.
    last: Option<(Side, Pt)>,
    last_count: Option<Direction>,
    counted_in: bool,
    counted_out: bool,
}

impl Line {
    /// Signed distance of `p` from the line in pixels: positive on the
    /// right looking from a to b on screen (image y grows downwards).
    pub fn signed_distance(&self, p: Pt) -> f32 {
        let (dx, dy) = (self.b[0] - self.a[0], self.b[1] - self.a[1]);
        let len = (dx * dx + dy * dy).sqrt().max(1e-6);
        (dx * (p[1] - self.a[1]) - dy * (p[0] - self.a[0])) / len
    }

    fn side(&self, p: Pt) -> Option<Side> {
        let d = self.signed_distance(p);
        if d > self.hysteresis {
            Some(Side::Right)
        } else if d < -self.hysteresis {
            Some(Side::Left)
        } else {
            None
        }
    }

    /// Whether moving from `p` to `q` (on opposite sides) crosses the
    /// segment between a and b.
    fn crosses_segment(&self, p: Pt, q: Pt) -> bool {
        let (dp, dq) = (self.signed_distance(p), self.signed_distance(q));
        let f = dp / (dp - dq);
        let i = [p[0] + (q[0] - p[0]) * f, p[1] + (q[1] - p[1]) * f];
        let (dx, dy) = (self.b[0] - self.a[0], self.b[1] - self.a[1]);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        let t = ((i[0] - self.a[0]) * dx + (i[1] - self.a[1]) * dy) / len2;
        let tol = self.hysteresis / len2.sqrt();
        (-tol..=1.0 + tol).contains(&t)
    }

    /// Feeds the track's current anchor; returns a direction when this
    /// observation completes a counted crossing.
    pub fn observe(&self, state: &mut LineTrack, anchor: Pt) -> Option<Direction> {
        let side = self.side(anchor)?;
        let previous = state.last.replace((side, anchor));
        let (prev_side, prev_pt) = previous?;
        if prev_side == side || !self.crosses_segment(prev_pt, anchor) {
            return None;
        }
        let direction = if side == self.in_side {
            Direction::In
        } else {
            Direction::Out
        };
        let counted = match direction {
            Direction::In => &mut state.counted_in,
            Direction::Out => &mut state.counted_out,
        };
        let allowed = match self.policy {
            CountPolicy::Alternate => state.last_count != Some(direction),
            CountPolicy::OncePerDirection => !*counted,
        };
        if !allowed {
            return None;
        }
        *counted = true;
        state.last_count = Some(direction);
        Some(direction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vertical line x = 100 from y = 0 to y = 200; IN is moving right.
    fn door() -> Line {
        Line {
            id: "door".into(),
            a: [100.0, 0.0],
            b: [100.0, 200.0],
            in_side: Side::Left,
            hysteresis: 5.0,
            policy: CountPolicy::Alternate,
        }
    }

    fn walk(line: &Line, xs: &[f32], y: f32) -> Vec<Direction> {
        let mut s = LineTrack::default();
        xs.iter()
            .filter_map(|&x| line.observe(&mut s, [x, y]))
            .collect()
    }

    #[test]
    fn sides_follow_screen_orientation() {
        let l = door();
        // Looking from (100,0) down to (100,200), screen-left is +x.
        assert!(l.signed_distance([150.0, 50.0]) < 0.0);
        assert_eq!(l.side([150.0, 50.0]), Some(Side::Left));
        assert_eq!(l.side([50.0, 50.0]), Some(Side::Right));
        assert_eq!(l.side([102.0, 50.0]), None);
    }

    #[test]
    fn crossing_each_way_counts_in_and_out() {
        let l = door();
        assert_eq!(
            walk(&l, &[60.0, 80.0, 95.0, 110.0, 130.0], 100.0),
            vec![Direction::In]
        );
        assert_eq!(
            walk(&l, &[130.0, 110.0, 90.0, 60.0], 100.0),
            vec![Direction::Out]
        );
    }

    #[test]
    fn jitter_on_the_line_does_not_count() {
        let l = door();
        // Feet wobbling within the dead band, never clearly across.
        assert_eq!(
            walk(&l, &[90.0, 97.0, 103.0, 98.0, 104.0, 96.0, 90.0], 100.0),
            vec![]
        );
        // Wobbling, then really crossing: one count.
        assert_eq!(
            walk(&l, &[90.0, 97.0, 103.0, 98.0, 104.0, 120.0], 100.0),
            vec![Direction::In]
        );
    }

    #[test]
    fn walking_back_and_forth_counts_every_crossing_by_default() {
        let l = door();
        let back_and_forth = [80.0, 120.0, 80.0, 120.0, 80.0];
        assert_eq!(
            walk(&l, &back_and_forth, 100.0),
            vec![Direction::In, Direction::Out, Direction::In, Direction::Out]
        );
    }

    #[test]
    fn once_per_direction_policy_counts_each_direction_once() {
        let l = Line {
            policy: CountPolicy::OncePerDirection,
            ..door()
        };
        let back_and_forth = [80.0, 120.0, 80.0, 120.0, 80.0];
        assert_eq!(
            walk(&l, &back_and_forth, 100.0),
            vec![Direction::In, Direction::Out]
        );
    }

    #[test]
    fn the_same_direction_never_counts_twice_in_a_row() {
        // A track that reappears on the far side without having been seen
        // crossing back (a re-detection jump) does not count IN again.
        let l = door();
        let mut s = LineTrack::default();
        assert_eq!(l.observe(&mut s, [80.0, 100.0]), None);
        assert_eq!(l.observe(&mut s, [120.0, 100.0]), Some(Direction::In));
        // Back on the left by passing beyond the segment's end (no count),
        // then crossing rightwards again over the segment: no second IN.
        assert_eq!(l.observe(&mut s, [80.0, 400.0]), None);
        assert_eq!(l.observe(&mut s, [80.0, 150.0]), None);
        assert_eq!(l.observe(&mut s, [120.0, 150.0]), None);
        // A real crossing back is counted.
        assert_eq!(l.observe(&mut s, [80.0, 150.0]), Some(Direction::Out));
    }

    #[test]
    fn passing_beyond_the_end_of_the_segment_does_not_count() {
        let l = door();
        assert_eq!(walk(&l, &[60.0, 140.0], 260.0), vec![]);
        assert_eq!(walk(&l, &[60.0, 140.0], 190.0), vec![Direction::In]);
    }

    #[test]
    fn a_gap_in_observations_still_counts_the_crossing() {
        // The track is predicted through an occlusion: the next anchor is far
        // on the other side.
        let l = door();
        assert_eq!(walk(&l, &[40.0, 60.0, 180.0], 100.0), vec![Direction::In]);
    }
}
