//! Reading energy back in a site's local time. PostgreSQL's time zone
//! database does every calendar step (`date_trunc(unit, ts, zone)`, local
//! midnights, a day of 23 or 25 hours), so buckets are right across DST
//! changes and in zones whose offset is not a whole hour; the rows handed
//! to `crate::energy` already carry their local times and bucket keys.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use deadpool_postgres::GenericClient;

use crate::energy::meters::MeterNow;

/// A site and what energy needs of it.
#[derive(Debug, Clone)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub timezone: String,
    pub floor_area_m2: Option<f64>,
}

const SITE_COLUMNS: &str = "id, name, timezone, floor_area_m2";

fn site_row(r: &tokio_postgres::Row) -> Result<Site, tokio_postgres::Error> {
    Ok(Site {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        timezone: r.try_get("timezone")?,
        floor_area_m2: r.try_get("floor_area_m2")?,
    })
}

pub async fn site(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<Site>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("SELECT {SITE_COLUMNS} FROM sites WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(site_row).transpose()
}

/// Sites with at least one power meter.
pub async fn metered_sites(
    client: &impl GenericClient,
) -> Result<Vec<Site>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT {SITE_COLUMNS} FROM sites s
                 WHERE EXISTS (SELECT 1 FROM devices d WHERE d.site_id = s.id AND d.kind = 'power_meter')
                 ORDER BY id"
            ),
            &[],
        )
        .await?;
    rows.iter().map(site_row).collect()
}

