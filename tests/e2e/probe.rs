//! `edge-agent probe` against a real RTSP camera.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::Command;

use atrium_testkit::{RtspCamera, fixture};

#[tokio::test]
async fn probe_reports_codec_resolution_and_frame_rate() {
    let vtest = fixture("vtest.mp4").unwrap();
    let cam = RtspCamera::start(&[("vtest", vtest.as_path())])
        .await
        .unwrap();
    let exe = atrium_tests::binary("edge-agent");
    assert!(exe.is_file(), "{} not built", exe.display());
    let out = tokio::task::spawn_blocking({
        let url = cam.url("vtest");
        move || {
            Command::new(exe)
                .args(["probe", "--url", &url, "--frames", "20"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("codec:      H.264"), "{stdout}");
    assert!(stdout.contains("resolution: 768x576"), "{stdout}");
    let fps: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("measured:   20 frames in "))
        .and_then(|rest| rest.split('(').nth(1))
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no measured line in {stdout}"));
    // The camera streams in real time at 10 fps.
    assert!((7.0..14.0).contains(&fps), "measured {fps} fps");
}

#[tokio::test]
async fn probe_of_an_unreachable_camera_fails_clearly() {
    let exe = atrium_tests::binary("edge-agent");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(exe)
            .args(["probe", "--url", "rtsp://127.0.0.1:1/none"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("camera rtsp://127.0.0.1:1/none"), "{err}");
}
