//! What the alert rules are fed, read from the tables ingest keeps: the
//! translation from rows to the alerting core's [`Fact`]s happens here,
//! once, so the rules never see a column or a wire spelling.
//!
//! States (cameras, edge boxes, devices, fire zones, lifts, doors, zone
//! violations) are read whole on every evaluation; door events, which
//! happen once, are read after a cursor on the time central received
//! them, so a late event (spooled through an outage) is still judged and
//! none is judged twice.

use chrono::{DateTime, TimeDelta, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;

use crate::alerts::{
    DoorOutcome, Fact, FireState, LiftMode, LoadLevel, Observation, ViolationKind,
};
use crate::systems::state::DeviceState;

/// The last words of an edge agent that is gone (its last will, or its
/// goodbye when stopped): the box, not the camera, is offline.
const EDGE_GONE: [&str; 2] = ["connection lost", "agent stopped"];

/// The edge's adaptive load level (0 full … 4 minimal) in the core's
/// words.
fn load_level(level: u64) -> LoadLevel {
    match level {
        0 => LoadLevel::Normal,
        1..=3 => LoadLevel::Reduced,
        _ => LoadLevel::Minimal,
    }
}

/// Cameras and their edge boxes: whether each box is connected (a last
/// will, a goodbye, or no heartbeat for `stale`), and, while it is,
/// whether the camera streams, the spool's fill, the load level, and the
/// face attempts and failures since `window_start` (the heartbeat's
/// counters less those of the last heartbeat kept before it; since the
/// agent started when it restarted within the window).
pub async fn cameras(
    client: &impl GenericClient,
    now: DateTime<Utc>,
    stale: TimeDelta,
    window_start: DateTime<Utc>,
) -> Result<Vec<Fact>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT c.id, c.site_id, st.state, st.reason, st.changed_at, st.ts, st.detail,
                    old.detail AS old_detail
             FROM cameras c JOIN camera_status_current st ON st.camera_id = c.id
             LEFT JOIN LATERAL (
                 SELECT h.detail FROM camera_status_history h
                 WHERE h.camera_id = c.id AND h.ts <= $1 AND h.ts > $1 - INTERVAL '1 day'
                 ORDER BY h.ts DESC LIMIT 1) old ON true
             WHERE c.enabled ORDER BY c.id",
            &[&window_start],
        )
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let camera: String = r.try_get("id")?;
        let site: String = r.try_get("site_id")?;
        let state: String = r.try_get("state")?;
        let reason: Option<String> = r.try_get("reason")?;
        let changed_at: DateTime<Utc> = r.try_get("changed_at")?;
        let ts: DateTime<Utc> = r.try_get("ts")?;
        let detail: Value = r.try_get("detail")?;
        let old: Option<Value> = r.try_get("old_detail")?;
        let offline = state == "offline";
        let gone = offline && reason.as_deref().is_some_and(|r| EDGE_GONE.contains(&r));
        let silent = !offline && now - ts > stale;
        let fact = |what| Fact {
            site: site.clone(),
            at: now,
            what,
        };
        let edge_since = if silent { ts } else { changed_at };
        out.push(fact(Observation::EdgeStatus {
            camera: camera.clone(),
            online: !(gone || silent),
            since: edge_since,
        }));
        if gone || silent {
            // Nothing is known of the camera while its box is away.
            continue;
        }
        out.push(fact(Observation::CameraStatus {
            camera: camera.clone(),
            online: !offline,
            since: changed_at,
        }));
        let fill = detail.get("spool_fill").and_then(Value::as_f64);
        let level = detail.get("load_level").and_then(Value::as_u64);
        if let (Some(fill), Some(level)) = (fill, level) {
            out.push(fact(Observation::EdgeHeartbeat {
                camera: camera.clone(),
                spool_percent: (fill * 100.0).clamp(0.0, 100.0),
                load_level: load_level(level),
            }));
        }
        if let Some((attempts, failures)) = face_window(&detail, old.as_ref()) {
            out.push(fact(Observation::RecognitionWindow {
                camera,
                attempts,
                failures,
            }));
        }
    }
    Ok(out)
}

/// Face attempts and failures between two heartbeats' counters; `now`
/// alone when there is no earlier one or the agent restarted since (its
/// counters went down). None for agents that do not count faces.
fn face_window(now: &Value, before: Option<&Value>) -> Option<(u32, u32)> {
    let counters = |v: &Value| {
        Some((
            v.get("faces_attempted")?.as_u64()?,
            v.get("faces_failed")?.as_u64()?,
        ))
    };
    let (a, f) = counters(now)?;
    let (a, f) = match before.and_then(counters) {
        Some((a0, f0)) if a0 <= a && f0 <= f => (a - a0, f - f0),
        _ => (a, f),
    };
    let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Some((clamp(a), clamp(f.min(a))))
}