/// The site's meters (every one, main and sub) with their present and
/// today's energy, and the start of today in the site's zone.
pub async fn meters_now(
    client: &impl GenericClient,
    site: &Site,
    now: DateTime<Utc>,
) -> Result<(Vec<MeterNow>, DateTime<Utc>), tokio_postgres::Error> {
    let today: DateTime<Utc> = client
        .query_one(
            "SELECT date_trunc('day', $1::timestamptz, $2) AS d",
            &[&now, &site.timezone],
        )
        .await?
        .try_get("d")?;
    let rows = client
        .query(
            "SELECT d.id, d.name, d.parent_id, d.location, d.floor, d.enabled,
                    (p.readings->>'power_kw')::float8 AS kw, p.ts AS kw_at,
                    coalesce((SELECT sum(r.import_kwh) FROM power_rollups r
                              WHERE r.resolution = 'day' AND r.device_id = d.id AND r.bucket = $2), 0) AS kwh_today
             FROM devices d
             LEFT JOIN device_parts_current p ON p.device_id = d.id AND p.part = ''
             WHERE d.site_id = $1 AND d.kind = 'power_meter'
             ORDER BY d.id",
            &[&site.id, &today],
        )
        .await?;
    let meters = rows
        .iter()
        .map(|r| {
            Ok(MeterNow {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                parent_id: r.try_get("parent_id")?,
                location: r.try_get("location")?,
                floor: r.try_get("floor")?,
                enabled: r.try_get("enabled")?,
                power_kw: r.try_get("kw")?,
                power_at: r.try_get("kw_at")?,
                kwh_today: r.try_get("kwh_today")?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
    Ok((meters, today))
}

/// The meters whose energy a query sums: one meter, or the site's main
/// meters (those without a parent; sub-meters are inside them).
pub async fn main_meters(
    client: &impl GenericClient,
    site: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT id FROM devices WHERE site_id = $1 AND kind = 'power_meter' AND parent_id IS NULL ORDER BY id",
            &[&site],
        )
        .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// A calendar unit in the site's zone: `hour`, `day`, `week` (from
/// Monday), `month` or `year`.
pub type Unit = &'static str;

/// `[start, end)` widened to whole units in `tz` (start down to its
/// unit's beginning, end up unless already on one).
pub async fn snap(
    client: &impl GenericClient,
    tz: &str,
    unit: Unit,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), tokio_postgres::Error> {
    let r = client
        .query_one(
            "SELECT date_trunc($1, $2::timestamptz, $4) AS s,
                    CASE WHEN date_trunc($1, $3::timestamptz, $4) = $3 THEN $3::timestamptz
                         ELSE ((date_trunc($1, $3::timestamptz, $4) AT TIME ZONE $4) + ('1 ' || $1)::interval) AT TIME ZONE $4
                    END AS e",
            &[&unit, &start, &end, &tz],
        )
        .await?;
    Ok((r.try_get("s")?, r.try_get("e")?))
}

/// One bucket of energy.
#[derive(Debug, Clone)]
pub struct EnergyBucket {
    pub start: DateTime<Utc>,
    pub local_start: NaiveDateTime,
    /// Its real length: 23 or 25 for the day of a DST change.
    pub hours: f64,
    pub kwh: f64,
    pub export_kwh: f64,
}

/// Energy of `meters` per `unit` in `[start, end)`: hours from the
/// quarter-hour rollups (so a local hour is one even where the zone's
/// offset is not whole hours), longer units from the local-day rollups.
/// Buckets without readings are left out.
pub async fn history(
    client: &impl GenericClient,
    meters: &[String],
    tz: &str,
    unit: Unit,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<EnergyBucket>, tokio_postgres::Error> {
    let source = if unit == "hour" { "quarter" } else { "day" };
    let rows = client
        .query(
            "SELECT b, b AT TIME ZONE $5 AS local,
                    CASE WHEN $4 = 'hour' THEN 1.0::float8
                         ELSE extract(epoch FROM (((b AT TIME ZONE $5) + ('1 ' || $4)::interval) AT TIME ZONE $5) - b)::float8 / 3600
                    END AS hours,
                    kwh, ex
             FROM (SELECT date_trunc($4, r.bucket, $5) AS b, sum(r.import_kwh) AS kwh, sum(r.export_kwh) AS ex
                   FROM power_rollups r
                   WHERE r.resolution = $6 AND r.device_id = ANY($1) AND r.bucket >= $2 AND r.bucket < $3
                   GROUP BY 1) g
             ORDER BY b",
            &[&meters, &start, &end, &unit, &tz, &source],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(EnergyBucket {
                start: r.try_get("b")?,
                local_start: r.try_get("local")?,
                hours: r.try_get("hours")?,
                kwh: r.try_get("kwh")?,
                export_kwh: r.try_get("ex")?,
            })
        })
        .collect()
}

/// A quarter hour of metered energy with its local time and bucket.
#[derive(Debug, Clone)]
pub struct QuarterRow {
    pub start: DateTime<Utc>,
    pub local: NaiveDateTime,
    pub holiday: bool,
    pub kwh: f64,
    /// The start of the `unit` bucket it falls in.
    pub key: DateTime<Utc>,
}

/// The quarter hours of `meters` (summed) in `[start, end)`.
pub async fn quarters(
    client: &impl GenericClient,
    site: &Site,
    meters: &[String],
    unit: Unit,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<QuarterRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT q.bucket, q.bucket AT TIME ZONE $5 AS local, q.kwh, date_trunc($4, q.bucket, $5) AS key,
                    EXISTS (SELECT 1 FROM holidays h WHERE h.site_id = $6 AND h.day = (q.bucket AT TIME ZONE $5)::date) AS holiday
             FROM (SELECT r.bucket, sum(r.import_kwh) AS kwh FROM power_rollups r
                   WHERE r.resolution = 'quarter' AND r.device_id = ANY($1) AND r.bucket >= $2 AND r.bucket < $3
                   GROUP BY r.bucket) q
             ORDER BY q.bucket",
            &[&meters, &start, &end, &unit, &site.timezone, &site.id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(QuarterRow {
                start: r.try_get("bucket")?,
                local: r.try_get("local")?,
                holiday: r.try_get("holiday")?,
                kwh: r.try_get("kwh")?,
                key: r.try_get("key")?,
            })
        })
        .collect()
}

/// A local day whose midnight lies in the range.
#[derive(Debug, Clone)]
pub struct DayRow {
    pub date: NaiveDate,
    pub midnight: DateTime<Utc>,
    pub holiday: bool,
    pub key: DateTime<Utc>,
    /// `key` on the site's clock.
    pub key_local: NaiveDateTime,
    pub kwh: f64,
}

/// Every local day whose midnight lies in `[start, end)`, with the
/// energy of `meters` that day (0 without readings).
pub async fn days(
    client: &impl GenericClient,
    site: &Site,
    meters: &[String],
    unit: Unit,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<DayRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "WITH d AS (
                SELECT g::date AS day, (g::date::timestamp AT TIME ZONE $4) AS midnight
                FROM generate_series(($2 AT TIME ZONE $4)::date, ($3 AT TIME ZONE $4)::date, INTERVAL '1 day') AS g
             )
             SELECT d.day, d.midnight, date_trunc($5, d.midnight, $4) AS key,
                    date_trunc($5, d.midnight, $4) AT TIME ZONE $4 AS key_local,
                    EXISTS (SELECT 1 FROM holidays h WHERE h.site_id = $6 AND h.day = d.day) AS holiday,
                    coalesce((SELECT sum(r.import_kwh) FROM power_rollups r
                              WHERE r.resolution = 'day' AND r.device_id = ANY($1) AND r.bucket = d.midnight), 0) AS kwh
             FROM d WHERE d.midnight >= $2 AND d.midnight < $3
             ORDER BY d.day",
            &[&meters, &start, &end, &site.timezone, &unit, &site.id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(DayRow {
                date: r.try_get("day")?,
                midnight: r.try_get("midnight")?,
                holiday: r.try_get("holiday")?,
                key: r.try_get("key")?,
                key_local: r.try_get("key_local")?,
                kwh: r.try_get("kwh")?,
            })
        })
        .collect()
}

/// Occupant-hours of a site per local day in `[start, end)`: for each
/// camera and quarter hour with samples, the mean people in view × ¼ h,
/// summed over cameras (which Atrium takes to watch separate areas, as
/// the dashboard's totals do). Quarters without samples count nothing.
/// Read from the quarter-hour rollups ingest keeps with the samples.
pub async fn occupant_hours_by_day(
    client: &impl GenericClient,
    site: &Site,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(NaiveDate, f64)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT (q.bucket AT TIME ZONE $4)::date AS day,
                    sum(q.in_view_sum::float8 / q.samples) * 0.25 AS oh
             FROM occupancy_quarters q JOIN cameras c ON c.id = q.camera_id
             WHERE c.site_id = $1 AND q.bucket >= $2 AND q.bucket < $3
             GROUP BY 1 ORDER BY 1",
            &[&site.id, &start, &end, &site.timezone],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("day")?, r.try_get("oh")?)))
        .collect()
}

