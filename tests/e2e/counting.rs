//! Counting at every detection rate: vtest.avi replayed through the
//! agent's own detector, tracker and line (`edge_agent::replay`, the code
//! `edge-agent replay` runs), detecting on every 3rd frame as a loaded
//! agent at real time does (3.3 detections a second), scored against the
//! hand-made ground truth with the tolerance of the every-frame RTSP test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "common/vtest.rs"]
mod vtest;

use atrium_mqtt::TlsFiles;
use atrium_proto::event::EventBody;
use atrium_testkit::fixture;
use atrium_tests::EdgeSetup;
use vtest::{ground_truth, line_toml};

/// The agent's configuration for vtest with the ground truth's line (the
/// broker is never contacted by a replay).
fn config(dir: &std::path::Path) -> edge_agent::config::Config {
    let gt = ground_truth();
    let nowhere = |f: &str| dir.join(f);
    let path = EdgeSetup::new(
        "cam-vtest",
        &format!("file://{}", fixture("vtest.avi").unwrap().display()),
        8883,
        TlsFiles {
            ca: nowhere("ca.pem"),
            cert: nowhere("cam.pem"),
            key: nowhere("cam.key"),
        },
    )
    .extra(&line_toml(&gt))
    .write(dir);
    edge_agent::config::Config::load(&path).unwrap()
}

#[test]
fn every_third_frame_counts_vtest_within_the_every_frame_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let gt = ground_truth();
    let r = edge_agent::replay::replay(&cfg, &fixture("vtest.avi").unwrap(), 3).unwrap();
    assert_eq!(r.frames, vtest::VTEST_FRAMES as u64);
    assert_eq!(r.detections, 265, "frames 0, 3, 6, … detected");
    assert!(
        (r.video_s * 1000.0 - ((vtest::VTEST_FRAMES - 1) * vtest::FRAME_MS) as f64).abs() < 1.0,
        "the replay runs on the video's clock: {} s",
        r.video_s
    );
    let ours: Vec<(i64, atrium_proto::Direction)> = r
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::LineCrossed {
                line, direction, ..
            } if *line == gt.line.id => Some((e.frame as i64, *direction)),
            _ => None,
        })
        .collect();
    let sc = vtest::score(&gt, &ours);
    println!(
        "every 3rd frame: ground truth IN {} OUT {}; replay IN {} OUT {}; missed {:?}; extra {:?}; {:.2} cores at real time",
        sc.gt_in,
        sc.gt_out,
        sc.ours_in,
        sc.ours_out,
        sc.missed,
        sc.extra,
        r.cpu_s / r.video_s
    );
    sc.assert_within_tolerance(&ours);
}
