//! Ingest benchmark: N events published at full speed through a real
//! Mosquitto (TLS) into central and TimescaleDB, beside a raw binary COPY
//! of the same rows into the same database, in the same run.
//!
//! `cargo bench -p central --bench ingest [-- N]` (default 50 000). Prints
//! a table: sustained events/s of a burst (first publish to last
//! commit), publish-to-commit latency p50/p99 (capture timestamp set at
//! publish, commit observed on the live feed, which central fills after
//! commit) under the burst and under a steady load at 80 % of the
//! sustained rate for 15 s, the COPY rate and the ratio.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use atrium_proto::event::{Direction, EventBody};
use atrium_proto::{CameraId, Event, SiteId};
mod common;

use atrium_testkit::{Mosquitto, Postgres};
use rumqttc::{AsyncClient, QoS};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

const CAMERAS: usize = 4;
/// Seconds of steady load.
const STEADY_S: f64 = 15.0;

/// Collects the latencies (capture time to the live feed, which central
/// fills after commit) of the next `count` live events, and when the last
/// one arrived.
fn collect(
    central: &central::server::Running,
    count: usize,
) -> tokio::task::JoinHandle<(Vec<f64>, Instant)> {
    let mut live = central.state.live.subscribe();
    tokio::spawn(async move {
        let mut lat = Vec::with_capacity(count);
        while lat.len() < count {
            match live.recv().await {
                Ok(e) => lat.push(
                    (chrono::Utc::now() - e.ts).num_microseconds().unwrap_or(0) as f64 / 1000.0,
                ),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => {
                    panic!("collector lagged by {k}")
                }
                Err(_) => break,
            }
        }
        (lat, Instant::now())
    })
}

/// Waits for a collector, printing progress on stderr so a stall shows.
async fn wait(
    collector: tokio::task::JoinHandle<(Vec<f64>, Instant)>,
    pg: &Postgres,
) -> (Vec<f64>, Instant) {
    let progress_db = pg.connect().await.unwrap();
    let progress = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let stored: i64 = progress_db
                .query_one("SELECT count(*) FROM events", &[])
                .await
                .map(|r| r.get(0))
                .unwrap_or(-1);
            eprintln!("waiting: {stored} stored");
        }
    });
    let out = tokio::time::timeout(Duration::from_secs(600), collector)
        .await
        .unwrap()
        .unwrap();
    progress.abort();
    out
}