/// Energy of the site's main meters in hours in which every enabled
/// camera of the site was watching (samples in each of the hour's four
/// quarters) and saw nobody: (kWh, hours).
pub async fn empty_building(
    client: &impl GenericClient,
    site: &Site,
    meters: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(f64, i64), tokio_postgres::Error> {
    let r = client
        .query_one(
            "WITH cams AS (SELECT id FROM cameras WHERE site_id = $1 AND enabled),
             h AS (SELECT time_bucket(INTERVAL '1 hour', q.bucket) AS hr
                   FROM occupancy_quarters q JOIN cams c ON c.id = q.camera_id
                   WHERE q.bucket >= $2 AND q.bucket < $3
                   GROUP BY 1
                   HAVING count(*) = 4 * (SELECT count(*) FROM cams) AND max(q.in_view_max) = 0),
             e AS (SELECT h.hr, sum(r.import_kwh) AS kwh FROM h
                   JOIN power_rollups r ON r.resolution = 'hour' AND r.bucket = h.hr AND r.device_id = ANY($4)
                   GROUP BY 1)
             SELECT coalesce(sum(kwh), 0) AS kwh, count(*) AS hours FROM e",
            &[&site.id, &start, &end, &meters],
        )
        .await?;
    Ok((r.try_get("kwh")?, r.try_get("hours")?))
}

/// One meter's energy in hours in which every zone it supplies was
/// watched (in each quarter) and empty.
#[derive(Debug, Clone)]
pub struct EmptyZonesRow {
    pub device_id: String,
    pub name: String,
    pub zones: Vec<String>,
    pub empty_kwh: f64,
    pub empty_hours: i64,
    pub kwh: f64,
}

/// Per meter of the site with zones: its empty-zone energy, most first.
pub async fn empty_zones(
    client: &impl GenericClient,
    site: &Site,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<EmptyZonesRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            "WITH mz AS (SELECT mz.* FROM meter_zones mz JOIN devices d ON d.id = mz.device_id WHERE d.site_id = $1),
             nz AS (SELECT device_id, count(*) AS n, array_agg(camera_id || '/' || zone_id ORDER BY camera_id, zone_id) AS zones
                    FROM mz GROUP BY 1),
             zh AS (SELECT z.camera_id, z.zone_id, time_bucket(INTERVAL '1 hour', z.bucket) AS hr
                    FROM zone_quarters z
                    WHERE z.bucket >= $2 AND z.bucket < $3
                      AND (z.camera_id, z.zone_id) IN (SELECT camera_id, zone_id FROM mz)
                    GROUP BY 1, 2, 3
                    HAVING count(*) = 4 AND max(z.count_max) = 0),
             h AS (SELECT mz.device_id, zh.hr
                   FROM mz JOIN zh ON zh.camera_id = mz.camera_id AND zh.zone_id = mz.zone_id
                   JOIN nz USING (device_id)
                   GROUP BY mz.device_id, zh.hr, nz.n
                   HAVING count(*) = nz.n),
             e AS (SELECT h.device_id, sum(r.import_kwh) AS kwh, count(*) AS hours FROM h
                   JOIN power_rollups r ON r.resolution = 'hour' AND r.device_id = h.device_id AND r.bucket = h.hr
                   GROUP BY 1),
             t AS (SELECT nz.device_id, m.kwh FROM nz CROSS JOIN LATERAL (
                       SELECT sum(r.import_kwh) AS kwh FROM power_rollups r
                       WHERE r.resolution = 'hour' AND r.device_id = nz.device_id
                         AND r.bucket >= $2 AND r.bucket < $3) AS m)
             SELECT nz.device_id, d.name, nz.zones, coalesce(e.kwh, 0) AS empty_kwh, coalesce(e.hours, 0) AS empty_hours,
                    coalesce(t.kwh, 0) AS kwh
             FROM nz JOIN devices d ON d.id = nz.device_id
             LEFT JOIN e USING (device_id) LEFT JOIN t USING (device_id)
             ORDER BY empty_kwh DESC, nz.device_id",
            &[&site.id, &start, &end],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(EmptyZonesRow {
                device_id: r.try_get("device_id")?,
                name: r.try_get("name")?,
                zones: r.try_get("zones")?,
                empty_kwh: r.try_get("empty_kwh")?,
                empty_hours: r.try_get("empty_hours")?,
                kwh: r.try_get("kwh")?,
            })
        })
        .collect()
}

/// Energy of `meters` in `[start, end)` from the quarter-hour rollups.
pub async fn total_kwh(
    client: &impl GenericClient,
    meters: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<f64, tokio_postgres::Error> {
    client
        .query_one(
            "SELECT coalesce(sum(import_kwh), 0) AS kwh FROM power_rollups
             WHERE resolution = 'quarter' AND device_id = ANY($1) AND bucket >= $2 AND bucket < $3",
            &[&meters, &start, &end],
        )
        .await?
        .try_get("kwh")
}

/// The instant a local date starts in `tz`.
pub async fn midnight(
    client: &impl GenericClient,
    tz: &str,
    day: NaiveDate,
) -> Result<DateTime<Utc>, tokio_postgres::Error> {
    client
        .query_one(
            "SELECT ($1::date::timestamp AT TIME ZONE $2) AS m",
            &[&day, &tz],
        )
        .await?
        .try_get("m")
}
