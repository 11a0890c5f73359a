# Sourced by scripts/*: environment shared by set-up, tests and the demo.
# Kept in one place so `cargo test` run by hand can do the same by sourcing it.
_atrium_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
# Builds go to a directory outside the clone, kept between clones: CI starts
# from a clean clone every time, and a cold build of the workspace is most of
# a CI run (docs/decisions.md, 2026-12-07 "CI time"). Set CARGO_TARGET_DIR to
# build elsewhere.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/atrium/target}"
# ort's load-dynamic feature finds ONNX Runtime through this variable.
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$_atrium_root/.cache/onnxruntime/libonnxruntime.so.1.32.0}"
# Debian's interpreter has python3-gi (the GStreamer RTSP test server needs it).
export ATRIUM_PYTHON="${ATRIUM_PYTHON:-/usr/bin/python3}"
# schemathesis, in the venv scripts/setup makes (central's API conformance test).
export ATRIUM_SCHEMATHESIS="${ATRIUM_SCHEMATHESIS:-$_atrium_root/.cache/schemathesis/bin/schemathesis}"
unset _atrium_root
