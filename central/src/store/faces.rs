//! Face templates, photos, negative examples and votes: what enrolment
//! writes and what recognition searches. Vectors are pgvector values;
//! similarity is `1 - cosine distance`.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// The search for the `$3` templates of model `$2` nearest to `$1`, of
/// dimension `dim`: columns `id`, `person_id` and cosine distance `d`,
/// nearest first.
///
/// Two stages (migration 0007): the binary-quantized HNSW index finds the
/// `candidates` templates whose sign bits are nearest in Hamming distance,
/// then the exact cosine distance on the full vectors ranks those.
/// `hnsw.ef_search` must be at least `candidates` (the caller sets it).
///
/// Only templates of the observation's dimension are compared (a model id
/// alone is outside input and could have been sent with several). The
/// dimension and the candidate count are numbers, written into the
/// statement so the planner can use that dimension's partial index
/// whatever the parameters; `benches/faces_search.rs` measures this very
/// statement.
pub fn nearest_templates_sql(dim: usize, candidates: i64) -> String {
    format!(
        "SELECT id, person_id, embedding::vector({dim}) <=> $1::vector({dim}) AS d
         FROM (SELECT id, person_id, embedding FROM face_templates
               WHERE vector_dims(embedding) = {dim} AND model = $2
               ORDER BY binary_quantize(embedding::vector({dim}))::bit({dim})
                        <~> binary_quantize($1::vector({dim}))::bit({dim})
               LIMIT {candidates}) c
         ORDER BY d LIMIT $3"
    )
}

/// The exact cosine ranking of the templates `$2` (ids the in-memory
/// index proposed, `recognize::index`) against `$1`, among persons not
/// expired at `$4`: columns `id` (the template's), `person_id` and
/// `similarity`, nearest first, at most `$3`. `benches/faces_search.rs`
/// measures this very statement. Only templates of the query's dimension
/// are compared (the index's shards are per dimension, but a template
/// changed since would make `<=>` fail the whole ingest transaction).
pub const RERANK_SQL: &str = "
SELECT t.id, t.person_id, (1 - (t.embedding <=> $1))::real AS similarity
FROM face_templates t JOIN persons p ON p.id = t.person_id
WHERE t.id = ANY($2) AND vector_dims(t.embedding) = vector_dims($1)
  AND (p.expires_at IS NULL OR p.expires_at > $4)
ORDER BY t.embedding <=> $1
LIMIT $3";

/// Ranks `candidates` (template ids) by exact cosine to `embedding`:
/// (person, similarity), nearest first, at most `limit`, persons expired
/// at `at` left out.
pub async fn rerank(
    client: &impl GenericClient,
    embedding: &pgvector::Vector,
    candidates: &[Uuid],
    limit: i64,
    at: DateTime<Utc>,
) -> Result<Vec<(Uuid, f32)>, tokio_postgres::Error> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query(RERANK_SQL, &[embedding, &candidates, &limit, &at])
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("person_id")?, r.try_get("similarity")?)))
        .collect()
}

/// Enrolled templates of a model nearest to `embedding` among persons
/// not expired at `at`: (person, similarity), nearest first. The search
/// of the database alone, for when the in-memory index is not ready.
pub async fn nearest(
    client: &impl GenericClient,
    embedding: &pgvector::Vector,
    model: &str,
    limit: i64,
    candidates: i64,
    at: DateTime<Utc>,
) -> Result<Vec<(Uuid, f32)>, tokio_postgres::Error> {
    let dim = embedding.as_slice().len();
    let rows = client
        .query(
            &format!(
                "SELECT n.person_id, (1 - n.d)::real AS similarity
                 FROM ({}) n
                 JOIN persons p ON p.id = n.person_id
                 WHERE p.expires_at IS NULL OR p.expires_at > $4",
                nearest_templates_sql(dim, candidates.max(limit))
            ),
            &[embedding, &model, &limit, &at],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("person_id")?, r.try_get("similarity")?)))
        .collect()
}

