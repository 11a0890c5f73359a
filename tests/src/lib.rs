//! Helpers for end-to-end tests that run Atrium's binaries.

use std::path::PathBuf;

/// Path of a workspace binary (`edge-agent`, `central`) built beside the
/// running test, in `target/<profile>/`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    dir.join(name)
}
