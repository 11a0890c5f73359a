//! `energy_update` on the dashboard's WebSocket: each metered site's
//! power now and energy today, every few seconds while it changes. Each
//! central instance serves its own WebSocket clients, so each computes
//! the update itself (one query per site every [`EVERY`], whatever the
//! number of clients or the rate of telemetry: that is the throttle).

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::energy::meters;
use crate::live::LiveEvent;

/// How often each site's energy is looked at (and at most announced).
pub const EVERY: Duration = Duration::from_secs(5);

/// Watches until `stop`.
pub async fn run(
    pool: deadpool_postgres::Pool,
    live: broadcast::Sender<LiveEvent>,
    clock: atrium_clock::SharedClock,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last: HashMap<String, (f64, f64)> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if live.receiver_count() == 0 {
            continue;
        }
        let client = match pool.get().await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "energy not looked at: no database");
                continue;
            }
        };
        let sites = match crate::store::energy::metered_sites(&client).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "energy not looked at");
                continue;
            }
        };
        let now = clock.now();
        for site in sites {
            let (rows, day_start) =
                match crate::store::energy::meters_now(&client, &site, now).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::debug!(site = %site.id, error = %e, "site energy not looked at");
                        continue;
                    }
                };
            let s = meters::tree(&site.id, &site.name, &site.timezone, &rows, day_start, now);
            let key = (s.power_kw, s.kwh_today);
            if last.get(&site.id) == Some(&key) {
                continue;
            }
            last.insert(site.id.clone(), key);
            let event = LiveEvent::energy(
                &site.id,
                now,
                serde_json::json!({
                    "power_kw": s.power_kw,
                    "kwh_today": s.kwh_today,
                    "stale_meters": s.stale_meters,
                    "day_start": s.day_start,
                }),
            );
            if live.send(event).is_err() {
                tracing::trace!(site = %site.id, "no WebSocket open: energy told to nobody");
            }
        }
    }
}
