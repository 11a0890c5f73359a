//! The building-systems page in a real Chromium against a real central,
//! with data published over the real broker: fire alarms on top and live,
//! power per meter and site worked out by hand, lifts, lighting, access
//! events without credentials for those who may not read personal data,
//! and axe-core finding no serious violation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use atrium_testkit::Chromedriver;
use atrium_testkit::webui::{click, log_in, open, wait_contains, wait_text, wait_visible};
use chrono::{DateTime, Utc};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use support::*;

fn point(ts: DateTime<Utc>, seq: u64, values: Value) -> Value {
    json!({"schema": 1, "ts": ts, "seq": seq, "values": values})
}

async fn choose(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_building_systems_page_shows_alarms_first_power_and_live_changes() {
    let stack = Stack::start().await;
    for (id, kind, parent) in [
        ("meter-main", "power_meter", None),
        ("meter-sub", "power_meter", Some("meter-main")),
        ("meter-idle", "power_meter", None),
        ("panel", "fire", None),
        ("lift-a", "lift", None),
        ("lights", "lighting", None),
        ("doors", "access", None),
    ] {
        stack.add_device(id, kind, parent).await;
    }
    let admin_pw = stack.add_user("ada", "admin").await;
    let viewer_pw = stack.add_user("vic", "viewer").await;
    let central = stack
        .start_central(stack.config_with("central", "", false))
        .await;
    let base = format!("http://{}", central.addr);

    // The last hour: 60 readings a minute apart; the main register grows
    // 1 kWh a minute (60 kW), the sub-meter's 0.25. By hand: 59 steps, so
    // 59 kWh on the main meter (and the site), 14.75 on the sub-meter,
    // 44.25 not on a sub-meter.
    let now = Utc::now();
    let first = now - chrono::Duration::minutes(60);
    for (id, per_minute, kw) in [("meter-main", 1.0, 60.0), ("meter-sub", 0.25, 15.0)] {
        let points: Vec<Value> = (0..60)
            .map(|k| {
                point(
                    first + chrono::Duration::minutes(k),
                    k as u64,
                    json!({"energy_import_kwh": 100.0 + per_minute * k as f64, "power_kw": kw}),
                )
            })
            .collect();
        for chunk in points.chunks(40) {
            stack
                .publish_device(id, "power_meter", "telemetry", &json!(chunk))
                .await;
        }
    }
    let minute_ago = now - chrono::Duration::minutes(1);
    stack
        .publish_device(
            "panel",
            "fire",
            "telemetry",
            &json!([
                point(minute_ago, 1, json!({"zone": "z1", "state": "normal"})),
                point(minute_ago, 2, json!({"zone": "z2", "state": "alarm"})),
                point(minute_ago, 3, json!({"zone": "z3", "state": "normal"})),
            ]),
        )
        .await;
    stack
        .publish_device(
            "lift-a",
            "lift",
            "telemetry",
            &json!(point(
                minute_ago,
                1,
                json!({"floor": 3, "mode": "fault", "door": "open", "trips": 42})
            )),
        )
        .await;
    stack
        .publish_device(
            "lights",
            "lighting",
            "telemetry",
            &json!(point(
                minute_ago,
                1,
                json!({"circuit": "atrium", "on": true, "level_percent": 80.0, "power_kw": 2.5})
            )),
        )
        .await;
    let hash = "ab12".repeat(16);
    stack.publish_device("doors",
        "access",
        "event",
        &json!({"schema": 1, "ts": minute_ago, "seq": 1, "severity": "warning",
                "event": {"type": "access", "data": {"door": "loading-dock", "outcome": "forced", "credential_hash": hash}}}),
    )
    .await;
    wait_until(Duration::from_secs(30), "everything stored", || async {
        stack.count("SELECT count(*) FROM power_readings").await == 120
            && stack
                .count("SELECT count(*) FROM device_parts_current")
                .await
                == 7
            && stack.count("SELECT count(*) FROM device_events").await == 1
    })
    .await;

    let driver = Chromedriver::start().await.unwrap();
    let admin = open(&driver, &base).await;
    log_in(&admin, "ada", &admin_pw).await;
    wait_text(&admin, "#whoami", "ada (admin)").await;
    click(&admin, "#nav-systems").await;
    wait_visible(&admin, "#systems-view").await;
    wait_contains(&admin, "#fire-banner", "ALARM in zone z2 (panel)").await;
    wait_contains(&admin, "#fire-zones tbody tr:first-child", "z2").await;
    wait_text(&admin, "#systems-fire-count", "1").await;
    wait_contains(&admin, "#lifts tbody tr[data-lift='lift-a']", "fault").await;
    wait_text(&admin, "#systems-lifts-count", "0/1").await;
    wait_contains(&admin, "#lighting tbody tr[data-circuit='atrium']", "80").await;
    wait_contains(&admin, "#access-events tbody", "forced open").await;
    wait_contains(&admin, "#access-events tbody", &hash[..12]).await;
    wait_contains(
        &admin,
        "#devices tbody tr[data-device='meter-idle']",
        "unknown",
    )
    .await;
    wait_text(&admin, "#systems-online", "6/7").await;
    wait_contains(&admin, "#meters tbody tr[data-meter='meter-main']", "60.0").await;
    wait_text(&admin, "#systems-power", "60.0 kW").await;
    // The site's main meters, per hour over 24 hours (the default).
    wait_contains(&admin, "#power-summary", "59.0 kWh imported").await;
    wait_visible(&admin, "#power-chart canvas").await;
    choose(&admin, "#power-meter option[value='meter-main']").await;
    click(&admin, "#power-filter button[type='submit']").await;
    wait_contains(
        &admin,
        "#power-summary",
        "of which 44.3 kWh not on a sub-meter",
    )
    .await;
    check_view(&admin, "admin-systems").await;

    // A zone goes into alarm: the page hears it and puts it on top.
    stack
        .publish_device(
            "panel",
            "fire",
            "telemetry",
            &json!(point(
                Utc::now(),
                4,
                json!({"zone": "z3", "state": "pre_alarm"})
            )),
        )
        .await;
    wait_contains(&admin, "#fire-banner", "pre-alarm in zone z3").await;
    wait_text(&admin, "#systems-fire-count", "2").await;
    admin.close().await.unwrap();

    // A viewer: the page, but no credential hashes.
    let viewer = open(&driver, &base).await;
    log_in(&viewer, "vic", &viewer_pw).await;
    wait_text(&viewer, "#whoami", "vic (viewer)").await;
    click(&viewer, "#nav-systems").await;
    wait_contains(&viewer, "#access-events tbody", "forced open").await;
    wait_contains(&viewer, "#access-events tbody", "hidden").await;
    let source = viewer.source().await.unwrap();
    assert!(
        !source.contains(&hash[..12]),
        "a viewer's page holds a credential hash"
    );
    check_view(&viewer, "viewer-systems").await;
    viewer.close().await.unwrap();
    central.shutdown().await;
}
