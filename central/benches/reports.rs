//! Report benchmark: the monthly report of a site with 20 cameras and 100
//! power meters (10 main meters with 9 sub-meters each), gathered from the
//! database and exported in each format.
//!
//! Data for the last two calendar months (the report's and the one it is
//! compared with), written directly with SQL as ingest leaves it: per
//! camera 2 lines with 1 500 crossings a day, an occupancy sample a
//! minute, a status heartbeat a minute, 400 zone events and 150 face
//! decisions a day; 10 alerts a day; 50 door events a day; quarter-hour
//! energy rollups of every meter with a time-of-use tariff, emission
//! factors and a target. The table gives seconds per step and the
//! process's peak resident memory during it (the high-water mark reset
//! before each step through `/proc/self/clear_refs`).
//!
//! `cargo bench -p central --bench reports`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use atrium_testkit::Postgres;
use central::reports::gather::Request;
use central::reports::period::{Kind, Period};
use central::reports::{self, Format, SectionKey};
use chrono::{Datelike, Months, NaiveDate};

const CAMERAS: usize = 20;
const MAINS: usize = 10;
const SUBS_PER_MAIN: usize = 9;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

/// Peak resident memory since the last reset, in MiB.
fn peak_mib() -> f64 {
    // Without /proc there is no figure: the table prints NaN for it.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn reset_peak() {
    // "5" resets the peak RSS (Linux 4.0+); without it the figure is the
    // process's peak so far, which the table then says.
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!("(could not reset the peak: figures are cumulative)");
    }
}

