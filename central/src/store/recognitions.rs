//! Recognition decisions (`face_recognitions`): who was recognised on
//! which track, or that nobody was.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::filter::Filter;
use super::list::{self, FromRow, Window};

/// One decision about one track.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Recognition {
    pub id: Uuid,
    /// Time of the track's latest observation when it was decided.
    pub ts: DateTime<Utc>,
    pub site_id: String,
    pub camera_id: String,
    pub track: i64,
    pub status: String,
    pub person_id: Option<Uuid>,
    pub person_name: Option<String>,
    /// recognized: mean similarity of the agreeing observations; unknown:
    /// 1 - the best similarity seen.
    pub confidence: f32,
    pub observations: i32,
    /// The `face_observed` event with the best face of the track.
    pub best_face_event_id: Uuid,
    pub decided_at: DateTime<Utc>,
}

impl FromRow for Recognition {
    const COLUMNS: &'static str = "r.id, r.ts, r.site_id, r.camera_id, r.track, r.status, r.person_id, p.name AS person_name, r.confidence, r.observations, r.best_face_event_id, r.decided_at";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            ts: r.try_get("ts")?,
            site_id: r.try_get("site_id")?,
            camera_id: r.try_get("camera_id")?,
            track: r.try_get("track")?,
            status: r.try_get("status")?,
            person_id: r.try_get("person_id")?,
            person_name: r.try_get("person_name")?,
            confidence: r.try_get("confidence")?,
            observations: r.try_get("observations")?,
            best_face_event_id: r.try_get("best_face_event_id")?,
            decided_at: r.try_get("decided_at")?,
        })
    }
}

/// Which recognitions: a time range [start, end) and optional filters.
#[derive(Debug, Clone, PartialEq)]
pub struct RecognitionFilter {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub camera: Option<String>,
    pub person: Option<Uuid>,
    pub status: Option<String>,
    pub min_confidence: Option<f32>,
    pub max_confidence: Option<f32>,
}

/// One page of recognitions, newest first.
pub async fn page(
    client: &impl GenericClient,
    q: &RecognitionFilter,
    window: Window,
) -> Result<(Vec<Recognition>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.add("r.ts >= $", q.start);
    f.add("r.ts < $", q.end);
    f.opt("r.camera_id = $", q.camera.clone());
    f.opt("r.person_id = $", q.person);
    f.opt("r.status = $", q.status.clone());
    f.opt("r.confidence >= $", q.min_confidence);
    f.opt("r.confidence <= $", q.max_confidence);
    list::page(
        client,
        "face_recognitions r",
        "LEFT JOIN persons p ON p.id = r.person_id",
        &f,
        "r.ts DESC, r.id DESC",
        window,
    )
    .await
}
