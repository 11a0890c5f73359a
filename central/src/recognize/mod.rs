//! Face recognition: enrolment of photos, and deciding who each track is
//! from the face observations the edge sends.
//!
//! Recognition runs inside the ingest transaction that stores the
//! observations, so a vote exists exactly when its observation does (a
//! redelivered observation is neither stored nor counted twice) and a
//! recognition is announced only once it is committed. Votes are rows, not
//! memory: with several central instances on one shared subscription, the
//! observations of one track may reach different instances, and each
//! decides from all of the track's stored votes under a per-track advisory
//! lock, so a track is decided once.

pub mod enrol;
pub mod photo_key;
pub mod vote;

use std::collections::{BTreeMap, HashMap};

use atrium_proto::Event;
use atrium_proto::event::EventBody;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use uuid::Uuid;

use crate::live::LiveEvent;
use vote::{Ballot, Decision, VoteConfig};

/// Recognition settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecognizeConfig {
    pub vote: VoteConfig,
    /// Nearest templates fetched per observation.
    pub top_k: i64,
    /// `hnsw.ef_search` for those searches.
    pub ef_search: i32,
    /// Observations of a track older than this (before its latest) are
    /// not counted, and a decided track is not decided again within it.
    pub window: chrono::Duration,
}

impl Default for RecognizeConfig {
    fn default() -> Self {
        Self {
            vote: VoteConfig::default(),
            top_k: 10,
            ef_search: 100,
            window: chrono::Duration::minutes(10),
        }
    }
}

/// Face enrolment as configured: the enroller, or why there is none, and
/// what is kept of a photo.
#[derive(Debug, Clone)]
pub struct FacesState {
    /// `Err`: why photos cannot be enrolled (disabled, models missing).
    pub enroller: Result<enrol::Enroller, String>,
    pub photo_max_bytes: usize,
    pub keep_photos: bool,
    pub photo_key: Option<photo_key::PhotoKey>,
}

impl FacesState {
    /// What to store of an enrolled photo: nothing (templates only), the
    /// photo sealed with the key, or the photo as uploaded; and whether it
    /// is sealed.
    pub fn stored_image(
        &self,
        bytes: &[u8],
    ) -> Result<(Option<Vec<u8>>, bool), photo_key::PhotoKeyError> {
        match (&self.photo_key, self.keep_photos) {
            (_, false) => Ok((None, false)),
            (Some(key), true) => Ok((Some(key.seal(bytes)?), true)),
            (None, true) => Ok((Some(bytes.to_vec()), false)),
        }
    }
}

/// Builds enrolment and recognition from the `[faces]` section. Missing
/// models do not stop central (counting works without them): enrolment
/// then answers 503 with the reason, and recognition uses the configured
/// threshold or the default. A configured photo key that cannot be read
/// does stop it: photos must not be stored unencrypted by accident.
pub fn setup(
    cfg: &crate::config::FacesSection,
) -> Result<(FacesState, RecognizeConfig), photo_key::PhotoKeyError> {
    let photo_key = cfg
        .photo_key_file
        .as_deref()
        .map(photo_key::PhotoKey::load)
        .transpose()?;
    if cfg.keep_photos && photo_key.is_none() {
        tracing::warn!(
            "faces.keep_photos without faces.photo_key_file: enrolment photos are stored unencrypted"
        );
    }
    let runtime = atrium_vision::RuntimeOptions {
        library: cfg.onnxruntime.clone(),
        ..Default::default()
    };
    let models = atrium_vision::Models::open(&cfg.models_dir, runtime.clone());
    let mut vote = VoteConfig {
        threshold: VoteConfig::default().threshold,
        margin: cfg.margin,
        min_votes: cfg.min_votes,
        max_observations: cfg.max_observations,
    };
    let enroller = match &models {
        Ok(m) => {
            match cfg.threshold.map_or_else(|| m.same_person_threshold(), Ok) {
                Ok(t) => vote.threshold = t,
                Err(e) => {
                    tracing::warn!(error = %e, "no calibrated threshold; using {}", vote.threshold)
                }
            }
            if cfg.enabled {
                let enroller = enrol::Enroller::new(enrol::EnrolConfig {
                    models_dir: cfg.models_dir.clone(),
                    max_pixels: cfg.max_pixels,
                    min_quality: m.min_face_quality().unwrap_or(0.5),
                    quality: m.quality_config(),
                    runtime,
                });
                Ok(enroller)
            } else {
                Err("face enrolment is disabled (faces.enabled = false)".to_owned())
            }
        }
        Err(e) => {
            if let Some(t) = cfg.threshold {
                vote.threshold = t;
            }
            let why = format!("face models unavailable: {e}");
            if cfg.enabled {
                tracing::warn!(reason = %why, "face enrolment is off");
            }
            Err(why)
        }
    };
    tracing::info!(
        threshold = vote.threshold,
        margin = vote.margin,
        min_votes = vote.min_votes,
        max_observations = vote.max_observations,
        "face recognition"
    );
    Ok((
        FacesState {
            enroller,
            photo_max_bytes: cfg.photo_max_bytes,
            keep_photos: cfg.keep_photos,
            photo_key,
        },
        RecognizeConfig {
            vote,
            top_k: cfg.top_k,
            ef_search: cfg.ef_search,
            window: chrono::Duration::seconds(cfg.window_s as i64),
        },
    ))
}

