//! Reading the building systems back: devices with their contact, power
//! buckets from the rollups, each part's present, access events.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use utoipa::ToSchema;

use crate::systems::state::Contact;

/// A registered device and what central has heard from it.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub id: String,
    pub site_id: String,
    pub kind: String,
    pub name: String,
    pub location: Option<String>,
    pub floor: Option<i32>,
    pub parent_id: Option<String>,
    pub enabled: bool,
    pub status: Option<String>,
    pub status_ts: Option<DateTime<Utc>>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub contact: Contact,
    /// The merged present of the device itself (a meter, a lift).
    pub readings: Option<serde_json::Value>,
    pub readings_at: Option<DateTime<Utc>>,
}

const DEVICES: &str = "
SELECT d.id, d.site_id, d.kind, d.name, d.location, d.floor, d.parent_id, d.enabled,
       s.status, s.status_ts, s.status_received_at, s.last_seen, s.interval_s, s.model, s.firmware,
       p.readings, p.ts AS readings_at
FROM devices d
LEFT JOIN device_state s ON s.device_id = d.id
LEFT JOIN device_parts_current p ON p.device_id = d.id AND p.part = ''
WHERE ($1::text IS NULL OR d.site_id = $1) AND ($2::text IS NULL OR d.kind = $2)
  AND ($3::text IS NULL OR d.id = $3)
ORDER BY d.site_id, d.kind, d.id";

/// Devices, optionally of one site, kind or id.
pub async fn devices(
    client: &impl GenericClient,
    site: Option<&str>,
    kind: Option<&str>,
    id: Option<&str>,
) -> Result<Vec<DeviceRow>, tokio_postgres::Error> {
    let rows = client.query(DEVICES, &[&site, &kind, &id]).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let status: Option<String> = r.try_get("status")?;
        out.push(DeviceRow {
            id: r.try_get("id")?,
            site_id: r.try_get("site_id")?,
            kind: r.try_get("kind")?,
            name: r.try_get("name")?,
            location: r.try_get("location")?,
            floor: r.try_get("floor")?,
            parent_id: r.try_get("parent_id")?,
            enabled: r.try_get("enabled")?,
            status_ts: r.try_get("status_ts")?,
            model: r.try_get("model")?,
            firmware: r.try_get("firmware")?,
            contact: Contact {
                status_online: status.as_deref().map(|s| s == "online"),
                status_received_at: r.try_get("status_received_at")?,
                last_seen: r.try_get("last_seen")?,
                interval_s: r.try_get("interval_s")?,
            },
            status,
            readings: r.try_get("readings")?,
            readings_at: r.try_get("readings_at")?,
        });
    }
    Ok(out)
}

/// One bucket of a meter's (or a site's) energy and power.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PowerBucket {
    /// Start of the bucket (minute, UTC hour, or the site's midnight).
    pub bucket: DateTime<Utc>,
    /// Energy imported in the bucket, kWh (register increases; resets
    /// and rollovers never count as negative use).
    pub import_kwh: f64,
    pub export_kwh: f64,
    /// Mean of the power readings in the bucket, kW (for a site: the sum
    /// of its main meters' means).
    pub power_avg_kw: Option<f64>,
    /// Lowest and highest power reading (a single meter only).
    pub power_min_kw: Option<f64>,
    pub power_max_kw: Option<f64>,
    /// Register resets and rollovers seen in the bucket.
    pub resets: i32,
    /// For a meter with sub-meters: their import in the bucket, and the
    /// remainder no sub-meter accounts for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submeters_import_kwh: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmetered_import_kwh: Option<f64>,
}

const METER_BUCKETS: &str = "
SELECT r.bucket, r.import_kwh, r.export_kwh,
       r.power_sum_kw / nullif(r.samples, 0) AS power_avg_kw, r.power_min_kw, r.power_max_kw, r.resets,
       (SELECT sum(c.import_kwh) FROM power_rollups c JOIN devices k ON k.id = c.device_id
        WHERE k.parent_id = r.device_id AND c.resolution = r.resolution AND c.bucket = r.bucket) AS sub
FROM power_rollups r
WHERE r.device_id = $1 AND r.resolution = $2 AND r.bucket >= $3 AND r.bucket < $4
ORDER BY r.bucket";

const SITE_BUCKETS: &str = "
SELECT r.bucket, sum(r.import_kwh) AS import_kwh, sum(r.export_kwh) AS export_kwh,
       sum(r.power_sum_kw / nullif(r.samples, 0)) AS power_avg_kw,
       NULL::float8 AS power_min_kw, NULL::float8 AS power_max_kw, sum(r.resets)::int AS resets,
       NULL::float8 AS sub
FROM power_rollups r JOIN devices d ON d.id = r.device_id
WHERE d.site_id = $1 AND d.kind = 'power_meter' AND d.parent_id IS NULL
  AND r.resolution = $2 AND r.bucket >= $3 AND r.bucket < $4