/// Building-system devices' contact (online, or offline by their last
/// will or by silence), for devices central has heard from.
pub async fn devices(
    client: &impl GenericClient,
    now: DateTime<Utc>,
) -> Result<Vec<Fact>, tokio_postgres::Error> {
    let mut out = Vec::new();
    for d in super::systems::devices(client, None, None, None).await? {
        if !d.enabled {
            continue;
        }
        let (state, _) = d.contact.state(now);
        let online = match state {
            DeviceState::Online => true,
            DeviceState::Offline => false,
            DeviceState::Unknown => continue,
        };
        let c = &d.contact;
        let since = match (c.last_seen, c.status_received_at) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b).unwrap_or(now),
        };
        out.push(Fact {
            site: d.site_id,
            at: now,
            what: Observation::DeviceStatus {
                device: d.id,
                online,
                since,
            },
        });
    }
    Ok(out)
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(Value::String(s.to_owned())).ok()
}

/// Fire zones, lifts and doors as their devices last reported them.
pub async fn parts(
    client: &impl GenericClient,
    now: DateTime<Utc>,
) -> Result<Vec<Fact>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT d.site_id, p.device_id, p.part, p.family, p.state, p.readings
             FROM device_parts_current p JOIN devices d ON d.id = p.device_id
             WHERE d.enabled AND p.family IN ('fire', 'lift', 'door') AND p.state IS NOT NULL
             ORDER BY p.device_id, p.part",
            &[],
        )
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let site: String = r.try_get("site_id")?;
        let device: String = r.try_get("device_id")?;
        let part: String = r.try_get("part")?;
        let family: String = r.try_get("family")?;
        let state: String = r.try_get("state")?;
        let readings: Value = r.try_get("readings")?;
        let what = match family.as_str() {
            "fire" => parse::<FireState>(&state).map(|state| Observation::FireZone {
                device,
                zone: part,
                state,
                test_mode: readings
                    .get("test_mode")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }),
            "lift" => parse::<LiftMode>(&state).map(|mode| Observation::LiftMode { device, mode }),
            // A closed door ends its held-open spell; other door states
            // say nothing the access events do not.
            _ => (state == "closed").then_some(Observation::DoorEvent {
                device,
                door: part,
                outcome: DoorOutcome::Closed,
            }),
        };
        if let Some(what) = what {
            out.push(Fact {
                site,
                at: now,
                what,
            });
        }
    }
    Ok(out)
}

/// Doors forced or held open received in `(after, upto]`.
pub async fn door_events(
    client: &impl GenericClient,
    after: DateTime<Utc>,
    upto: DateTime<Utc>,
) -> Result<Vec<Fact>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT site_id, device_id, door, outcome, ts FROM device_events
             WHERE received_at > $1 AND received_at <= $2 AND type = 'access'
               AND outcome IN ('forced', 'held_open') AND door IS NOT NULL
             ORDER BY received_at, ts, device_id, seq",
            &[&after, &upto],
        )
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let outcome: String = r.try_get("outcome")?;
        let Some(outcome) = parse::<DoorOutcome>(&outcome) else {
            continue;
        };
        out.push(Fact {
            site: r.try_get("site_id")?,
            at: r.try_get("ts")?,
            what: Observation::DoorEvent {
                device: r.try_get("device_id")?,
                door: r.try_get("door")?,
                outcome,
            },
        });
    }
    Ok(out)
}

/// Zones with a violation in the last `clear` (active) or in the `clear`
/// before that (ended): a violation is a condition that lasts while the
/// edge keeps reporting it.
pub async fn zone_violations(
    client: &impl GenericClient,
    now: DateTime<Utc>,
    clear: TimeDelta,
) -> Result<Vec<Fact>, tokio_postgres::Error> {
    let since = now - clear - clear;
    let rows = client
        .query(
            "SELECT c.site_id, z.camera_id, z.zone_id, z.kind, max(z.ts) AS last
             FROM zone_events z JOIN cameras c ON c.id = z.camera_id
             WHERE z.ts > $1 AND z.ts <= $2 AND z.kind IN ('max_occupancy', 'restricted_entry')
             GROUP BY 1, 2, 3, 4 ORDER BY 2, 3, 4",
            &[&since, &now],
        )
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let kind: String = r.try_get("kind")?;
        let last: DateTime<Utc> = r.try_get("last")?;
        let kind = if kind == "restricted_entry" {
            ViolationKind::RestrictedEntry
        } else {
            ViolationKind::MaxOccupancy
        };
        out.push(Fact {
            site: r.try_get("site_id")?,
            at: now,
            what: Observation::ZoneViolation {
                camera: r.try_get("camera_id")?,
                zone: r.try_get("zone_id")?,
                kind,
                active: now - last <= clear,
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_face_window_is_the_counters_difference_or_since_a_restart() {
        let hb = |a: u64, f: u64| json!({"faces_attempted": a, "faces_failed": f});
        assert_eq!(
            face_window(&hb(150, 30), Some(&hb(100, 10))),
            Some((50, 20))
        );
        assert_eq!(face_window(&hb(150, 30), None), Some((150, 30)));
        // Restarted within the window: its counters start again.
        assert_eq!(face_window(&hb(40, 2), Some(&hb(100, 10))), Some((40, 2)));
        // An older agent that does not count faces says nothing.
        assert_eq!(face_window(&json!({"spool_fill": 0.1}), None), None);
        assert_eq!(face_window(&hb(5, 9), None), Some((5, 5)));
    }
}
