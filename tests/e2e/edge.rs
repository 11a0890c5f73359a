//! The edge agent end to end: a real RTSP camera, real models, a real
//! Mosquitto with TLS, and a subscriber standing in for central.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use atrium_proto::event::EventBody;
use atrium_proto::{CameraState, Direction};
use atrium_testkit::{Mosquitto, RtspCamera, TestClient, fixture};
use atrium_tests::{EdgeAgent, EdgeSetup, Observer, binary};

#[path = "common/vtest.rs"]
mod vtest;

use vtest::{FRAME_MS, VTEST_FRAMES, ground_truth, line_toml};

async fn vtest_camera() -> RtspCamera {
    let vtest = fixture("vtest.mp4").unwrap();
    RtspCamera::start(&[("vtest", vtest.as_path())])
        .await
        .unwrap()
}

/// An occupancy event every second, so an outage has plenty to spool.
const BUSY: &str = "[analytics]\noccupancy_interval_s = 1\n";

fn setup(broker: &Mosquitto, camera: &str, url: &str) -> EdgeSetup {
    EdgeSetup::new(camera, url, broker.port(), broker.identity(camera).unwrap())
}

/// Frame numbers of the agent's crossings during the first pass of the
/// video.
fn crossings(seen: &atrium_tests::Seen, line: &str) -> Vec<(i64, Direction)> {
    let mut out: Vec<(i64, Direction)> = seen
        .events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::LineCrossed {
                line: l, direction, ..
            } if l == line => {
                let frame = e.stream_ms? / FRAME_MS;
                (frame < VTEST_FRAMES).then_some((frame, *direction))
            }
            _ => None,
        })
        .collect();
    out.sort_by_key(|c| c.0);
    out
}

