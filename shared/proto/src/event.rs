//! Event payloads published by edge agents on `…/cam/{camera}/event`.
//!
//! Every event is one JSON object: the envelope (`schema`, `id`, `ts`,
//! `site`, `camera`, `type`) and the type's `data`. `id` is a UUIDv7 chosen
//! by the edge when the event happens and never changed afterwards: it is
//! the idempotency key, so a redelivered event is stored once. `ts` is the
//! capture time of the frame the event comes from (UTC).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{CameraId, SiteId};

/// Version of the event payload format; central refuses other versions.
pub const SCHEMA_VERSION: u32 = 1;

/// The envelope around every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub schema: u32,
    pub id: Uuid,
    pub ts: DateTime<Utc>,
    pub site: SiteId,
    pub camera: CameraId,
    /// Milliseconds into the current camera session by the camera's own
    /// clock (RTP timestamps), to find the frame in a recording; absent for
    /// events not tied to a frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_ms: Option<i64>,
    #[serde(flatten)]
    pub body: EventBody,
}

/// A box in frame pixels: x1, y1, x2, y2.
pub type BoxPx = [f32; 4];

/// Which way a line was crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    /// The name on the wire and in the database (`in`, `out`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

/// People in one zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneCount {
    pub zone: String,
    pub count: u32,
}

/// What a zone violation is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Violation {
    /// More people than allowed.
    MaxOccupancy { occupancy: u32, max: u32 },
    /// Someone entered a zone nobody may enter.
    RestrictedEntry { track: u64 },
}

/// A face embedding on the wire: little-endian f32 values, base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireEmbedding {
    /// The embedder's model id; vectors of different models never compare.
    pub model: String,
    pub dim: u32,
    /// Always `f32le` for now.
    pub dtype: String,
    /// base64 of `dim` little-endian f32 values, L2-normalised.
    pub data: String,
}

/// Why a wire embedding could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbeddingError {
    #[error("embedding dtype {0:?} is not supported (f32le is)")]
    Dtype(String),
    #[error("embedding data is not base64: {0}")]
    Base64(String),
    #[error("embedding has {bytes} bytes, dim {dim} needs {}", dim * 4)]
    Length { bytes: usize, dim: u32 },
    #[error("embedding holds a non-finite value")]
    NotFinite,
}

impl WireEmbedding {
    /// Encodes `values` (expected L2-normalised) from model `model`.
    pub fn encode(model: &str, values: &[f32]) -> Self {
        use base64::Engine;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self {
            model: model.to_owned(),
            dim: values.len() as u32,
            dtype: "f32le".into(),
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// Decodes the values, checking dtype, length and finiteness.
    pub fn decode(&self) -> Result<Vec<f32>, EmbeddingError> {
        use base64::Engine;
        if self.dtype != "f32le" {
            return Err(EmbeddingError::Dtype(self.dtype.clone()));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .map_err(|e| EmbeddingError::Base64(e.to_string()))?;
        if bytes.len() != self.dim as usize * 4 {
            return Err(EmbeddingError::Length {
                bytes: bytes.len(),
                dim: self.dim,
            });
        }
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(EmbeddingError::NotFinite);
        }
        Ok(values)
    }
}

/// Camera connection state, as in the retained status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraState {
    /// Frames arrive and are processed normally.
    Online,
    /// Frames arrive but processing is reduced (overload) or failing.
    Degraded,
    /// No frames: camera unreachable, or the agent stopped.
    Offline,
}

/// The typed part of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum EventBody {
    /// A new person track was confirmed.
    PersonDetected {
        track: u64,
        bbox: BoxPx,
        score: f32,
    },
    /// A track crossed a counting line.
    LineCrossed {
        line: String,
        direction: Direction,
        track: u64,
    },
    ZoneEntered {
        zone: String,
        track: u64,
    },
    ZoneExited {
        zone: String,
        track: u64,
        dwell_s: f64,
    },
    ZoneViolation {
        zone: String,
        #[serde(flatten)]
        violation: Violation,
    },
    /// Periodic snapshot: people in view and per zone.
    Occupancy {
        in_view: u32,
        zones: Vec<ZoneCount>,
    },
    /// A face of sufficient quality seen on a track.
    FaceObserved {
        track: u64,
        quality: f32,
        bbox: BoxPx,
        embedding: WireEmbedding,
    },
    /// The camera connection changed state.
    CameraStatus {
        state: CameraState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The edge's spool was full and dropped its oldest events.
    SpoolOverflow {
        dropped: u64,
        dropped_total: u64,
    },
}

/// The event types, without their data: what `type` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    PersonDetected,
    LineCrossed,
    ZoneEntered,
    ZoneExited,
    ZoneViolation,
    Occupancy,
    FaceObserved,
    CameraStatus,
    SpoolOverflow,
}

impl EventKind {
    pub const ALL: [Self; 9] = [
        Self::PersonDetected,
        Self::LineCrossed,
        Self::ZoneEntered,
        Self::ZoneExited,
        Self::ZoneViolation,
        Self::Occupancy,
        Self::FaceObserved,
        Self::CameraStatus,
        Self::SpoolOverflow,
    ];

