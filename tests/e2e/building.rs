//! A simulated building to the API: `atrium-iot-sim` (its devices
//! registered with `central admin device add`, each connecting with its
//! own certificate) replays two hours of a seeded building through
//! Mosquitto (TLS) into `central serve`; the building-systems endpoints
//! then answer what a subscriber that saw the same messages works out
//! itself, and what the simulator's scenario fixes (the alarm's time).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::time::Duration;

use atrium_testkit::{Mosquitto, Postgres, TestClient};
use atrium_tests::{CentralServer, CentralSetup, IotSim, central_cli};
use rumqttc::QoS;
use serde_json::Value;

const SITE: &str = "hq";
const FROM: &str = "2026-12-07T07:00:00Z";
const TICKS: usize = 720; // 2 hours of 10 s ticks
const METERS: usize = 4;

#[tokio::test]
async fn two_simulated_hours_reach_the_systems_endpoints_as_published() {
    let (pg, broker) = tokio::join!(Postgres::start(), Mosquitto::start());
    let (pg, broker) = (pg.unwrap(), broker.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = pg.url();
    central_cli(&[
        "admin",
        "--database-url",
        &db,
        "site",
        "add",
        "--id",
        SITE,
        "--name",
        "HQ",
    ]);
    let pw = central_cli(&[
        "admin",
        "--database-url",
        &db,
        "user",
        "add",
        "--username",
        "fm",
        "--role",
        "facility_manager",
    ]);
    let pw = pw
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap()
        .to_owned();
    let config = CentralSetup {
        database_url: db.clone(),
        broker_port: broker.port(),
        tls: broker.identity("central").unwrap(),
        listen: "127.0.0.1:0".into(),
        secure_cookies: true,
        client_id: None,
    }
    .write(dir.path());
    let central = CentralServer::start(dir.path(), &config);

    // A second reader of everything the devices publish (a central
    // identity may read the IoT topics): the test's own record.
    let tls = broker.identity("central-2").unwrap();
    let mut o = broker.options("central-2-watcher", &tls).unwrap();
    o.set_max_packet_size(1 << 20, 1 << 20);
    let mut watcher = TestClient::connect(o).await.unwrap();
    watcher
        .subscribe("atrium/v1/+/iot/#", QoS::AtLeastOnce)
        .await
        .unwrap();

    let mut sim = IotSim::start(
        dir.path(),
        &db,
        SITE,
        &broker,
        METERS,
        &[
            "--seed",
            "11",
            "--from",
            FROM,
            "--ticks",
            &TICKS.to_string(),
            "--interval-s",
            "10",
            "--alarm-after-s",
            "3600",
        ],
    );
    let devices = sim.devices.clone();
    assert_eq!(devices.len(), METERS + 5, "{devices:?}");

    // Every message the test saw, per (device, channel).
    let mut seen: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    let telemetry_wanted = devices.len() * TICKS;
    let mut telemetry = 0;
    while telemetry < telemetry_wanted {
        let p = watcher
            .next_publish(Duration::from_secs(60))
            .await
            .unwrap_or_else(|| {
                let log = broker.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "{telemetry} of {telemetry_wanted} telemetry messages seen; simulator log:\n{}\nbroker log (last lines, newest first):\n{}",
                    std::fs::read_to_string(&sim.log)
                        .unwrap_or_else(|e| format!("(unreadable: {e})")),
                    tail.join("\n")
                )
            });
        let levels: Vec<&str> = p.topic.split('/').collect();
        let (device, channel) = (levels[5].to_owned(), levels[6].to_owned());
        if channel == "telemetry" {
            telemetry += 1;
        }
        seen.entry((device, channel))
            .or_default()
            .push(serde_json::from_slice(&p.payload).unwrap());
    }
    sim.stop();

    // Central stored them all.
    let http = reqwest::Client::new();
    let token = {
        let r: Value = http
            .post(format!("{}/api/v1/auth/login", central.base))
            .json(&serde_json::json!({"username": "fm", "password": pw}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"].as_str().unwrap().to_owned()
    };
    let get = |path: String| {
        let (http, token, base) = (&http, &token, &central.base);
        async move {
            let r = http
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.json::<Value>().await.unwrap()
        }
    };
    let readings = |id: &str, interval: &str| {
        format!(
            "/api/v1/systems/power/readings?device_id={id}&interval={interval}&start_time=2026-12-07T06:00:00Z&end_time=2026-12-07T10:00:00Z"
        )
    };
    // Stored when the database holds every point and event the test saw.
    let count = |what: &str| {
        seen.iter()
            .filter(|((_, channel), _)| channel == what)
            .map(|(_, msgs)| {
                msgs.iter()
                    .map(|m| m.as_array().map_or(1, Vec::len))
                    .sum::<usize>()
            })
            .sum::<usize>() as i64
    };
    let (points, events) = (count("telemetry"), count("event"));
    let access_seen = seen
        .get(&("doors".to_owned(), "event".to_owned()))
        .map_or(0, Vec::len);
    let db_client = pg.connect().await.unwrap();
    let counts = || async {
        let row = db_client
            .query_one(
                "SELECT (SELECT count(*) FROM power_readings) + (SELECT count(*) FROM lighting_readings)
                      + (SELECT count(*) FROM lift_readings) + (SELECT count(*) FROM door_readings)
                      + (SELECT count(*) FROM fire_readings),
                        (SELECT count(*) FROM device_events)",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, i64>(0), row.get::<_, i64>(1))
    };
    let all_stored = atrium_testkit::poll(Duration::from_secs(60), || async {
        (counts().await == (points, events)).then_some(())
    })
    .await;
    if all_stored.is_none() {
        let (stored, stored_events) = counts().await;
        let dead: Vec<String> = db_client
            .query("SELECT reason FROM dead_letters LIMIT 3", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        panic!(
            "central stored {stored} of {points} points and {stored_events} of {events} events within 60 s; dead letters {dead:?}; its log:\n{}",
            central.log()
        );
    }

    // Energy per meter: the test's own sum of register increases over
    // the published points equals the hourly rollups' total.
    let register = |id: &str| -> Vec<(String, f64)> {
        let mut pts: Vec<(String, f64)> = seen[&(id.to_owned(), "telemetry".to_owned())]
            .iter()
            .map(|v| {
                (
                    v["ts"].as_str().unwrap().to_owned(),
                    v["values"]["energy_import_kwh"].as_f64().unwrap(),
                )
            })
            .collect();
        pts.sort_by(|a, b| a.0.cmp(&b.0));
        pts
    };
    let mut subs_total = 0.0;
    let mut main_total = 0.0;
    for d in devices.iter().filter(|d| d.kind == "power_meter") {
        let pts = register(&d.id);
        assert_eq!(pts.len(), TICKS);
        let expected: f64 = pts.windows(2).map(|w| w[1].1 - w[0].1).sum();
        assert!(expected > 0.0);
        let body = get(readings(&d.id, "hour")).await;
        let buckets = body["data"].as_array().unwrap();
        assert_eq!(buckets.len(), 2, "{}: {body}", d.id);
        let stored: f64 = buckets
            .iter()
            .map(|b| b["import_kwh"].as_f64().unwrap())
            .sum();
        assert!(
            (stored - expected).abs() < 1e-6,
            "{}: rollups {stored} kWh, published {expected} kWh",
            d.id
        );
        if d.parent.is_some() {
            subs_total += expected;
        } else {
            main_total += expected;
        }
    }
    // The main meter's remainder is what its sub-meters do not cover.
    let body = get(readings("meter-main", "hour")).await;
    let unmetered: f64 = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["unmetered_import_kwh"].as_f64().unwrap())
        .sum();
    assert!(
        (unmetered - (main_total - subs_total)).abs() < 1e-6,
        "{unmetered} vs {main_total} - {subs_total}"
    );
    assert!(unmetered > 0.0 && unmetered < main_total / 2.0);
    // The site's main meters are the main meter alone.
    let body = get(
        "/api/v1/systems/power/readings?site_id=hq&interval=day&start_time=2026-12-06T00:00:00Z&end_time=2026-12-08T00:00:00Z".into(),
    )
    .await;
    let day: f64 = body["data"][0]["import_kwh"].as_f64().unwrap();
    assert!((day - main_total).abs() < 1e-6, "{body}");

    // The scenario: the plant room in alarm from 08:00:00 to 08:02:00
    // (one hour after the start, for two minutes), so at the end it is
    // normal again since the first tick at 08:02:00.
    let fire = get("/api/v1/systems/fire/status".into()).await;
    let plant = fire["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["part"] == "plant-room")
        .unwrap();
    assert_eq!(plant["state"], "normal", "{fire}");
    assert_eq!(plant["state_since"], "2026-12-07T08:02:00Z");
    let alarms = seen
        .get(&("fire-panel".to_owned(), "event".to_owned()))
        .map_or(0, Vec::len);
    assert_eq!(alarms, 1);
    // Access events: as many as the test saw.
    let body = get(
        "/api/v1/systems/access/events?start_time=2026-12-07T06:00:00Z&end_time=2026-12-07T10:00:00Z".into(),
    )
    .await;
    assert_eq!(body["meta"]["total"], access_seen, "{body}");
    assert!(access_seen > 0);
    // Lifts: the trips register the API shows is the last one published.
    let lifts = get("/api/v1/systems/lifts/status".into()).await;
    for l in lifts["data"].as_array().unwrap() {
        let id = l["device_id"].as_str().unwrap();
        let last = seen[&(id.to_owned(), "telemetry".to_owned())]
            .iter()
            .max_by_key(|v| v["ts"].as_str().unwrap().to_owned())
            .unwrap()["values"]["trips"]
            .clone();
        assert_eq!(l["readings"]["trips"], last, "{id}");
    }
    // Every device sent a birth; the devices list has their model.
    let list = get("/api/v1/devices".into()).await;
    assert_eq!(list["meta"]["total"], devices.len());
    assert!(
        list["data"].as_array().unwrap().iter().all(|d| d["model"]
            .as_str()
            .is_some_and(|m| m.starts_with("Atrium simulated"))),
        "{list}"
    );
    assert_eq!(
        central_cli(&["admin", "--database-url", &db, "device", "list"])
            .lines()
            .count(),
        devices.len()
    );
}
