//! Which tracks get face work on a frame.
//!
//! Each visible track is due once per `interval` (stretched by the load
//! controller's slowdown, paused at slowdown 0). When more tracks are due
//! than one frame's budget allows, the ones waiting longest go first, so a
//! crowd is served in turn instead of the same few faces again and again.
//! Pure: times are the frame's `t` (seconds since start), no clock reads.

use std::collections::HashMap;

/// Per-track last face time and the budget per frame.
#[derive(Debug, Clone)]
pub struct FaceSchedule {
    interval_s: f64,
    max_per_frame: usize,
    last: HashMap<u64, f64>,
}

impl FaceSchedule {
    /// `interval_s` between two face jobs of one track; at most
    /// `max_per_frame` tracks per frame (at least one).
    pub fn new(interval_s: f64, max_per_frame: usize) -> Self {
        Self {
            interval_s,
            max_per_frame: max_per_frame.max(1),
            last: HashMap::new(),
        }
    }

    /// The tracks (id, box) due at `t`, longest-waiting first, and marks
    /// them served. `slowdown` multiplies the interval; 0 means paused.
    pub fn due(
        &mut self,
        t: f64,
        slowdown: u32,
        visible: &[(u64, [f32; 4])],
    ) -> Vec<(u64, [f32; 4])> {
        if slowdown == 0 {
            return Vec::new();
        }
        let interval = self.interval_s * f64::from(slowdown);
        let mut due: Vec<(f64, u64, [f32; 4])> = visible
            .iter()
            .filter_map(|&(id, b)| {
                let last = self.last.get(&id).copied().unwrap_or(f64::MIN);
                (t - last >= interval).then_some((last, id, b))
            })
            .collect();
        due.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        due.truncate(self.max_per_frame);
        for (_, id, _) in &due {
            self.last.insert(*id, t);
        }
        due.into_iter().map(|(_, id, b)| (id, b)).collect()
    }

    /// Forgets tracks that ended.
    pub fn forget(&mut self, ended: &[u64]) {
        for id in ended {
            self.last.remove(id);
        }
    }

    /// How many tracks it remembers (ended ones must not pile up).
    pub fn remembered(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: [f32; 4] = [0.0, 0.0, 10.0, 20.0];

    fn ids(v: &[(u64, [f32; 4])]) -> Vec<u64> {
        v.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn a_new_track_is_due_at_once_and_again_only_after_the_interval() {
        let mut s = FaceSchedule::new(1.0, 4);
        assert_eq!(ids(&s.due(10.0, 1, &[(7, B)])), vec![7]);
        assert!(s.due(10.5, 1, &[(7, B)]).is_empty());
        assert!(s.due(10.999, 1, &[(7, B)]).is_empty());
        assert_eq!(ids(&s.due(11.0, 1, &[(7, B)])), vec![7]);
    }

    #[test]
    fn the_slowdown_stretches_the_interval_and_zero_pauses_face_work() {
        let mut s = FaceSchedule::new(1.0, 4);
        assert_eq!(ids(&s.due(0.0, 3, &[(1, B)])), vec![1]);
        assert!(s.due(2.9, 3, &[(1, B)]).is_empty());
        assert_eq!(ids(&s.due(3.0, 3, &[(1, B)])), vec![1]);
        assert!(s.due(100.0, 0, &[(1, B), (2, B)]).is_empty());
        assert_eq!(s.remembered(), 1, "a paused frame serves nobody");
    }

    #[test]
    fn over_budget_the_longest_waiting_tracks_go_first_and_every_track_gets_its_turn() {
        let mut s = FaceSchedule::new(1.0, 2);
        let crowd: Vec<(u64, [f32; 4])> = (1..=5).map(|id| (id, B)).collect();
        let mut served = Vec::new();
        for frame in 0..3 {
            let t = 10.0 + f64::from(frame) * 1.0;
            let due = s.due(t, 1, &crowd);
            assert_eq!(due.len(), 2, "frame {frame}: the budget is two");
            served.extend(ids(&due));
        }
        // Never-served tracks (1..5) first, then the longest waiting.
        assert_eq!(served[..4], [1, 2, 3, 4]);
        assert_eq!(
            served[4], 5,
            "the last never-served track before any second turn"
        );
    }

    #[test]
    fn ended_tracks_are_forgotten() {
        let mut s = FaceSchedule::new(1.0, 4);
        s.due(0.0, 1, &[(1, B), (2, B)]);
        assert_eq!(s.remembered(), 2);
        s.forget(&[1, 2, 99]);
        assert_eq!(s.remembered(), 0);
    }

    #[test]
    fn a_zero_budget_still_serves_one_track() {
        let mut s = FaceSchedule::new(1.0, 0);
        assert_eq!(s.due(0.0, 1, &[(1, B), (2, B)]).len(), 1);
    }
}
