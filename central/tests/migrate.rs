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
