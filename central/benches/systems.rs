//! Building-systems benchmark, in one run on one machine:
//!
//! 1. Telemetry ingest: `DEVICES` power meters (default 1000), each on its
//!    own TLS connection with its own certificate, through a real
//!    Mosquitto into central and TimescaleDB.
//!    - steady: one point per meter per second for `STEADY_S` seconds:
//!      points/s stored, and publish-to-commit latency sampled from the
//!      live `power_update` feed (central announces a meter's newest
//!      point after commit, at most every 5 s per meter);
//!    - burst: `BURST` points per meter as fast as the publishers go:
//!      first publish to last commit (rows, rollups and the parts'
//!      present, idempotent), beside a raw binary COPY of the same rows
//!      into a copy of `power_readings` (the ratio).
//! 2. `GET /api/v1/systems/power/readings` over 30 days of 100 meters at
//!    one-minute resolution (rollups written directly, 4.3 million
//!    minute rows): p50/p99 of one meter per day/hour/minute and of the
//!    site's main meters.
//!
//! `cargo bench -p central --bench systems [-- DEVICES]`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

mod common;

use atrium_testkit::{Mosquitto, Postgres};
use rumqttc::{AsyncClient, QoS};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

const STEADY_S: u64 = 30;
const BURST: usize = 30;
const METERS_30D: usize = 100;
const QUERIES: usize = 40;

fn main() {
    let devices: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(devices));
}

async fn stored(db: &tokio_postgres::Client) -> i64 {
    db.query_one("SELECT count(*) FROM power_readings", &[])
        .await
        .unwrap()
        .get(0)
}

