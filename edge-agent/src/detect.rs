//! Person detection: the stage between a decoded frame and the tracker.
//!
//! The model comes from `atrium-vision` (a YOLO ONNX model named in the
//! manifest, or a file given in the configuration). This stage picks it,
//! widens its score threshold to what the tracker's second stage needs,
//! and turns a frame into the tracker's observations (people only).

use std::path::PathBuf;

use atrium_vision::{Detector, Models, RuntimeOptions, VisionError};

use crate::config::Config;
use crate::frames::Frame;
use crate::track::Observation;

/// Loads the models and the person detector the configuration names.
pub fn load(config: &Config) -> Result<(Models, Box<dyn Detector>), VisionError> {
    let runtime = RuntimeOptions {
        intra_threads: config.detector.threads,
        provider: config.detector.provider,
        library: config.detector.onnxruntime.clone(),
    };
    let models = Models::open(&config.detector.models_dir, runtime)?;
    let model = config.detector.model.as_str();
    // The configuration's score and NMS settings override the model's.
    let tuned = |mut c: atrium_vision::DetectorConfig| {
        if let Some(s) = config.detector.score {
            c.score = s;
        }
        if let Some(i) = config.detector.nms_iou {
            c.nms_iou = i;
        }
        c
    };
    let detector: Box<dyn Detector> = if model.ends_with(".onnx") || model.contains('/') {
        let c = tuned(atrium_vision::DetectorConfig::default());
        Box::new(models.yolo_detector(
            &PathBuf::from(model),
            config.detector.sha256.as_deref(),
            c,
        )?)
    } else {
        let id = (model != "default").then_some(model);
        let mut c = tuned(
            models.detector_config(id.unwrap_or(&models.manifest().defaults.person_detector))?,
        );
        // The tracker's second stage wants low-score boxes too.
        c.score = c.score.min(config.tracker.low_score.max(0.05));
        Box::new(models.person_detector(id, Some(c))?)
    };
    Ok((models, detector))
}

/// The detector as the pipeline uses it.
pub struct PersonDetector {
    detector: Box<dyn Detector>,
}

impl std::fmt::Debug for PersonDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonDetector").finish_non_exhaustive()
    }
}

impl PersonDetector {
    pub fn new(detector: Box<dyn Detector>) -> Self {
        Self { detector }
    }

    /// The model's input size, which decoding scales frames to.
    pub fn input_size(&self) -> (u32, u32) {
        let lb = self.detector.letterbox(1000, 1000);
        (lb.input_w, lb.input_h)
    }

    /// The people in a frame, in frame pixels.
    pub fn observe(&mut self, frame: &Frame) -> Result<Vec<Observation>, VisionError> {
        let detections =
            self.detector
                .detect_prescaled(&frame.scaled.view(), frame.width, frame.height)?;
        Ok(detections
            .iter()
            .filter(|d| d.class == 0)
            .map(|d| Observation {
                bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
                score: d.score,
            })
            .collect())
    }
}