#[tokio::test]
async fn vtest_crossings_over_rtsp_match_the_ground_truth() {
    let gt = ground_truth();
    let broker = Mosquitto::start().await.unwrap();
    let cam = vtest_camera().await;
    let observer = Observer::start(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    let config = setup(&broker, "cam-vtest", &cam.url("vtest"))
        .extra(&line_toml(&gt))
        .write(dir.path());
    let agent = EdgeAgent::start(dir.path(), &config);

    // Play the whole file once (plus time for the last tracks to settle).
    let (done, seen) = observer
        .wait_for(Duration::from_secs(150), |s| {
            s.events.iter().any(|e| {
                e.stream_ms
                    .is_some_and(|m| m > (VTEST_FRAMES + 30) * FRAME_MS)
            })
        })
        .await;
    assert!(
        done,
        "the agent did not get through vtest in time; its log:\n{}",
        agent.log()
    );
    assert!(seen.bad.is_empty(), "unparseable events: {:?}", seen.bad);

    // Person tracks appear, and the local endpoints answer.
    let persons = seen
        .events
        .iter()
        .filter(|e| matches!(e.body, EventBody::PersonDetected { .. }))
        .count();
    assert!(persons >= 15, "only {persons} person tracks on vtest");
    let addr = agent.http_addr().unwrap();
    let metrics = http_get(&addr, "/metrics").await;
    for name in [
        "atrium_edge_frames_in_total",
        "atrium_edge_frames_processed_total",
        "atrium_edge_inference_seconds_bucket",
        "atrium_edge_spool_depth",
        "atrium_edge_tracks",
    ] {
        assert!(
            metrics.contains(name),
            "{name} missing from /metrics:\n{metrics}"
        );
    }
    let health = http_get(&addr, "/health").await;
    assert!(health.contains("\"camera\":\"online\""), "{health}");

    // Match the agent's crossings to the ground truth: same direction,
    // within 15 frames; what stays unmatched on either side is a miscount.
    let ours = crossings(&seen, &gt.line.id);
    let sc = vtest::score(&gt, &ours);
    println!(
        "ground truth IN {} OUT {}; agent IN {} OUT {}; missed {:?}; extra {:?}",
        sc.gt_in, sc.gt_out, sc.ours_in, sc.ours_out, sc.missed, sc.extra
    );
    sc.assert_within_tolerance(&ours);
}

async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn faces_clip_gives_1024_d_face_observations_that_agree_per_person() {
    let broker = Mosquitto::start().await.unwrap();
    let faces = fixture("faces.mp4").unwrap();
    let cam = RtspCamera::start(&[("faces", faces.as_path())])
        .await
        .unwrap();
    let observer = Observer::start(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    let config = setup(&broker, "cam-faces", &cam.url("faces"))
        .section("faces", "enabled = true\ninterval_s = 0.5")
        .write(dir.path());
    let agent = EdgeAgent::start(dir.path(), &config);
    // The clip shows six photos for 3 s each; play it once.
    let (done, seen) = observer
        .wait_for(Duration::from_secs(90), |s| {
            s.events
                .iter()
                .any(|e| e.stream_ms.is_some_and(|m| m > 18_500))
        })
        .await;
    assert!(done, "{}", agent.log());
    // Group the observations by photo (3 s each) and by where the face is:
    // the same face of the same photo, seen in different frames.
    let mut groups: Vec<(i64, [f32; 2], Vec<Vec<f32>>)> = Vec::new();
    let mut observations = 0;
    for e in &seen.events {
        if let EventBody::FaceObserved {
            embedding,
            quality,
            bbox,
            ..
        } = &e.body
        {
            assert_eq!(embedding.dim, 1024);
            assert_eq!(embedding.model, "human_faceres");
            assert!(*quality >= 0.5 && *quality <= 1.0);
            let v = embedding.decode().unwrap();
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3);
            observations += 1;
            let photo = e.stream_ms.unwrap_or(0) / 3000;
            let centre = [(bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0];
            // The clip wobbles by up to ~20 px; faces are ~150 px apart.
            match groups
                .iter_mut()
                .find(|(p, c, _)| *p == photo && (c[0] - centre[0]).hypot(c[1] - centre[1]) < 60.0)
            {
                Some(g) => g.2.push(v),
                None => groups.push((photo, centre, vec![v])),
            }
        }
    }
    assert!(
        observations >= 10,
        "only {observations} face observations: {}",
        agent.log()
    );
    let photos: HashSet<i64> = groups.iter().map(|g| g.0).collect();
    assert!(
        photos.len() >= 4,
        "faces seen on only {} of the 6 photos",
        photos.len()
    );
    let mut pairs = 0;
    let mut min = f32::MAX;
    for (_, _, vs) in &groups {
        for (i, a) in vs.iter().enumerate() {
            for b in &vs[i + 1..] {
                let c: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                min = min.min(c);
                pairs += 1;
            }
        }
    }
    println!(
        "{observations} faces, {} distinct faces on {} photos; {pairs} same-face pairs, min cosine {min:.3}",
        groups.len(),
        photos.len()
    );
    assert!(pairs >= 5, "too few repeated faces");
    assert!(
        min > 0.72,
        "the same face in different frames disagrees: min cosine {min}"
    );
}

#[tokio::test]
async fn exit_at_end_plays_the_file_once_delivers_every_event_and_exits_cleanly() {
    let broker = Mosquitto::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The first 8 s of vtest: people walk through, so there is more than
    // status to deliver.
    let clip = dir.path().join("clip.mp4");
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(fixture("vtest.mp4").unwrap())
        .args(["-t", "8", "-c", "copy"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(made.success());
    let observer = Observer::start(&broker).await;
    let url = format!("file://{}", clip.display());
    let config = setup(&broker, "cam-file", &url)
        .section("camera", "realtime = false\nloop_file = false")
        .extra("[analytics]\noccupancy_interval_s = 1\n")
        .write(dir.path());
    let mut agent = EdgeAgent::start_with(dir.path(), &config, &["--exit-at-end"]);
    let status = agent.wait(Duration::from_secs(120));
    let log = agent.log();
    assert!(
        status.is_some_and(|s| s.success()),
        "no clean exit by itself: {status:?}\n{log}"
    );
    // Everything produced was acknowledged before the exit, so the
    // observer (subscribed throughout) has it all.
    let produced = agent.journal();
    assert!(
        produced.iter().any(|(_, _, kind)| kind == "occupancy"),
        "{produced:?}"
    );
    let (done, seen) = observer
        .wait_for(Duration::from_secs(10), |s| {
            let got: HashSet<String> = received_ids(s).into_iter().collect();
            produced.iter().all(|(_, id, _)| got.contains(id))
        })
        .await;
    assert!(done, "not every produced event reached the broker: {log}");
    assert_all_delivered_in_order(&agent, &seen);
    assert!(
        log.contains("end of file after"),
        "the source reported why it ended: {log}"
    );
}

/// Ids the observer received, first occurrences in arrival order.
fn received_ids(seen: &atrium_tests::Seen) -> Vec<String> {
    let mut first = HashSet::new();
    seen.events
        .iter()
        .map(|e| e.id.to_string())
        .filter(|id| first.insert(id.clone()))
        .collect()
}

/// Every produced id arrived, and in the order produced.
fn assert_all_delivered_in_order(agent: &EdgeAgent, seen: &atrium_tests::Seen) {
    let produced: Vec<String> = agent.journal().into_iter().map(|(_, id, _)| id).collect();
    assert!(!produced.is_empty());
    let received = received_ids(seen);
    let got: HashSet<&String> = received.iter().collect();
    let journal = agent.journal();
    let missing: Vec<&(u64, String, String)> = journal
        .iter()
        .filter(|(_, id, _)| !got.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} events never arrived (received {}): {:?}\nlog tail:\n{}",
        missing.len(),
        produced.len(),
        received.len(),
        &missing[..missing.len().min(10)],
        agent
            .log()
            .lines()
            .rev()
            .take(25)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let position: HashMap<&String, usize> =
        received.iter().enumerate().map(|(i, id)| (id, i)).collect();
    let order: Vec<usize> = produced.iter().map(|id| position[id]).collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "events arrived out of production order"
    );
}

#[tokio::test]
async fn a_30_s_broker_outage_loses_nothing_and_keeps_order() {
    let mut broker = Mosquitto::start().await.unwrap();
    let cam = vtest_camera().await;
    let observer = Observer::start(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    let config = setup(&broker, "cam-outage", &cam.url("vtest"))
        .extra(&line_toml(&ground_truth()))
        .extra(BUSY)
        .write(dir.path());
    let mut agent = EdgeAgent::start(dir.path(), &config);
    let (ok, _) = observer
        .wait_for(Duration::from_secs(60), |s| s.events.len() >= 20)
        .await;
    assert!(ok, "no events before the outage: {}", agent.log());

    broker.stop().await;
    let stopped = Instant::now();
    let before = agent.journal().len();
    tokio::time::sleep(Duration::from_secs(30)).await; // the outage itself
    let during = agent.journal().len() - before;
    assert!(
        during > 10,
        "the agent should keep producing (and spooling) during the outage: {during}"
    );
    broker.restart().await.unwrap();
    println!(
        "broker down {:.0} s; {during} events produced meanwhile",
        stopped.elapsed().as_secs_f64()
    );

    // Keep streaming a little, then stop cleanly and compare.
    let target = agent.journal().len() + 20;
    let (ok, _) = observer
        .wait_for(Duration::from_secs(60), |s| s.events.len() >= target)
        .await;
    assert!(ok, "delivery did not resume: {}", agent.log());
    assert!(agent.stop().is_some_and(|s| s.success()), "{}", agent.log());
    let produced = agent.journal().len();
    let (_, seen) = observer
        .wait_for(Duration::from_secs(30), |s| {
            received_ids(s).len() >= produced
        })
        .await;
    assert_all_delivered_in_order(&agent, &seen);
    let (offline, _) = observer
        .wait_for(Duration::from_secs(10), |s| {
            s.statuses.iter().any(|s| {
                s.state == CameraState::Offline && s.reason.as_deref() == Some("agent stopped")
            })
        })
        .await;
    assert!(
        offline,
        "a clean stop publishes a retained offline status: {}",
        agent.log()
    );
}

#[tokio::test]
async fn kill_9_and_restart_lose_nothing_from_the_spool() {
    let mut broker = Mosquitto::start().await.unwrap();
    let cam = vtest_camera().await;
    let observer = Observer::start(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    let config = setup(&broker, "cam-crash", &cam.url("vtest"))
        .extra(&line_toml(&ground_truth()))
        .extra(BUSY)
        .write(dir.path());
    let mut agent = EdgeAgent::start(dir.path(), &config);
    let (ok, _) = observer
        .wait_for(Duration::from_secs(60), |s| s.events.len() >= 10)
        .await;
    assert!(ok, "{}", agent.log());
    // Let events pile up in the spool with nowhere to go, then crash.
    broker.stop().await;
    let piled = agent.journal().len() + 15;
    let deadline = Instant::now() + Duration::from_secs(60);
    while agent.journal().len() < piled && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agent.kill9();
    broker.restart().await.unwrap();
    agent.restart();
    let target = agent.journal().len() + 10;
    let (ok, _) = observer
        .wait_for(Duration::from_secs(60), |s| received_ids(s).len() >= target)
        .await;
    assert!(ok, "{}", agent.log());
    assert!(agent.stop().is_some_and(|s| s.success()));
    let produced = agent.journal().len();
    let (_, seen) = observer
        .wait_for(Duration::from_secs(30), |s| {
            received_ids(s).len() >= produced
        })
        .await;
    assert!(
        seen.bad.is_empty(),
        "corrupted events arrived: {:?}",
        seen.bad
    );
    assert_all_delivered_in_order(&agent, &seen);
    assert!(agent.log().contains("spool opened"), "{}", agent.log());
}

#[tokio::test]
async fn camera_loss_is_offline_within_15_s_and_recovery_resumes_events() {
    let broker = Mosquitto::start().await.unwrap();
    let mut cam = vtest_camera().await;
    let observer = Observer::start(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    let config = setup(&broker, "cam-loss", &cam.url("vtest")).write(dir.path());
    let agent = EdgeAgent::start(dir.path(), &config);
    let online =
        |s: &atrium_tests::Seen| s.statuses.iter().any(|st| st.state == CameraState::Online);
    let (ok, _) = observer.wait_for(Duration::from_secs(60), online).await;
    assert!(ok, "{}", agent.log());

    let before = observer.snapshot().statuses.len();
    cam.stop().await;
    let lost = Instant::now();
    let (ok, seen) = observer
        .wait_for(Duration::from_secs(15), |s| {
            s.statuses[before..]
                .iter()
                .any(|st| st.state == CameraState::Offline)
        })
        .await;
    assert!(ok, "no offline status within 15 s: {}", agent.log());
    println!(
        "offline reported after {:.1} s",
        lost.elapsed().as_secs_f64()
    );
    assert!(seen.events.iter().any(|e| matches!(
        e.body,
        EventBody::CameraStatus {
            state: CameraState::Offline,
            ..
        }
    )));

    cam.restart().await.unwrap();
    let mark = observer.snapshot();
    let (ok, seen) = observer
        .wait_for(Duration::from_secs(60), |s| {
            s.statuses[mark.statuses.len()..]
                .iter()
                .any(|st| st.state == CameraState::Online)
                && s.events[mark.events.len()..]
                    .iter()
                    .any(|e| matches!(e.body, EventBody::Occupancy { .. }))
        })
        .await;
    assert!(ok, "no recovery: {}", agent.log());
    assert!(seen.events[mark.events.len()..].iter().any(|e| matches!(
        e.body,
        EventBody::CameraStatus {
            state: CameraState::Online,
            ..
        }
    )));
}

#[tokio::test]
async fn lines_pushed_on_the_config_topic_apply_without_a_restart() {
    let gt = ground_truth();
    let broker = Mosquitto::start().await.unwrap();
    let cam = vtest_camera().await;
    let observer = Observer::start(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    let config = setup(&broker, "cam-config", &cam.url("vtest")).write(dir.path());
    let agent = EdgeAgent::start(dir.path(), &config);
    let (ok, _) = observer
        .wait_for(Duration::from_secs(60), |s| !s.events.is_empty())
        .await;
    assert!(ok, "{}", agent.log());
    // First a configuration far over the 64 KiB limit (retained): refused
    // with a clear error, the connection stays up, counting goes on.
    let mut central5 = atrium_testkit::TestClientV5::connect(
        broker
            .options_v5("central-big", &broker.identity("central").unwrap())
            .unwrap(),
    )
    .await
    .unwrap();
    let lines: Vec<serde_json::Value> = (0..1500)
        .map(|i| serde_json::json!({"id": format!("l{i}"), "name": "x".repeat(40), "a": [0.1, 0.1], "b": [0.9, 0.9], "in_side": "left"}))
        .collect();
    let huge = serde_json::json!({"schema": 1, "version": 9, "lines": lines}).to_string();
    assert!(
        central5
            .publish("atrium/v1/hq/cam/cam-config/config", huge, true)
            .await
            .is_some()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !agent.log().contains("refusing the camera configuration") {
        assert!(Instant::now() < deadline, "{}", agent.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(agent.log().contains("larger than the 65536-byte limit"));
    // Central pushes a line (retained), with no lines in the agent's file.
    let central = TestClient::connect(
        broker
            .options("central", &broker.identity("central").unwrap())
            .unwrap(),
    )
    .await
    .unwrap();
    let pushed = serde_json::json!({
        "schema": 1, "version": 7,
        "lines": [{"id": "pushed", "a": gt.line.a, "b": gt.line.b, "in_side": gt.line.in_side}],
        "zones": []
    });
    central
        .client
        .publish(
            "atrium/v1/hq/cam/cam-config/config",
            rumqttc::QoS::AtLeastOnce,
            true,
            pushed.to_string(),
        )
        .await
        .unwrap();
    let (ok, _) = observer
        .wait_for(Duration::from_secs(90), |s| {
            s.events
                .iter()
                .any(|e| matches!(&e.body, EventBody::LineCrossed { line, .. } if line == "pushed"))
        })
        .await;
    assert!(ok, "no crossing on the pushed line: {}", agent.log());
    assert!(agent.log().contains("applied camera configuration"));
    let metrics = http_get(&agent.http_addr().unwrap(), "/metrics").await;
    assert!(
        metrics.contains("atrium_edge_config_refused_total 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("atrium_edge_reconnects_total{kind=\"broker\"}"),
        "the oversized configuration broke the connection: {metrics}"
    );
}

fn check(config: &std::path::Path) -> (bool, String) {
    let out = Command::new(binary("edge-agent"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn line_of<'a>(report: &'a str, what: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(what))
        .unwrap_or_else(|| panic!("no {what} line in:\n{report}"))
}

#[tokio::test]
async fn check_passes_on_a_good_installation() {
    let broker = Mosquitto::start().await.unwrap();
    let cam = vtest_camera().await;
    let dir = tempfile::tempdir().unwrap();
    let config = setup(&broker, "cam-check", &cam.url("vtest")).write(dir.path());
    let (ok, report) = tokio::task::spawn_blocking(move || check(&config))
        .await
        .unwrap();
    assert!(ok, "{report}");
    assert!(
        line_of(&report, "camera").starts_with("PASS")
            && line_of(&report, "camera").contains("H.264 768x576"),
        "{report}"
    );
    assert!(
        line_of(&report, "models").contains("human_centernet_person"),
        "{report}"
    );
    assert!(line_of(&report, "broker").starts_with("PASS"), "{report}");
    assert!(line_of(&report, "disk").starts_with("PASS"), "{report}");
}

#[tokio::test]
async fn bad_camera_broker_and_codec_settings_fail_check_with_clear_reasons() {
    let broker = Mosquitto::start().await.unwrap();
    let vtest = fixture("vtest.mp4").unwrap();
    let cam = RtspCamera::start(&[("vtest", vtest.as_path())])
        .await
        .unwrap();
    let locked = RtspCamera::start_with_auth(&[("vtest", vtest.as_path())], "installer:right")
        .await
        .unwrap();
    let mjpeg = RtspCamera::start_mjpeg("mjpeg").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, s: EdgeSetup| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let c = s.write(&d);
        check(&c)
    };

    // Unreachable camera.
    let (ok, r) = run(
        "unreachable",
        setup(&broker, "cam-a", "rtsp://127.0.0.1:1/nothing"),
    );
    assert!(!ok);
    assert!(
        line_of(&r, "camera").starts_with("FAIL") && r.contains("rtsp://127.0.0.1:1/nothing"),
        "{r}"
    );

    // Wrong credentials.
    let creds = dir.path().join("creds");
    std::fs::write(&creds, "installer:wrong\n").unwrap();
    let (ok, r) = run(
        "badcreds",
        setup(&broker, "cam-b", &locked.url("vtest")).section(
            "camera",
            &format!("credentials_file = \"{}\"", creds.display()),
        ),
    );
    assert!(!ok);
    assert!(
        line_of(&r, "camera").starts_with("FAIL") && r.contains("401"),
        "{r}"
    );
    assert!(
        !r.contains("installer:wrong") && !r.contains(":wrong@"),
        "the password must not be printed: {r}"
    );
    std::fs::write(&creds, "installer:right\n").unwrap();
    let (_, r) = run(
        "right-creds",
        setup(&broker, "cam-b", &locked.url("vtest")).section(
            "camera",
            &format!("credentials_file = \"{}\"", creds.display()),
        ),
    );
    assert!(line_of(&r, "camera").starts_with("PASS"), "{r}");

    // A certificate from another CA.
    let mut s = setup(&broker, "cam-c", &cam.url("vtest"));
    s.tls = broker.foreign_identity("cam-c").unwrap();
    let (ok, r) = run("foreign-cert", s);
    assert!(!ok);
    assert!(line_of(&r, "broker").starts_with("FAIL"), "{r}");

    // A camera sending Motion JPEG.
    let (ok, r) = run("mjpeg", setup(&broker, "cam-d", &mjpeg.url("mjpeg")));
    assert!(!ok);
    assert!(
        line_of(&r, "camera").contains("\"jpeg\" is not supported"),
        "{r}"
    );
}

#[test]
fn malformed_configuration_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge.toml");
    std::fs::write(
        &path,
        "[camera]\nid = \"cam-1\"\nsite = \"hq\"\nurl = \"rtsp://x/y\"\nstall_timeout = 3\n\n[broker]\nhost = \"b\"\nca_file = \"c\"\ncert_file = \"c\"\nkey_file = \"k\"\n\n[spool]\ndir = \"/tmp/x\"\n",
    )
    .unwrap();
    let out = Command::new(binary("edge-agent"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stall_timeout") && err.contains("edge.toml"),
        "{err}"
    );
    // The same file fixed passes.
    let fixed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("stall_timeout =", "stall_timeout_s =");
    std::fs::write(&path, fixed).unwrap();
    let out = Command::new(binary("edge-agent"))
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("camera cam-1 on site hq"));
}
