//! What central's ingest accepts, as a pure function of (topic, payload,
//! known cameras): an event or status, or the reason to dead-letter it.
//! It lives with the wire contract (not in central) because it is the
//! contract's enforcement, and so that the fuzz targets can exercise it
//! without building the server.
//!
//! Checks, in order: size; topic shape; JSON; schema version; the typed
//! payload (unknown fields refused); topic identity = payload identity (a
//! box may only speak for its own camera); line and zone ids; the camera is
//! known and enabled; 32-bit numbers are finite; a face embedding decodes
//! and has the expected dimension.

use std::collections::HashMap;

use crate::event::EventBody;
use crate::topic::{CameraChannel, Topic};
use crate::{CameraId, Event, SCHEMA_VERSION, SiteId, Status};

/// Embedding dimensions the wire accepts. Which dimension a model has is
/// central's to check (its models manifest); this bound only keeps absurd
/// vectors out.
pub const EMBEDDING_DIMS: std::ops::RangeInclusive<u32> = 16..=4096;

/// A camera ingest knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownCamera {
    pub site: SiteId,
    pub enabled: bool,
}

/// Cameras by id.
pub type Cameras = HashMap<CameraId, KnownCamera>;

/// An accepted message.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    Event(Box<Event>),
    Status(Box<Status>),
}

/// Checks one message. `Err` is the refusal's reason as it is stored in
/// `dead_letters.reason` and answered by the relay: text for an operator,
/// which nothing branches on.
pub fn validate(
    topic: &str,
    payload: &[u8],
    max_bytes: usize,
    cameras: &Cameras,
) -> Result<Accepted, String> {
    if payload.len() > max_bytes {
        return Err(format!(
            "payload of {} bytes exceeds the {max_bytes}-byte limit",
            payload.len()
        ));
    }
    let parsed = Topic::parse(topic).map_err(|e| format!("unexpected topic: {e}"))?;
    let Topic::Camera {
        site,
        camera,
        channel,
    } = parsed
    else {
        return Err("unexpected topic: not a camera topic".into());
    };
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("malformed JSON: {e}"))?;
    match value.get("schema").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "unsupported schema version {v} (this central accepts {SCHEMA_VERSION})"
            ));
        }
        None => return Err("missing schema version".into()),
    }
    let (p_site, p_camera, accepted) = match channel {
        CameraChannel::Event => {
            let e: Event =
                serde_json::from_value(value).map_err(|e| format!("invalid event: {e}"))?;
            (
                e.site.clone(),
                e.camera.clone(),
                Accepted::Event(Box::new(e)),
            )
        }
        CameraChannel::Status => {
            let s: Status =
                serde_json::from_value(value).map_err(|e| format!("invalid status: {e}"))?;
            (
                s.site.clone(),
                s.camera.clone(),
                Accepted::Status(Box::new(s)),
            )
        }
        CameraChannel::Config | CameraChannel::Request => {
            return Err("unexpected topic: config and request messages go to cameras, not to central ingest".into());
        }
        CameraChannel::Snapshot | CameraChannel::Live => {
            return Err(
                "unexpected topic: camera frames go to central's media connection, not to ingest"
                    .into(),
            );
        }
    };
    if p_camera != camera || p_site != site {
        return Err(format!(
            "topic is for camera {site}/{camera} but the payload speaks for {p_site}/{p_camera}"
        ));
    }
    match cameras.get(&camera) {
        None => return Err(format!("unknown camera {camera}")),
        Some(k) if k.site != site => {
            return Err(format!(
                "camera {camera} belongs to site {}, not {site}",
                k.site
            ));
        }
        Some(k) if !k.enabled => return Err(format!("camera {camera} is disabled")),
        Some(_) => {}
    }
    if let Accepted::Event(e) = &accepted {
        let parts: Vec<(&str, &str)> = match &e.body {
            EventBody::LineCrossed { line, .. } => vec![("line", line)],
            EventBody::ZoneEntered { zone, .. }
            | EventBody::ZoneExited { zone, .. }
            | EventBody::ZoneViolation { zone, .. } => vec![("zone", zone)],
            EventBody::Occupancy { zones, .. } => {
                zones.iter().map(|z| ("zone", z.zone.as_str())).collect()
            }
            _ => Vec::new(),
        };
        for (what, id) in parts {
            if !crate::config::is_part_id(id) {
                return Err(format!(
                    "invalid event: {what} id {:?} is not 1-64 letters, digits, '-' or '_'",
                    id.chars().take(80).collect::<String>()
                ));
            }
        }
    }
    if let Some(field) = non_finite(&accepted) {
        return Err(format!(
            "invalid message: {field} is not a finite 32-bit number"
        ));
    }
    if let Accepted::Event(e) = &accepted
        && let EventBody::FaceObserved { embedding, .. } = &e.body
    {
        if !EMBEDDING_DIMS.contains(&embedding.dim) {
            return Err(format!(
                "face embedding has {} dimensions, {} to {} expected",
                embedding.dim,
                EMBEDDING_DIMS.start(),
                EMBEDDING_DIMS.end()
            ));
        }
        embedding
            .decode()
            .map_err(|e| format!("bad face embedding: {e}"))?;
    }
    Ok(accepted)
}

