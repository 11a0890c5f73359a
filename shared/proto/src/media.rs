//! Camera pictures over MQTT: the retained snapshot
//! (`…/cam/{camera}/snapshot`), live frames while someone watches
//! (`…/cam/{camera}/live`), and central's requests for either
//! (`…/cam/{camera}/request`).
//!
//! Pictures travel through the broker, never over a port on the edge box:
//! the box stays reachable only outbound, and every picture passes the
//! same ACL and TLS as events. A frame is JSON with the JPEG in base64
//! (a third larger than raw bytes, but one self-describing message that
//! every tool can read; at 2 fps and ~30 KiB that is ~80 KiB/s while
//! watched, nothing otherwise).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CameraId, SiteId};
use crate::limits::{MAX_FRAME_BOXES, MAX_FRAME_PAYLOAD, MAX_LIVE_FOR_S, MAX_REQUEST_PAYLOAD};

/// Largest picture side a frame may declare, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// Whether a frame is the retained snapshot or one of a live stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    Snapshot,
    Live,
}

/// A person box drawn over a frame: the track id and the box in the
/// camera's pixels (`width` × `height` of the frame message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameBox {
    pub track: u64,
    pub bbox: [f32; 4],
}

/// One picture from an edge agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraFrame {
    pub schema: u32,
    pub ts: DateTime<Utc>,
    pub site: SiteId,
    pub camera: CameraId,
    pub kind: FrameKind,
    /// Counts frames since the agent started (gaps: frames not sent).
    pub seq: u64,
    /// The camera's frame size: the space of `boxes`.
    pub width: u32,
    pub height: u32,
    /// The JPEG's own size (smaller than the camera's).
    pub image_width: u32,
    pub image_height: u32,
    /// People tracked in this frame (live frames; empty in snapshots).
    #[serde(default)]
    pub boxes: Vec<FrameBox>,
    /// The JPEG, base64 (standard alphabet, padded).
    pub jpeg: String,
}

/// Why a frame or request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("payload is {bytes} bytes; the limit is {max}")]
    TooLarge { bytes: usize, max: usize },
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("unsupported schema version {0} (this build reads 1)")]
    Schema(u32),
    #[error("{0}")]
    Invalid(String),
}

impl CameraFrame {
    /// Encodes a JPEG into the frame's `jpeg` field.
    pub fn encode_jpeg(jpeg: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(jpeg)
    }

    /// Reads a frame as it arrives from the broker: size, JSON shape,
    /// schema, sizes and boxes, and that `jpeg` is base64 of a JPEG.
    /// Returns the frame and the JPEG bytes.
    pub fn parse(payload: &[u8]) -> Result<(Self, Vec<u8>), MediaError> {
        if payload.len() > MAX_FRAME_PAYLOAD {
            return Err(MediaError::TooLarge {
                bytes: payload.len(),
                max: MAX_FRAME_PAYLOAD,
            });
        }
        let frame: Self =
            serde_json::from_slice(payload).map_err(|e| MediaError::Malformed(e.to_string()))?;
        if frame.schema != 1 {
            return Err(MediaError::Schema(frame.schema));
        }
        for (what, v) in [
            ("width", frame.width),
            ("height", frame.height),
            ("image_width", frame.image_width),
            ("image_height", frame.image_height),
        ] {
            if v == 0 || v > MAX_IMAGE_SIDE {
                return Err(MediaError::Invalid(format!(
                    "{what} {v} is outside 1..={MAX_IMAGE_SIDE}"
                )));
            }
        }
        if frame.boxes.len() > MAX_FRAME_BOXES {
            return Err(MediaError::Invalid(format!(
                "{} boxes; the limit is {MAX_FRAME_BOXES}",
                frame.boxes.len()
            )));
        }
        if frame
            .boxes
            .iter()
            .any(|b| b.bbox.iter().any(|v| !v.is_finite()))
        {
            return Err(MediaError::Invalid(
                "a box has a non-finite coordinate".into(),
            ));
        }
        let jpeg = base64::engine::general_purpose::STANDARD
            .decode(&frame.jpeg)
            .map_err(|e| MediaError::Invalid(format!("jpeg is not base64: {e}")))?;
        if !jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) {
            return Err(MediaError::Invalid("jpeg is not a JPEG image".into()));
        }
        Ok((frame, jpeg))
    }
}

/// What central asks an edge agent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Publish a fresh snapshot now.
    Snapshot,
    /// Send live frames for `for_s` seconds from now (renewed while
    /// someone watches; the edge stops by itself when renewals stop).
    Live { for_s: u32 },
}

/// A request on `…/cam/{camera}/request`:
/// `{"schema":1,"kind":"live","for_s":60}` or
/// `{"schema":1,"kind":"snapshot"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireRequest", into = "WireRequest")]
pub struct CameraRequest {
    pub schema: u32,
    pub kind: RequestKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireKind {
    Snapshot,
    Live,
}

/// The request as JSON (serde cannot refuse unknown fields of a
/// flattened enum, so the shape is spelled out).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRequest {
    schema: u32,
    kind: WireKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    for_s: Option<u32>,
}

impl TryFrom<WireRequest> for CameraRequest {
    type Error = String;

