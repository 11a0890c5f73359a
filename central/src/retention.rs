//! Retention: the Apache-2 TimescaleDB has no retention policies, so
//! central drops old data itself, on a timer, per the `retention` table.
//! Hypertables lose whole chunks (`drop_chunks`, cheap); the few plain
//! tables with a time column are pruned with `DELETE`.

use std::time::Duration;

use tokio::sync::watch;

/// What one run removed: (name, chunks dropped or rows deleted).
pub type Removed = Vec<(String, i64)>;

/// Applies every retention rule once.
pub async fn run_once(
    client: &deadpool_postgres::Client,
) -> Result<Removed, tokio_postgres::Error> {
    let rules = client
        .query(
            "SELECT r.table_name, extract(epoch FROM r.keep)::float8 AS keep_s,
                    EXISTS (SELECT 1 FROM timescaledb_information.hypertables h WHERE h.hypertable_name = r.table_name) AS hyper
             FROM retention r ORDER BY r.table_name",
            &[],
        )
        .await?;
    let mut out = Vec::new();
    for r in rules {
        let name: String = r.try_get("table_name")?;
        let keep_s: f64 = r.try_get("keep_s")?;
        let hyper: bool = r.try_get("hyper")?;
        let n: i64 = if hyper {
            client
                .query_one(
                    "SELECT count(*) AS n FROM drop_chunks($1::text::regclass, older_than => now() - make_interval(secs => $2))",
                    &[&name, &keep_s],
                )
                .await?
                .try_get("n")?
        } else {
            let sql = match name.as_str() {
                "dead_letters" => {
                    "DELETE FROM dead_letters WHERE received_at < now() - make_interval(secs => $1)"
                }
                "crossing_rollups_minute" => {
                    "DELETE FROM crossing_rollups WHERE resolution = 'minute' AND bucket < now() - make_interval(secs => $1)"
                }
                "power_rollups_minute" => {
                    "DELETE FROM power_rollups WHERE resolution = 'minute' AND bucket < now() - make_interval(secs => $1)"
                }
                "alerts_resolved" => {
                    "DELETE FROM alerts WHERE state = 'resolved' AND updated_at < now() - make_interval(secs => $1)"
                }
                "alert_deliveries" => {
                    "DELETE FROM alert_deliveries WHERE status <> 'pending' AND created_at < now() - make_interval(secs => $1)"
                }
                "reports" => {
                    "DELETE FROM reports WHERE generated_at < now() - make_interval(secs => $1)"
                }
                "alert_silences_ended" => {
                    "DELETE FROM alert_silences WHERE ends < now() - make_interval(secs => $1)"
                }
                other => {
                    tracing::warn!(
                        table = other,
                        "retention rule for an unknown table; ignored"
                    );
                    continue;
                }
            };
            client.execute(sql, &[&keep_s]).await? as i64
        };
        if n > 0 {
            tracing::info!(table = %name, removed = n, "retention");
        }
        out.push((name, n));
    }
    Ok(out)
}

/// Runs [`run_once`] every `every` until stopped.
pub async fn run(pool: deadpool_postgres::Pool, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match pool.get().await {
            Ok(client) => {
                if let Err(e) = run_once(&client).await {
                    tracing::warn!(error = %e, "retention run failed; next try in one interval");
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention: database unavailable"),
        }
    }
}
