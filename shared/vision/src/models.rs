//! Opening the models an installation uses: the manifest in a models
//! directory, and constructors that load, verify and configure each role.

use std::path::{Path, PathBuf};

use crate::detect::{DetectorConfig, OnnxDetector};
use crate::error::VisionError;
use crate::face::embed::EmbedderSpec;
use crate::face::{AlignConfig, FaceDetector, FaceDetectorConfig, FaceEmbedder, QualityConfig};
use crate::manifest::{Family, Manifest, ModelSpec};
use crate::runtime::{RuntimeOptions, load_session};

/// A models directory and its manifest.
#[derive(Debug, Clone)]
pub struct Models {
    dir: PathBuf,
    manifest_path: PathBuf,
    manifest: Manifest,
    runtime: RuntimeOptions,
}

impl Models {
    /// Reads `dir/models.toml`.
    pub fn open(dir: &Path, runtime: RuntimeOptions) -> Result<Self, VisionError> {
        let manifest_path = dir.join("models.toml");
        let manifest = Manifest::load(&manifest_path)?;
        Ok(Self {
            dir: dir.to_owned(),
            manifest_path,
            manifest,
            runtime,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn runtime(&self) -> &RuntimeOptions {
        &self.runtime
    }

    /// The spec of model `id`.
    pub fn spec(&self, id: &str) -> Result<&ModelSpec, VisionError> {
        self.manifest.get(id, &self.manifest_path)
    }

    fn session(&self, spec: &ModelSpec) -> Result<ort::session::Session, VisionError> {
        load_session(
            &self.dir.join(&spec.file),
            Some(&spec.sha256),
            &self.runtime,
        )
    }

    /// The manifest's detector defaults (score, NMS IoU) for model `id`.
    pub fn detector_config(&self, id: &str) -> Result<DetectorConfig, VisionError> {
        let t = &self.spec(id)?.thresholds;
        let d = DetectorConfig::default();
        Ok(DetectorConfig {
            score: t.score.unwrap_or(d.score),
            nms_iou: t.nms_iou.unwrap_or(d.nms_iou),
            ..d
        })
    }

    /// A person detector from the manifest (`id`, or the default).
    pub fn person_detector(
        &self,
        id: Option<&str>,
        config: Option<DetectorConfig>,
    ) -> Result<OnnxDetector, VisionError> {
        let id = id.unwrap_or(&self.manifest.defaults.person_detector);
        let spec = self.spec(id)?;
        let config = match config {
            Some(c) => c,
            None => self.detector_config(id)?,
        };
        OnnxDetector::new(id, spec.family, self.session(spec)?, config)
    }

    /// A user-supplied Ultralytics YOLO export, outside the manifest;
    /// `sha256`, when given, is checked like a manifest model's.
    pub fn yolo_detector(
        &self,
        path: &Path,
        sha256: Option<&str>,
        config: DetectorConfig,
    ) -> Result<OnnxDetector, VisionError> {
        let session = load_session(path, sha256, &self.runtime)?;
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        OnnxDetector::new(&id, Family::Yolo, session, config)
    }

    /// The default face detector, with the manifest's thresholds.
    pub fn face_detector(&self) -> Result<FaceDetector, VisionError> {
        let id = &self.manifest.defaults.face_detector;
        let spec = self.spec(id)?;
        let d = FaceDetectorConfig::default();
        let config = FaceDetectorConfig {
            score: spec.thresholds.score.unwrap_or(d.score),
            nms_iou: spec.thresholds.nms_iou.unwrap_or(d.nms_iou),
            ..d
        };
        FaceDetector::new(id, self.session(spec)?, config)
    }

    /// Minimum overall face quality for embedding (manifest, face detector).
    pub fn min_face_quality(&self) -> Result<f32, VisionError> {
        Ok(self
            .spec(&self.manifest.defaults.face_detector)?
            .thresholds
            .min_quality
            .unwrap_or(0.5))
    }

    /// Quality thresholds (fixed in code; the manifest holds the gate).
    pub fn quality_config(&self) -> QualityConfig {
        QualityConfig::default()
    }

    /// The manifest's default face embedder id.
    pub fn default_face_embedder(&self) -> &str {
        &self.manifest.defaults.face_embedder
    }

    /// Every face embedder in the manifest, by id.
    pub fn face_embedder_ids(&self) -> Vec<&str> {
        self.manifest
            .models
            .iter()
            .filter(|(_, m)| m.family.is_face_embedder())
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// The default face embedder.
    pub fn face_embedder(&self) -> Result<FaceEmbedder, VisionError> {
        self.face_embedder_by_id(None)
    }

    /// Face embedder `id` (or the default): its family decides the crop,
    /// the manifest its input size, value range and dimension.
    pub fn face_embedder_by_id(&self, id: Option<&str>) -> Result<FaceEmbedder, VisionError> {
        let id = id.unwrap_or(&self.manifest.defaults.face_embedder);
        let spec = self.spec(id)?;
        let embedder_spec = self.embedder_spec(id, spec)?;
        FaceEmbedder::new(id, self.session(spec)?, embedder_spec)
    }

    /// The embedding dimension of face embedder `id`.
    pub fn embedding_dim(&self, id: &str) -> Result<usize, VisionError> {
        let spec = self.spec(id)?;
        Ok(self.embedder_spec(id, spec)?.dim)
    }

    fn embedder_spec(&self, id: &str, spec: &ModelSpec) -> Result<EmbedderSpec, VisionError> {
        let bad = |message: String| VisionError::Manifest {
            path: self.manifest_path.clone(),
            message,
        };
        let align = |size| match spec.family {
            Family::Faceres => Ok(AlignConfig {
                size,
                ..AlignConfig::default()
            }),
            Family::Mobileface => Ok(AlignConfig::arcface(size)),
            other => Err(bad(format!(
                "model {id} is a {other:?} model, not a face embedder"
            ))),
        };
        let output = spec
            .outputs
            .iter()
            .find(|o| o.name == "embedding")
            .ok_or_else(|| bad(format!("model {id} has no `embedding` output")))?;
        let dim = output
            .shape
            .last()
            .copied()
            .filter(|&d| d > 0)
            .ok_or_else(|| bad(format!("model {id}'s `embedding` has no fixed dimension")))?;
        let size = match spec.input.shape.as_slice() {
            [_, h, w, 3] if h == w && *h > 0 => *h as u32,
            other => {
                return Err(bad(format!(
                    "model {id}'s input must be [N, size, size, 3], not {other:?}"
                )));
            }
        };
        Ok(EmbedderSpec {
            input: spec.input.name.clone(),
            output: output.name.clone(),
            dim: dim as usize,
            align: align(size)?,
            range: spec.input.range.unwrap_or([0.0, 255.0]),
        })
    }

    /// Cosine similarity above which the default embedder's vectors are
    /// the same person (manifest).
    pub fn same_person_threshold(&self) -> Result<f32, VisionError> {
        self.same_person_threshold_of(&self.manifest.defaults.face_embedder)
    }

    /// The manifest's same-person threshold of embedder `id`.
    pub fn same_person_threshold_of(&self, id: &str) -> Result<f32, VisionError> {
        self.spec(id)?
            .thresholds
            .same_person
            .ok_or_else(|| VisionError::Manifest {
                path: self.manifest_path.clone(),
                message: format!("model {id} has no thresholds.same_person"),
            })
    }
}
