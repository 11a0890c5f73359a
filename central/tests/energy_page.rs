//! The energy page in a real Chromium against a real central, with meter
//! readings published over the real broker: power now and live, the
//! meter tree with its unmetered remainder, energy and cost of the last 7
//! days worked out by hand, targets (added through the page's form),
//! tariffs, forms hidden from a viewer, and axe-core finding no serious
//! violation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use atrium_testkit::Chromedriver;
use atrium_testkit::webui::{click, log_in, open, wait_contains, wait_text, wait_visible};
use chrono::{DateTime, Utc};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use support::*;

/// Two readings 13 minutes apart in the quarter hour from `q`: the
/// register grows by `kwh` between them.
fn burst(q: DateTime<Utc>, seq: &mut u64, register: &mut f64, kwh: f64) -> Vec<Value> {
    let mut out = Vec::new();
    for (minute, add) in [(1, 0.0), (14, kwh)] {
        *register += add;
        *seq += 1;
        out.push(
            json!({"schema": 1, "ts": q + chrono::Duration::minutes(minute), "seq": *seq,
                        "values": {"energy_import_kwh": *register}}),
        );
    }
    out
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_energy_page_shows_power_energy_cost_and_targets() {
    let stack = Stack::start().await;
    stack.add_device("main", "power_meter", None).await;
    stack.add_device("sub", "power_meter", Some("main")).await;
    let fm_pw = stack.add_user("fiona", "facility_manager").await;
    let viewer_pw = stack.add_user("vic", "viewer").await;
    let central = stack
        .start_central(stack.config_with("central", "", false))
        .await;
    let base = format!("http://{}", central.addr);

    // Yesterday (UTC, the site's zone) from 10:00: the main meter 10 kWh
    // in the 10:00 quarter and 10 in the 11:00 one, the sub-meter 4 at
    // 10:00. Then the main meter's power now: 42 kW.
    let yesterday = (Utc::now() - chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_utc();
    let (mut seq, mut reg) = (0, 500.0);
    let mut main = burst(yesterday, &mut seq, &mut reg, 10.0);
    main.extend(burst(
        yesterday + chrono::Duration::hours(1),
        &mut seq,
        &mut reg,
        10.0,
    ));
    let (mut sseq, mut sreg) = (0, 50.0);
    let sub = burst(yesterday, &mut sseq, &mut sreg, 4.0);
    stack
        .publish_device("main", "power_meter", "telemetry", &json!(main))
        .await;
    stack
        .publish_device("sub", "power_meter", "telemetry", &json!(sub))
        .await;
    stack
        .publish_device(
            "main",
            "power_meter",
            "telemetry",
            &json!({"schema": 1, "ts": Utc::now(), "seq": 100, "values": {"power_kw": 42.0}}),
        )
        .await;
    wait_until(Duration::from_secs(30), "the readings stored", || async {
        stack.count("SELECT count(*) FROM power_readings").await == 7
    })
    .await;
    // A flat tariff: 0.25 EUR/kWh and 1 EUR a day.
    let db = stack.pg.connect().await.unwrap();
    db.execute(
        "INSERT INTO tariffs (site_id, name, valid_from, definition) VALUES ('hq', 'Flat', '2020-01-01', $1)",
        &[&json!({"currency": "EUR", "standing_charge_per_day": 1.0, "seasons": [
            {"name": "all year", "from": "01-01", "to": "12-31", "bands": [
                {"name": "flat", "days": ["weekday", "weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": 0.25}]}]})],
    )
    .await
    .unwrap();
    // A ceiling of 15 kWh for yesterday: 20 used, over.
    let day = yesterday.date_naive();
    db.execute(
        "INSERT INTO energy_targets (site_id, name, metric, period_start, period_end, value)
         VALUES ('hq', 'Yesterday', 'kwh', $1, $2, 15)",
        &[&day, &(day + chrono::Duration::days(1))],
    )
    .await
    .unwrap();

    let driver = Chromedriver::start().await.unwrap();
    let fm = open(&driver, &base).await;
    log_in(&fm, "fiona", &fm_pw).await;
    wait_text(&fm, "#whoami", "fiona (facility_manager)").await;
    click(&fm, "#nav-energy").await;
    wait_visible(&fm, "#energy-view").await;
    wait_text(&fm, "#energy-power", "42.0 kW").await;
    // The last 7 days: 20 kWh; cost 20 × 0.25 = 5 plus 8 local days
    // (the range widens to whole days: 7 back and today) × 1 = 13 EUR.
    wait_contains(&fm, "#energy-history-summary", "20.0 kWh").await;
    wait_contains(&fm, "#energy-cost", "13.00").await;
    wait_contains(&fm, "#energy-bands tbody tr[data-band='flat']", "20.00").await;
    wait_visible(&fm, "#energy-history-chart canvas").await;
    // The tree: the sub-meter under the main meter.
    wait_contains(&fm, "#energy-meters tbody tr[data-meter='sub']", "— sub").await;
    wait_contains(&fm, "#energy-targets tbody", "Yesterday").await;
    wait_contains(&fm, "#energy-targets tbody", "over").await;
    wait_contains(&fm, "#energy-per-oh", "no occupancy").await;
    wait_contains(&fm, "#energy-baseline", "No baseline").await;
    wait_contains(&fm, "#energy-tariffs tbody", "Flat").await;

    // A target through the form.
    fill(&fm, "#energy-target-form input[name='name']", "Next year").await;
    fill(&fm, "#energy-target-form input[name='value']", "1000").await;
    for (name, date) in [
        ("start", day + chrono::Duration::days(1)),
        ("end", day + chrono::Duration::days(366)),
    ] {
        // Date inputs take the keys of the browser's locale; set the value.
        fm.execute(
            "document.querySelector(`#energy-target-form input[name='${arguments[0]}']`).value = arguments[1];",
            vec![json!(name), json!(date.to_string())],
        )
        .await
        .unwrap();
    }
    click(&fm, "#energy-target-form button[type='submit']").await;
    wait_contains(&fm, "#energy-targets tbody", "Next year").await;
    assert_eq!(
        stack
            .count("SELECT count(*) FROM energy_targets WHERE name = 'Next year' AND value = 1000")
            .await,
        1
    );
    check_view(&fm, "fm-energy").await;

    // Live: the meter's power changes and the page follows.
    stack
        .publish_device(
            "main",
            "power_meter",
            "telemetry",
            &json!({"schema": 1, "ts": Utc::now(), "seq": 101, "values": {"power_kw": 55.5}}),
        )
        .await;
    wait_text(&fm, "#energy-power", "55.5 kW").await;
    fm.close().await.unwrap();

    // A viewer sees the figures, not the forms.
    let viewer = open(&driver, &base).await;
    log_in(&viewer, "vic", &viewer_pw).await;
    wait_text(&viewer, "#whoami", "vic (viewer)").await;
    click(&viewer, "#nav-energy").await;
    wait_contains(&viewer, "#energy-history-summary", "20.0 kWh").await;
    for form in ["#energy-target-form", "#energy-tariff-form"] {
        let shown = viewer
            .find(Locator::Css(form))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap();
        assert!(!shown, "a viewer sees {form}");
    }
    check_view(&viewer, "viewer-energy").await;
    viewer.close().await.unwrap();
    central.shutdown().await;
}
