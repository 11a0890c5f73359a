//! `GET /api/v1/zones/{zone_id}/violations` on violations that came in
//! through ingest from a real broker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use atrium_proto::event::{EventBody, Violation};
use reqwest::Method;
use support::*;

fn violation(camera: &str, zone: &str, violation: Violation) -> atrium_proto::Event {
    event(
        camera,
        EventBody::ZoneViolation {
            zone: zone.into(),
            violation,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_violations_are_listed_per_zone_newest_first_with_filters() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    stack.add_camera("cam-b").await;
    let admin_pw = stack.add_user("admin", "admin").await;
    let viewer_pw = stack.add_user("watcher", "viewer").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let admin = api.token("admin", &admin_pw).await;
    let viewer = api.token("watcher", &viewer_pw).await;
    // A zone "vault" on both cameras, a zone "lobby" on cam-a.
    for (camera, zone) in [("cam-a", "vault"), ("cam-b", "vault"), ("cam-a", "lobby")] {
        let (s, body) = api
            .send(
                Method::POST,
                "/api/v1/config/zones",
                &admin,
                serde_json::json!({"camera_id": camera, "id": zone,
                    "polygon": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]],
                    "max_occupancy": 2, "restricted": zone == "vault"}),
            )
            .await;
        assert_eq!(s, 201, "{body}");
    }
    // cam-a: 3 restricted entries into the vault, 2 over-occupancy in the
    // lobby, and an entry (not a violation); cam-b: one restricted entry.
    let mut a_events = Vec::new();
    for track in 1..=3 {
        a_events.push(violation(
            "cam-a",
            "vault",
            Violation::RestrictedEntry { track },
        ));
    }
    for occupancy in [3, 4] {
        a_events.push(violation(
            "cam-a",
            "lobby",
            Violation::MaxOccupancy { occupancy, max: 2 },
        ));
    }
    a_events.push(event(
        "cam-a",
        EventBody::ZoneEntered {
            zone: "vault".into(),
            track: 9,
        },
    ));
    let b_event = violation("cam-b", "vault", Violation::RestrictedEntry { track: 7 });
    let mut a = stack.camera_client("cam-a").await;
    let payloads: Vec<Vec<u8>> = a_events.iter().map(json).collect();
    publish_all(&mut a, &event_topic("cam-a"), &payloads).await;
    let mut b = stack.camera_client("cam-b").await;
    publish_all(&mut b, &event_topic("cam-b"), &[json(&b_event)]).await;
    wait_until(Duration::from_secs(20), "7 events stored", || async {
        stack.count("SELECT count(*) FROM events").await == 7
    })
    .await;

    let ids = |body: &serde_json::Value| -> BTreeSet<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    // The vault on every camera: cam-a's three and cam-b's one, newest
    // first; a viewer may read them (events:read).
    let (s, all) = api.get("/api/v1/zones/vault/violations", &viewer).await;
    assert_eq!(s, 200, "{all}");
    let want: BTreeSet<String> = a_events[..3]
        .iter()
        .chain([&b_event])
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids(&all), want);
    assert_eq!(all["meta"]["total"], 4);
    let ts: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["ts"].as_str().unwrap())
        .collect();
    let mut sorted = ts.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(ts, sorted, "newest first");
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["kind"] == "restricted_entry" && v["track"].is_i64())
    );
    // One camera only.
    let (s, b_only) = api
        .get("/api/v1/zones/vault/violations?camera_id=cam-b", &viewer)
        .await;
    assert_eq!(s, 200);
    assert_eq!(ids(&b_only), BTreeSet::from([b_event.id.to_string()]));
    assert_eq!(b_only["data"][0]["track"], 7);
    // The lobby: over-occupancy with the count, filtered by kind.
    let (s, lobby) = api
        .get(
            "/api/v1/zones/lobby/violations?kind=max_occupancy&per_page=1",
            &viewer,
        )
        .await;
    assert_eq!(s, 200, "{lobby}");
    assert_eq!(lobby["meta"]["total"], 2);
    assert_eq!(lobby["data"].as_array().unwrap().len(), 1);
    assert!([3, 4].contains(&lobby["data"][0]["occupancy"].as_i64().unwrap()));
    let (_, none) = api
        .get(
            "/api/v1/zones/lobby/violations?kind=restricted_entry",
            &viewer,
        )
        .await;
    assert_eq!(none["meta"]["total"], 0);
    // Refusals in the API's format.
    let (s, e) = api.get("/api/v1/zones/attic/violations", &viewer).await;
    assert_error(&e, 404, "ZONE_NOT_FOUND", "/api/v1/zones/attic/violations");
    assert_eq!(s, 404);
    let (s, e) = api
        .get("/api/v1/zones/lobby/violations?camera_id=cam-b", &viewer)
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("ZONE_NOT_FOUND"))
    );
    let (s, e) = api
        .get("/api/v1/zones/vault/violations?camera_id=cam-9", &viewer)
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("CAMERA_NOT_FOUND"))
    );
    let (s, e) = api
        .get("/api/v1/zones/vault/violations?kind=loitering", &viewer)
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("VALIDATION_FAILED"))
    );
    assert_eq!(
        e["error"]["details"]["allowed"],
        serde_json::json!(["max_occupancy", "restricted_entry"])
    );
}