    fn try_from(w: WireRequest) -> Result<Self, String> {
        let kind = match (w.kind, w.for_s) {
            (WireKind::Snapshot, None) => RequestKind::Snapshot,
            (WireKind::Live, Some(for_s)) => RequestKind::Live { for_s },
            (WireKind::Snapshot, Some(_)) => return Err("a snapshot request has no for_s".into()),
            (WireKind::Live, None) => return Err("a live request needs for_s".into()),
        };
        Ok(Self {
            schema: w.schema,
            kind,
        })
    }
}

impl From<CameraRequest> for WireRequest {
    fn from(r: CameraRequest) -> Self {
        let (kind, for_s) = match r.kind {
            RequestKind::Snapshot => (WireKind::Snapshot, None),
            RequestKind::Live { for_s } => (WireKind::Live, Some(for_s)),
        };
        Self {
            schema: r.schema,
            kind,
            for_s,
        }
    }
}

impl CameraRequest {
    pub fn new(kind: RequestKind) -> Self {
        Self { schema: 1, kind }
    }

    /// Reads a request: size, shape, schema, and a live duration within
    /// 1..=[`MAX_LIVE_FOR_S`].
    pub fn parse(payload: &[u8]) -> Result<Self, MediaError> {
        if payload.len() > MAX_REQUEST_PAYLOAD {
            return Err(MediaError::TooLarge {
                bytes: payload.len(),
                max: MAX_REQUEST_PAYLOAD,
            });
        }
        let r: Self =
            serde_json::from_slice(payload).map_err(|e| MediaError::Malformed(e.to_string()))?;
        if r.schema != 1 {
            return Err(MediaError::Schema(r.schema));
        }
        if let RequestKind::Live { for_s } = r.kind
            && !(1..=MAX_LIVE_FOR_S).contains(&for_s)
        {
            return Err(MediaError::Invalid(format!(
                "for_s {for_s} is outside 1..={MAX_LIVE_FOR_S}"
            )));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn frame(jpeg: &[u8]) -> CameraFrame {
        CameraFrame {
            schema: 1,
            ts: "2026-12-01T10:00:00Z".parse().unwrap(),
            site: SiteId::new("hq").unwrap(),
            camera: CameraId::new("lobby-1").unwrap(),
            kind: FrameKind::Live,
            seq: 7,
            width: 768,
            height: 576,
            image_width: 512,
            image_height: 384,
            boxes: vec![FrameBox {
                track: 3,
                bbox: [10.0, 20.0, 110.0, 320.0],
            }],
            jpeg: CameraFrame::encode_jpeg(jpeg),
        }
    }

    #[test]
    fn a_frame_round_trips_with_its_jpeg() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
        let bytes = serde_json::to_vec(&frame(&jpeg)).unwrap();
        let (back, decoded) = CameraFrame::parse(&bytes).unwrap();
        assert_eq!(back, frame(&jpeg));
        assert_eq!(decoded, jpeg);
    }

    #[test]
    fn bad_frames_are_refused_with_the_reason() {
        let png = serde_json::to_vec(&frame(&[0x89, b'P', b'N', b'G'])).unwrap();
        assert!(
            matches!(CameraFrame::parse(&png), Err(MediaError::Invalid(m)) if m.contains("not a JPEG"))
        );
        let mut f = frame(&[0xFF, 0xD8, 0xFF]);
        f.width = 0;
        let zero = serde_json::to_vec(&f).unwrap();
        assert!(
            matches!(CameraFrame::parse(&zero), Err(MediaError::Invalid(m)) if m.contains("width"))
        );
        let mut f = frame(&[0xFF, 0xD8, 0xFF]);
        f.jpeg = "not base64!".into();
        let b = serde_json::to_vec(&f).unwrap();
        assert!(matches!(
            CameraFrame::parse(&b),
            Err(MediaError::Invalid(_))
        ));
        let big = vec![b' '; MAX_FRAME_PAYLOAD + 1];
        assert!(matches!(
            CameraFrame::parse(&big),
            Err(MediaError::TooLarge { .. })
        ));
        assert!(matches!(
            CameraFrame::parse(b"{}"),
            Err(MediaError::Malformed(_))
        ));
    }

    #[test]
    fn requests_parse_and_bound_the_live_duration() {
        let live = CameraRequest::new(RequestKind::Live { for_s: 60 });
        let text = serde_json::to_string(&live).unwrap();
        assert_eq!(text, r#"{"schema":1,"kind":"live","for_s":60}"#);
        assert_eq!(CameraRequest::parse(text.as_bytes()).unwrap(), live);
        let snap = br#"{"schema":1,"kind":"snapshot"}"#;
        assert_eq!(
            CameraRequest::parse(snap).unwrap().kind,
            RequestKind::Snapshot
        );
        for bad in [
            &br#"{"schema":1,"kind":"live","for_s":0}"#[..],
            br#"{"schema":1,"kind":"live","for_s":121}"#,
            br#"{"schema":2,"kind":"snapshot"}"#,
            br#"{"schema":1,"kind":"record"}"#,
            br#"{"schema":1,"kind":"live"}"#,
            br#"{"schema":1,"kind":"snapshot","for_s":5}"#,
            br#"{"schema":1,"kind":"snapshot","extra":1}"#,
        ] {
            assert!(CameraRequest::parse(bad).is_err(), "{bad:?}");
        }
    }
}
