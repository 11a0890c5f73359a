//! The database goes away for a minute under steady load; nothing is lost
//! or doubled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use atrium_proto::event::Direction;
use support::*;

const RATE: u64 = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_of_sixty_seconds_under_500_events_per_second_loses_nothing() {
    let mut stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let central = stack.central("central", "").await;
    let metrics = central.state.metrics.clone();

    // Publisher: 500 events/s, in ticks of 50, until told to stop.
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let mut cam = stack.camera_client("cam-a").await;
    let publisher = tokio::spawn(async move {
        let topic = event_topic("cam-a");
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut sent = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            for _ in 0..RATE / 10 {
                let e = crossing(
                    "cam-a",
                    "door",
                    if sent.is_multiple_of(2) {
                        Direction::In
                    } else {
                        Direction::Out
                    },
                    sent,
                );
                assert!(
                    cam.publish_acked(&topic, json(&e)).await,
                    "broker refused event {sent}"
                );
                sent += 1;
            }
        }
        sent
    });

    wait_until(Duration::from_secs(30), "ingest under way", || async {
        metrics.events_stored.get() >= 2000
    })
    .await;
    stack.pg.stop().await.unwrap();
    let down = tokio::time::Instant::now();
    wait_until(
        Duration::from_secs(30),
        "ingest notices the outage",
        || async { metrics.spool_depth.get() > 0 },
    )
    .await;
    tokio::time::sleep_until(down + Duration::from_secs(60)).await; // the outage itself
    let spooled = metrics.spool_depth.get();
    stack.pg.restart().await.unwrap();
    // Keep publishing through the recovery, then stop.
    wait_until(Duration::from_secs(120), "the spool drains", || async {
        metrics.spool_depth.get() == 0
    })
    .await;
    stop_tx.send(true).unwrap();
    let sent = publisher.await.unwrap();
    println!("published {sent} events; {spooled} were spooled during the outage");
    assert!(
        sent >= 60 * RATE,
        "the load kept going through the outage: {sent}"
    );
    assert!(
        spooled >= 20 * RATE as i64,
        "the outage was real: {spooled} spooled"
    );
    wait_until(Duration::from_secs(60), "every event stored", || async {
        metrics.events_stored.get() >= sent
    })
    .await;
    assert_eq!(
        stack.count("SELECT count(*) FROM events").await,
        sent as i64
    );
    assert_eq!(
        stack.count("SELECT count(DISTINCT id) FROM events").await,
        sent as i64
    );
    assert_eq!(
        stack.count("SELECT count(*) FROM line_crossings").await,
        sent as i64
    );
    assert_eq!(
        stack.count("SELECT sum(in_count + out_count)::bigint FROM crossing_rollups WHERE resolution = 'hour'").await,
        sent as i64
    );
    central.shutdown().await;
}
