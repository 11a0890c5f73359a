//! Inference shared by the edge agent and central.
//!
//! Central enrols photos with exactly the code the edge uses to embed faces
//! from video, so an enrolled template and a live observation are comparable
//! only if both went through the same decode → detect → align → embed path.
//! That path lives here, once:
//!
//! * [`runtime`]: ONNX Runtime sessions (`ort`, `load-dynamic`), CUDA when
//!   present with CPU fallback, a configurable thread count, and a sha256
//!   check of every model file against the manifest before it is loaded;
//! * [`detect`]: person detection behind one [`Detector`] trait, for the
//!   bundled CenterNet and for Ultralytics YOLOv8/YOLO11 exports;
//! * [`face`]: BlazeFace detection with keypoints, a quality score,
//!   alignment to the embedder's crop, and L2-normalised embeddings that
//!   carry their model id.
//!
//! Pure parts (letterbox geometry, NMS, box decoding, quality arithmetic,
//! alignment maths) take values and return values and are unit-tested
//! without models.

pub mod detect;
pub mod error;
pub mod face;
pub mod geometry;
pub mod image;
pub mod letterbox;
pub mod manifest;
pub mod models;
pub mod runtime;

pub use detect::{Detection, Detector, DetectorConfig};
pub use error::VisionError;
pub use face::{Embedding, Face, FaceDetector, FaceEmbedder, Quality};
pub use geometry::{BBox, Point};
pub use image::{ImageView, RgbImage};
pub use models::Models;
pub use runtime::{Provider, RuntimeOptions};
