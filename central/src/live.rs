//! What the WebSocket clients receive, as it is committed.
//!
//! Ingest announces every newly committed event of interest with
//! PostgreSQL `NOTIFY` inside its transaction, so the announcement exists
//! exactly when the rows do, and reaches every central instance (each
//! ingests only its share of the shared subscription). Each instance
//! listens and fans out to its WebSocket connections through one in-process
//! broadcast channel; a client too slow to keep up lags behind the
//! channel's buffer and is disconnected rather than buffered without bound.

use atrium_proto::{Event, Status};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a live message came from, for in-process readers (never sent to
/// WebSocket clients).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    /// The committing transaction's id (`pg_current_xact_id`), when the
    /// notification carried it: a reader that loaded a snapshot of the
    /// tables can tell whether the event is already in it.
    pub xid: Option<u64>,
    /// From a status heartbeat (which updates `camera_status_current`),
    /// not from an event.
    pub status: bool,
}

/// One live message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LiveEvent {
    /// `line_crossed`, `occupancy`, `zone_violation`, `person_detected`,
    /// `camera_status`; for building systems `system_status` and
    /// `power_update`; `energy_update` (a site's power now and energy
    /// today); `alert` (an alert fired, rose, was acknowledged or
    /// resolved).
    #[serde(rename = "type")]
    pub kind: String,
    pub site: String,
    /// The camera (camera events only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub camera: String,
    /// The device (building-system events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    pub ts: DateTime<Utc>,
    /// The event's data (see the MQTT reference).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    #[serde(skip)]
    #[schema(ignore)]
    pub origin: Origin,
}

impl LiveEvent {
    pub fn from_event(e: &Event, raw: &serde_json::Value) -> Self {
        Self {
            kind: e.body.kind().as_str().to_owned(),
            site: e.site.to_string(),
            camera: e.camera.to_string(),
            device: None,
            ts: e.ts,
            data: raw.get("data").cloned().unwrap_or(serde_json::Value::Null),
            origin: Origin::default(),
        }
    }

    /// A building-system event: `kind` is `system_status` or
    /// `power_update`.
    pub fn system(
        kind: &str,
        site: &str,
        device: &str,
        ts: DateTime<Utc>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            kind: kind.to_owned(),
            site: site.to_owned(),
            camera: String::new(),
            device: Some(device.to_owned()),
            ts,
            data,
            origin: Origin::default(),
        }
    }

    /// A site's energy now (`energy_update`), for callers with
    /// `energy:read`.
    pub fn energy(site: &str, ts: DateTime<Utc>, data: serde_json::Value) -> Self {
        Self {
            kind: "energy_update".to_owned(),
            site: site.to_owned(),
            camera: String::new(),
            device: None,
            ts,
            data,
            origin: Origin::default(),
        }
    }

    /// Whether only callers with `energy:read` may see it.
    pub fn is_energy(&self) -> bool {
        self.kind == "energy_update"
    }

    /// Whether only callers with `systems:read` may see it.
    pub fn is_system(&self) -> bool {
        self.device.is_some()
    }

    pub fn from_status(s: &Status) -> Self {
        Self {
            kind: "camera_status".into(),
            site: s.site.to_string(),
            camera: s.camera.to_string(),
            device: None,
            ts: s.ts,
            data: serde_json::json!({
                "state": s.state,
                "reason": s.reason,
                "fps_in": s.fps_in,
                "fps_processed": s.fps_processed,
                "spool_depth": s.spool_depth,
                "load_level": s.load_level,
                "config_version": s.config_version,
            }),
            origin: Origin {
                xid: None,
                status: true,
            },
        }
    }
}

/// The PostgreSQL notification channel live events travel on.
pub const CHANNEL: &str = "atrium_live";

/// NOTIFY payloads are limited to 8000 bytes; chunks stay well below,
/// leaving room for the envelope.
const CHUNK_BYTES: usize = 7000;

/// Live events as JSON arrays of at most [`CHUNK_BYTES`] each (one event
/// larger than that is sent alone; none comes close), each with whether
/// its events come from status heartbeats ([`Origin::status`]).
pub fn chunks(events: &[LiveEvent]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for status in [false, true] {
        let mut cur = String::from("[");
        for e in events.iter().filter(|e| e.origin.status == status) {
            let Ok(json) = serde_json::to_string(e) else {
                continue;
            };
            if cur.len() > 1 && cur.len() + json.len() + 2 > CHUNK_BYTES {
                cur.push(']');
                out.push((std::mem::replace(&mut cur, String::from("[")), status));
            }
            if cur.len() > 1 {
                cur.push(',');
            }
            cur.push_str(&json);
        }
        if cur.len() > 1 {
            cur.push(']');
            out.push((cur, status));
        }
    }
    out
}

/// Sends `events` on [`CHANNEL`] from inside the committing transaction,
/// all chunks in one statement, each in the envelope
/// `{"xid": "<pg_current_xact_id>", "status": bool, "events": [...]}`.
pub async fn notify(
    tx: &impl deadpool_postgres::GenericClient,
    events: &[LiveEvent],
) -> Result<(), tokio_postgres::Error> {
    let parts = chunks(events);
    if parts.is_empty() {
        return Ok(());
    }
    let (texts, status): (Vec<String>, Vec<bool>) = parts.into_iter().unzip();
    // The envelope is put together as text: the chunks are JSON already,
    // and parsing them again in the database would cost ingest time.
    tx.execute(
        "SELECT pg_notify($1, '{\"xid\":\"' || pg_current_xact_id()::text || '\",\"status\":' || s::text || ',\"events\":' || c || '}')
         FROM unnest($2::text[], $3::bool[]) AS t(c, s)",
        &[&CHANNEL, &texts, &status],
    )
    .await?;
    Ok(())
}

