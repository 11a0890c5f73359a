//! The retained status an edge agent publishes on `…/cam/{camera}/status`
//! every few seconds, and as its last will (`offline`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::CameraState;
use crate::ids::{CameraId, SiteId};

/// Heartbeat and health of one edge agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub schema: u32,
    pub ts: DateTime<Utc>,
    pub site: SiteId,
    pub camera: CameraId,
    pub state: CameraState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Agent version.
    #[serde(default)]
    pub version: String,
    /// Frames per second received from the camera (last interval).
    #[serde(default)]
    pub fps_in: f32,
    /// Frames per second run through detection.
    #[serde(default)]
    pub fps_processed: f32,
    /// Frames dropped since start (decode queue and hand-off).
    #[serde(default)]
    pub dropped_frames: u64,
    /// Median detection latency in ms (last interval).
    #[serde(default)]
    pub inference_ms: f32,
    /// Events waiting in the spool for a broker acknowledgement.
    #[serde(default)]
    pub spool_depth: u64,
    /// Spool fill, 0..1 of its quota.
    #[serde(default)]
    pub spool_fill: f32,
    #[serde(default)]
    pub cpu_percent: f32,
    #[serde(default)]
    pub rss_bytes: u64,
    /// Adaptive load level (0 = full processing).
    #[serde(default)]
    pub load_level: u8,
    /// Events lost since start because the spool could not store them
    /// (disk full, I/O error).
    #[serde(default)]
    pub events_unspooled: u64,
    /// Spooled events dropped since start because they failed their
    /// checksum when read back.
    #[serde(default)]
    pub spool_corrupt: u64,
    /// Events the broker refused since start (each is kept and sent again).
    #[serde(default)]
    pub events_refused: u64,
    /// Faces the face models ran on since start (embedded, below the
    /// quality gate, or failed); people seen without a face are not
    /// attempts.
    #[serde(default)]
    pub faces_attempted: u64,
    /// Of those, the ones the detector or the embedder failed on.
    #[serde(default)]
    pub faces_failed: u64,
    /// The camera configuration version (from central) the pipeline
    /// counts with; 0 while it uses the lines and zones of its own file.
    #[serde(default)]
    pub config_version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_will_shape_parses_with_defaults() {
        let s: Status = serde_json::from_str(
            r#"{"schema":1,"ts":"2026-11-25T10:00:00Z","site":"hq","camera":"c","state":"offline","reason":"connection lost"}"#,
        )
        .unwrap();
        assert_eq!(s.state, CameraState::Offline);
        assert_eq!(s.spool_depth, 0);
    }
}