/// A newly stored face observation.
#[derive(Debug, Clone)]
struct NewFace {
    ts: DateTime<Utc>,
    event_id: Uuid,
    site: String,
    camera: String,
    track: i64,
    quality: f32,
    model: String,
    embedding: pgvector::Vector,
}

const NEAREST: &str = "
SELECT n.person_id, (1 - n.d)::real
FROM (SELECT person_id, embedding <=> $1 AS d FROM face_templates
      WHERE model = $2 ORDER BY embedding <=> $1 LIMIT $3) n
JOIN persons p ON p.id = n.person_id
WHERE p.expires_at IS NULL OR p.expires_at > $4";

const NEGATIVES: &str = "
SELECT person_id, max(1 - (embedding <=> $1))::real FROM face_negatives
WHERE model = $2 AND person_id = ANY($3) GROUP BY person_id";

const INSERT_VOTE: &str = "
INSERT INTO face_votes (ts, event_id, camera_id, track, quality, person_id, similarity, runner_up)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";

const LATEST_DECISION: &str = "
SELECT ts, CASE WHEN status = 'recognized' THEN person_id END FROM face_recognitions
WHERE camera_id = $1 AND track = $2
  AND ts > $3::timestamptz - $4::text::interval AND ts <= $3::timestamptz + $4::text::interval
ORDER BY ts DESC LIMIT 1";

const TRACK_VOTES: &str = "
SELECT person_id, similarity, runner_up, quality, event_id FROM face_votes
WHERE camera_id = $1 AND track = $2 AND ts > $3::timestamptz - $4::text::interval AND ts <= $3
  AND ($5::timestamptz IS NULL OR ts > $5)
ORDER BY ts, event_id";

