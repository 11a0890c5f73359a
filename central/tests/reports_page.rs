//! The reports page in a real Chromium against a real central, with a
//! day's line crossings written to the database (7 IN and 3 OUT at a
//! camera of the site, today in the site's zone, UTC): a facility
//! manager generates the site's daily report through the page and reads
//! those counts in its key figures and its per-line table, downloads the
//! PDF with the page's session (status, type and the file's first bytes),
//! is refused the next export by the hourly budget with the API's message
//! on the page, finds the report in the archive and opens it from there
//! (`#reports/<id>`), and adds a schedule through the form (checked
//! through the API as well); a viewer generates a report but is offered
//! no download and no schedule form; axe-core finds no serious violation
//! on any of these views.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use atrium_testkit::Chromedriver;
use atrium_testkit::webui::{
    click, fill, log_in, open, text_of, visible, wait_contains, wait_text, wait_visible,
};
use chrono::NaiveDate;
use fantoccini::{Client, Locator};
use serde_json::json;
use support::*;

/// The counting section's key figures in the report shown.
const KPI: &str = "#report-kpis tbody tr[data-section='counting']";
/// The per-line table of the report shown.
const LINES: &str = "#report-body table[data-table='counting_lines'] tbody";

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

/// Sets a date or time field (their keys follow the browser's locale).
async fn set_value(c: &Client, css: &str, value: &str) {
    c.execute(
        "const e = document.querySelector(arguments[0]);\
         e.value = arguments[1];\
         e.dispatchEvent(new Event('change', { bubbles: true }));",
        vec![json!(css), json!(value)],
    )
    .await
    .unwrap();
}

async fn value_of(c: &Client, css: &str) -> String {
    c.execute(
        "return document.querySelector(arguments[0]).value;",
        vec![json!(css)],
    )
    .await
    .unwrap()
    .as_str()
    .unwrap()
    .to_owned()
}

/// The link's `href` as written (not resolved against the page's URL).
async fn href_of(c: &Client, css: &str) -> String {
    let v = c
        .execute(
            "const a = document.querySelector(arguments[0]);\
             return a ? a.getAttribute('href') : null;",
            vec![json!(css)],
        )
        .await
        .unwrap();
    v.as_str()
        .unwrap_or_else(|| panic!("no link {css}: {v}"))
        .to_owned()
}

