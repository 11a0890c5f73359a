//! Building systems over MQTT against a real Mosquitto (TLS, client
//! certificates, the ACL) and a real TimescaleDB: every kind's payloads
//! into typed rows, power rollups worked out by hand, duplicates, late and
//! out-of-order points, a register reset, and the refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::PubAckReason;
use serde_json::json;
use support::*;

const T0: &str = "2026-12-07T08:00:00Z";

/// T0 plus `s` seconds, RFC 3339.
fn at(s: i64) -> String {
    let t: chrono::DateTime<chrono::Utc> = T0.parse().unwrap();
    (t + chrono::Duration::seconds(s)).to_rfc3339()
}

fn point(s: i64, seq: u64, values: serde_json::Value) -> serde_json::Value {
    json!({"schema": 1, "ts": at(s), "seq": seq, "values": values})
}

fn bytes(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

async fn rows(stack: &Stack, table: &str) -> i64 {
    stack.count(&format!("SELECT count(*) FROM {table}")).await
}

/// (import kWh, resets) of a meter's rollup rows at `resolution`, oldest
/// first.
async fn rollups(stack: &Stack, device: &str, resolution: &str) -> Vec<(f64, i32)> {
    let db = stack.pg.connect().await.unwrap();
    db.query(
        "SELECT import_kwh, resets FROM power_rollups WHERE device_id = $1 AND resolution = $2 ORDER BY bucket",
        &[&device, &resolution],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

fn close(a: &[(f64, i32)], b: &[(f64, i32)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.0 - y.0).abs() < 1e-9 && x.1 == y.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meter_readings_in_any_order_give_the_rollups_worked_out_by_hand() {
    let stack = Stack::start().await;
    stack.add_device("meter-main", "power_meter", None).await;
    let central = stack.central("central", "").await;
    let mut meter = stack.camera_client("meter-main").await;
    let topic = device_topic("power_meter", "meter-main", "telemetry");
    let e = |s, seq, kwh: f64| point(s, seq, json!({"energy_import_kwh": kwh}));
    // The register: 1000 (0 s), 1000.5 (30 s), 1001.5 (70 s), 1002 (90 s),
    // reset to 0.25 (130 s), 0.75 (150 s). Sent out of order, one
    // message at a time so each lands in its own batch, one twice, and two
    // in one array.
    let sends = [
        bytes(&e(70, 3, 1001.5)),
        bytes(&e(0, 1, 1000.0)),
        bytes(&json!([e(150, 6, 0.75), e(30, 2, 1000.5)])),
        bytes(&e(30, 2, 1000.5)),
        bytes(&e(130, 5, 0.25)),
        bytes(&e(90, 4, 1002.0)),
    ];
    let mut expected_rows = [1, 2, 4, 4, 5, 6].into_iter();
    for payload in &sends {
        assert!(meter.publish_acked(&topic, payload.clone()).await);
        let want = expected_rows.next().unwrap();
        wait_until(Duration::from_secs(30), "the reading stored", || async {
            rows(&stack, "power_readings").await == want
        })
        .await;
    }
    // By hand: minute 0 books 30 s (+0.5); minute 1 books 70 s (+1.0) and
    // 90 s (+0.5); minute 2 books the reset at 130 s (the meter counted
    // 0.25 from zero) and 150 s (+0.5).
    let minutes = rollups(&stack, "meter-main", "minute").await;
    assert!(
        close(&minutes, &[(0.5, 0), (1.5, 0), (0.75, 1)]),
        "{minutes:?}"
    );
    assert!(close(
        &rollups(&stack, "meter-main", "hour").await,
        &[(2.75, 1)]
    ));
    assert!(close(
        &rollups(&stack, "meter-main", "day").await,
        &[(2.75, 1)]
    ));

    // A late point between 90 s and the reset: 1002.1 at 110 s adds 0.1
    // to minute 1; the reset still counts 0.25.
    assert!(meter.publish_acked(&topic, bytes(&e(110, 7, 1002.1))).await);
    wait_until(
        Duration::from_secs(30),
        "the late reading stored",
        || async { rows(&stack, "power_readings").await == 7 },
    )
    .await;
    let minutes = rollups(&stack, "meter-main", "minute").await;
    assert!(
        close(&minutes, &[(0.5, 0), (1.6, 0), (0.75, 1)]),
        "{minutes:?}"
    );
    let hour = rollups(&stack, "meter-main", "hour").await;
    assert!(close(&hour, &[(2.85, 1)]), "{hour:?}");
    assert!(close(
        &rollups(&stack, "meter-main", "day").await,
        &[(2.85, 1)]
    ));
    assert_eq!(rows(&stack, "dead_letters").await, 0);
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_device_lands_in_its_own_rows_once() {
    let stack = Stack::start().await;
    for (id, kind) in [
        ("light-1", "lighting"),
        ("lift-a", "lift"),
        ("doors", "access"),
        ("panel", "fire"),
    ] {
        stack.add_device(id, kind, None).await;
    }
    let central = stack.central("central", "").await;
    let publish =
        |id: &'static str, kind: &'static str, channel: &'static str, v: serde_json::Value| {
            let stack = &stack;
            async move {
                let mut c = stack.camera_client(id).await;
                let t = device_topic(kind, id, channel);
                // Twice: the second is a redelivery and must change nothing.
                assert!(c.publish_acked(&t, bytes(&v)).await);
                assert!(c.publish_acked(&t, bytes(&v)).await);
            }
        };
    publish(
        "light-1",
        "lighting",
        "telemetry",
        json!([
            point(
                0,
                1,
                json!({"circuit": "floor-1", "on": true, "level_percent": 80.0, "power_kw": 1.2})
            ),
            point(0, 2, json!({"circuit": "floor-2", "on": false})),
        ]),
    )
    .await;
    publish(
        "lift-a",
        "lift",
        "telemetry",
        json!([
            point(0, 1, json!({"floor": 3, "direction": "up", "door": "closed", "mode": "normal", "trips": 1200})),
            point(20, 2, json!({"floor": 4, "mode": "fault"})),
        ]),
    )
    .await;
    publish(
        "doors",
        "access",
        "telemetry",
        json!(point(
            0,
            1,
            json!({"door": "main", "state": "closed", "locked": true})
        )),
    )
    .await;
    let hash = "ab".repeat(32);
    publish(
        "doors",
        "access",
        "event",
        json!({"schema": 1, "ts": at(5), "seq": 2, "severity": "info",
               "event": {"type": "access", "data": {"door": "main", "outcome": "granted", "credential_hash": hash, "direction": "in"}}}),
    )
    .await;
    publish(
        "panel",
        "fire",
        "telemetry",
        json!([
            point(0, 1, json!({"zone": "z1", "state": "normal"})),
            point(40, 2, json!({"zone": "z1", "state": "alarm"})),
        ]),
    )
    .await;
    publish(
        "panel",
        "fire",
        "status",
        json!({"schema": 1, "ts": at(0), "state": "online"}),
    )
    .await;
    publish(
        "panel",
        "fire",
        "birth",
        json!({"schema": 1, "ts": at(0), "model": "FP-2000", "firmware": "4.2",
               "points": [{"name": "state", "unit": "", "meaning": "measurement", "interval_s": 30}]}),
    )
    .await;
    wait_until(Duration::from_secs(30), "every row stored", || async {
        rows(&stack, "lighting_readings").await == 2
            && rows(&stack, "lift_readings").await == 2
            && rows(&stack, "door_readings").await == 1
            && rows(&stack, "device_events").await == 1
            && rows(&stack, "fire_readings").await == 2
            && stack
                .count("SELECT count(*) FROM device_state WHERE model IS NOT NULL AND status IS NOT NULL")
                .await
                == 1
    })
    .await;
    let db = stack.pg.connect().await.unwrap();
    let r = db
        .query_one(
            "SELECT on_state, level_percent, power_kw FROM lighting_readings WHERE circuit = 'floor-1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, Option<bool>>(0), Some(true));
    assert_eq!(r.get::<_, Option<f64>>(1), Some(80.0));
    assert_eq!(r.get::<_, Option<f64>>(2), Some(1.2));
    let modes: Vec<Option<String>> = db
        .query("SELECT mode FROM lift_readings ORDER BY ts", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(modes, [Some("normal".into()), Some("fault".into())]);
    let e = db
        .query_one(
            "SELECT type, door, outcome, credential_hash, direction, site_id, kind FROM device_events",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<Option<String>> = (0..7).map(|i| e.get(i)).collect();
    let want: Vec<Option<String>> = ["access", "main", "granted", &hash, "in", SITE, "access"]
        .iter()
        .map(|s| Some((*s).to_owned()))
        .collect();
    assert_eq!(got, want);
    let s = db
        .query_one(
            "SELECT status, model, firmware, interval_s, last_seen IS NOT NULL FROM device_state WHERE device_id = 'panel'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(s.get::<_, Option<String>>(0).as_deref(), Some("online"));
    assert_eq!(s.get::<_, Option<String>>(1).as_deref(), Some("FP-2000"));
    assert_eq!(s.get::<_, Option<String>>(2).as_deref(), Some("4.2"));
    assert_eq!(s.get::<_, Option<i32>>(3), Some(30));
    assert!(s.get::<_, bool>(4));
    // The present of each part: merged values, the state and since when.
    let now = |device: &str, part: &str| {
        let db = &db;
        let (device, part) = (device.to_owned(), part.to_owned());
        async move {
            let r = db
                .query_one(
                    "SELECT state, state_since, readings FROM device_parts_current WHERE device_id = $1 AND part = $2",
                    &[&device, &part],
                )
                .await
                .unwrap();
            let since: chrono::DateTime<chrono::Utc> = r.get(1);
            (
                r.get::<_, String>(0),
                since.to_rfc3339(),
                r.get::<_, serde_json::Value>(2),
            )
        }
    };
    let (state, since, readings) = now("lift-a", "").await;
    assert_eq!((state.as_str(), since), ("fault", at(20)));
    assert_eq!(readings["floor"], 4);
    assert_eq!(
        readings["trips"], 1200,
        "a value the newest point left out is kept"
    );
    let (state, since, _) = now("panel", "z1").await;
    assert_eq!((state.as_str(), since), ("alarm", at(40)));
    let (state, _, _) = now("light-1", "floor-2").await;
    assert_eq!(state, "off");
    // /metrics counts them: 7 points stored, the 7 sent again duplicates,
    // one event.
    let metrics = central.state.metrics.clone();
    wait_until(Duration::from_secs(30), "the device metrics", || async {
        metrics.device_points_stored.get() == 7
            && metrics.device_points_duplicate.get() == 7
            && metrics.device_events_stored.get() == 1
    })
    .await;
    assert_eq!(rows(&stack, "dead_letters").await, 0);
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_device_messages_are_dead_lettered_with_their_reason_and_ingest_goes_on() {
    let stack = Stack::start().await;
    stack.add_device("meter-1", "power_meter", None).await;
    stack.add_device("meter-2", "power_meter", None).await;
    let central = stack.central("central", "").await;
    let v5 = |id: &'static str| {
        let stack = &stack;
        async move {
            let tls = stack.broker.identity(id).unwrap();
            atrium_testkit::TestClientV5::connect(
                stack.broker.options_v5(&format!("{id}-v5"), &tls).unwrap(),
            )
            .await
            .unwrap()
        }
    };
    let mut meter = v5("meter-1").await;
    let own = device_topic("power_meter", "meter-1", "telemetry");
    let good = |s, seq| point(s, seq, json!({"power_kw": 3.0}));
    let mut for_other = good(0, 1);
    for_other["device"] = json!("meter-2");
    let mut oversized = good(1, 2);
    oversized["values"]["power_kw"] = json!(1.0);
    let padding = " ".repeat(100 * 1024);
    let oversized = format!("{}{padding}", serde_json::to_string(&oversized).unwrap()).into_bytes();
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        (own.clone(), bytes(&for_other), "speaks for meter-2"),
        (own.clone(), b"{not json".to_vec(), "invalid telemetry"),
        (
            own.clone(),
            bytes(&point(2, 3, json!({"power_factor": 7.0}))),
            "power_factor",
        ),
        (own.clone(), oversized, "byte limit"),
        (
            // A certificate the registry does not know (meter-9 is not
            // registered): refused by central, not by the broker.
            device_topic("power_meter", "meter-9", "telemetry"),
            bytes(&good(3, 4)),
            "unknown device meter-9",
        ),
    ];
    let mut stranger = v5("meter-9").await;
    for (topic, payload, _) in &cases {
        let client = if topic.contains("meter-9") {
            &mut stranger
        } else {
            &mut meter
        };
        assert_eq!(
            client.publish(topic, payload.clone(), false).await,
            Some(PubAckReason::Success)
        );
    }
    assert_eq!(
        meter.publish(&own, bytes(&good(10, 5)), false).await,
        Some(PubAckReason::Success)
    );
    wait_until(
        Duration::from_secs(30),
        "dead letters and the good reading",
        || async {
            rows(&stack, "dead_letters").await == cases.len() as i64
                && rows(&stack, "power_readings").await == 1
        },
    )
    .await;
    let db = stack.pg.connect().await.unwrap();
    let reasons: Vec<String> = db
        .query("SELECT reason FROM dead_letters", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (_, _, want) in &cases {
        assert!(
            reasons.iter().any(|r| r.contains(want)),
            "no dead letter says {want:?}: {reasons:?}"
        );
    }
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_confines_a_device_to_its_own_topics() {
    let stack = Stack::start().await;
    let tls = stack.broker.identity("meter-sub").unwrap();
    let mut sub =
        atrium_testkit::TestClientV5::connect(stack.broker.options_v5("meter-sub", &tls).unwrap())
            .await
            .unwrap();
    let reading = bytes(&point(0, 1, json!({"power_kw": 1.0})));
    for channel in ["telemetry", "event", "status", "birth"] {
        assert_eq!(
            sub.publish(
                &device_topic("power_meter", "meter-main", channel),
                reading.clone(),
                false
            )
            .await,
            Some(PubAckReason::NotAuthorized),
            "{channel} of another device"
        );
        // Accepted (nobody subscribes in this test).
        let own = sub
            .publish(
                &device_topic("power_meter", "meter-sub", channel),
                reading.clone(),
                false,
            )
            .await;
        assert!(
            matches!(
                own,
                Some(PubAckReason::Success | PubAckReason::NoMatchingSubscribers)
            ),
            "its own {channel}: {own:?}"
        );
    }
    // A certificate from another CA does not get a connection at all.
    let foreign = stack.broker.foreign_identity("meter-main").unwrap();
    assert!(
        atrium_testkit::TestClientV5::connect(
            stack.broker.options_v5("meter-main", &foreign).unwrap()
        )
        .await
        .is_err()
    );
}

/// `central admin device …` against a real database: what it refuses,
/// what it stores, and that camera and device ids stay apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_cli_registers_meters_in_a_tree_and_refuses_what_it_cannot_store() {
    let pg = atrium_testkit::Postgres::start().await.unwrap();
    let url = pg.url();
    let admin = |args: &[&str]| admin_cli(&url, args);
    let add = |id: &str, kind: &str, extra: &[&str]| {
        let mut a = vec![
            "device", "add", "--id", id, "--site", "hq", "--kind", kind, "--name", id,
        ];
        a.extend_from_slice(extra);
        admin(&a)
    };
    let (ok, out) = add("meter-main", "power_meter", &["--floor", "-1"]);
    assert!(ok, "{out}");
    assert!(out.contains("pki issue meter-main"), "{out}");
    let (ok, out) = add("meter-sub", "power_meter", &["--parent", "meter-main"]);
    assert!(ok, "{out}");
    let (ok, out) = add("panel", "fire", &["--location", "lobby"]);
    assert!(ok, "{out}");
    let refusals: [(&str, &str, &[&str], &str); 6] = [
        ("meter-main", "power_meter", &[], "already exists"),
        ("Bad Id", "power_meter", &[], "device"),
        ("toaster-1", "toaster", &[], "unknown device kind"),
        (
            "lamp",
            "lighting",
            &["--parent", "meter-main"],
            "only a power_meter",
        ),
        (
            "meter-x",
            "power_meter",
            &["--parent", "panel"],
            "must be a power_meter",
        ),
        (
            "meter-y",
            "power_meter",
            &["--parent", "ghost"],
            "does not exist",
        ),
    ];
    for (id, kind, extra, want) in refusals {
        let (ok, out) = add(id, kind, extra);
        assert!(!ok && out.contains(want), "{id}: {out}");
    }
    // A camera's id is not free for a device, nor a device's for a camera.
    let (ok, out) = admin(&[
        "camera", "add", "--id", "cam-1", "--site", "hq", "--name", "c",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = add("cam-1", "lift", &[]);
    assert!(!ok && out.contains("camera's id"), "{out}");
    let (ok, out) = admin(&[
        "camera", "add", "--id", "panel", "--site", "hq", "--name", "c",
    ]);
    assert!(!ok && out.contains("device's id"), "{out}");

    let (ok, list) = admin(&["device", "list"]);
    assert!(ok, "{list}");
    let ids: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids, ["panel", "meter-main", "meter-sub"], "{list}");
    let db = pg.connect().await.unwrap();
    let r = db
        .query_one(
            "SELECT parent_id, floor FROM devices WHERE id = 'meter-sub'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, Option<String>>(0).as_deref(), Some("meter-main"));
    let floor: Option<i32> = db
        .query_one("SELECT floor FROM devices WHERE id = 'meter-main'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(floor, Some(-1));

    // Disabling and enabling.
    assert!(admin(&["device", "disable", "panel"]).0);
    let enabled = |id: &str| {
        let db = &db;
        let id = id.to_owned();
        async move {
            db.query_one("SELECT enabled FROM devices WHERE id = $1", &[&id])
                .await
                .unwrap()
                .get::<_, bool>(0)
        }
    };
    assert!(!enabled("panel").await);
    assert!(admin(&["device", "enable", "panel"]).0);
    assert!(enabled("panel").await);
    let (ok, out) = admin(&["device", "disable", "ghost"]);
    assert!(!ok && out.contains("no device"), "{out}");

    // A parent goes after its sub-meters.
    let (ok, out) = admin(&["device", "remove", "meter-main"]);
    assert!(!ok && out.contains("meter-sub"), "{out}");
    assert!(admin(&["device", "remove", "meter-sub"]).0);
    assert!(admin(&["device", "remove", "meter-main"]).0);
    let (ok, out) = admin(&["device", "remove", "meter-main"]);
    assert!(!ok && out.contains("no device"), "{out}");
}

/// A TLS connection that presents no client certificate gets no session
/// (the broker runs with `require_certificate true`), while the same
/// device with its certificate does: the refusal is about the missing
/// certificate, not the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_without_a_certificate_is_refused_by_the_broker() {
    use rustls_pki_types::pem::PemObject;
    let stack = Stack::start().await;
    let ca_pem = std::fs::read(stack.broker.ca_file()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut o = rumqttc::v5::MqttOptions::new("meter-main", "127.0.0.1", stack.broker.port());
    o.set_transport(rumqttc::Transport::Tls(rumqttc::TlsConfiguration::Rustls(
        std::sync::Arc::new(config),
    )));
    o.set_keep_alive(Duration::from_secs(5));
    let refused = tokio::time::timeout(
        Duration::from_secs(20),
        atrium_testkit::TestClientV5::connect(o),
    )
    .await
    .expect("an answer within 20 s");
    assert!(
        refused.is_err(),
        "a client without a certificate got a session"
    );
    let tls = stack.broker.identity("meter-main").unwrap();
    assert!(
        atrium_testkit::TestClientV5::connect(stack.broker.options_v5("meter-main", &tls).unwrap())
            .await
            .is_ok()
    );
}
