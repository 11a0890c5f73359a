//! The binary answers --help and --version.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::Command;

#[test]
fn edge_agent_help_and_version() {
    let help = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("probe"), "{text}");
    let version = Command::new(env!("CARGO_BIN_EXE_edge-agent"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("edge-agent {}", env!("CARGO_PKG_VERSION"))
    );
}
