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

mod batch;
pub mod calibrate;
pub mod enrol;
pub mod index;
pub mod photo_key;
pub mod vote;

pub use batch::process;

use vote::VoteConfig;

/// Recognition settings.
#[derive(Debug, Clone, PartialEq)]
pub struct RecognizeConfig {
    /// The vote for the configured embedder's observations.
    pub vote: VoteConfig,
    /// The embedder central enrols with (`faces.embedder`, else the
    /// manifest's default); `vote.threshold` is its threshold.
    pub embedder: String,
    /// Same-person thresholds of the manifest's other embedders, so the
    /// observations of edges not yet switched to a new embedder still
    /// vote (against their model's templates) during a change of model.
    pub other_thresholds: std::collections::BTreeMap<String, f32>,
    /// Embedding dimension of every embedder in the manifest: an
    /// observation that claims one of these models with another dimension
    /// is dead-lettered (it could not be compared with the templates).
    pub embedding_dims: std::collections::BTreeMap<String, usize>,
    /// Nearest templates fetched per observation.
    pub top_k: i64,
    /// Templates the sign-bit search proposes (in memory, or the
    /// binary-quantized HNSW index while that is not ready), re-ranked by
    /// exact cosine to find those `top_k`.
    pub candidates: i64,
    /// `hnsw.ef_search` for the searches of the HNSW index.
    pub ef_search: i32,
    /// Observations of a track older than this (before its latest) are
    /// not counted, and a decided track is not decided again within it.
    pub window: chrono::Duration,
}

impl Default for RecognizeConfig {
    fn default() -> Self {
        Self {
            vote: VoteConfig::default(),
            embedder: String::new(),
            other_thresholds: Default::default(),
            embedding_dims: Default::default(),
            top_k: 10,
            candidates: 40,
            ef_search: 100,
            window: chrono::Duration::minutes(10),
        }
    }
}

impl RecognizeConfig {
    /// Refuses a face observation whose embedding does not have its
    /// model's dimension; the reason is stored with the dead letter.
    pub fn check(&self, event: &atrium_proto::Event) -> Result<(), String> {
        if let atrium_proto::event::EventBody::FaceObserved { embedding, .. } = &event.body
            && let Some(&dim) = self.embedding_dims.get(&embedding.model)
            && dim != embedding.dim as usize
        {
            return Err(format!(
                "face embedding of model {} has {} dimensions, the model has {dim}",
                embedding.model, embedding.dim
            ));
        }
        Ok(())
    }

    /// The vote for an observation of embedder `model`: its own threshold
    /// (an unknown model has no templates, so it never reaches one).
    pub fn vote_for(&self, model: &str) -> VoteConfig {
        match self.other_thresholds.get(model) {
            Some(&threshold) if model != self.embedder => VoteConfig {
                threshold,
                ..self.vote
            },
            _ => self.vote,
        }
    }
}

/// Face enrolment as configured: the enroller, or why there is none, and
/// what is kept of a photo.
#[derive(Debug, Clone)]
pub struct FacesState {
    /// `Err`: why photos cannot be enrolled (disabled, models missing), as
    /// the sentence `/health` and the 503 answer show; nothing branches on
    /// it.
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
    let mut embedder = cfg.embedder.clone().unwrap_or_default();
    let mut other_thresholds = std::collections::BTreeMap::new();
    let mut embedding_dims = std::collections::BTreeMap::new();
    let enroller = match &models {
        Ok(m) => {
            let id = cfg
                .embedder
                .clone()
                .unwrap_or_else(|| m.default_face_embedder().to_owned());
            embedder.clone_from(&id);
            match cfg
                .threshold
                .map_or_else(|| m.same_person_threshold_of(&id), Ok)
            {
                Ok(t) => vote.threshold = t,
                Err(e) => {
                    tracing::warn!(error = %e, "no calibrated threshold; using {}", vote.threshold)
                }
            }
            for known in m.face_embedder_ids() {
                match m.embedding_dim(known) {
                    Ok(dim) => {
                        embedding_dims.insert(known.to_owned(), dim);
                    }
                    Err(e) => tracing::warn!(error = %e, model = known, "embedder left out"),
                }
            }
            for other in m.face_embedder_ids() {
                if let (true, Ok(t)) = (other != id, m.same_person_threshold_of(other)) {
                    other_thresholds.insert(other.to_owned(), t);
                }
            }
            if cfg.enabled {
                let enroller = enrol::Enroller::new(enrol::EnrolConfig {
                    models_dir: cfg.models_dir.clone(),
                    embedder: id,
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
        embedder = %embedder,
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
            embedder,
            other_thresholds,
            embedding_dims,
            top_k: cfg.top_k,
            candidates: cfg.candidates,
            ef_search: cfg.ef_search,
            window: chrono::Duration::seconds(cfg.window_s as i64),
        },
    ))
}

/// The enrolment of a photo as the store keeps it; `image` and
/// `encrypted` are [`FacesState::stored_image`]'s answer.
pub fn new_enrolment<'a>(
    person: uuid::Uuid,
    enrolled: &'a enrol::Enrolled,
    content_type: &'a str,
    image: Option<Vec<u8>>,
    encrypted: bool,
) -> crate::store::faces::NewEnrolment<'a> {
    let b = enrolled.bbox;
    crate::store::faces::NewEnrolment {
        person,
        content_type,
        image,
        encrypted,
        width: enrolled.width,
        height: enrolled.height,
        face_bbox: [b.x1, b.y1, b.x2, b.y2],
        quality: enrolled.quality.overall,
        model: &enrolled.embedding.model,
        embedding: enrolled.embedding.values.clone(),
    }
}

/// The media type of a photo that decoded (JPEG, PNG or WebP).
pub fn content_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        "image/png"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        "image/jpeg"
    }
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn photo_types_by_their_magic_bytes() {
        assert_eq!(content_type(b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(content_type(b"RIFF\x62\0\0\0WEBPVP8L"), "image/webp");
        assert_eq!(content_type(b"RIFF\x62\0\0\0WAVEfmt "), "image/jpeg");
        assert_eq!(content_type(b"\xff\xd8\xff\xe0"), "image/jpeg");
    }
}
