//! Every page of the web UI in a real Chromium against a real central:
//! each role sees its pages with data the test ingested over MQTT, axe-core
//! finds no serious or critical violation on any view (at 1280 px and at a
//! tablet's 768 px), a screenshot of each view is kept, and what a role may
//! not see is not there. The site's time zone is Asia/Kolkata (UTC+05:30,
//! no daylight saving) while the browser runs in UTC, so a time shown in
//! the site's zone is told apart from one in the browser's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use atrium_proto::event::{Direction, EventBody, Violation, ZoneCount};
use atrium_testkit::Chromedriver;
use atrium_testkit::webui::{
    self, click, fill, log_in, open, text_of, visible, wait_contains, wait_text, wait_visible,
};
use chrono::{DateTime, FixedOffset, Utc};
use fantoccini::{Client, Locator};
use reqwest::Method;
use support::*;

const ZONE_OFFSET_S: i32 = 5 * 3600 + 1800;
const PERSON: &str = "Pat Example-7f3c";

fn at(ts: DateTime<Utc>, body: EventBody) -> atrium_proto::Event {
    let mut e = event("cam-a", body);
    e.ts = ts;
    e
}

/// `h:mm:ss AM` of `ts` in the site's zone, as en-US shows a time.
fn site_clock(ts: DateTime<Utc>) -> String {
    ts.with_timezone(&FixedOffset::east_opt(ZONE_OFFSET_S).unwrap())
        .format("%-I:%M:%S %p")
        .to_string()
}

/// Runs axe-core on the view, keeps a screenshot, and fails on a serious
/// or critical violation. Returns what axe found, for the summary.
async fn check_view(c: &Client, name: &str, seen: &mut Vec<(String, serde_json::Value)>) {
    let shot = webui::screenshot(c, name).await;
    let report = webui::axe(c).await;
    assert!(
        report.serious.is_empty(),
        "{name}: serious or critical accessibility violations (screenshot {}):\n{:#?}",
        shot.display(),
        report.serious
    );
    seen.push((name.to_owned(), serde_json::Value::Array(report.all)));
}

async fn go(c: &Client, base: &str, hash: &str) {
    c.goto(&format!("{base}/{hash}")).await.unwrap();
}

/// The nav bar's labels, in order.
async fn nav_labels(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for a in c.find_all(Locator::Css("#nav-links a")).await.unwrap() {
        out.push(a.text().await.unwrap());
    }
    out
}

