//! The web UI in a real headless Chromium: log in, see the dashboard, see
//! a count change when an event arrives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use atrium_proto::event::Direction;
use atrium_testkit::Chromedriver;
use atrium_testkit::webui::{click, fill, log_in, open, text_of, wait_contains, wait_text};
use fantoccini::{Client, Locator};

async fn text(c: &Client, css: &str) -> String {
    text_of(c, css)
        .await
        .unwrap_or_else(|| panic!("no element {css}"))
}
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_and_watch_a_count_change_live() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let pw = stack.add_user("manager", "facility_manager").await;
    let central = stack
        .start_central(stack.config_with("central", "", false))
        .await;
    let driver = Chromedriver::start().await.unwrap();
    let browser = open(&driver, &format!("http://{}", central.addr)).await;
    // A wrong password shows the API's message and stays on the form.
    log_in(&browser, "manager", "wrong password").await;
    wait_text(&browser, "#login-error", "wrong user name or password").await;
    log_in(&browser, "manager", &pw).await;
    wait_text(&browser, "#whoami", "manager (facility_manager)").await;
    wait_text(&browser, "tr[data-camera='cam-a'] .in-today", "0").await;
    wait_text(&browser, "#live-state", "live").await;
    assert_eq!(text(&browser, "#total-in").await, "0");

    // The session is a cookie the page's script cannot read.
    let cookie_js = browser
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert_eq!(
        cookie_js,
        serde_json::json!(""),
        "tokens must not be visible to scripts"
    );

    // Events arrive from the camera: the page updates without a reload.
    let mut cam = stack.camera_client("cam-a").await;
    let events: Vec<Vec<u8>> = [Direction::In, Direction::In, Direction::Out]
        .iter()
        .enumerate()
        .map(|(i, d)| json(&crossing("cam-a", "door", *d, i as u64)))
        .collect();
    publish_all(&mut cam, &event_topic("cam-a"), &events).await;
    let status = serde_json::json!({"schema": 1, "ts": chrono::Utc::now(), "site": "hq", "camera": "cam-a", "state": "online"});
    publish_all(
        &mut cam,
        &status_topic("cam-a"),
        &[serde_json::to_vec(&status).unwrap()],
    )
    .await;
    wait_text(&browser, "tr[data-camera='cam-a'] .in-today", "2").await;
    wait_text(&browser, "tr[data-camera='cam-a'] .out-today", "1").await;
    wait_text(&browser, "#total-in", "2").await;
    wait_text(&browser, "tr[data-camera='cam-a'] .state", "online").await;
    let first = text(&browser, "#events li").await;
    assert!(first.contains("cam-a: camera online"), "{first}");

    // A reload shows the same numbers from the API (they were stored).
    browser.refresh().await.unwrap();
    wait_text(&browser, "tr[data-camera='cam-a'] .in-today", "2").await;

    // Logging out returns to the form; the old session is gone.
    browser
        .find(Locator::Css("#logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("#login-form"))
        .await
        .unwrap();
    browser.refresh().await.unwrap();
    browser
        .wait()
        .for_element(Locator::Css("#login-form"))
        .await
        .unwrap();
    assert!(
        browser
            .find(Locator::Css("#login-view"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );

    browser.close().await.unwrap();
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_a_person_and_see_them_recognised_live() {
    use support::faces::*;
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let pw = stack.add_user("officer", "security_officer").await;
    let central = stack
        .start_central(stack.config_with("central", "", false))
        .await;
    let driver = Chromedriver::start().await.unwrap();
    let browser = open(&driver, &format!("http://{}", central.addr)).await;
    log_in(&browser, "officer", &pw).await;
    wait_text(&browser, "#whoami", "officer (security_officer)").await;
    wait_text(&browser, "#live-state", "live").await;

    // Add a person and enrol a photo of her through the page.
    click(&browser, "#nav-people").await;
    browser
        .find(Locator::Css("#new-name"))
        .await
        .unwrap()
        .send_keys("Ada Example")
        .await
        .unwrap();
    click(&browser, "#add-person").await;
    wait_text(&browser, "#person-name", "Ada Example").await;
    let models = models();
    let mut detector = models.face_detector().unwrap();
    let (group, img) = photo(1);
    let faces = detector.detect(&img.view(), None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let group_path = dir.path().join("group.jpg");
    std::fs::write(&group_path, group).unwrap();
    let crop_path = dir.path().join("ada.png");
    std::fs::write(&crop_path, crop(&img, &faces[0], 2.0)).unwrap();
    // A group photo is refused with the reason.
    let file = browser.find(Locator::Css("#enrol-file")).await.unwrap();
    file.send_keys(group_path.to_str().unwrap()).await.unwrap();
    click(&browser, "#enrol-button").await;
    wait_contains(&browser, "#enrol-result", "several faces").await;
    let file = browser.find(Locator::Css("#enrol-file")).await.unwrap();
    file.clear().await.unwrap();
    file.send_keys(crop_path.to_str().unwrap()).await.unwrap();
    click(&browser, "#enrol-button").await;
    let result = wait_contains(&browser, "#enrol-result", "Enrolled: quality").await;
    println!("{result}");
    wait_contains(&browser, "#person-meta", "1 photo(s)").await;
    assert!(
        browser.find(Locator::Css("#photos img")).await.is_ok(),
        "the enrolled photo is shown"
    );

    // Her face passes the camera: the dashboard shows her, live.
    click(&browser, "#nav-dashboard").await;
    let mut cam = stack.camera_client("cam-a").await;
    let payloads: Vec<Vec<u8>> = observations(&models, &img, &faces[0], 3)
        .iter()
        .map(|v| face_observed("cam-a", 7, v))
        .collect();
    publish_all(&mut cam, &event_topic("cam-a"), &payloads).await;
    let seen = wait_contains(&browser, "#recognised li", "Ada Example").await;
    assert!(seen.contains("cam-a, track 7"), "{seen}");

    // The recognition log lists it, and "not this person" rejects it.
    click(&browser, "#nav-recognitions").await;
    wait_contains(
        &browser,
        "#recognitions tbody tr[data-status='recognized']",
        "Ada Example",
    )
    .await;
    click(
        &browser,
        "#recognitions tbody tr[data-status='recognized'] button",
    )
    .await;
    wait_contains(
        &browser,
        "#recognitions tbody tr[data-status='rejected']",
        "rejected",
    )
    .await;

    browser.close().await.unwrap();
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_users_keys_and_reads_the_audit_log_in_the_browser() {
    let stack = Stack::start().await;
    let pw = stack.add_user("ada", "admin").await;
    let central = stack
        .start_central(stack.config_with("central", "", false))
        .await;
    let driver = Chromedriver::start().await.unwrap();
    let browser = open(&driver, &format!("http://{}", central.addr)).await;
    log_in(&browser, "ada", &pw).await;
    wait_text(&browser, "#whoami", "ada (admin)").await;

    // Users: add an operator through the form (a cookie-authenticated
    // write from the page's own origin), then make them a viewer.
    browser
        .goto(&format!("http://{}/#users", central.addr))
        .await
        .unwrap();
    wait_text(&browser, "tr[data-username='ada'] td:nth-child(1)", "ada").await;
    fill(&browser, "#new-username", "otto").await;
    fill(&browser, "#new-display", "Otto Operator").await;
    fill(&browser, "#new-password", "otto's long password").await;
    browser
        .find(Locator::Css("#new-role option[value='operator']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&browser, "#add-user").await;
    wait_text(
        &browser,
        "tr[data-username='otto'] td:nth-child(2)",
        "Otto Operator",
    )
    .await;
    browser
        .find(Locator::Css(
            "tr[data-username='otto'] select option[value='viewer']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let db = stack.pg.connect().await.unwrap();
    wait_until(Duration::from_secs(10), "otto becomes a viewer", || {
        let db = &db;
        async move {
            db.query_one("SELECT role FROM users WHERE username = 'otto'", &[])
                .await
                .unwrap()
                .get::<_, String>(0)
                == "viewer"
        }
    })
    .await;
    // An admin may not make a super_admin: the API's refusal is shown.
    // (The table re-renders after each change: find the option again
    // until the click lands on the current one.)
    let css = "tr[data-username='otto'] select option[value='super_admin']";
    wait_until(
        Duration::from_secs(15),
        "a click on otto's role select",
        || {
            let browser = &browser;
            async move {
                match browser.find(Locator::Css(css)).await {
                    Ok(option) => option.click().await.is_ok(),
                    Err(_) => false,
                }
            }
        },
    )
    .await;
    wait_text(
        &browser,
        "#users-error",
        "only a super_admin may create or change a super_admin",
    )
    .await;

    // Account: an API key, shown once, then listed by its prefix.
    browser
        .goto(&format!("http://{}/#account", central.addr))
        .await
        .unwrap();
    fill(&browser, "#key-name", "BMS feed").await;
    fill(&browser, "#key-permissions", "events:read").await;
    click(&browser, "#add-key").await;
    wait_until(Duration::from_secs(15), "the new key is shown", || {
        let browser = &browser;
        async move { text(browser, "#key-text").await.starts_with("atr_") }
    })
    .await;
    let key = text(&browser, "#key-text").await;
    wait_text(&browser, "#apikeys tbody td:nth-child(2)", &key[4..12]).await;
    let r = reqwest::Client::new()
        .get(format!("http://{}/api/v1/events", central.addr))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the key the page showed works");

    // Audit: the writes just made, by ada, from the browser's address.
    browser
        .goto(&format!("http://{}/#audit", central.addr))
        .await
        .unwrap();
    fill(&browser, "#audit-action", "http.post").await;
    click(&browser, "#audit-filter button").await;
    wait_text(
        &browser,
        "#audit tbody tr:first-child td:nth-child(4)",
        "/api/v1/api-keys",
    )
    .await;
    assert_eq!(
        text(&browser, "#audit tbody tr:first-child td:nth-child(2)").await,
        "ada"
    );
    assert_eq!(
        text(&browser, "#audit tbody tr:first-child td:nth-child(5)").await,
        "201"
    );
    central.shutdown().await;
}
