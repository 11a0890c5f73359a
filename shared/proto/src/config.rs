//! Camera configuration pushed by central (retained on
//! `…/cam/{camera}/config`) and applied by the edge without a restart:
//! counting lines and zones.
//!
//! Coordinates are normalised to the frame (0..1, origin top-left), so a
//! configuration survives a change of stream resolution.

use serde::{Deserialize, Serialize};

/// Which side of a line, looking along it from `a` to `b` on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

/// A counting line: crossing it towards `in_side` counts IN, the other way
/// OUT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Start point, normalised `[x, y]`.
    pub a: [f32; 2],
    /// End point, normalised `[x, y]`.
    pub b: [f32; 2],
    /// The side a person enters when crossing IN.
    pub in_side: Side,
}

/// A zone: a polygon with optional occupancy limit and entry ban.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// At least three normalised `[x, y]` vertices.
    pub polygon: Vec<[f32; 2]>,
    /// More people than this raises a `max_occupancy` violation.
    #[serde(default)]
    pub max_occupancy: Option<u32>,
    /// Anyone entering raises a `restricted_entry` violation.
    #[serde(default)]
    pub restricted: bool,
}

/// The whole camera configuration message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub schema: u32,
    /// Increases with every change; the edge ignores older versions.
    pub version: u64,
    #[serde(default)]
    pub lines: Vec<LineConfig>,
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
}

/// Why a configuration is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{what} {id:?}: point {point:?} is outside the frame (coordinates are 0..1)")]
    OutOfFrame {
        what: &'static str,
        id: String,
        point: [String; 2],
    },
    #[error("line {0:?} has identical end points")]
    DegenerateLine(String),
    #[error("zone {0:?} needs at least three vertices")]
    DegenerateZone(String),
    #[error("{what} id {id:?} is used twice")]
    Duplicate { what: &'static str, id: String },
    #[error("{what} id must be 1-64 characters of letters, digits, '-' or '_', got {id:?}")]
    BadId { what: &'static str, id: String },
}

fn check_id(what: &'static str, id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::BadId {
            what,
            id: id.to_owned(),
        })
    }
}

fn check_point(what: &'static str, id: &str, p: [f32; 2]) -> Result<(), ConfigError> {
    if p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)) {
        Ok(())
    } else {
        Err(ConfigError::OutOfFrame {
            what,
            id: id.to_owned(),
            point: [p[0].to_string(), p[1].to_string()],
        })
    }
}

impl CameraConfig {
    /// Checks ids, coordinates and shapes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for l in &self.lines {
            check_id("line", &l.id)?;
            if !seen.insert(("line", l.id.as_str())) {
                return Err(ConfigError::Duplicate {
                    what: "line",
                    id: l.id.clone(),
                });
            }
            check_point("line", &l.id, l.a)?;
            check_point("line", &l.id, l.b)?;
            if l.a == l.b {
                return Err(ConfigError::DegenerateLine(l.id.clone()));
            }
        }
        for z in &self.zones {
            check_id("zone", &z.id)?;
            if !seen.insert(("zone", z.id.as_str())) {
                return Err(ConfigError::Duplicate {
                    what: "zone",
                    id: z.id.clone(),
                });
            }
            if z.polygon.len() < 3 {
                return Err(ConfigError::DegenerateZone(z.id.clone()));
            }
            for p in &z.polygon {
                check_point("zone", &z.id, *p)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, a: [f32; 2], b: [f32; 2]) -> LineConfig {
        LineConfig {
            id: id.into(),
            name: None,
            a,
            b,
            in_side: Side::Right,
        }
    }

    #[test]
    fn valid_config_passes_and_parses() {
        let json = r#"{"schema":1,"version":3,"lines":[{"id":"door","a":[0.4,0.2],"b":[0.4,0.8],"in_side":"right"}],
                      "zones":[{"id":"lobby","polygon":[[0,0],[1,0],[1,1]],"max_occupancy":5}]}"#;
        let c: CameraConfig = serde_json::from_str(json).unwrap();
        c.validate().unwrap();
        assert_eq!(c.zones[0].max_occupancy, Some(5));
        assert!(!c.zones[0].restricted);
    }

    #[test]
    fn bad_configs_name_the_problem() {
        let mut c = CameraConfig {
            schema: 1,
            version: 1,
            lines: vec![line("a", [0.1, 0.1], [0.1, 0.1])],
            zones: vec![],
        };
        assert_eq!(c.validate(), Err(ConfigError::DegenerateLine("a".into())));
        c.lines = vec![line("a", [0.1, 0.1], [1.5, 0.1])];
        assert!(matches!(c.validate(), Err(ConfigError::OutOfFrame { .. })));
        c.lines = vec![
            line("a", [0.1, 0.1], [0.2, 0.1]),
            line("a", [0.1, 0.2], [0.2, 0.2]),
        ];
        assert!(matches!(c.validate(), Err(ConfigError::Duplicate { .. })));
        c.lines = vec![line("a b", [0.1, 0.1], [0.2, 0.1])];
        assert!(matches!(c.validate(), Err(ConfigError::BadId { .. })));
        c.lines.clear();
        c.zones = vec![ZoneConfig {
            id: "z".into(),
            name: None,
            polygon: vec![[0.0, 0.0], [1.0, 1.0]],
            max_occupancy: None,
            restricted: false,
        }];
        assert_eq!(c.validate(), Err(ConfigError::DegenerateZone("z".into())));
        assert!(
            serde_json::from_str::<CameraConfig>(
                r#"{"schema":1,"version":1,"lines":[],"zones":[],"bogus":1}"#
            )
            .is_err()
        );
    }
}