/// Per person of `persons`, the highest similarity of `embedding` to one
/// of their negative examples ("not this person") of the same model and
/// dimension.
pub async fn negatives(
    client: &impl GenericClient,
    embedding: &pgvector::Vector,
    model: &str,
    persons: &[Uuid],
) -> Result<Vec<(Uuid, f32)>, tokio_postgres::Error> {
    if persons.is_empty() {
        return Ok(Vec::new());
    }
    let dim = embedding.as_slice().len() as i32;
    let rows = client
        .query(
            "SELECT person_id, max(1 - (embedding <=> $1))::real AS similarity FROM face_negatives
             WHERE model = $2 AND person_id = ANY($3) AND vector_dims(embedding) = $4
             GROUP BY person_id",
            &[embedding, &model, &persons, &dim],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("person_id")?, r.try_get("similarity")?)))
        .collect()
}

/// One observation's vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    pub ts: DateTime<Utc>,
    pub event_id: Uuid,
    pub camera: String,
    pub track: i64,
    pub quality: f32,
    pub person: Option<Uuid>,
    pub similarity: f32,
    pub runner_up: f32,
}

/// Stores a vote (once per observation: a redelivery is ignored).
pub async fn insert_vote(
    client: &impl GenericClient,
    v: &Vote,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO face_votes (ts, event_id, camera_id, track, quality, person_id, similarity, runner_up)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            &[
                &v.ts,
                &v.event_id,
                &v.camera,
                &v.track,
                &v.quality,
                &v.person,
                &v.similarity,
                &v.runner_up,
            ],
        )
        .await?;
    Ok(())
}

/// A track's votes within `window` before `until`, after `since` if
/// given, oldest first.
pub async fn track_votes(
    client: &impl GenericClient,
    camera: &str,
    track: i64,
    until: DateTime<Utc>,
    window: chrono::Duration,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Vote>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT ts, event_id, camera_id, track, quality, person_id, similarity, runner_up FROM face_votes
             WHERE camera_id = $1 AND track = $2 AND ts > $3::timestamptz - $4::text::interval AND ts <= $3
               AND ($5::timestamptz IS NULL OR ts > $5)
             ORDER BY ts, event_id",
            &[&camera, &track, &until, &pg_interval(window), &since],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Vote {
                ts: r.try_get("ts")?,
                event_id: r.try_get("event_id")?,
                camera: r.try_get("camera_id")?,
                track: r.try_get("track")?,
                quality: r.try_get("quality")?,
                person: r.try_get("person_id")?,
                similarity: r.try_get("similarity")?,
                runner_up: r.try_get("runner_up")?,
            })
        })
        .collect()
}

/// A chrono duration as a PostgreSQL interval literal (seconds).
pub(crate) fn pg_interval(d: chrono::Duration) -> String {
    format!("{} seconds", d.num_seconds())
}

/// An enrolled photo and the template made from it.
#[derive(Debug, Clone)]
pub struct NewEnrolment<'a> {
    pub person: Uuid,
    pub content_type: &'a str,
    /// What is kept of the photo: nothing, sealed, or as uploaded.
    pub image: Option<Vec<u8>>,
    pub encrypted: bool,
    pub width: u32,
    pub height: u32,
    /// The face box in the photo (x1, y1, x2, y2).
    pub face_bbox: [f32; 4],
    pub quality: f32,
    pub model: &'a str,
    pub embedding: Vec<f32>,
}

/// Stores a photo and its template; returns (photo id, template id).
pub async fn insert_enrolment(
    client: &impl GenericClient,
    e: NewEnrolment<'_>,
) -> Result<(Uuid, Uuid), tokio_postgres::Error> {
    let photo_id = Uuid::now_v7();
    let template_id = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO face_photos (id, person_id, content_type, image, encrypted, width, height, face_bbox, quality)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &photo_id,
                &e.person,
                &e.content_type,
                &e.image,
                &e.encrypted,
                &(e.width as i32),
                &(e.height as i32),
                &e.face_bbox.to_vec(),
                &e.quality,
            ],
        )
        .await?;
    client
        .execute(
            "INSERT INTO face_templates (id, person_id, photo_id, model, quality, embedding) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &template_id,
                &e.person,
                &photo_id,
                &e.model,
                &e.quality,
                &pgvector::Vector::from(e.embedding),
            ],
        )
        .await?;
    client
        .execute(
            "UPDATE persons SET updated_at = now() WHERE id = $1",
            &[&e.person],
        )
        .await?;
    Ok((photo_id, template_id))
}

/// What erasing a person removed (the API's answer to the erasure).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Erased {
    pub person_id: Uuid,
    pub templates: u64,
    pub photos: u64,
    pub negatives: u64,
    /// Recognitions that named the person, now `erased`.
    pub recognitions_unlinked: u64,
}

