//! Camera pictures end to end: vtest over RTSP → edge-agent → Mosquitto
//! (TLS) → central → the snapshot endpoint and the live WebSocket, all
//! real processes. The oracle is the fixture itself (vtest is 768 × 576,
//! people walk through it from the first second) and the limits of the
//! wire contract, not what the code under test reports about itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use atrium_testkit::webui::{self, screenshot_path, text_of};
use atrium_testkit::{Mosquitto, Postgres, RtspCamera, fixture, poll};
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

/// The services both tests run: PostgreSQL, Mosquitto, vtest over RTSP,
/// camera `cam-vtest` and one user added through the admin CLI, and
/// `central serve` with an extra `[media]` section if given.
struct Rig {
    _pg: Postgres,
    broker: Mosquitto,
    cam: RtspCamera,
    _dir: tempfile::TempDir,
    central: CentralServer,
    http: reqwest::Client,
    password: String,
    token: String,
}

impl Rig {
    async fn start(user: &str, role: &str, media: Option<&str>, secure_cookies: bool) -> Self {
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
        let password = password_from(&central_cli(&[
            "admin",
            "--database-url",
            &db,
            "user",
            "add",
            "--username",
            user,
            "--role",
            role,
        ]));
        let config = CentralSetup {
            database_url: db.clone(),
            broker_port: broker.port(),
            tls: broker.identity("central").unwrap(),
            listen: "127.0.0.1:0".into(),
            secure_cookies,
            client_id: None,
        }
        .write(dir.path());
        if let Some(media) = media {
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&format!("\n[media]\n{media}\n"));
            std::fs::write(&config, text).unwrap();
        }
        let central = CentralServer::start(dir.path(), &config);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let login: serde_json::Value = http
            .post(format!("{}/api/v1/auth/login", central.base))
            .json(&serde_json::json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_owned();
        Self {
            _pg: pg,
            broker,
            cam,
            _dir: dir,
            central,
            http,
            password,
            token,
        }
    }

    /// A real edge agent for `cam-vtest` (faces off: not what these test).
    fn edge(&self) -> (EdgeAgent, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = EdgeSetup::new(
            "cam-vtest",
            &self.cam.url("vtest"),
            self.broker.port(),
            self.broker.identity("cam-vtest").unwrap(),
        )
        .section("faces", "enabled = false")
        .write(dir.path());
        (EdgeAgent::start(dir.path(), &config), dir)
    }
}

