//! Writing a batch of accepted messages in one transaction.
//!
//! Events and line crossings, nearly all of ingest's rows, are first tried
//! with binary COPY inside a savepoint ([`copy_new`]): nearly every batch
//! is new, and COPY writes rows in multi-row batches where an `INSERT`
//! writes them one by one (docs/performance.md, "Central ingest").
//! A batch holding anything already stored (a redelivery) fails that COPY
//! on the primary key and is written again with `INSERT … SELECT FROM
//! unnest(arrays) ON CONFLICT DO NOTHING`, idempotent on the event id. Either
//! way crossing rollups are incremented only by crossings this transaction
//! actually stored, so a redelivered batch never counts twice. The other
//! tables (occupancy, zones, faces, statuses, dead letters) take the
//! `unnest` inserts: one round trip per table for the whole batch.

use atrium_proto::event::{EventBody, Violation};
use atrium_proto::validate_device::DeviceMessage;
use atrium_proto::{Event, Status};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use uuid::Uuid;

/// A message ingest refused, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub topic: String,
    pub reason: String,
    pub payload: Vec<u8>,
}

/// Largest part of a refused payload that is kept.
pub const DEAD_LETTER_KEEP: usize = 64 * 1024;

/// What one transaction writes.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub events: Vec<(Event, serde_json::Value)>,
    pub statuses: Vec<Status>,
    /// Building systems' messages.
    pub devices: Vec<DeviceMessage>,
    pub dead: Vec<DeadLetter>,
    /// When central received the batch (a device's last-seen time).
    pub received_at: DateTime<Utc>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.events.len() + self.statuses.len() + self.devices.len() + self.dead.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the transaction changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Written {
    /// Events stored for the first time (the rest were duplicates).
    pub new_events: u64,
    /// Their ids.
    pub new_ids: std::collections::HashSet<Uuid>,
    pub dead_letters: u64,
    /// What the devices' messages changed.
    pub devices: super::write_devices::DevicesWritten,
}

const INSERT_EVENTS: &str = "
INSERT INTO events (ts, id, site_id, camera_id, type, payload)
SELECT * FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
ON CONFLICT DO NOTHING
RETURNING id";

/// Crossings, idempotently; returns those actually inserted, whose
/// rollups [`ROLLUP_NEW_CROSSINGS`] then increments.
const INSERT_CROSSINGS: &str = "
INSERT INTO line_crossings (ts, event_id, camera_id, line_id, direction, track)
SELECT * FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bigint[])
ON CONFLICT DO NOTHING
RETURNING ts, camera_id, line_id, direction";

/// Occupancy samples, idempotently, and the quarter-hour rollups of those
/// actually inserted (a redelivered sample counts once).
const INSERT_OCCUPANCY: &str = "
WITH ins AS (
    INSERT INTO occupancy_samples (ts, event_id, camera_id, in_view, zones)
    SELECT * FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::int[], $5::jsonb[])
    ON CONFLICT DO NOTHING
    RETURNING ts, camera_id, in_view, zones
), per_camera AS (
    INSERT INTO occupancy_quarters AS r (camera_id, bucket, samples, in_view_sum, in_view_max)
    SELECT camera_id, time_bucket(INTERVAL '15 minutes', ts), count(*), sum(in_view), max(in_view)
    FROM ins GROUP BY 1, 2
    ON CONFLICT (camera_id, bucket) DO UPDATE SET
        samples = r.samples + EXCLUDED.samples, in_view_sum = r.in_view_sum + EXCLUDED.in_view_sum,
        in_view_max = greatest(r.in_view_max, EXCLUDED.in_view_max)
    RETURNING 1
)
INSERT INTO zone_quarters AS z (camera_id, zone_id, bucket, samples, count_max)
SELECT ins.camera_id, e.value->>'zone', time_bucket(INTERVAL '15 minutes', ins.ts), count(*),
       max((e.value->>'count')::bigint)
