//! Recognition inside one ingest batch: each newly stored face observation
//! votes (nearest templates, minus negative examples), then every track
//! that received a vote is decided again from all its stored votes, under
//! a per-track advisory lock so instances sharing the stream decide a
//! track once.

use std::collections::{BTreeMap, HashMap, HashSet};

use atrium_proto::Event;
use atrium_proto::event::EventBody;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use uuid::Uuid;

use super::RecognizeConfig;
use super::index::FaceIndex;
use super::vote::{self, Ballot, Decision};
use crate::live::LiveEvent;
use crate::store::faces::{self, Vote};
use crate::store::recognitions::{self, NewRecognition, RecognitionStatus};

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

fn new_faces(events: &[(Event, serde_json::Value)], new_ids: &HashSet<Uuid>) -> Vec<NewFace> {
    events
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
        .collect()
}

/// Votes for the newly stored face observations of `events` and decides
/// the tracks they belong to. Returns the recognitions to announce.
pub async fn process(
    tx: &Transaction<'_>,
    events: &[(Event, serde_json::Value)],
    new_ids: &HashSet<Uuid>,
    cfg: &RecognizeConfig,
    index: &FaceIndex,
) -> Result<Vec<LiveEvent>, tokio_postgres::Error> {
    let faces = new_faces(events, new_ids);
    if faces.is_empty() {
        return Ok(Vec::new());
    }
    // Only for this transaction (SET LOCAL); a number, so no injection.
    // The index scan returns at most ef_search rows: at least the
    // candidates the search re-ranks.
    tx.batch_execute(&format!(
        "SET LOCAL hnsw.ef_search = {}",
        i64::from(cfg.ef_search).max(cfg.candidates)
    ))
    .await?;
    // Latest observation per track: the point the track is decided at.
    let mut tracks: BTreeMap<(String, i64), (DateTime<Utc>, String)> = BTreeMap::new();
    for f in &faces {
        let proposed = index.candidates(
            &f.model,
            f.embedding.as_slice(),
            usize::try_from(cfg.candidates.max(cfg.top_k)).unwrap_or(0),
        );
        let candidates = match proposed {
            Some(ids) => faces::rerank(tx, &f.embedding, &ids, cfg.top_k, f.ts).await?,
            None => {
                faces::nearest(tx, &f.embedding, &f.model, cfg.top_k, cfg.candidates, f.ts).await?
            }
        };
        let persons: Vec<Uuid> = candidates.iter().map(|c| c.0).collect();
        let neg: HashMap<Uuid, f32> = faces::negatives(tx, &f.embedding, &f.model, &persons)
            .await?
            .into_iter()
            .collect();
        let b = vote::cast(&candidates, &neg, &cfg.vote_for(&f.model));
        faces::insert_vote(
            tx,
            &Vote {
                ts: f.ts,
                event_id: f.event_id,
                camera: f.camera.clone(),
                track: f.track,
                quality: f.quality,
                person: b.person,
                similarity: b.similarity,
                runner_up: b.runner_up,
            },
        )
        .await?;
        let e = tracks
            .entry((f.camera.clone(), f.track))
            .or_insert((f.ts, f.site.clone()));
        if f.ts > e.0 {
            e.0 = f.ts;
        }
    }
    let mut out = Vec::new();
    for ((camera, track), (ts, site)) in tracks {
        if let Some(live) = decide_track(tx, cfg, &site, &camera, track, ts).await? {
            out.push(live);
        }
    }
    Ok(out)
}

/// Decides one track at `ts` from its stored votes; the live event of a
/// new decision, `None` if undecided or unchanged.
async fn decide_track(
    tx: &Transaction<'_>,
    cfg: &RecognizeConfig,
    site: &str,
    camera: &str,
    track: i64,
    ts: DateTime<Utc>,
) -> Result<Option<LiveEvent>, tokio_postgres::Error> {
    // Serialise deciding this track across instances and batches.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
        &[&format!("recognize:{camera}:{track}")],
    )
    .await?;
    // A decided track is decided again only from the observations after
    // its decision, and only if they name someone else: the tracker can
    // hand one track id from a person to another.
    let latest = recognitions::latest_decision(tx, camera, track, ts, cfg.window).await?;
    let since = latest.map(|(at, _)| at);
    let current = latest.map(|(_, person)| person);
    let votes = faces::track_votes(tx, camera, track, ts, cfg.window, since).await?;
    let ballots: Vec<Ballot> = votes
        .iter()
        .map(|v| Ballot {
            person: v.person,
            similarity: v.similarity,
            runner_up: v.runner_up,
        })
        .collect();
    let Some(decision) = vote::decide(&ballots, &cfg.vote) else {
        return Ok(None);
    };
    if !vote::supersedes(current, &decision) {
        return Ok(None);
    }
    // The best face of the decided person (of any face for unknown). A
    // decision needs votes, and a person's decision votes for them; a
    // decision without one would be a bug, recorded nowhere rather than
    // with a made-up face.
    let decided_person = decision.person();
    let Some(best_face) = votes
        .iter()
        .filter(|v| decided_person.is_none() || v.person == decided_person)
        .max_by(|a, b| a.quality.total_cmp(&b.quality))
        .map(|v| v.event_id)
    else {
        tracing::error!(%camera, track, "a recognition decision without a vote for it; not recorded");
        return Ok(None);
    };
    let status = match decision {
        Decision::Person { .. } => RecognitionStatus::Recognized,
        Decision::Unknown { .. } => RecognitionStatus::Unknown,
    };
    let new = NewRecognition {
        ts,
        id: Uuid::now_v7(),
        site: site.to_owned(),
        camera: camera.to_owned(),
        track,
        status,
        person: decided_person,
        confidence: decision.confidence(),
        observations: decision.observations() as i32,
        best_face_event_id: best_face,
    };
    recognitions::insert(tx, &new).await?;
    let name = match new.person {
        Some(p) => crate::store::persons::name(tx, p).await?,
        None => None,
    };
    Ok(Some(LiveEvent {
        kind: "face_recognized".into(),
        site: new.site,
        camera: new.camera,
        device: None,
        ts,
        data: serde_json::json!({
            "id": new.id,
            "track": track,
            "status": status,
            "person_id": new.person,
            "person_name": name,
            "confidence": new.confidence,
            "observations": new.observations,
            "best_face_event_id": best_face,
        }),
        origin: Default::default(),
    }))
}
