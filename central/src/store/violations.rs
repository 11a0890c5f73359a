//! Zone violations as stored in `zone_events` (kinds `max_occupancy` and
//! `restricted_entry`; entries and exits share the table).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::filter::Filter;
use super::list::{self, FromRow, Window};

/// What was violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// More people in the zone than its `max_occupancy`.
    MaxOccupancy,
    /// Someone entered a restricted zone.
    RestrictedEntry,
}

impl ViolationKind {
    pub const ALL: [Self; 2] = [Self::MaxOccupancy, Self::RestrictedEntry];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxOccupancy => "max_occupancy",
            Self::RestrictedEntry => "restricted_entry",
        }
    }
}

/// One violation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ZoneViolation {
    pub ts: DateTime<Utc>,
    /// The `zone_violation` event it came from.
    pub event_id: Uuid,
    pub camera_id: String,
    pub zone_id: String,
    pub kind: ViolationKind,
    /// restricted_entry: the track that entered.
    pub track: Option<i64>,
    /// max_occupancy: how many were in the zone.
    pub occupancy: Option<i32>,
}

impl FromRow for ZoneViolation {
    const COLUMNS: &'static str =
        "v.ts, v.event_id, v.camera_id, v.zone_id, v.kind, v.track, v.occupancy";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        let kind: String = r.try_get("kind")?;
        Ok(Self {
            ts: r.try_get("ts")?,
            event_id: r.try_get("event_id")?,
            camera_id: r.try_get("camera_id")?,
            zone_id: r.try_get("zone_id")?,
            // The query selects only these two kinds.
            kind: if kind == "restricted_entry" {
                ViolationKind::RestrictedEntry
            } else {
                ViolationKind::MaxOccupancy
            },
            track: r.try_get("track")?,
            occupancy: r.try_get("occupancy")?,
        })
    }
}

/// Which violations: one zone id (on one camera, or on every camera that
/// has a zone of that id), in [start, end), optionally of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ViolationFilter {
    pub zone: String,
    pub camera: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub kind: Option<ViolationKind>,
}

/// Whether a zone of that id exists (on that camera, if given).
pub async fn zone_exists(
    client: &impl GenericClient,
    zone: &str,
    camera: Option<&str>,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM zones WHERE id = $1 AND ($2::text IS NULL OR camera_id = $2) LIMIT 1",
            &[&zone, &camera],
        )
        .await?
        .is_some())
}

/// One page of violations, newest first.
pub async fn page(
    client: &impl GenericClient,
    q: &ViolationFilter,
    window: Window,
) -> Result<(Vec<ZoneViolation>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.add("v.zone_id = $", q.zone.clone());
    f.opt("v.camera_id = $", q.camera.clone());
    f.add("v.ts >= $", q.start);
    f.add("v.ts < $", q.end);
    let kinds: Vec<String> = match q.kind {
        Some(k) => vec![k.as_str().to_owned()],
        None => ViolationKind::ALL
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect(),
    };
    f.add("v.kind = ANY($)", kinds);
    list::page(
        client,
        "zone_events v",
        "",
        &f,
        "v.ts DESC, v.event_id DESC",
        window,
    )
    .await
}
