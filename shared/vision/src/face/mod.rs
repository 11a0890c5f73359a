//! Faces: detection with keypoints, quality, alignment, embedding.

pub mod align;
pub mod detect;
pub mod embed;
pub mod quality;

pub use align::{AlignConfig, Jitter};
pub use detect::{FaceDetector, FaceDetectorConfig};
pub use embed::{Embedding, FaceEmbedder};
pub use quality::{Quality, QualityConfig, QualityIssue};

use crate::geometry::{BBox, Point};

/// A detected face, in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Face {
    pub bbox: BBox,
    pub score: f32,
    /// Right eye, left eye, nose tip, mouth centre, right ear, left ear (the
    /// subject's right and left: a frontal face has its right eye on the
    /// image's left).
    pub keypoints: [Point; 6],
}

impl Face {
    pub fn right_eye(&self) -> Point {
        self.keypoints[0]
    }

    pub fn left_eye(&self) -> Point {
        self.keypoints[1]
    }

    pub fn nose(&self) -> Point {
        self.keypoints[2]
    }

    pub fn mouth(&self) -> Point {
        self.keypoints[3]
    }

    /// Distance between the eyes in pixels.
    pub fn eye_distance(&self) -> f32 {
        self.right_eye().distance(self.left_eye())
    }
}
