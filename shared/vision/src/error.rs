//! One error type for the crate: callers (the edge pipeline, central's
//! enrolment API) branch on the variant to decide between "skip this frame",
//! "refuse this photo with 422" and "the installation is broken".

use std::path::PathBuf;

/// Why an inference step failed.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error(
        "ONNX Runtime library not found at {path}: run scripts/setup or point ORT_DYLIB_PATH at libonnxruntime.so"
    )]
    RuntimeMissing { path: PathBuf },
    #[error("loading ONNX Runtime from {path}: {message}")]
    RuntimeLoad { path: PathBuf, message: String },
    #[error("reading model manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("model {model:?} is not in the manifest {path}")]
    UnknownModel { model: String, path: PathBuf },
    #[error("reading model file {path}: {source}")]
    ModelRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "model file {path} has sha256 {found} but the manifest says {expected}: the file is corrupted or not the model we calibrated"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("ONNX Runtime rejected model {path}: {message}")]
    ModelLoad { path: PathBuf, message: String },
    #[error("model {model} does not have the expected shape: {detail}")]
    Shape { model: String, detail: String },
    #[error("running model {model}: {message}")]
    Inference { model: String, message: String },
    #[error("image has no pixels ({width}x{height})")]
    EmptyImage { width: u32, height: u32 },
    #[error(
        "image buffer of {len} bytes is too small for {width}x{height} with a {stride}-byte stride"
    )]
    ImageBuffer {
        width: u32,
        height: u32,
        stride: usize,
        len: usize,
    },
    #[error("image is {width}x{height}, more than the {max_pixels} pixels allowed")]
    ImageTooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("not a decodable JPEG, PNG or WebP image: {0}")]
    ImageDecode(String),
    #[error("encoding PNG: {0}")]
    ImageEncode(String),
    #[error("resizing: {0}")]
    Resize(String),
}

impl VisionError {
    pub(crate) fn inference(model: &str, e: impl std::fmt::Display) -> Self {
        Self::Inference {
            model: model.to_owned(),
            message: e.to_string(),
        }
    }
}
