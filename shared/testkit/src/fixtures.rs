//! Where test fixtures live.
//!
//! Large fixtures (real footage) are produced by `scripts/setup` under
//! `tests/fixtures/` and git-ignored; a missing one is reported with the
//! command that makes it rather than as a bare "file not found".

use std::path::PathBuf;

use crate::HarnessError;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    // shared/testkit → ../..
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).map(PathBuf::from).unwrap_or(here)
}

/// Path of `tests/fixtures/<name>`, which must exist.
pub fn fixture(name: &str) -> Result<PathBuf, HarnessError> {
    let path = workspace_root().join("tests").join("fixtures").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::MissingFixture {
            path,
            hint: "run scripts/setup, which downloads and prepares the test footage",
        })
    }
}

/// The ONNX Runtime library: `ORT_DYLIB_PATH`, else where scripts/setup
/// puts it.
pub fn onnxruntime_library() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".cache/onnxruntime/libonnxruntime.so.1.32.0"))
}