/// Erases a person (call inside a transaction): templates, photos,
/// negative examples, and every link from votes and recognitions
/// (recognitions become `erased`). `None` if there is no such person.
pub async fn erase_person(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Erased>, tokio_postgres::Error> {
    if client
        .query_opt("SELECT 1 FROM persons WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let recognitions_unlinked = client
        .execute(
            "UPDATE face_recognitions SET status = 'erased', person_id = NULL WHERE person_id = $1",
            &[&id],
        )
        .await?
        + client
            .execute(
                "UPDATE face_recognitions SET status = 'erased', rejected_person_id = NULL WHERE rejected_person_id = $1",
                &[&id],
            )
            .await?;
    client
        .execute(
            "UPDATE face_votes SET person_id = NULL WHERE person_id = $1",
            &[&id],
        )
        .await?;
    let templates = client
        .execute("DELETE FROM face_templates WHERE person_id = $1", &[&id])
        .await?;
    let photos = client
        .execute("DELETE FROM face_photos WHERE person_id = $1", &[&id])
        .await?;
    let negatives = client
        .execute("DELETE FROM face_negatives WHERE person_id = $1", &[&id])
        .await?;
    // Reports that name the person go too: a name in an archived report
    // is personal data like any other.
    client
        .execute(
            "DELETE FROM reports WHERE include_persons AND $1 = ANY(persons)",
            &[&id],
        )
        .await?;
    client
        .execute("DELETE FROM persons WHERE id = $1", &[&id])
        .await?;
    Ok(Some(Erased {
        person_id: id,
        templates,
        photos,
        negatives,
        recognitions_unlinked,
    }))
}

/// A kept (or not kept) enrolment photo without a template of some model.
#[derive(Debug, Clone)]
pub struct PhotoToEmbed {
    pub id: Uuid,
    pub person: Uuid,
    pub person_name: String,
    /// `None`: the photo was not kept (templates only).
    pub image: Option<Vec<u8>>,
    pub encrypted: bool,
}

/// Every enrolment photo that has no template of `model`, oldest first.
pub async fn photos_without_template(
    client: &impl GenericClient,
    model: &str,
) -> Result<Vec<PhotoToEmbed>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT f.id, f.person_id, p.name, f.image, f.encrypted
             FROM face_photos f JOIN persons p ON p.id = f.person_id
             WHERE NOT EXISTS (SELECT 1 FROM face_templates t WHERE t.photo_id = f.id AND t.model = $1)
             ORDER BY f.created_at, f.id",
            &[&model],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PhotoToEmbed {
                id: r.try_get("id")?,
                person: r.try_get("person_id")?,
                person_name: r.try_get("name")?,
                image: r.try_get("image")?,
                encrypted: r.try_get("encrypted")?,
            })
        })
        .collect()
}

/// A template made from a photo already stored.
#[derive(Debug, Clone)]
pub struct NewTemplate<'a> {
    pub person: Uuid,
    pub photo: Uuid,
    pub model: &'a str,
    pub quality: f32,
    pub embedding: Vec<f32>,
}

/// Stores a template of an existing photo; returns its id.
pub async fn insert_template(
    client: &impl GenericClient,
    t: NewTemplate<'_>,
) -> Result<Uuid, tokio_postgres::Error> {
    let id = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO face_templates (id, person_id, photo_id, model, quality, embedding) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &id,
                &t.person,
                &t.photo,
                &t.model,
                &t.quality,
                &pgvector::Vector::from(t.embedding),
            ],
        )
        .await?;
    Ok(id)
}

/// Deletes the templates of other models of every photo that has one of
/// `model`; returns how many.
pub async fn drop_replaced_templates(
    client: &impl GenericClient,
    model: &str,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(
            "DELETE FROM face_templates t WHERE t.model <> $1 AND EXISTS
               (SELECT 1 FROM face_templates n WHERE n.photo_id = t.photo_id AND n.model = $1)",
            &[&model],
        )
        .await
}

/// Persons without any template of `model` (id, name), by name.
pub async fn persons_without_template(
    client: &impl GenericClient,
    model: &str,
) -> Result<Vec<(Uuid, String)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT p.id, p.name FROM persons p
             WHERE NOT EXISTS (SELECT 1 FROM face_templates t WHERE t.person_id = p.id AND t.model = $1)
             ORDER BY p.name, p.id",
            &[&model],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .collect()
}
