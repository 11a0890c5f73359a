//! What the rate limiter costs: the same routes of two centrals on one
//! database in the same run, one limiting (budgets so large that every
//! request passes, so each is counted, not refused) and one with
//! `rate_limits.enabled = false`, measured alternately (the order flipped each round).
//!
//! `cargo bench -p central --bench rate_limit [-- SECONDS]` (default 5 per
//! measurement). Prints requests/s for an anonymous `GET /api/v1/auth/me`
//! (401 without touching the database: the limiter's share is largest
//! there) and an authenticated one (a token checked against the
//! database), 32 requests in flight, and the cost of one budget check on
//! its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;

use atrium_testkit::{Mosquitto, Postgres};

const IN_FLIGHT: usize = 32;

fn main() {
    let secs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(Duration::from_secs(secs)));
}

/// Requests/s of `GET url` with `token` (or none) for `d`.
async fn load(url: String, token: Option<String>, d: Duration) -> f64 {
    let client = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + d;
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (client, url, token, done) = (client.clone(), url.clone(), token.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let mut req = client.get(&url);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                assert!(
                    status == 200 || status == 401,
                    "status {status}: a budget ran out"
                );
                r.bytes().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn bench(d: Duration) {
    let (pg, broker) = tokio::join!(Postgres::start(), Mosquitto::start());
    let (pg, broker) = (pg.unwrap(), broker.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let huge = 1_000_000_000u32;
    let on = format!(
        "anonymous_per_minute = {huge}\nsuper_admin_per_minute = {huge}\nlogin_per_minute = {huge}"
    );
    let limited = central::server::start(common::central_config(
        &pg,
        &broker,
        dir.path(),
        "on",
        &format!("[rate_limits]\n{on}"),
    ))
    .await
    .unwrap();
    let unlimited = central::server::start(common::central_config(
        &pg,
        &broker,
        dir.path(),
        "off",
        "[rate_limits]\nenabled = false",
    ))
    .await
    .unwrap();
    let db = pg.connect().await.unwrap();
    let token = common::token(&db, limited.addr, "super_admin").await;

    println!(
        "rate limiter overhead, {IN_FLIGHT} requests in flight, {} s per measurement, alternating",
        d.as_secs()
    );
    println!("{}", common::machine());
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "route", "limited/s", "unlimited/s", "ratio"
    );
    for (name, auth) in [
        ("GET /api/v1/auth/me, anonymous (401)", None),
        (
            "GET /api/v1/auth/me, bearer token (200)",
            Some(token.clone()),
        ),
    ] {
        let (mut with, mut without) = (Vec::new(), Vec::new());
        // Warm up both, then alternate so drift hits both alike.
        load(
            format!("http://{}/api/v1/auth/me", limited.addr),
            auth.clone(),
            d / 5,
        )
        .await;
        load(
            format!("http://{}/api/v1/auth/me", unlimited.addr),
            auth.clone(),
            d / 5,
        )
        .await;
        // Four rounds, the order flipped each round.
        let on = format!("http://{}/api/v1/auth/me", limited.addr);
        let off = format!("http://{}/api/v1/auth/me", unlimited.addr);
        for round in 0..4 {
            if round % 2 == 0 {
                with.push(load(on.clone(), auth.clone(), d).await);
                without.push(load(off.clone(), auth.clone(), d).await);
            } else {
                without.push(load(off.clone(), auth.clone(), d).await);
                with.push(load(on.clone(), auth.clone(), d).await);
            }
        }
        let w = with.iter().sum::<f64>() / with.len() as f64;
        let wo = without.iter().sum::<f64>() / without.len() as f64;
        println!("{name:<44} {w:>12.0} {wo:>12.0} {:>8.3}", w / wo);
    }

    // One budget check on its own (the limiter's in-process cost).
    let limits = central::rate_limit::RateLimits::new(
        &central::config::RateLimitSection {
            super_admin_per_minute: huge,
            ..Default::default()
        },
        &atrium_clock::system(),
    );
    let who = central::rate_limit::Who::User(uuid::Uuid::now_v7());
    let n = 1_000_000;
    let started = Instant::now();
    for _ in 0..n {
        std::hint::black_box(limits.check(who, Some(central::auth::Role::SuperAdmin), None));
    }
    println!(
        "{:<44} {:>12.0} ns per check",
        "RateLimits::check (one caller, in process)",
        started.elapsed().as_nanos() as f64 / f64::from(n)
    );
    limited.shutdown().await;
    unlimited.shutdown().await;
}
