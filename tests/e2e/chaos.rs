//! The proof of "nothing lost between a camera and the database": edge
//! agents → Mosquitto → two central instances → PostgreSQL, with a
//! generator producing events with known ids at a steady rate, while faults
//! are injected in turn: broker restart, broker kill -9, central kill -9
//! with a non-empty ingest spool, PostgreSQL restart, edge agent kill -9,
//! and a network partition between an edge agent and the broker (the agent
//! runs in its own network namespace behind a veth pair that is cut).
//!
//! The oracle is the set of ids the generator produced, counted in
//! `events`; nothing the system under test wrote is trusted. At the end it
//! prints a table of faults and counts (docs/reliability.md).
//!
//! The default is one round at 20 events/s per agent (CI); `scripts/chaos`
//! runs longer: `ATRIUM_CHAOS_ROUNDS`, `ATRIUM_CHAOS_RATE` (events/s per
//! agent), `ATRIUM_CHAOS_STEADY_S` (seconds between faults),
//! `ATRIUM_CHAOS_REPORT` (a file for the table).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use atrium_proto::event::{Direction, EventBody};
use atrium_proto::{CameraId, Event, SiteId};
use atrium_testkit::{Mosquitto, NetNs, Postgres};
use atrium_tests::{CentralServer, CentralSetup, EdgeSetup, RelayAgent};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

enum Cmd {
    /// SIGKILL the agent, start it again, send it what it had not
    /// confirmed.
    Kill9(oneshot::Sender<()>),
    /// Stop producing; report once everything sent is confirmed.
    Finish(oneshot::Sender<Produced>),
}

#[derive(Debug, Default)]
struct Produced {
    ids: Vec<Uuid>,
    resent: usize,
}

/// Feeds one relay agent at `rate` events/s; keeps what the agent has not
/// yet confirmed as spooled and sends it again after a kill.
async fn generator(
    mut agent: RelayAgent,
    camera: String,
    rate: f64,
    mut cmds: mpsc::Receiver<Cmd>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut produced = Produced::default();
    let mut unconfirmed: VecDeque<(Uuid, String)> = VecDeque::new();
    let mut alive = true;
    let mut n = 0u64;
    let confirm = |unconfirmed: &mut VecDeque<(Uuid, String)>, answer: &str| {
        if let Some(id) = answer
            .strip_prefix("spooled ")
            .and_then(|i| Uuid::parse_str(i.trim()).ok())
            && let Some(pos) = unconfirmed.iter().position(|(u, _)| *u == id)
        {
            unconfirmed.remove(pos);
        }
    };
    loop {
        tokio::select! {
            _ = tick.tick() => {
                n += 1;
                let e = Event::new(
                    SiteId::new("hq").unwrap(),
                    CameraId::new(camera.clone()).unwrap(),
                    chrono::Utc::now(),
                    EventBody::LineCrossed {
                        line: "door".into(),
                        direction: if n.is_multiple_of(3) { Direction::Out } else { Direction::In },
                        track: n,
                    },
                );
                let line = serde_json::to_string(&e).unwrap();
                produced.ids.push(e.id);
                unconfirmed.push_back((e.id, line.clone()));
                if alive {
                    alive = agent.send(&line).await;
                }
            }
            answer = agent.next_answer(), if alive => match answer {
                Some(a) => confirm(&mut unconfirmed, &a),
                None => alive = false,
            },
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Kill9(done)) => {
                    agent.kill9().await;
                    agent.restart();
                    alive = true;
                    produced.resent += unconfirmed.len();
                    for (_, line) in &unconfirmed {
                        alive = alive && agent.send(line).await;
                    }
                    let _ = done.send(());
                }
                Some(Cmd::Finish(report)) => {
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while !unconfirmed.is_empty() && Instant::now() < deadline {
                        match tokio::time::timeout(Duration::from_secs(1), agent.next_answer()).await {
                            Ok(Some(a)) => confirm(&mut unconfirmed, &a),
                            Ok(None) => break,
                            Err(_) => {}
                        }
                    }
                    assert!(unconfirmed.is_empty(), "{camera}: {} events never confirmed as spooled", unconfirmed.len());
                    let _ = report.send(std::mem::take(&mut produced));
                    // Keep the agent delivering until the test ends.
                    let _ = cmds.recv().await;
                    agent.stop().await;
                    return;
                }
                None => return,
            },
        }
    }
}