/// The first 32-bit number of an accepted message that is not finite.
/// JSON has no infinity, but a number beyond `f32::MAX` (say 1e60) reads
/// as one; stored, it would be written back as `null`, so what central
/// keeps would not be what it accepted (found by the `mqtt_payload` fuzz
/// target).
fn non_finite(accepted: &Accepted) -> Option<&'static str> {
    let fields: Vec<(&'static str, f32)> = match accepted {
        Accepted::Event(e) => match &e.body {
            EventBody::PersonDetected { bbox, score, .. } => bbox
                .iter()
                .map(|v| ("bbox", *v))
                .chain([("score", *score)])
                .collect(),
            EventBody::FaceObserved { bbox, quality, .. } => bbox
                .iter()
                .map(|v| ("bbox", *v))
                .chain([("quality", *quality)])
                .collect(),
            _ => Vec::new(),
        },
        Accepted::Status(s) => vec![
            ("fps_in", s.fps_in),
            ("fps_processed", s.fps_processed),
            ("inference_ms", s.inference_ms),
            ("spool_fill", s.spool_fill),
            ("cpu_percent", s.cpu_percent),
        ],
    };
    fields
        .into_iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cameras() -> Cameras {
        let mut c = Cameras::new();
        c.insert(
            CameraId::new("cam-a").unwrap(),
            KnownCamera {
                site: SiteId::new("hq").unwrap(),
                enabled: true,
            },
        );
        c.insert(
            CameraId::new("cam-b").unwrap(),
            KnownCamera {
                site: SiteId::new("hq").unwrap(),
                enabled: true,
            },
        );
        c.insert(
            CameraId::new("cam-off").unwrap(),
            KnownCamera {
                site: SiteId::new("hq").unwrap(),
                enabled: false,
            },
        );
        c
    }

    fn event(camera: &str) -> String {
        format!(
            r#"{{"schema":1,"id":"0193a1b2-0000-7000-8000-000000000001","ts":"2026-11-25T10:00:00Z","site":"hq","camera":"{camera}","type":"line_crossed","data":{{"line":"door","direction":"in","track":3}}}}"#
        )
    }

    const TOPIC_A: &str = "atrium/v1/hq/cam/cam-a/event";

    #[test]
    fn a_good_event_is_accepted() {
        assert!(matches!(
            validate(TOPIC_A, event("cam-a").as_bytes(), 4096, &cameras()),
            Ok(Accepted::Event(_))
        ));
    }

    #[test]
    fn each_kind_of_bad_message_names_its_reason() {
        let c = cameras();
        let cases: Vec<(&str, String, &str)> = vec![
            (TOPIC_A, "x".repeat(5000), "exceeds the 4096-byte limit"),
            (
                "atrium/v1/hq/cam/cam-a/bogus",
                event("cam-a"),
                "unexpected topic",
            ),
            (TOPIC_A, "{not json".into(), "malformed JSON"),
            (
                TOPIC_A,
                event("cam-a").replace("\"schema\":1", "\"schema\":2"),
                "unsupported schema version 2",
            ),
            (
                TOPIC_A,
                event("cam-a").replace("\"schema\":1,", ""),
                "missing schema version",
            ),
            (
                TOPIC_A,
                event("cam-a").replace("line_crossed", "teleported"),
                "invalid event",
            ),
            (TOPIC_A, event("cam-b"), "payload speaks for hq/cam-b"),
            (
                "atrium/v1/hq/cam/cam-x/event",
                event("cam-x"),
                "unknown camera cam-x",
            ),
            (
                "atrium/v1/hq/cam/cam-off/event",
                event("cam-off"),
                "camera cam-off is disabled",
            ),
            (
                "atrium/v1/other/cam/cam-a/event",
                event("cam-a").replace("\"hq\"", "\"other\""),
                "belongs to site hq",
            ),
            (
                TOPIC_A,
                event("cam-a").replace("\"door\"", &format!("\"{}\"", "d".repeat(65))),
                "line id",
            ),
            (
                TOPIC_A,
                event("cam-a").replace("\"door\"", "\"door/1\""),
                "line id",
            ),
        ];
        for (topic, payload, want) in cases {
            let err = validate(topic, payload.as_bytes(), 4096, &c).unwrap_err();
            assert!(
                err.contains(want),
                "{topic} {payload:.60}: got {err:?}, want {want:?}"
            );
        }
    }

    /// A number JSON can hold but a 32-bit float cannot (the fuzz
    /// target's find): refused, not stored as infinity.
    #[test]
    fn numbers_beyond_32_bits_are_refused() {
        let c = cameras();
        let detected = |bbox: &str, score: &str| {
            format!(
                r#"{{"schema":1,"id":"0193a1b2-0000-7000-8000-000000000001","ts":"2026-11-25T20:00:00Z","site":"hq","camera":"cam-a","type":"person_detected","data":{{"track":2,"bbox":{bbox},"score":{score}}}}}"#
            )
        };
        assert!(matches!(
            validate(TOPIC_A, detected("[1,2,30,80]", "0.9").as_bytes(), 4096, &c),
            Ok(Accepted::Event(_))
        ));
        for (bbox, score, field) in [
            (
                "[1888888888888888888888888888888888888888888, 23, 0, 80]",
                "0.9",
                "bbox",
            ),
            ("[1,2,30,80]", "1e39", "score"),
        ] {
            let err = validate(TOPIC_A, detected(bbox, score).as_bytes(), 4096, &c).unwrap_err();
            assert!(err.contains(&format!("{field} is not a finite")), "{err}");
        }
        let status = r#"{"schema":1,"ts":"2026-11-25T20:00:00Z","site":"hq","camera":"cam-a","state":"online","fps_in":1e40}"#;
        let err =
            validate("atrium/v1/hq/cam/cam-a/status", status.as_bytes(), 4096, &c).unwrap_err();
        assert!(err.contains("fps_in is not a finite"), "{err}");
    }

    #[test]
    fn face_embeddings_must_decode_with_the_right_dimension() {
        let c = cameras();
        let face = |dim: usize, data: &str| {
            format!(
                r#"{{"schema":1,"id":"0193a1b2-0000-7000-8000-000000000002","ts":"2026-11-25T10:00:00Z","site":"hq","camera":"cam-a","type":"face_observed","data":{{"track":1,"quality":0.8,"bbox":[0,0,1,1],"embedding":{{"model":"m","dim":{dim},"dtype":"f32le","data":"{data}"}}}}}}"#
            )
        };
        let good = crate::WireEmbedding::encode("m", &vec![0.03125; 1024]);
        assert!(validate(TOPIC_A, face(1024, &good.data).as_bytes(), 1 << 20, &c).is_ok());
        let small = crate::WireEmbedding::encode("m", &[0.5; 8]);
        assert!(
            validate(TOPIC_A, face(8, &small.data).as_bytes(), 1 << 20, &c)
                .unwrap_err()
                .contains("8 dimensions")
        );
        // The data must hold as many values as the embedding says.
        assert!(
            validate(TOPIC_A, face(512, &good.data).as_bytes(), 1 << 20, &c)
                .unwrap_err()
                .contains("bad face embedding")
        );
        assert!(
            validate(TOPIC_A, face(1024, "AAAA").as_bytes(), 1 << 20, &c)
                .unwrap_err()
                .contains("bad face embedding")
        );
    }

    #[test]
    fn status_messages_are_checked_like_events() {
        let c = cameras();
        let status = r#"{"schema":1,"ts":"2026-11-25T10:00:00Z","site":"hq","camera":"cam-a","state":"online"}"#;
        assert!(matches!(
            validate("atrium/v1/hq/cam/cam-a/status", status.as_bytes(), 4096, &c),
            Ok(Accepted::Status(_))
        ));
        let err =
            validate("atrium/v1/hq/cam/cam-b/status", status.as_bytes(), 4096, &c).unwrap_err();
        assert!(err.contains("payload speaks for"), "{err}");
    }
}
