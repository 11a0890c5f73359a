//! Announces building-system devices going online or offline on the
//! dashboard's WebSocket (`system_status`, `change: "state"`). A device
//! also goes offline by saying nothing ([`crate::systems::state`]), which no
//! message reports, so each central instance looks at every device's
//! contact every few seconds and announces the changes to its own
//! WebSocket clients (each instance serves its own clients, so each
//! announces once to them). The first look only learns the states: a
//! restart does not announce every device again.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::live::LiveEvent;
use crate::systems::state::{DeviceState, Why};

/// How often the devices' states are looked at.
pub const EVERY: Duration = Duration::from_secs(5);

/// Watches until `stop`.
pub async fn run(
    pool: deadpool_postgres::Pool,
    live: broadcast::Sender<LiveEvent>,
    clock: atrium_clock::SharedClock,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut known: Option<HashMap<String, DeviceState>> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let rows = match pool.get().await {
            Ok(client) => crate::store::systems::devices(&client, None, None, None).await,
            Err(e) => {
                tracing::debug!(error = %e, "device states not looked at: no database");
                continue;
            }
        };
        let rows = match rows {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "device states not looked at");
                continue;
            }
        };
        let now = clock.now();
        let mut next = HashMap::with_capacity(rows.len());
        for d in rows {
            let (state, why) = d.contact.state(now);
            if let Some(before) = known.as_ref().and_then(|k| k.get(&d.id))
                && *before != state
            {
                let event = LiveEvent::system(
                    "system_status",
                    &d.site_id,
                    &d.id,
                    now,
                    serde_json::json!({
                        "change": "state", "kind": d.kind, "state": state.as_str(),
                        "previous": before.as_str(),
                        "reason": why.map(Why::as_str),
                        "last_seen": d.contact.last_seen,
                    }),
                );
                if live.send(event).is_err() {
                    tracing::trace!(device = %d.id, "no WebSocket open: the change is told to nobody");
                }
            }
            next.insert(d.id, state);
        }
        known = Some(next);
    }
}
