//! The newest state of every device part (a meter, a lift, a lighting
//! circuit, a door, a fire zone), merged from a batch's points before it
//! is stored: the status endpoints read one row per part instead of
//! searching the readings' hypertables for the newest row of each.
//!
//! Points may leave values out (a lift reporting only its floor), so the
//! readings are merged: a newer point's values replace older ones, the
//! values it leaves out keep what came before. A part's state (a fire
//! zone's state, a lift's mode, a circuit on or off, a door's state) also
//! records since when it holds, which is when the newest run of that
//! state began: a batch may hold a whole alarm and its end, so the merge
//! starts from the stored present, and points not newer than it (late
//! ones) do not change the present. The database applies the merged row
//! only over an older one, so of two instances racing on one part the
//! newer present wins (its `state_since` may then miss the other's
//! points: rare, and corrected by the next change).

use chrono::{DateTime, Utc};

/// One point's contribution to a part.
#[derive(Debug, Clone, PartialEq)]
pub struct PartPoint {
    pub device: String,
    /// The circuit, door or zone; "" for a meter or a lift.
    pub part: String,
    /// power, lighting, lift, door or fire.
    pub family: &'static str,
    pub ts: DateTime<Utc>,
    pub state: Option<String>,
    pub readings: serde_json::Map<String, serde_json::Value>,
}

/// A part's merged present, as of its newest point.
#[derive(Debug, Clone, PartialEq)]
pub struct PartNow {
    pub device: String,
    pub part: String,
    pub family: &'static str,
    pub ts: DateTime<Utc>,
    pub state: Option<String>,
    /// When the newest run of `state` began (among these points).
    pub state_since: Option<DateTime<Utc>>,
    pub readings: serde_json::Map<String, serde_json::Value>,
}

/// The families' names as stored (`device_parts_current.family`).
pub const FAMILIES: [&str; 5] = ["power", "lighting", "lift", "door", "fire"];

/// A stored family name as the static one ("" for one this code does not
/// know, which the table's check constraint rules out).
pub fn family(name: &str) -> &'static str {
    FAMILIES.into_iter().find(|f| *f == name).unwrap_or("")
}

/// The stored presents, by (device, part).
pub type Stored = std::collections::HashMap<(String, String), PartNow>;

/// Merges points into one present per (device, part), starting from the
/// stored present; parts whose points are all no newer than it are left
/// out (nothing to change).
pub fn merge(mut points: Vec<PartPoint>, stored: &Stored) -> Vec<PartNow> {
    points.sort_by(|a, b| (&a.device, &a.part, a.ts).cmp(&(&b.device, &b.part, b.ts)));
    let mut out: Vec<PartNow> = Vec::new();
    for p in points {
        let same = out
            .last()
            .is_some_and(|n| n.device == p.device && n.part == p.part);
        if !same {
            let prior = stored.get(&(p.device.clone(), p.part.clone()));
            let start = match prior {
                Some(n) => n.clone(),
                None => PartNow {
                    device: p.device.clone(),
                    part: p.part.clone(),
                    family: p.family,
                    ts: DateTime::<Utc>::MIN_UTC,
                    state: None,
                    state_since: None,
                    readings: serde_json::Map::new(),
                },
            };
            out.push(start);
        }
        if let Some(n) = out.last_mut() {
            if p.ts <= n.ts {
                continue; // late: history only
            }
            n.ts = p.ts;
            n.family = p.family;
            if let Some(s) = p.state
                && n.state.as_ref() != Some(&s)
            {
                n.state = Some(s);
                n.state_since = Some(p.ts);
            }
            n.readings.extend(p.readings);
        }
    }
    // Unchanged: every point was late.
    out.retain(|n| {
        stored
            .get(&(n.device.clone(), n.part.clone()))
            .is_none_or(|s| n.ts > s.ts)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_765_094_400 + s, 0).unwrap()
    }

    fn lift(s: i64, state: Option<&str>, v: serde_json::Value) -> PartPoint {
        PartPoint {
            device: "lift-a".into(),
            part: String::new(),
            family: "lift",
            ts: at(s),
            state: state.map(str::to_owned),
            readings: v.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn values_merge_and_the_state_dates_from_its_newest_run() {
        // Given out of order: the merge sorts by time.
        let now = merge(
            vec![
                lift(30, None, json!({"floor": 5})),
                lift(
                    0,
                    Some("normal"),
                    json!({"floor": 3, "mode": "normal", "trips": 10}),
                ),
                lift(20, Some("fault"), json!({"mode": "fault"})),
                lift(10, Some("fault"), json!({"floor": 4, "mode": "fault"})),
            ],
            &Stored::new(),
        );
        assert_eq!(now.len(), 1);
        let n = &now[0];
        assert_eq!(n.ts, at(30));
        assert_eq!(n.state.as_deref(), Some("fault"));
        assert_eq!(n.state_since, Some(at(10)));
        assert_eq!(
            serde_json::Value::Object(n.readings.clone()),
            json!({"floor": 5, "mode": "fault", "trips": 10})
        );
    }

    #[test]
    fn parts_are_kept_apart() {
        let zone = |zone: &str, s, state: &str| PartPoint {
            device: "panel".into(),
            part: zone.into(),
            family: "fire",
            ts: at(s),
            state: Some(state.into()),
            readings: json!({"zone": zone, "state": state})
                .as_object()
                .unwrap()
                .clone(),
        };
        let now = merge(
            vec![
                zone("z2", 5, "alarm"),
                zone("z1", 0, "normal"),
                zone("z1", 9, "normal"),
            ],
            &Stored::new(),
        );
        assert_eq!(now.len(), 2);
        assert_eq!(
            (now[0].part.as_str(), now[0].state_since),
            ("z1", Some(at(0)))
        );
        assert_eq!(
            (now[1].part.as_str(), now[1].state_since),
            ("z2", Some(at(5)))
        );
    }
}
