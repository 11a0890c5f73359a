//! What the WebSocket clients receive, as it is committed.
//!
//! Ingest sends every committed event of interest into one in-process
//! broadcast channel; each WebSocket connection subscribes and filters. A
//! client too slow to keep up lags behind the channel's buffer and is
//! disconnected rather than buffered without bound.

use atrium_proto::{Event, Status};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One live message.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LiveEvent {
    /// `line_crossed`, `occupancy`, `zone_violation`, `person_detected`,
    /// `camera_status`.
    #[serde(rename = "type")]
    pub kind: String,
    pub site: String,
    pub camera: String,
    pub ts: DateTime<Utc>,
    /// The event's data (see the MQTT reference).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl LiveEvent {
    pub fn from_event(e: &Event, raw: &serde_json::Value) -> Self {
        Self {
            kind: e.body.kind().to_owned(),
            site: e.site.to_string(),
            camera: e.camera.to_string(),
            ts: e.ts,
            data: raw.get("data").cloned().unwrap_or(serde_json::Value::Null),
        }
    }

    pub fn from_status(s: &Status) -> Self {
        Self {
            kind: "camera_status".into(),
            site: s.site.to_string(),
            camera: s.camera.to_string(),
            ts: s.ts,
            data: serde_json::json!({
                "state": s.state,
                "reason": s.reason,
                "fps_in": s.fps_in,
                "spool_depth": s.spool_depth,
                "load_level": s.load_level,
            }),
        }
    }
}
