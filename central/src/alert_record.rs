//! Writes an alert's changes in the caller's transaction: the alert row,
//! one queued notification per channel that wants each change, and the
//! WebSocket `alert` events. The evaluator and the acknowledge/resolve
//! endpoints both go through here, so a change is stored, notified and
//! shown live together or not at all.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use crate::alerts::{Alert, AlertView, Change, notification};
use crate::live::LiveEvent;
use crate::store::alerts::{self as store, AlertStoreError, ChannelRow};

/// Saves `alert` (a new row when `id` is none) with `changes`, queueing a
/// notification to every channel that wants each; returns the row id and
/// how many notifications were queued.
pub async fn record(
    tx: &impl GenericClient,
    id: Option<i64>,
    alert: &Alert,
    changes: &[&Change],
    channels: &[ChannelRow],
    now: DateTime<Utc>,
) -> Result<(i64, usize), AlertStoreError> {
    let id = store::save(tx, id, alert, now).await?;
    let mut queued = 0;
    let mut live = Vec::with_capacity(changes.len());
    for c in changes {
        let payload = notification(id, alert, c);
        let what = payload
            .pointer("/change/what")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("fired")
            .to_owned();
        for ch in channels.iter().filter(|ch| ch.channel.wants(c)) {
            store::enqueue(tx, id, &ch.channel.name, &what, &payload, now).await?;
            queued += 1;
        }
        let view = AlertView::new(id, alert);
        live.push(LiveEvent {
            kind: "alert".into(),
            site: alert.subject.site.clone(),
            camera: String::new(),
            device: None,
            ts: c.at,
            data: serde_json::json!({
                "id": id,
                "what": what,
                "state": view.state,
                "severity": view.severity,
                "rule": view.rule,
                "subject": view.subject,
                "summary": view.summary,
                "notified": c.notify,
            }),
            origin: crate::live::Origin::default(),
        });
    }
    crate::live::notify(tx, &live).await?;
    Ok((id, queued))
}
