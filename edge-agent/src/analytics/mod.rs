//! Counting lines and zones over tracks, and the events they produce.
//!
//! Configuration is normalised (0..1) and projected to pixels for the
//! current frame size; a new configuration (pushed by central) replaces the
//! lines and zones while keeping the state of those whose geometry did not
//! change, so a config push does not double-count people mid-crossing.

pub mod line;
pub mod zone;

use std::collections::HashMap;

use atrium_proto::event::{EventBody, ZoneCount};
use atrium_proto::{LineConfig, ZoneConfig};

use line::{CountPolicy, Line, LineTrack, Pt};
use zone::{Zone, ZoneChange, ZoneState};

/// Which point of a box stands for the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Where the feet are: right for lines on the floor.
    #[default]
    BottomCentre,
    Centre,
}

impl Anchor {
    pub fn point(self, b: [f32; 4]) -> Pt {
        match self {
            Self::BottomCentre => [(b[0] + b[2]) / 2.0, b[3]],
            Self::Centre => [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0],
        }
    }
}

struct LineSlot {
    config: LineConfig,
    line: Line,
    tracks: HashMap<u64, LineTrack>,
}

struct ZoneSlot {
    config: ZoneConfig,
    zone: Zone,
    state: ZoneState,
}

/// Lines, zones and their per-track state.
pub struct Analytics {
    anchor: Anchor,
    policy: CountPolicy,
    /// Dead band around lines, in pixels at the current frame size.
    hysteresis_px: f32,
    size: (u32, u32),
    lines: Vec<LineSlot>,
    zones: Vec<ZoneSlot>,
}

impl std::fmt::Debug for Analytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analytics")
            .field("lines", &self.lines.len())
            .field("zones", &self.zones.len())
            .field("size", &self.size)
            .finish()
    }
}

fn project(p: [f32; 2], (w, h): (u32, u32)) -> Pt {
    [p[0] * w as f32, p[1] * h as f32]
}

impl Analytics {
    pub fn new(anchor: Anchor, hysteresis_px: f32, policy: CountPolicy) -> Self {
        Self {
            anchor,
            policy,
            hysteresis_px,
            size: (1, 1),
            lines: Vec::new(),
            zones: Vec::new(),
        }
    }

    fn make_line(&self, c: &LineConfig) -> Line {
        Line {
            id: c.id.clone(),
            a: project(c.a, self.size),
            b: project(c.b, self.size),
            in_side: c.in_side,
            hysteresis: self.hysteresis_px,
            policy: self.policy,
        }
    }

    fn make_zone(&self, c: &ZoneConfig) -> Zone {
        Zone {
            id: c.id.clone(),
            polygon: c.polygon.iter().map(|p| project(*p, self.size)).collect(),
            max_occupancy: c.max_occupancy,
            restricted: c.restricted,
        }
    }

    /// Replaces lines and zones; unchanged ones keep their state.
    pub fn configure(&mut self, lines: &[LineConfig], zones: &[ZoneConfig]) {
        let mut old_lines: HashMap<String, LineSlot> = self
            .lines
            .drain(..)
            .map(|s| (s.config.id.clone(), s))
            .collect();
        self.lines = lines
            .iter()
            .map(|c| match old_lines.remove(&c.id) {
                Some(slot) if slot.config == *c => slot,
                _ => LineSlot {
                    config: c.clone(),
                    line: self.make_line(c),
                    tracks: HashMap::new(),
                },
            })
            .collect();
        let mut old_zones: HashMap<String, ZoneSlot> = self
            .zones
            .drain(..)
            .map(|s| (s.config.id.clone(), s))
            .collect();
        self.zones = zones
            .iter()
            .map(|c| match old_zones.remove(&c.id) {
                Some(slot) if slot.config == *c => slot,
                _ => ZoneSlot {
                    config: c.clone(),
                    zone: self.make_zone(c),
                    state: ZoneState::default(),
                },
            })
            .collect();
    }

    /// Sets the frame size (pixels); re-projects when it changes.
    pub fn set_frame_size(&mut self, w: u32, h: u32) {
        if self.size == (w, h) {
            return;
        }
        self.size = (w, h);
        for i in 0..self.lines.len() {
            self.lines[i].line = self.make_line(&self.lines[i].config);
        }
        for i in 0..self.zones.len() {
            self.zones[i].zone = self.make_zone(&self.zones[i].config);
        }
    }

