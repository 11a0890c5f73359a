//! Energy-management query benchmark: the `/api/v1/energy/*` reads over
//! one year of 100 meters (10 main meters with 9 sub-meters each) at
//! one-minute readings, in a site on Europe/London time with a
//! time-of-use tariff (two seasons, a demand charge), holidays, emission
//! factors and a supply contract, 20 cameras whose occupancy samples
//! cover the last 30 days (one a minute each, with their quarter-hour
//! rollups), a zone per sub-meter and
//! three targets.
//!
//! The data is what ingest leaves after a year with the default
//! retention: the quarter-hour, hour and local-day rollups for the whole
//! year (what every energy endpoint reads), written directly with SQL; the
//! minute rollups and raw readings (35 and 90 days) are read by none of
//! them and are not written. Each query runs `QUERIES` times through
//! HTTP; the table gives p50 and p99.
//!
//! `cargo bench -p central --bench energy`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

mod common;

use atrium_testkit::{Mosquitto, Postgres};

const MAINS: usize = 10;
const SUBS_PER_MAIN: usize = 9;
const CAMERAS: usize = 20;
const QUERIES: usize = 20;

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
    let db = pg.connect().await.unwrap();
    let tz = "Europe/London";
    db.execute(
        "INSERT INTO sites (id, name, timezone, floor_area_m2) VALUES ('hq', 'HQ', $1, 24000)",
        &[&tz],
    )
    .await
    .unwrap();
    let mut mains = Vec::new();
    let mut subs = Vec::new();
    for m in 0..MAINS {
        let id = format!("main-{m:02}");
        db.execute(
            "INSERT INTO devices (id, site_id, kind, name) VALUES ($1, 'hq', 'power_meter', $1)",
            &[&id],
        )
        .await
        .unwrap();
        for s in 0..SUBS_PER_MAIN {
            let sub = format!("sub-{m:02}-{s}");
            db.execute(
                "INSERT INTO devices (id, site_id, kind, name, parent_id) VALUES ($1, 'hq', 'power_meter', $1, $2)",
                &[&sub, &id],
            )
            .await
            .unwrap();
            subs.push(sub);
        }
        mains.push(id);
    }
    let meters: Vec<String> = mains.iter().chain(&subs).cloned().collect();
    let end = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let start = end - chrono::Duration::days(365);

    eprintln!("writing a year of rollups for {} meters", meters.len());
    let fill_started = Instant::now();
    // A main meter: 2.5 kWh a quarter hour by day on weekdays (07–19
    // local), 1 otherwise; a sub-meter a tenth of that.
    db.execute(
        "INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
         SELECT 'quarter', b, m,
                (CASE WHEN m LIKE 'main-%' THEN 1.0 ELSE 0.1 END) *
                (CASE WHEN extract(isodow FROM b AT TIME ZONE $4) < 6
                           AND extract(hour FROM b AT TIME ZONE $4) BETWEEN 7 AND 18 THEN 2.5 ELSE 1.0 END),
                0, 60.0, 15, 2.0, 12.0, 0
         FROM unnest($1::text[]) AS m,
              generate_series($2::timestamptz, $3::timestamptz - INTERVAL '15 minutes', INTERVAL '15 minutes') AS b",
        &[&meters, &start, &end, &tz],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
         SELECT 'hour', time_bucket(INTERVAL '1 hour', bucket), device_id, sum(import_kwh), 0, sum(power_sum_kw), sum(samples), min(power_min_kw), max(power_max_kw), 0
         FROM power_rollups WHERE resolution = 'quarter' GROUP BY 2, 3",
        &[],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
         SELECT 'day', date_trunc('day', bucket, $1), device_id, sum(import_kwh), 0, sum(power_sum_kw), sum(samples), min(power_min_kw), max(power_max_kw), 0
         FROM power_rollups WHERE resolution = 'quarter' GROUP BY 2, 3",
        &[&tz],
    )
    .await
    .unwrap();
    let quarter_rows: i64 = db
        .query_one(
            "SELECT count(*) FROM power_rollups WHERE resolution = 'quarter'",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    // Cameras, a zone each; each sub-meter supplies one zone.
    eprintln!("writing 30 days of occupancy for {CAMERAS} cameras");
    let cams: Vec<String> = (0..CAMERAS).map(|i| format!("cam-{i:02}")).collect();
    db.execute(
        "INSERT INTO cameras (id, site_id, name) SELECT c, 'hq', c FROM unnest($1::text[]) AS c",
        &[&cams],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO zones (camera_id, id, polygon) SELECT c, 'area', '[[0,0],[1,0],[1,1]]' FROM unnest($1::text[]) AS c",
        &[&cams],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO meter_zones (device_id, camera_id, zone_id)
         SELECT s, ($2::text[])[1 + (row_number() OVER () - 1) % array_length($2::text[], 1)], 'area' FROM unnest($1::text[]) AS s",
        &[&subs, &cams],
    )
    .await
    .unwrap();
    // People by day on weekdays, nobody at night and at weekends.
    db.execute(
        "INSERT INTO occupancy_samples (ts, event_id, camera_id, in_view, zones)
         SELECT ts, gen_random_uuid(), c, n, jsonb_build_array(jsonb_build_object('zone', 'area', 'count', n))
         FROM unnest($1::text[]) AS c,
              generate_series($2::timestamptz, $3::timestamptz - INTERVAL '1 minute', INTERVAL '1 minute') AS ts,
              LATERAL (SELECT CASE WHEN extract(isodow FROM ts AT TIME ZONE $4) < 6
                                    AND extract(hour FROM ts AT TIME ZONE $4) BETWEEN 8 AND 17
                                   THEN 3 + (extract(minute FROM ts)::int % 5) ELSE 0 END AS n) AS k",
        &[&cams, &(end - chrono::Duration::days(30)), &end, &tz],
    )
    .await
    .unwrap();
    // Their quarter-hour rollups, as ingest keeps them.
    db.batch_execute(
        "INSERT INTO occupancy_quarters (camera_id, bucket, samples, in_view_sum, in_view_max)
           SELECT camera_id, time_bucket(INTERVAL '15 minutes', ts), count(*), sum(in_view), max(in_view)
           FROM occupancy_samples GROUP BY 1, 2;
         INSERT INTO zone_quarters (camera_id, zone_id, bucket, samples, count_max)
           SELECT o.camera_id, e.value->>'zone', time_bucket(INTERVAL '15 minutes', o.ts), count(*), max((e.value->>'count')::bigint)
           FROM occupancy_samples o CROSS JOIN LATERAL jsonb_array_elements(o.zones) AS e GROUP BY 1, 2, 3;",
    )
    .await
    .unwrap();
    let samples: i64 = db
        .query_one("SELECT count(*) FROM occupancy_samples", &[])
        .await
        .unwrap()
        .get(0);

    // Tariff, holidays, factors, contract, targets.
    let tariff = serde_json::json!({
        "currency": "GBP", "standing_charge_per_day": 12.5,
        "seasons": [
            {"name": "winter", "from": "10-01", "to": "03-31", "bands": [
                {"name": "peak", "days": ["weekday"], "from": "16:00", "to": "19:00", "price_per_kwh": 0.42},
                {"name": "day", "days": ["weekday"], "from": "07:00", "to": "16:00", "price_per_kwh": 0.28},
                {"name": "evening", "days": ["weekday"], "from": "19:00", "to": "23:00", "price_per_kwh": 0.28},
                {"name": "night", "days": ["weekday"], "from": "23:00", "to": "07:00", "price_per_kwh": 0.14},
                {"name": "weekend", "days": ["weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": 0.18}]},
            {"name": "summer", "from": "04-01", "to": "09-30", "bands": [
                {"name": "day", "days": ["weekday"], "from": "07:00", "to": "23:00", "price_per_kwh": 0.25},
                {"name": "night", "days": ["weekday"], "from": "23:00", "to": "07:00", "price_per_kwh": 0.13},
                {"name": "weekend", "days": ["weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": 0.16}]}],
        "demand": {"price_per_kw": 8.75, "interval_minutes": 30, "days": ["weekday"], "from": "16:00", "to": "19:00"}
    });
    db.execute(
        "INSERT INTO tariffs (site_id, name, valid_from, definition) VALUES ('hq', 'TOU', '2000-01-01', $1)",
        &[&tariff],
    )
    .await
    .unwrap();
    db.batch_execute(
        "INSERT INTO holidays (site_id, day, name)
           SELECT 'hq', d::date, 'holiday' FROM generate_series(now() - INTERVAL '1 year', now(), INTERVAL '45 days') AS d;
         INSERT INTO emission_factors (site_id, year, location_kg_per_kwh, residual_mix_kg_per_kwh, source)
           SELECT 'hq', y, 0.2, 0.35, 'bench' FROM generate_series(2020, 2035) AS y;
         INSERT INTO supply_contracts (site_id, supplier, instrument, kg_per_kwh, covers_share, valid_from)
           VALUES ('hq', 'Wind', 'ppa', 0, 0.6, '2000-01-01');
         INSERT INTO energy_targets (site_id, name, metric, period_start, period_end, value)
           SELECT 'hq', m, m, (now() - INTERVAL '200 days')::date, (now() + INTERVAL '165 days')::date, 1e7
           FROM unnest(ARRAY['kwh', 'cost', 'kgco2e']) AS m;
         ANALYZE;",
    )
    .await
    .unwrap();
    let fill_s = fill_started.elapsed().as_secs_f64();

    let huge = 1_000_000_000u64;
    let limits = format!("[rate_limits]\nfacility_manager_per_minute = {huge}");
    let central = central::server::start(common::central_config(
        &pg,
        &broker,
        dir.path(),
        "energy",
        &limits,
    ))
    .await
    .unwrap();
    let token = common::token(&db, central.addr, "facility_manager").await;
    let http = reqwest::Client::new();
    let t = |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339().replace('+', "%2B");
    let year = format!("start_time={}&end_time={}", t(start), t(end));
    let days = |n: i64| {
        format!(
            "start_time={}&end_time={}",
            t(end - chrono::Duration::days(n)),
            t(end)
        )
    };
    let queries: Vec<(&str, &str, String)> = vec![
        (
            "current",
            "site now, meter tree",
            "current?site_id=hq".into(),
        ),
        (
            "history",
            "site, 12 months per month",
            format!("history?site_id=hq&interval=month&{year}"),
        ),
        (
            "history",
            "site, 365 days per day",
            format!("history?site_id=hq&interval=day&{year}"),
        ),
        (
            "history",
            "site, 52 weeks per week",
            format!("history?site_id=hq&interval=week&{year}"),
        ),
        (
            "history",
            "site, 7 days per hour",
            format!("history?site_id=hq&interval=hour&{}", days(7)),
        ),
        (
            "history",
            "one meter, 93 days per hour",
            format!("history?device_id=sub-03-4&interval=hour&{}", days(93)),
        ),
        (
            "cost",
            "site, 12 months per month (TOU + demand)",
            format!("cost?site_id=hq&interval=month&{year}"),
        ),
        (
            "cost",
            "site, 30 days per day",
            format!("cost?site_id=hq&interval=day&{}", days(30)),
        ),
        (
            "cost",
            "one meter, 30 days per day",
            format!("cost?device_id=sub-03-4&interval=day&{}", days(30)),
        ),
        (
            "carbon",
            "site, 12 months per month",
            format!("carbon?site_id=hq&interval=month&{year}"),
        ),
        (
            "kpis",
            "site, 30 days",
            format!("kpis?site_id=hq&{}", days(30)),
        ),
        (
            "kpis",
            "site, 7 days",
            format!("kpis?site_id=hq&{}", days(7)),
        ),
        (
            "baseline",
            "8 training weeks, 7 days explained",
            format!("baseline?site_id=hq&{}", days(7)),
        ),
        (
            "targets",
            "kWh, cost and CO2e targets, 200 days gone",
            "targets?site_id=hq".into(),
        ),
    ];
    let mut results = Vec::new();
    for (what, label, q) in &queries {
        let url = format!("http://{}/api/v1/energy/{q}", central.addr);
        let mut lat = Vec::new();
        for _ in 0..QUERIES {
            let t0 = Instant::now();
            let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(status, 200, "{url}: {body}");
            lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        results.push((
            *what,
            *label,
            common::pct(&mut lat, 0.5),
            common::pct(&mut lat, 0.99),
        ));
    }
    central.shutdown().await;

    println!(
        "\nEnergy benchmark: {} meters ({MAINS} main) × 365 days ({quarter_rows} quarter-hour rollups), {CAMERAS} cameras × 30 days ({samples} occupancy samples); written in {fill_s:.0} s",
        meters.len()
    );
    println!("{}\n", common::machine());
    println!("| endpoint | query | p50 | p99 |");
    println!("|---|---|---:|---:|");
    for (what, label, p50, p99) in results {
        println!("| {what} | {label} | {p50:.1} ms | {p99:.1} ms |");
    }
}
