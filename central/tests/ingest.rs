//! Ingest against a real Mosquitto (TLS, client certificates, ACL) and a
//! real TimescaleDB: exactly once, dead letters, two instances.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use atrium_proto::event::{Direction, EventBody, ZoneCount};
use support::*;

/// A varied event: crossings, occupancy, zone entries and detections.
fn varied(camera: &str, i: u64) -> atrium_proto::Event {
    match i % 4 {
        0 => crossing(
            camera,
            "door",
            if i.is_multiple_of(8) {
                Direction::In
            } else {
                Direction::Out
            },
            i,
        ),
        1 => event(
            camera,
            EventBody::Occupancy {
                in_view: (i % 7) as u32,
                zones: vec![ZoneCount {
                    zone: "lobby".into(),
                    count: 1,
                }],
            },
        ),
        2 => event(
            camera,
            EventBody::ZoneEntered {
                zone: "lobby".into(),
                track: i,
            },
        ),
        _ => event(
            camera,
            EventBody::PersonDetected {
                track: i,
                bbox: [1.0, 2.0, 30.0, 80.0],
                score: 0.9,
            },
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_are_stored_exactly_once_even_when_redelivered() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let central = stack.central("central", "").await;
    let metrics = central.state.metrics.clone();

    let events: Vec<Vec<u8>> = (0..10_000).map(|i| json(&varied("cam-a", i))).collect();
    let mut cam = stack.camera_client("cam-a").await;
    publish_all(&mut cam, &event_topic("cam-a"), &events).await;
    wait_until(Duration::from_secs(60), "10 000 events stored", || async {
        metrics.events_stored.get() >= 10_000
    })
    .await;
    assert_eq!(stack.count("SELECT count(*) FROM events").await, 10_000);
    assert_eq!(
        stack.count("SELECT count(DISTINCT id) FROM events").await,
        10_000
    );
    assert_eq!(
        stack.count("SELECT count(*) FROM line_crossings").await,
        2_500
    );
    assert_eq!(
        stack.count("SELECT count(*) FROM occupancy_samples").await,
        2_500
    );
    assert_eq!(stack.count("SELECT count(*) FROM zone_events").await, 2_500);

    // The same events again: acknowledged, recognised as duplicates,
    // nothing stored twice, rollups unchanged.
    publish_all(&mut cam, &event_topic("cam-a"), &events).await;
    wait_until(
        Duration::from_secs(60),
        "10 000 duplicates seen",
        || async { metrics.events_duplicate.get() >= 10_000 },
    )
    .await;
    assert_eq!(stack.count("SELECT count(*) FROM events").await, 10_000);
    assert_eq!(
        stack.count("SELECT count(*) FROM line_crossings").await,
        2_500
    );
    assert_eq!(
        stack.count("SELECT sum(in_count + out_count)::bigint FROM crossing_rollups WHERE resolution = 'minute'").await,
        2_500
    );
    assert_eq!(
        stack.count("SELECT sum(in_count + out_count)::bigint FROM crossing_rollups WHERE resolution = 'hour'").await,
        2_500
    );
    assert_eq!(
        stack
            .count("SELECT sum(in_count)::bigint FROM crossing_rollups WHERE resolution = 'hour'")
            .await,
        1_250
    );
    assert_eq!(stack.count("SELECT count(*) FROM dead_letters").await, 0);
    central.shutdown().await;
}

/// Batches that mix new events with stored ones: the COPY fast path
/// refuses them on the primary key and the idempotent path stores only
/// the new ones, each crossing counted once in the rollups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_mixing_stored_and_new_events_store_only_the_new() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let central = stack.central("central", "").await;
    let metrics = central.state.metrics.clone();
    let events: Vec<Vec<u8>> = (0..6_000).map(|i| json(&varied("cam-a", i))).collect();
    let mut cam = stack.camera_client("cam-a").await;
    publish_all(&mut cam, &event_topic("cam-a"), &events[..4_000]).await;
    wait_until(Duration::from_secs(60), "4 000 events stored", || async {
        metrics.events_stored.get() >= 4_000
    })
    .await;
    // 2 000 stored, interleaved with 2 000 new: every batch mixes them.
    let mixed: Vec<Vec<u8>> = (2_000..4_000)
        .flat_map(|i| [events[i].clone(), events[i + 2_000].clone()])
        .collect();
    publish_all(&mut cam, &event_topic("cam-a"), &mixed).await;
    wait_until(Duration::from_secs(60), "6 000 events stored", || async {
        metrics.events_stored.get() >= 6_000 && metrics.events_duplicate.get() >= 2_000
    })
    .await;
    assert_eq!(stack.count("SELECT count(*) FROM events").await, 6_000);
    // `varied` makes every 4th event a crossing, alternately in and out.
    assert_eq!(
        stack.count("SELECT count(*) FROM line_crossings").await,
        1_500
    );
    assert_eq!(
        stack.count("SELECT sum(in_count + out_count)::bigint FROM crossing_rollups WHERE resolution = 'minute'").await,
        1_500
    );
    assert_eq!(
        stack.count("SELECT sum(in_count + out_count)::bigint FROM crossing_rollups WHERE resolution = 'hour'").await,
        1_500
    );
    assert_eq!(metrics.events_stored.get(), 6_000);
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_dead_lettered_with_their_reason_and_ingest_goes_on() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    stack.add_camera("cam-b").await;
    let central = stack.central("central", "max_payload_bytes = 4096").await;
    let mut a = stack.camera_client("cam-a").await;
    let mut x = stack.camera_client("cam-x").await;

    let good = json(&crossing("cam-a", "door", Direction::In, 1));
    let for_b = json(&crossing("cam-b", "door", Direction::In, 2));
    let schema2 = String::from_utf8(json(&crossing("cam-a", "door", Direction::In, 3)))
        .unwrap()
        .replace("\"schema\":1", "\"schema\":2");
    let mut oversized = serde_json::to_value(crossing("cam-a", "door", Direction::In, 4)).unwrap();
    oversized["data"]["line"] = "x".repeat(5000).into();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("camera B's event on camera A's topic", for_b, "payload speaks for hq/cam-b"),
        ("malformed JSON", b"{\"schema\":1,".to_vec(), "malformed JSON"),
        ("wrong schema version", schema2.into_bytes(), "unsupported schema version 2"),
        ("oversized", serde_json::to_vec(&oversized).unwrap(), "exceeds the 4096-byte limit"),
        ("unknown type", br#"{"schema":1,"id":"0193a1b2-0000-7000-8000-000000000009","ts":"2026-11-25T10:00:00Z","site":"hq","camera":"cam-a","type":"teleported","data":{}}"#.to_vec(), "invalid event"),
    ];
    for (_, payload, _) in &cases {
        assert!(
            a.publish_acked(&event_topic("cam-a"), payload.clone())
                .await
        );
    }
    // A camera with a valid certificate that central does not know.
    assert!(
        x.publish_acked(
            &event_topic("cam-x"),
            json(&crossing("cam-x", "door", Direction::In, 5))
        )
        .await
    );
    // Ingest goes on: a good event after the bad ones is stored.
    assert!(a.publish_acked(&event_topic("cam-a"), good).await);
    wait_until(
        Duration::from_secs(20),
        "the good event and 6 dead letters",
        || async {
            stack.count("SELECT count(*) FROM events").await == 1
                && stack.count("SELECT count(*) FROM dead_letters").await == 6
        },
    )
    .await;

    let db = stack.pg.connect().await.unwrap();
    let rows = db
        .query(
            "SELECT topic, reason, payload, payload_bytes FROM dead_letters ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    for (what, payload, reason) in &cases {
        let row = rows
            .iter()
            .find(|r| r.get::<_, String>(1).contains(reason))
            .unwrap_or_else(|| panic!("{what}: no dead letter with reason {reason:?}"));
        assert_eq!(row.get::<_, String>(0), event_topic("cam-a"), "{what}");
        assert_eq!(row.get::<_, i32>(3) as usize, payload.len(), "{what}");
        assert_eq!(
            &row.get::<_, Vec<u8>>(2),
            payload,
            "{what}: raw payload kept"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r.get::<_, String>(1).contains("unknown camera cam-x"))
    );
    assert_eq!(central.state.metrics.dead_letters.get(), 6);
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_the_shared_subscription_without_loss_or_doubling() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    stack.add_camera("cam-b").await;
    let one = stack.central("central", "").await;
    let two = stack.central("central-2", "").await;
    // A dashboard on instance one sees what both instances commit.
    let mut live = one.state.live.subscribe();

    let mut a = stack.camera_client("cam-a").await;
    let mut b = stack.camera_client("cam-b").await;
    let ea: Vec<Vec<u8>> = (0..2500).map(|i| json(&varied("cam-a", i))).collect();
    let eb: Vec<Vec<u8>> = (0..2500).map(|i| json(&varied("cam-b", i))).collect();
    let ta = event_topic("cam-a");
    let tb = event_topic("cam-b");
    tokio::join!(publish_all(&mut a, &ta, &ea), publish_all(&mut b, &tb, &eb));
    let (m1, m2) = (one.state.metrics.clone(), two.state.metrics.clone());
    wait_until(Duration::from_secs(60), "5000 events stored", || async {
        m1.events_stored.get() + m2.events_stored.get() >= 5000
    })
    .await;
    let (n1, n2) = (m1.messages.get(), m2.messages.get());
    println!("instance 1 received {n1} messages, instance 2 {n2}");
    assert!(n1 > 0 && n2 > 0, "both instances take a share: {n1} / {n2}");
    assert_eq!(n1 + n2, 5000, "no message delivered to both");
    assert_eq!(m1.events_stored.get() + m2.events_stored.get(), 5000);
    assert_eq!(stack.count("SELECT count(*) FROM events").await, 5000);
    assert_eq!(
        stack.count("SELECT count(DISTINCT id) FROM events").await,
        5000
    );
    let crossings = stack.count("SELECT count(*) FROM line_crossings").await;
    let mut seen = std::collections::HashMap::<String, i64>::new();
    while seen.values().sum::<i64>() < crossings {
        let e = tokio::time::timeout(Duration::from_secs(20), live.recv())
            .await
            .expect("every committed crossing reaches instance one's live feed")
            .unwrap();
        if e.kind == "line_crossed" {
            *seen.entry(e.camera).or_default() += 1;
        }
    }
    assert_eq!(
        seen.values().sum::<i64>(),
        crossings,
        "all crossings announced"
    );
    assert_eq!(
        (seen["cam-a"], seen["cam-b"]),
        (crossings / 2, crossings / 2)
    );
    one.shutdown().await;
    two.shutdown().await;
}

/// Publishes `n` crossings from `camera` as fast as the connection allows
/// and returns when the broker has acknowledged them all.
async fn burst(stack: &Stack, camera: &'static str, n: u64) {
    let events: Vec<_> = (0..n)
        .map(|i| crossing(camera, "door", Direction::In, i))
        .collect();
    publish_fast(stack, camera, &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_speed_burst_from_four_cameras_is_stored_completely() {
    // Regression: with the broker sending faster than the writer commits,
    // the MQTT event loop used to wait for the writer while the writer
    // waited to queue acknowledgements: ingest stopped after ~6 000 events.
    let stack = Stack::start().await;
    let cams = ["cam-a", "cam-b", "cam-c", "cam-d"];
    for c in cams {
        stack.add_camera(c).await;
    }
    let central = stack.central("central", "").await;
    let metrics = central.state.metrics.clone();
    let per = 5_000;
    futures::future::join_all(cams.map(|c| burst(&stack, c, per))).await;
    let total = per * cams.len() as u64;
    wait_until(Duration::from_secs(120), "the burst stored", || async {
        metrics.events_stored.get() >= total
    })
    .await;
    assert_eq!(
        stack.count("SELECT count(*) FROM line_crossings").await,
        total as i64
    );
    assert_eq!(
        stack
            .count("SELECT coalesce(sum(in_count), 0)::bigint FROM crossing_rollups WHERE resolution = 'hour'")
            .await,
        total as i64
    );
}