async fn bench() {
    let pg = Postgres::start().await.unwrap();
    let db = central::store::connect(&pg.url()).await.unwrap();
    let tz = "Europe/London";
    let today = chrono::Utc::now().date_naive();
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap();
    let report_month = this_month - Months::new(1);
    let data_from = report_month - Months::new(1);
    let (start, end) = (
        data_from.and_hms_opt(0, 0, 0).unwrap().and_utc(),
        this_month.and_hms_opt(0, 0, 0).unwrap().and_utc(),
    );
    eprintln!(
        "writing {data_from} to {this_month} for {CAMERAS} cameras and {} meters",
        MAINS * (1 + SUBS_PER_MAIN)
    );
    let fill = Instant::now();
    db.execute(
        "INSERT INTO sites (id, name, timezone) VALUES ('hq', 'HQ', $1)",
        &[&tz],
    )
    .await
    .unwrap();
    let cams: Vec<String> = (0..CAMERAS).map(|i| format!("cam-{i:02}")).collect();
    db.execute(
        "INSERT INTO cameras (id, site_id, name) SELECT c, 'hq', 'Camera ' || c FROM unnest($1::text[]) AS c;",
        &[&cams],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO lines (camera_id, id, name, a_x, a_y, b_x, b_y, in_side)
         SELECT c, l, 'Door ' || l, 0.1, 0.5, 0.9, 0.5, 'left' FROM unnest($1::text[]) AS c, unnest(ARRAY['l1', 'l2']) AS l",
        &[&cams],
    )
    .await
    .unwrap();
    // Crossings spread over the day, most by day.
    db.execute(
        "INSERT INTO line_crossings (ts, event_id, camera_id, line_id, direction, track)
         SELECT d + (((i * 7919) % 86400) * INTERVAL '1 second'), gen_random_uuid(), c, l,
                CASE WHEN i % 2 = 0 THEN 'in' ELSE 'out' END, i
         FROM unnest($1::text[]) AS c, unnest(ARRAY['l1', 'l2']) AS l,
              generate_series($2::timestamptz, $3::timestamptz - INTERVAL '1 day', INTERVAL '1 day') AS d,
              generate_series(1, 750) AS i",
        &[&cams, &start, &end],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO occupancy_samples (ts, event_id, camera_id, in_view, zones)
         SELECT ts, gen_random_uuid(), c, (extract(minute FROM ts)::int % 7), '[]'
         FROM unnest($1::text[]) AS c,
              generate_series($2::timestamptz, $3::timestamptz - INTERVAL '1 minute', INTERVAL '1 minute') AS ts",
        &[&cams, &start, &end],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO camera_status_history (ts, camera_id, state)
         SELECT ts, c, CASE WHEN extract(hour FROM ts) = 3 AND c = 'cam-00' THEN 'offline' ELSE 'online' END
         FROM unnest($1::text[]) AS c,
              generate_series($2::timestamptz, $3::timestamptz - INTERVAL '1 minute', INTERVAL '1 minute') AS ts",
        &[&cams, &start, &end],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO zones (camera_id, id, name, polygon) SELECT c, 'area', 'Area', '[[0,0],[1,0],[1,1]]' FROM unnest($1::text[]) AS c",
        &[&cams],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO zone_events (ts, event_id, camera_id, zone_id, kind, track, dwell_s, occupancy)
         SELECT d + (((i * 613) % 86400) * INTERVAL '1 second'), gen_random_uuid(), c, 'area',
                (ARRAY['entered', 'exited', 'exited', 'max_occupancy'])[1 + i % 4], i, (i % 300)::float8, 3
         FROM unnest($1::text[]) AS c,
              generate_series($2::timestamptz, $3::timestamptz - INTERVAL '1 day', INTERVAL '1 day') AS d,
              generate_series(1, 400) AS i",
        &[&cams, &start, &end],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO face_recognitions (ts, id, site_id, camera_id, track, status, confidence, observations, best_face_event_id)
         SELECT d + (((i * 331) % 86400) * INTERVAL '1 second'), gen_random_uuid(), 'hq', c, i,
                CASE WHEN i % 3 = 0 THEN 'unknown' ELSE 'recognized' END, 0.7, 3, gen_random_uuid()
         FROM unnest($1::text[]) AS c,
              generate_series($2::timestamptz, $3::timestamptz - INTERVAL '1 day', INTERVAL '1 day') AS d,
              generate_series(1, 150) AS i",
        &[&cams, &start, &end],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO alerts (rule, site_id, subject_kind, subject_id, state, severity, first_seen, fired_at, updated_at, body)
         SELECT 'camera_offline', 'hq', 'camera', 'cam-' || lpad((i % 20)::text, 2, '0'), 'resolved',
                CASE WHEN i % 4 = 0 THEN 'critical' ELSE 'warning' END, t, t, t + INTERVAL '20 minutes',
                jsonb_build_object('summary', 'camera offline', 'acknowledged',
                    CASE WHEN i % 2 = 0 THEN jsonb_build_object('by', 'ada', 'at', t + INTERVAL '7 minutes') END,
                    'resolved', jsonb_build_object('at', t + INTERVAL '20 minutes'))
         FROM generate_series(1, 600) AS i, LATERAL (SELECT $1::timestamptz + i * INTERVAL '2 hours 20 minutes' AS t) x",
        &[&start],
    )
    .await
    .unwrap();
    let mut meters = Vec::new();
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
            meters.push(sub);
        }
        meters.push(id);
    }
    db.batch_execute(
        "INSERT INTO devices (id, site_id, kind, name) VALUES ('door-1', 'hq', 'access', 'Front door');",
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO device_events (ts, device_id, seq, site_id, kind, severity, ack_required, type, door, outcome)
         SELECT d + (i * INTERVAL '25 minutes'), 'door-1', i + extract(epoch FROM d)::bigint, 'hq',
                CASE WHEN i % 10 = 0 THEN 'door_forced' ELSE 'access_granted' END,
                CASE WHEN i % 10 = 0 THEN 'critical' ELSE 'info' END, false,
                CASE WHEN i % 10 = 0 THEN 'alarm' ELSE 'access' END, 'front', 'granted'
         FROM generate_series($1::timestamptz, $2::timestamptz - INTERVAL '1 day', INTERVAL '1 day') AS d,
              generate_series(1, 50) AS i",
        &[&start, &end],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
         SELECT 'quarter', b, m,
                (CASE WHEN m LIKE 'main-%' THEN 1.0 ELSE 0.1 END) *
                (CASE WHEN extract(hour FROM b AT TIME ZONE $4) BETWEEN 7 AND 18 THEN 2.5 ELSE 1.0 END),
                0, 60.0, 15, 2.0, 12.0, 0
         FROM unnest($1::text[]) AS m,
              generate_series($2::timestamptz, $3::timestamptz - INTERVAL '15 minutes', INTERVAL '15 minutes') AS b",
        &[&meters, &start, &end, &tz],
    )
    .await
    .unwrap();
    let tariff = serde_json::json!({
        "currency": "GBP", "standing_charge_per_day": 12.5,
        "seasons": [{"name": "all", "from": "01-01", "to": "12-31", "bands": [
            {"name": "day", "days": ["weekday"], "from": "07:00", "to": "19:00", "price_per_kwh": 0.28},
            {"name": "night", "days": ["weekday"], "from": "19:00", "to": "07:00", "price_per_kwh": 0.14},
            {"name": "weekend", "days": ["weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": 0.18}]}],
        "demand": {"price_per_kw": 8.75, "interval_minutes": 30, "days": ["weekday"], "from": "16:00", "to": "19:00"}
    });
    db.execute(
        "INSERT INTO tariffs (site_id, name, valid_from, definition) VALUES ('hq', 'TOU', '2000-01-01', $1)",
        &[&tariff],
    )
    .await
    .unwrap();
    db.batch_execute(
        "INSERT INTO emission_factors (site_id, year, location_kg_per_kwh, residual_mix_kg_per_kwh, source)
           SELECT 'hq', y, 0.2, 0.35, 'bench' FROM generate_series(2020, 2035) AS y;
         INSERT INTO energy_targets (site_id, name, metric, period_start, period_end, value)
           SELECT 'hq', m, m, (now() - INTERVAL '200 days')::date, (now() + INTERVAL '165 days')::date, 1e7
           FROM unnest(ARRAY['kwh', 'cost', 'kgco2e']) AS m;
         ANALYZE;",
    )
    .await
    .unwrap();
    let crossings: i64 = db
        .query_one("SELECT count(*) FROM line_crossings", &[])
        .await
        .unwrap()
        .get(0);
    let fill_s = fill.elapsed().as_secs_f64();
    eprintln!("{crossings} crossings and the rest written in {fill_s:.0} s");

    let req = Request {
        site: "hq".into(),
        period: Period::containing(Kind::Monthly, report_month).unwrap(),
        sections: SectionKey::ALL.to_vec(),
        include_persons: false,
    };
    let mut rows: Vec<(String, f64, f64, String)> = Vec::new();
    // The first gather warms PostgreSQL's caches; the second is measured.
    reports::gather::report(&db, &req, chrono::Utc::now())
        .await
        .unwrap();
    reset_peak();
    let t = Instant::now();
    let data = reports::gather::report(&db, &req, chrono::Utc::now())
        .await
        .unwrap();
    rows.push((
        "gather (SQL, all six sections)".into(),
        t.elapsed().as_secs_f64(),
        peak_mib(),
        format!(
            "{} table rows",
            data.sections
                .iter()
                .flat_map(|s| &s.tables)
                .map(|t| t.rows.len())
                .sum::<usize>()
        ),
    ));
    for format in [Format::Pdf, Format::Excel, Format::Csv] {
        // The first PDF also parses the fonts (once per process): measured
        // as it comes, then again warm.
        for run in ["", " (again)"] {
            if format != Format::Pdf && !run.is_empty() {
                continue;
            }
            reset_peak();
            let t = Instant::now();
            let bytes = reports::export(&data, format).unwrap();
            rows.push((
                format!("export {}{run}", format.as_str()),
                t.elapsed().as_secs_f64(),
                peak_mib(),
                format!("{} KiB", bytes.len() / 1024),
            ));
        }
    }
    println!();
    println!(
        "Monthly report, {CAMERAS} cameras, {} meters, {report_month} (data written in {fill_s:.0} s)",
        MAINS * (1 + SUBS_PER_MAIN)
    );
    println!("| step | seconds | peak RSS (MiB) | output |");
    println!("|---|---:|---:|---|");
    for (step, s, mib, out) in rows {
        println!("| {step} | {s:.2} | {mib:.0} | {out} |");
    }
}