GROUP BY r.bucket ORDER BY r.bucket";

/// Buckets of one meter, or of a site's main meters (those without a
/// parent) summed, starting in `[start, end)`.
pub async fn power_buckets(
    client: &impl GenericClient,
    meter: Option<&str>,
    site: &str,
    resolution: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<PowerBucket>, tokio_postgres::Error> {
    let rows = match meter {
        Some(m) => {
            let stmt = client.prepare_cached(METER_BUCKETS).await?;
            client
                .query(&stmt, &[&m, &resolution, &start, &end])
                .await?
        }
        None => {
            let stmt = client.prepare_cached(SITE_BUCKETS).await?;
            client
                .query(&stmt, &[&site, &resolution, &start, &end])
                .await?
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let import_kwh: f64 = r.try_get("import_kwh")?;
        let sub: Option<f64> = r.try_get("sub")?;
        out.push(PowerBucket {
            bucket: r.try_get("bucket")?,
            import_kwh,
            export_kwh: r.try_get("export_kwh")?,
            power_avg_kw: r.try_get("power_avg_kw")?,
            power_min_kw: r.try_get("power_min_kw")?,
            power_max_kw: r.try_get("power_max_kw")?,
            resets: r.try_get("resets")?,
            submeters_import_kwh: sub,
            unmetered_import_kwh: sub.map(|s| import_kwh - s),
        });
    }
    Ok(out)
}

/// A device part's present (a circuit, a door, a fire zone, a lift).
#[derive(Debug, Clone)]
pub struct PartRow {
    pub device_id: String,
    pub part: String,
    pub ts: DateTime<Utc>,
    pub state: Option<String>,
    pub state_since: Option<DateTime<Utc>>,
    pub readings: serde_json::Value,
}

/// The parts of one family, optionally at one site.
pub async fn parts(
    client: &impl GenericClient,
    family: &str,
    site: Option<&str>,
) -> Result<Vec<PartRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT p.device_id, p.part, p.ts, p.state, p.state_since, p.readings
             FROM device_parts_current p JOIN devices d ON d.id = p.device_id
             WHERE p.family = $1 AND ($2::text IS NULL OR d.site_id = $2)
             ORDER BY p.device_id, p.part",
            &[&family, &site],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(PartRow {
            device_id: r.try_get("device_id")?,
            part: r.try_get("part")?,
            ts: r.try_get("ts")?,
            state: r.try_get("state")?,
            state_since: r.try_get("state_since")?,
            readings: r.try_get("readings")?,
        });
    }
    Ok(out)
}

/// An access decision at a door.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessEventRow {
    pub ts: DateTime<Utc>,
    pub device_id: String,
    pub site_id: String,
    pub door: Option<String>,
    /// granted, denied, forced or held_open.
    pub outcome: Option<String>,
    /// in or out, when the reader knows.
    pub direction: Option<String>,
    pub severity: String,
    pub ack_required: bool,
    /// The gateway's SHA-256 of the credential: only for callers who may
    /// read personal data (`persons:read`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_hash: Option<String>,
}

/// Filters of the access events.
#[derive(Debug, Clone, Default)]
pub struct AccessFilter {
    pub site: Option<String>,
    pub device: Option<String>,
    pub door: Option<String>,
    pub outcome: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

const ACCESS_WHERE: &str = "
WHERE type = 'access' AND ts >= $1 AND ts < $2
  AND ($3::text IS NULL OR site_id = $3) AND ($4::text IS NULL OR device_id = $4)
  AND ($5::text IS NULL OR door = $5) AND ($6::text IS NULL OR outcome = $6)";

/// A page of access events, newest first, and how many match.
pub async fn access_events(
    client: &impl GenericClient,
    f: &AccessFilter,
    window: crate::store::list::Window,
) -> Result<(Vec<AccessEventRow>, i64), tokio_postgres::Error> {
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
        [&f.start, &f.end, &f.site, &f.device, &f.door, &f.outcome];
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) AS n FROM device_events {ACCESS_WHERE}"),
            &params,
        )
        .await?
        .try_get("n")?;
    let mut all = params.to_vec();
    all.push(&window.limit);
    all.push(&window.offset);
    let rows = client
        .query(
            &format!(
                "SELECT ts, device_id, site_id, door, outcome, direction, severity, ack_required, credential_hash
                 FROM device_events {ACCESS_WHERE} ORDER BY ts DESC, device_id, seq LIMIT $7 OFFSET $8"
            ),
            &all,
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(AccessEventRow {
            ts: r.try_get("ts")?,
            device_id: r.try_get("device_id")?,
            site_id: r.try_get("site_id")?,
            door: r.try_get("door")?,
            outcome: r.try_get("outcome")?,
            direction: r.try_get("direction")?,
            severity: r.try_get("severity")?,
            ack_required: r.try_get("ack_required")?,
            credential_hash: r.try_get("credential_hash")?,
        });
    }
    Ok((out, total))
}
