//! Face search at scale: N synthetic 1024-D templates (default 100 000) in
//! `face_templates` with its HNSW cosine index, searched with the query
//! recognition runs for every observation, beside an exact scan of the
//! same table in the same run.
//!
//! `cargo bench -p central --bench faces_search [-- N]`. Templates are
//! random unit vectors, one per synthetic person; each query is a template
//! plus noise (cosine ≈ 0.8 to it, like a new observation of an enrolled
//! face). Prints latency p50/p99 for the index at two `ef_search` values
//! and for the exact scan, and recall@1 of the index against the exact
//! answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use atrium_testkit::Postgres;
use rand::{Rng, SeedableRng};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

const DIM: usize = 1024;
const QUERIES: usize = 300;

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn gaussian(rng: &mut impl Rng) -> f32 {
    // Box-Muller.
    let (u1, u2): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(n));
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn bench(n: usize) {
    let pg = Postgres::start().await.unwrap();
    let mut db = pg.connect().await.unwrap();
    atrium_migrate::migrate(&mut db).await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // One person per template (the index cares about vectors, not names).
    let started = Instant::now();
    let person = uuid::Uuid::now_v7();
    db.execute(
        "INSERT INTO persons (id, name, category) VALUES ($1, 'synthetic', 'employee')",
        &[&person],
    )
    .await
    .unwrap();
    let vector_type = db.prepare("SELECT $1::vector").await.unwrap().params()[0].clone();
    // Load without the index, then build it (how a bulk import should go).
    db.batch_execute("DROP INDEX face_templates_embedding_1024_idx")
        .await
        .unwrap();
    let sink = db
        .copy_in("COPY face_templates (id, person_id, model, quality, embedding) FROM STDIN BINARY")
        .await
        .unwrap();
    let w = BinaryCopyInWriter::new(
        sink,
        &[
            Type::UUID,
            Type::UUID,
            Type::TEXT,
            Type::FLOAT4,
            vector_type,
        ],
    );
    futures::pin_mut!(w);
    let mut templates: Vec<(uuid::Uuid, Vec<f32>)> = Vec::with_capacity(n);
    for _ in 0..n {
        let v = unit((0..DIM).map(|_| gaussian(&mut rng)).collect());
        let id = uuid::Uuid::now_v7();
        w.as_mut()
            .write(&[
                &id,
                &person,
                &"human_faceres",
                &0.9f32,
                &pgvector::Vector::from(v.clone()),
            ])
            .await
            .unwrap();
        templates.push((id, v));
    }
    w.finish().await.unwrap();
    let load_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    // The index as migration 0006 creates it, unless overridden to compare.
    let m: u32 = std::env::var("ATRIUM_HNSW_M")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let efc: u32 = std::env::var("ATRIUM_HNSW_EF_CONSTRUCTION")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    db.batch_execute(&format!(
        "SET maintenance_work_mem = '2GB';
         CREATE INDEX face_templates_embedding_1024_idx ON face_templates
             USING hnsw ((embedding::vector(1024)) vector_cosine_ops) WITH (m = {m}, ef_construction = {efc})
             WHERE vector_dims(embedding) = 1024;
         ANALYZE face_templates;"
    ))
    .await
    .unwrap();
    let index_s = started.elapsed().as_secs_f64();

    // Queries: a template plus noise.
    let queries: Vec<(uuid::Uuid, pgvector::Vector)> = (0..QUERIES)
        .map(|_| {
            let (id, t) = &templates[rng.random_range(0..n)];
            let noisy: Vec<f32> = t
                .iter()
                .map(|x| x + 0.75 * gaussian(&mut rng) / (DIM as f32).sqrt())
                .collect();
            (*id, pgvector::Vector::from(unit(noisy)))
        })
        .collect();
    // Recognition's own statement (store::faces::nearest).
    let nearest = central::store::faces::nearest_templates_sql(DIM);

    // The HNSW index must serve the statement, with the parameters known
    // (a custom plan) and without (the generic plan a prepared statement
    // falls back to after five runs); else the latencies below would be
    // an exact scan's.
    for mode in ["force_custom_plan", "force_generic_plan"] {
        db.batch_execute(&format!("SET plan_cache_mode = {mode}"))
            .await
            .unwrap();
        let plan: Vec<String> = db
            .query(
                &format!("EXPLAIN {nearest}"),
                &[&queries[0].1, &"human_faceres", &10i64],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(
            plan.iter()
                .any(|l| l.contains("face_templates_embedding_1024_idx")),
            "{mode}: the search does not use the HNSW index:\n{}",
            plan.join("\n")
        );
    }
    db.batch_execute("RESET plan_cache_mode").await.unwrap();

    let run = async |setup: &str| -> (Vec<f64>, Vec<Vec<uuid::Uuid>>) {
        db.batch_execute(setup).await.unwrap();
        // Prepared after the settings change: a plan is fixed at prepare.
        let stmt = db.prepare(&nearest).await.unwrap();
        let mut lat = Vec::with_capacity(QUERIES);
        let mut top = Vec::with_capacity(QUERIES);
        for (_, q) in &queries {
            let t = Instant::now();
            let rows = db
                .query(&stmt, &[q, &"human_faceres", &10i64])
                .await
                .unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            top.push(rows.iter().map(|r| r.get(0)).collect::<Vec<uuid::Uuid>>());
        }
        lat.sort_by(f64::total_cmp);
        (lat, top)
    };
    let (exact_lat, exact_top) = run(
        "SET enable_indexscan = off; SET enable_bitmapscan = off; SET max_parallel_workers_per_gather = 2;",
    )
    .await;
    let mut rows = Vec::new();
    for ef in [40, 100, 400] {
        let (lat, top) = run(&format!(
            "RESET enable_indexscan; RESET enable_bitmapscan; SET hnsw.ef_search = {ef};"
        ))
        .await;
        let first = top
            .iter()
            .zip(&exact_top)
            .filter(|(a, b)| !a.is_empty() && a.first() == b.first())
            .count();
        let in_top = top
            .iter()
            .zip(&exact_top)
            .filter(|(a, b)| b.first().is_some_and(|nn| a.contains(nn)))
            .count();
        rows.push((ef, lat, first, in_top));
    }
    let truth_found = exact_top
        .iter()
        .zip(&queries)
        .filter(|(t, (id, _))| t.first() == Some(id))
        .count();

    println!(
        "\nFace search: {n} templates (1024-D, unit vectors), {QUERIES} queries (template + noise, cosine ~0.8)"
    );
    println!(
        "load (binary COPY) {load_s:.1} s, HNSW build (m {m}, ef_construction {efc}) {index_s:.1} s\n"
    );
    println!(
        "| search (top 10) | p50 ms | p99 ms | recall@1 vs exact | exact nearest within the 10 |"
    );
    println!("|---|---|---|---|---|");
    for (ef, lat, first, in_top) in &rows {
        println!(
            "| HNSW, ef_search {ef} | {:.2} | {:.2} | {:.3} | {:.3} |",
            pct(lat, 0.5),
            pct(lat, 0.99),
            *first as f64 / QUERIES as f64,
            *in_top as f64 / QUERIES as f64
        );
    }
    println!(
        "| exact scan | {:.2} | {:.2} | 1 (reference; the query's own template first in {truth_found}/{QUERIES}) | 1 |",
        pct(&exact_lat, 0.5),
        pct(&exact_lat, 0.99)
    );
}
