//! Turning an uploaded photo into a face template, with the edge's code.
//!
//! A template is only as good as its photo, so enrolment is strict: the
//! photo must decode within the pixel limit, hold exactly one face, and
//! that face must pass the same quality gate the edge applies before it
//! embeds. Each refusal names its reason, because the person uploading
//! can fix it (crop to one face, use a larger or sharper photo).
//!
//! The ONNX sessions are loaded on the first enrolment, not at start:
//! most central instances never enrol, and loading costs memory and a
//! second or so.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use atrium_vision::face::quality::assess;
use atrium_vision::face::{QualityConfig, QualityIssue};
use atrium_vision::image::DecodeLimits;
use atrium_vision::{BBox, Embedding, FaceDetector, FaceEmbedder, Models, Quality, VisionError};

/// Why a photo was not enrolled.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("not a usable image: {0}")]
    NotAnImage(String),
    #[error("no face found in the photo")]
    NoFace,
    #[error(
        "several faces ({0}) in the photo: upload a photo of one person, or crop it to one face"
    )]
    SeveralFaces(usize),
    #[error("face quality {score:.2} is below {min:.2}: {}", .issue.describe())]
    LowQuality {
        issue: QualityIssue,
        score: f32,
        min: f32,
        quality: Box<Quality>,
    },
    /// The models could not be loaded or run (a server problem).
    #[error("face models: {0}")]
    Models(VisionError),
    #[error("enrolment failed: {0}")]
    Internal(String),
}

impl EnrolError {
    /// Machine-readable reason for the API.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotAnImage(_) => "not_an_image",
            Self::NoFace => "no_face",
            Self::SeveralFaces(_) => "several_faces",
            Self::LowQuality { issue, .. } => match issue {
                QualityIssue::TooSmall => "too_small",
                QualityIssue::TooBlurry => "too_blurry",
                QualityIssue::NotFrontal => "not_frontal",
                QualityIssue::LowConfidence => "low_confidence",
            },
            Self::Models(_) => "models_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

/// One enrolled face.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub width: u32,
    pub height: u32,
    pub bbox: BBox,
    pub quality: Quality,
    pub embedding: Embedding,
    /// Seconds the embedder took (a measurement, not a clock read; the
    /// calibration compares models by it).
    pub embed_seconds: f64,
}

/// Enrolment settings.
#[derive(Debug, Clone)]
pub struct EnrolConfig {
    pub models_dir: PathBuf,
    /// Manifest id of the embedder.
    pub embedder: String,
    pub max_pixels: u64,
    pub min_quality: f32,
    pub quality: QualityConfig,
    pub runtime: atrium_vision::RuntimeOptions,
}

struct Loaded {
    detector: FaceDetector,
    embedder: FaceEmbedder,
}

/// Enrols photos; cheap to clone, safe to share.
#[derive(Clone)]
pub struct Enroller {
    cfg: Arc<EnrolConfig>,
    loaded: Arc<Mutex<Option<Loaded>>>,
}

impl std::fmt::Debug for Enroller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enroller")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Enroller {
    /// The embedder's manifest id.
    pub fn embedder(&self) -> &str {
        &self.cfg.embedder
    }

    pub fn new(cfg: EnrolConfig) -> Self {
        Self {
            cfg: Arc::new(cfg),
            loaded: Arc::new(Mutex::new(None)),
        }
    }

    /// Enrols `bytes` (JPEG, PNG or WebP) on a blocking thread.
    pub async fn enrol(&self, bytes: Vec<u8>) -> Result<Enrolled, EnrolError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.enrol_blocking(&bytes))
            .await
            .map_err(|e| EnrolError::Internal(format!("worker failed: {e}")))?
    }

    fn enrol_blocking(&self, bytes: &[u8]) -> Result<Enrolled, EnrolError> {
        let image = atrium_vision::image::decode(
            bytes,
            DecodeLimits {
                max_pixels: self.cfg.max_pixels,
            },
        )
        .map_err(|e| EnrolError::NotAnImage(e.to_string()))?;
        let mut guard = self
            .loaded
            .lock()
            .map_err(|_| EnrolError::Internal("model lock poisoned".into()))?;
        if guard.is_none() {
            let models = Models::open(&self.cfg.models_dir, self.cfg.runtime.clone())
                .map_err(EnrolError::Models)?;
            *guard = Some(Loaded {
                detector: models.face_detector().map_err(EnrolError::Models)?,
                embedder: models
                    .face_embedder_by_id(Some(&self.cfg.embedder))
                    .map_err(EnrolError::Models)?,
            });
        }
        let Some(loaded) = guard.as_mut() else {
            return Err(EnrolError::Internal("models not loaded".into()));
        };
        let view = image.view();
        let faces = loaded
            .detector
            .detect(&view, None)
            .map_err(EnrolError::Models)?;
        let face = match faces.as_slice() {
            [] => return Err(EnrolError::NoFace),
            [one] => *one,
            many => return Err(EnrolError::SeveralFaces(many.len())),
        };
        let quality = assess(&view, &face, &self.cfg.quality);
        if quality.overall < self.cfg.min_quality {
            return Err(EnrolError::LowQuality {
                issue: quality.limiting,
                score: quality.overall,
                min: self.cfg.min_quality,
                quality: Box::new(quality),
            });
        }
        let started = std::time::Instant::now();
        let embedding = loaded
            .embedder
            .embed(&view, &[face])
            .map_err(EnrolError::Models)?
            .into_iter()
            .next()
            .ok_or(EnrolError::NoFace)?;
        Ok(Enrolled {
            width: image.width(),
            height: image.height(),
            bbox: face.bbox,
            quality,
            embedding,
            embed_seconds: started.elapsed().as_secs_f64(),
        })
    }
}
