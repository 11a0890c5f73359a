//! Reports against a real central and PostgreSQL, on a dataset written
//! here whose figures were worked out by hand:
//!
//! - a daily report's KPIs, hours (23 or 25 of them where the clocks
//!   change) and comparisons; the PDF read back with poppler's `pdftotext`
//!   and rendered page by page with `pdftoppm`, byte-identical when
//!   exported twice; a month's hourly table breaking across pages with its
//!   header repeated; the workbook read back with calamine; the CSV zip
//!   parsed with the csv crate, quoting a camera name with a comma, quotes
//!   and a line break;
//! - personal data only with `persons:read`, the export budget, the API's
//!   errors and the admin CLI;
//! - a schedule run by two central instances at once: each owed period
//!   made and mailed once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::*;

/// The camera's name: a comma, quotes and a line break, which CSV must
/// quote and every export must show as they are.
const LOBBY: &str = "Lobby, \"east\"\nwing";

async fn exec(stack: &Stack, sql: &str) {
    let db = stack.pg.connect().await.unwrap();
    db.batch_execute(sql).await.unwrap();
}

/// The hand-made dataset, in Europe/London (GMT in November):
///
/// - 30 Nov 2026: 9 in at 08:10–08:18 and 4 out at 17:20 on cam-a's line
///   "Main door"; the day before, 5 in.
/// - people in view: cam-a 3 and cam-b 2 in the minute of 10:00, cam-a 4
///   at 11:00 alone: the peak is 5, at 10:00.
/// - alerts: one fired 09:00 and acknowledged 09:12, one fired 13:00 never
///   acknowledged: 2 fired, mean time to acknowledge 12.0 min.
/// - one recognition of "Grace Hopper", one unknown face.
/// - a main meter using 1 kWh every quarter hour of 30 Nov (96 kWh, with
///   the local-day rollup ingest keeps beside the quarter hours), a
///   flat tariff of 0.20 a kWh and 5.00 a day (19.20 + 5.00 = 24.20; the
///   29th owes its standing charge only), 0.25 kg/kWh location-based and a
///   residual mix of 0.4 (24.0 and 38.4 kg).
/// - 25 Oct 2026 (the clocks go back at 02:00 BST): one crossing at 01:30
///   BST and one at 01:30 GMT, an hour apart in two different rows.
async fn dataset(stack: &Stack) {
    stack.add_camera("cam-a").await;
    stack.add_camera("cam-b").await;
    stack.set_site_zone("Europe/London").await;
    let mut sql = format!(
        "UPDATE cameras SET name = '{}' WHERE id = 'cam-a';
         INSERT INTO lines (camera_id, id, name, a_x, a_y, b_x, b_y, in_side)
             VALUES ('cam-a', 'l1', 'Main door', 0.1, 0.5, 0.9, 0.5, 'left');",
        LOBBY.replace('\'', "''")
    );
    for i in 0..9 {
        sql += &format!(
            "INSERT INTO line_crossings VALUES ('2026-11-30T08:1{i}:00Z', gen_random_uuid(), 'cam-a', 'l1', 'in', {i});"
        );
    }
    for i in 0..4 {
        sql += &format!(
            "INSERT INTO line_crossings VALUES ('2026-11-30T17:20:0{i}Z', gen_random_uuid(), 'cam-a', 'l1', 'out', {});",
            100 + i
        );
    }
    for i in 0..5 {
        sql += &format!(
            "INSERT INTO line_crossings VALUES ('2026-11-29T12:0{i}:00Z', gen_random_uuid(), 'cam-a', 'l1', 'in', {});",
            200 + i
        );
    }
    sql += "
        INSERT INTO occupancy_samples VALUES
            ('2026-11-30T10:00:10Z', gen_random_uuid(), 'cam-a', 3, '[]'),
            ('2026-11-30T10:00:40Z', gen_random_uuid(), 'cam-b', 2, '[]'),
            ('2026-11-30T11:00:05Z', gen_random_uuid(), 'cam-a', 4, '[]');
        INSERT INTO alerts (rule, site_id, subject_kind, subject_id, state, severity, first_seen, fired_at, updated_at, body) VALUES
            ('camera_offline', 'hq', 'camera', 'cam-a', 'resolved', 'warning', '2026-11-30T09:00:00Z', '2026-11-30T09:00:00Z', '2026-11-30T09:30:00Z',
             '{\"summary\": \"camera cam-a offline\", \"acknowledged\": {\"by\": \"ada\", \"at\": \"2026-11-30T09:12:00Z\"}, \"resolved\": {\"by\": null, \"at\": \"2026-11-30T09:30:00Z\"}}'),
            ('lift_fault', 'hq', 'device', 'lift-1', 'resolved', 'critical', '2026-11-30T13:00:00Z', '2026-11-30T13:00:00Z', '2026-11-30T14:00:00Z',
             '{\"summary\": \"lift-1 fault\", \"acknowledged\": null, \"resolved\": {\"by\": null, \"at\": \"2026-11-30T14:00:00Z\"}}');
        INSERT INTO persons (id, name, category) VALUES ('00000000-0000-4000-8000-000000000001', 'Grace Hopper', 'employee');
        INSERT INTO face_recognitions (ts, id, site_id, camera_id, track, status, person_id, confidence, observations, best_face_event_id) VALUES
            ('2026-11-30T08:11:00Z', gen_random_uuid(), 'hq', 'cam-a', 1, 'recognized', '00000000-0000-4000-8000-000000000001', 0.8, 3, gen_random_uuid()),
            ('2026-11-30T08:12:00Z', gen_random_uuid(), 'hq', 'cam-a', 2, 'unknown', NULL, 0.6, 3, gen_random_uuid());
        INSERT INTO devices (id, site_id, kind, name) VALUES ('main-1', 'hq', 'power_meter', 'Main meter');
        INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
            SELECT 'quarter', b, 'main-1', 1.0, 0, 4.0, 1, 4.0, 4.0, 0
            FROM generate_series('2026-11-30T00:00:00Z'::timestamptz, '2026-11-30T23:45:00Z', INTERVAL '15 minutes') AS b;
        INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets)
            VALUES ('day', '2026-11-30T00:00:00Z', 'main-1', 96.0, 0, 384.0, 96, 4.0, 4.0, 0);
        INSERT INTO tariffs (site_id, name, valid_from, definition) VALUES ('hq', 'Flat', '2026-01-01',
            '{\"currency\": \"GBP\", \"standing_charge_per_day\": 5.0, \"seasons\": [{\"name\": \"all\", \"from\": \"01-01\", \"to\": \"12-31\",
              \"bands\": [{\"name\": \"any\", \"days\": [\"weekday\", \"weekend\", \"holiday\"], \"from\": \"00:00\", \"to\": \"24:00\", \"price_per_kwh\": 0.2}]}]}');
        INSERT INTO emission_factors (site_id, year, location_kg_per_kwh, residual_mix_kg_per_kwh, source)
            VALUES ('hq', 2026, 0.25, 0.4, 'test');
        INSERT INTO line_crossings VALUES
            ('2026-10-25T00:30:00Z', gen_random_uuid(), 'cam-a', 'l1', 'in', 300),
            ('2026-10-25T01:30:00Z', gen_random_uuid(), 'cam-a', 'l1', 'in', 301);
    ";
    exec(stack, &sql).await;
}