/// A notification's envelope ([`notify`]); a bare array is an older
/// instance's notification, without the envelope.
#[derive(Deserialize)]
#[serde(untagged)]
enum Envelope {
    Enveloped {
        xid: Option<String>,
        #[serde(default)]
        status: bool,
        events: Vec<LiveEvent>,
    },
    Bare(Vec<LiveEvent>),
}

/// The live events of one notification, with their origin.
pub fn parse_notification(payload: &str) -> Result<Vec<LiveEvent>, serde_json::Error> {
    Ok(match serde_json::from_str::<Envelope>(payload)? {
        Envelope::Enveloped {
            xid,
            status,
            mut events,
        } => {
            let xid = xid.and_then(|x| x.parse::<u64>().ok());
            for e in &mut events {
                e.origin = Origin { xid, status };
            }
            events
        }
        Envelope::Bare(events) => events,
    })
}

/// Listens on [`CHANNEL`] and forwards every event to local WebSocket
/// clients, reconnecting (every 2 s) while the database is away; `ready`
/// fires once the first `LISTEN` is in place. Events
/// committed while this listener was disconnected are not replayed: the
/// dashboard re-reads the totals when its socket reconnects.
///
/// The same connection listens on [`crate::store::sessions::CHANNEL`] and
/// forwards ended sessions and changed users to `sessions`.
pub async fn listen(
    config: tokio_postgres::Config,
    tx: tokio::sync::broadcast::Sender<LiveEvent>,
    sessions: tokio::sync::broadcast::Sender<uuid::Uuid>,
    ready: tokio::sync::oneshot::Sender<()>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use crate::store::sessions::CHANNEL as SESSIONS;
    use futures::StreamExt;
    let mut ready = Some(ready);
    loop {
        let attempt = async {
            let (client, mut conn) = config.connect(tokio_postgres::NoTls).await?;
            let (msg_tx, mut msgs) = tokio::sync::mpsc::unbounded_channel();
            let driver = atrium_worker::spawn(async move {
                let mut stream = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
                while let Some(m) = stream.next().await {
                    match m {
                        Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                            let item = (n.channel() == SESSIONS, n.payload().to_owned());
                            if msg_tx.send(item).is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "live listener connection lost");
                            break;
                        }
                    }
                }
            });
            client
                .batch_execute(&format!("LISTEN {CHANNEL}; LISTEN {SESSIONS}"))
                .await?;
            tracing::debug!("listening for live events and session changes");
            if let Some(r) = ready.take() {
                let _ = r.send(());
            }
            while let Some((session, payload)) = msgs.recv().await {
                if session {
                    match uuid::Uuid::parse_str(&payload) {
                        Ok(id) => {
                            // No receiver: no WebSocket open, nobody to close.
                            let _ = sessions.send(id);
                        }
                        Err(_) => tracing::warn!(payload, "unreadable session notification"),
                    }
                    continue;
                }
                match parse_notification(&payload) {
                    Ok(events) => {
                        for e in events {
                            let _ = tx.send(e);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "unreadable live notification"),
                }
            }
            driver.abort();
            Ok::<(), tokio_postgres::Error>(())
        };
        tokio::select! {
            r = attempt => if let Err(e) = r {
                tracing::debug!(error = %e, "live listener cannot reach the database");
            },
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: usize) -> LiveEvent {
        LiveEvent {
            kind: "line_crossed".into(),
            site: "hq".into(),
            camera: format!("cam-{i}"),
            device: None,
            ts: Utc::now(),
            data: serde_json::json!({"line": "door", "direction": "in", "track": i}),
            origin: Origin::default(),
        }
    }

    #[test]
    fn chunks_fit_a_notification_and_lose_nothing() {
        let mut events: Vec<LiveEvent> = (0..500).map(ev).collect();
        for e in events.iter_mut().skip(490) {
            e.origin.status = true;
        }
        let parts = chunks(&events);
        assert!(parts.len() > 2);
        let mut back = Vec::new();
        for (c, status) in &parts {
            assert!(c.len() <= CHUNK_BYTES, "{}", c.len());
            // The envelope notify() wraps each chunk in, as PostgreSQL
            // would send it.
            let payload = format!(r#"{{"xid":"7731","status":{status},"events":{c}}}"#);
            assert!(payload.len() < 8000);
            back.extend(parse_notification(&payload).unwrap());
        }
        assert!(back.iter().all(|e| e.origin.xid == Some(7731)));
        assert_eq!(back.iter().filter(|e| e.origin.status).count(), 10);
        for e in &mut back {
            e.origin.xid = None;
        }
        assert_eq!(back, events);
        assert!(chunks(&[]).is_empty());
        // An older instance's bare array still reads, without an origin.
        let bare = parse_notification(&serde_json::to_string(&events[..2]).unwrap()).unwrap();
        assert_eq!(bare[0].origin, Origin::default());
    }
}
