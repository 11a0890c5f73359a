//! Alert evaluation benchmark: one evaluation (read every fact, lock the
//! open alerts, step the core, write the changes with their queued
//! notifications) for a large site: 500 cameras (100 of them offline for
//! ten minutes, with a heartbeat a minute for the last 15 minutes each),
//! 300 building-system devices (30 silent), 200 fire zones, 50 lifts, 200
//! doors with 1000 access events (100 forced), and 10 000 zone events in
//! the last four minutes (200 violations), with two notification
//! channels. The first evaluation fires every alert of those states at
//! once (the worst case: alerting switched on at a site in trouble), the
//! second judges the door and zone events that arrived since; the rest
//! are the steady state with every alert open. The table gives each as a
//! share of the default 5 s interval.
//!
//! `cargo bench -p central --bench alerts`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

mod common;

use atrium_testkit::{Mosquitto, Postgres};
use chrono::Utc;

const CAMERAS: usize = 500;
const OFFLINE_CAMERAS: usize = 100;
const DEVICES: usize = 300;
const SILENT_DEVICES: usize = 30;
const ROUNDS: usize = 30;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let (pg, broker) = tokio::join!(Postgres::start(), Mosquitto::start());
    let (pg, broker) = (pg.unwrap(), broker.unwrap());
    let dir = tempfile::tempdir().unwrap();
    // Evaluation off in the server: the bench runs it itself.
    let config = common::central_config(&pg, &broker, dir.path(), "a", "[alerts]\nenabled = false");
    let central = central::server::start(config.clone()).await.unwrap();
    let db = pg.connect().await.unwrap();
    let now = Utc::now();
    db.batch_execute("INSERT INTO sites (id, name) VALUES ('hq', 'HQ')")
        .await
        .unwrap();
    db.execute(
        "INSERT INTO cameras (id, site_id, name) SELECT 'cam-' || i, 'hq', 'cam ' || i FROM generate_series(1, $1::int) i",
        &[&(CAMERAS as i32)],
    )
    .await
    .unwrap();
    // Online cameras beat now; offline ones went ten minutes ago.
    db.execute(
        "INSERT INTO camera_status_current (camera_id, ts, state, reason, detail, changed_at)
         SELECT 'cam-' || i, $1::timestamptz, CASE WHEN i <= $2 THEN 'offline' ELSE 'online' END,
                CASE WHEN i <= $2 THEN 'no frames from the camera' END,
                jsonb_build_object('spool_fill', (i % 10) / 20.0, 'load_level', i % 5,
                                   'faces_attempted', 1000 + i, 'faces_failed', i % 50),
                CASE WHEN i <= $2 THEN $1::timestamptz - INTERVAL '10 minutes' ELSE $1::timestamptz - INTERVAL '1 day' END
         FROM generate_series(1, $3::int) i",
        &[&now, &(OFFLINE_CAMERAS as i32), &(CAMERAS as i32)],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO camera_status_history (ts, camera_id, state, reason, detail)
         SELECT $1::timestamptz - m * INTERVAL '1 minute', 'cam-' || i, 'online', NULL,
                jsonb_build_object('faces_attempted', 1000 + i - m * 3, 'faces_failed', greatest(0, i % 50 - m))
         FROM generate_series(1, $2::int) i, generate_series(1, 15) m",
        &[&now, &(CAMERAS as i32)],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO devices (id, site_id, kind, name)
         SELECT 'dev-' || i, 'hq', CASE WHEN i <= 200 THEN 'fire' WHEN i <= 250 THEN 'lift' ELSE 'access' END, 'dev ' || i
         FROM generate_series(1, $1::int) i",
        &[&(DEVICES as i32)],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO device_state (device_id, status, status_ts, status_received_at, status_changed_at, last_seen, interval_s)
         SELECT 'dev-' || i, 'online', $1::timestamptz - INTERVAL '1 hour', $1::timestamptz - INTERVAL '1 hour', $1::timestamptz - INTERVAL '1 hour',
                CASE WHEN i <= $2 THEN $1::timestamptz - INTERVAL '10 minutes' ELSE $1::timestamptz END, 10
         FROM generate_series(1, $3::int) i",
        &[&now, &(SILENT_DEVICES as i32), &(DEVICES as i32)],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO device_parts_current (device_id, part, family, ts, state, state_since, readings)
         SELECT 'dev-' || i, 'zone-1', 'fire', $1::timestamptz, CASE WHEN i % 50 = 0 THEN 'alarm' ELSE 'normal' END, $1::timestamptz, '{\"test_mode\": false}'::jsonb
         FROM generate_series(1, 200) i
         UNION ALL
         SELECT 'dev-' || i, '', 'lift', $1::timestamptz, CASE WHEN i % 10 = 0 THEN 'fault' ELSE 'normal' END, $1::timestamptz, '{}'::jsonb
         FROM generate_series(201, 250) i
         UNION ALL
         SELECT 'dev-' || i, 'door-' || d, 'door', $1::timestamptz, 'closed', $1::timestamptz, '{}'::jsonb
         FROM generate_series(251, 300) i, generate_series(1, 4) d",
        &[&now],
    )
    .await
    .unwrap();
    for (name, route) in [
        ("all", "{}"),
        ("escalations", "{\"severities\": [\"escalated\"]}"),
    ] {
        db.execute(
            "INSERT INTO alert_channels (name, kind, route, settings) VALUES ($1, 'webhook', $2::text::jsonb, '{\"kind\": \"webhook\", \"url\": \"http://127.0.0.1:9/\"}')",
            &[&name, &route],
        )
        .await
        .unwrap();
    }

    // The first look fires every alert of the states at once (and starts
    // the door cursor: the events below arrive after it).
    let mut ev = central::alert_watch::Evaluator::new();
    let clock = atrium_clock::system();
    let metrics = Arc::new(central::metrics::Metrics::new());
    let mut client = central.state.pool.get().await.unwrap();
    let open = || async {
        db.query_one("SELECT count(*) FROM alerts WHERE state <> 'resolved'", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let t = Instant::now();
    let queued = ev
        .evaluate(&mut client, &clock, &config.alerts, &metrics)
        .await
        .unwrap();
    let first = t.elapsed().as_secs_f64() * 1000.0;
    let fired_first = open().await;
    db.execute(
        "INSERT INTO device_events (ts, device_id, seq, site_id, kind, severity, ack_required, type, door, outcome, received_at)
         SELECT $1::timestamptz - INTERVAL '1 second' * i, 'dev-' || (251 + i % 50), i, 'hq', 'access',
                CASE WHEN i % 10 = 0 THEN 'critical' ELSE 'info' END, false, 'access', 'door-' || (1 + i % 4),
                CASE WHEN i % 10 = 0 THEN 'forced' ELSE 'granted' END, clock_timestamp() - INTERVAL '30 seconds'
         FROM generate_series(1, 1000) i",
        &[&now],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO zone_events (ts, event_id, camera_id, zone_id, kind, track, occupancy)
         SELECT $1::timestamptz - INTERVAL '24 milliseconds' * i, gen_random_uuid(), 'cam-' || (1 + i % 500), 'zone-1',
                CASE WHEN i % 50 = 0 THEN 'max_occupancy' WHEN i % 2 = 0 THEN 'entered' ELSE 'exited' END, i, 3
         FROM generate_series(1, 10000) i",
        &[&now],
    )
    .await
    .unwrap();
    // Received 30 s ago, after the cursor: door events are read once
    // they are 10 s old.
    db.execute(
        "UPDATE alert_cursors SET ts = ts - INTERVAL '1 minute'",
        &[],
    )
    .await
    .unwrap();
    let t = Instant::now();
    let queued_events = ev
        .evaluate(&mut client, &clock, &config.alerts, &metrics)
        .await
        .unwrap();
    let events_ms = t.elapsed().as_secs_f64() * 1000.0;
    let open = open().await;
    let mut steady = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        ev.evaluate(&mut client, &clock, &config.alerts, &metrics)
            .await
            .unwrap();
        steady.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let interval = config.alerts.every_ms as f64;
    let p50 = common::pct(&mut steady, 0.5);
    let p99 = common::pct(&mut steady, 0.99);
    println!("\nAlert evaluation ({CAMERAS} cameras, {DEVICES} devices, {open} open alerts)");
    println!("{}", common::machine());
    println!("| evaluation | ms | share of the {interval:.0} ms interval |");
    println!("|---|---|---|");
    println!(
        "| first look: {fired_first} alerts fired, {queued} notifications queued | {first:.0} | {:.1} % |",
        first / interval * 100.0
    );
    println!(
        "| 1000 door and 10 000 zone events arrive: {} more fired, {queued_events} queued | {events_ms:.0} | {:.1} % |",
        open - fired_first,
        events_ms / interval * 100.0
    );
    println!(
        "| steady state, p50 of {ROUNDS} | {p50:.0} | {:.1} % |",
        p50 / interval * 100.0
    );
    println!(
        "| steady state, p99 | {p99:.0} | {:.1} % |",
        p99 / interval * 100.0
    );
    drop(client);
    central.shutdown().await;
}