FROM ins CROSS JOIN LATERAL jsonb_array_elements(ins.zones) AS e
GROUP BY 1, 2, 3
ON CONFLICT (camera_id, zone_id, bucket) DO UPDATE SET
    samples = z.samples + EXCLUDED.samples, count_max = greatest(z.count_max, EXCLUDED.count_max)";

const INSERT_ZONE_EVENTS: &str = "
INSERT INTO zone_events (ts, event_id, camera_id, zone_id, kind, track, dwell_s, occupancy)
SELECT * FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::float8[], $8::int[])
ON CONFLICT DO NOTHING";

const INSERT_FACES: &str = "
INSERT INTO face_observations (ts, event_id, camera_id, track, quality, bbox, model, embedding)
SELECT ts, id, cam, track, quality, ARRAY[x1, y1, x2, y2], model, emb
FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::bigint[], $5::real[],
            $6::real[], $7::real[], $8::real[], $9::real[], $10::text[], $11::vector[])
     AS t(ts, id, cam, track, quality, x1, y1, x2, y2, model, emb)
ON CONFLICT DO NOTHING";

const INSERT_DEAD: &str = "
INSERT INTO dead_letters (topic, reason, payload, payload_bytes)
SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int[])";

const INSERT_STATUS_HISTORY: &str = "
INSERT INTO camera_status_history (ts, camera_id, state, reason, detail)
SELECT $1, $2, $3, $4, $5
WHERE NOT EXISTS (
    SELECT 1 FROM camera_status_history h
    WHERE h.camera_id = $2 AND h.state = $3 AND h.ts <= $1 AND h.ts > $1 - INTERVAL '60 seconds')
ON CONFLICT DO NOTHING";

const UPSERT_STATUS_CURRENT: &str = "
INSERT INTO camera_status_current (camera_id, ts, state, reason, detail, changed_at)
VALUES ($2, $1, $3, $4, $5, $1)
ON CONFLICT (camera_id) DO UPDATE SET
    ts = EXCLUDED.ts, state = EXCLUDED.state, reason = EXCLUDED.reason, detail = EXCLUDED.detail,
    changed_at = CASE WHEN camera_status_current.state = EXCLUDED.state
                      THEN camera_status_current.changed_at ELSE EXCLUDED.ts END
WHERE camera_status_current.ts <= EXCLUDED.ts";

#[derive(Default)]
struct Columns {
    ts: Vec<DateTime<Utc>>,
    id: Vec<Uuid>,
    camera: Vec<String>,
}

impl Columns {
    fn push(&mut self, e: &Event) {
        self.ts.push(e.ts);
        self.id.push(e.id);
        self.camera.push(e.camera.to_string());
    }
}

/// Line crossings' columns: the events', line id, direction, track.
type LineColumns = (Columns, Vec<String>, Vec<String>, Vec<i64>);

/// Increments the minute and hour rollups by crossings `$1..$4` (ts,
/// camera, line, direction), which must be new ones: all of a batch's
/// after its COPY, or those [`INSERT_CROSSINGS`] inserted.
const ROLLUP_NEW_CROSSINGS: &str = "
WITH ins AS (
    SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[])
        AS t(ts, camera_id, line_id, direction)
), per_minute AS (
    INSERT INTO crossing_rollups (resolution, bucket, camera_id, line_id, in_count, out_count)
    SELECT 'minute', time_bucket(INTERVAL '1 minute', ts), camera_id, line_id,
           count(*) FILTER (WHERE direction = 'in'), count(*) FILTER (WHERE direction = 'out')
    FROM ins GROUP BY 2, 3, 4
    ON CONFLICT (resolution, camera_id, line_id, bucket) DO UPDATE
        SET in_count = crossing_rollups.in_count + EXCLUDED.in_count,
            out_count = crossing_rollups.out_count + EXCLUDED.out_count
    RETURNING 1
)
INSERT INTO crossing_rollups (resolution, bucket, camera_id, line_id, in_count, out_count)
SELECT 'hour', time_bucket(INTERVAL '1 hour', ts), camera_id, line_id,
       count(*) FILTER (WHERE direction = 'in'), count(*) FILTER (WHERE direction = 'out')
