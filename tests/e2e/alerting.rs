//! A camera stopped in a running system, all real processes: vtest over
//! RTSP → edge-agent → Mosquitto (TLS) → `central serve`, with a webhook
//! channel added through the admin CLI and the camera-offline schedule
//! shortened (warning 5 s, critical 15 s). Stopping the RTSP server
//! fires a warning, then critical; starting it again resolves the alert.
//! Prints the time from stopping the camera to each notification.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atrium_testkit::{Mosquitto, Postgres, RtspCamera, fixture};
use atrium_tests::{CentralServer, CentralSetup, EdgeAgent, EdgeSetup, central_cli};
use serde_json::Value;

/// What the webhook receiver got: (when, body).
type Got = Arc<Mutex<Vec<(Instant, Value)>>>;

async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                store.lock().unwrap().push((Instant::now(), v));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// When the first notification of `what` (at `severity`, if given) came.
fn arrived(got: &Got, what: &str, severity: Option<&str>) -> Option<Instant> {
    got.lock()
        .unwrap()
        .iter()
        .find(|(_, b)| {
            b["change"]["what"] == what
                && severity.is_none_or(|s| b["change"]["severity"] == s)
                && b["alert"]["rule"] == "camera_offline"
        })
        .map(|(t, _)| *t)
}

async fn wait_for(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let done = atrium_testkit::poll(limit, || {
        let v = f().then_some(());
        async move { v }
    })
    .await;
    assert!(done.is_some(), "{what} within {limit:?}");
}

#[tokio::test]
async fn a_stopped_camera_alerts_warning_then_critical_and_resolves_when_back() {
    let (pg, broker) = tokio::join!(Postgres::start(), Mosquitto::start());
    let (pg, broker) = (pg.unwrap(), broker.unwrap());
    let vtest = fixture("vtest.mp4").unwrap();
    let mut cam = RtspCamera::start(&[("vtest", vtest.as_path())])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = pg.url();
    let out = central_cli(&[
        "admin",
        "--database-url",
        &db,
        "camera",
        "add",
        "--id",
        "cam-alert",
        "--site",
        "hq",
        "--name",
        "Road",
    ]);
    assert!(out.contains("added camera cam-alert"), "{out}");
    let (url, got) = receiver().await;
    let channel = dir.path().join("channel.json");
    std::fs::write(
        &channel,
        format!(r#"{{"name": "oncall", "webhook": {{"url": "{url}", "secret": "sixteen chars at least"}}}}"#),
    )
    .unwrap();
    let out = central_cli(&[
        "admin",
        "--database-url",
        &db,
        "alerts",
        "channel",
        "put",
        channel.to_str().unwrap(),
    ]);
    assert!(out.contains("added webhook channel oncall"), "{out}");

    let config = CentralSetup {
        database_url: db.clone(),
        broker_port: broker.port(),
        tls: broker.identity("central").unwrap(),
        listen: "127.0.0.1:0".into(),
        secure_cookies: true,
        client_id: None,
    }
    .write(dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[alerts]\nevery_ms = 1000\n\n[alerts.thresholds]\ncamera_offline = { warning_s = 5, critical_s = 15, escalate_s = 3600 }\n",
    );
    std::fs::write(&config, text).unwrap();
    let central = CentralServer::start(dir.path(), &config);

    let edge_dir = tempfile::tempdir().unwrap();
    let edge_config = EdgeSetup::new(
        "cam-alert",
        &cam.url("vtest"),
        broker.port(),
        broker.identity("cam-alert").unwrap(),
    )
    .write(edge_dir.path());
    let agent = EdgeAgent::start(edge_dir.path(), &edge_config);

    // Streaming: the camera is online in /health.
    let health = format!("{}/health", central.base);
    let started = Instant::now();
    let online = atrium_testkit::poll(Duration::from_secs(60), || async {
        let h: Value = reqwest::get(&health).await.ok()?.json().await.ok()?;
        (h["cameras"][0]["state"] == "online").then_some(())
    })
    .await;
    assert!(
        online.is_some(),
        "the camera never came online; agent log:\n{}",
        agent.log()
    );
    eprintln!("online after {:.1} s", started.elapsed().as_secs_f64());
    // The camera goes away.
    cam.stop().await;
    let lost = Instant::now();
    wait_for(Duration::from_secs(120), "a warning", || {
        arrived(&got, "fired", Some("warning")).is_some()
    })
    .await;
    wait_for(Duration::from_secs(60), "critical", || {
        arrived(&got, "severity_raised", Some("critical")).is_some()
    })
    .await;
    let warned = arrived(&got, "fired", Some("warning")).unwrap();
    let critical = arrived(&got, "severity_raised", Some("critical")).unwrap();
    assert!(critical > warned);
    eprintln!(
        "camera stopped → warning notification {:.1} s, critical {:.1} s (warning_s 5, critical_s 15, evaluation every 1 s)",
        (warned - lost).as_secs_f64(),
        (critical - lost).as_secs_f64()
    );

    // Back: the alert resolves by itself.
    cam.restart().await.unwrap();
    let back = Instant::now();
    wait_for(Duration::from_secs(120), "resolved", || {
        arrived(&got, "resolved", None).is_some()
    })
    .await;
    eprintln!(
        "camera back → resolved notification {:.1} s",
        (arrived(&got, "resolved", None).unwrap() - back).as_secs_f64()
    );
    let bodies: Vec<Value> = got.lock().unwrap().iter().map(|(_, b)| b.clone()).collect();
    let fired: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["change"]["what"] == "fired" && b["alert"]["rule"] == "camera_offline")
        .collect();
    assert_eq!(fired.len(), 1, "one alert for one outage: {bodies:?}");
    assert_eq!(fired[0]["alert"]["subject"]["id"], "cam-alert");
    drop(agent);
    drop(central);
}
