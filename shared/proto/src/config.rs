//! Camera configuration pushed by central (retained on
//! `…/cam/{camera}/config`) and applied by the edge without a restart:
//! counting lines and zones.
//!
//! Coordinates are normalised to the frame (0..1, origin top-left), so a
//! configuration survives a change of stream resolution.

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_CONFIG_PAYLOAD, MAX_LINES, MAX_ZONE_VERTICES, MAX_ZONES};

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
    #[error("{count} {what} is more than the {max} a camera configuration may hold")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("zone {id:?} has {count} vertices, more than the {max} allowed")]
    TooManyVertices {
        id: String,
        count: usize,
        max: usize,
    },
    #[error("configuration of {bytes} bytes is larger than the {max}-byte limit")]
    TooLarge { bytes: usize, max: usize },
    #[error("configuration is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    #[error("configuration schema {0} is not supported (this version reads schema 1)")]
    Schema(u32),
}

/// Whether `id` is a valid line or zone id: 1-64 ASCII letters, digits,
/// `-` or `_`. Events name lines and zones by these ids too.
pub fn is_part_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_id(what: &'static str, id: &str) -> Result<(), ConfigError> {
    if is_part_id(id) {
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
    /// Reads a configuration message as it arrives from the broker: size,
    /// JSON shape, schema, then [`CameraConfig::validate`]. The edge applies
    /// only what this returns.
    pub fn parse(payload: &[u8]) -> Result<Self, ConfigError> {
        if payload.len() > MAX_CONFIG_PAYLOAD {
            return Err(ConfigError::TooLarge {
                bytes: payload.len(),
                max: MAX_CONFIG_PAYLOAD,
            });
        }
        let config: Self =
            serde_json::from_slice(payload).map_err(|e| ConfigError::Malformed(e.to_string()))?;
        if config.schema != 1 {
            return Err(ConfigError::Schema(config.schema));
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks counts, ids, coordinates and shapes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (what, count, max) in [
            ("lines", self.lines.len(), MAX_LINES),
            ("zones", self.zones.len(), MAX_ZONES),
        ] {
            if count > max {
                return Err(ConfigError::TooMany { what, count, max });
            }
        }
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
            if z.polygon.len() > MAX_ZONE_VERTICES {
                return Err(ConfigError::TooManyVertices {
                    id: z.id.clone(),
                    count: z.polygon.len(),
                    max: MAX_ZONE_VERTICES,
                });
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

    fn zone(id: &str, vertices: usize) -> ZoneConfig {
        ZoneConfig {
            id: id.into(),
            // The API allows names of up to 200 characters.
            name: Some("x".repeat(200)),
            polygon: (0..vertices)
                .map(|i| {
                    let t = i as f32 / vertices as f32 * std::f32::consts::TAU;
                    [0.5 + 0.4 * t.cos(), 0.5 + 0.4 * t.sin()]
                })
                .collect(),
            max_occupancy: Some(u32::MAX),
            restricted: true,
        }
    }

    #[test]
    fn counts_are_limited_and_the_largest_allowed_config_fits_the_payload_limit() {
        let id = |p: &str, i: usize| format!("{p}{i:0>63}");
        let mut c = CameraConfig {
            schema: 1,
            version: u64::MAX,
            lines: (0..MAX_LINES)
                .map(|i| LineConfig {
                    name: Some("y".repeat(200)),
                    ..line(
                        &id("l", i),
                        [0.123_456_79, 0.987_654_3],
                        [0.3, 0.700_000_05],
                    )
                })
                .collect(),
            zones: (0..MAX_ZONES)
                .map(|i| zone(&id("z", i), MAX_ZONE_VERTICES))
                .collect(),
        };
        let json = serde_json::to_vec(&c).unwrap();
        assert!(
            json.len() < MAX_CONFIG_PAYLOAD * 3 / 4,
            "{} bytes",
            json.len()
        );
        assert_eq!(CameraConfig::parse(&json).unwrap(), c);

        c.zones[3] = zone("big", MAX_ZONE_VERTICES + 1);
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TooManyVertices { count: 33, .. })
        ));
        c.zones.truncate(3);
        c.lines.push(line("extra", [0.0, 0.0], [1.0, 1.0]));
        assert_eq!(
            c.validate(),
            Err(ConfigError::TooMany {
                what: "lines",
                count: MAX_LINES + 1,
                max: MAX_LINES
            })
        );
        c.lines.clear();
        c.zones = (0..=MAX_ZONES).map(|i| zone(&format!("z{i}"), 3)).collect();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::TooMany { what: "zones", .. })
        ));
    }

    #[test]
    fn parse_refuses_oversized_malformed_and_foreign_schema_messages() {
        let big = vec![b' '; MAX_CONFIG_PAYLOAD + 1];
        assert!(matches!(
            CameraConfig::parse(&big),
            Err(ConfigError::TooLarge { .. })
        ));
        assert!(matches!(
            CameraConfig::parse(b"{\"schema\":1"),
            Err(ConfigError::Malformed(_))
        ));
        assert_eq!(
            CameraConfig::parse(br#"{"schema":2,"version":1}"#),
            Err(ConfigError::Schema(2))
        );
        let ok = CameraConfig::parse(br#"{"schema":1,"version":4}"#).unwrap();
        assert_eq!(ok.version, 4);
    }
}