struct Fault {
    name: &'static str,
    at: Duration,
    took: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_doubled_under_broker_central_database_edge_and_network_faults() {
    let rounds: u32 = env_or("ATRIUM_CHAOS_ROUNDS", 1);
    let rate: f64 = env_or("ATRIUM_CHAOS_RATE", 20.0);
    // Deliberate periods of normal traffic between faults (the generator
    // runs throughout); every other wait in this test polls with a deadline.
    let steady = Duration::from_secs(env_or("ATRIUM_CHAOS_STEADY_S", 6));
    let started = Instant::now();

    let ns = NetNs::create().expect("a network namespace (needs root)");
    let mut pg = Postgres::start().await.unwrap();
    let mut broker = Mosquitto::start_on(&[IpAddr::V4(ns.host_ip())])
        .await
        .unwrap();
    let db = pg.connect().await.unwrap();
    db.batch_execute(
        "INSERT INTO sites (id, name) VALUES ('hq', 'HQ');
         INSERT INTO cameras (id, site_id, name) VALUES ('cam-a', 'hq', 'A'), ('cam-b', 'hq', 'B');",
    )
    .await
    .unwrap();
    drop(db);

    let root = tempfile::tempdir().unwrap();
    let mut centrals = Vec::new();
    for (i, identity) in ["central", "central-2"].into_iter().enumerate() {
        let dir = root.path().join(identity);
        std::fs::create_dir_all(&dir).unwrap();
        let config = CentralSetup {
            database_url: pg.url(),
            broker_port: broker.port(),
            tls: broker.identity(identity).unwrap(),
            listen: "127.0.0.1:0".into(),
            secure_cookies: true,
            client_id: Some(format!("chaos-central-{}", i + 1)),
        }
        .write(&dir);
        centrals.push(CentralServer::start(&dir, &config));
    }

    // Agent A next to the broker; agent B in the namespace, across the
    // veth link that the partition cuts.
    let mut gens = Vec::new();
    for (camera, in_ns) in [("cam-a", false), ("cam-b", true)] {
        let dir = root.path().join(camera);
        std::fs::create_dir_all(&dir).unwrap();
        let mut setup = EdgeSetup::new(
            camera,
            "rtsp://127.0.0.1:9/unused",
            broker.port(),
            broker.identity(camera).unwrap(),
        );
        if in_ns {
            setup = setup.broker_host(&ns.host_ip().to_string());
        }
        let config = setup.write(&dir);
        let agent = RelayAgent::start(&dir, &config, in_ns.then_some(&ns));
        let (tx, rx) = mpsc::channel(4);
        let task = tokio::spawn(generator(agent, camera.to_owned(), rate, rx));
        gens.push((camera, tx, task));
    }

    let mut faults: Vec<Fault> = Vec::new();
    let mut log = |name: &'static str, t0: Instant| {
        faults.push(Fault {
            name,
            at: t0 - started,
            took: t0.elapsed(),
        });
        println!("chaos: {name} done in {:.1} s", t0.elapsed().as_secs_f64());
    };
    for _ in 0..rounds {
        tokio::time::sleep(steady).await;
        let t0 = Instant::now();
        broker.stop().await;
        broker.restart().await.unwrap();
        log("broker restart (SIGTERM)", t0);

        tokio::time::sleep(steady).await;
        let t0 = Instant::now();
        broker.kill().await;
        broker.restart().await.unwrap();
        log("broker kill -9", t0);

        tokio::time::sleep(steady).await;
        let t0 = Instant::now();
        // The database goes away; central-1 spools what it receives, then
        // dies with a non-empty spool; it replays after its restart.
        pg.stop().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let depth = centrals[0]
                .metric("atrium_central_ingest_spool_depth")
                .await
                .unwrap_or(0.0);
            if depth > 0.0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "central-1 never spooled anything"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        centrals[0].kill9();
        pg.restart().await.unwrap();
        centrals[0].restart();
        log("central kill -9 with a non-empty ingest spool", t0);

        tokio::time::sleep(steady).await;
        let t0 = Instant::now();
        pg.stop().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await; // the outage itself
        pg.restart().await.unwrap();
        log("PostgreSQL restart (5 s down)", t0);

        tokio::time::sleep(steady).await;
        let t0 = Instant::now();
        let (done, wait) = oneshot::channel();
        gens[0].1.send(Cmd::Kill9(done)).await.unwrap();
        wait.await.unwrap();
        log("edge agent kill -9 (cam-a)", t0);

        tokio::time::sleep(steady).await;
        let t0 = Instant::now();
        ns.cut().unwrap();
        tokio::time::sleep(Duration::from_secs(15)).await; // the partition itself
        ns.heal().unwrap();
        log("network partition edge (cam-b) ↔ broker, 15 s", t0);
    }
    tokio::time::sleep(steady).await;