    /// The `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PersonDetected => "person_detected",
            Self::LineCrossed => "line_crossed",
            Self::ZoneEntered => "zone_entered",
            Self::ZoneExited => "zone_exited",
            Self::ZoneViolation => "zone_violation",
            Self::Occupancy => "occupancy",
            Self::FaceObserved => "face_observed",
            Self::CameraStatus => "camera_status",
            Self::SpoolOverflow => "spool_overflow",
        }
    }

    /// The kind spelled `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventBody {
    /// Its type.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::PersonDetected { .. } => EventKind::PersonDetected,
            Self::LineCrossed { .. } => EventKind::LineCrossed,
            Self::ZoneEntered { .. } => EventKind::ZoneEntered,
            Self::ZoneExited { .. } => EventKind::ZoneExited,
            Self::ZoneViolation { .. } => EventKind::ZoneViolation,
            Self::Occupancy { .. } => EventKind::Occupancy,
            Self::FaceObserved { .. } => EventKind::FaceObserved,
            Self::CameraStatus { .. } => EventKind::CameraStatus,
            Self::SpoolOverflow { .. } => EventKind::SpoolOverflow,
        }
    }
}

impl Event {
    /// A new event with a fresh UUIDv7 id.
    pub fn new(site: SiteId, camera: CameraId, ts: DateTime<Utc>, body: EventBody) -> Self {
        Self {
            schema: SCHEMA_VERSION,
            id: Uuid::now_v7(),
            ts,
            site,
            camera,
            stream_ms: None,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direction_is_named_as_on_the_wire() {
        for d in [Direction::In, Direction::Out] {
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                format!("\"{}\"", d.as_str())
            );
        }
        assert_ne!(Direction::In.as_str(), Direction::Out.as_str());
    }

    fn ids() -> (SiteId, CameraId) {
        (SiteId::new("hq").unwrap(), CameraId::new("cam-1").unwrap())
    }

    #[test]
    fn line_crossed_has_the_documented_shape() {
        let (site, cam) = ids();
        let ts = DateTime::parse_from_rfc3339("2026-11-25T10:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut e = Event::new(
            site,
            cam,
            ts,
            EventBody::LineCrossed {
                line: "door".into(),
                direction: Direction::In,
                track: 7,
            },
        );
        e.stream_ms = Some(1200);
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["type"], "line_crossed");
        assert_eq!(v["data"]["direction"], "in");
        assert_eq!(v["camera"], "cam-1");
        assert_eq!(v["ts"], "2026-11-25T10:00:00.250Z");
        assert_eq!(e.id.get_version_num(), 7);
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn every_kind_round_trips_and_names_itself() {
        let (site, cam) = ids();
        let bodies = vec![
            EventBody::PersonDetected {
                track: 1,
                bbox: [1.0, 2.0, 3.0, 4.0],
                score: 0.5,
            },
            EventBody::LineCrossed {
                line: "door".into(),
                direction: Direction::Out,
                track: 2,
            },
            EventBody::ZoneEntered {
                zone: "z".into(),
                track: 1,
            },
            EventBody::ZoneExited {
                zone: "z".into(),
                track: 1,
                dwell_s: 2.5,
            },
            EventBody::ZoneViolation {
                zone: "z".into(),
                violation: Violation::MaxOccupancy {
                    occupancy: 5,
                    max: 4,
                },
            },
            EventBody::ZoneViolation {
                zone: "z".into(),
                violation: Violation::RestrictedEntry { track: 3 },
            },
            EventBody::Occupancy {
                in_view: 3,
                zones: vec![ZoneCount {
                    zone: "z".into(),
                    count: 2,
                }],
            },
            EventBody::FaceObserved {
                track: 1,
                quality: 0.8,
                bbox: [0.0; 4],
                embedding: WireEmbedding::encode("m", &[0.6, 0.8]),
            },
            EventBody::CameraStatus {
                state: CameraState::Offline,
                reason: Some("no frames".into()),
            },
            EventBody::SpoolOverflow {
                dropped: 10,
                dropped_total: 30,
            },
        ];
        let mut kinds = std::collections::HashSet::new();
        for body in bodies {
            let kind = body.kind();
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{kind}\""),
                "the enum's serde spelling is the wire's"
            );
            kinds.insert(kind);
            let e = Event::new(site.clone(), cam.clone(), Utc::now(), body);
            let text = serde_json::to_string(&e).unwrap();
            assert!(text.contains(&format!("\"type\":\"{kind}\"")), "{text}");
            assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
        }
        assert_eq!(kinds.len(), EventKind::ALL.len(), "every kind is tested");
    }

    #[test]
    fn unknown_fields_and_types_are_refused() {
        let ok = r#"{"schema":1,"id":"0193a1b2-0000-7000-8000-000000000001","ts":"2026-11-25T10:00:00Z","site":"hq","camera":"c","type":"occupancy","data":{"in_view":1,"zones":[]}}"#;
        serde_json::from_str::<Event>(ok).unwrap();
        assert!(serde_json::from_str::<Event>(&ok.replace("occupancy", "teleported")).is_err());
        assert!(
            serde_json::from_str::<Event>(&ok.replace("\"schema\":1", "\"schema\":1,\"extra\":2"))
                .is_err()
        );
        assert!(
            serde_json::from_str::<Event>(&ok.replace("\"camera\":\"c\"", "\"camera\":\"C/1\""))
                .is_err()
        );
    }

    #[test]
    fn embeddings_survive_the_wire_and_bad_ones_are_refused() {
        let w = WireEmbedding::encode("human_faceres", &[0.5, -0.25, 1.0]);
        assert_eq!(w.dim, 3);
        assert_eq!(w.decode().unwrap(), vec![0.5, -0.25, 1.0]);
        let mut short = w.clone();
        short.dim = 4;
        assert!(matches!(short.decode(), Err(EmbeddingError::Length { .. })));
        let mut junk = w.clone();
        junk.data = "***".into();
        assert!(matches!(junk.decode(), Err(EmbeddingError::Base64(_))));
        let nan = WireEmbedding::encode("m", &[f32::NAN]);
        assert_eq!(nan.decode(), Err(EmbeddingError::NotFinite));
    }
}
