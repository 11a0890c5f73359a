//! Both binaries answer --help and --version.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::Command;

#[test]
fn central_help_and_version() {
    let help = Command::new(env!("CARGO_BIN_EXE_central"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("migrate"), "{text}");
    let version = Command::new(env!("CARGO_BIN_EXE_central"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("central {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Every `admin` noun is singular, like `user` and `site`, except `faces`
/// (the recognition feature's name; `face` works too); the old plural
/// `persons` still works for scripts written before.
#[test]
fn admin_nouns_are_singular_and_persons_still_works() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_central"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = help(&["admin", "--help"]);
    assert!(ok, "{text}");
    for noun in [
        "user", "site", "camera", "device", "pki", "broker", "person", "faces",
    ] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{noun} "))),
            "no `admin {noun}` in:\n{text}"
        );
    }
    assert!(!text.contains("persons "), "{text}");
    for noun in ["person", "persons"] {
        let (ok, text) = help(&["admin", noun, "import", "--help"]);
        assert!(ok, "admin {noun} import --help: {text}");
        assert!(text.contains("Usage:"), "{text}");
    }
    for noun in ["faces", "face"] {
        let (ok, text) = help(&["admin", noun, "calibrate", "--help"]);
        assert!(ok, "admin {noun} calibrate --help: {text}");
        assert!(text.contains("--apply"), "{text}");
    }
}
