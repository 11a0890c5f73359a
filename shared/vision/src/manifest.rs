//! `models/models.toml`: which file each model is, its checksum, where it
//! came from, how to feed it and the thresholds we calibrated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::VisionError;

/// The whole manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Which model plays which role when the configuration does not say.
    pub defaults: Defaults,
    /// Every model, by id.
    pub models: BTreeMap<String, ModelSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub person_detector: String,
    pub face_detector: String,
    pub face_embedder: String,
}

/// Model families the code knows how to feed and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// CenterNet from @vladmandic/human: `detections` [1,100,6].
    Centernet,
    /// The same CenterNet cut to its person channel, decoded in Rust:
    /// `heatmap` [1,h,w,1] and `wh` [1,h,w,4].
    #[serde(rename = "centernet_person")]
    CenternetPerson,
    /// Ultralytics YOLOv8/YOLO11 export: [1, 4+classes, N].
    Yolo,
    /// BlazeFace with in-graph anchor decoding.
    Blazeface,
    /// HSE FaceRes embedder (1024-D), fed an eye-levelled crop.
    Faceres,
    /// becauseofAI MobileFace embedder (256-D), fed the ArcFace template
    /// crop.
    Mobileface,
}

impl Family {
    /// Whether models of this family embed faces.
    pub fn is_face_embedder(self) -> bool {
        matches!(self, Self::Faceres | Self::Mobileface)
    }
}

/// One model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub file: String,
    pub sha256: String,
    pub family: Family,
    pub task: String,
    /// Registry package that ships the original weights, e.g. `npm:@vladmandic/human@3.3.6`.
    pub package: String,
    /// Path of the original model inside the package.
    pub package_path: String,
    pub upstream: String,
    pub licence: String,
    pub input: TensorSpec,
    pub outputs: Vec<TensorSpec>,
    #[serde(default)]
    pub thresholds: Thresholds,
}

/// A tensor's name and shape (`-1` = dynamic) and, for inputs, how to fill it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<i64>,
    #[serde(default)]
    pub layout: Option<String>,
    #[serde(default)]
    pub range: Option<[f32; 2]>,
    pub meaning: String,
}

/// Calibrated thresholds; which apply depends on the family.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Detector: minimum score of a reported detection.
    pub score: Option<f32>,
    /// Detector: IoU above which the weaker of two boxes is suppressed.
    pub nms_iou: Option<f32>,
    /// Face detector: minimum overall quality for a face to be embedded.
    pub min_quality: Option<f32>,
    /// Embedder: cosine similarity above which two faces are the same person.
    pub same_person: Option<f32>,
}

impl Manifest {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, VisionError> {
        let text = std::fs::read_to_string(path).map_err(|e| VisionError::Manifest {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| VisionError::Manifest {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// The spec of model `id`.
    pub fn get(&self, id: &str, manifest_path: &Path) -> Result<&ModelSpec, VisionError> {
        self.models
            .get(id)
            .ok_or_else(|| VisionError::UnknownModel {
                model: id.to_owned(),
                path: PathBuf::from(manifest_path),
            })
    }
}
