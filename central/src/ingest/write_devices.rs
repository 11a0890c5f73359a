//! Writing the building systems' messages of a batch, in the batch's
//! transaction: readings into one hypertable per family, events, the
//! devices' lifecycle (status, birth, last seen), and the power rollups.
//!
//! Every insert is idempotent on the device's own identity of a point,
//! `(device, ts)` (plus circuit, door or zone for devices that front
//! several), so a resent or redelivered point is stored once. Power
//! rollups are recomputed, not incremented: a late or out-of-order
//! reading changes the energy of the step it splits, so every minute from
//! the first new reading to the reading after the last one is computed
//! again from the stored readings ([`crate::systems::registers`]), and the
//! hour and day rows are moved by the difference. A per-meter advisory
//! lock orders two central instances recomputing the same meter.

use std::collections::{BTreeMap, HashMap};

use atrium_proto::iot::{DeviceEventBody, Values};
use atrium_proto::validate_device::{DeviceBody, DeviceMessage};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use crate::systems::current::{self, PartPoint};
use crate::systems::registers::{self, MinuteStats, Reading, Rollovers};

/// What the devices' part of a transaction changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DevicesWritten {
    /// Readings stored for the first time (all families).
    pub new_points: u64,
    /// Points already stored (resent or redelivered).
    pub duplicate_points: u64,
    /// Device events stored for the first time.
    pub new_events: Vec<NewDeviceEvent>,
    /// Devices whose retained status changed (device, site, kind, state).
    pub status_changes: Vec<StatusChange>,
    /// Fire zones whose state this batch changed, newest reading each.
    pub fire_changes: Vec<FireChange>,
    /// Lifts whose mode this batch changed.
    pub lift_changes: Vec<LiftChange>,
    /// The power readings this batch added.
    pub power: Vec<PowerSeen>,
}

/// A new power reading of a meter.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerSeen {
    pub device: String,
    pub site: String,
    pub ts: DateTime<Utc>,
    pub power_kw: Option<f64>,
}

/// A newly stored device event.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeviceEvent {
    pub device: String,
    pub site: String,
    pub kind: String,
    pub ts: DateTime<Utc>,
    pub severity: String,
    pub event: serde_json::Value,
}

/// A device's status as it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub device: String,
    pub site: String,
    pub kind: String,
    pub ts: DateTime<Utc>,
    pub state: String,
}

/// A lift's mode as it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiftChange {
    pub device: String,
    pub site: String,
    pub ts: DateTime<Utc>,
    pub mode: String,
    pub previous: Option<String>,
}

/// A fire zone's state as it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct FireChange {
    pub device: String,
    pub site: String,
    pub zone: String,
    pub ts: DateTime<Utc>,
    pub state: String,
    pub previous: Option<String>,
    pub test_mode: bool,
}

/// The wire spelling of one of the contract's enums (their serde names,
/// which the tables' check constraints list).
fn text<T: serde::Serialize + std::fmt::Debug>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        // Not reachable with the contract's unit enums; an empty text
        // fails the column's check, so the batch is refused and the
        // message dead-lettered rather than stored wrong.
        other => {
            tracing::error!(value = ?v, result = ?other, "an enum did not serialise to a string");
            String::new()
        }
    }
}

/// A value of the contract's types as JSON for a jsonb column.
fn json<T: serde::Serialize>(v: &T, what: &str) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|e| {
        // Not reachable with the contract's types (no maps with non-string
        // keys, no failing Serialize impls); null keeps the row.
        tracing::error!(what, error = %e, "could not encode as JSON; stored as null");
        serde_json::Value::Null
    })
}

#[derive(Default)]
struct PowerRows {
    ts: Vec<DateTime<Utc>>,
    device: Vec<String>,
    seq: Vec<i64>,
    import: Vec<Option<f64>>,
    export: Vec<Option<f64>>,
    kw: Vec<Option<f64>>,
    volts: Vec<Option<f64>>,
    amps: Vec<Option<f64>>,
    pf: Vec<Option<f64>>,
}

/// Rows of a family keyed by a part of the device (circuit, door, zone).
#[derive(Default)]
struct PartRows {
    ts: Vec<DateTime<Utc>>,
    device: Vec<String>,
    part: Vec<String>,
    seq: Vec<i64>,
}

const INSERT_POWER: &str = "
INSERT INTO power_readings (ts, device_id, seq, energy_import_kwh, energy_export_kwh, power_kw, voltage_v, current_a, power_factor)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[])
ON CONFLICT DO NOTHING
RETURNING device_id, ts, power_kw";

const INSERT_LIGHTING: &str = "
INSERT INTO lighting_readings (ts, device_id, circuit, seq, on_state, level_percent, power_kw)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[], $5::bool[], $6::float8[], $7::float8[])
ON CONFLICT DO NOTHING";