FROM ins GROUP BY 2, 3, 4
ON CONFLICT (resolution, camera_id, line_id, bucket) DO UPDATE
    SET in_count = crossing_rollups.in_count + EXCLUDED.in_count,
        out_count = crossing_rollups.out_count + EXCLUDED.out_count";

/// Increments the rollups by these new crossings (none: nothing to do).
async fn rollup(
    tx: &Transaction<'_>,
    ts: &[DateTime<Utc>],
    camera: &[String],
    line: &[String],
    direction: &[String],
) -> Result<(), tokio_postgres::Error> {
    if ts.is_empty() {
        return Ok(());
    }
    let stmt = tx.prepare_cached(ROLLUP_NEW_CROSSINGS).await?;
    tx.execute(&stmt, &[&ts, &camera, &line, &direction])
        .await?;
    Ok(())
}

/// The fast path: binary COPY of the events and their crossings, which
/// PostgreSQL writes in multi-row batches (an `INSERT … SELECT` writes
/// row by row), inside a savepoint. COPY has no `ON CONFLICT`: a row already stored (a
/// redelivery, or the same event twice in the batch) fails it with a
/// unique violation, the savepoint is rolled back and `Ok(false)` says to
/// take the idempotent path. `Ok(true)`: every event and crossing was new,
/// and the rollups are incremented by all of the crossings.
async fn copy_new(
    tx: &Transaction<'_>,
    all: &Columns,
    sites: &[String],
    kinds: &[String],
    payloads: &[serde_json::Value],
    lines: &LineColumns,
) -> Result<bool, tokio_postgres::Error> {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::{ToSql, Type};
    tx.batch_execute("SAVEPOINT ingest_copy").await?;
    let copied = async {
        let sink = tx
            .copy_in("COPY events (ts, id, site_id, camera_id, type, payload) FROM STDIN BINARY")
            .await?;
        let w = BinaryCopyInWriter::new(
            sink,
            &[
                Type::TIMESTAMPTZ,
                Type::UUID,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::JSONB,
            ],
        );
        futures::pin_mut!(w);
        for i in 0..all.id.len() {
            let row: [&(dyn ToSql + Sync); 6] = [
                &all.ts[i],
                &all.id[i],
                &sites[i],
                &all.camera[i],
                &kinds[i],
                &payloads[i],
            ];
            w.as_mut().write(&row).await?;
        }
        w.finish().await?;
        if !lines.0.ts.is_empty() {
            let sink = tx
                .copy_in("COPY line_crossings (ts, event_id, camera_id, line_id, direction, track) FROM STDIN BINARY")
                .await?;
            let w = BinaryCopyInWriter::new(
                sink,
                &[
                    Type::TIMESTAMPTZ,
                    Type::UUID,
                    Type::TEXT,
                    Type::TEXT,
                    Type::TEXT,
                    Type::INT8,
                ],
            );
            futures::pin_mut!(w);
            for i in 0..lines.0.ts.len() {
                let row: [&(dyn ToSql + Sync); 6] = [
                    &lines.0.ts[i],
                    &lines.0.id[i],
                    &lines.0.camera[i],
                    &lines.1[i],
                    &lines.2[i],
                    &lines.3[i],
                ];
                w.as_mut().write(&row).await?;
            }
            w.finish().await?;
        }
        Ok::<(), tokio_postgres::Error>(())
    }
    .await;
    match copied {
        Ok(()) => {
            tx.batch_execute("RELEASE SAVEPOINT ingest_copy").await?;
            rollup(tx, &lines.0.ts, &lines.0.camera, &lines.1, &lines.2).await?;
            Ok(true)
        }
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT ingest_copy")
                .await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The idempotent path, for a batch that holds something already stored:
/// `INSERT … ON CONFLICT DO NOTHING` of the events and crossings, rollups
/// from the crossings actually inserted. Returns the new events' ids.
async fn insert_idempotent(
    tx: &Transaction<'_>,
    all: &Columns,
    sites: &[String],
    kinds: &[String],
    payloads: &[serde_json::Value],
    lines: &LineColumns,
) -> Result<std::collections::HashSet<Uuid>, tokio_postgres::Error> {
    let stmt = tx.prepare_cached(INSERT_EVENTS).await?;
    let rows = tx
        .query(
            &stmt,
            &[&all.ts, &all.id, &sites, &all.camera, &kinds, &payloads],
        )
        .await?;
    let new_ids = rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    if !lines.0.ts.is_empty() {
        let stmt = tx.prepare_cached(INSERT_CROSSINGS).await?;
        let inserted = tx
            .query(
                &stmt,
                &[
                    &lines.0.ts,
                    &lines.0.id,
                    &lines.0.camera,
                    &lines.1,
                    &lines.2,
                    &lines.3,
                ],
            )
            .await?;
        let mut new = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in &inserted {
            new.0.push(r.try_get::<_, DateTime<Utc>>("ts")?);
            new.1.push(r.try_get::<_, String>("camera_id")?);
            new.2.push(r.try_get::<_, String>("line_id")?);
            new.3.push(r.try_get::<_, String>("direction")?);
        }
        rollup(tx, &new.0, &new.1, &new.2, &new.3).await?;
    }
    Ok(new_ids)
}

/// Writes the batch; the caller commits.
pub async fn write(tx: &Transaction<'_>, batch: &Batch) -> Result<Written, tokio_postgres::Error> {
    let mut written = Written::default();
    if !batch.events.is_empty() {
        let mut all = Columns::default();
        let (mut sites, mut kinds, mut payloads) = (Vec::new(), Vec::new(), Vec::new());
        let mut lines: LineColumns = Default::default();
        let mut occ = (Columns::default(), Vec::<i32>::new(), Vec::new());
        let mut zones = (
            Columns::default(),
            Vec::new(),
            Vec::new(),
            Vec::<Option<i64>>::new(),
            Vec::<Option<f64>>::new(),
            Vec::<Option<i32>>::new(),
        );
        let mut faces = (
            Columns::default(),
            Vec::<i64>::new(),
            Vec::<f32>::new(),
            [Vec::<f32>::new(), Vec::new(), Vec::new(), Vec::new()],
            Vec::<String>::new(),
            Vec::<pgvector::Vector>::new(),
        );
        for (e, raw) in &batch.events {
            all.push(e);
            sites.push(e.site.to_string());
            kinds.push(e.body.kind().as_str().to_owned());
            payloads.push(raw.clone());
            match &e.body {
                EventBody::LineCrossed {
                    line,
                    direction,
                    track,
                } => {
                    lines.0.push(e);
                    lines.1.push(line.clone());
                    lines.2.push(direction.as_str().to_owned());
                    lines.3.push(*track as i64);
                }
                EventBody::Occupancy { in_view, zones: z } => {
                    occ.0.push(e);
                    occ.1.push(*in_view as i32);
                    occ.2.push(serde_json::to_value(z).unwrap_or_default());
                }
                EventBody::ZoneEntered { zone, track }
                | EventBody::ZoneExited { zone, track, .. } => {
                    zones.0.push(e);
                    zones.1.push(zone.clone());
                    let exited = matches!(e.body, EventBody::ZoneExited { .. });
                    zones
                        .2
                        .push(if exited { "exited" } else { "entered" }.to_owned());
                    zones.3.push(Some(*track as i64));
                    zones.4.push(match &e.body {
                        EventBody::ZoneExited { dwell_s, .. } => Some(*dwell_s),
                        _ => None,
                    });
                    zones.5.push(None);
                }
                EventBody::ZoneViolation { zone, violation } => {
                    zones.0.push(e);
                    zones.1.push(zone.clone());
                    match violation {
                        Violation::MaxOccupancy { occupancy, .. } => {
                            zones.2.push("max_occupancy".into());
                            zones.3.push(None);
                            zones.5.push(Some(*occupancy as i32));
                        }
                        Violation::RestrictedEntry { track } => {
                            zones.2.push("restricted_entry".into());
                            zones.3.push(Some(*track as i64));
                            zones.5.push(None);
                        }
                    }
                    zones.4.push(None);
                }
                EventBody::FaceObserved {
                    track,
                    quality,
                    bbox,
                    embedding,
                } => {
                    // Validation already decoded it once; decoding cannot
                    // fail here, but a failure only skips the typed row.
                    if let Ok(values) = embedding.decode() {
                        faces.0.push(e);
                        faces.1.push(*track as i64);
                        faces.2.push(*quality);
                        for (i, v) in bbox.iter().enumerate() {
                            faces.3[i].push(*v);
                        }
                        faces.4.push(embedding.model.clone());
                        faces.5.push(pgvector::Vector::from(values));
                    }
                }
                _ => {}
            }
        }
        written.new_ids = if copy_new(tx, &all, &sites, &kinds, &payloads, &lines).await? {
            all.id.iter().copied().collect()
        } else {
            insert_idempotent(tx, &all, &sites, &kinds, &payloads, &lines).await?
        };
        written.new_events = written.new_ids.len() as u64;
        if !occ.0.ts.is_empty() {
            let stmt = tx.prepare_cached(INSERT_OCCUPANCY).await?;
            tx.execute(
                &stmt,
                &[&occ.0.ts, &occ.0.id, &occ.0.camera, &occ.1, &occ.2],
            )
            .await?;
        }
        if !zones.0.ts.is_empty() {
            let stmt = tx.prepare_cached(INSERT_ZONE_EVENTS).await?;
            tx.execute(
                &stmt,
                &[
                    &zones.0.ts,
                    &zones.0.id,
                    &zones.0.camera,
                    &zones.1,
                    &zones.2,
                    &zones.3,
                    &zones.4,
                    &zones.5,
                ],
            )
            .await?;
        }
        if !faces.0.ts.is_empty() {
            let stmt = tx.prepare_cached(INSERT_FACES).await?;
            tx.execute(
                &stmt,
                &[
                    &faces.0.ts,
                    &faces.0.id,
                    &faces.0.camera,
                    &faces.1,
                    &faces.2,
                    &faces.3[0],
                    &faces.3[1],
                    &faces.3[2],
                    &faces.3[3],
                    &faces.4,
                    &faces.5,
                ],
            )
            .await?;
        }
    }
    written.devices =
        super::write_devices::write_devices(tx, &batch.devices, batch.received_at).await?;
    for s in &batch.statuses {
        // Our own types of strings and numbers: serialising cannot fail.
        let state = serde_json::to_value(s.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let detail = serde_json::to_value(s).unwrap_or_default();
        let camera = s.camera.to_string();
        let history = tx.prepare_cached(INSERT_STATUS_HISTORY).await?;
        tx.execute(&history, &[&s.ts, &camera, &state, &s.reason, &detail])
            .await?;
        let current = tx.prepare_cached(UPSERT_STATUS_CURRENT).await?;
        tx.execute(&current, &[&s.ts, &camera, &state, &s.reason, &detail])
            .await?;
    }
    if !batch.dead.is_empty() {
        let topics: Vec<&str> = batch.dead.iter().map(|d| d.topic.as_str()).collect();
        let reasons: Vec<&str> = batch.dead.iter().map(|d| d.reason.as_str()).collect();
        let payloads: Vec<&[u8]> = batch
            .dead
            .iter()
            .map(|d| &d.payload[..d.payload.len().min(DEAD_LETTER_KEEP)])
            .collect();
        let sizes: Vec<i32> = batch
            .dead
            .iter()
            .map(|d| i32::try_from(d.payload.len()).unwrap_or(i32::MAX))
            .collect();
        let stmt = tx.prepare_cached(INSERT_DEAD).await?;
        written.dead_letters = tx
            .execute(&stmt, &[&topics, &reasons, &payloads, &sizes])
            .await?;
    }
    Ok(written)
}