    // Stop producing; everything produced must arrive.
    let mut produced: HashMap<&str, Produced> = HashMap::new();
    for (camera, tx, _) in &gens {
        let (report, got) = oneshot::channel();
        tx.send(Cmd::Finish(report)).await.unwrap();
        produced.insert(camera, got.await.unwrap());
    }
    let all: HashSet<Uuid> = produced
        .values()
        .flat_map(|p| p.ids.iter().copied())
        .collect();
    let total = produced.values().map(|p| p.ids.len()).sum::<usize>();
    assert_eq!(all.len(), total, "the generator made unique ids");
    let db = pg.connect().await.unwrap();
    let drained = Instant::now();
    let deadline = drained + Duration::from_secs(240);
    let stored: HashSet<Uuid> = loop {
        let ids: HashSet<Uuid> = db
            .query("SELECT id FROM events", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        if all.is_subset(&ids) || Instant::now() >= deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let rows: i64 = db
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    let duplicated: i64 = db
        .query_one(
            "SELECT count(*) FROM (SELECT id FROM events GROUP BY id HAVING count(*) > 1) d",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let crossings: i64 = db
        .query_one("SELECT count(*) FROM line_crossings", &[])
        .await
        .unwrap()
        .get(0);
    let rollup = |res: &str| {
        let db = &db;
        let q = format!(
            "SELECT coalesce(sum(in_count + out_count), 0)::bigint FROM crossing_rollups WHERE resolution = '{res}'"
        );
        async move { db.query_one(&q, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let (minute, hour) = (rollup("minute").await, rollup("hour").await);
    let dead: i64 = db
        .query_one("SELECT count(*) FROM dead_letters", &[])
        .await
        .unwrap()
        .get(0);
    let lost = all.difference(&stored).count();
    let unexpected = stored.difference(&all).count();

    let mut table = String::new();
    let _ = writeln!(
        table,
        "| # | fault | at (s) | took (s) |\n|---|---|---|---|"
    );
    for (i, f) in faults.iter().enumerate() {
        let _ = writeln!(
            table,
            "| {} | {} | {:.0} | {:.1} |",
            i + 1,
            f.name,
            f.at.as_secs_f64(),
            f.took.as_secs_f64()
        );
    }
    let resent: usize = produced.values().map(|p| p.resent).sum();
    let _ = writeln!(
        table,
        "\n| measure | count |\n|---|---|\n\
         | events produced (ids chosen by the generator) | {total} |\n\
         | sent again by the generator after the agent's kill -9 | {resent} |\n\
         | stored (distinct produced ids in `events`) | {} |\n\
         | rows in `events` | {rows} |\n\
         | duplicated (ids stored more than once) | {duplicated} |\n\
         | lost (produced, not stored) | {lost} |\n\
         | unexpected (stored, never produced) | {unexpected} |\n\
         | line_crossings rows / minute rollups / hour rollups | {crossings} / {minute} / {hour} |\n\
         | dead letters | {dead} |\n\
         | rate (events/s, both agents) / rounds / run (s) | {:.0} / {rounds} / {:.0} |\n\
         | stored within (s) after production stopped | {:.1} |",
        all.intersection(&stored).count(),
        rate * 2.0,
        started.elapsed().as_secs_f64(),
        drained.elapsed().as_secs_f64(),
    );
    println!("\n{table}");
    if let Ok(path) = std::env::var("ATRIUM_CHAOS_REPORT") {
        std::fs::write(path, &table).unwrap();
    }
    for (_, tx, task) in gens {
        drop(tx);
        task.await.unwrap();
    }
    assert_eq!(lost, 0, "events lost");
    assert_eq!(duplicated, 0, "events stored twice");
    assert_eq!(unexpected, 0, "events nobody produced");
    assert_eq!(rows as usize, total, "one row per produced event");
    assert_eq!(crossings as usize, total, "one crossing per event");
    assert_eq!(
        (minute, hour),
        (crossings, crossings),
        "rollups equal the crossings"
    );
    assert_eq!(dead, 0, "nothing dead-lettered");
    for mut c in centrals {
        c.stop();
    }
}