const INSERT_RECOGNITION: &str = "
INSERT INTO face_recognitions (ts, id, site_id, camera_id, track, status, person_id, confidence, observations, best_face_event_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Votes for the newly stored face observations of `events` and decides
/// the tracks they belong to. Returns the recognitions to announce.
pub async fn process(
    tx: &Transaction<'_>,
    events: &[(Event, serde_json::Value)],
    new_ids: &std::collections::HashSet<Uuid>,
    cfg: &RecognizeConfig,
) -> Result<Vec<LiveEvent>, tokio_postgres::Error> {
    let faces: Vec<NewFace> = events
        .iter()
        .filter(|(e, _)| new_ids.contains(&e.id))
        .filter_map(|(e, _)| match &e.body {
            EventBody::FaceObserved {
                track,
                quality,
                embedding,
                ..
            } => embedding.decode().ok().map(|v| NewFace {
                ts: e.ts,
                event_id: e.id,
                site: e.site.to_string(),
                camera: e.camera.to_string(),
                track: *track as i64,
                quality: *quality,
                model: embedding.model.clone(),
                embedding: pgvector::Vector::from(v),
            }),
            _ => None,
        })
        .collect();
    if faces.is_empty() {
        return Ok(Vec::new());
    }
    // Only for this transaction (SET LOCAL); a number, so no injection.
    tx.batch_execute(&format!("SET LOCAL hnsw.ef_search = {}", cfg.ef_search))
        .await?;
    let nearest = tx.prepare(NEAREST).await?;
    let negatives = tx.prepare(NEGATIVES).await?;
    let insert_vote = tx.prepare(INSERT_VOTE).await?;
    // Latest observation per track: the point the track is decided at.
    let mut tracks: BTreeMap<(String, i64), (DateTime<Utc>, String)> = BTreeMap::new();
    for f in &faces {
        let rows = tx
            .query(&nearest, &[&f.embedding, &f.model, &cfg.top_k, &f.ts])
            .await?;
        let candidates: Vec<(Uuid, f32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let persons: Vec<Uuid> = candidates.iter().map(|c| c.0).collect();
        let mut neg: HashMap<Uuid, f32> = HashMap::new();
        if !persons.is_empty() {
            for r in tx
                .query(&negatives, &[&f.embedding, &f.model, &persons])
                .await?
            {
                neg.insert(r.get(0), r.get(1));
            }
        }
        let b = vote::cast(&candidates, &neg, &cfg.vote);
        tx.execute(
            &insert_vote,
            &[
                &f.ts,
                &f.event_id,
                &f.camera,
                &f.track,
                &f.quality,
                &b.person,
                &b.similarity,
                &b.runner_up,
            ],
        )
        .await?;
        let e = tracks
            .entry((f.camera.clone(), f.track))
            .or_insert((f.ts, f.site.clone()));
        if f.ts > e.0 {
            e.0 = f.ts;
        }
    }
    let window = pg_interval(cfg.window);
    let mut out = Vec::new();
    for ((camera, track), (ts, site)) in tracks {
        // Serialise deciding this track across instances and batches.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            &[&format!("recognize:{camera}:{track}")],
        )
        .await?;
        // A decided track is decided again only from the observations
        // after its decision, and only if they name someone else: the
        // tracker can hand one track id from a person to another.
        let latest = tx
            .query_opt(LATEST_DECISION, &[&camera, &track, &ts, &window])
            .await?;
        let since: Option<DateTime<Utc>> = latest.as_ref().map(|r| r.get(0));
        let current: Option<Option<Uuid>> = latest.as_ref().map(|r| r.get(1));
        let rows = tx
            .query(TRACK_VOTES, &[&camera, &track, &ts, &window, &since])
            .await?;
        let ballots: Vec<Ballot> = rows
            .iter()
            .map(|r| Ballot {
                person: r.get(0),
                similarity: r.get(1),
                runner_up: r.get(2),
            })
            .collect();
        let Some(decision) = vote::decide(&ballots, &cfg.vote) else {
            continue;
        };
        if !vote::supersedes(current, &decision) {
            continue;
        }
        // The best face of the decided person (of any face for unknown).
        let decided_person = match decision {
            Decision::Person { person, .. } => Some(person),
            Decision::Unknown { .. } => None,
        };
        let best_face: Uuid = rows
            .iter()
            .filter(|r| decided_person.is_none() || r.get::<_, Option<Uuid>>(0) == decided_person)
            .max_by(|a, b| a.get::<_, f32>(3).total_cmp(&b.get::<_, f32>(3)))
            .map(|r| r.get(4))
            .unwrap_or_default();
        let (status, person, confidence, observations) = match decision {
            Decision::Person {
                person,
                confidence,
                observations,
            } => ("recognized", Some(person), confidence, observations),
            Decision::Unknown {
                confidence,
                observations,
            } => ("unknown", None, confidence, observations),
        };
        let id = Uuid::now_v7();
        tx.execute(
            INSERT_RECOGNITION,
            &[
                &ts,
                &id,
                &site,
                &camera,
                &track,
                &status,
                &person,
                &confidence,
                &(observations as i32),
                &best_face,
            ],
        )
        .await?;
        let name: Option<String> = match person {
            Some(p) => tx
                .query_opt("SELECT name FROM persons WHERE id = $1", &[&p])
                .await?
                .map(|r| r.get(0)),
            None => None,
        };
        out.push(LiveEvent {
            kind: "face_recognized".into(),
            site,
            camera,
            ts,
            data: serde_json::json!({
                "id": id,
                "track": track,
                "status": status,
                "person_id": person,
                "person_name": name,
                "confidence": confidence,
                "observations": observations,
                "best_face_event_id": best_face,
            }),
        });
    }
    Ok(out)
}

/// A chrono duration as a PostgreSQL interval literal (seconds).
fn pg_interval(d: chrono::Duration) -> String {
    format!("{} seconds", d.num_seconds())
}

/// Stores an enrolled photo and its template for `person` inside `tx`;
/// `image` and `encrypted` are [`FacesState::stored_image`]'s answer.
/// Returns (photo id, template id).
#[allow(clippy::too_many_arguments)]
pub async fn store_enrolment(
    tx: &tokio_postgres::Transaction<'_>,
    person: Uuid,
    enrolled: &enrol::Enrolled,
    content_type: &str,
    image: Option<Vec<u8>>,
    encrypted: bool,
) -> Result<(Uuid, Uuid), tokio_postgres::Error> {
    let b = enrolled.bbox;
    let bbox = vec![b.x1, b.y1, b.x2, b.y2];
    let photo_id = Uuid::now_v7();
    let template_id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO face_photos (id, person_id, content_type, image, encrypted, width, height, face_bbox, quality)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &photo_id,
            &person,
            &content_type,
            &image,
            &encrypted,
            &(enrolled.width as i32),
            &(enrolled.height as i32),
            &bbox,
            &enrolled.quality.overall,
        ],
    )
    .await?;
    tx.execute(
        "INSERT INTO face_templates (id, person_id, photo_id, model, quality, embedding) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &template_id,
            &person,
            &photo_id,
            &enrolled.embedding.model,
            &enrolled.quality.overall,
            &pgvector::Vector::from(enrolled.embedding.values.clone()),
        ],
    )
    .await?;
    tx.execute(
        "UPDATE persons SET updated_at = now() WHERE id = $1",
        &[&person],
    )
    .await?;
    Ok((photo_id, template_id))
}

