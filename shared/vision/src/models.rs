//! Opening the models an installation uses: the manifest in a models
//! directory, and constructors that load, verify and configure each role.

use std::path::{Path, PathBuf};

use crate::detect::{DetectorConfig, OnnxDetector};
use crate::error::VisionError;
use crate::face::{FaceDetector, FaceDetectorConfig, FaceEmbedder, QualityConfig};
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

    /// The default face embedder.
    pub fn face_embedder(&self) -> Result<FaceEmbedder, VisionError> {
        let id = &self.manifest.defaults.face_embedder;
        let spec = self.spec(id)?;
        let dim = spec
            .outputs
            .iter()
            .find(|o| o.name == "embedding")
            .and_then(|o| o.shape.last().copied())
            .filter(|&d| d > 0)
            .ok_or_else(|| VisionError::Manifest {
                path: self.manifest_path.clone(),
                message: format!("model {id} has no `embedding` output with a fixed dimension"),
            })?;
        FaceEmbedder::new(id, self.session(spec)?, dim as usize)
    }

    /// Cosine similarity above which the embedder's vectors are the same
    /// person (manifest).
    pub fn same_person_threshold(&self) -> Result<f32, VisionError> {
        let id = &self.manifest.defaults.face_embedder;
        self.spec(id)?
            .thresholds
            .same_person
            .ok_or_else(|| VisionError::Manifest {
                path: self.manifest_path.clone(),
                message: format!("model {id} has no thresholds.same_person"),
            })
    }
}
