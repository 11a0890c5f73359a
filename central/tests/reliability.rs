//! The holes in "nothing lost between a camera and the database", one test
//! each, against a real Mosquitto (with the configuration operators get)
//! and a real TimescaleDB: an offline central and a broker restart, poison
//! pills of every size, transient database errors, an unreadable ingest
//! spool.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use atrium_proto::event::Direction;
use atrium_proto::limits::{BROKER_MESSAGE_LIMIT, MAX_EVENT_PAYLOAD};
use rumqttc::v5::mqttbytes::v5::PubAckReason;
use support::*;
use uuid::Uuid;

async fn stored_ids(stack: &Stack) -> HashSet<Uuid> {
    let db = stack.pg.connect().await.unwrap();
    db.query("SELECT id FROM events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The broker's queue for an offline central: 20 000 events, twenty times
/// Mosquitto's default `max_queued_messages`. (With a broker restart in
/// the middle as well: `tests/e2e/delivery.rs`, where edge agents publish,
/// because Mosquitto 2.0 does not restore shared subscriptions from its
/// persistence file and only the edge keeps what the broker then drops.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_events_published_while_central_is_down_are_all_stored() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    // Central subscribes once (its persistent session with the broker),
    // then stops.
    let central = stack.central("central", "").await;
    central.shutdown().await;

    let events: Vec<_> = (0..20_000u64)
        .map(|i| {
            let dir = if i.is_multiple_of(3) {
                Direction::In
            } else {
                Direction::Out
            };
            crossing("cam-a", "door", dir, i)
        })
        .collect();
    let produced: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    publish_fast(&stack, "cam-a", &events).await;

    let central = stack.central("central", "").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let n = stack.count("SELECT count(*) FROM events").await;
        if n >= 20_000 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {n} of 20 000 queued events stored; broker log:\n{}",
            stack.broker.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = stored_ids(&stack).await;
    assert_eq!(stored.len(), 20_000);
    let lost: Vec<_> = produced.difference(&stored).collect();
    assert!(lost.is_empty(), "{} events lost", lost.len());
    assert_eq!(
        stack
            .count("SELECT sum(in_count + out_count)::bigint FROM crossing_rollups WHERE resolution = 'minute'")
            .await,
        20_000
    );
    assert_eq!(stack.count("SELECT count(*) FROM dead_letters").await, 0);
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_dead_lettered_or_refused_and_other_cameras_keep_flowing() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    stack.add_camera("cam-b").await;
    // The documented limits, as operators run them.
    let central = stack.central("central", "").await;
    let metrics = central.state.metrics.clone();
    let tls = stack.broker.identity("cam-a").unwrap();
    let mut hostile = atrium_testkit::TestClientV5::connect(
        stack.broker.options_v5("cam-a-hostile", &tls).unwrap(),
    )
    .await
    .unwrap();
    let mut b = stack.camera_client("cam-b").await;
    let topic_b = event_topic("cam-b");
    let before: Vec<_> = (0..50)
        .map(|i| crossing("cam-b", "door", Direction::In, i))
        .collect();
    for e in &before {
        assert!(b.publish_acked(&topic_b, json(e)).await);
    }

    // 20 KiB of junk: under the payload limit, not an event.
    let junk_20k = vec![b'x'; 20 * 1024];
    // 200 KiB: a well-formed event padded past the payload limit, but under
    // the broker's.
    let mut big = serde_json::to_value(crossing("cam-a", "door", Direction::In, 1)).unwrap();
    big["data"]["line"] = "y".repeat(200 * 1024).into();
    let big_200k = serde_json::to_vec(&big).unwrap();
    assert!(big_200k.len() > MAX_EVENT_PAYLOAD && big_200k.len() < BROKER_MESSAGE_LIMIT);
    // Over the broker's limit: refused at the broker.
    let over = vec![b'z'; BROKER_MESSAGE_LIMIT + 1024];
    let topic_a = event_topic("cam-a");
    assert_eq!(
        hostile.publish(&topic_a, junk_20k.clone(), false).await,
        Some(PubAckReason::Success)
    );
    assert_eq!(
        hostile.publish(&topic_a, big_200k.clone(), false).await,
        Some(PubAckReason::Success)
    );
    assert!(hostile.connected());
    // Mosquitto answers 0x95 (packet too large), which rumqttc cannot parse
    // (it is not a PUBACK code in the MQTT 5 specification), so this client
    // sees its connection fail instead of a reason; either way the broker
    // did not take the message.
    let refused = hostile.publish(&topic_a, over.clone(), false).await;
    assert_ne!(
        refused,
        Some(PubAckReason::Success),
        "the broker must refuse a payload over its limit"
    );
    let after: Vec<_> = (50..100)
        .map(|i| crossing("cam-b", "door", Direction::Out, i))
        .collect();
    for e in &after {
        assert!(b.publish_acked(&topic_b, json(e)).await);
    }
    wait_until(
        Duration::from_secs(30),
        "cam-b's 100 events and 2 dead letters",
        || async {
            stack
                .count("SELECT count(*) FROM events WHERE camera_id = 'cam-b'")
                .await
                == 100
                && stack.count("SELECT count(*) FROM dead_letters").await == 2
        },
    )
    .await;
    let db = stack.pg.connect().await.unwrap();
    let rows = db
        .query(
            "SELECT topic, reason, payload_bytes, payload FROM dead_letters ORDER BY payload_bytes",
            &[],
        )
        .await
        .unwrap();
    let reasons: Vec<(String, String, i32)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(reasons[0].0, topic_a);
    assert_eq!(reasons[0].2 as usize, junk_20k.len());
    assert!(reasons[0].1.contains("malformed JSON"), "{reasons:?}");
    assert_eq!(rows[0].get::<_, Vec<u8>>(3), junk_20k, "raw payload kept");
    assert_eq!(reasons[1].2 as usize, big_200k.len());
    assert!(
        reasons[1]
            .1
            .contains(&format!("exceeds the {MAX_EVENT_PAYLOAD}-byte limit")),
        "{reasons:?}"
    );
    // Nothing of the refused one reached central, and the connection never
    // broke: one connection since start, still up.
    assert_eq!(
        stack
            .count(&format!(
                "SELECT count(*) FROM dead_letters WHERE payload_bytes = {}",
                over.len()
            ))
            .await,
        0
    );
    assert_eq!(metrics.broker_connects.get(), 1, "ingest reconnected");
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlocks_serialization_failures_and_lost_connections_are_retried_not_dead_lettered() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    // The database itself answers with the real SQLSTATEs: the first two
    // event inserts fail with a deadlock, the next two with a
    // serialization failure, the next two lose their connection
    // mid-transaction. Sequences are not transactional, so the count
    // survives the rollbacks.
    let db = stack.pg.connect().await.unwrap();
    db.batch_execute(
        "CREATE SEQUENCE fault_seq;
         CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
         DECLARE n bigint := nextval('fault_seq');
         BEGIN
           IF n <= 2 THEN RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01'; END IF;
           IF n <= 4 THEN RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001'; END IF;
           IF n <= 6 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER inject_fault BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION inject_fault();",
    )
    .await
    .unwrap();
    let central = stack.central("central", "").await;
    let metrics = central.state.metrics.clone();
    let events: Vec<_> = (0..500)
        .map(|i| crossing("cam-a", "door", Direction::In, i))
        .collect();
    let produced: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    let mut cam = stack.camera_client("cam-a").await;
    for e in &events {
        assert!(cam.publish_acked(&event_topic("cam-a"), json(e)).await);
    }
    wait_until(Duration::from_secs(60), "500 events stored", || async {
        stack.count("SELECT count(*) FROM events").await >= 500
    })
    .await;
    assert_eq!(stored_ids(&stack).await, produced);
    assert_eq!(stack.count("SELECT count(*) FROM dead_letters").await, 0);
    let faults: i64 = db
        .query_one("SELECT last_value FROM fault_seq", &[])
        .await
        .unwrap()
        .get(0);
    // One call per insert attempt: 500 stored rows plus at least the six
    // failed attempts (fewer would mean a fault was never hit).
    assert!(faults >= 506, "every injected fault was hit ({faults})");
    assert!(
        metrics.commit_retries.get() >= 4,
        "deadlocks and serialization failures were retried: {}",
        metrics.commit_retries.get()
    );
    central.shutdown().await;
}

/// An ingest spool record as central writes it: topic length (u16 LE),
/// topic, payload (docs/guide/operations.md, "Central's ingest spool").
fn spool_record(topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = (topic.len() as u16).to_le_bytes().to_vec();
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_and_corrupt_spool_records_are_dead_lettered_with_their_bytes() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let spool_dir = stack.dir.path().join("spool-central");
    let good: Vec<_> = (0..20)
        .map(|i| crossing("cam-a", "door", Direction::In, i))
        .collect();
    // What an earlier run left in the spool: good records, one that does
    // not decode (its topic length runs past the end), and one whose bytes
    // rot on disk.
    let undecodable = vec![0xff, 0xff, b'x'];
    {
        let (mut spool, _) = atrium_spool::Spool::open(atrium_spool::SpoolConfig {
            dir: spool_dir.clone(),
            max_bytes: 1 << 30,
            segment_bytes: 4 << 20,
            fsync_interval: Duration::ZERO,
            clock: atrium_clock::system(),
        })
        .unwrap();
        for e in &good[..10] {
            spool
                .append(&spool_record(&event_topic("cam-a"), &json(e)))
                .unwrap();
        }
        spool.append(&undecodable).unwrap();
        spool.append(b"this record rots").unwrap();
        for e in &good[10..] {
            spool
                .append(&spool_record(&event_topic("cam-a"), &json(e)))
                .unwrap();
        }
        spool.sync().unwrap();
    }
    let seg = std::fs::read_dir(&spool_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes
        .windows(b"this record rots".len())
        .position(|w| w == b"this record rots")
        .unwrap();
    bytes[at + 5] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();

    let central = stack.central("central", "").await;
    wait_until(
        Duration::from_secs(30),
        "20 good events and 2 dead letters",
        || async {
            stack.count("SELECT count(*) FROM events").await == 20
                && stack.count("SELECT count(*) FROM dead_letters").await == 2
        },
    )
    .await;
    assert_eq!(
        stored_ids(&stack).await,
        good.iter().map(|e| e.id).collect::<HashSet<_>>()
    );
    let db = stack.pg.connect().await.unwrap();
    let rows = db
        .query("SELECT reason, payload FROM dead_letters ORDER BY id", &[])
        .await
        .unwrap();
    let dead: Vec<(String, Vec<u8>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(
        dead.iter()
            .any(|(r, p)| r.contains("does not decode") && *p == undecodable),
        "{dead:?}"
    );
    assert!(
        dead.iter()
            .any(|(r, p)| r.contains("corrupt") && p.windows(10).any(|w| w == b"ecord rots")),
        "{dead:?}"
    );
    assert!(central.state.metrics.spool_errors.get() >= 2);
    // The spool is empty again: nothing left to replay for ever.
    wait_until(Duration::from_secs(10), "spool drained", || async {
        central.state.metrics.spool_depth.get() == 0
    })
    .await;
    central.shutdown().await;
}
