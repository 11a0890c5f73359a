//! The REST API and WebSockets against real PostgreSQL and Mosquitto:
//! error format, pagination, filters, configuration pushed to the edge,
//! counting from ingested events, live events, OpenAPI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use atrium_proto::event::{Direction, EventBody, ZoneCount};
use futures::StreamExt;
use reqwest::Method;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_pagination_and_filters() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    stack.add_camera("cam-b").await;
    let pw = stack.add_user("ops", "operator").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let token = api.token("ops", &pw).await;

    // 120 crossings on cam-a, 5 occupancy samples on cam-b, through ingest.
    let mut a = stack.camera_client("cam-a").await;
    let crossings: Vec<Vec<u8>> = (0..120u64)
        .map(|i| {
            json(&crossing(
                "cam-a",
                "door",
                if i.is_multiple_of(3) {
                    Direction::Out
                } else {
                    Direction::In
                },
                i,
            ))
        })
        .collect();
    publish_all(&mut a, &event_topic("cam-a"), &crossings).await;
    let mut b = stack.camera_client("cam-b").await;
    let occupancy: Vec<Vec<u8>> = (0..5)
        .map(|i| {
            json(&event(
                "cam-b",
                EventBody::Occupancy {
                    in_view: i,
                    zones: vec![ZoneCount {
                        zone: "lobby".into(),
                        count: i,
                    }],
                },
            ))
        })
        .collect();
    publish_all(&mut b, &event_topic("cam-b"), &occupancy).await;
    wait_until(Duration::from_secs(20), "125 events stored", || async {
        stack.count("SELECT count(*) FROM events").await == 125
    })
    .await;

    // Pagination: default 50, links keep the filters, last page partial.
    let (s, p1) = api.get("/api/v1/events?camera_id=cam-a", &token).await;
    assert_eq!(s, 200, "{p1}");
    assert_eq!(p1["data"].as_array().unwrap().len(), 50);
    assert_eq!(
        p1["meta"],
        serde_json::json!({"page": 1, "per_page": 50, "total": 120, "total_pages": 3})
    );
    assert_eq!(p1["links"]["prev"], serde_json::Value::Null);
    assert_eq!(
        p1["links"]["next"],
        "/api/v1/events?camera_id=cam-a&page=2&per_page=50"
    );
    assert_eq!(
        p1["links"]["last"],
        "/api/v1/events?camera_id=cam-a&page=3&per_page=50"
    );
    let (_, p3) = api.get(p1["links"]["last"].as_str().unwrap(), &token).await;
    assert_eq!(p3["data"].as_array().unwrap().len(), 20);
    assert_eq!(p3["links"]["next"], serde_json::Value::Null);
    // Pages do not overlap and cover everything, newest first.
    let (_, all) = api
        .get("/api/v1/events?camera_id=cam-a&per_page=1000", &token)
        .await;
    let ids: std::collections::HashSet<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 120);
    // Compared as instants: RFC 3339 text with fractional seconds of
    // varying length does not sort chronologically as a string.
    let ts: Vec<chrono::DateTime<chrono::Utc>> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ts"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let (_, occ) = api.get("/api/v1/events?type=occupancy", &token).await;
    assert_eq!(occ["meta"]["total"], 5);
    assert_eq!(occ["data"][0]["data"]["zones"][0]["zone"], "lobby");

    // Bad query parameters: 400 in the error format.
    for q in [
        "per_page=1001",
        "per_page=0",
        "page=0",
        "page=abc",
        "bogus=1",
        "type=teleported",
        "start_time=yesterday",
        "start_time=2026-11-25T10:00:00Z&end_time=2026-11-25T09:00:00Z",
        "start_time=2020-01-01T00:00:00Z&end_time=2026-01-01T00:00:00Z",
    ] {
        let (s, body) = api.get(&format!("/api/v1/events?{q}"), &token).await;
        assert_eq!(s, 400, "{q}: {body}");
        assert_error(&body, 400, "VALIDATION_FAILED", "/api/v1/events");
    }
    let (s, body) = api
        .get("/api/v1/counting/history?interval=weekly", &token)
        .await;
    assert_eq!(s, 400);
    assert_error(&body, 400, "VALIDATION_FAILED", "/api/v1/counting/history");
    // NUL cannot be stored in PostgreSQL text: refused as bad input, in
    // the query, the path and the body alike (schemathesis found the
    // query case as a 500).
    for (path, q) in [
        ("/api/v1/config/zones", "camera_id=%00x"),
        (
            "/api/v1/counting/history",
            "camera_id=cam-1&line_id=%00%F1%AD%AE%B5",
        ),
        ("/api/v1/events", "camera_id=cam%00-1"),
        ("/api/v1/zones/lobby%00/violations", "page=1"),
    ] {
        let (s, body) = api.get(&format!("{path}?{q}"), &token).await;
        assert_eq!(s, 400, "{path}?{q}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_FAILED", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("NUL"),
            "{body}"
        );
    }
    let admin_pw = stack.add_user("boss", "admin").await;
    let admin = api.token("boss", &admin_pw).await;
    let nul_name = "Ada\u{0}Lovelace";
    let r = api
        .http
        .post(api.url("/api/v1/persons"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "name": nul_name }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_error(
        &r.json().await.unwrap(),
        400,
        "VALIDATION_FAILED",
        "/api/v1/persons",
    );
    let (_, people) = api.get("/api/v1/persons", &admin).await;
    assert!(
        !people["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"].as_str().is_some_and(|n| n.starts_with("Ada"))),
        "{people}"
    );
    // Unknown camera and unknown route: 404 in the error format.
    let (s, body) = api.get("/api/v1/events?camera_id=cam-zz", &token).await;
    assert_eq!(s, 404);
    assert_error(&body, 404, "CAMERA_NOT_FOUND", "/api/v1/events");
    let (s, body) = api.get("/api/v1/no/such/thing", &token).await;
    assert_eq!(s, 404);
    assert_error(&body, 404, "NOT_FOUND", "/api/v1/no/such/thing");
    // Wrong method, malformed JSON, oversized body.
    let r = api
        .http
        .delete(api.url("/api/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_error(
        &r.json().await.unwrap(),
        405,
        "METHOD_NOT_ALLOWED",
        "/api/v1/events",
    );
    let r = api
        .http
        .post(api.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_error(
        &r.json().await.unwrap(),
        400,
        "VALIDATION_FAILED",
        "/api/v1/auth/login",
    );
    let r = api
        .http
        .post(api.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(format!(
            "{{\"username\": \"{}\", \"password\": \"x\"}}",
            "u".repeat(100_000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_error(
        &r.json().await.unwrap(),
        413,
        "PAYLOAD_TOO_LARGE",
        "/api/v1/auth/login",
    );

    // Counting: today's IN/OUT per camera from the rollups, occupancy.
    let (s, now) = api.get("/api/v1/counting/current", &token).await;
    assert_eq!(s, 200, "{now}");
    let cams = now["data"].as_array().unwrap();
    assert_eq!(cams.len(), 2);
    let cam_a = cams.iter().find(|c| c["camera_id"] == "cam-a").unwrap();
    assert_eq!(
        (cam_a["in_today"].as_i64(), cam_a["out_today"].as_i64()),
        (Some(80), Some(40))
    );
    assert_eq!(cam_a["lines_today"][0]["line_id"], "door");
    let cam_b = cams.iter().find(|c| c["camera_id"] == "cam-b").unwrap();
    assert_eq!(cam_b["in_view"], 4, "the latest sample");
    assert_eq!(
        cam_b["zones"][0],
        serde_json::json!({"zone": "lobby", "count": 4})
    );
    assert_eq!(cam_b["state"], "unknown", "never sent a status");
    let (_, h) = api
        .get(
            "/api/v1/counting/history?camera_id=cam-a&interval=hourly",
            &token,
        )
        .await;
    let sum = |v: &serde_json::Value, k: &str| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[k].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!((sum(&h, "in"), sum(&h, "out")), (80, 40), "{h}");
    let (_, d) = api
        .get(
            "/api/v1/counting/history?camera_id=cam-a&interval=daily",
            &token,
        )
        .await;
    assert_eq!((sum(&d, "in"), sum(&d, "out")), (80, 40), "{d}");
    assert!(
        d["data"].as_array().unwrap().len() <= 2,
        "at most two local days: {d}"
    );

    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_and_line_changes_reach_the_edge_as_retained_config() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let pw = stack.add_user("admin", "admin").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let token = api.token("admin", &pw).await;

    let (s, z) = api
        .send(
            Method::POST,
            "/api/v1/config/zones",
            &token,
            serde_json::json!({"camera_id": "cam-a", "id": "lobby", "polygon": [[0.1,0.1],[0.9,0.1],[0.9,0.9]], "max_occupancy": 5}),
        )
        .await;
    assert_eq!(s, 201, "{z}");
    assert_eq!(z["max_occupancy"], 5);
    let (s, _) = api
        .send(
            Method::POST,
            "/api/v1/config/lines",
            &token,
            serde_json::json!({"camera_id": "cam-a", "id": "door", "a": [0.5, 0.0], "b": [0.5, 1.0], "in_side": "left"}),
        )
        .await;
    assert_eq!(s, 201);
    // Invalid shapes and duplicates are refused and change nothing.
    for (body, status) in [
        (
            serde_json::json!({"camera_id": "cam-a", "id": "lobby", "polygon": [[0.1,0.1],[0.9,0.1],[0.9,0.9]]}),
            409,
        ),
        (
            serde_json::json!({"camera_id": "cam-a", "id": "tiny", "polygon": [[0.1,0.1],[0.9,0.1]]}),
            400,
        ),
        (
            serde_json::json!({"camera_id": "cam-a", "id": "out", "polygon": [[0.1,0.1],[1.5,0.1],[0.9,0.9]]}),
            400,
        ),
        (
            serde_json::json!({"camera_id": "cam-a", "id": "bad id!", "polygon": [[0.1,0.1],[0.9,0.1],[0.9,0.9]]}),
            400,
        ),
        (
            serde_json::json!({"camera_id": "cam-zz", "id": "z", "polygon": [[0.1,0.1],[0.9,0.1],[0.9,0.9]]}),
            404,
        ),
        (
            serde_json::json!({"camera_id": "cam-a", "id": "z", "polygon": [[0.1,0.1],[0.9,0.1],[0.9,0.9]], "colour": "red"}),
            400,
        ),
    ] {
        let (s, e) = api
            .send(Method::POST, "/api/v1/config/zones", &token, body.clone())
            .await;
        assert_eq!(s, status, "{body}: {e}");
        assert_eq!(e["error"]["path"], "/api/v1/config/zones");
    }
    let (s, z) = api
        .send(
            Method::PUT,
            "/api/v1/config/zones/cam-a/lobby",
            &token,
            serde_json::json!({"polygon": [[0.2,0.2],[0.8,0.2],[0.8,0.8],[0.2,0.8]], "restricted": true}),
        )
        .await;
    assert_eq!(s, 200, "{z}");
    assert_eq!(z["restricted"], true);
    let (s, cam) = api.get("/api/v1/config/cameras/cam-a", &token).await;
    assert_eq!(s, 200);
    assert_eq!(cam["config_version"], 3, "three accepted changes: {cam}");
    assert_eq!(cam["zones"][0]["polygon"].as_array().unwrap().len(), 4);

    // The camera's agent, subscribing now, gets the retained latest config.
    let mut edge = stack.camera_client("cam-a").await;
    edge.subscribe("atrium/v1/hq/cam/cam-a/config", rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    let msg = edge
        .next_publish(Duration::from_secs(10))
        .await
        .expect("retained config");
    assert!(msg.retain);
    let config: atrium_proto::CameraConfig = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(config.version, 3);
    assert_eq!(config.lines.len(), 1);
    assert_eq!(config.zones[0].polygon.len(), 4);
    assert!(config.zones[0].restricted);

    // A delete is pushed live to the subscribed agent.
    let r = api
        .http
        .delete(api.url("/api/v1/config/lines/cam-a/door"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let msg = edge
        .next_publish(Duration::from_secs(10))
        .await
        .expect("pushed config");
    let config: atrium_proto::CameraConfig = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!((config.version, config.lines.len()), (4, 0));
    let r = api
        .http
        .delete(api.url("/api/v1/config/lines/cam-a/door"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_error(
        &r.json().await.unwrap(),
        404,
        "LINE_NOT_FOUND",
        "/api/v1/config/lines/cam-a/door",
    );

    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_push_committed_events_and_health_reports_cameras() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    stack.add_camera("cam-b").await;
    let pw = stack.add_user("guard", "security_officer").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let token = api.token("guard", &pw).await;
    let ws_url = |path: &str, t: &str| format!("ws://{}{path}?token={t}", central.addr);

    // Refused before the upgrade: no token, bad token, unknown camera.
    for (url, status) in [
        (format!("ws://{}/ws/dashboard", central.addr), 401),
        (ws_url("/ws/dashboard", "nope"), 401),
        (ws_url("/ws/camera/cam-zz", &token), 404),
    ] {
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status().as_u16(), status, "{url}")
            }
            other => panic!("{url}: expected HTTP {status}, got {:?}", other.map(|_| ())),
        }
    }

    let (mut dash, _) = tokio_tungstenite::connect_async(ws_url("/ws/dashboard", &token))
        .await
        .unwrap();
    let (mut cam_b, _) = tokio_tungstenite::connect_async(ws_url("/ws/camera/cam-b", &token))
        .await
        .unwrap();
    let mut a = stack.camera_client("cam-a").await;
    let mut b = stack.camera_client("cam-b").await;
    let ea = crossing("cam-a", "door", Direction::In, 7);
    let eb = crossing("cam-b", "gate", Direction::Out, 9);
    publish_all(&mut a, &event_topic("cam-a"), &[json(&ea)]).await;
    publish_all(&mut b, &event_topic("cam-b"), &[json(&eb)]).await;
    let status = serde_json::json!({"schema": 1, "ts": chrono::Utc::now(), "site": "hq", "camera": "cam-a", "state": "online", "fps_in": 10.0});
    publish_all(
        &mut a,
        &status_topic("cam-a"),
        &[serde_json::to_vec(&status).unwrap()],
    )
    .await;

    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_json(&mut dash).await);
    }
    assert!(
        seen.iter().any(|m| m["type"] == "line_crossed"
            && m["camera"] == "cam-a"
            && m["data"]["direction"] == "in"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|m| m["type"] == "line_crossed" && m["camera"] == "cam-b"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|m| m["type"] == "camera_status" && m["data"]["state"] == "online"),
        "{seen:?}"
    );
    // The camera feed carries only its camera.
    let m = next_json(&mut cam_b).await;
    assert_eq!(
        (m["type"].as_str(), m["camera"].as_str()),
        (Some("line_crossed"), Some("cam-b"))
    );

    // By the time the dashboard saw it, the status was committed.
    let (s, h) = api.get("/health", "").await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["database"]["up"], true);
    assert_eq!(h["broker"]["connected"], true);
    let cams = h["cameras"].as_array().unwrap();
    assert_eq!(
        cams.iter().find(|c| c["camera_id"] == "cam-a").unwrap()["state"],
        "online"
    );
    assert_eq!(
        cams.iter().find(|c| c["camera_id"] == "cam-b").unwrap()["state"],
        "unknown"
    );
    assert_eq!(h["status"], "degraded", "cam-b has never reported");
    assert!(h["system"]["memory_total_bytes"].as_u64().unwrap() > 0);
    assert!(h["system"]["disk_total_bytes"].as_u64().unwrap() > 0);

    // The live events go out on commit; the batch's counters are added
    // just after it, so the scrape waits for them.
    let names = [
        "atrium_central_ingest_messages_total 3",
        "atrium_central_ingest_events_stored_total 2",
        "atrium_central_ingest_batch_size_count",
        "atrium_central_db_commit_seconds_bucket",
        "atrium_central_ingest_lag_seconds",
        "atrium_central_ingest_dead_letters_total 0",
        "atrium_central_broker_connected 1",
        "atrium_central_websocket_clients 2",
    ];
    let scrape = || async {
        api.http
            .get(api.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    wait_until(Duration::from_secs(10), "the batch's metrics", || async {
        let metrics = scrape().await;
        names.iter().all(|n| metrics.contains(n))
    })
    .await;
    let metrics = scrape().await;
    for name in names {
        assert!(metrics.contains(name), "missing {name:?} in\n{metrics}");
    }
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_and_covers_the_api() {
    let stack = Stack::start().await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let text = api
        .http
        .get(api.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let spec = oas3::from_json(&text).expect("a valid OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1"));
    let paths = spec.paths.clone().unwrap_or_default();
    for p in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/counting/current",
        "/api/v1/counting/history",
        "/api/v1/counting/occupancy",
        "/api/v1/sites",
        "/api/v1/events",
        "/api/v1/config/cameras",
        "/api/v1/config/cameras/{camera_id}",
        "/api/v1/config/zones",
        "/api/v1/config/zones/{camera_id}/{zone_id}",
        "/api/v1/config/lines",
        "/api/v1/config/lines/{camera_id}/{line_id}",
        "/health",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }
    // Query parameters come from the handlers' types.
    let history = paths["/api/v1/counting/history"].get.as_ref().unwrap();
    let names: Vec<String> = history
        .parameters
        .iter()
        .filter_map(|p| p.resolve(&spec).ok().map(|p| p.name))
        .collect();
    for n in [
        "camera_id",
        "start_time",
        "end_time",
        "interval",
        "page",
        "per_page",
    ] {
        assert!(
            names.iter().any(|x| x == n),
            "history lacks parameter {n}: {names:?}"
        );
    }
    // Every reference resolves.
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    // Swagger UI is served (from the binary, no network).
    let r = api.http.get(api.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("swagger"));
    central.shutdown().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_feed_carries_person_detections_and_zone_violations() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let pw = stack.add_user("watcher", "viewer").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let token = api.token("watcher", &pw).await;
    let url = format!("ws://{}/ws/camera/cam-a?token={token}", central.addr);
    let (mut feed, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let mut a = stack.camera_client("cam-a").await;
    let detected = event(
        "cam-a",
        EventBody::PersonDetected {
            track: 41,
            bbox: [10.0, 20.0, 110.0, 320.0],
            score: 0.8,
        },
    );
    let violated = event(
        "cam-a",
        EventBody::ZoneViolation {
            zone: "vault".into(),
            violation: atrium_proto::event::Violation::RestrictedEntry { track: 41 },
        },
    );
    publish_all(
        &mut a,
        &event_topic("cam-a"),
        &[json(&detected), json(&violated)],
    )
    .await;
    let (m1, m2) = (next_json(&mut feed).await, next_json(&mut feed).await);
    let types: Vec<&str> = [&m1, &m2]
        .iter()
        .filter_map(|m| m["type"].as_str())
        .collect();
    assert!(types.contains(&"person_detected"), "{m1} {m2}");
    assert!(types.contains(&"zone_violation"), "{m1} {m2}");
    let d = [&m1, &m2]
        .into_iter()
        .find(|m| m["type"] == "person_detected")
        .unwrap();
    assert_eq!(d["data"]["track"], 41);
    assert_eq!(
        d["data"]["bbox"],
        serde_json::json!([10.0, 20.0, 110.0, 320.0])
    );
    central.shutdown().await;
}

/// The next text message as JSON (pings are skipped).
async fn next_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a live event within 10 s")
            .expect("the socket is open")
            .expect("a message");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.extend(v.as_str().map(str::to_owned));
                } else {
                    collect_refs(v, out);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occupancy_over_time_and_sites_with_their_zones() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    stack.add_camera("cam-b").await;
    stack.set_site_zone("Asia/Kolkata").await;
    let pw = stack.add_user("vera", "viewer").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let token = api.token("vera", &pw).await;

    let (status, sites) = api.get("/api/v1/sites", &token).await;
    assert_eq!(status, 200, "{sites}");
    assert_eq!(sites["meta"]["total"], 1);
    assert_eq!(
        sites["data"][0],
        serde_json::json!({"id": SITE, "name": "HQ", "timezone": "Asia/Kolkata", "cameras": 2})
    );

    // Samples on cam-a at 10:01, 10:07 and 10:20 local time (04:31, 04:37,
    // 04:50 UTC) two days ago: 15-minute buckets 10:00 and 10:15 local,
    // that is 04:30 and 04:45 UTC; one sample on cam-b.
    let day = (chrono::Utc::now() - chrono::Duration::days(2)).date_naive();
    let utc = |h: u32, m: u32| day.and_hms_opt(h, m, 0).unwrap().and_utc();
    let sample = |camera: &str, ts, n| {
        let mut e = event(
            camera,
            EventBody::Occupancy {
                in_view: n,
                zones: vec![],
            },
        );
        e.ts = ts;
        e
    };
    publish_fast(
        &stack,
        "cam-a",
        &[
            sample("cam-a", utc(4, 31), 2),
            sample("cam-a", utc(4, 37), 6),
            sample("cam-a", utc(4, 50), 1),
        ],
    )
    .await;
    publish_fast(&stack, "cam-b", &[sample("cam-b", utc(4, 32), 9)]).await;
    wait_until(Duration::from_secs(20), "4 samples stored", || async {
        stack.count("SELECT count(*) FROM occupancy_samples").await == 4
    })
    .await;

    let range = format!(
        "start_time={}&end_time={}",
        utc(0, 0).to_rfc3339().replace('+', "%2B"),
        utc(12, 0).to_rfc3339().replace('+', "%2B")
    );
    let (status, o) = api
        .get(
            &format!("/api/v1/counting/occupancy?camera_id=cam-a&{range}"),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{o}");
    let got: Vec<(String, i64, f64, i64)> = o["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["bucket"].as_str().unwrap().to_owned(),
                b["max_in_view"].as_i64().unwrap(),
                b["avg_in_view"].as_f64().unwrap(),
                b["samples"].as_i64().unwrap(),
            )
        })
        .collect();
    let at = |h, m| utc(h, m).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(
        got,
        vec![(at(4, 30), 6, 4.0, 2), (at(4, 45), 1, 1.0, 1)],
        "{o}"
    );
    // Hours align to the site's zone too: 10:00 local is 04:30 UTC.
    let (_, hourly) = api
        .get(
            &format!("/api/v1/counting/occupancy?bucket_minutes=60&{range}"),
            &token,
        )
        .await;
    let buckets: Vec<(&str, &str, i64)> = hourly["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["bucket"].as_str().unwrap(),
                b["camera_id"].as_str().unwrap(),
                b["max_in_view"].as_i64().unwrap(),
            )
        })
        .collect();
    let ten = at(4, 30);
    assert_eq!(
        buckets,
        vec![(ten.as_str(), "cam-a", 6), (ten.as_str(), "cam-b", 9)],
        "{hourly}"
    );

    // Bad input is refused in the API's error format.
    for (query, code, status) in [
        ("bucket_minutes=0", "VALIDATION_FAILED", 400),
        ("bucket_minutes=1441", "VALIDATION_FAILED", 400),
        ("camera_id=nope", "CAMERA_NOT_FOUND", 404),
    ] {
        let (s, body) = api
            .get(&format!("/api/v1/counting/occupancy?{query}"), &token)
            .await;
        assert_eq!(s, status, "{query}: {body}");
        assert_error(&body, status, code, "/api/v1/counting/occupancy");
    }
    let (s, body) = api
        .get(
            "/api/v1/counting/occupancy?start_time=2026-01-01T00:00:00Z&end_time=2026-03-01T00:00:00Z",
            &token,
        )
        .await;
    assert_eq!(s, 400, "more than 31 days: {body}");
    central.shutdown().await;
}
