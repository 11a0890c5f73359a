//! Camera pictures end to end: vtest over RTSP → edge-agent → Mosquitto
//! (TLS) → central → the snapshot endpoint and the live WebSocket, all
//! real processes. The oracle is the fixture itself (vtest is 768 × 576,
//! people walk through it from the first second) and the limits of the
//! wire contract, not what the code under test reports about itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use atrium_testkit::{Mosquitto, Postgres, RtspCamera, fixture};
use atrium_tests::{CentralServer, CentralSetup, EdgeAgent, EdgeSetup, central_cli, metric_at};
use futures::StreamExt;

/// vtest's frame size (ffprobe, by hand).
const VTEST_SIZE: (u32, u32) = (768, 576);

fn password_from(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password printed: {stdout}"))
        .to_owned()
}

/// Polls `check` every 200 ms until it returns `Some`, for at most `limit`.
async fn poll<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn snapshots_are_served_and_live_frames_flow_only_while_watched() {
    let (pg, broker) = tokio::join!(Postgres::start(), Mosquitto::start());
    let (pg, broker) = (pg.unwrap(), broker.unwrap());
    let vtest = fixture("vtest.mp4").unwrap();
    let cam = RtspCamera::start(&[("vtest", vtest.as_path())])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = pg.url();
    central_cli(&[
        "admin",
        "--database-url",
        &db,
        "camera",
        "add",
        "--id",
        "cam-vtest",
        "--site",
        "hq",
        "--name",
        "Road",
    ]);
    let pw = password_from(&central_cli(&[
        "admin",
        "--database-url",
        &db,
        "user",
        "add",
        "--username",
        "guard",
        "--role",
        "operator",
    ]));
    let config = CentralSetup {
        database_url: db.clone(),
        broker_port: broker.port(),
        tls: broker.identity("central").unwrap(),
        listen: "127.0.0.1:0".into(),
        secure_cookies: true,
        client_id: None,
    }
    .write(dir.path());
    // A short live window so the test sees the edge stop by itself within
    // seconds (operators keep the default 60 s; the mechanism is the same).
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[media]\nlive_for_s = 6\n");
    std::fs::write(&config, text).unwrap();
    let central = CentralServer::start(dir.path(), &config);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", central.base))
        .json(&serde_json::json!({"username": "guard", "password": pw}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let snapshot_url = format!("{}/api/v1/cameras/cam-vtest/snapshot", central.base);

    // Before the edge runs: no snapshot, in the API's error format.
    let r = http
        .get(&snapshot_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SNAPSHOT_NOT_FOUND", "{body}");
    let r = http
        .get(format!("{}/api/v1/cameras/cam-nope/snapshot", central.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http.get(&snapshot_url).send().await.unwrap();
    assert_eq!(r.status(), 401, "no credentials, no picture");

    let edge_dir = tempfile::tempdir().unwrap();
    let edge_config = EdgeSetup::new(
        "cam-vtest",
        &cam.url("vtest"),
        broker.port(),
        broker.identity("cam-vtest").unwrap(),
    )
    .section("faces", "enabled = false")
    .write(edge_dir.path());
    let agent = EdgeAgent::start(edge_dir.path(), &edge_config);

    // The snapshot of the first frame arrives by itself.
    let (jpeg, captured, frame_size) = poll(Duration::from_secs(90), || async {
        let r = http
            .get(&snapshot_url)
            .bearer_auth(&token)
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        let h = r.headers().clone();
        assert_eq!(h["content-type"], "image/jpeg");
        let captured = h["x-atrium-captured-at"].to_str().unwrap().to_owned();
        let size = h["x-atrium-frame-size"].to_str().unwrap().to_owned();
        Some((r.bytes().await.ok()?.to_vec(), captured, size))
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no snapshot; edge log:\n{}\ncentral log:\n{}",
            agent.log(),
            central.log()
        )
    });
    assert_eq!(frame_size, format!("{}x{}", VTEST_SIZE.0, VTEST_SIZE.1));
    let img = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
    let (w, h) = (img.width(), img.height());
    assert!(w < VTEST_SIZE.0 && w >= 256, "a small picture, {w}x{h}");
    let aspect = f64::from(w) / f64::from(h);
    let want = f64::from(VTEST_SIZE.0) / f64::from(VTEST_SIZE.1);
    assert!((aspect - want).abs() < 0.02, "the camera's aspect: {w}x{h}");
    assert!(jpeg.len() < atrium_proto::limits::MAX_FRAME_PAYLOAD);

    // Asking for a fresh one: a newer capture time arrives.
    let r = http
        .post(&snapshot_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let first: chrono::DateTime<chrono::Utc> = captured.parse().unwrap();
    poll(Duration::from_secs(20), || async {
        let r = http
            .get(&snapshot_url)
            .bearer_auth(&token)
            .send()
            .await
            .ok()?;
        let t: chrono::DateTime<chrono::Utc> = r
            .headers()
            .get("x-atrium-captured-at")?
            .to_str()
            .ok()?
            .parse()
            .ok()?;
        (t > first).then_some(())
    })
    .await
    .expect("a requested snapshot replaces the first one");

    // Live view: frames with person boxes while the socket is open.
    let edge_metrics = format!("http://{}/metrics", agent.http_addr().unwrap());
    assert_eq!(
        metric_at(&edge_metrics, "atrium_edge_live_active").await,
        Some(0.0)
    );
    let ws_base = central.base.replacen("http", "ws", 1);
    let url = format!("{ws_base}/ws/camera/cam-vtest?live=true&token={token}");
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut frames: Vec<serde_json::Value> = Vec::new();
    let collecting = tokio::time::timeout(Duration::from_secs(60), async {
        while frames.len() < 8 {
            let Some(Ok(msg)) = ws.next().await else {
                break;
            };
            let Ok(text) = msg.to_text() else { continue };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
                continue;
            };
            if v["type"] == "frame" {
                frames.push(v);
            }
        }
    })
    .await;
    assert!(
        collecting.is_ok() && frames.len() == 8,
        "8 live frames; got {}; edge log:\n{}",
        frames.len(),
        agent.log()
    );
    assert_eq!(
        metric_at(&edge_metrics, "atrium_edge_live_active").await,
        Some(1.0)
    );
    let ts: Vec<chrono::DateTime<chrono::Utc>> = frames
        .iter()
        .map(|f| f["ts"].as_str().unwrap().parse().unwrap())
        .collect();
    for pair in ts.windows(2) {
        let gap = (pair[1] - pair[0]).num_milliseconds();
        // At most 2 fps (a frame's capture time is within a frame period
        // of when it was processed: vtest runs at 10 fps).
        assert!(gap >= 400, "frames {gap} ms apart: {ts:?}");
    }
    let mut boxes = 0;
    for f in &frames {
        assert_eq!(f["camera_id"], "cam-vtest");
        assert_eq!(f["width"], VTEST_SIZE.0);
        let jpeg = base64_decode(f["jpeg"].as_str().unwrap());
        let img = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap();
        assert_eq!(u64::from(img.width()), f["image_width"].as_u64().unwrap());
        for b in f["boxes"].as_array().unwrap() {
            boxes += 1;
            let bb: Vec<f64> = b["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert!(bb[0] < bb[2] && bb[1] < bb[3], "{b}");
            assert!(b["track"].as_u64().is_some(), "{b}");
        }
    }
    // People walk through vtest all along: 8 frames cannot all be empty.
    assert!(boxes > 0, "no person box in 8 live frames");

    // Closing the page: the edge stops by itself once the last request
    // (6 s) runs out, and central stops asking.
    drop(ws);
    let stopped = poll(Duration::from_secs(30), || async {
        let edge = metric_at(&edge_metrics, "atrium_edge_live_active").await?;
        let central_watching = central.metric("atrium_central_media_live_cameras").await?;
        (edge == 0.0 && central_watching == 0.0).then_some(())
    })
    .await;
    assert!(
        stopped.is_some(),
        "live view did not stop; edge log:\n{}",
        agent.log()
    );
    let sent = metric_at(
        &edge_metrics,
        "atrium_edge_media_frames_total{kind=\"live\"}",
    )
    .await
    .unwrap();
    assert!(sent >= 8.0, "{sent}");
    let relayed = central
        .metric("atrium_central_media_live_frames_total")
        .await
        .unwrap();
    assert!(relayed >= 8.0, "{relayed}");
}

fn base64_decode(s: &str) -> Vec<u8> {
    // The standard alphabet, padded (docs/ref/mqtt.md); decoded by hand
    // so the test does not share the code under test's decoder.
    let table = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= table(c) << (18 - 6 * i);
        }
        let take = chunk.len() - 1;
        out.extend_from_slice(&n.to_be_bytes()[1..=take]);
    }
    out
}