    /// Feeds visible tracks (id, box) and ended track ids at time `now`
    /// (seconds); returns the events.
    pub fn update(
        &mut self,
        visible: &[(u64, [f32; 4])],
        ended: &[u64],
        now: f64,
    ) -> Vec<EventBody> {
        let anchors: Vec<(u64, Pt)> = visible
            .iter()
            .map(|(id, b)| (*id, self.anchor.point(*b)))
            .collect();
        let mut out = Vec::new();
        for slot in &mut self.lines {
            for (track, p) in &anchors {
                let state = slot.tracks.entry(*track).or_default();
                if let Some(direction) = slot.line.observe(state, *p) {
                    out.push(EventBody::LineCrossed {
                        line: slot.line.id.clone(),
                        direction,
                        track: *track,
                    });
                }
            }
            for t in ended {
                slot.tracks.remove(t);
            }
        }
        for slot in &mut self.zones {
            for change in slot.state.update(&slot.zone, &anchors, ended, now) {
                let zone = slot.zone.id.clone();
                out.push(match change {
                    ZoneChange::Entered { track } => EventBody::ZoneEntered { zone, track },
                    ZoneChange::Exited { track, dwell_s } => EventBody::ZoneExited {
                        zone,
                        track,
                        dwell_s,
                    },
                    ZoneChange::Violation(violation) => {
                        EventBody::ZoneViolation { zone, violation }
                    }
                });
            }
        }
        out
    }

    /// The periodic occupancy snapshot.
    pub fn occupancy(&self, in_view: u32) -> EventBody {
        EventBody::Occupancy {
            in_view,
            zones: self
                .zones
                .iter()
                .map(|s| ZoneCount {
                    zone: s.zone.id.clone(),
                    count: s.state.occupancy(),
                })
                .collect(),
        }
    }

    /// Lines in pixels (for drawing on snapshots).
    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().map(|s| &s.line)
    }

    /// Zones in pixels.
    pub fn zones(&self) -> impl Iterator<Item = &Zone> {
        self.zones.iter().map(|s| &s.zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atrium_proto::{Direction, Side};

    fn door() -> LineConfig {
        LineConfig {
            id: "door".into(),
            name: None,
            a: [0.5, 0.0],
            b: [0.5, 1.0],
            in_side: Side::Left,
        }
    }

    #[test]
    fn lines_count_in_frame_pixels_after_projection() {
        let mut a = Analytics::new(Anchor::BottomCentre, 4.0, CountPolicy::Alternate);
        a.set_frame_size(200, 100);
        a.configure(&[door()], &[]);
        let mut events = Vec::new();
        for (i, x) in [60.0, 80.0, 120.0, 140.0].into_iter().enumerate() {
            events.extend(a.update(&[(5, [x - 10.0, 40.0, x + 10.0, 90.0])], &[], i as f64));
        }
        assert_eq!(
            events,
            vec![EventBody::LineCrossed {
                line: "door".into(),
                direction: Direction::In,
                track: 5
            }]
        );
    }

    #[test]
    fn reconfiguring_keeps_state_of_unchanged_lines_and_resets_changed_ones() {
        let mut a = Analytics::new(Anchor::BottomCentre, 4.0, CountPolicy::Alternate);
        a.set_frame_size(200, 100);
        a.configure(&[door()], &[]);
        a.update(&[(5, [50.0, 40.0, 70.0, 90.0])], &[], 0.0);
        // Same config pushed again mid-crossing: still counts.
        a.configure(&[door()], &[]);
        assert_eq!(
            a.update(&[(5, [130.0, 40.0, 150.0, 90.0])], &[], 1.0).len(),
            1
        );
        // A moved line starts fresh.
        let mut moved = door();
        moved.a = [0.8, 0.0];
        moved.b = [0.8, 1.0];
        a.configure(&[moved], &[]);
        assert!(
            a.update(&[(5, [170.0, 40.0, 190.0, 90.0])], &[], 2.0)
                .is_empty()
        );
    }

    #[test]
    fn occupancy_lists_every_zone() {
        let mut a = Analytics::new(Anchor::Centre, 4.0, CountPolicy::Alternate);
        a.set_frame_size(100, 100);
        let z = ZoneConfig {
            id: "left".into(),
            name: None,
            polygon: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]],
            max_occupancy: None,
            restricted: false,
        };
        a.configure(&[], &[z]);
        for t in 0..2 {
            a.update(
                &[(1, [10.0, 10.0, 20.0, 20.0]), (2, [70.0, 10.0, 80.0, 20.0])],
                &[],
                f64::from(t),
            );
        }
        assert_eq!(
            a.occupancy(2),
            EventBody::Occupancy {
                in_view: 2,
                zones: vec![ZoneCount {
                    zone: "left".into(),
                    count: 1
                }]
            }
        );
    }
}
