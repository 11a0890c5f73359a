//! The building systems' endpoints over data published through the real
//! broker into the real database; expected values worked out by hand from
//! what the test published.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

const T0: &str = "2026-12-07T08:00:00Z";

fn at(s: i64) -> String {
    let t: chrono::DateTime<chrono::Utc> = T0.parse().unwrap();
    (t + chrono::Duration::seconds(s)).to_rfc3339()
}

fn point(s: i64, seq: u64, values: Value) -> Value {
    json!({"schema": 1, "ts": at(s), "seq": seq, "values": values})
}

fn approx(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_per_meter_site_and_sub_meter_remainder_match_the_registers() {
    let stack = Stack::start().await;
    stack.add_device("meter-main", "power_meter", None).await;
    stack
        .add_device("meter-sub", "power_meter", Some("meter-main"))
        .await;
    stack.add_device("meter-idle", "power_meter", None).await;
    let central = stack.central("central", "").await;
    // 120 readings a minute apart at :30: the main register grows 1 kWh a
    // minute (60 kW), the sub-meter's 0.25 kWh (15 kW).
    for (id, per_minute, kw) in [("meter-main", 1.0, 60.0), ("meter-sub", 0.25, 15.0)] {
        let points: Vec<Value> = (0..120)
            .map(|k| {
                point(
                    30 + 60 * k,
                    k as u64,
                    json!({"energy_import_kwh": 5000.0 + per_minute * k as f64, "power_kw": kw}),
                )
            })
            .collect();
        // In arrays of 40 (the test client's packets are small).
        for chunk in points.chunks(40) {
            stack
                .publish_device(id, "power_meter", "telemetry", &json!(chunk))
                .await;
        }
    }
    wait_until(Duration::from_secs(30), "240 readings", || async {
        stack.count("SELECT count(*) FROM power_readings").await == 240
    })
    .await;
    let api = Api::new(&central);
    let pw = stack.add_user("fm", "facility_manager").await;
    let token = api.token("fm", &pw).await;
    let range = format!("start_time={}&end_time={}", at(0), at(7200)).replace('+', "%2B");

    // By hand: hour 0 holds readings 0..59 (the first starts the register:
    // 59 steps), hour 1 readings 60..119 (60 steps).
    let (s, body) = api
        .get(
            &format!("/api/v1/systems/power/readings?device_id=meter-main&interval=hour&{range}"),
            &token,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{body}");
    assert_eq!(data[0]["bucket"], at(0).replace("+00:00", "Z"));
    assert!(approx(&data[0]["import_kwh"], 59.0), "{body}");
    assert!(approx(&data[1]["import_kwh"], 60.0), "{body}");
    assert!(approx(&data[0]["power_avg_kw"], 60.0), "{body}");
    assert!(
        approx(&data[0]["submeters_import_kwh"], 59.0 * 0.25),
        "{body}"
    );
    assert!(
        approx(&data[1]["unmetered_import_kwh"], 60.0 - 15.0),
        "{body}"
    );

    // Minutes: one step each after the first.
    let (s, body) = api
        .get(
            &format!("/api/v1/systems/power/readings?device_id=meter-sub&interval=minute&{range}"),
            &token,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let minutes = body["data"].as_array().unwrap();
    assert_eq!(minutes.len(), 120);
    assert!(approx(&minutes[0]["import_kwh"], 0.0));
    assert!(minutes[1..].iter().all(|m| approx(&m["import_kwh"], 0.25)));
    assert!(
        minutes
            .iter()
            .all(|m| m.get("submeters_import_kwh").is_none())
    );

    // The site: its main meters (meter-sub is inside meter-main; the idle
    // meter has no readings).
    let (s, body) = api
        .get(
            &format!(
                "/api/v1/systems/power/readings?site_id=hq&interval=day&start_time={}&end_time={}",
                at(-86_400).replace('+', "%2B"),
                at(86_400).replace('+', "%2B")
            ),
            &token,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let days = body["data"].as_array().unwrap();
    assert_eq!(days.len(), 1, "{body}");
    assert!(approx(&days[0]["import_kwh"], 119.0), "{body}");

    // Refusals in the API's error format.
    for (path, status) in [
        (
            "/api/v1/systems/power/readings?device_id=ghost".to_owned(),
            404,
        ),
        ("/api/v1/systems/power/readings".to_owned(), 400),
        (
            "/api/v1/systems/power/readings?site_id=hq&interval=week".to_owned(),
            400,
        ),
        (
            format!(
                "/api/v1/systems/power/readings?site_id=hq&interval=minute&start_time={}&end_time={}",
                at(0).replace('+', "%2B"),
                at(3 * 86_400).replace('+', "%2B")
            ),
            400,
        ),
    ] {
        let (s, body) = api.get(&path, &token).await;
        assert_eq!(s, status, "{path}: {body}");
        assert_eq!(body["error"]["status"], status, "{path}: {body}");
    }

    // The device list: states from what arrived.
    let (s, body) = api.get("/api/v1/devices?kind=power_meter", &token).await;
    assert_eq!(s, 200, "{body}");
    let state_of = |id: &str| {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device_id"] == id)
            .map(|d| d["state"].clone())
            .unwrap()
    };
    assert_eq!(state_of("meter-main"), "online");
    assert_eq!(state_of("meter-idle"), "unknown");
    let main = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == "meter-main")
        .unwrap();
    assert!(
        approx(&main["readings"]["energy_import_kwh"], 5119.0),
        "{main}"
    );
    assert_eq!(body["meta"]["total"], 3);
    let (_, online) = api.get("/api/v1/devices?state=online", &token).await;
    assert_eq!(online["meta"]["total"], 2, "{online}");
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fire_lifts_lighting_and_devices_show_the_urgent_first() {
    let stack = Stack::start().await;
    for (id, kind) in [
        ("panel", "fire"),
        ("lift-a", "lift"),
        ("lift-b", "lift"),
        ("lights", "lighting"),
        ("meter-gone", "power_meter"),
    ] {
        stack.add_device(id, kind, None).await;
    }
    let central = stack.central("central", "").await;
    stack
        .publish_device(
            "panel",
            "fire",
            "telemetry",
            &json!([
                point(0, 1, json!({"zone": "z1", "state": "normal"})),
                point(0, 2, json!({"zone": "z2", "state": "normal"})),
                point(0, 3, json!({"zone": "z3", "state": "normal"})),
                point(60, 4, json!({"zone": "z3", "state": "alarm"})),
                point(61, 5, json!({"zone": "z1", "state": "fault"})),
            ]),
        )
        .await;
    stack
        .publish_device(
            "lift-a",
            "lift",
            "telemetry",
            &json!(point(
                0,
                1,
                json!({"floor": 2, "mode": "normal", "door": "closed"})
            )),
        )
        .await;
    stack
        .publish_device(
            "lift-b",
            "lift",
            "telemetry",
            &json!([
                point(0, 1, json!({"floor": 7, "mode": "normal"})),
                point(30, 2, json!({"mode": "fault"}))
            ]),
        )
        .await;
    stack
        .publish_device(
            "lights",
            "lighting",
            "telemetry",
            &json!([
                point(
                    0,
                    1,
                    json!({"circuit": "c1", "on": true, "level_percent": 70.0})
                ),
                point(0, 2, json!({"circuit": "c2", "on": false})),
            ]),
        )
        .await;
    // meter-gone said goodbye (its last will).
    stack
        .publish_device(
            "meter-gone",
            "power_meter",
            "status",
            &json!({"schema": 1, "ts": at(0), "state": "offline"}),
        )
        .await;
    wait_until(Duration::from_secs(30), "every part", || async {
        stack
            .count("SELECT count(*) FROM device_parts_current")
            .await
            == 7
            && stack
                .count("SELECT count(*) FROM device_state WHERE status = 'offline'")
                .await
                == 1
    })
    .await;
    let api = Api::new(&central);
    let pw = stack.add_user("op", "operator").await;
    let token = api.token("op", &pw).await;

    let (s, fire) = api.get("/api/v1/systems/fire/status", &token).await;
    assert_eq!(s, 200, "{fire}");
    let zones: Vec<(&str, &str)> = fire["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| (z["part"].as_str().unwrap(), z["state"].as_str().unwrap()))
        .collect();
    assert_eq!(zones, [("z3", "alarm"), ("z1", "fault"), ("z2", "normal")]);
    assert_eq!(
        fire["data"][0]["state_since"],
        at(60).replace("+00:00", "Z")
    );
    assert_eq!(fire["summary"]["alarm"], 1);
    assert_eq!(fire["summary"]["normal"], 1);

    let (_, lifts) = api.get("/api/v1/systems/lifts/status", &token).await;
    let first = &lifts["data"][0];
    assert_eq!(first["device_id"], "lift-b", "{lifts}");
    assert_eq!(first["state"], "fault");
    assert_eq!(
        first["readings"]["floor"], 7,
        "the floor it reported before"
    );
    assert_eq!(lifts["data"][1]["readings"]["door"], "closed");

    let (_, lights) = api.get("/api/v1/systems/lighting/status", &token).await;
    assert_eq!(lights["data"][0]["part"], "c1", "{lights}");
    assert_eq!(lights["data"][0]["readings"]["level_percent"], 70.0);
    assert_eq!(lights["summary"]["off"], 1);

    let (_, devices) = api.get("/api/v1/devices?state=offline", &token).await;
    assert_eq!(devices["meta"]["total"], 1, "{devices}");
    assert_eq!(devices["data"][0]["device_id"], "meter-gone");
    assert_eq!(devices["data"][0]["offline_reason"], "status");
    let (s, body) = api.get("/api/v1/devices?kind=toaster", &token).await;
    assert_eq!(s, 400, "{body}");
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_events_are_paged_audited_and_hide_credentials_from_those_without_personal_data() {
    let stack = Stack::start().await;
    stack.add_device("doors", "access", None).await;
    let central = stack.central("central", "").await;
    let hash = "c0".repeat(32);
    let mut c = stack.camera_client("doors").await;
    let topic = device_topic("access", "doors", "event");
    let outcomes = ["granted", "denied", "granted", "forced", "held_open"];
    for (i, outcome) in outcomes.iter().enumerate() {
        let e = json!({"schema": 1, "ts": at(i as i64 * 10), "seq": i, "severity": "info",
            "event": {"type": "access", "data": {"door": if i % 2 == 0 { "main" } else { "dock" },
                      "outcome": outcome, "credential_hash": hash}}});
        assert!(
            c.publish_acked(&topic, serde_json::to_vec(&e).unwrap())
                .await
        );
    }
    wait_until(Duration::from_secs(30), "5 access events", || async {
        stack.count("SELECT count(*) FROM device_events").await == 5
    })
    .await;
    let api = Api::new(&central);
    let range = format!("start_time={}&end_time={}", at(0), at(100)).replace('+', "%2B");
    let viewer = api
        .token("viewer", &stack.add_user("viewer", "viewer").await)
        .await;
    let officer = api
        .token(
            "officer",
            &stack.add_user("officer", "security_officer").await,
        )
        .await;

    let (s, page) = api
        .get(
            &format!("/api/v1/systems/access/events?{range}&per_page=2"),
            &viewer,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["meta"]["total"], 5);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    // Newest first: the 40 s one (held_open) leads.
    assert_eq!(page["data"][0]["outcome"], "held_open");
    assert!(page["data"][0].get("credential_hash").is_none(), "{page}");
    let (_, page) = api
        .get(
            &format!("/api/v1/systems/access/events?{range}&door=main&outcome=granted"),
            &officer,
        )
        .await;
    assert_eq!(page["meta"]["total"], 2, "{page}");
    assert_eq!(page["data"][0]["credential_hash"], hash);
    let (s, body) = api
        .get(
            &format!("/api/v1/systems/access/events?{range}&outcome=maybe"),
            &viewer,
        )
        .await;
    assert_eq!(s, 400, "{body}");

    // Both reads are in the audit log, with who read and whether hashes
    // were shown.
    let db = stack.pg.connect().await.unwrap();
    let rows = db
        .query(
            "SELECT username, detail FROM audit_log WHERE action = 'systems.access_events.list' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let audited: Vec<(String, bool)> = rows
        .iter()
        .map(|r| {
            let d: Value = r.get(1);
            (r.get(0), d["credential_hashes"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        audited,
        [("viewer".to_owned(), false), ("officer".to_owned(), true)]
    );
    central.shutdown().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next live message matching `want` (others are skipped), or a
/// failure after `limit`.
async fn next_matching(ws: &mut Ws, limit: Duration, want: impl Fn(&Value) -> bool) -> Value {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let m = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the awaited live message in time")
            .expect("the socket is open")
            .expect("a message");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            let v: Value = serde_json::from_str(&t).unwrap();
            if want(&v) {
                return v;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_hears_fire_lift_power_and_a_silent_device_going_offline() {
    let stack = Stack::start().await;
    for (id, kind) in [
        ("panel", "fire"),
        ("lift-a", "lift"),
        ("meter-1", "power_meter"),
    ] {
        stack.add_device(id, kind, None).await;
    }
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let token = api
        .token("op", &stack.add_user("op", "operator").await)
        .await;
    let url = format!("ws://{}/ws/dashboard?token={token}", central.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();

    stack
        .publish_device(
            "panel",
            "fire",
            "telemetry",
            &json!([
                point(0, 1, json!({"zone": "z1", "state": "normal"})),
                point(5, 2, json!({"zone": "z1", "state": "pre_alarm"})),
            ]),
        )
        .await;
    let fire = next_matching(&mut ws, Duration::from_secs(10), |v| {
        v["type"] == "system_status"
            && v["data"]["change"] == "fire"
            && v["data"]["state"] == "pre_alarm"
    })
    .await;
    assert_eq!(fire["device"], "panel");
    assert_eq!(fire["data"]["previous"], "normal");
    assert_eq!(fire["data"]["zone"], "z1");
    assert!(fire.get("camera").is_none(), "{fire}");

    stack
        .publish_device(
            "lift-a",
            "lift",
            "telemetry",
            &json!(point(0, 1, json!({"floor": 1, "mode": "fault"}))),
        )
        .await;
    let lift = next_matching(&mut ws, Duration::from_secs(10), |v| {
        v["type"] == "system_status" && v["data"]["change"] == "lift"
    })
    .await;
    assert_eq!(
        (lift["device"].as_str(), lift["data"]["mode"].as_str()),
        (Some("lift-a"), Some("fault"))
    );

    // The meter: a birth saying it publishes every second, then one
    // reading, then silence. Its power is announced, then, three seconds
    // after the reading, it is offline (silent).
    let now = chrono::Utc::now();
    stack.publish_device("meter-1",
        "power_meter",
        "birth",
        &json!({"schema": 1, "ts": now, "model": "PM", "firmware": "1",
                "points": [{"name": "power_kw", "unit": "kW", "meaning": "measurement", "interval_s": 1}]}),
    )
    .await;
    stack
        .publish_device(
            "meter-1",
            "power_meter",
            "telemetry",
            &json!({"schema": 1, "ts": now, "seq": 1, "values": {"power_kw": 42.5}}),
        )
        .await;
    let power = next_matching(&mut ws, Duration::from_secs(10), |v| {
        v["type"] == "power_update"
    })
    .await;
    assert_eq!(power["device"], "meter-1");
    assert_eq!(power["data"]["power_kw"], 42.5);
    let offline = next_matching(&mut ws, Duration::from_secs(20), |v| {
        v["type"] == "system_status" && v["device"] == "meter-1" && v["data"]["change"] == "state"
    })
    .await;
    assert_eq!(offline["data"]["state"], "offline", "{offline}");
    assert_eq!(offline["data"]["reason"], "silent");
    // /health says the same, and is degraded by it.
    let h: Value = reqwest::get(api.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let meter = h["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == "meter-1")
        .unwrap();
    assert_eq!(meter["state"], "offline", "{h}");
    assert_eq!(meter["reason"], "silent");
    assert_eq!(h["status"], "degraded");
    central.shutdown().await;
}
