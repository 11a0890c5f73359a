//! The edge agent's delivery rules end to end, with `edge-agent relay`
//! (the camera pipeline's spool and publisher, fed with events whose ids
//! the test chose): what the broker refuses stays spooled, what it accepted
//! just before a crash is sent again, an oversized configuration cannot
//! break the connection, a full disk is counted and reported, and events
//! published while central is away survive a broker restart.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use atrium_proto::event::{Direction, EventBody};
use atrium_proto::{CameraId, Event, SiteId};
use atrium_testkit::{Mosquitto, Postgres, SmallDisk, TestClientV5};
use atrium_tests::{CentralServer, CentralSetup, EdgeSetup, Observer, RelayAgent};
use uuid::Uuid;

fn crossing(camera: &str, i: u64) -> Event {
    Event::new(
        SiteId::new("hq").unwrap(),
        CameraId::new(camera).unwrap(),
        chrono::Utc::now(),
        EventBody::LineCrossed {
            line: "door".into(),
            direction: if i.is_multiple_of(2) {
                Direction::In
            } else {
                Direction::Out
            },
            track: i,
        },
    )
}

/// A relay agent for `camera` whose certificate is `identity`'s.
fn relay_setup(broker: &Mosquitto, camera: &str, identity: &str, dir: &Path) -> std::path::PathBuf {
    EdgeSetup::new(
        camera,
        "rtsp://127.0.0.1:9/unused",
        broker.port(),
        broker.identity(identity).unwrap(),
    )
    .write(dir)
}

/// Sends every event and waits for each `spooled` answer.
async fn feed(agent: &mut RelayAgent, events: &[Event]) {
    for e in events {
        let answer = agent
            .send_and_answer(&serde_json::to_string(e).unwrap())
            .await;
        assert_eq!(
            answer.as_deref(),
            Some(format!("spooled {}", e.id).as_str()),
            "relay log:\n{}",
            agent.log()
        );
    }
}