/// Publishes `per` line_crossed events from every camera, as fast as
/// possible or at `rate` events/s each (capture time set at publish).
async fn publish(clients: &[(String, AsyncClient)], per: usize, rate: Option<f64>) {
    let mut tasks = Vec::new();
    for (id, client) in clients.iter().cloned() {
        tasks.push(tokio::spawn(async move {
            let topic = format!("atrium/v1/hq/cam/{id}/event");
            let (site, cam) = (SiteId::new("hq").unwrap(), CameraId::new(id).unwrap());
            let start = tokio::time::Instant::now();
            for i in 0..per {
                if let Some(r) = rate {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / r)).await;
                }
                let dir = if i % 2 == 0 {
                    Direction::In
                } else {
                    Direction::Out
                };
                let e = Event::new(
                    site.clone(),
                    cam.clone(),
                    chrono::Utc::now(),
                    EventBody::LineCrossed {
                        line: "door".into(),
                        direction: dir,
                        track: i as u64,
                    },
                );
                client
                    .publish(
                        &topic,
                        QoS::AtLeastOnce,
                        false,
                        serde_json::to_vec(&e).unwrap(),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(n));
}

async fn bench(n: usize) {
    if std::env::var_os("RUST_LOG").is_some() {
        atrium_telemetry::init(atrium_telemetry::LogFormat::Text);
    }
    let (pg, broker) = tokio::join!(Postgres::start(), Mosquitto::start());
    let (pg, broker) = (pg.unwrap(), broker.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = pg.connect().await.unwrap();
    db.execute("INSERT INTO sites (id, name) VALUES ('hq', 'HQ')", &[])
        .await
        .unwrap();
    for c in 0..CAMERAS {
        db.execute(
            "INSERT INTO cameras (id, site_id, name) VALUES ($1, 'hq', $1)",
            &[&format!("cam-{c}")],
        )
        .await
        .unwrap();
    }
    let central = central::server::start(common::central_config(
        &pg,
        &broker,
        dir.path(),
        "ingest",
        "",
    ))
    .await
    .unwrap();
    while !central
        .state
        .ingest
        .broker_connected
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Publishers: one connection per camera, 500 messages in flight each.
    let per = n / CAMERAS;
    let total = per * CAMERAS;
    let mut clients = Vec::new();
    let mut loops = Vec::new();
    for c in 0..CAMERAS {
        let id = format!("cam-{c}");
        let mut o = broker
            .options(&format!("{id}-bench"), &broker.identity(&id).unwrap())
            .unwrap();
        o.set_inflight(500);
        let (client, mut el) = AsyncClient::new(o, 1000);
        loops.push(tokio::spawn(async move {
            loop {
                if let Err(e) = el.poll().await {
                    eprintln!("publisher connection: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }));
        clients.push((id, client));
    }
    // Burst: every publisher as fast as it can; the sustained rate is
    // first publish to last commit.
    let started = Instant::now();
    let collector = collect(&central, total);
    publish(&clients, per, None).await;
    let published = started.elapsed();
    let (mut lat, last_commit) = wait(collector, &pg).await;
    let ingest_s = (last_commit - started).as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let ingest_rate = total as f64 / ingest_s;

    // Steady: 80 % of that rate, paced, for STEADY_S seconds: the latency
    // an event sees when ingest keeps up, not the queue of a burst.
    let steady_rate = 0.8 * ingest_rate;
    let steady_per = ((steady_rate * STEADY_S) as usize / CAMERAS).max(1);
    let collector = collect(&central, steady_per * CAMERAS);
    let steady_started = Instant::now();
    publish(&clients, steady_per, Some(steady_rate / CAMERAS as f64)).await;
    let steady_offered = (steady_per * CAMERAS) as f64 / steady_started.elapsed().as_secs_f64();
    let (mut steady_lat, _) = wait(collector, &pg).await;
    steady_lat.sort_by(f64::total_cmp);
    let burst = total;
    let total = total + steady_per * CAMERAS;
    for l in &loops {
        l.abort();
    }
    let pct = |v: &[f64], p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    let stored: i64 = db
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored as usize, total, "every event stored once");
    central.shutdown().await;

    // Raw binary COPY of the same rows into copies of the same tables.
    db.batch_execute(
        "CREATE TABLE events_copy (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
         SELECT create_hypertable('events_copy', by_range('ts', INTERVAL '1 day'));
         CREATE TABLE line_crossings_copy (LIKE line_crossings INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
         SELECT create_hypertable('line_crossings_copy', by_range('ts', INTERVAL '1 day'));",
    )
    .await
    .unwrap();
    let events = db
        .query(
            "SELECT ts, id, site_id, camera_id, type, payload FROM events",
            &[],
        )
        .await
        .unwrap();
    let crossings = db
        .query(
            "SELECT ts, event_id, camera_id, line_id, direction, track FROM line_crossings",
            &[],
        )
        .await
        .unwrap();
    let copy_started = Instant::now();
    let sink = db
        .copy_in("COPY events_copy (ts, id, site_id, camera_id, type, payload) FROM STDIN BINARY")
        .await
        .unwrap();
    let w = BinaryCopyInWriter::new(
        sink,
        &[
            Type::TIMESTAMPTZ,
            Type::UUID,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::JSONB,
        ],
    );
    futures::pin_mut!(w);
    for r in &events {
        let row: (
            chrono::DateTime<chrono::Utc>,
            uuid::Uuid,
            String,
            String,
            String,
            serde_json::Value,
        ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        w.as_mut()
            .write(&[&row.0, &row.1, &row.2, &row.3, &row.4, &row.5])
            .await
            .unwrap();
    }
    w.finish().await.unwrap();
    let sink = db
        .copy_in("COPY line_crossings_copy (ts, event_id, camera_id, line_id, direction, track) FROM STDIN BINARY")
        .await
        .unwrap();
    let w = BinaryCopyInWriter::new(
        sink,
        &[
            Type::TIMESTAMPTZ,
            Type::UUID,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT8,
        ],
    );
    futures::pin_mut!(w);
    for r in &crossings {
        let row: (
            chrono::DateTime<chrono::Utc>,
            uuid::Uuid,
            String,
            String,
            String,
            i64,
        ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        w.as_mut()
            .write(&[&row.0, &row.1, &row.2, &row.3, &row.4, &row.5])
            .await
            .unwrap();
    }
    w.finish().await.unwrap();
    let copy_s = copy_started.elapsed().as_secs_f64();

    let copy_rate = total as f64 / copy_s;
    println!(
        "\nIngest benchmark: line_crossed events from {CAMERAS} cameras, QoS 1 over TLS: a burst of {burst}, then {} at a steady rate",
        total - burst
    );
    println!("{}\n", common::machine());
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| publishing the burst took | {:.2} s ({:.0} msg/s offered) |",
        published.as_secs_f64(),
        burst as f64 / published.as_secs_f64()
    );
    println!("| ingest, first publish to last commit | {ingest_s:.2} s |");
    println!(
        "| **ingest sustained** (events + crossings + rollups, idempotent) | **{ingest_rate:.0} events/s** |"
    );
    println!(
        "| publish-to-commit latency under the burst p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
    println!(
        "| **steady load**: {steady_offered:.0} events/s offered (80 % of sustained) for {STEADY_S:.0} s, latency p50 / p99 / max | {:.1} / **{:.1}** / {:.1} ms |",
        pct(&steady_lat, 0.5),
        pct(&steady_lat, 0.99),
        pct(&steady_lat, 1.0)
    );
    println!(
        "| raw binary COPY of the same rows (events + line_crossings) | {copy_s:.2} s, **{copy_rate:.0} events/s** |"
    );
    println!(
        "| **ratio ingest / COPY** | **{:.2}** |",
        ingest_rate / copy_rate
    );
}