/// Lift readings; returns each new one that carries a mode, with the
/// mode before it, so a lift going into fault can be told.
const INSERT_LIFT: &str = "
WITH ins AS (
    INSERT INTO lift_readings (ts, device_id, seq, floor, direction, door, mode, trips)
    SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::int[], $5::text[], $6::text[], $7::text[], $8::bigint[])
    ON CONFLICT DO NOTHING
    RETURNING ts, device_id, mode
)
SELECT ins.ts, ins.device_id, ins.mode,
       (SELECT l.mode FROM lift_readings l
        WHERE l.device_id = ins.device_id AND l.ts < ins.ts AND l.mode IS NOT NULL
        ORDER BY l.ts DESC LIMIT 1) AS previous
FROM ins ORDER BY ins.ts";

const INSERT_DOOR: &str = "
INSERT INTO door_readings (ts, device_id, door, seq, state, locked)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bool[])
ON CONFLICT DO NOTHING";

/// Fire readings; returns each new one with the zone's state before it
/// (the newest stored reading older than it), so changes can be told.
const INSERT_FIRE: &str = "
WITH ins AS (
    INSERT INTO fire_readings (ts, device_id, zone, seq, state, test_mode)
    SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bool[])
    ON CONFLICT DO NOTHING
    RETURNING ts, device_id, zone, state, test_mode
)
SELECT ins.ts, ins.device_id, ins.zone, ins.state, ins.test_mode,
       (SELECT f.state FROM fire_readings f
        WHERE f.device_id = ins.device_id AND f.zone = ins.zone AND f.ts < ins.ts
        ORDER BY f.ts DESC LIMIT 1) AS previous
FROM ins ORDER BY ins.ts";

const INSERT_EVENTS: &str = "
INSERT INTO device_events (ts, device_id, seq, site_id, kind, severity, ack_required, type, door, outcome, credential_hash, direction, text)
SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[],
                     $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
ON CONFLICT DO NOTHING
RETURNING device_id, ts, seq";

/// A status replaces the stored one in the order statuses arrive (the
/// broker sends a last will after the online status it follows, though
/// the will's timestamp is older); returns whether the state changed.
const UPSERT_STATUS: &str = "
WITH old AS (SELECT status FROM device_state WHERE device_id = $1)
INSERT INTO device_state AS s (device_id, status, status_ts, status_received_at, status_changed_at)
VALUES ($1, $2, $3, $4, $4)
ON CONFLICT (device_id) DO UPDATE SET
    status = EXCLUDED.status, status_ts = EXCLUDED.status_ts,
    status_received_at = EXCLUDED.status_received_at,
    status_changed_at = CASE WHEN s.status IS NOT DISTINCT FROM EXCLUDED.status
                             THEN s.status_changed_at ELSE EXCLUDED.status_received_at END
RETURNING (SELECT status FROM old) IS DISTINCT FROM $2 AS changed";

const UPSERT_BIRTH: &str = "
INSERT INTO device_state AS s (device_id, birth_ts, model, firmware, points, interval_s)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (device_id) DO UPDATE SET
    birth_ts = EXCLUDED.birth_ts, model = EXCLUDED.model, firmware = EXCLUDED.firmware,
    points = EXCLUDED.points, interval_s = EXCLUDED.interval_s
WHERE s.birth_ts IS NULL OR s.birth_ts <= EXCLUDED.birth_ts";

/// The stored presents of the parts a batch touches.
const STORED_PARTS: &str = "
SELECT c.device_id, c.part, c.family, c.ts, c.state, c.state_since, c.readings
FROM device_parts_current c
JOIN unnest($1::text[], $2::text[]) AS k(device_id, part) USING (device_id, part)";

/// Each part's merged present (merged from the stored one), applied only
/// over an older one.
const UPSERT_PARTS: &str = "
INSERT INTO device_parts_current AS c (device_id, part, family, ts, state, state_since, readings)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::timestamptz[], $7::jsonb[])
ON CONFLICT (device_id, part) DO UPDATE SET
    ts = EXCLUDED.ts, readings = EXCLUDED.readings, state = EXCLUDED.state,
    state_since = EXCLUDED.state_since
WHERE c.ts < EXCLUDED.ts";

const UPSERT_LAST_SEEN: &str = "
INSERT INTO device_state AS s (device_id, last_seen)
SELECT * FROM unnest($1::text[], $2::timestamptz[])
ON CONFLICT (device_id) DO UPDATE SET last_seen = greatest(s.last_seen, EXCLUDED.last_seen)";

/// Serialises rollup recomputation per meter across central instances,
/// in one order so two transactions never wait on each other in a cycle.
const LOCK_METERS: &str = "
SELECT count(pg_advisory_xact_lock(hashtextextended('atrium power ' || d, 0)))
FROM (SELECT DISTINCT d FROM unnest($1::text[]) AS d ORDER BY d) AS s";

