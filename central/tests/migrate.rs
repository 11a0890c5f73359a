//! `central migrate` against a real, empty TimescaleDB database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::Command;

use atrium_testkit::Postgres;

fn migrate(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_central"))
        .args(["migrate", "--database-url", url])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "central migrate failed:\n{text}");
    text
}

#[tokio::test]
async fn migrate_twice_applies_once_and_creates_the_schema() {
    let pg = Postgres::start_empty().await.unwrap();
    let all = atrium_migrate::migrations().unwrap();

    let first = migrate(&pg.url());
    assert!(first.contains("applied migration 0001"), "{first}");
    assert!(
        first.contains(&format!("{} applied, 0 already present", all.len())),
        "{first}"
    );

    let second = migrate(&pg.url());
    assert!(
        second.contains(&format!(
            "up to date ({} migrations already applied)",
            all.len()
        )),
        "{second}"
    );

    let client = pg.connect().await.unwrap();
    let recorded: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, all.len() as i64);

    let tables: Vec<String> = client
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for expected in ["cameras", "events", "schema_migrations", "sites"] {
        assert!(
            tables.iter().any(|t| t == expected),
            "{expected} missing from {tables:?}"
        );
    }
    let hypertables: Vec<String> = client
        .query(
            "SELECT hypertable_name::text FROM timescaledb_information.hypertables",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        hypertables.contains(&"events".to_string()),
        "{hypertables:?}"
    );
}

#[tokio::test]
async fn event_inserts_are_idempotent_on_the_event_id() {
    let pg = Postgres::start().await.unwrap();
    let client = pg.connect().await.unwrap();
    let insert = "INSERT INTO events (ts, id, site_id, camera_id, type, payload)
                  VALUES ('2026-11-25T10:00:00Z', '0193a1b2-0000-7000-8000-000000000001', 'hq', 'cam-1', 'line_crossed', '{}')
                  ON CONFLICT (ts, id) DO NOTHING";
    assert_eq!(client.execute(insert, &[]).await.unwrap(), 1);
    assert_eq!(
        client.execute(insert, &[]).await.unwrap(),
        0,
        "a redelivered event is not stored twice"
    );
}

#[tokio::test]
async fn edited_migration_is_refused() {
    let pg = Postgres::start().await.unwrap();
    let client = pg.connect().await.unwrap();
    client
        .execute(
            "UPDATE schema_migrations SET checksum = 'x' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_central"))
        .args(["migrate", "--database-url", &pg.url()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must never be edited"), "{err}");
}

#[test]
fn bad_database_url_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_central"))
        .args(["migrate", "--database-url", "postgres://127.0.0.1:1/atrium"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("connecting to the database at 127.0.0.1:1/atrium"),
        "{err}"
    );
}

/// Migration 0010 gives meters already reporting their quarter hours: from
/// the minute rows still kept, and for older hours (whose minutes
/// retention removed) the hour spread evenly over its quarters.
#[tokio::test]
async fn the_energy_migration_builds_quarter_hours_from_what_is_kept() {
    let pg = Postgres::start_empty().await.unwrap();
    let client = pg.connect().await.unwrap();
    let all = atrium_migrate::migrations().unwrap();
    let (before, energy): (Vec<_>, Vec<_>) = all.iter().partition(|m| m.version < 10);
    for m in before {
        client.batch_execute(m.sql).await.unwrap();
    }
    // A meter with an old hour (12 kWh imported, 4 exported; its minute
    // rows gone): 3 and 1 in each quarter. A recent hour of 3 kWh whose
    // minute rows are kept: 1 kWh at :05 and 2 at :20 make the 10:00 and
    // 10:15 quarters, nothing is spread.
    client
        .batch_execute(
            "INSERT INTO sites (id, name) VALUES ('hq', 'HQ');
             INSERT INTO devices (id, site_id, kind, name) VALUES ('m', 'hq', 'power_meter', 'm');
             INSERT INTO power_rollups (resolution, bucket, device_id, import_kwh, export_kwh, power_sum_kw, samples, power_min_kw, power_max_kw, resets) VALUES
               ('hour', '2026-01-01 10:00Z', 'm', 12, 4, 0, 0, NULL, NULL, 0),
               ('hour', '2026-12-01 10:00Z', 'm', 3, 0, 0, 0, NULL, NULL, 0),
               ('minute', '2026-12-01 10:05Z', 'm', 1, 0, 5, 1, 5, 5, 0),
               ('minute', '2026-12-01 10:20Z', 'm', 2, 0, 7, 1, 7, 7, 0);",
        )
        .await
        .unwrap();
    client.batch_execute(energy[0].sql).await.unwrap();
    let rows: Vec<(String, f64, f64)> = client
        .query(
            "SELECT to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), import_kwh, export_kwh
             FROM power_rollups WHERE resolution = 'quarter' ORDER BY bucket",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        [
            ("2026-01-01 10:00".to_owned(), 3.0, 1.0),
            ("2026-01-01 10:15".to_owned(), 3.0, 1.0),
            ("2026-01-01 10:30".to_owned(), 3.0, 1.0),
            ("2026-01-01 10:45".to_owned(), 3.0, 1.0),
            ("2026-12-01 10:00".to_owned(), 1.0, 0.0),
            ("2026-12-01 10:15".to_owned(), 2.0, 0.0),
        ]
    );
}