async fn wait_stored(db: &tokio_postgres::Client, want: i64) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let n = stored(db).await;
        if n >= want {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "{n} of {want} stored in 900 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn bench(devices: usize) {
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
    let ids: Vec<String> = (0..devices).map(|i| format!("meter-{i:04}")).collect();
    db.execute(
        "INSERT INTO devices (id, site_id, kind, name) SELECT id, 'hq', 'power_meter', id FROM unnest($1::text[]) AS id",
        &[&ids],
    )
    .await
    .unwrap();
    let huge = 1_000_000_000u64;
    let limits = format!("[rate_limits]\nfacility_manager_per_minute = {huge}");
    let central = central::server::start(common::central_config(
        &pg,
        &broker,
        dir.path(),
        "systems",
        &limits,
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

    // One connection per meter, each with its certificate.
    eprintln!("connecting {devices} meters");
    let mut clients = Vec::with_capacity(devices);
    for id in &ids {
        let mut o = broker.options(id, &broker.identity(id).unwrap()).unwrap();
        o.set_inflight(100);
        let (client, mut el) = AsyncClient::new(o, 200);
        tokio::spawn(async move {
            loop {
                if let Err(e) = el.poll().await {
                    eprintln!("meter connection: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        });
        clients.push((id.clone(), client));
    }
    let publish = |k: usize, ts: chrono::DateTime<chrono::Utc>| {
        let clients = clients.clone();
        async move {
            for (id, c) in &clients {
                let p = serde_json::json!({"schema": 1, "ts": ts, "seq": k,
                    "values": {"energy_import_kwh": 1000.0 + k as f64 * 0.01, "power_kw": 36.0 + (k % 7) as f64}});
                c.publish(
                    format!("atrium/v1/hq/iot/power_meter/{id}/telemetry"),
                    QoS::AtLeastOnce,
                    false,
                    serde_json::to_vec(&p).unwrap(),
                )
                .await
                .unwrap();
            }
        }
    };

    // Steady: a point per meter per second; latencies sampled from the
    // live feed as each announcement arrives.
    eprintln!("steady: {devices} points/s for {STEADY_S} s");
    let mut live = central.state.live.subscribe();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut lat = Vec::new();
        loop {
            tokio::select! {
                e = live.recv() => match e {
                    Ok(e) if e.kind == "power_update" => lat.push(
                        (chrono::Utc::now() - e.ts).num_microseconds().unwrap_or(0) as f64 / 1000.0,
                    ),
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return lat,
                },
                _ = &mut stop_rx => return lat,
            }
        }
    });
    let steady_started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for k in 0..STEADY_S as usize {
        tick.tick().await;
        publish(k, chrono::Utc::now()).await;
    }
    let steady_points = (devices * STEADY_S as usize) as i64;
    let steady_done = wait_stored(&db, steady_points).await;
    let steady_rate = steady_points as f64 / (steady_done - steady_started).as_secs_f64();
    stop_tx.send(()).unwrap();
    let mut lat = sampler.await.unwrap();
    let (p50, p99) = (common::pct(&mut lat, 0.5), common::pct(&mut lat, 0.99));

    // Burst: BURST points per meter as fast as possible, timestamps in the
    // past (a gateway's backlog after an outage).
    eprintln!("burst: {BURST} points per meter");
    let before = stored(&db).await;
    let base = chrono::Utc::now() - chrono::Duration::hours(2);
    let burst_started = Instant::now();
    for b in 0..BURST {
        publish(10_000 + b, base + chrono::Duration::seconds(b as i64)).await;
    }
    let burst_points = (devices * BURST) as i64;
    let burst_done = wait_stored(&db, before + burst_points).await;
    let burst_s = (burst_done - burst_started).as_secs_f64();
    let burst_rate = burst_points as f64 / burst_s;
    central.shutdown().await;

    // Raw binary COPY of the burst's rows into a copy of the table.
    db.batch_execute(
        "CREATE TABLE power_copy (LIKE power_readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
         SELECT create_hypertable('power_copy', by_range('ts', INTERVAL '1 day'));",
    )
    .await
    .unwrap();
    let rows = db
        .query(
            "SELECT ts, device_id, seq, energy_import_kwh, power_kw FROM power_readings WHERE ts < $1",
            &[&(base + chrono::Duration::seconds(BURST as i64))],
        )
        .await
        .unwrap();
    assert_eq!(rows.len() as i64, burst_points);
    let copy_started = Instant::now();
    let sink = db
        .copy_in(
            "COPY power_copy (ts, device_id, seq, energy_import_kwh, power_kw) FROM STDIN BINARY",
        )
        .await
        .unwrap();
    let w = BinaryCopyInWriter::new(
        sink,
        &[
            Type::TIMESTAMPTZ,
            Type::TEXT,
            Type::INT8,
            Type::FLOAT8,
            Type::FLOAT8,
        ],
    );
    futures::pin_mut!(w);
    for r in &rows {
        let row: (
            chrono::DateTime<chrono::Utc>,
            String,
            i64,
            Option<f64>,
            Option<f64>,
        ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        w.as_mut()
            .write(&[&row.0, &row.1, &row.2, &row.3, &row.4])
            .await
            .unwrap();
    }
    w.finish().await.unwrap();
    let copy_rate = burst_points as f64 / copy_started.elapsed().as_secs_f64();

    // 30 days of 100 meters at one-minute resolution: the rollups as
    // ingest would have left them (minute, hour, day), written directly.
    eprintln!("writing 30 days of rollups for {METERS_30D} meters");
    let meters: Vec<String> = (0..METERS_30D).map(|i| format!("hist-{i:03}")).collect();
    db.execute(
        "INSERT INTO devices (id, site_id, kind, name) SELECT id, 'hq', 'power_meter', id FROM unnest($1::text[]) AS id",
        &[&meters],
    )
    .await
    .unwrap();
    let fill_started = Instant::now();
    let end = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let start = end - chrono::Duration::days(30);
    db.execute(
        "INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
         SELECT 'minute', b, m, 0.5 + (extract(hour FROM b) BETWEEN 8 AND 17)::int, 0, 60.0, 2, 20.0, 40.0, 0
         FROM unnest($1::text[]) AS m, generate_series($2::timestamptz, $3::timestamptz - INTERVAL '1 minute', INTERVAL '1 minute') AS b",
        &[&meters, &start, &end],
    )
    .await
    .unwrap();
    for (res, width) in [("hour", "1 hour"), ("day", "1 day")] {
        db.execute(
            &format!(
                "INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
                 SELECT '{res}', time_bucket(INTERVAL '{width}', bucket), device_id, sum(import_kwh), sum(export_kwh), sum(power_sum_kw), sum(samples), min(power_min_kw), max(power_max_kw), sum(resets)
                 FROM power_rollups WHERE resolution = 'minute' AND device_id LIKE 'hist-%' GROUP BY 2, 3"
            ),
            &[],
        )
        .await
        .unwrap();
    }
    db.batch_execute("ANALYZE power_rollups").await.unwrap();
    let fill_s = fill_started.elapsed().as_secs_f64();
    let minute_rows: i64 = db
        .query_one(
            "SELECT count(*) FROM power_rollups WHERE resolution = 'minute' AND device_id LIKE 'hist-%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    // Queries through the API (a central with the history's site).
    db.execute("DELETE FROM devices WHERE id LIKE 'meter-%'", &[])
        .await
        .unwrap();
    let central = central::server::start(common::central_config(
        &pg,
        &broker,
        dir.path(),
        "systems-api",
        &limits,
    ))
    .await
    .unwrap();
    let token = common::token(&db, central.addr, "facility_manager").await;
    let http = reqwest::Client::new();
    let t = |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339().replace('+', "%2B");
    let queries: Vec<(String, String)> = vec![
        (
            "one meter, 30 days per day".into(),
            format!(
                "device_id=hist-042&interval=day&start_time={}&end_time={}",
                t(start),
                t(end)
            ),
        ),
        (
            "one meter, 30 days per hour".into(),
            format!(
                "device_id=hist-042&interval=hour&start_time={}&end_time={}",
                t(start),
                t(end)
            ),
        ),
        (
            "one meter, 2 days per minute".into(),
            format!(
                "device_id=hist-042&interval=minute&start_time={}&end_time={}",
                t(end - chrono::Duration::days(2)),
                t(end)
            ),
        ),
        (
            "site (100 main meters), 30 days per day".into(),
            format!(
                "site_id=hq&interval=day&start_time={}&end_time={}",
                t(start),
                t(end)
            ),
        ),
        (
            "site (100 main meters), 24 hours per hour".into(),
            format!(
                "site_id=hq&interval=hour&start_time={}&end_time={}",
                t(end - chrono::Duration::days(1)),
                t(end)
            ),
        ),
    ];
    let mut results = Vec::new();
    for (what, q) in &queries {
        let url = format!("http://{}/api/v1/systems/power/readings?{q}", central.addr);
        let mut lat = Vec::new();
        let mut buckets = 0;
        for _ in 0..QUERIES {
            let t0 = Instant::now();
            let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
            let body: serde_json::Value = r.json().await.unwrap();
            lat.push(t0.elapsed().as_secs_f64() * 1000.0);
            buckets = body["data"].as_array().unwrap().len();
        }
        results.push((
            what.clone(),
            buckets,
            common::pct(&mut lat, 0.5),
            common::pct(&mut lat, 0.99),
        ));
    }
    central.shutdown().await;

    println!(
        "\nBuilding-systems benchmark: {devices} power meters, each on its own TLS connection"
    );
    println!("{}\n", common::machine());
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| steady: {devices} points/s offered for {STEADY_S} s, stored | **{steady_rate:.0} points/s** |"
    );
    println!(
        "| publish-to-commit latency, sampled from power_update ({} samples) p50 / p99 | {p50:.1} / **{p99:.1}** ms |",
        lat.len()
    );
    println!(
        "| burst: {burst_points} points ({BURST} per meter) first publish to last commit | {burst_s:.2} s, **{burst_rate:.0} points/s** |"
    );
    println!(
        "| raw binary COPY of the same rows into a copy of power_readings | **{copy_rate:.0} points/s** |"
    );
    println!(
        "| **ratio ingest / COPY** | **{:.2}** |",
        burst_rate / copy_rate
    );
    println!(
        "\n`GET /api/v1/systems/power/readings`, {METERS_30D} meters × 30 days at one-minute resolution ({minute_rows} minute rows, written in {fill_s:.0} s), {QUERIES} requests each:\n"
    );
    println!("| query | buckets | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (what, buckets, p50, p99) in results {
        println!("| {what} | {buckets} | {p50:.1} ms | {p99:.1} ms |");
    }
}
