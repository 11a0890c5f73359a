//! The two hot read paths under load from `wrk`: the unauthenticated,
//! polled `GET /health` and `GET /api/v1/counting/current` (answered from
//! the in-memory counting view), on a central of their own: a private
//! PostgreSQL + TimescaleDB and Mosquitto, ten cameras with two lines
//! each and a day of minute rollups, nothing else running.
//!
//! `cargo bench -p central --bench api [-- SECONDS]` (default 10 per
//! measurement; needs `wrk`, which scripts/setup installs). Each path is
//! measured twice with 2 wrk threads: flat out with 8 connections (the
//! most it serves) and paced near 1 000 requests/s, the load the latency
//! targets are set for (12 connections, each waiting 10 ms before each
//! request: a little under 1 000/s, since a request's own time adds to
//! the wait; the table gives the rate achieved).
//! The bench user's rate-limit budget is raised for the run (a real
//! integration polling this fast gets an API key with its own budget).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

mod common;

use atrium_testkit::{Mosquitto, Postgres};

const CAMERAS: usize = 10;
const CONNECTIONS: usize = 8;
/// Paced: connections, and each one's wait before a request.
const PACED_CONNECTIONS: usize = 12;
const PACED_DELAY_MS: u64 = 10;

fn main() {
    let secs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(Duration::from_secs(secs)));
}

/// What wrk said: requests/s, latency p50/p99 in ms, non-2xx answers.
struct Load {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

/// wrk prints latencies as "1.23ms", "456.00us" or "1.02s".
fn millis(s: &str) -> f64 {
    let (n, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap());
    let n: f64 = n.parse().unwrap();
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        other => panic!("wrk latency unit {other}"),
    }
}

fn wrk(url: &str, token: Option<&str>, d: Duration, paced: bool, dir: &std::path::Path) -> Load {
    let script = dir.join(if paced { "paced.lua" } else { "flat.lua" });
    let mut lua = String::new();
    if let Some(t) = token {
        lua.push_str(&format!(
            "wrk.headers[\"Authorization\"] = \"Bearer {t}\"\n"
        ));
    }
    if paced {
        lua.push_str(&format!("function delay() return {PACED_DELAY_MS} end\n"));
    }
    std::fs::write(&script, lua).unwrap();
    let out = Command::new("wrk")
        .args(["-t2", "--latency"])
        .arg(format!(
            "-c{}",
            if paced {
                PACED_CONNECTIONS
            } else {
                CONNECTIONS
            }
        ))
        .arg(format!("-d{}s", d.as_secs()))
        .arg("-s")
        .arg(&script)
        .arg(url)
        .output()
        .expect("wrk (scripts/setup installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {text}");
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| {
                l[prefix.len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned()
            })
    };
    Load {
        rps: field("Requests/sec:").unwrap().parse().unwrap(),
        p50: millis(&field("50%").unwrap()),
        p99: millis(&field("99%").unwrap()),
        errors: field("Non-2xx or 3xx responses:").map_or(0, |n| n.parse().unwrap()),
    }
}

async fn bench(d: Duration) {
    let (pg, broker) = tokio::join!(Postgres::start(), Mosquitto::start());
    let (pg, broker) = (pg.unwrap(), broker.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let db = pg.connect().await.unwrap();
    db.batch_execute("INSERT INTO sites (id, name) VALUES ('hq', 'HQ')")
        .await
        .unwrap();
    for c in 0..CAMERAS {
        let cam = format!("cam-{c}");
        db.execute(
            "INSERT INTO cameras (id, site_id, name) VALUES ($1, 'hq', $1)",
            &[&cam],
        )
        .await
        .unwrap();
        // Two lines, and today's minute rollups so far (some crossings a
        // minute): the view sums them at load.
        db.execute(
            "INSERT INTO lines (camera_id, id, a_x, a_y, b_x, b_y, in_side)
             VALUES ($1, 'door', 0.1, 0.5, 0.9, 0.5, 'left'), ($1, 'stairs', 0.5, 0.1, 0.5, 0.9, 'right')",
            &[&cam],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO crossing_rollups (resolution, bucket, camera_id, line_id, in_count, out_count)
             SELECT 'minute', b, $1, l, (extract(minute FROM b)::int % 7), (extract(minute FROM b)::int % 5)
             FROM generate_series(date_trunc('day', now()), now(), INTERVAL '1 minute') AS b,
                  unnest(ARRAY['door', 'stairs']) AS l",
            &[&cam],
        )
        .await
        .unwrap();
    }
    let huge = 1_000_000_000u64;
    let limits =
        format!("[rate_limits]\nanonymous_per_minute = {huge}\nviewer_per_minute = {huge}");
    let central = central::server::start(common::central_config(
        &pg,
        &broker,
        dir.path(),
        "api",
        &limits,
    ))
    .await
    .unwrap();
    let token = common::token(&db, central.addr, "viewer").await;
    let http = reqwest::Client::new();
    let current = format!("http://{}/api/v1/counting/current", central.addr);
    // The answer is the seeded day, and it comes from the view.
    let body: serde_json::Value = http
        .get(&current)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cameras = body["data"].as_array().unwrap();
    assert_eq!(cameras.len(), CAMERAS, "{body}");
    let health = format!("http://{}/health", central.addr);
    let status = http.get(&health).send().await.unwrap().status();
    assert!(status.is_success(), "/health answered {status}");

    println!(
        "\nRead paths under wrk (2 threads), {} s each; central alone, {CAMERAS} cameras",
        d.as_secs()
    );
    println!("{}\n", common::machine());
    println!("| route | load | requests/s | p50 ms | p99 ms | non-2xx |");
    println!("|---|---|---:|---:|---:|---:|");
    let dir = dir.path().to_owned();
    let rows = [
        ("GET /health", health.as_str(), None),
        (
            "GET /api/v1/counting/current",
            current.as_str(),
            Some(token.as_str()),
        ),
    ];
    for (name, url, token) in rows {
        for paced in [false, true] {
            let (url, token, dir) = (url.to_owned(), token.map(str::to_owned), dir.clone());
            let l =
                tokio::task::spawn_blocking(move || wrk(&url, token.as_deref(), d, paced, &dir))
                    .await
                    .unwrap();
            println!(
                "| `{name}` | {} | {:.0} | {:.2} | **{:.2}** | {} |",
                if paced {
                    format!("paced: {PACED_CONNECTIONS} connections, {PACED_DELAY_MS} ms apart")
                } else {
                    format!("flat out: {CONNECTIONS} connections")
                },
                l.rps,
                l.p50,
                l.p99,
                l.errors
            );
        }
    }
    central.shutdown().await;
}