/// Generates the daily report of `day` at the test site through the form
/// and waits for its key figures: 7 in, 3 out, none the day before.
async fn generate_daily(c: &Client, day: NaiveDate) {
    wait_visible(c, "#report-form").await;
    choose(c, "#report-kind option[value='daily']").await;
    choose(c, &format!("#report-site option[value='{SITE}']")).await;
    assert!(
        !visible(c, "#report-to").await,
        "a daily report asks for one day"
    );
    let unticked = c
        .execute(
            "return [...document.querySelectorAll('#report-sections input[type=checkbox]')]\
               .filter((b) => !b.checked).map((b) => b.value);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(unticked, json!([]), "every section is ticked at first");
    set_value(c, "#report-date", &day.to_string()).await;
    click(c, "#report-generate-button").await;
    wait_contains(c, "#report-title", "Daily report").await;
    wait_text(c, &format!("{KPI}[data-kpi='in'] th"), "People in").await;
    wait_text(c, &format!("{KPI}[data-kpi='in'] td.kpi-value"), "7").await;
    wait_text(c, &format!("{KPI}[data-kpi='out'] th"), "People out").await;
    wait_text(c, &format!("{KPI}[data-kpi='out'] td.kpi-value"), "3").await;
    wait_text(c, &format!("{KPI}[data-kpi='in'] td.kpi-previous"), "0").await;
    wait_text(c, &format!("{KPI}[data-kpi='in'] td.kpi-change"), "+7").await;
    let line = wait_contains(c, LINES, "door").await;
    assert!(
        line.contains("cam-a") && line.contains('7') && line.contains('3'),
        "{line}"
    );
    wait_contains(c, "#report-period", &day.to_string()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_report_is_generated_downloaded_archived_and_scheduled_through_the_page() {
    let stack = Stack::start().await;
    // Site hq (UTC) with its camera.
    stack.add_camera("cam-a").await;
    let fm_pw = stack.add_user("fiona", "facility_manager").await;
    let viewer_pw = stack.add_user("vic", "viewer").await;

    // Today (UTC, the site's zone), from a second after midnight: 7 IN
    // and 3 OUT at cam-a's line "door"; nothing the day before. The test
    // asks for that day's report by its date, so it holds across midnight.
    let db = stack.pg.connect().await.unwrap();
    let day: NaiveDate = db
        .query_one("SELECT (now() AT TIME ZONE 'UTC')::date", &[])
        .await
        .unwrap()
        .get(0);
    db.execute(
        "INSERT INTO line_crossings (ts, event_id, camera_id, line_id, direction, track)
         SELECT ($1::date::timestamp AT TIME ZONE 'UTC') + n * INTERVAL '1 second', gen_random_uuid(),
                'cam-a', 'door', CASE WHEN n <= 7 THEN 'in' ELSE 'out' END, n
         FROM generate_series(1, 10) AS n",
        &[&day],
    )
    .await
    .unwrap();

    // One export an hour per caller: the second is refused.
    let mut config = stack.config_with("central", "", false);
    config.rate_limits.reports_export_per_hour = 1;
    let central = stack.start_central(config).await;
    let base = format!("http://{}", central.addr);
    let driver = Chromedriver::start().await.unwrap();

    // ---- A facility manager (reports:export).
    let fm = open(&driver, &base).await;
    log_in(&fm, "fiona", &fm_pw).await;
    wait_text(&fm, "#whoami", "fiona (facility_manager)").await;
    click(&fm, "#nav-reports").await;
    wait_visible(&fm, "#reports-view").await;
    wait_text(&fm, "#report-archive-summary", "0 report(s).").await;
    wait_contains(&fm, "#report-schedules-table tbody", "No schedules.").await;
    assert!(!visible(&fm, "#report-panel").await, "a report before any");
    // The day is today unless one is chosen.
    let shown_day = value_of(&fm, "#report-date").await;
    assert!(
        shown_day.parse::<NaiveDate>().is_ok(),
        "the date field starts empty or malformed: {shown_day:?}"
    );
    generate_daily(&fm, day).await;
    wait_contains(&fm, "#reports-done", "Report generated").await;
    let report_id = fm
        .execute(
            "return document.querySelector('#report-panel').dataset.reportId;",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!report_id.is_empty());

    // The three downloads.
    assert!(!visible(&fm, "#report-export-note").await);
    for (format, ends) in [
        ("pdf", "format=pdf"),
        ("excel", "format=excel"),
        ("csv", "format=csv"),
    ] {
        let href = href_of(&fm, &format!("#report-exports a[data-format='{format}']")).await;
        assert_eq!(
            href,
            format!("/api/v1/reports/{report_id}/export?{ends}"),
            "{format}"
        );
    }
    // The PDF with the page's session.
    let pdf = href_of(&fm, "#report-exports a[data-format='pdf']").await;
    let got = fm
        .execute_async(
            "const done = arguments[arguments.length - 1];\
             fetch(arguments[0], { credentials: 'same-origin' }).then(async (r) => {\
               const bytes = new Uint8Array(await r.arrayBuffer());\
               done({ status: r.status, type: r.headers.get('content-type'),\
                      disposition: r.headers.get('content-disposition'),\
                      head: String.fromCharCode(...bytes.slice(0, 5)), size: bytes.length });\
             }, (e) => done({ error: String(e) }));",
            vec![json!(pdf)],
        )
        .await
        .unwrap();
    assert_eq!(got["status"], 200, "{got}");
    assert_eq!(got["type"], "application/pdf", "{got}");
    assert_eq!(got["head"], "%PDF-", "{got}");
    assert!(
        got["disposition"]
            .as_str()
            .is_some_and(|d| d.contains(&format!("atrium-{SITE}-daily-{day}.pdf"))),
        "{got}"
    );
    // The hour's budget is spent: the page's own download is refused, and
    // says so with the API's message instead of saving an error as a file.
    click(&fm, "#report-exports a[data-format='excel']").await;
    let refused = wait_contains(&fm, "#reports-error", "too many requests").await;
    assert!(refused.contains("Excel"), "{refused}");
    assert!(refused.contains("the next one is possible in"), "{refused}");

    // The archive lists the report, made by fiona.
    let row_css = format!("#report-archive-table tbody tr[data-report-id='{report_id}']");
    let row = wait_contains(&fm, &row_css, "fiona").await;
    assert!(
        row.contains("daily") && row.contains(&day.to_string()),
        "{row}"
    );
    wait_text(&fm, "#report-archive-summary", "1 report(s).").await;

    // A schedule through the form: daily at 07:30, PDF and CSV, to ops.
    wait_visible(&fm, "#schedule-form").await;
    fill(&fm, "#schedule-name", "Morning summary").await;
    choose(&fm, "#schedule-kind option[value='daily']").await;
    choose(&fm, &format!("#schedule-site option[value='{SITE}']")).await;
    set_value(&fm, "#schedule-at", "07:30").await;
    // PDF is ticked at first; add CSV.
    click(&fm, "#schedule-formats input[value='csv']").await;
    fill(&fm, "#schedule-recipients", "ops@example.com").await;
    click(&fm, "#schedule-submit").await;
    wait_contains(&fm, "#reports-done", "Schedule Morning summary added").await;
    let sched = wait_contains(&fm, "#report-schedules-table tbody tr", "Morning summary").await;
    for want in ["daily", "07:30", "PDF, CSV", "ops@example.com"] {
        assert!(sched.contains(want), "{want} in {sched}");
    }
    wait_visible(&fm, "#report-schedules-table button.schedule-remove").await;
    check_view(&fm, "fm-reports").await;

    // Away and back: the report goes; the archive's link opens it again.
    click(&fm, "#nav-dashboard").await;
    wait_visible(&fm, "#dashboard-view").await;
    click(&fm, "#nav-reports").await;
    wait_visible(&fm, &row_css).await;
    assert!(
        !visible(&fm, "#report-panel").await,
        "the report stays shown"
    );
    click(&fm, &format!("{row_css} a.report-open")).await;
    wait_text(&fm, &format!("{KPI}[data-kpi='in'] td.kpi-value"), "7").await;
    wait_text(&fm, &format!("{KPI}[data-kpi='out'] td.kpi-value"), "3").await;
    let url = fm.current_url().await.unwrap();
    assert_eq!(
        url.fragment(),
        Some(format!("reports/{report_id}").as_str())
    );
    wait_visible(&fm, "#report-exports a[data-format='pdf']").await;
    check_view(&fm, "fm-report-opened").await;
    fm.close().await.unwrap();

    // What the form sent is what was stored.
    let api = Api::new(&central);
    let token = api.token("fiona", &fm_pw).await;
    let (status, body) = api.get("/api/v1/reports/schedules", &token).await;
    assert_eq!(status, 200, "{body}");
    let list = body["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    let s = &list[0];
    assert_eq!(s["name"], "Morning summary", "{s}");
    assert_eq!(s["kind"], "daily", "{s}");
    assert_eq!(s["site_id"], SITE, "{s}");
    assert_eq!(s["at_local"], "07:30:00", "{s}");
    assert_eq!(s["formats"], json!(["pdf", "csv"]), "{s}");
    assert_eq!(s["recipients"], json!(["ops@example.com"]), "{s}");
    assert_eq!(s["created_by"], "fiona", "{s}");

    // ---- A viewer (reports:read only): reports, no downloads, no
    // schedule form.
    let viewer = open(&driver, &base).await;
    log_in(&viewer, "vic", &viewer_pw).await;
    wait_text(&viewer, "#whoami", "vic (viewer)").await;
    click(&viewer, "#nav-reports").await;
    wait_visible(&viewer, "#reports-view").await;
    wait_contains(&viewer, "#report-schedules-table tbody", "Morning summary").await;
    assert!(
        !visible(&viewer, "#schedule-form").await,
        "a viewer is shown the add-schedule form"
    );
    assert!(
        none_of(&viewer, "#report-schedules-table button.schedule-remove").await,
        "a viewer is shown Remove buttons"
    );
    generate_daily(&viewer, day).await;
    assert!(
        none_of(&viewer, "#report-exports a").await,
        "a viewer is offered downloads"
    );
    wait_visible(&viewer, "#report-export-note").await;
    let note = text_of(&viewer, "#report-export-note").await.unwrap();
    assert!(note.contains("reports:export"), "{note}");
    check_view(&viewer, "viewer-reports").await;
    viewer.close().await.unwrap();
    central.shutdown().await;
}