fn kpi<'a>(report: &'a Value, section: &str, key: &str) -> &'a Value {
    report["data"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == section)
        .unwrap_or_else(|| panic!("no section {section}: {report}"))["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"] == key)
        .unwrap_or_else(|| panic!("no kpi {key} in {section}"))
}

/// A time cell's instant with its offset, as RFC 3339 writes it.
fn time(cell: &Value) -> String {
    assert_eq!(cell["t"], "time", "{cell}");
    chrono::DateTime::parse_from_rfc3339(cell["v"].as_str().unwrap())
        .unwrap()
        .to_rfc3339()
}

fn table<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["data"]["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["tables"].as_array().unwrap())
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| panic!("no table {key}"))
}

async fn export(api: &Api, token: &str, id: &str, format: &str) -> (u16, String, Vec<u8>) {
    let r = api
        .http
        .get(api.url(&format!("/api/v1/reports/{id}/export?format={format}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Each page's text, by `pdftotext`.
fn pages(pdf: &std::path::Path) -> Vec<String> {
    let info = run("pdfinfo", &[pdf.to_str().unwrap()]);
    let n: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (1..=n)
        .map(|p| {
            let p = p.to_string();
            run(
                "pdftotext",
                &["-layout", "-f", &p, "-l", &p, pdf.to_str().unwrap(), "-"],
            )
        })
        .collect()
}

fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().unwrap().to_string(), b)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_hand_made_data_in_every_format() {
    let stack = Stack::start().await;
    dataset(&stack).await;
    let mut config = stack.config("central", "");
    // The alerts above are history written by hand; nothing to evaluate.
    config.alerts.enabled = false;
    // The data is of fixed days: central lives on 1 December 2026 (what a
    // report can still know depends on the date), and retention, which
    // reads the database's own clock, stays off.
    config.retention.interval_s = 0;
    let clock = atrium_clock::ManualClock::new("2026-12-01T12:00:00Z".parse().unwrap());
    let central = stack.start_central_with_clock(config, clock.shared()).await;
    let api = Api::new(&central);
    let fm_pw = stack.add_user("fran", "facility_manager").await;
    let fm = api.token("fran", &fm_pw).await;
    let admin_pw = stack.add_user("ada", "admin").await;
    let admin = api.token("ada", &admin_pw).await;
    let viewer_pw = stack.add_user("vic", "viewer").await;
    let viewer = api.token("vic", &viewer_pw).await;

    let (s, daily) = api
        .get("/api/v1/reports/daily?site_id=hq&date=2026-11-30", &fm)
        .await;
    assert_eq!(s, 200, "{daily}");
    assert_eq!(daily["kind"], "daily");
    assert_eq!(daily["period_from"], "2026-11-30");
    assert_eq!(daily["data"]["previous"]["from"], "2026-11-29");
    assert_eq!(daily["data"]["site"]["timezone"], "Europe/London");
    let people_in = kpi(&daily, "counting", "in");
    assert_eq!(
        (people_in["value"].as_f64(), people_in["previous"].as_f64()),
        (Some(9.0), Some(5.0))
    );
    assert_eq!(kpi(&daily, "counting", "out")["value"], 4.0);
    let peak = kpi(&daily, "counting", "peak_occupancy");
    assert_eq!(peak["value"], 5.0);
    assert_eq!(peak["detail"], "at 10:00 on 30 Nov");
    assert_eq!(kpi(&daily, "alerts", "fired")["value"], 2.0);
    assert_eq!(kpi(&daily, "alerts", "acknowledged")["value"], 1.0);
    assert_eq!(kpi(&daily, "alerts", "time_to_acknowledge")["value"], 12.0);
    assert_eq!(kpi(&daily, "alerts", "critical")["value"], 1.0);
    assert_eq!(kpi(&daily, "recognition", "recognized")["value"], 1.0);
    assert_eq!(kpi(&daily, "recognition", "unknown")["value"], 1.0);
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(close(&kpi(&daily, "energy", "kwh")["value"], 96.0));
    let cost = kpi(&daily, "energy", "cost");
    assert!(
        close(&cost["value"], 24.2) && close(&cost["previous"], 5.0),
        "{cost}"
    );
    assert_eq!(cost["unit"], "GBP");
    assert!(close(
        &kpi(&daily, "energy", "co2e_location")["value"],
        24.0
    ));
    assert!(close(&kpi(&daily, "energy", "co2e_market")["value"], 38.4));
    let energy_days = table(&daily, "energy_days");
    assert_eq!(energy_days["rows"].as_array().unwrap().len(), 1);
    assert_eq!(energy_days["rows"][0][0]["v"], "2026-11-30");
    // Without persons:read, nobody is named.
    assert!(!daily.to_string().contains("Grace Hopper"));
    let hours = table(&daily, "counting_hours");
    let rows = hours["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 24);
    assert_eq!(time(&rows[8][0]), "2026-11-30T08:00:00+00:00");
    assert_eq!(rows[8][1]["v"], 9);
    assert_eq!(rows[17][2]["v"], 4);
    assert_eq!(rows[10][3]["v"], 5);
    let lines = table(&daily, "counting_lines");
    assert_eq!(lines["rows"][0][0]["v"], LOBBY);
    assert_eq!(lines["rows"][0][1]["v"], "Main door");
    assert_eq!(lines["rows"][0][4]["v"], 5, "in, previous period");

    // Asked again with the same data: the same archived report.
    let (_, again) = api
        .get("/api/v1/reports/daily?site_id=hq&date=2026-11-30", &fm)
        .await;
    assert_eq!(again["id"], daily["id"]);
    assert_eq!(again["reused"], true);

    // The day the clocks go back has 25 hours, 01:00 twice.
    let (s, autumn) = api
        .get(
            "/api/v1/reports/daily?site_id=hq&date=2026-10-25&sections=counting",
            &fm,
        )
        .await;
    assert_eq!(s, 200, "{autumn}");
    let rows = table(&autumn, "counting_hours")["rows"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rows.len(), 25);
    assert_eq!(time(&rows[1][0]), "2026-10-25T01:00:00+01:00");
    assert_eq!(time(&rows[2][0]), "2026-10-25T01:00:00+00:00");
    assert_eq!(
        (rows[1][1]["v"].as_i64(), rows[2][1]["v"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(autumn["data"]["sections"].as_array().unwrap().len(), 1);

    // PDF: read back, every page rendered, the same bytes twice.
    let id = daily["id"].as_str().unwrap();
    let (s, ct, pdf) = export(&api, &fm, id, "pdf").await;
    assert_eq!((s, ct.as_str()), (200, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF-"));
    let (_, _, pdf2) = export(&api, &fm, id, "pdf").await;
    assert!(pdf == pdf2, "two exports of one report differ");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("daily.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let text = pages(&path);
    let n = text.len();
    assert!(text[0].contains("Daily report") && text[0].contains("HQ"));
    assert!(text[0].contains("Monday 30 November 2026"), "{}", text[0]);
    assert!(text[0].contains("People in"), "{}", text[0]);
    assert!(text[0].contains("Page 1 of"), "{}", text[0]);
    let all = text.join("\n");
    for heading in [
        "People counting",
        "Face recognition",
        "Camera uptime",
        "Alerts",
        "Energy, cost and carbon",
        "Building systems",
        "People per hour",
        "Every alert fired",
    ] {
        assert!(all.contains(heading), "no {heading:?} in the PDF");
    }
    assert!(all.contains("at 10:00 on 30 Nov"));
    assert!(text[n - 1].contains(&format!("Page {n} of {n}")));
    let out = dir.path().join("page");
    run(
        "pdftoppm",
        &[
            "-r",
            "30",
            "-png",
            path.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    let rendered = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("page")
        })
        .count();
    assert_eq!(rendered, n);

    // Excel: sheets, typed cells, frozen header, a native chart.
    let (s, ct, xlsx) = export(&api, &fm, id, "excel").await;
    assert_eq!(s, 200);
    assert!(ct.contains("spreadsheetml"), "{ct}");
    {
        use calamine::{Data, Reader, Xlsx};
        let mut wb: Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.clone())).unwrap();
        let names = wb.sheet_names();
        assert_eq!(names[0], "Summary");
        assert!(names.iter().any(|n| n == "People per hour"), "{names:?}");
        let r = wb.worksheet_range("People per hour").unwrap();
        assert_eq!(r.get((0, 0)), Some(&Data::String("Hour".into())));
        match r.get((9, 0)) {
            Some(Data::DateTime(t)) => assert_eq!(t.to_ymd_hms_milli(), (2026, 11, 30, 8, 0, 0, 0)),
            other => panic!("an hour as a date-time, not {other:?}"),
        }
        assert_eq!(r.get((9, 1)), Some(&Data::Float(9.0)));
    }
    let parts = unzip(&xlsx);
    let frozen = parts
        .iter()
        .filter(|(n, b)| {
            n.starts_with("xl/worksheets/sheet")
                && String::from_utf8_lossy(b).contains("state=\"frozen\"")
        })
        .count();
    assert_eq!(
        frozen,
        parts
            .keys()
            .filter(|n| n.starts_with("xl/worksheets/sheet"))
            .count()
    );
    assert!(parts.keys().any(|n| n.starts_with("xl/charts/chart")));

    // CSV: a zip of RFC 4180 files.
    let (s, ct, zip) = export(&api, &fm, id, "csv").await;
    assert_eq!((s, ct.as_str()), (200, "application/zip"));
    let files = unzip(&zip);
    assert!(files.contains_key("summary.csv") && files.contains_key("counting_hours.csv"));
    let mut lines_csv = csv::Reader::from_reader(&files["counting_lines.csv"][..]);
    let first = lines_csv.records().next().unwrap().unwrap();
    assert_eq!(&first[0], LOBBY);
    assert_eq!(&first[2], "9");
    let mut hours_csv = csv::Reader::from_reader(&files["counting_hours.csv"][..]);
    let row = hours_csv.records().nth(8).unwrap().unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(&row[0]).unwrap();
    assert_eq!(t.to_rfc3339(), "2026-11-30T08:00:00+00:00");
    assert_eq!(&row[1], "9");

    // Five exports an hour per caller: the sixth is refused.
    let (s, _, _) = export(&api, &fm, id, "pdf").await;
    assert_eq!(s, 200, "the fifth export");
    let (s, _, body6) = export(&api, &fm, id, "pdf").await;
    assert_eq!(s, 429, "{}", String::from_utf8_lossy(&body6));
    let body6: Value = serde_json::from_slice(&body6).unwrap();
    assert_error(
        &body6,
        429,
        "RATE_LIMIT_EXCEEDED",
        &format!("/api/v1/reports/{id}/export"),
    );

    // A month: the hourly table breaks across pages, its header repeated.
    let (s, month) = api
        .send(
            Method::POST,
            "/api/v1/reports/custom",
            &admin,
            json!({"site_id": "hq", "from": "2026-11-01", "to": "2026-11-30", "sections": ["counting"]}),
        )
        .await;
    assert_eq!(s, 200, "{month}");
    assert_eq!(
        table(&month, "counting_hours")["rows"]
            .as_array()
            .unwrap()
            .len(),
        720
    );
    assert_eq!(month["data"]["previous"]["from"], "2026-10-02");
    let (s, _, pdf) = export(&api, &admin, month["id"].as_str().unwrap(), "pdf").await;
    assert_eq!(s, 200);
    let path = dir.path().join("month.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let hour_row = hourly_row();
    let texts = pages(&path);
    let spanning: Vec<&String> = texts.iter().filter(|t| t.lines().any(&hour_row)).collect();
    assert!(
        spanning.len() >= 5,
        "720 hourly rows on {} pages",
        spanning.len()
    );
    for page in &spanning {
        assert!(
            page.lines()
                .any(|l| l.contains("Hour") && l.contains("Peak in view")),
            "a page of the hourly table without its header:\n{page}"
        );
    }

    // Personal data needs persons:read, to generate and to read.
    let (s, body) = api
        .get(
            "/api/v1/reports/daily?site_id=hq&date=2026-11-30&include_persons=true",
            &fm,
        )
        .await;
    assert_error(&body, 403, "FORBIDDEN", "/api/v1/reports/daily");
    assert_eq!(s, 403);
    let (s, named) = api
        .get(
            "/api/v1/reports/daily?site_id=hq&date=2026-11-30&include_persons=true",
            &admin,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        table(&named, "recognition_people")["rows"][0][0]["v"],
        "Grace Hopper"
    );
    let named_id = named["id"].as_str().unwrap();
    let (s, _) = api.get(&format!("/api/v1/reports/{named_id}"), &fm).await;
    assert_eq!(s, 403);
    assert_eq!(
        stack
            .count(
                "SELECT count(*) FROM audit_log WHERE action LIKE 'reports.%' AND username = 'ada'"
            )
            .await,
        1
    );

    // The archive lists them; a viewer reads but does not export.
    let (s, list) = api.get("/api/v1/reports?site_id=hq", &viewer).await;
    assert_eq!(s, 200);
    assert_eq!(list["meta"]["total"], 4, "{list}");
    // Erasing the person named deletes the report naming them.
    let (s, _) = api
        .send(
            Method::DELETE,
            "/api/v1/persons/00000000-0000-4000-8000-000000000001",
            &admin,
            json!({}),
        )
        .await;
    assert!(s == 200 || s == 204, "erasure: {s}");
    let (s, _) = api
        .get(&format!("/api/v1/reports/{named_id}"), &admin)
        .await;
    assert_eq!(s, 404, "a report naming an erased person");
    let (_, list) = api.get("/api/v1/reports?site_id=hq", &viewer).await;
    assert_eq!(list["meta"]["total"], 3, "{list}");
    let (s, _, _) = export(&api, &viewer, id, "pdf").await;
    assert_eq!(s, 403);

    // Errors in the API's format.
    let (_, b) = api.get("/api/v1/reports/daily?site_id=nowhere", &fm).await;
    assert_error(&b, 404, "SITE_NOT_FOUND", "/api/v1/reports/daily");
    let (_, b) = api
        .get("/api/v1/reports/weekly?site_id=hq&sections=weather", &fm)
        .await;
    assert_error(&b, 400, "VALIDATION_FAILED", "/api/v1/reports/weekly");
    let (_, b) = api
        .send(
            Method::POST,
            "/api/v1/reports/custom",
            &fm,
            json!({"site_id": "hq", "from": "2026-11-30", "to": "2026-11-01"}),
        )
        .await;
    assert_error(&b, 400, "VALIDATION_FAILED", "/api/v1/reports/custom");
    let (_, b) = api
        .get(&format!("/api/v1/reports/{}", uuid::Uuid::now_v7()), &fm)
        .await;
    assert_eq!(b["error"]["code"], "REPORT_NOT_FOUND");
    let (_, _, b) = export(&api, &admin, id, "docx").await;
    let b: Value = serde_json::from_slice(&b).unwrap();
    assert_error(
        &b,
        400,
        "VALIDATION_FAILED",
        &format!("/api/v1/reports/{id}/export"),
    );

    // The CLI: a file an operator can hand over.
    let out = dir.path().join("cli.pdf");
    let (ok, said) = admin_cli(
        &stack.pg.url(),
        &[
            "report",
            "run",
            "--kind",
            "daily",
            "--site",
            "hq",
            "--date",
            "2026-11-30",
            "--format",
            "pdf",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{said}");
    let cli_pdf = std::fs::read(&out).unwrap();
    assert!(cli_pdf.starts_with(b"%PDF-"));
    let cli_text = run("pdftotext", &[out.to_str().unwrap(), "-"]);
    assert!(cli_text.contains("People in") && cli_text.contains("Daily report"));
    let (ok, said) = admin_cli(
        &stack.pg.url(),
        &["report", "run", "--kind", "yearly", "--site", "hq"],
    );
    assert!(!ok && said.contains("--kind"), "{said}");
    let (ok, said) = admin_cli(
        &stack.pg.url(),
        &[
            "report",
            "schedule",
            "add",
            "--name",
            "HQ daily",
            "--kind",
            "daily",
            "--site",
            "hq",
            "--at",
            "06:30",
            "--formats",
            "pdf,excel",
            "--to",
            "fm@example.org",
        ],
    );
    assert!(ok, "{said}");
    let (ok, listed) = admin_cli(&stack.pg.url(), &["report", "schedule", "list"]);
    assert!(
        ok && listed.contains("06:30") && listed.contains("fm@example.org"),
        "{listed}"
    );
    let (ok, said) = admin_cli(
        &stack.pg.url(),
        &[
            "report",
            "schedule",
            "add",
            "--name",
            "x",
            "--kind",
            "daily",
            "--site",
            "hq",
            "--to",
            "not an address",
        ],
    );
    assert!(!ok && said.contains("not an e-mail address"), "{said}");
}

/// A line of the hourly table: `2026-11-DD HH:00` then numbers.
fn hourly_row() -> impl Fn(&str) -> bool {
    |l: &str| {
        let l = l.trim_start();
        let b = l.as_bytes();
        l.starts_with("2026-11-") && b.len() > 16 && b[10] == b' ' && &l[13..16] == ":00"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_make_and_mail_each_owed_period_once() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let smtp = atrium_testkit::SmtpServer::start().await.unwrap();
    let configure = |identity: &str| {
        let mut c = stack.config(identity, "");
        c.reports.every_s = 1;
        c.retention.interval_s = 0;
        c.alerts.smtp = Some(central::config::SmtpSection {
            host: "127.0.0.1".into(),
            port: Some(smtp.port()),
            tls: central::config::SmtpTls::Starttls,
            ca_file: Some(smtp.ca_file()),
            username: None,
            password_file: None,
            from: "Atrium <reports@atrium.example>".into(),
        });
        c
    };
    // Both instances read one clock, stopped at 09:00 UTC on 7 December
    // (the site is on UTC): the daily reports of the 4th, 5th and 6th are
    // due (at 00:00 the day after each), the 7th's is not.
    let clock = atrium_clock::ManualClock::new("2026-12-07T09:00:00Z".parse().unwrap());
    let (a, b) = (
        stack
            .start_central_with_clock(configure("central"), clock.shared())
            .await,
        stack
            .start_central_with_clock(configure("central-2"), clock.shared())
            .await,
    );
    // Both instances look every second: both see the three owed days
    // within a second of each other and race for them.
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    let first = today - chrono::Days::new(3);
    exec(
        &stack,
        &format!(
            "INSERT INTO report_schedules (id, name, kind, site_id, at_local, sections, formats, recipients, next_from)
             VALUES ('00000000-0000-4000-8000-0000000000aa', 'HQ daily', 'daily', 'hq', '00:00', ARRAY['counting','alerts'],
                     ARRAY['pdf','csv'], ARRAY['fm@example.org','ops@example.org'], '{first}')"
        ),
    )
    .await;
    wait_until(Duration::from_secs(60), "three reports mailed", || {
        let n = smtp.messages().len();
        async move { n >= 3 }
    })
    .await;
    wait_until(Duration::from_secs(20), "the schedule to owe today", || {
        let s = &stack;
        async move {
            s.count(&format!(
                "SELECT count(*) FROM report_schedules WHERE next_from = '{today}' AND last_error IS NULL"
            ))
            .await
                == 1
        }
    })
    .await;
    let delivered = stack
        .count("SELECT count(*) FROM report_mailings WHERE delivered_at IS NOT NULL")
        .await;
    assert_eq!(delivered, 3);
    let api = Api::new(&a);
    let pw = stack.add_user("ada", "admin").await;
    let token = api.token("ada", &pw).await;
    let (s, list) = api
        .get(
            "/api/v1/reports?schedule_id=00000000-0000-4000-8000-0000000000aa",
            &token,
        )
        .await;
    assert_eq!(s, 200);
    let mut periods: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["period_from"].as_str().unwrap().to_owned())
        .collect();
    periods.sort();
    let expected: Vec<String> = (1..=3)
        .rev()
        .map(|d| (today - chrono::Days::new(d)).to_string())
        .collect();
    assert_eq!(periods, expected, "each owed day once");
    let mails = smtp.messages();
    assert_eq!(mails.len(), 3, "one e-mail per report");
    for m in &mails {
        assert!(m.contains("Daily report"), "{m}");
        assert!(m.contains("fm@example.org") && m.contains("ops@example.org"));
        assert!(
            m.contains(".pdf\"") && m.contains(".zip\""),
            "both attachments: {m}"
        );
    }
    for day in &expected {
        assert!(
            mails
                .iter()
                .any(|m| m.contains(&format!("atrium-hq-daily-{day}.pdf"))),
            "the report of {day} mailed"
        );
    }
    drop((a, b));
}