/// The minutes to recompute per meter (from the first new reading's
/// minute to the minute after the reading that follows the last new
/// one) and every reading they need: those in the span, and the last
/// reading with each register before it (where the first steps start).
const SPAN_READINGS: &str = "
WITH d AS (
    SELECT u.dev, time_bucket(INTERVAL '1 minute', u.lo) AS lo,
           time_bucket(INTERVAL '1 minute', coalesce(
               (SELECT min(p.ts) FROM power_readings p WHERE p.device_id = u.dev AND p.ts > u.hi),
               u.hi)) + INTERVAL '1 minute' AS hi
    FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS u(dev, lo, hi)
)
SELECT d.dev, d.lo, d.hi, r.ts, r.energy_import_kwh, r.energy_export_kwh, r.power_kw
FROM d CROSS JOIN LATERAL (
    (SELECT p.ts, p.energy_import_kwh, p.energy_export_kwh, p.power_kw FROM power_readings p
     WHERE p.device_id = d.dev AND p.ts < d.lo AND p.energy_import_kwh IS NOT NULL
     ORDER BY p.ts DESC LIMIT 1)
    UNION
    (SELECT p.ts, p.energy_import_kwh, p.energy_export_kwh, p.power_kw FROM power_readings p
     WHERE p.device_id = d.dev AND p.ts < d.lo AND p.energy_export_kwh IS NOT NULL
     ORDER BY p.ts DESC LIMIT 1)
    UNION
    (SELECT p.ts, p.energy_import_kwh, p.energy_export_kwh, p.power_kw FROM power_readings p
     WHERE p.device_id = d.dev AND p.ts >= d.lo AND p.ts < d.hi)
) AS r
ORDER BY d.dev, r.ts";

const ROLLOVERS: &str = "
SELECT device_id, points FROM device_state WHERE device_id = ANY($1::text[]) AND points IS NOT NULL";

/// The stored rows of the recomputed minutes (by primary key). Every
/// minute that has a row still has its readings (readings are only
/// added), so the recomputed minutes cover every stored one in the span.
const OLD_MINUTES: &str = "
SELECT r.device_id, r.bucket, r.import_kwh, r.export_kwh, r.power_sum_kw, r.samples, r.resets
FROM unnest($1::text[], $2::timestamptz[]) AS k(dev, bucket)
JOIN power_rollups r ON r.resolution = 'minute' AND r.device_id = k.dev AND r.bucket = k.bucket";