#[tokio::test]
async fn snapshots_are_served_and_live_frames_flow_only_while_watched() {
    // A short live window so the test sees the edge stop by itself within
    // seconds (operators keep the default 60 s; the mechanism is the same).
    let rig = Rig::start("guard", "operator", Some("live_for_s = 6"), true).await;
    let Rig {
        central,
        http,
        token,
        ..
    } = &rig;
    let snapshot_url = format!("{}/api/v1/cameras/cam-vtest/snapshot", central.base);

    // Before the edge runs: no snapshot, in the API's error format.
    let r = http
        .get(&snapshot_url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SNAPSHOT_NOT_FOUND", "{body}");
    let r = http
        .get(format!("{}/api/v1/cameras/cam-nope/snapshot", central.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http.get(&snapshot_url).send().await.unwrap();
    assert_eq!(r.status(), 401, "no credentials, no picture");

    let (agent, _edge_dir) = rig.edge();

    // The snapshot of the first frame arrives by itself.
    let (jpeg, captured, frame_size) = poll(Duration::from_secs(90), || async {
        let r = http
            .get(&snapshot_url)
            .bearer_auth(token)
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
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let first: chrono::DateTime<chrono::Utc> = captured.parse().unwrap();
    poll(Duration::from_secs(20), || async {
        let r = http
            .get(&snapshot_url)
            .bearer_auth(token)
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
        // At most 2 fps in the video: capture times half a second apart
        // or more, even when the edge works off a backlog.
        assert!(gap >= 500, "frames {gap} ms apart: {ts:?}");
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

/// Waits (at most `limit`) for the element's text to satisfy `ok`.
async fn wait_text(
    c: &fantoccini::Client,
    css: &str,
    limit: Duration,
    ok: impl Fn(&str) -> bool,
) -> String {
    match poll(limit, || async { text_of(c, css).await.filter(|t| ok(t)) }).await {
        Some(t) => t,
        None => panic!("{css} never matched; last text {:?}", text_of(c, css).await),
    }
}

#[tokio::test]
async fn the_camera_page_shows_live_video_and_a_dragged_line_reaches_the_edge() {
    use fantoccini::Locator;
    use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};

    let rig = Rig::start("boss", "admin", None, false).await;
    let Rig {
        central,
        http,
        token,
        password: pw,
        ..
    } = &rig;
    // The road line of the ground-truth fixture, set through the API.
    let r = http
        .post(format!("{}/api/v1/config/lines", central.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"camera_id": "cam-vtest", "id": "road", "a": [0.42, 0.30], "b": [0.42, 0.69], "in_side": "left"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let (agent, _edge_dir) = rig.edge();

    let driver = atrium_testkit::Chromedriver::start().await.unwrap();
    let browser = webui::open(&driver, &central.base).await;
    webui::log_in(&browser, "boss", pw).await;
    // From the dashboard's camera table to the camera page.
    // (The table is redrawn on every event, so the link is checked and
    // followed rather than clicked: a click can land on a replaced row.)
    wait_text(
        &browser,
        "#cameras a[href='#camera/cam-vtest']",
        Duration::from_secs(20),
        |t| t == "Road",
    )
    .await;
    browser
        .goto(&format!("{}/#camera/cam-vtest", central.base))
        .await
        .unwrap();
    let caption = wait_text(&browser, "#camera-picture", Duration::from_secs(90), |t| {
        t.starts_with("Live,")
    })
    .await;
    assert!(caption.contains("tracked"), "{caption}");
    wait_text(&browser, "#camera-config", Duration::from_secs(30), |t| {
        t.contains("applied by the edge")
    })
    .await;
    assert_eq!(
        text_of(&browser, "#camera-title").await.as_deref(),
        Some("Road")
    );
    let line_row = text_of(&browser, "#camera-lines tbody tr[data-line='road']")
        .await
        .unwrap_or_else(|| panic!("no row for line road"));
    assert!(line_row.starts_with("road"), "{line_row}");
    std::fs::write(
        screenshot_path("camera-live"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();

    // Drag end point A of the line from (0.42, 0.30) to (0.47, 0.25).
    // WebDriver offsets are from the centre of the element's visible part:
    // make the whole canvas visible first.
    browser.set_window_size(1280, 1600).await.unwrap();
    let canvas = browser.find(Locator::Css("#camera-canvas")).await.unwrap();
    let (_, _, w, h) = canvas.rectangle().await.unwrap();
    let offset = |nx: f64, ny: f64| {
        (
            ((nx - 0.5) * w).round() as i64,
            ((ny - 0.5) * h).round() as i64,
        )
    };
    let (x0, y0) = offset(0.42, 0.30);
    let (x1, y1) = offset(0.47, 0.25);
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: canvas.clone(),
            duration: None,
            x: x0,
            y: y0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: canvas.clone(),
            duration: Some(Duration::from_millis(300)),
            x: x1,
            y: y1,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    browser.perform_actions(drag).await.unwrap();
    // The configuration API has the new coordinates (within a pixel or two
    // of the rendered canvas) and a new version.
    let line = poll(Duration::from_secs(15), || async {
        let v: serde_json::Value = http
            .get(format!("{}/api/v1/config/cameras/cam-vtest", central.base))
            .bearer_auth(token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let a = &v["lines"][0]["a"];
        let moved = (a[0].as_f64()? - 0.47).abs() < 0.01 && (a[1].as_f64()? - 0.25).abs() < 0.01;
        moved.then_some(v)
    })
    .await;
    let Some(line) = line else {
        std::fs::write(
            screenshot_path("camera-drag-failed"),
            browser.screenshot().await.unwrap(),
        )
        .unwrap();
        panic!(
            "the drag did not reach the API; canvas {w}x{h}, page error {:?}",
            text_of(&browser, "#camera-error").await
        );
    };
    assert_eq!(
        line["lines"][0]["b"],
        serde_json::json!([0.42, 0.69]),
        "B stays"
    );
    let version = line["config_version"].as_i64().unwrap();
    assert!(version >= 2, "{line}");
    // The edge received the pushed configuration and counts with it: the
    // page shows the version as applied (from the edge's own heartbeat),
    // and the edge's log names it.
    wait_text(&browser, "#camera-config", Duration::from_secs(30), |t| {
        t == format!("version {version}, applied by the edge")
    })
    .await;
    assert!(
        agent.log().contains(&format!("\"version\":{version}")),
        "the edge did not log version {version}:\n{}",
        agent.log()
    );
    // Draw a zone: four clicks on the picture, then "Finish zone".
    let kind = browser.find(Locator::Css("#draw-kind")).await.unwrap();
    kind.select_by_value("zone").await.unwrap();
    browser
        .find(Locator::Css("#draw-id"))
        .await
        .unwrap()
        .send_keys("kerb")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#draw-start"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let corners = [(0.10, 0.60), (0.35, 0.60), (0.35, 0.90), (0.10, 0.90)];
    for (nx, ny) in corners {
        let (x, y) = offset(nx, ny);
        let click = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element: canvas.clone(),
                duration: None,
                x,
                y,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        browser.perform_actions(click).await.unwrap();
    }
    browser
        .find(Locator::Css("#draw-finish"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let zoned = poll(Duration::from_secs(15), || async {
        let v: serde_json::Value = http
            .get(format!("{}/api/v1/config/cameras/cam-vtest", central.base))
            .bearer_auth(token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let z = v["zones"]
            .as_array()?
            .iter()
            .find(|z| z["id"] == "kerb")?
            .clone();
        Some((z, v["config_version"].as_i64()?))
    })
    .await;
    let Some((zone, zone_version)) = zoned else {
        panic!(
            "the drawn zone did not reach the API: {:?}",
            text_of(&browser, "#camera-error").await
        );
    };
    let polygon: Vec<(f64, f64)> = zone["polygon"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    assert_eq!(polygon.len(), 4, "{zone}");
    for ((x, y), (wx, wy)) in polygon.iter().zip(corners) {
        assert!((x - wx).abs() < 0.01 && (y - wy).abs() < 0.01, "{zone}");
    }
    assert!(zone_version > version);
    wait_text(&browser, "#camera-config", Duration::from_secs(30), |t| {
        t == format!("version {zone_version}, applied by the edge")
    })
    .await;
    let row = text_of(&browser, "#camera-zones tbody tr[data-zone='kerb']")
        .await
        .unwrap_or_else(|| panic!("no row for zone kerb"));
    assert!(row.starts_with("kerb"), "{row}");
    std::fs::write(
        screenshot_path("camera-edited"),
        browser.screenshot().await.unwrap(),
    )
    .unwrap();
    // Leaving the page closes the live view; the edge stops by itself.
    browser
        .goto(&format!("{}/#dashboard", central.base))
        .await
        .unwrap();
    let edge_metrics = format!("http://{}/metrics", agent.http_addr().unwrap());
    let stopped = poll(Duration::from_secs(120), || async {
        (metric_at(&edge_metrics, "atrium_edge_live_active").await? == 0.0).then_some(())
    })
    .await;
    assert!(
        stopped.is_some(),
        "the live view did not stop after the page closed"
    );
    browser.close().await.unwrap();
}
