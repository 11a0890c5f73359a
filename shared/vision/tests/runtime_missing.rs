//! Without the ONNX Runtime library, loading a model is one clear error.
//! (Its own test binary: the library is loaded once per process.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use atrium_testkit::workspace_root;
use atrium_vision::{Models, RuntimeOptions, VisionError};

#[test]
fn missing_onnx_runtime_library_is_reported_with_the_fix() {
    let runtime = RuntimeOptions {
        library: Some("/nonexistent/libonnxruntime.so.1.32.0".into()),
        ..Default::default()
    };
    let models = Models::open(&workspace_root().join("models"), runtime).unwrap();
    let err = models.face_detector().unwrap_err();
    assert!(matches!(err, VisionError::RuntimeMissing { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/libonnxruntime.so.1.32.0") && text.contains("ORT_DYLIB_PATH"),
        "{text}"
    );
}
