//! The in-memory face index against a real PostgreSQL with pgvector: its
//! sign bits are pgvector's `binary_quantize`, it follows inserts,
//! deletions (a person's cascade included) and a TRUNCATE, and after its
//! listener is cut it loads again, so a template written while it was
//! away is found, and the search it proposes re-ranks to the right person.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use atrium_testkit::{Postgres, poll};
use central::recognize::index::{FaceIndex, follow, pack, sign_bits};
use uuid::Uuid;

const DIM: usize = 1024;
const MODEL: &str = "human_faceres";
const LIMIT: Duration = Duration::from_secs(20);

/// A unit vector from a seed (xorshift), independent of the code under test.
fn vector(seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f32> = (0..DIM)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

async fn add_template(db: &tokio_postgres::Client, person: Uuid, seed: u64) -> Uuid {
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO face_templates (id, person_id, model, quality, embedding) VALUES ($1, $2, $3, 0.9, $4)",
        &[&id, &person, &MODEL, &pgvector::Vector::from(vector(seed))],
    )
    .await
    .unwrap();
    id
}

async fn add_person(db: &tokio_postgres::Client, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO persons (id, name, category) VALUES ($1, $2, 'employee')",
        &[&id, &name],
    )
    .await
    .unwrap();
    id
}

/// Waits until the index, ready, proposes `want` first for seed's vector.
async fn until_first(index: &FaceIndex, seed: u64, want: Uuid) {
    let v = vector(seed);
    poll(LIMIT, || async {
        (index.candidates(MODEL, &v, 1)? == vec![want]).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the index never proposed {want} first"));
}

/// Waits until the index, ready, no longer proposes `gone`.
async fn until_absent(index: &FaceIndex, seed: u64, gone: Uuid) {
    let v = vector(seed);
    poll(LIMIT, || async {
        (!index.candidates(MODEL, &v, 100)?.contains(&gone)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the index still proposes {gone}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_the_table() {
    let pg = Postgres::start().await.unwrap();
    let db = pg.connect().await.unwrap();

    // The codes are pgvector's own sign bits.
    for seed in [1, 2, 3] {
        let v = vector(seed);
        let row = db
            .query_one(
                "SELECT binary_quantize($1::vector)",
                &[&pgvector::Vector::from(v.clone())],
            )
            .await
            .unwrap();
        let bits: pgvector::Bit = row.get(0);
        assert_eq!(pack(bits.as_bytes()), sign_bits(&v), "seed {seed}");
    }

    // Written before the follower starts: found by the first load.
    let alice = add_person(&db, "Alice").await;
    let a1 = add_template(&db, alice, 10).await;
    let index = Arc::new(FaceIndex::new());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn(follow(pg.config(), index.clone(), stop));
    until_first(&index, 10, a1).await;

    // Written after: found through the notification.
    let bob = add_person(&db, "Bob").await;
    let b1 = add_template(&db, bob, 20).await;
    let b2 = add_template(&db, bob, 21).await;
    until_first(&index, 20, b1).await;
    until_first(&index, 21, b2).await;
    assert_eq!(index.len(), 3);

    // The re-rank proposes by bits and ranks by the exact cosine: a
    // vector near b2 gives Bob, with b2's similarity.
    let mut near = vector(21);
    near[0] += 0.05;
    let ids = index.candidates(MODEL, &near, 40).unwrap();
    let ranked: Vec<(Uuid, Uuid, f32)> = db
        .query(
            central::store::faces::RERANK_SQL,
            &[
                &pgvector::Vector::from(near.clone()),
                &ids,
                &10i64,
                &chrono::Utc::now(),
            ],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("id"), r.get("person_id"), r.get("similarity")))
        .collect();
    assert_eq!((ranked[0].0, ranked[0].1), (b2, bob));
    let ranked: Vec<(Uuid, f32)> = ranked.into_iter().map(|r| (r.1, r.2)).collect();
    let want = {
        let b = vector(21);
        let dot: f32 = near.iter().zip(&b).map(|(x, y)| x * y).sum();
        let n: f32 = near.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / n
    };
    assert!(
        (ranked[0].1 - want).abs() < 1e-4,
        "{} vs {want}",
        ranked[0].1
    );

    // Deleting a person deletes their templates (cascade), and the index
    // lets them go.
    db.execute("DELETE FROM persons WHERE id = $1", &[&bob])
        .await
        .unwrap();
    until_absent(&index, 20, b1).await;
    until_absent(&index, 21, b2).await;
    assert_eq!(index.len(), 1);

    // A cut listener: not ready, then loaded again, with what was written
    // while it was away.
    let pids: Vec<i32> = db
        .query(
            "SELECT pid FROM pg_stat_activity
             WHERE query LIKE 'LISTEN atrium_face_templates%' OR query LIKE 'SELECT id, model%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(pids.len(), 1, "the follower's connection was not found");
    let cut: bool = db
        .query_one("SELECT pg_terminate_backend($1)", &[&pids[0]])
        .await
        .unwrap()
        .get(0);
    assert!(cut, "the follower's connection was not cut");
    poll(LIMIT, || async { (!index.is_ready()).then_some(()) })
        .await
        .expect("the index stayed ready without its listener");
    // No listener now: this insert's notification reaches nobody, so only
    // the reload can find it.
    let carol = add_person(&db, "Carol").await;
    let c1 = add_template(&db, carol, 30).await;
    until_first(&index, 30, c1).await;
    assert_eq!(index.len(), 2);

    // TRUNCATE empties it.
    db.batch_execute("TRUNCATE face_templates").await.unwrap();
    poll(LIMIT, || async { index.is_empty().then_some(()) })
        .await
        .expect("the index kept templates after a TRUNCATE");

    stop_tx.send(true).unwrap();
    tokio::time::timeout(LIMIT, follower)
        .await
        .expect("the follower did not stop")
        .unwrap();
    assert!(!index.is_ready());
}