const UPSERT_MINUTES: &str = "
INSERT INTO power_rollups AS r (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
SELECT 'minute', * FROM unnest($1::timestamptz[], $2::text[], $3::float8[], $4::float8[], $5::float8[], $6::int[], $7::float8[], $8::float8[], $9::int[])
ON CONFLICT (resolution, device_id, bucket) DO UPDATE SET
    import_kwh = EXCLUDED.import_kwh, export_kwh = EXCLUDED.export_kwh,
    power_sum_kw = EXCLUDED.power_sum_kw, samples = EXCLUDED.samples,
    power_min_kw = EXCLUDED.power_min_kw, power_max_kw = EXCLUDED.power_max_kw,
    resets = EXCLUDED.resets";

/// Moves the quarter-hour, hour (UTC) and day (the site's midnight) rows by the
/// minutes' differences; a minimum or maximum can only widen, since
/// readings are only ever added.
const APPLY_DIFFERENCES: &str = "
WITH x AS (
    SELECT t.*, s.timezone
    FROM unnest($1::timestamptz[], $2::text[], $3::float8[], $4::float8[], $5::float8[], $6::int[], $7::float8[], $8::float8[], $9::int[])
         AS t(bucket, dev, di, de, ds, dn, mn, mx, dr)
    JOIN devices v ON v.id = t.dev JOIN sites s ON s.id = v.site_id
), per_quarter AS (
    INSERT INTO power_rollups AS r (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
    SELECT 'quarter', time_bucket(INTERVAL '15 minutes', bucket), dev, sum(di), sum(de), sum(ds), sum(dn), min(mn), max(mx), sum(dr)
    FROM x GROUP BY 2, 3
    ON CONFLICT (resolution, device_id, bucket) DO UPDATE SET
        import_kwh = r.import_kwh + EXCLUDED.import_kwh, export_kwh = r.export_kwh + EXCLUDED.export_kwh,
        power_sum_kw = r.power_sum_kw + EXCLUDED.power_sum_kw, samples = r.samples + EXCLUDED.samples,
        power_min_kw = least(r.power_min_kw, EXCLUDED.power_min_kw),
        power_max_kw = greatest(r.power_max_kw, EXCLUDED.power_max_kw), resets = r.resets + EXCLUDED.resets
    RETURNING 1
), per_hour AS (
    INSERT INTO power_rollups AS r (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
    SELECT 'hour', time_bucket(INTERVAL '1 hour', bucket), dev, sum(di), sum(de), sum(ds), sum(dn), min(mn), max(mx), sum(dr)
    FROM x GROUP BY 2, 3
    ON CONFLICT (resolution, device_id, bucket) DO UPDATE SET
        import_kwh = r.import_kwh + EXCLUDED.import_kwh, export_kwh = r.export_kwh + EXCLUDED.export_kwh,
        power_sum_kw = r.power_sum_kw + EXCLUDED.power_sum_kw, samples = r.samples + EXCLUDED.samples,
        power_min_kw = least(r.power_min_kw, EXCLUDED.power_min_kw),
        power_max_kw = greatest(r.power_max_kw, EXCLUDED.power_max_kw), resets = r.resets + EXCLUDED.resets
    RETURNING 1
)
INSERT INTO power_rollups AS r (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
SELECT 'day', date_trunc('day', bucket, timezone), dev, sum(di), sum(de), sum(ds), sum(dn), min(mn), max(mx), sum(dr)
FROM x GROUP BY 2, 3
ON CONFLICT (resolution, device_id, bucket) DO UPDATE SET
    import_kwh = r.import_kwh + EXCLUDED.import_kwh, export_kwh = r.export_kwh + EXCLUDED.export_kwh,
    power_sum_kw = r.power_sum_kw + EXCLUDED.power_sum_kw, samples = r.samples + EXCLUDED.samples,
    power_min_kw = least(r.power_min_kw, EXCLUDED.power_min_kw),
    power_max_kw = greatest(r.power_max_kw, EXCLUDED.power_max_kw), resets = r.resets + EXCLUDED.resets";

/// Writes the devices' messages; `now` is when central received them
/// (a device's `last_seen`: offline detection is about hearing from it,
/// whatever its own clock says).
pub async fn write_devices(
    tx: &Transaction<'_>,
    msgs: &[DeviceMessage],
    now: DateTime<Utc>,
) -> Result<DevicesWritten, tokio_postgres::Error> {
    let mut out = DevicesWritten::default();
    if msgs.is_empty() {
        return Ok(out);
    }
    let site_of: HashMap<&str, (&str, &str)> = msgs
        .iter()
        .map(|m| (m.device.as_str(), (m.site.as_str(), m.kind.as_str())))
        .collect();
    let mut power = PowerRows::default();
    let mut lighting = (
        PartRows::default(),
        Vec::<Option<bool>>::new(),
        Vec::<Option<f64>>::new(),
        Vec::<Option<f64>>::new(),
    );
    let mut lift = (
        Vec::<DateTime<Utc>>::new(),
        Vec::<String>::new(),
        Vec::<i64>::new(),
        Vec::<Option<i32>>::new(),
        [Vec::<Option<String>>::new(), Vec::new(), Vec::new()],
        Vec::<Option<i64>>::new(),
    );
    let mut door = (
        PartRows::default(),
        Vec::<Option<String>>::new(),
        Vec::<Option<bool>>::new(),
    );
    let mut fire = (
        PartRows::default(),
        Vec::<String>::new(),
        Vec::<bool>::new(),
    );
    let mut seen: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut points_total = 0u64;
    let mut parts: Vec<PartPoint> = Vec::new();
    let mut events: Vec<(&DeviceMessage, &atrium_proto::iot::DeviceEvent)> = Vec::new();
    for m in msgs {
        let dev = m.device.to_string();
        match &m.body {
            DeviceBody::Telemetry(points) => {
                seen.insert(dev.clone(), now);
                for p in points {
                    points_total += 1;
                    // Sequence numbers are diagnostics; one beyond i64
                    // is stored as its maximum.
                    let seq = i64::try_from(p.seq).unwrap_or(i64::MAX);
                    parts.push(part_point(&dev, p.ts, &p.values));
                    match &p.values {
                        Values::PowerMeter(v) => {
                            power.ts.push(p.ts);
                            power.device.push(dev.clone());
                            power.seq.push(seq);
                            power.import.push(v.energy_import_kwh);
                            power.export.push(v.energy_export_kwh);
                            power.kw.push(v.power_kw);
                            power.volts.push(v.voltage_v);
                            power.amps.push(v.current_a);
                            power.pf.push(v.power_factor);
                        }
                        Values::Lighting(v) => {
                            push_part(&mut lighting.0, p.ts, &dev, &v.circuit, seq);
                            lighting.1.push(v.on);
                            lighting.2.push(v.level_percent);
                            lighting.3.push(v.power_kw);
                        }
                        Values::Lift(v) => {
                            lift.0.push(p.ts);
                            lift.1.push(dev.clone());
                            lift.2.push(seq);
                            lift.3.push(v.floor);
                            lift.4[0].push(v.direction.as_ref().map(text));
                            lift.4[1].push(v.door.as_ref().map(text));
                            lift.4[2].push(v.mode.as_ref().map(text));
                            lift.5
                                .push(v.trips.map(|t| i64::try_from(t).unwrap_or(i64::MAX)));
                        }
                        Values::Access(v) => {
                            push_part(&mut door.0, p.ts, &dev, &v.door, seq);
                            door.1.push(v.state.as_ref().map(text));
                            door.2.push(v.locked);
                        }
                        Values::Fire(v) => {
                            push_part(&mut fire.0, p.ts, &dev, &v.zone, seq);
                            fire.1.push(text(&v.state));
                            fire.2.push(v.test_mode);
                        }
                    }
                }
            }
            DeviceBody::Event(e) => {
                seen.insert(dev.clone(), now);
                events.push((m, e));
            }
            DeviceBody::Status(s) => {
                let state = text(&s.state);
                let stmt = tx.prepare_cached(UPSERT_STATUS).await?;
                let row = tx.query_one(&stmt, &[&dev, &state, &s.ts, &now]).await?;
                if row.try_get::<_, bool>("changed")? {
                    out.status_changes.push(StatusChange {
                        device: dev.clone(),
                        site: m.site.to_string(),
                        kind: m.kind.as_str().to_owned(),
                        ts: s.ts,
                        state,
                    });
                }
            }
            DeviceBody::Birth(b) => {
                let points = json(&b.points, "birth points");
                let interval = b
                    .points
                    .iter()
                    .map(|p| p.interval_s)
                    .min()
                    .and_then(|i| i32::try_from(i).ok());
                let stmt = tx.prepare_cached(UPSERT_BIRTH).await?;
                tx.execute(
                    &stmt,
                    &[&dev, &b.ts, &b.model, &b.firmware, &points, &interval],
                )
                .await?;
            }
        }
    }
    let mut stored = 0u64;
    if !power.ts.is_empty() {
        stored += write_power(tx, &power, &site_of, &mut out).await?;
    }
    if !lighting.0.ts.is_empty() {
        let stmt = tx.prepare_cached(INSERT_LIGHTING).await?;
        let l = &lighting;
        stored += tx
            .execute(
                &stmt,
                &[&l.0.ts, &l.0.device, &l.0.part, &l.0.seq, &l.1, &l.2, &l.3],
            )
            .await?;
    }
    if !lift.0.is_empty() {
        let stmt = tx.prepare_cached(INSERT_LIFT).await?;
        let rows = tx
            .query(
                &stmt,
                &[
                    &lift.0, &lift.1, &lift.2, &lift.3, &lift.4[0], &lift.4[1], &lift.4[2], &lift.5,
                ],
            )
            .await?;
        stored += rows.len() as u64;
        // In time order; the statement's own rows are invisible to its
        // "previous" lookup, so a batch's earlier row is the previous of
        // its later ones.
        let mut in_batch: HashMap<String, String> = HashMap::new();
        for r in rows {
            let mode: Option<String> = r.try_get("mode")?;
            let device: String = r.try_get("device_id")?;
            let stored: Option<String> = r.try_get("previous")?;
            let Some(mode) = mode else { continue };
            let previous = in_batch.insert(device.clone(), mode.clone()).or(stored);
            if previous.as_ref() != Some(&mode) {
                let site = site_of.get(device.as_str()).map_or("", |s| s.0).to_owned();
                out.lift_changes.push(LiftChange {
                    ts: r.try_get("ts")?,
                    device,
                    site,
                    mode,
                    previous,
                });
            }
        }
    }
    if !door.0.ts.is_empty() {
        let stmt = tx.prepare_cached(INSERT_DOOR).await?;
        let d = &door;
        stored += tx
            .execute(
                &stmt,
                &[&d.0.ts, &d.0.device, &d.0.part, &d.0.seq, &d.1, &d.2],
            )
            .await?;
    }
    if !fire.0.ts.is_empty() {
        let stmt = tx.prepare_cached(INSERT_FIRE).await?;
        let f = &fire;
        let rows = tx
            .query(
                &stmt,
                &[&f.0.ts, &f.0.device, &f.0.part, &f.0.seq, &f.1, &f.2],
            )
            .await?;
        stored += rows.len() as u64;
        // As for lifts: a batch's earlier row is its later rows' previous.
        let mut in_batch: HashMap<(String, String), String> = HashMap::new();
        for r in rows {
            let mut change = FireChange {
                ts: r.try_get("ts")?,
                device: r.try_get("device_id")?,
                zone: r.try_get("zone")?,
                state: r.try_get("state")?,
                test_mode: r.try_get("test_mode")?,
                previous: r.try_get("previous")?,
                site: String::new(),
            };
            let key = (change.device.clone(), change.zone.clone());
            if let Some(p) = in_batch.insert(key, change.state.clone()) {
                change.previous = Some(p);
            }
            if change.previous.as_deref() != Some(change.state.as_str()) {
                let site = site_of.get(change.device.as_str()).map_or("", |s| s.0);
                out.fire_changes.push(FireChange {
                    site: site.to_owned(),
                    ..change
                });
            }
        }
    }
    if !events.is_empty() {
        write_events(tx, &events, &mut out).await?;
    }
    if !parts.is_empty() {
        write_parts(tx, parts).await?;
    }
    if !seen.is_empty() {
        let (devs, ts): (Vec<String>, Vec<DateTime<Utc>>) = seen.into_iter().unzip();
        let stmt = tx.prepare_cached(UPSERT_LAST_SEEN).await?;
        tx.execute(&stmt, &[&devs, &ts]).await?;
    }
    out.new_points = stored;
    out.duplicate_points = points_total.saturating_sub(stored);
    Ok(out)
}

/// A point's contribution to its part's present.
fn part_point(dev: &str, ts: DateTime<Utc>, values: &Values) -> PartPoint {
    let (family, part, state) = match values {
        Values::PowerMeter(_) => ("power", String::new(), None),
        Values::Lighting(v) => (
            "lighting",
            v.circuit.clone(),
            v.on.map(|on| if on { "on" } else { "off" }.to_owned()),
        ),
        Values::Lift(v) => ("lift", String::new(), v.mode.as_ref().map(text)),
        Values::Access(v) => ("door", v.door.clone(), v.state.as_ref().map(text)),
        Values::Fire(v) => ("fire", v.zone.clone(), Some(text(&v.state))),
    };
    // Our own types serialise to objects; anything else merges nothing.
    let readings = match serde_json::to_value(values) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    PartPoint {
        device: dev.to_owned(),
        part,
        family,
        ts,
        state,
        readings,
    }
}

async fn write_parts(
    tx: &Transaction<'_>,
    points: Vec<PartPoint>,
) -> Result<(), tokio_postgres::Error> {
    let keys: std::collections::BTreeSet<(String, String)> = points
        .iter()
        .map(|p| (p.device.clone(), p.part.clone()))
        .collect();
    let (kd, kp): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
    let stmt = tx.prepare_cached(STORED_PARTS).await?;
    let mut stored = current::Stored::new();
    for r in tx.query(&stmt, &[&kd, &kp]).await? {
        let family: String = r.try_get("family")?;
        let readings = match r.try_get::<_, serde_json::Value>("readings")? {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let now = current::PartNow {
            device: r.try_get("device_id")?,
            part: r.try_get("part")?,
            family: current::family(&family),
            ts: r.try_get("ts")?,
            state: r.try_get("state")?,
            state_since: r.try_get("state_since")?,
            readings,
        };
        stored.insert((now.device.clone(), now.part.clone()), now);
    }
    let now = current::merge(points, &stored);
    if now.is_empty() {
        return Ok(());
    }
    let n = now.len();
    let (mut dev, mut part, mut fam, mut ts, mut state, mut since, mut readings) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for p in now {
        dev.push(p.device);
        part.push(p.part);
        fam.push(p.family);
        ts.push(p.ts);
        state.push(p.state);
        since.push(p.state_since);
        readings.push(serde_json::Value::Object(p.readings));
    }
    let stmt = tx.prepare_cached(UPSERT_PARTS).await?;
    tx.execute(&stmt, &[&dev, &part, &fam, &ts, &state, &since, &readings])
        .await?;
    Ok(())
}

fn push_part(rows: &mut PartRows, ts: DateTime<Utc>, dev: &str, part: &str, seq: i64) {
    rows.ts.push(ts);
    rows.device.push(dev.to_owned());
    rows.part.push(part.to_owned());
    rows.seq.push(seq);
}

async fn write_events(
    tx: &Transaction<'_>,
    events: &[(&DeviceMessage, &atrium_proto::iot::DeviceEvent)],
    out: &mut DevicesWritten,
) -> Result<(), tokio_postgres::Error> {
    let n = events.len();
    let (mut ts, mut dev, mut seq, mut site, mut kind) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut severity, mut ack, mut typ) = (Vec::new(), Vec::new(), Vec::new());
    let mut access: [Vec<Option<String>>; 4] = Default::default();
    let mut texts: Vec<Option<String>> = Vec::new();
    let mut bodies: HashMap<(String, DateTime<Utc>, i64), (usize, serde_json::Value)> =
        HashMap::new();
    for (i, (m, e)) in events.iter().enumerate() {
        let s = i64::try_from(e.seq).unwrap_or(i64::MAX);
        ts.push(e.ts);
        dev.push(m.device.to_string());
        seq.push(s);
        site.push(m.site.to_string());
        kind.push(m.kind.as_str().to_owned());
        severity.push(text(&e.severity));
        ack.push(e.ack_required);
        let body = json(&e.event, "device event");
        bodies.insert((m.device.to_string(), e.ts, s), (i, body));
        match &e.event {
            DeviceEventBody::Access(a) => {
                typ.push("access".to_owned());
                access[0].push(Some(a.door.clone()));
                access[1].push(Some(text(&a.outcome)));
                access[2].push(a.credential_hash.clone());
                access[3].push(a.direction.as_ref().map(text));
                texts.push(None);
            }
            DeviceEventBody::Alarm { text: t } | DeviceEventBody::Fault { text: t } => {
                let alarm = matches!(e.event, DeviceEventBody::Alarm { .. });
                typ.push(if alarm { "alarm" } else { "fault" }.to_owned());
                for a in &mut access {
                    a.push(None);
                }
                texts.push(Some(t.clone()));
            }
        }
    }
    let stmt = tx.prepare_cached(INSERT_EVENTS).await?;
    let rows = tx
        .query(
            &stmt,
            &[
                &ts, &dev, &seq, &site, &kind, &severity, &ack, &typ, &access[0], &access[1],
                &access[2], &access[3], &texts,
            ],
        )
        .await?;
    for r in rows {
        let key: (String, DateTime<Utc>, i64) =
            (r.try_get("device_id")?, r.try_get("ts")?, r.try_get("seq")?);
        if let Some((i, body)) = bodies.remove(&key) {
            out.new_events.push(NewDeviceEvent {
                device: key.0,
                site: site[i].clone(),
                kind: kind[i].clone(),
                ts: key.1,
                severity: severity[i].clone(),
                event: body,
            });
        }
    }
    Ok(())
}

/// Stores power readings and recomputes the rollups they touch; returns
/// how many were new.
async fn write_power(
    tx: &Transaction<'_>,
    p: &PowerRows,
    site_of: &HashMap<&str, (&str, &str)>,
    out: &mut DevicesWritten,
) -> Result<u64, tokio_postgres::Error> {
    let lock = tx.prepare_cached(LOCK_METERS).await?;
    tx.query_one(&lock, &[&p.device]).await?;
    let stmt = tx.prepare_cached(INSERT_POWER).await?;
    let rows = tx
        .query(
            &stmt,
            &[
                &p.ts, &p.device, &p.seq, &p.import, &p.export, &p.kw, &p.volts, &p.amps, &p.pf,
            ],
        )
        .await?;
    // The new readings' span per meter.
    let mut span: BTreeMap<String, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for r in &rows {
        let dev: String = r.try_get("device_id")?;
        let ts: DateTime<Utc> = r.try_get("ts")?;
        let kw: Option<f64> = r.try_get("power_kw")?;
        let site = site_of.get(dev.as_str()).map_or("", |s| s.0).to_owned();
        out.power.push(PowerSeen {
            device: dev.clone(),
            site,
            ts,
            power_kw: kw,
        });
        span.entry(dev)
            .and_modify(|(lo, hi)| {
                *lo = (*lo).min(ts);
                *hi = (*hi).max(ts);
            })
            .or_insert((ts, ts));
    }
    if span.is_empty() {
        return Ok(0);
    }
    recompute(tx, &span).await?;
    Ok(rows.len() as u64)
}

/// Recomputes the minutes around each meter's new readings and moves the
/// hour and day rows by the difference.
async fn recompute(
    tx: &Transaction<'_>,
    span: &BTreeMap<String, (DateTime<Utc>, DateTime<Utc>)>,
) -> Result<(), tokio_postgres::Error> {
    let devs: Vec<&String> = span.keys().collect();
    let los: Vec<DateTime<Utc>> = span.values().map(|s| s.0).collect();
    let his: Vec<DateTime<Utc>> = span.values().map(|s| s.1).collect();
    let stmt = tx.prepare_cached(ROLLOVERS).await?;
    let mut rollovers: HashMap<String, Rollovers> = HashMap::new();
    for r in tx.query(&stmt, &[&devs]).await? {
        let points: serde_json::Value = r.try_get("points")?;
        let dev: String = r.try_get("device_id")?;
        // Written from a checked birth; if it was edited into something
        // else, rollovers count as resets (a slight undercount).
        let specs: Vec<atrium_proto::iot::PointSpec> = serde_json::from_value(points)
            .unwrap_or_else(|e| {
                tracing::warn!(device = %dev, error = %e, "unreadable birth points; rollovers count as resets");
                Vec::new()
            });
        let of = |name: &str| {
            specs
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.rollover)
        };
        rollovers.insert(
            dev,
            Rollovers {
                import: of("energy_import_kwh"),
                export: of("energy_export_kwh"),
            },
        );
    }
    let stmt = tx.prepare_cached(SPAN_READINGS).await?;
    let rows = tx.query(&stmt, &[&devs, &los, &his]).await?;
    // Per meter: the span in whole minutes and its readings, in order.
    let mut per: BTreeMap<String, MeterSpan> = BTreeMap::new();
    for r in &rows {
        let dev: String = r.try_get("dev")?;
        let entry = match per.entry(dev) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert((r.try_get("lo")?, r.try_get("hi")?, Vec::new()))
            }
        };
        entry.2.push(Reading {
            ts: r.try_get("ts")?,
            import_kwh: r.try_get("energy_import_kwh")?,
            export_kwh: r.try_get("energy_export_kwh")?,
            power_kw: r.try_get("power_kw")?,
        });
    }
    let mut new: BTreeMap<(String, DateTime<Utc>), MinuteStats> = BTreeMap::new();
    for (dev, (lo, hi, readings)) in &per {
        // No birth with rollover values: a wrap counts as a reset.
        let r = rollovers.get(dev).copied().unwrap_or(Rollovers::NONE);
        for (minute, stats) in registers::minutes(readings, *lo, *hi, r) {
            new.insert((dev.clone(), minute), stats);
        }
    }
    let (kd, kb): (Vec<&String>, Vec<DateTime<Utc>>) = new.keys().map(|(d, m)| (d, *m)).unzip();
    let stmt = tx.prepare_cached(OLD_MINUTES).await?;
    let mut diff: BTreeMap<(String, DateTime<Utc>), MinuteStats> = BTreeMap::new();
    for r in tx.query(&stmt, &[&kd, &kb]).await? {
        let key = (r.try_get("device_id")?, r.try_get("bucket")?);
        let d = diff.entry(key).or_default();
        d.import_kwh -= r.try_get::<_, f64>("import_kwh")?;
        d.export_kwh -= r.try_get::<_, f64>("export_kwh")?;
        d.power_sum_kw -= r.try_get::<_, f64>("power_sum_kw")?;
        d.samples -= r.try_get::<_, i32>("samples")?;
        d.resets -= r.try_get::<_, i32>("resets")?;
    }
    let mut cols = MinuteColumns::default();
    for ((dev, minute), s) in &new {
        cols.push(*minute, dev, s);
        let d = diff.entry((dev.clone(), *minute)).or_default();
        d.import_kwh += s.import_kwh;
        d.export_kwh += s.export_kwh;
        d.power_sum_kw += s.power_sum_kw;
        d.samples += s.samples;
        d.resets += s.resets;
        d.power_min_kw = s.power_min_kw;
        d.power_max_kw = s.power_max_kw;
    }
    if !cols.bucket.is_empty() {
        let stmt = tx.prepare_cached(UPSERT_MINUTES).await?;
        tx.execute(&stmt, &cols.params()).await?;
    }
    let mut dcols = MinuteColumns::default();
    for ((dev, minute), d) in &diff {
        dcols.push(*minute, dev, d);
    }
    if !dcols.bucket.is_empty() {
        let stmt = tx.prepare_cached(APPLY_DIFFERENCES).await?;
        tx.execute(&stmt, &dcols.params()).await?;
    }
    Ok(())
}

/// A meter's minutes to recompute, `[lo, hi)`, and the readings they
/// need.
type MeterSpan = (DateTime<Utc>, DateTime<Utc>, Vec<Reading>);

#[derive(Default)]
struct MinuteColumns {
    bucket: Vec<DateTime<Utc>>,
    dev: Vec<String>,
    import: Vec<f64>,
    export: Vec<f64>,
    sum: Vec<f64>,
    samples: Vec<i32>,
    min: Vec<Option<f64>>,
    max: Vec<Option<f64>>,
    resets: Vec<i32>,
}

impl MinuteColumns {
    fn push(&mut self, bucket: DateTime<Utc>, dev: &str, s: &MinuteStats) {
        self.bucket.push(bucket);
        self.dev.push(dev.to_owned());
        self.import.push(s.import_kwh);
        self.export.push(s.export_kwh);
        self.sum.push(s.power_sum_kw);
        self.samples.push(s.samples);
        self.min.push(s.power_min_kw);
        self.max.push(s.power_max_kw);
        self.resets.push(s.resets);
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 9] {
        [
            &self.bucket,
            &self.dev,
            &self.import,
            &self.export,
            &self.sum,
            &self.samples,
            &self.min,
            &self.max,
            &self.resets,
        ]
    }
}