/// Whether the page shows `view` (and so no other).
async fn showing(c: &Client, view: &str) -> bool {
    visible(c, &format!("#{view}-view")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_shows_real_data_passes_axe_and_follows_the_role() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    stack.add_camera("cam-b").await;
    let db = stack.pg.connect().await.unwrap();
    stack.set_site_zone("Asia/Kolkata").await;
    let admin_pw = stack.add_user("ada", "admin").await;
    let viewer_pw = stack.add_user("vic", "viewer").await;
    let operator_pw = stack.add_user("otto", "operator").await;
    let central = stack
        .start_central(stack.config_with("central", "", false))
        .await;
    let base = format!("http://{}", central.addr);
    let api = Api::new(&central);
    let token = api.token("ada", &admin_pw).await;

    // Configuration and a person, through the API.
    let (s, _) = api
        .send(Method::POST, "/api/v1/config/lines", &token,
            serde_json::json!({"camera_id": "cam-a", "id": "door", "a": [0.5, 0.1], "b": [0.5, 0.9], "in_side": "left"}))
        .await;
    assert_eq!(s, 201);
    let (s, _) = api
        .send(Method::POST, "/api/v1/config/zones", &token,
            serde_json::json!({"camera_id": "cam-a", "id": "lobby", "polygon": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.5]], "max_occupancy": 2, "restricted": false}))
        .await;
    assert_eq!(s, 201);
    let (s, _) = api
        .send(
            Method::POST,
            "/api/v1/persons",
            &token,
            serde_json::json!({"name": PERSON, "category": "employee", "consent": true}),
        )
        .await;
    assert_eq!(s, 201);

    // What the camera saw: 3 IN and 1 OUT two hours ago, 2 IN 26 hours
    // ago; 3 then 5 people in view a minute ago; one over-capacity
    // violation of the lobby.
    let now = Utc::now();
    let two_h = now - chrono::Duration::hours(2);
    let day_ago = now - chrono::Duration::hours(26);
    let sample = now - chrono::Duration::seconds(60);
    let violation_ts = now - chrono::Duration::seconds(90);
    let mut events = Vec::new();
    for (i, d) in [Direction::In, Direction::In, Direction::In, Direction::Out]
        .into_iter()
        .enumerate()
    {
        let body = EventBody::LineCrossed {
            line: "door".into(),
            direction: d,
            track: i as u64,
        };
        events.push(at(two_h + chrono::Duration::seconds(i as i64), body));
    }
    for i in 0..2u64 {
        let body = EventBody::LineCrossed {
            line: "door".into(),
            direction: Direction::In,
            track: 10 + i,
        };
        events.push(at(day_ago + chrono::Duration::seconds(i as i64), body));
    }
    for (i, n) in [3u32, 5].into_iter().enumerate() {
        let zones = vec![ZoneCount {
            zone: "lobby".into(),
            count: n.min(3),
        }];
        events.push(at(
            sample + chrono::Duration::seconds(i as i64),
            EventBody::Occupancy { in_view: n, zones },
        ));
    }
    events.push(at(
        violation_ts,
        EventBody::ZoneViolation {
            zone: "lobby".into(),
            violation: Violation::MaxOccupancy {
                occupancy: 3,
                max: 2,
            },
        },
    ));
    publish_fast(&stack, "cam-a", &events).await;
    wait_until(Duration::from_secs(20), "the events are stored", || async {
        stack.count("SELECT count(*) FROM line_crossings").await == 6
            && stack.count("SELECT count(*) FROM occupancy_samples").await == 2
            && stack
                .count("SELECT count(*) FROM zone_events WHERE kind = 'max_occupancy'")
                .await
                == 1
    })
    .await;

    let driver = Chromedriver::start().await.unwrap();
    let mut seen = Vec::new();

    // ---- An administrator: every page.
    let admin = open(&driver, &base).await;
    check_view(&admin, "login", &mut seen).await;
    // Log in with the keyboard alone: the skip link comes first, then
    // the form's fields; Enter submits.
    let tab = async |c: &Client| {
        c.active_element()
            .await
            .unwrap()
            .send_keys("\u{E004}")
            .await
            .unwrap();
        c.active_element().await.unwrap()
    };
    let skip = tab(&admin).await;
    assert_eq!(skip.text().await.unwrap(), "Skip to content");
    let user = tab(&admin).await;
    assert_eq!(user.attr("id").await.unwrap().as_deref(), Some("username"));
    user.send_keys("ada").await.unwrap();
    let password = tab(&admin).await;
    assert_eq!(
        password.attr("id").await.unwrap().as_deref(),
        Some("password")
    );
    password
        .send_keys(&format!("{admin_pw}\u{E007}"))
        .await
        .unwrap();
    wait_text(&admin, "#whoami", "ada (admin)").await;
    assert_eq!(
        nav_labels(&admin).await,
        [
            "Dashboard",
            "Counting",
            "Zone violations",
            "Building systems",
            "Energy",
            "Alerts",
            "Reports",
            "Events",
            "People",
            "Recognitions",
            "Users",
            "Audit",
            "Account"
        ]
    );

    wait_text(
        &admin,
        "#cameras tbody tr[data-camera='cam-b'] td:nth-child(2)",
        "hq",
    )
    .await;
    wait_contains(&admin, "#events", "cam-a: zone lobby: over capacity (3/2)").await;
    check_view(&admin, "admin-dashboard", &mut seen).await;

    go(&admin, &base, "#camera/cam-a").await;
    wait_contains(&admin, "#camera-lines tbody tr[data-line='door']", "door").await;
    wait_contains(&admin, "#camera-zones tbody tr[data-zone='lobby']", "lobby").await;
    assert!(visible(&admin, "#camera-draw").await, "an admin may draw");
    // Renaming the camera through its settings form.
    fill(&admin, "#camera-name", "Front door").await;
    click(&admin, "#camera-save").await;
    wait_text(&admin, "#camera-title", "Front door").await;
    let name: String = db
        .query_one("SELECT name FROM cameras WHERE id = 'cam-a'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "Front door");
    check_view(&admin, "admin-camera", &mut seen).await;

    go(&admin, &base, "#counting").await;
    wait_contains(&admin, "#counting-total", "5 in, 1 out at all cameras").await;
    assert!(
        text_of(&admin, "#counting-total")
            .await
            .unwrap()
            .contains("(times in Asia/Kolkata)")
    );
    wait_visible(&admin, "#counting-chart canvas").await;
    // The last 24 hours hold the crossings of two hours ago only.
    admin
        .find(Locator::Css("#counting-range option[value='24h']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&admin, "#counting-filter button[type='submit']").await;
    wait_contains(&admin, "#counting-total", "3 in, 1 out").await;
    // Occupancy on the samples' day in the site's zone.
    let local_day = (sample + chrono::Duration::seconds(i64::from(ZONE_OFFSET_S)))
        .format("%m%d%Y")
        .to_string();
    fill(&admin, "#occupancy-day", &local_day).await;
    click(&admin, "#occupancy-filter button[type='submit']").await;
    wait_contains(&admin, "#occupancy-summary", "At most 5 in view at cam-a").await;
    wait_visible(&admin, "#occupancy-chart canvas").await;
    check_view(&admin, "admin-counting", &mut seen).await;

    go(&admin, &base, "#violations").await;
    let row = wait_contains(
        &admin,
        "#violations tbody tr[data-kind='max_occupancy']",
        "3 in the zone",
    )
    .await;
    assert!(
        row.contains(&site_clock(violation_ts)),
        "the time in the site's zone ({}): {row}",
        site_clock(violation_ts)
    );
    assert!(
        text_of(&admin, "#violations-summary")
            .await
            .unwrap()
            .starts_with("1 violation(s) of lobby at cam-a")
    );
    check_view(&admin, "admin-violations", &mut seen).await;

    go(&admin, &base, "#events").await;
    wait_text(&admin, "#events-summary", "9 event(s); page 1 of 1.").await;
    admin
        .find(Locator::Css("#events-type option[value='line_crossed']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&admin, "#events-filter button[type='submit']").await;
    wait_text(&admin, "#events-summary", "6 event(s); page 1 of 1.").await;
    let rows = admin
        .find_all(Locator::Css(
            "#events-log tbody tr[data-type='line_crossed']",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 6);
    check_view(&admin, "admin-events", &mut seen).await;

    go(&admin, &base, "#people").await;
    wait_contains(&admin, "#persons tbody", PERSON).await;
    check_view(&admin, "admin-people", &mut seen).await;
    click(&admin, "#persons tbody a").await;
    wait_text(&admin, "#person-name", PERSON).await;
    wait_text(
        &admin,
        "#photo-advice",
        "No photo yet: enrol two or three, taken on different days.",
    )
    .await;
    assert!(visible(&admin, "#enrol-form").await && visible(&admin, "#erase-person").await);
    // Editing the person's details goes through the API.
    fill(&admin, "#edit-notes", "front desk, mornings").await;
    click(&admin, "#save-person").await;
    wait_text(&admin, "#edit-result", "Saved.").await;
    let notes: String = db
        .query_one("SELECT notes FROM persons", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(notes, "front desk, mornings");
    check_view(&admin, "admin-person", &mut seen).await;

    go(&admin, &base, "#recognitions").await;
    wait_contains(&admin, "#recognitions tbody", "No recognitions match.").await;
    check_view(&admin, "admin-recognitions", &mut seen).await;

    // An API key made through the API is listed with its owner.
    let (s, key) = api
        .send(
            Method::POST,
            "/api/v1/api-keys",
            &token,
            serde_json::json!({"name": "wall display"}),
        )
        .await;
    assert_eq!(s, 201, "{key}");
    let prefix = key["api_key"]["prefix"].as_str().unwrap().to_owned();
    go(&admin, &base, "#users").await;
    wait_text(&admin, "tr[data-username='otto'] td:nth-child(1)", "otto").await;
    let key_row = wait_contains(
        &admin,
        &format!("#all-keys tr[data-key='{prefix}']"),
        "wall display",
    )
    .await;
    assert!(key_row.starts_with("ada"), "{key_row}");
    assert!(visible(&admin, "#user-add").await);
    check_view(&admin, "admin-users", &mut seen).await;

    go(&admin, &base, "#audit").await;
    wait_contains(&admin, "#audit tbody", "/api/v1/persons").await;
    check_view(&admin, "admin-audit", &mut seen).await;

    go(&admin, &base, "#account").await;
    wait_visible(&admin, "#keys-panel").await;
    check_view(&admin, "admin-account", &mut seen).await;

    // A tablet: the same pages at 768 px, nothing wider than the screen.
    admin.set_window_size(768, 1024).await.unwrap();
    for (hash, ready) in [
        ("#dashboard", "#cameras tbody tr[data-camera='cam-a']"),
        ("#camera/cam-a", "#camera-lines tbody tr[data-line='door']"),
        ("#counting", "#counting-chart canvas"),
        ("#violations", "#violations tbody tr"),
    ] {
        go(&admin, &base, hash).await;
        wait_visible(&admin, ready).await;
        let overflow = admin
            .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth", vec![])
            .await
            .unwrap();
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{hash} is wider than a 768 px screen by {overflow} px"
        );
        check_view(
            &admin,
            &format!("tablet-{}", hash.trim_start_matches('#').replace('/', "-")),
            &mut seen,
        )
        .await;
    }
    admin.close().await.unwrap();

    // ---- A viewer: no personal data, no edit controls, no admin pages.
    let viewer = open(&driver, &base).await;
    log_in(&viewer, "vic", &viewer_pw).await;
    wait_text(&viewer, "#whoami", "vic (viewer)").await;
    assert_eq!(
        nav_labels(&viewer).await,
        [
            "Dashboard",
            "Counting",
            "Zone violations",
            "Building systems",
            "Energy",
            "Alerts",
            "Reports",
            "Events",
            "Account"
        ]
    );
    wait_contains(&viewer, "#events", "cam-a:").await;
    assert!(
        !visible(&viewer, "#recognised-panel").await,
        "no recognitions for a viewer"
    );
    check_view(&viewer, "viewer-dashboard", &mut seen).await;
    for hash in ["#people", "#recognitions", "#users", "#audit"] {
        go(&viewer, &base, hash).await;
        wait_visible(&viewer, "#dashboard-view").await;
        let name = hash.trim_start_matches('#');
        assert!(
            !showing(&viewer, name).await,
            "a viewer must not open {hash}"
        );
    }
    go(&viewer, &base, "#camera/cam-a").await;
    wait_contains(&viewer, "#camera-lines tbody tr[data-line='door']", "door").await;
    assert!(
        !visible(&viewer, "#camera-draw").await,
        "a viewer may not draw"
    );
    assert!(!visible(&viewer, "#camera-edit-hint").await);
    for editor in [
        "#camera-lines input",
        "#camera-zones input",
        "#camera-lines button",
        "#camera-zones button",
    ] {
        assert!(
            viewer
                .find_all(Locator::Css(editor))
                .await
                .unwrap()
                .is_empty(),
            "a viewer sees {editor}"
        );
    }
    check_view(&viewer, "viewer-camera", &mut seen).await;
    go(&viewer, &base, "#violations").await;
    wait_contains(&viewer, "#violations tbody", "3 in the zone").await;
    go(&viewer, &base, "#account").await;
    wait_visible(&viewer, "#password-form").await;
    assert!(
        !visible(&viewer, "#keys-panel").await,
        "a viewer has no API keys"
    );
    check_view(&viewer, "viewer-account", &mut seen).await;
    let source = viewer.source().await.unwrap();
    assert!(
        !source.contains(PERSON),
        "a viewer's page holds a person's name"
    );
    viewer.close().await.unwrap();

    // ---- An operator: the dashboards, no admin pages.
    let operator = open(&driver, &base).await;
    log_in(&operator, "otto", &operator_pw).await;
    wait_text(&operator, "#whoami", "otto (operator)").await;
    let nav = nav_labels(&operator).await;
    for hidden in ["Users", "Audit", "People", "Recognitions"] {
        assert!(
            !nav.iter().any(|l| l == hidden),
            "an operator sees {hidden}: {nav:?}"
        );
    }
    for hash in ["#users", "#audit"] {
        go(&operator, &base, hash).await;
        wait_visible(&operator, "#dashboard-view").await;
        assert!(!showing(&operator, hash.trim_start_matches('#')).await);
    }
    go(&operator, &base, "#counting").await;
    wait_contains(&operator, "#counting-total", "5 in, 1 out").await;
    check_view(&operator, "operator-counting", &mut seen).await;
    operator.close().await.unwrap();

    // What axe found below "serious", per view (kept in the test output).
    for (view, all) in &seen {
        println!("axe {view}: {all}");
    }
    central.shutdown().await;
}