async fn wait_for<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ids(seen: &atrium_tests::Seen) -> HashSet<Uuid> {
    seen.events.iter().map(|e| e.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_broker_refuses_stay_spooled_degrade_the_camera_and_go_once_authorised() {
    let broker = Mosquitto::start().await.unwrap();
    let observer = Observer::start(&broker).await;
    let dir = tempfile::tempdir().unwrap();
    // The agent speaks for cam-a but holds cam-b's certificate: the ACL
    // refuses every event (MQTT 5: PUBACK "not authorized").
    let config = relay_setup(&broker, "cam-a", "cam-b", dir.path());
    let mut agent = RelayAgent::start(dir.path(), &config, None);
    let events: Vec<Event> = (0..20).map(|i| crossing("cam-a", i)).collect();
    feed(&mut agent, &events).await;
    wait_for(Duration::from_secs(20), "the refusal reported", || async {
        agent.health().await.is_some_and(|h| {
            h["camera"] == "degraded"
                && h["publish_problem"]
                    .as_str()
                    .is_some_and(|p| p.contains("not authorised"))
        })
    })
    .await;
    let health = agent.health().await.unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(
        health["spool_depth"], 20,
        "every refused event kept: {health}"
    );
    assert!(
        agent
            .metric("atrium_edge_publish_refused_total")
            .await
            .unwrap()
            >= 1.0
    );
    assert!(
        agent.log().contains("NotAuthorized"),
        "the reason is logged"
    );
    assert!(ids(&observer.snapshot()).is_disjoint(&events.iter().map(|e| e.id).collect()));

    // With the right certificate the same spool is delivered, all of it.
    agent.stop().await;
    let config = relay_setup(&broker, "cam-a", "cam-a", dir.path());
    let mut agent = RelayAgent::start(dir.path(), &config, None);
    let want: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    let (ok, seen) = observer
        .wait_for(Duration::from_secs(30), |s| want.is_subset(&ids(s)))
        .await;
    assert!(
        ok,
        "delivered {} of 20",
        want.intersection(&ids(&seen)).count()
    );
    wait_for(Duration::from_secs(20), "healthy again", || async {
        agent
            .health()
            .await
            .is_some_and(|h| h["status"] == "healthy" && h.get("publish_problem").is_none())
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_or_invalid_retained_configuration_is_refused_and_delivery_goes_on() {
    let broker = Mosquitto::start().await.unwrap();
    let observer = Observer::start(&broker).await;
    // Central's identity may write configurations: 100 KiB of lines (over
    // the 64 KiB limit, far under the broker's), retained.
    let tls = broker.identity("central").unwrap();
    let mut central = TestClientV5::connect(broker.options_v5("central-cfg", &tls).unwrap())
        .await
        .unwrap();
    let lines: Vec<serde_json::Value> = (0..1500)
        .map(|i| serde_json::json!({"id": format!("l{i}"), "name": "x".repeat(40), "a": [0.1, 0.1], "b": [0.9, 0.9], "in_side": "left"}))
        .collect();
    let big = serde_json::to_vec(&serde_json::json!({"schema": 1, "version": 9, "lines": lines}))
        .unwrap();
    assert!(big.len() > 100 * 1024);
    let topic = "atrium/v1/hq/cam/cam-a/config";
    // Retained, so kept even while nobody is subscribed yet.
    use rumqttc::v5::mqttbytes::v5::PubAckReason;
    assert!(matches!(
        central.publish(topic, big, true).await,
        Some(PubAckReason::Success | PubAckReason::NoMatchingSubscribers)
    ));
    let dir = tempfile::tempdir().unwrap();
    let config = relay_setup(&broker, "cam-a", "cam-a", dir.path());
    let mut agent = RelayAgent::start(dir.path(), &config, None);
    wait_for(
        Duration::from_secs(20),
        "the configuration refused",
        || async { agent.metric("atrium_edge_config_refused_total").await == Some(1.0) },
    )
    .await;
    assert!(
        agent.log().contains("larger than the 65536-byte limit"),
        "a clear error: {}",
        agent.log()
    );
    // Within the size limit but over the zone limit: refused too.
    let zones: Vec<serde_json::Value> = (0..40)
        .map(|i| serde_json::json!({"id": format!("z{i}"), "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}))
        .collect();
    let many = serde_json::to_vec(&serde_json::json!({"schema": 1, "version": 10, "zones": zones}))
        .unwrap();
    let answer = central.publish(topic, many, true).await;
    assert!(
        answer.is_some(),
        "central's client: {:?}\n{}",
        central.failure().await,
        broker.log()
    );
    wait_for(Duration::from_secs(20), "the second refusal", || async {
        agent.metric("atrium_edge_config_refused_total").await == Some(2.0)
    })
    .await;
    // The connection never broke, and events flow.
    let events: Vec<Event> = (0..10).map(|i| crossing("cam-a", i)).collect();
    feed(&mut agent, &events).await;
    let want: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    let (ok, _) = observer
        .wait_for(Duration::from_secs(20), |s| want.is_subset(&ids(s)))
        .await;
    assert!(ok, "events delivered after the refused configurations");
    assert_eq!(
        agent
            .metric("atrium_edge_reconnects_total{kind=\"broker\"}")
            .await
            .unwrap_or(0.0),
        0.0,
        "the oversized configuration broke the connection"
    );
    assert_eq!(agent.health().await.unwrap()["broker_connected"], true);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_accepted_just_before_a_broker_crash_are_sent_again() {
    let mut broker = Mosquitto::start().await.unwrap();
    // A persistent subscriber, offline: what the broker accepts is queued
    // for it, in memory until the next save.
    drop(Observer::start(&broker).await);
    broker.save().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = relay_setup(&broker, "cam-a", "cam-a", dir.path());
    let mut agent = RelayAgent::start(dir.path(), &config, None);
    let events: Vec<Event> = (0..200).map(|i| crossing("cam-a", i)).collect();
    feed(&mut agent, &events).await;

    // Every one acknowledged by the broker, none saved yet (the broker
    // saves every 2 s; the agent keeps accepted events for 10 s).
    wait_for(Duration::from_secs(20), "200 events accepted", || async {
        agent
            .health()
            .await
            .is_some_and(|h| h["spool_lingering"] == 200)
    })
    .await;
    broker.kill().await;
    broker.restart().await.unwrap();
    let observer = Observer::start(&broker).await;
    let want: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    let (ok, seen) = observer
        .wait_for(Duration::from_secs(60), |s| want.is_subset(&ids(s)))
        .await;
    assert!(
        ok,
        "{} of 200 accepted events survived the crash",
        want.intersection(&ids(&seen)).count()
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_spool_cannot_store_are_refused_counted_and_reported() {
    let broker = Mosquitto::start().await.unwrap();
    let observer = Observer::start(&broker).await;
    // Only the spool lives on the small disk (the agent's log does not).
    let disk = SmallDisk::mount(256 * 1024).unwrap();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().to_owned();
    std::os::unix::fs::symlink(disk.path(), dir.join("spool")).unwrap();
    let config = relay_setup(&broker, "cam-a", "cam-a", &dir);
    let mut agent = RelayAgent::start(&dir, &config, None);
    wait_for(Duration::from_secs(20), "the agent up", || async {
        agent.health().await.is_some()
    })
    .await;
    // Room for a few events only (the agent's own files are small).
    let filler = disk.fill_leaving(8 * 1024).unwrap();
    let mut spooled = Vec::new();
    let mut refused = 0u64;
    for i in 0..200 {
        let e = crossing("cam-a", i);
        let answer = agent
            .send_and_answer(&serde_json::to_string(&e).unwrap())
            .await
            .unwrap();
        if answer == format!("spooled {}", e.id) {
            spooled.push(e.id);
        } else {
            assert!(
                answer.starts_with("refused ") && answer.contains("spool"),
                "{answer}"
            );
            refused += 1;
        }
    }
    assert!(refused > 0, "the disk never filled");
    assert!(!spooled.is_empty(), "nothing fit at all");
    wait_for(Duration::from_secs(10), "the loss reported", || async {
        agent.metric("atrium_edge_events_unspooled_total").await == Some(refused as f64)
    })
    .await;
    let health = agent.health().await.unwrap();
    assert_eq!(health["events_unspooled"], refused, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    let (ok, _) = observer
        .wait_for(Duration::from_secs(20), |s| {
            s.statuses.iter().any(|st| st.events_unspooled == refused)
        })
        .await;
    assert!(ok, "the heartbeat reports the lost events");

    // Space again: spooling resumes, and everything that was spooled
    // (before and after) is delivered intact, in order.
    std::fs::remove_file(filler).unwrap();
    for i in 200..220 {
        let e = crossing("cam-a", i);
        let answer = agent
            .send_and_answer(&serde_json::to_string(&e).unwrap())
            .await
            .unwrap();
        assert_eq!(answer, format!("spooled {}", e.id));
        spooled.push(e.id);
    }
    let want: HashSet<Uuid> = spooled.iter().copied().collect();
    let (ok, seen) = observer
        .wait_for(Duration::from_secs(30), |s| want.is_subset(&ids(s)))
        .await;
    assert!(
        ok,
        "delivered {} of {}",
        want.intersection(&ids(&seen)).count(),
        want.len()
    );
    assert!(
        seen.bad.is_empty(),
        "misaligned bytes published: {:?}",
        seen.bad
    );
    let order: Vec<Uuid> = seen
        .events
        .iter()
        .map(|e| e.id)
        .filter(|id| want.contains(id))
        .collect();
    let first_delivery: Vec<Uuid> = {
        let mut s = HashSet::new();
        order.into_iter().filter(|id| s.insert(*id)).collect()
    };
    assert_eq!(first_delivery, spooled, "delivered in the order spooled");
    assert_eq!(
        agent.metric("atrium_edge_spool_corrupt_total").await,
        Some(0.0)
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_central_is_down_survive_a_broker_restart() {
    let pg = Postgres::start().await.unwrap();
    let mut broker = Mosquitto::start().await.unwrap();
    let db = pg.connect().await.unwrap();
    db.batch_execute(
        "INSERT INTO sites (id, name) VALUES ('hq', 'HQ');
         INSERT INTO cameras (id, site_id, name) VALUES ('cam-a', 'hq', 'A');",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let central_config = CentralSetup {
        database_url: pg.url(),
        broker_port: broker.port(),
        tls: broker.identity("central").unwrap(),
        listen: "127.0.0.1:0".into(),
        secure_cookies: true,
        client_id: Some("central-delivery".into()),
    }
    .write(dir.path());
    let edge_dir = dir.path().join("edge");
    std::fs::create_dir_all(&edge_dir).unwrap();
    let config = relay_setup(&broker, "cam-a", "cam-a", &edge_dir);
    let mut agent = RelayAgent::start(&edge_dir, &config, None);

    // Central subscribes (its persistent session), proves it by storing
    // one event, and stops.
    let mut central = CentralServer::start(dir.path(), &central_config);
    let first = crossing("cam-a", 0);
    feed(&mut agent, std::slice::from_ref(&first)).await;
    let count = || async {
        db.query_one("SELECT count(*) FROM events", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    wait_for(
        Duration::from_secs(30),
        "the first event stored",
        || async { count().await == 1 },
    )
    .await;
    central.stop();

    let events: Vec<Event> = (1..=20_000).map(|i| crossing("cam-a", i)).collect();
    feed(&mut agent, &events[..10_000]).await;
    // The broker queues these for the offline central; a clean restart
    // keeps that queue. Mosquitto 2.0 does not restore central's shared
    // subscription, though: until central subscribes again, the broker
    // answers "no matching subscribers", and the agent keeps the rest.
    broker.stop().await;
    broker.restart().await.unwrap();
    feed(&mut agent, &events[10_000..]).await;
    wait_for(
        Duration::from_secs(30),
        "the broker's refusal seen",
        || async {
            agent.health().await.is_some_and(|h| {
                h["publish_problem"]
                    .as_str()
                    .is_some_and(|p| p.contains("no subscriber"))
            })
        },
    )
    .await;

    central.restart();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let n = count().await;
        if n >= 20_001 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of 20 001 events stored; relay log tail:\n{}",
            agent
                .log()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stored: HashSet<Uuid> = db
        .query("SELECT id FROM events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let produced: HashSet<Uuid> = events.iter().map(|e| e.id).chain([first.id]).collect();
    assert_eq!(stored, produced);
    agent.stop().await;
    central.stop();
}

/// The JSON log line with `message`, if any.
fn log_line(log: &str, message: &str) -> Option<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_tasks_log_inside_spans_naming_their_instance_or_camera() {
    let pg = Postgres::start().await.unwrap();
    let broker = Mosquitto::start().await.unwrap();
    let db = pg.connect().await.unwrap();
    db.batch_execute(
        "INSERT INTO sites (id, name) VALUES ('hq', 'HQ');
         INSERT INTO cameras (id, site_id, name) VALUES ('cam-a', 'hq', 'A');",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let central_config = CentralSetup {
        database_url: pg.url(),
        broker_port: broker.port(),
        tls: broker.identity("central").unwrap(),
        listen: "127.0.0.1:0".into(),
        secure_cookies: true,
        client_id: Some("central-spans".into()),
    }
    .write(dir.path());
    let mut central = CentralServer::start(dir.path(), &central_config);
    let edge_dir = dir.path().join("edge");
    std::fs::create_dir_all(&edge_dir).unwrap();
    let config = relay_setup(&broker, "cam-a", "cam-a", &edge_dir);
    let mut agent = RelayAgent::start(&edge_dir, &config, None);
    let event = crossing("cam-a", 0);
    feed(&mut agent, std::slice::from_ref(&event)).await;
    wait_for(Duration::from_secs(30), "the event stored", || async {
        db.query_one("SELECT count(*) FROM events WHERE id = $1", &[&event.id])
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 1
    })
    .await;
    // Lines written by spawned tasks (ingest's broker connection, the
    // agent's publisher), not by the code that created the span.
    let line = log_line(&central.log(), "ingest connected to the broker")
        .expect("central logged its broker connection");
    assert_eq!(line["span"]["instance"], "central-spans", "{line}");
    let line = log_line(&agent.log(), "connected to the broker")
        .expect("the agent logged its broker connection");
    assert_eq!(line["span"]["camera"], "cam-a", "{line}");
    assert_eq!(line["span"]["site"], "hq", "{line}");
    agent.stop().await;
    central.stop();
}
