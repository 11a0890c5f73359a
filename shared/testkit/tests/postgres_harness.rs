//! The PostgreSQL harness gives a real server with TimescaleDB and pgvector.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use atrium_testkit::Postgres;

#[tokio::test]
async fn extensions_are_installed_with_their_versions() {
    let pg = Postgres::start().await.unwrap();
    let client = pg.connect().await.unwrap();
    let rows = client
        .query(
            "SELECT extname, extversion FROM pg_extension WHERE extname IN ('timescaledb', 'vector') ORDER BY extname",
            &[],
        )
        .await
        .unwrap();
    let found: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(found.len(), 2, "extensions: {found:?}");
    assert_eq!(found[0].0, "timescaledb");
    assert_eq!(found[1].0, "vector");
    for (name, version) in &found {
        let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
        assert!(
            parts.len() >= 2,
            "{name} version {version} is not dotted numbers"
        );
        println!("{name} {version}");
    }
    let license: String = client
        .query_one("SHOW timescaledb.license", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        license, "apache",
        "the Debian build is the Apache-2 edition"
    );
}

#[tokio::test]
async fn hypertable_insert_and_time_bucket_select() {
    let pg = Postgres::start().await.unwrap();
    let client = pg.connect().await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE t (ts timestamptz NOT NULL, v double precision NOT NULL);
             SELECT create_hypertable('t', by_range('ts', INTERVAL '1 hour'));
             INSERT INTO t
               SELECT '2026-01-01 00:00Z'::timestamptz + i * INTERVAL '1 minute', i
               FROM generate_series(0, 179) AS i;",
        )
        .await
        .unwrap();
    let chunks: i64 = client
        .query_one("SELECT count(*) FROM show_chunks('t')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(chunks, 3, "three hours of rows make three one-hour chunks");
    let rows = client
        .query(
            "SELECT time_bucket('1 hour', ts) AS b, count(*), sum(v) FROM t GROUP BY b ORDER BY b",
            &[],
        )
        .await
        .unwrap();
    let counts: Vec<i64> = rows.iter().map(|r| r.get(1)).collect();
    assert_eq!(counts, vec![60, 60, 60]);
    let first_sum: f64 = rows[0].get(2);
    assert_eq!(first_sum, (0..60).sum::<i32>() as f64);
}

#[tokio::test]
async fn vector_cosine_query_orders_by_similarity() {
    let pg = Postgres::start().await.unwrap();
    let client = pg.connect().await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE faces (name text PRIMARY KEY, e vector(3));
             INSERT INTO faces VALUES ('x', '[1,0,0]'), ('y', '[0,1,0]'), ('xy', '[1,1,0]');
             CREATE INDEX ON faces USING hnsw (e vector_cosine_ops);",
        )
        .await
        .unwrap();
    let rows = client
        .query(
            "SELECT name, e <=> '[0.9,0.1,0]' AS d FROM faces ORDER BY d LIMIT 3",
            &[],
        )
        .await
        .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, ["x", "xy", "y"]);
    let d0: f64 = rows[0].get(1);
    assert!(d0 > 0.0 && d0 < 0.01, "cosine distance to x was {d0}");
}

#[tokio::test]
async fn instances_are_isolated_and_can_stop_and_restart() {
    let mut a = Postgres::start().await.unwrap();
    let b = Postgres::start().await.unwrap();
    assert_ne!(a.port(), b.port());
    let ca = a.connect().await.unwrap();
    ca.batch_execute("CREATE TABLE only_in_a (x int); INSERT INTO only_in_a VALUES (7)")
        .await
        .unwrap();
    let cb = b.connect().await.unwrap();
    let in_b: i64 = cb
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_b, 0);

    a.stop().await.unwrap();
    assert!(
        a.connect().await.is_err(),
        "a stopped server refuses connections"
    );
    a.restart().await.unwrap();
    let x: i32 = a
        .connect()
        .await
        .unwrap()
        .query_one("SELECT x FROM only_in_a", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(x, 7, "data survives a restart");
}