/// The media type of a photo that decoded (JPEG or PNG).
pub fn content_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        "image/png"
    } else {
        "image/jpeg"
    }
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

/// Erases a person inside `tx`: templates, photos, negative examples, and
/// every link from votes and recognitions (recognitions become `erased`).
/// `None` if there is no such person.
pub async fn erase_person(
    tx: &Transaction<'_>,
    id: Uuid,
) -> Result<Option<Erased>, tokio_postgres::Error> {
    if tx
        .query_opt("SELECT 1 FROM persons WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let recognitions_unlinked = tx
        .execute(
            "UPDATE face_recognitions SET status = 'erased', person_id = NULL WHERE person_id = $1",
            &[&id],
        )
        .await?
        + tx
            .execute(
                "UPDATE face_recognitions SET status = 'erased', rejected_person_id = NULL WHERE rejected_person_id = $1",
                &[&id],
            )
            .await?;
    tx.execute(
        "UPDATE face_votes SET person_id = NULL WHERE person_id = $1",
        &[&id],
    )
    .await?;
    let templates = tx
        .execute("DELETE FROM face_templates WHERE person_id = $1", &[&id])
        .await?;
    let photos = tx
        .execute("DELETE FROM face_photos WHERE person_id = $1", &[&id])
        .await?;
    let negatives = tx
        .execute("DELETE FROM face_negatives WHERE person_id = $1", &[&id])
        .await?;
    tx.execute("DELETE FROM persons WHERE id = $1", &[&id])
        .await?;
    Ok(Some(Erased {
        person_id: id,
        templates,
        photos,
        negatives,
        recognitions_unlinked,
    }))
}

/// Marks recognition `id` "not this person": the observations of its track
/// that voted for the person become negative examples of them, and the
/// recognition becomes `rejected`. Returns the person, `None` if there is
/// no such recognition of a person.
pub async fn reject(
    tx: &Transaction<'_>,
    id: Uuid,
    window: chrono::Duration,
) -> Result<Option<(Uuid, u64)>, tokio_postgres::Error> {
    let Some(r) = tx
        .query_opt(
            "SELECT ts, camera_id, track, person_id FROM face_recognitions
             WHERE id = $1 AND status = 'recognized' AND person_id IS NOT NULL FOR UPDATE",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let (ts, camera, track, person): (DateTime<Utc>, String, i64, Uuid) =
        (r.get(0), r.get(1), r.get(2), r.get(3));
    let window = pg_interval(window);
    let negatives = tx
        .execute(
            "INSERT INTO face_negatives (id, person_id, recognition_id, model, embedding)
             SELECT gen_random_uuid(), $5, $6, o.model, o.embedding
             FROM face_votes v JOIN face_observations o ON o.ts = v.ts AND o.event_id = v.event_id
             WHERE v.camera_id = $1 AND v.track = $2 AND v.ts > $3::timestamptz - $4::text::interval AND v.ts <= $3
               AND v.person_id = $5",
            &[&camera, &track, &ts, &window, &person, &id],
        )
        .await?;
    tx.execute(
        "UPDATE face_votes SET person_id = NULL
         WHERE camera_id = $1 AND track = $2 AND ts > $3::timestamptz - $4::text::interval AND ts <= $3 AND person_id = $5",
        &[&camera, &track, &ts, &window, &person],
    )
    .await?;
    tx.execute(
        "UPDATE face_recognitions SET status = 'rejected', rejected_person_id = person_id, person_id = NULL WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(Some((person, negatives)))
}
