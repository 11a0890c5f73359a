//! Face search at scale: N synthetic 1024-D templates (default 100 000) in
//! `face_templates` with the index the migrations create, searched with
//! the statement recognition runs for every observation
//! (`store::faces::nearest_templates_sql`), beside an exact scan of the
//! same table in the same run.
//!
//! `cargo bench -p central --bench faces_search [-- N] [--float]`.
//! Two distributions, each loaded and searched in turn:
//! - random: unit vectors, one per synthetic person (the worst case for
//!   a graph index: no structure to follow); a query is a template plus
//!   noise (cosine ≈ 0.8 to it, like a new observation of an enrolled
//!   face);
//! - clustered: five templates per synthetic person around the person's
//!   centre (cosine ≈ 0.85 to it, like several enrolment photos); a query
//!   is a new observation of a person (cosine ≈ 0.7 to their templates).
//!
//! For each: latency p50/p99 and recall@1 against the exact answer for the
//! shipped search (every template's sign bits scanned in memory,
//! `recognize::index`, the candidates re-ranked by exact cosine in the
//! database with `store::faces::RERANK_SQL`) and for the binary-quantized
//! HNSW index it falls back to while loading (migration 0007), at several
//! candidate counts, and with `--float` the full-precision HNSW index of
//! migration 0006 for comparison (a five-minute build at 100 000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use atrium_testkit::Postgres;
use rand::{Rng, SeedableRng};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

const DIM: usize = 1024;
const QUERIES: usize = 300;
const MODEL: &str = "human_faceres";

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

fn noise(rng: &mut impl Rng, scale: f32) -> Vec<f32> {
    (0..DIM)
        .map(|_| scale * gaussian(rng) / (DIM as f32).sqrt())
        .collect()
}

fn plus(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let float = args.iter().any(|a| a == "--float");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(n, float));
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[derive(Clone, Copy, PartialEq)]
enum Distribution {
    Random,
    Clustered,
}

/// A template: id, person, vector.
type Template = (uuid::Uuid, uuid::Uuid, Vec<f32>);

/// Templates and queries of one distribution.
fn generate(d: Distribution, n: usize, rng: &mut impl Rng) -> (Vec<Template>, Vec<Vec<f32>>) {
    let mut templates = Vec::with_capacity(n);
    let mut queries = Vec::with_capacity(QUERIES);
    match d {
        Distribution::Random => {
            for _ in 0..n {
                let v = unit(noise(rng, 1.0));
                templates.push((uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), v));
            }
            for _ in 0..QUERIES {
                let t = &templates[rng.random_range(0..n)].2;
                queries.push(unit(plus(t, &noise(rng, 0.75))));
            }
        }
        Distribution::Clustered => {
            let per = 5;
            let mut centres = Vec::new();
            for _ in 0..n.div_ceil(per) {
                let c = unit(noise(rng, 1.0));
                let person = uuid::Uuid::now_v7();
                for _ in 0..per {
                    if templates.len() < n {
                        let v = unit(plus(&c, &noise(rng, 0.62)));
                        templates.push((uuid::Uuid::now_v7(), person, v));
                    }
                }
                centres.push(c);
            }
            for _ in 0..QUERIES {
                let c = &centres[rng.random_range(0..centres.len())];
                queries.push(unit(plus(c, &noise(rng, 0.62))));
            }
        }
    }
    (templates, queries)
}

