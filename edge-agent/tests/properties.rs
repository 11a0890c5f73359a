//! Property tests of the pure cores: lines never double-count, the tracker
//! keeps one id per walker through detector dropouts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashSet;

use atrium_proto::{Direction, Side};
use edge_agent::analytics::line::{CountPolicy, Line, LineTrack};
use edge_agent::track::{Observation, Tracker, TrackerConfig};
use proptest::prelude::*;

fn door() -> Line {
    Line {
        id: "door".into(),
        a: [300.0, 0.0],
        b: [300.0, 400.0],
        in_side: Side::Left,
        hysteresis: 6.0,
        policy: CountPolicy::Alternate,
    }
}

proptest! {
    /// Walking straight across with jittery feet (less than the dead band)
    /// counts exactly once, in the walking direction.
    #[test]
    fn a_jittery_straight_crossing_counts_exactly_once(
        start in 100.0f32..250.0,
        end in 350.0f32..500.0,
        steps in 5usize..60,
        jitter in proptest::collection::vec(-5.5f32..5.5, 60),
        y in 20.0f32..380.0,
        rightwards in any::<bool>(),
    ) {
        let line = door();
        let mut state = LineTrack::default();
        let (from, to) = if rightwards { (start, end) } else { (end, start) };
        let mut counts = Vec::new();
        for i in 0..=steps {
            let x = from + (to - from) * i as f32 / steps as f32 + jitter[i % jitter.len()];
            if let Some(d) = line.observe(&mut state, [x, y]) {
                counts.push(d);
            }
        }
        let expected = if rightwards { Direction::In } else { Direction::Out };
        prop_assert_eq!(counts, vec![expected]);
    }

    /// Any path whatsoever: counts alternate direction, and their number
    /// is the number of real crossings (side changes beyond the dead band
    /// over the segment); with the once-per-direction policy at most one
    /// each way.
    #[test]
    fn any_path_counts_alternate_and_match_real_crossings(
        xs in proptest::collection::vec(0.0f32..600.0, 1..200),
        y in 0.0f32..400.0,
    ) {
        let line = door();
        let mut state = LineTrack::default();
        let counts: Vec<Direction> = xs.iter().filter_map(|&x| line.observe(&mut state, [x, y])).collect();
        prop_assert!(counts.windows(2).all(|w| w[0] != w[1]));
        // Real crossings: side changes between points clearly off the line.
        let sides: Vec<bool> = xs.iter().filter(|&&x| (x - 300.0).abs() > 6.0).map(|&x| x > 300.0).collect();
        let crossings = sides.windows(2).filter(|w| w[0] != w[1]).count();
        prop_assert_eq!(counts.len(), crossings);

        let strict = Line { policy: CountPolicy::OncePerDirection, ..door() };
        let mut state = LineTrack::default();
        let counts: Vec<Direction> = xs.iter().filter_map(|&x| strict.observe(&mut state, [x, y])).collect();
        prop_assert!(counts.iter().filter(|d| **d == Direction::In).count() <= 1);
        prop_assert!(counts.iter().filter(|d| **d == Direction::Out).count() <= 1);
    }

    /// Walkers in separate lanes keep one id each although the detector
    /// misses them now and then (gaps shorter than the lost-track TTL) and
    /// sometimes reports them with low confidence.
    #[test]
    fn walkers_keep_one_id_through_dropouts(
        walkers in proptest::collection::vec((10.0f32..200.0, -40.0f32..40.0), 1..5),
        misses in proptest::collection::vec(0u8..10, 80),
    ) {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let fps = 10.0;
        let mut ids_per_walker: Vec<HashSet<u64>> = vec![HashSet::new(); walkers.len()];
        for frame in 0..80usize {
            let t = frame as f64 / fps;
            let mut obs = Vec::new();
            for (w, (x0, speed)) in walkers.iter().enumerate() {
                // Miss pattern per walker: skip when the rolled value is 0.
                if misses[(frame + 3 * w) % misses.len()] == 0 {
                    continue;
                }
                let score = if misses[(frame + 5 * w) % misses.len()] == 1 { 0.2 } else { 0.8 };
                let x = x0 + speed * t as f32;
                let y = 50.0 + 150.0 * w as f32; // separate lanes
                obs.push(Observation { bbox: [x, y, x + 40.0, y + 100.0], score });
            }
            tracker.update(&obs, t);
            for track in tracker.visible() {
                let b = track.bbox();
                let lane = ((b[1] - 50.0) / 150.0).round() as usize;
                if lane < walkers.len() {
                    ids_per_walker[lane].insert(track.id);
                }
            }
        }
        for (w, ids) in ids_per_walker.iter().enumerate() {
            prop_assert!(ids.len() <= 1, "walker {} had ids {:?}", w, ids);
        }
    }
}
