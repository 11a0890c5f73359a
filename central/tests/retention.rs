//! Retention on a real TimescaleDB (Apache-2 edition: no policies, so
//! central drops chunks itself).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use atrium_testkit::Postgres;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_chunks_and_rows_go_recent_ones_stay() {
    let pg = Postgres::start().await.unwrap();
    let db = pg.connect().await.unwrap();
    db.batch_execute(
        "INSERT INTO events (ts, id, site_id, camera_id, type, payload) VALUES
            (now() - INTERVAL '120 days', gen_random_uuid(), 'hq', 'c', 'occupancy', '{}'),
            (now() - INTERVAL '1 day', gen_random_uuid(), 'hq', 'c', 'occupancy', '{}');
         INSERT INTO line_crossings (ts, event_id, camera_id, line_id, direction, track) VALUES
            (now() - INTERVAL '500 days', gen_random_uuid(), 'c', 'l', 'in', 1),
            (now() - INTERVAL '100 days', gen_random_uuid(), 'c', 'l', 'in', 2);
         INSERT INTO dead_letters (received_at, topic, reason, payload, payload_bytes) VALUES
            (now() - INTERVAL '40 days', 't', 'r', '', 0), (now(), 't', 'r', '', 0);
         INSERT INTO crossing_rollups (resolution, bucket, camera_id, line_id, in_count) VALUES
            ('minute', now() - INTERVAL '40 days', 'c', 'l', 1), ('minute', now(), 'c', 'l', 1),
            ('hour', date_trunc('hour', now() - INTERVAL '40 days'), 'c', 'l', 1);
         UPDATE retention SET keep = INTERVAL '7 days' WHERE table_name = 'occupancy_samples';",
    )
    .await
    .unwrap();
    let mgr = deadpool_postgres::Manager::new(pg.config(), tokio_postgres::NoTls);
    let pool = deadpool_postgres::Pool::builder(mgr)
        .max_size(1)
        .build()
        .unwrap();
    let removed = central::retention::run_once(&pool.get().await.unwrap())
        .await
        .unwrap();
    let by = |t: &str| {
        removed
            .iter()
            .find(|(n, _)| n == t)
            .map(|(_, c)| *c)
            .unwrap()
    };
    assert_eq!(by("events"), 1, "{removed:?}");
    assert_eq!(by("line_crossings"), 1, "{removed:?}");
    assert_eq!(by("dead_letters"), 1);
    assert_eq!(by("crossing_rollups_minute"), 1);
    let count = |sql: &'static str| {
        let db = &db;
        async move { db.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM events").await, 1);
    assert_eq!(count("SELECT count(*) FROM line_crossings").await, 1);
    assert_eq!(count("SELECT count(*) FROM dead_letters").await, 1);
    assert_eq!(
        count("SELECT count(*) FROM crossing_rollups").await,
        2,
        "the hourly rollup is kept"
    );
    // A second run finds nothing more.
    let again = central::retention::run_once(&pool.get().await.unwrap())
        .await
        .unwrap();
    assert!(again.iter().all(|(_, n)| *n == 0), "{again:?}");
}