async fn bench(n: usize, float: bool) {
    let pg = Postgres::start().await.unwrap();
    let mut db = pg.connect().await.unwrap();
    atrium_migrate::migrate(&mut db).await.unwrap();
    db.batch_execute("SET maintenance_work_mem = '2GB'")
        .await
        .unwrap();
    let vector_type = db.prepare("SELECT $1::vector").await.unwrap().params()[0].clone();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    println!(
        "\nFace search: {n} templates (1024-D), {QUERIES} queries, top 10; recognition's statement"
    );
    for dist in [Distribution::Random, Distribution::Clustered] {
        let name = match dist {
            Distribution::Random => "random (one template a person)",
            Distribution::Clustered => "clustered (five templates a person)",
        };
        let (templates, queries) = generate(dist, n, &mut rng);
        let n_templates = templates.len();
        db.batch_execute("TRUNCATE face_templates, persons CASCADE")
            .await
            .unwrap();
        // Load without the index, then build it (how a bulk import goes).
        let indexes: Vec<String> = db
            .query(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'face_templates' AND indexname LIKE 'face_templates_embedding%'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let defs: Vec<String> = db
            .query(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'face_templates' AND indexname LIKE 'face_templates_embedding%'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        for i in &indexes {
            db.batch_execute(&format!("DROP INDEX {i}")).await.unwrap();
        }
        let started = Instant::now();
        let persons: std::collections::BTreeSet<uuid::Uuid> =
            templates.iter().map(|t| t.1).collect();
        let sink = db
            .copy_in("COPY persons (id, name, category) FROM STDIN BINARY")
            .await
            .unwrap();
        let w = BinaryCopyInWriter::new(sink, &[Type::UUID, Type::TEXT, Type::TEXT]);
        futures::pin_mut!(w);
        for p in &persons {
            w.as_mut()
                .write(&[p, &"synthetic", &"employee"])
                .await
                .unwrap();
        }
        w.finish().await.unwrap();
        let sink = db
            .copy_in(
                "COPY face_templates (id, person_id, model, quality, embedding) FROM STDIN BINARY",
            )
            .await
            .unwrap();
        let w = BinaryCopyInWriter::new(
            sink,
            &[
                Type::UUID,
                Type::UUID,
                Type::TEXT,
                Type::FLOAT4,
                vector_type.clone(),
            ],
        );
        futures::pin_mut!(w);
        for (id, person, v) in &templates {
            w.as_mut()
                .write(&[
                    id,
                    person,
                    &MODEL,
                    &0.9f32,
                    &pgvector::Vector::from(v.clone()),
                ])
                .await
                .unwrap();
        }
        w.finish().await.unwrap();
        let load_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        // The migration's index, or another graph to compare
        // (ATRIUM_HNSW_M / ATRIUM_HNSW_EF_CONSTRUCTION).
        let with = match (
            std::env::var("ATRIUM_HNSW_M"),
            std::env::var("ATRIUM_HNSW_EF_CONSTRUCTION"),
        ) {
            (Ok(m), Ok(efc)) => format!(" WITH (m = {m}, ef_construction = {efc})"),
            _ => String::new(),
        };
        for d in &defs {
            let d = match d.find(" WHERE") {
                Some(i) if !with.is_empty() && !d.contains(" WITH (") => {
                    format!("{}{with}{}", &d[..i], &d[i..])
                }
                _ => d.clone(),
            };
            db.batch_execute(&d).await.unwrap();
        }
        db.batch_execute("ANALYZE face_templates").await.unwrap();
        let index_s = started.elapsed().as_secs_f64();
        let queries: Vec<pgvector::Vector> =
            queries.into_iter().map(pgvector::Vector::from).collect();

        // Runs `sql` (params: vector, model, limit) for every query after
        // `setup`; latencies sorted and the ids returned.
        let run = async |setup: &str, sql: &str| -> (Vec<f64>, Vec<Vec<uuid::Uuid>>) {
            db.batch_execute(setup).await.unwrap();
            // Prepared after the settings change: a plan is fixed at prepare.
            let stmt = db.prepare(sql).await.unwrap();
            let mut lat = Vec::with_capacity(QUERIES);
            let mut top = Vec::with_capacity(QUERIES);
            for q in &queries {
                let t = Instant::now();
                let rows = db.query(&stmt, &[q, &MODEL, &10i64]).await.unwrap();
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                top.push(rows.iter().map(|r| r.get(0)).collect::<Vec<uuid::Uuid>>());
            }
            lat.sort_by(f64::total_cmp);
            (lat, top)
        };
        let exact_sql = format!(
            "SELECT id FROM face_templates WHERE vector_dims(embedding) = {DIM} AND model = $2
             ORDER BY embedding::vector({DIM}) <=> $1::vector({DIM}) LIMIT $3"
        );
        let (exact_lat, exact_top) = run(
            "SET enable_indexscan = off; SET enable_bitmapscan = off; SET max_parallel_workers_per_gather = 2;",
            &exact_sql,
        )
        .await;
        db.batch_execute("RESET enable_indexscan; RESET enable_bitmapscan; RESET max_parallel_workers_per_gather")
            .await
            .unwrap();
        let recall = |top: &[Vec<uuid::Uuid>]| {
            top.iter()
                .zip(&exact_top)
                .filter(|(a, b)| !a.is_empty() && a.first() == b.first())
                .count() as f64
                / QUERIES as f64
        };
        println!("\n{name}: load {load_s:.1} s, index build {index_s:.1} s\n");
        println!("| search | p50 ms | p99 ms | recall@1 vs exact |");
        println!("|---|---|---|---|");
        for (candidates, ef) in [(40i64, 100), (40, 200), (40, 400), (100, 400)] {
            let sql = central::store::faces::nearest_templates_sql(DIM, candidates);
            // The shipped index must serve it, with the parameters known
            // and in the generic plan a prepared statement falls back to.
            for mode in ["force_custom_plan", "force_generic_plan"] {
                db.batch_execute(&format!("SET plan_cache_mode = {mode}"))
                    .await
                    .unwrap();
                let plan: Vec<String> = db
                    .query(&format!("EXPLAIN {sql}"), &[&queries[0], &MODEL, &10i64])
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                assert!(
                    plan.iter()
                        .any(|l| l.contains("Index Scan using face_templates_embedding")),
                    "{mode}: the search does not use the index:\n{}",
                    plan.join("\n")
                );
            }
            db.batch_execute("RESET plan_cache_mode").await.unwrap();
            let (lat, top) = run(&format!("SET hnsw.ef_search = {ef}"), &sql).await;
            println!(
                "| binary HNSW (ef_search {ef}) + exact re-rank of {candidates} | {:.2} | {:.2} | {:.3} |",
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                recall(&top)
            );
        }
        // The shipped search: the index loads through its follower, as in
        // central, then each search scans it and re-ranks in the database.
        let started = Instant::now();
        let index = std::sync::Arc::new(central::recognize::index::FaceIndex::new());
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let follower = tokio::spawn(central::recognize::index::follow(
            pg.config(),
            index.clone(),
            stop,
        ));
        while !(index.is_ready() && index.len() == n_templates) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let index_load_s = started.elapsed().as_secs_f64();
        let rerank = db.prepare(central::store::faces::RERANK_SQL).await.unwrap();
        let now = chrono::Utc::now();
        for candidates in [40usize, 100, 200] {
            let mut lat = Vec::with_capacity(QUERIES);
            let mut top = Vec::with_capacity(QUERIES);
            for q in &queries {
                let t = Instant::now();
                let ids = index.candidates(MODEL, q.as_slice(), candidates).unwrap();
                let rows = db.query(&rerank, &[q, &ids, &10i64, &now]).await.unwrap();
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                top.push(rows.iter().map(|r| r.get(0)).collect::<Vec<uuid::Uuid>>());
            }
            lat.sort_by(f64::total_cmp);
            println!(
                "| in-memory sign bits (loaded in {index_load_s:.1} s) + exact re-rank of {candidates}{} | {:.2} | {:.2} | {:.3} |",
                if candidates == 40 {
                    " (the defaults)"
                } else {
                    ""
                },
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                recall(&top)
            );
        }
        stop_tx.send(true).unwrap();
        follower.await.unwrap();
        if float {
            let started = Instant::now();
            db.batch_execute(&format!(
                "CREATE INDEX float_hnsw ON face_templates
                     USING hnsw ((embedding::vector({DIM})) vector_cosine_ops) WITH (m = 32, ef_construction = 128)
                     WHERE vector_dims(embedding) = {DIM}"
            ))
            .await
            .unwrap();
            let build = started.elapsed().as_secs_f64();
            for ef in [40, 100] {
                let (lat, top) = run(&format!("SET hnsw.ef_search = {ef}"), &exact_sql).await;
                println!(
                    "| float HNSW (m 32, ef_construction 128, built in {build:.0} s), ef_search {ef} | {:.2} | {:.2} | {:.3} |",
                    pct(&lat, 0.5),
                    pct(&lat, 0.99),
                    recall(&top)
                );
            }
            db.batch_execute("DROP INDEX float_hnsw").await.unwrap();
        }
        println!(
            "| exact scan (2 workers) | {:.2} | {:.2} | 1 (reference) |",
            pct(&exact_lat, 0.5),
            pct(&exact_lat, 0.99)
        );
    }
}
