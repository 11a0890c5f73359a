//! Zones: polygons with occupancy, dwell time and violations.
//!
//! A track is inside when its anchor is inside the polygon for two
//! consecutive observations (and outside likewise), which keeps a person
//! standing on the border from flickering in and out.

use std::collections::HashMap;

use atrium_proto::event::Violation;

use super::line::Pt;

/// A zone in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub id: String,
    pub polygon: Vec<Pt>,
    pub max_occupancy: Option<u32>,
    pub restricted: bool,
}

/// Something that happened in a zone.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoneChange {
    Entered { track: u64 },
    Exited { track: u64, dwell_s: f64 },
    Violation(Violation),
}

#[derive(Debug, Clone, Default)]
struct Member {
    inside: bool,
    since: f64,
    /// Consecutive observations disagreeing with `inside`.
    flips: u8,
}

/// A zone's state.
#[derive(Debug, Clone, Default)]
pub struct ZoneState {
    members: HashMap<u64, Member>,
    over_limit: bool,
}

/// Ray casting point-in-polygon.
pub fn contains(polygon: &[Pt], p: Pt) -> bool {
    let mut inside = false;
    let n = polygon.len();
    for i in 0..n {
        let (a, b) = (polygon[i], polygon[(i + n - 1) % n]);
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
            if p[0] < x {
                inside = !inside;
            }
        }
    }
    inside
}

impl ZoneState {
    /// People inside now.
    pub fn occupancy(&self) -> u32 {
        self.members.values().filter(|m| m.inside).count() as u32
    }

    /// Feeds the visible tracks' anchors and the tracks that ended.
    pub fn update(
        &mut self,
        zone: &Zone,
        anchors: &[(u64, Pt)],
        ended: &[u64],
        now: f64,
    ) -> Vec<ZoneChange> {
        let mut out = Vec::new();
        for &(track, p) in anchors {
            let now_inside = contains(&zone.polygon, p);
            let m = self.members.entry(track).or_insert(Member {
                inside: false,
                since: now,
                flips: 0,
            });
            if now_inside == m.inside {
                m.flips = 0;
                continue;
            }
            m.flips += 1;
            if m.flips < 2 {
                continue;
            }
            m.flips = 0;
            m.inside = now_inside;
            if now_inside {
                m.since = now;
                out.push(ZoneChange::Entered { track });
                if zone.restricted {
                    out.push(ZoneChange::Violation(Violation::RestrictedEntry { track }));
                }
            } else {
                out.push(ZoneChange::Exited {
                    track,
                    dwell_s: now - m.since,
                });
            }
        }
        for track in ended {
            if let Some(m) = self.members.remove(track)
                && m.inside
            {
                out.push(ZoneChange::Exited {
                    track: *track,
                    dwell_s: now - m.since,
                });
            }
        }
        if let Some(max) = zone.max_occupancy {
            let occupancy = self.occupancy();
            if occupancy > max && !self.over_limit {
                self.over_limit = true;
                out.push(ZoneChange::Violation(Violation::MaxOccupancy {
                    occupancy,
                    max,
                }));
            } else if occupancy <= max {
                self.over_limit = false;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(max: Option<u32>, restricted: bool) -> Zone {
        Zone {
            id: "z".into(),
            polygon: vec![[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]],
            max_occupancy: max,
            restricted,
        }
    }

    #[test]
    fn point_in_polygon() {
        let z = square(None, false);
        assert!(contains(&z.polygon, [50.0, 50.0]));
        assert!(!contains(&z.polygon, [150.0, 50.0]));
        let concave = vec![
            [0.0, 0.0],
            [100.0, 0.0],
            [100.0, 100.0],
            [50.0, 50.0],
            [0.0, 100.0],
        ];
        assert!(!contains(&concave, [50.0, 90.0]));
        assert!(contains(&concave, [20.0, 30.0]));
    }

    #[test]
    fn entering_and_leaving_report_dwell() {
        let z = square(None, false);
        let mut s = ZoneState::default();
        let mut changes = Vec::new();
        for (i, x) in [-20.0, 10.0, 20.0, 30.0, 60.0, 120.0, 130.0]
            .into_iter()
            .enumerate()
        {
            changes.extend(s.update(&z, &[(1, [x, 50.0])], &[], i as f64));
        }
        assert_eq!(
            changes,
            vec![
                ZoneChange::Entered { track: 1 },
                ZoneChange::Exited {
                    track: 1,
                    dwell_s: 4.0
                }
            ]
        );
    }

    #[test]
    fn a_single_flicker_across_the_border_is_ignored() {
        let z = square(None, false);
        let mut s = ZoneState::default();
        let mut changes = Vec::new();
        for (i, x) in [-5.0, 5.0, -5.0, -5.0].into_iter().enumerate() {
            changes.extend(s.update(&z, &[(1, [x, 50.0])], &[], i as f64));
        }
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn a_track_ending_inside_exits() {
        let z = square(None, false);
        let mut s = ZoneState::default();
        s.update(&z, &[(1, [50.0, 50.0])], &[], 0.0);
        s.update(&z, &[(1, [50.0, 50.0])], &[], 1.0);
        assert_eq!(s.occupancy(), 1);
        let c = s.update(&z, &[], &[1], 5.0);
        assert_eq!(
            c,
            vec![ZoneChange::Exited {
                track: 1,
                dwell_s: 4.0
            }]
        );
        assert_eq!(s.occupancy(), 0);
    }

    #[test]
    fn max_occupancy_violation_is_raised_once_per_excursion() {
        let z = square(Some(1), false);
        let mut s = ZoneState::default();
        let two = [(1, [10.0, 10.0]), (2, [20.0, 20.0])];
        let mut v = Vec::new();
        for t in 0..4 {
            v.extend(s.update(&z, &two, &[], f64::from(t)));
        }
        let violations: Vec<_> = v
            .iter()
            .filter(|c| matches!(c, ZoneChange::Violation(_)))
            .collect();
        assert_eq!(
            violations,
            vec![&ZoneChange::Violation(Violation::MaxOccupancy {
                occupancy: 2,
                max: 1
            })]
        );
        // One leaves, comes back: a second violation.
        s.update(&z, &[(1, [10.0, 10.0])], &[2], 4.0);
        let again = s.update(&z, &[(1, [10.0, 10.0]), (3, [30.0, 30.0])], &[], 5.0);
        assert!(again.is_empty(), "needs two observations to enter");
        let again = s.update(&z, &[(1, [10.0, 10.0]), (3, [30.0, 30.0])], &[], 6.0);
        assert!(
            again.contains(&ZoneChange::Violation(Violation::MaxOccupancy {
                occupancy: 2,
                max: 1
            }))
        );
    }

    #[test]
    fn entering_a_restricted_zone_is_a_violation() {
        let z = square(None, true);
        let mut s = ZoneState::default();
        s.update(&z, &[(9, [50.0, 50.0])], &[], 0.0);
        let c = s.update(&z, &[(9, [50.0, 50.0])], &[], 1.0);
        assert_eq!(
            c,
            vec![
                ZoneChange::Entered { track: 9 },
                ZoneChange::Violation(Violation::RestrictedEntry { track: 9 })
            ]
        );
    }
}
