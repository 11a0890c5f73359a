//! The alerts page in a real Chromium against a real central, with a
//! camera going offline over the real broker and the camera-offline
//! schedule shortened to seconds: the alert reaches an open alerts page
//! and the banner live, a viewer sees it without Acknowledge or Resolve
//! buttons, an operator acknowledges it with a comment through the page's
//! dialog (the banner then goes, the detail page's history names them
//! and their comment), a facility manager adds a silence through the form
//! (checked through the API as well), and axe-core finds no serious
//! violation on any of these views.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use atrium_testkit::Chromedriver;
use atrium_testkit::webui::{
    click, fill, log_in, open, visible, wait_contains, wait_text, wait_visible,
};
use chrono::{DateTime, Utc};
use fantoccini::{Client, Locator};
use serde_json::json;
use support::*;

/// The camera's alert in the alerts table.
const ROW: &str = "#alerts-table tbody tr[data-rule='camera_offline']";

async fn choose(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn none_of(c: &Client, css: &str) -> bool {
    c.find_all(Locator::Css(css)).await.unwrap().is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_camera_alerts_live_is_acknowledged_and_silenced_through_the_page() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let viewer_pw = stack.add_user("vic", "viewer").await;
    let operator_pw = stack.add_user("otto", "operator").await;
    let fm_pw = stack.add_user("fiona", "facility_manager").await;
    // Offline for 1 s: warning; 3 s: critical; escalation out of reach.
    // Evaluated every half second.
    let mut config = stack.config_with("central", "", false);
    config.alerts.thresholds.camera_offline = central::alerts::OfflineThresholds {
        warning_s: 1,
        critical_s: 3,
        escalate_s: 3600,
    };
    config.alerts.every_ms = 500;
    let central = stack.start_central(config).await;
    let base = format!("http://{}", central.addr);
    let driver = Chromedriver::start().await.unwrap();

    // A viewer has the alerts page open before anything fires.
    let viewer = open(&driver, &base).await;
    log_in(&viewer, "vic", &viewer_pw).await;
    wait_text(&viewer, "#whoami", "vic (viewer)").await;
    wait_text(&viewer, "#live-state", "live").await;
    click(&viewer, "#nav-alerts").await;
    wait_visible(&viewer, "#alerts-view").await;
    wait_text(&viewer, "#alerts-summary", "0 open alert(s).").await;
    assert!(
        !visible(&viewer, "#alert-banner").await,
        "a banner while nothing fires"
    );

    // The camera stops streaming (its edge box is still there: a reason
    // other than the box's last will).
    let mut cam = stack.camera_client("cam-a").await;
    let status = json!({"schema": 1, "ts": Utc::now(), "site": SITE, "camera": "cam-a",
                        "state": "offline", "reason": "no frames from the camera"});
    publish_all(
        &mut cam,
        &status_topic("cam-a"),
        &[serde_json::to_vec(&status).unwrap()],
    )
    .await;

    // The alert reaches the open page and the banner without a reload,
    // and rises to critical after 3 s.
    wait_visible(&viewer, ROW).await;
    wait_text(&viewer, &format!("{ROW} td.alert-state"), "firing").await;
    wait_text(&viewer, &format!("{ROW} td.alert-severity"), "critical").await;
    wait_contains(&viewer, &format!("{ROW} td.alert-summary"), "cam-a offline").await;
    wait_contains(&viewer, "#alert-banner", "1 alert firing").await;
    wait_contains(&viewer, "#alert-banner", "cam-a offline").await;
    wait_visible(&viewer, "#alert-banner.sev-critical").await;
    // A viewer reads; acknowledging, resolving, silencing and channels
    // are for others.
    for css in [
        "#alerts-table button.alert-ack",
        "#alerts-table button.alert-resolve",
    ] {
        assert!(none_of(&viewer, css).await, "a viewer sees {css}");
    }
    assert!(
        !visible(&viewer, "#silence-form").await,
        "a viewer may not silence"
    );
    assert!(
        !visible(&viewer, "#channels").await,
        "a viewer sees the channels"
    );
    check_view(&viewer, "viewer-alerts").await;
    viewer.close().await.unwrap();

    // An operator sees the banner on the dashboard and acknowledges the
    // alert with a comment.
    let operator = open(&driver, &base).await;
    log_in(&operator, "otto", &operator_pw).await;
    wait_text(&operator, "#whoami", "otto (operator)").await;
    wait_visible(&operator, "#dashboard-view").await;
    wait_contains(&operator, "#alert-banner", "cam-a offline").await;
    click(&operator, "#alert-banner a.all-alerts").await;
    wait_visible(&operator, &format!("{ROW} button.alert-ack")).await;
    assert!(
        !visible(&operator, "#silence-form").await,
        "an operator may not silence"
    );
    click(&operator, &format!("{ROW} button.alert-ack")).await;
    wait_visible(&operator, "#alert-comment").await;
    fill(&operator, "#alert-comment", "lens cleaned by Sam").await;
    click(&operator, "#alert-comment-submit").await;
    wait_text(&operator, &format!("{ROW} td.alert-state"), "acknowledged").await;
    assert!(
        none_of(&operator, &format!("{ROW} button.alert-ack")).await,
        "an acknowledged alert offers Acknowledge"
    );
    wait_visible(&operator, &format!("{ROW} button.alert-resolve")).await;
    // Nothing fires any more: the banner goes.
    wait_until(Duration::from_secs(20), "the banner hides", || async {
        !visible(&operator, "#alert-banner").await
    })
    .await;

    // The alert's own page: who acknowledged it, and why.
    click(&operator, &format!("{ROW} a.alert-link")).await;
    wait_visible(&operator, "#alert-detail").await;
    wait_text(&operator, "#alert-state", "acknowledged").await;
    wait_contains(&operator, "#alert-acknowledged", "otto").await;
    let acked = wait_contains(
        &operator,
        "#alert-history tbody tr[data-what='acknowledged']",
        "lens cleaned by Sam",
    )
    .await;
    assert!(acked.contains("otto"), "{acked}");
    wait_contains(
        &operator,
        "#alert-history tbody tr[data-what='fired']",
        "firing",
    )
    .await;
    wait_visible(&operator, "#alert-actions button.alert-resolve").await;
    check_view(&operator, "operator-alert").await;
    operator.close().await.unwrap();

    // A facility manager silences the camera's alerts for an hour.
    let fm = open(&driver, &base).await;
    log_in(&fm, "fiona", &fm_pw).await;
    wait_text(&fm, "#whoami", "fiona (facility_manager)").await;
    click(&fm, "#nav-alerts").await;
    wait_text(&fm, &format!("{ROW} td.alert-state"), "acknowledged").await;
    wait_visible(&fm, "#silence-form").await;
    assert!(
        !visible(&fm, "#channels").await,
        "channels are for administrators"
    );
    choose(&fm, "#silence-rule option[value='camera_offline']").await;
    choose(&fm, "#silence-kind option[value='camera']").await;
    fill(&fm, "#silence-subject", "cam-a").await;
    fill(&fm, "#silence-comment", "lens cleaning").await;
    click(&fm, "#silence-submit").await;
    let row = wait_contains(&fm, "#silences-table tbody", "lens cleaning").await;
    assert!(
        row.contains("camera cam-a") && row.contains("fiona"),
        "{row}"
    );
    wait_visible(&fm, "#silences-table button.silence-remove").await;
    check_view(&fm, "fm-alerts").await;
    fm.close().await.unwrap();

    // What the form sent is what was stored.
    let api = Api::new(&central);
    let token = api.token("fiona", &fm_pw).await;
    let (status, body) = api.get("/api/v1/alerts/silences", &token).await;
    assert_eq!(status, 200, "{body}");
    let silences = body["data"].as_array().unwrap();
    assert_eq!(silences.len(), 1, "{body}");
    let s = &silences[0];
    assert_eq!(s["matcher"]["rule"], "camera_offline", "{s}");
    assert_eq!(
        s["matcher"]["subject"],
        json!({"kind": "camera", "id": "cam-a"}),
        "{s}"
    );
    assert!(s["matcher"]["site"].is_null(), "{s}");
    assert_eq!(s["by"], "fiona", "{s}");
    assert_eq!(s["comment"], "lens cleaning", "{s}");
    let at = |k: &str| s[k].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let span = (at("ends") - at("starts")).num_seconds();
    assert!(
        (3590..=3610).contains(&span),
        "60 minutes, not {span} s: {s}"
    );
    central.shutdown().await;
}
