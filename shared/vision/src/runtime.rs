//! ONNX Runtime: loading the library, creating sessions, checking models.
//!
//! `ort` is built with `load-dynamic`: the library (`libonnxruntime.so`,
//! taken from the PyPI wheel by scripts/setup) is opened at run time from
//! `ORT_DYLIB_PATH` or an explicit path. Opening it once per process is done
//! here so a missing library is one clear error instead of a panic deep in
//! the first session.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use sha2::{Digest, Sha256};

use crate::error::VisionError;

/// Which hardware runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// CUDA when the loaded ONNX Runtime has it and a GPU answers, else CPU.
    #[default]
    Auto,
    /// CPU only.
    Cpu,
    /// CUDA, failing if it is unavailable.
    Cuda,
}

/// How sessions are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Threads used inside one operator (ONNX Runtime's intra-op pool).
    pub intra_threads: usize,
    pub provider: Provider,
    /// The ONNX Runtime library; `None` uses `ORT_DYLIB_PATH`.
    pub library: Option<PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            intra_threads: 1,
            provider: Provider::Auto,
            library: None,
        }
    }
}

// The error is kept as its message: it is cached for every later caller,
// and ort's error type cannot be cloned.
static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

fn library_path(opts: &RuntimeOptions) -> PathBuf {
    opts.library
        .clone()
        .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("libonnxruntime.so"))
}

/// Loads the ONNX Runtime library and creates the process's one ONNX
/// Runtime environment (first call wins; later calls share its result).
pub fn init(opts: &RuntimeOptions) -> Result<ort::environment::Environment, VisionError> {
    let path = library_path(opts);
    let result = ENV.get_or_init(|| {
        if path.components().count() > 1 && !path.exists() {
            return Err(format!("missing:{}", path.display()));
        }
        ort::init_from(&path)
            .map_err(|e| e.to_string())?
            .with_name("atrium")
            .with_telemetry(false)
            .build()
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(env) => Ok(env.clone()),
        Err(m) if m.starts_with("missing:") => Err(VisionError::RuntimeMissing {
            path: PathBuf::from(&m["missing:".len()..]),
        }),
        Err(m) => Err(VisionError::RuntimeLoad {
            path,
            message: m.clone(),
        }),
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads a model file, checks it against `expected_sha256` (if given) and
/// creates a session.
pub fn load_session(
    path: &Path,
    expected_sha256: Option<&str>,
    opts: &RuntimeOptions,
) -> Result<Session, VisionError> {
    let env = init(opts)?;
    let bytes = std::fs::read(path).map_err(|source| VisionError::ModelRead {
        path: path.to_owned(),
        source,
    })?;
    if let Some(expected) = expected_sha256 {
        let found = sha256_hex(&bytes);
        if !found.eq_ignore_ascii_case(expected) {
            return Err(VisionError::Checksum {
                path: path.to_owned(),
                expected: expected.to_owned(),
                found,
            });
        }
    }
    let load_err = |e: ort::Error| VisionError::ModelLoad {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut builder = Session::builder(&env)
        .map_err(load_err)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| load_err(e.into()))?
        .with_intra_threads(opts.intra_threads.max(1))
        .map_err(|e| load_err(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| load_err(e.into()))?;
    // Memory patterns off: ONNX Runtime then plans no whole-run block per
    // input shape (the face embedder sees a new batch size every few
    // frames); measured, it saves some 40 MiB of an agent with faces on and
    // costs no speed (docs/performance.md). The CPU arena stays on: without
    // it the allocator's fragmentation costs more than the arena keeps.
    builder = builder
        .with_memory_pattern(false)
        .map_err(|e| load_err(e.into()))?;
    let cpu = || ort::ep::CPU::default().with_arena_allocator(true).build();
    let cuda = ort::ep::CUDA::default();
    // `auto` asks for CUDA only when the loaded library has it, so a CPU
    // build does not log a registration error for every session.
    let cuda_built = {
        use ort::ep::ExecutionProvider;
        ort::ep::CUDA::is_available().unwrap_or(false)
    };
    builder = match (opts.provider, cuda_built) {
        (Provider::Cpu, _) | (Provider::Auto, false) => builder
            .with_execution_providers([cpu()])
            .map_err(|e| load_err(e.into()))?,
        (Provider::Auto, true) => builder
            .with_execution_providers([cuda.build(), cpu()])
            .map_err(|e| load_err(e.into()))?,
        (Provider::Cuda, _) => builder
            .with_execution_providers([cuda.build().error_on_failure()])
            .map_err(|e| load_err(e.into()))?,
    };
    let session = builder.commit_from_memory(&bytes).map_err(load_err)?;
    tracing::debug!(model = %path.display(), provider = ?opts.provider, threads = opts.intra_threads, "model loaded");
    Ok(session)
}

/// Whether the loaded ONNX Runtime library was built with CUDA support.
pub fn cuda_available(opts: &RuntimeOptions) -> Result<bool, VisionError> {
    use ort::ep::ExecutionProvider;
    init(opts)?;
    Ok(ort::ep::CUDA::is_available().unwrap_or(false))
}

/// The dimensions of a session input or output, `-1` where dynamic; empty
/// for a non-tensor outlet, which every caller's shape check refuses.
pub(crate) fn dims(outlet: &ort::value::Outlet) -> Vec<i64> {
    outlet
        .dtype()
        .tensor_shape()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default()
}

/// Whether `actual` matches `expected`, where `-1` on either side matches
/// anything.
pub(crate) fn dims_match(actual: &[i64], expected: &[i64]) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(&a, &e)| a == e || a < 0 || e < 0)
}

/// Finds the session input or output called `name` and checks its shape.
pub(crate) fn expect_outlet(
    model: &str,
    outlets: &[ort::value::Outlet],
    kind: &str,
    name: &str,
    shape: &[i64],
) -> Result<(), VisionError> {
    let found: Vec<String> = outlets
        .iter()
        .map(|o| format!("{} {:?}", o.name(), dims(o)))
        .collect();
    let Some(o) = outlets.iter().find(|o| o.name() == name) else {
        return Err(VisionError::Shape {
            model: model.to_owned(),
            detail: format!("no {kind} named {name:?} (it has {})", found.join(", ")),
        });
    };
    let d = dims(o);
    if !dims_match(&d, shape) {
        return Err(VisionError::Shape {
            model: model.to_owned(),
            detail: format!("{kind} {name:?} is {d:?}, expected {shape:?}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_dimensions_match_anything() {
        assert!(dims_match(&[-1, 512, 512, 3], &[1, 512, 512, 3]));
        assert!(dims_match(&[1, 84, 8400], &[1, -1, -1]));
        assert!(!dims_match(&[1, 256, 256, 3], &[1, 512, 512, 3]));
        assert!(!dims_match(&[1, 3, 640], &[1, 3, 640, 640]));
    }

    #[test]
    fn sha256_is_lower_case_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
