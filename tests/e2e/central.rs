//! Camera to dashboard: vtest.avi over RTSP → edge-agent → Mosquitto (TLS)
//! → `central serve` → TimescaleDB → the counting API, all real processes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use atrium_proto::Direction;
use atrium_proto::event::EventBody;
use atrium_testkit::{Mosquitto, Postgres, RtspCamera, fixture};
use atrium_tests::{CentralServer, CentralSetup, EdgeAgent, EdgeSetup, Observer, central_cli};

const VTEST_FRAMES: i64 = 795;
const FRAME_MS: i64 = 100;

/// The counting line of the ground-truth fixture.
fn line() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("vtest_line_road.expected.json").unwrap()).unwrap();
    let gt: serde_json::Value = serde_json::from_str(&text).unwrap();
    gt["line"].clone()
}

fn password_from(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap_or_else(|| panic!("no password printed: {stdout}"))
        .to_owned()
}

#[tokio::test]
async fn vtest_crossings_reach_counting_history_through_central() {
    let (pg, broker) = tokio::join!(Postgres::start(), Mosquitto::start());
    let (pg, broker) = (pg.unwrap(), broker.unwrap());
    let vtest = fixture("vtest.mp4").unwrap();
    let cam = RtspCamera::start(&[("vtest", vtest.as_path())])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = pg.url();

    // Provisioning through the admin CLI.
    let out = central_cli(&[
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
    assert!(out.contains("added camera cam-vtest"), "{out}");
    let pw = password_from(&central_cli(&[
        "admin",
        "--database-url",
        &db,
        "user",
        "add",
        "--username",
        "admin",
        "--role",
        "admin",
    ]));
    let users = central_cli(&["admin", "--database-url", &db, "user", "list"]);
    assert!(
        users.contains("admin") && users.contains("admin "),
        "{users}"
    );

    let config = CentralSetup {
        database_url: db.clone(),
        broker_port: broker.port(),
        tls: broker.identity("central-2").unwrap(),
        listen: "127.0.0.1:0".into(),
        secure_cookies: true,
        client_id: None,
    }
    .write(dir.path());
    let central = CentralServer::start(dir.path(), &config);
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", central.base))
        .json(&serde_json::json!({"username": "admin", "password": pw}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"]
        .as_str()
        .expect("login with the printed password")
        .to_owned();

    // The counting line is configured in central and pushed to the edge,
    // whose own file has no line at all.
    let l = line();
    let r = http
        .post(format!("{}/api/v1/config/lines", central.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"camera_id": "cam-vtest", "id": l["id"], "a": l["a"], "b": l["b"], "in_side": l["in_side"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let observer = Observer::start(&broker).await;
    let edge_dir = tempfile::tempdir().unwrap();
    let edge_config = EdgeSetup::new(
        "cam-vtest",
        &cam.url("vtest"),
        broker.port(),
        broker.identity("cam-vtest").unwrap(),
    )
    .write(edge_dir.path());
    let agent = EdgeAgent::start(edge_dir.path(), &edge_config);

    // One pass of the video, plus time for the last tracks to settle.
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
        "the agent did not get through vtest; its log:\n{}",
        agent.log()
    );
    // Everything the edge published so far (the video loops on; count
    // what was published, deduplicated by id, then compare once central
    // has caught up with at least that).
    let mut ids = std::collections::HashSet::new();
    let (mut ins, mut outs) = (0i64, 0i64);
    for e in &seen.events {
        if let EventBody::LineCrossed { direction, .. } = e.body
            && ids.insert(e.id)
        {
            match direction {
                Direction::In => ins += 1,
                Direction::Out => outs += 1,
            }
        }
    }
    assert!(
        ins + outs >= 20,
        "the pushed line counted: {ins} in, {outs} out"
    );
    drop(agent); // stop producing, so the totals settle
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let published = observer.snapshot();
    let (mut all_in, mut all_out) = (0i64, 0i64);
    let mut all_ids = std::collections::HashSet::new();
    for e in &published.events {
        if let EventBody::LineCrossed { direction, .. } = e.body
            && all_ids.insert(e.id)
        {
            match direction {
                Direction::In => all_in += 1,
                Direction::Out => all_out += 1,
            }
        }
    }
    let history = loop {
        let h: serde_json::Value = http
            .get(format!(
                "{}/api/v1/counting/history?camera_id=cam-vtest&interval=hourly&per_page=1000",
                central.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let sum = |k: &str| {
            h["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b[k].as_i64().unwrap())
                .sum::<i64>()
        };
        if (sum("in"), sum("out")) == (all_in, all_out) || tokio::time::Instant::now() > deadline {
            break (sum("in"), sum("out"), h);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "edge published {all_in} IN / {all_out} OUT; counting/history says {} / {}",
        history.0, history.1
    );
    assert_eq!(
        (history.0, history.1),
        (all_in, all_out),
        "history: {}\ncentral log:\n{}",
        history.2,
        central.log()
    );
    // The dashboard's "today" agrees.
    let now: serde_json::Value = http
        .get(format!(
            "{}/api/v1/counting/current?camera_id=cam-vtest",
            central.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let today = &now["data"][0];
    assert_eq!(
        (today["in_today"].as_i64(), today["out_today"].as_i64()),
        (Some(all_in), Some(all_out)),
        "{now}"
    );
    assert_eq!(today["lines_today"][0]["line_id"], l["id"]);
}
