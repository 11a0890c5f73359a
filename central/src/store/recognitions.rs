//! Recognition decisions (`face_recognitions`): who was recognised on
//! which track, or that nobody was.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::faces::pg_interval;
use super::filter::Filter;
use super::list::{self, FromRow, Window};

/// Where a recognition stands (the `status` column's CHECK lists the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecognitionStatus {
    /// Decided: the track is this person.
    Recognized,
    /// Decided: the track is nobody enrolled.
    Unknown,
    /// A person said "not this person"; the votes became negatives.
    Rejected,
    /// The person was erased; the link is gone.
    Erased,
}

impl RecognitionStatus {
    pub const ALL: [Self; 4] = [
        Self::Recognized,
        Self::Unknown,
        Self::Rejected,
        Self::Erased,
    ];

    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recognized => "recognized",
            Self::Unknown => "unknown",
            Self::Rejected => "rejected",
            Self::Erased => "erased",
        }
    }

    /// The status spelled `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Read from and written to the `text` column as its spelling; an
/// unknown spelling is a conversion error naming it.
impl<'a> tokio_postgres::types::FromSql<'a> for RecognitionStatus {
    fn from_sql(
        ty: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let s = <&str as tokio_postgres::types::FromSql>::from_sql(ty, raw)?;
        Self::parse(s).ok_or_else(|| format!("unknown recognition status {s:?}").into())
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <&str as tokio_postgres::types::FromSql>::accepts(ty)
    }
}

impl tokio_postgres::types::ToSql for RecognitionStatus {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.as_str().to_sql(ty, out)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <&str as tokio_postgres::types::ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

/// One decision about one track.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Recognition {
    pub id: Uuid,
    /// Time of the track's latest observation when it was decided.
    pub ts: DateTime<Utc>,
    pub site_id: String,
    pub camera_id: String,
    pub track: i64,
    pub status: RecognitionStatus,
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
    pub status: Option<RecognitionStatus>,
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
    f.opt("r.status = $", q.status);
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

/// The latest decision of a track within `window` around `at`: when it
/// was made and whom it named (`None` inside: unknown, rejected, erased).
pub async fn latest_decision(
    client: &impl GenericClient,
    camera: &str,
    track: i64,
    at: DateTime<Utc>,
    window: chrono::Duration,
) -> Result<Option<(DateTime<Utc>, Option<Uuid>)>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT ts, CASE WHEN status = 'recognized' THEN person_id END AS person_id
             FROM face_recognitions
             WHERE camera_id = $1 AND track = $2
               AND ts > $3::timestamptz - $4::text::interval AND ts <= $3::timestamptz + $4::text::interval
             ORDER BY ts DESC LIMIT 1",
            &[&camera, &track, &at, &pg_interval(window)],
        )
        .await?;
    row.map(|r| Ok((r.try_get("ts")?, r.try_get("person_id")?)))
        .transpose()
}

/// A decision to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecognition {
    pub ts: DateTime<Utc>,
    pub id: Uuid,
    pub site: String,
    pub camera: String,
    pub track: i64,
    pub status: RecognitionStatus,
    pub person: Option<Uuid>,
    /// What the API reports as `confidence` (see [`Recognition`]).
    pub confidence: f32,
    pub observations: i32,
    pub best_face_event_id: Uuid,
}

pub async fn insert(
    client: &impl GenericClient,
    r: &NewRecognition,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO face_recognitions (ts, id, site_id, camera_id, track, status, person_id, confidence, observations, best_face_event_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &r.ts,
                &r.id,
                &r.site,
                &r.camera,
                &r.track,
                &r.status,
                &r.person,
                &r.confidence,
                &r.observations,
                &r.best_face_event_id,
            ],
        )
        .await?;
    Ok(())
}

/// Marks recognition `id` "not this person" (call inside a transaction):
/// the observations of its track that voted for the person within
/// `window` become negative examples of them, and the recognition becomes
/// `rejected`. Returns the person and the negatives made; `None` if there
/// is no such recognition of a person.
pub async fn reject(
    client: &impl GenericClient,
    id: Uuid,
    window: chrono::Duration,
) -> Result<Option<(Uuid, u64)>, tokio_postgres::Error> {
    let Some(r) = client
        .query_opt(
            "SELECT ts, camera_id, track, person_id FROM face_recognitions
             WHERE id = $1 AND status = 'recognized' AND person_id IS NOT NULL FOR UPDATE",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let ts: DateTime<Utc> = r.try_get("ts")?;
    let camera: String = r.try_get("camera_id")?;
    let track: i64 = r.try_get("track")?;
    let person: Uuid = r.try_get("person_id")?;
    let window = pg_interval(window);
    let negatives = client
        .execute(
            "INSERT INTO face_negatives (id, person_id, recognition_id, model, embedding)
             SELECT gen_random_uuid(), $5, $6, o.model, o.embedding
             FROM face_votes v JOIN face_observations o ON o.ts = v.ts AND o.event_id = v.event_id
             WHERE v.camera_id = $1 AND v.track = $2 AND v.ts > $3::timestamptz - $4::text::interval AND v.ts <= $3
               AND v.person_id = $5",
            &[&camera, &track, &ts, &window, &person, &id],
        )
        .await?;
    client
        .execute(
            "UPDATE face_votes SET person_id = NULL
             WHERE camera_id = $1 AND track = $2 AND ts > $3::timestamptz - $4::text::interval AND ts <= $3 AND person_id = $5",
            &[&camera, &track, &ts, &window, &person],
        )
        .await?;
    client
        .execute(
            "UPDATE face_recognitions SET status = 'rejected', rejected_person_id = person_id, person_id = NULL WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(Some((person, negatives)))
}
