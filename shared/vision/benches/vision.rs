//! Vision benchmark: per-model latency (p50/p99) at 1 and 2 intra-op
//! threads, and end-to-end throughput of "frame → person boxes" (vtest.avi
//! frames, letterbox + CenterNet + NMS) and "face → embedding" (alignment +
//! FaceRes, one face per call, demo-photo faces). Prints a Markdown table.
//!
//! Run: `scripts/bench-vision` (or `cargo bench -p atrium-vision --bench
//! vision` with ORT_DYLIB_PATH set). `VISION_BENCH_ITERS` sets the timed
//! iterations per cell (default 60).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails loudly

use std::time::Instant;

use atrium_testkit::{fixture, onnxruntime_library, video, workspace_root};
use atrium_vision::image::{DecodeLimits, decode};
use atrium_vision::{Detector, Face, Models, RgbImage, RuntimeOptions};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn time(iters: usize, mut f: impl FnMut(usize)) -> (f64, f64, f64) {
    for i in 0..5 {
        f(i);
    }
    let mut ms = Vec::with_capacity(iters);
    let start = Instant::now();
    for i in 0..iters {
        let t = Instant::now();
        f(i);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let per_sec = iters as f64 / start.elapsed().as_secs_f64();
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.99), per_sec)
}

fn main() {
    let iters: usize = std::env::var("VISION_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let frames: Vec<RgbImage> = video::frames(
        &fixture("vtest.avi").unwrap(),
        &(0..40).map(|i| i * 10).collect::<Vec<_>>(),
    )
    .unwrap()
    .into_iter()
    .map(|f| RgbImage::from_raw(f.width, f.height, f.data).unwrap())
    .collect();
    let photos: Vec<RgbImage> = (1..=6)
        .map(|i| {
            decode(
                &std::fs::read(fixture(&format!("faces/sample{i}.jpg")).unwrap()).unwrap(),
                DecodeLimits::default(),
            )
            .unwrap()
        })
        .collect();

    println!("| stage | threads | p50 ms | p99 ms | per second |");
    println!("|---|---:|---:|---:|---:|");
    for threads in [1, 2] {
        let runtime = RuntimeOptions {
            intra_threads: threads,
            library: Some(onnxruntime_library()),
            ..Default::default()
        };
        let models = Models::open(&workspace_root().join("models"), runtime).unwrap();
        let mut people = models.person_detector(None, None).unwrap();
        let mut faces = models.face_detector().unwrap();

        // Model latency alone: a prescaled frame skips the resize.
        let lb = people.letterbox(frames[0].width(), frames[0].height());
        let scaled = RgbImage::from_raw(
            lb.inner_w,
            lb.inner_h,
            vec![100; (lb.inner_w * lb.inner_h * 3) as usize],
        )
        .unwrap();
        let row = |name: &str, (p50, p99, rate): (f64, f64, f64), unit: &str| {
            println!("| {name} | {threads} | {p50:.1} | {p99:.1} | {rate:.1} {unit} |");
        };
        row(
            "CenterNet 512 (model)",
            time(iters, |_| {
                people
                    .detect_prescaled(&scaled.view(), frames[0].width(), frames[0].height())
                    .unwrap();
            }),
            "runs",
        );
        let square = RgbImage::from_raw(256, 256, vec![100; 256 * 256 * 3]).unwrap();
        row(
            "BlazeFace 256 (model)",
            time(iters, |_| {
                faces.detect(&square.view(), None).unwrap();
            }),
            "runs",
        );
        let face_list: Vec<(usize, Face)> = photos
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                faces
                    .detect(&p.view(), None)
                    .unwrap()
                    .into_iter()
                    .map(move |f| (i, f))
            })
            .collect();
        for id in models.face_embedder_ids() {
            let mut embedder = models.face_embedder_by_id(Some(id)).unwrap();
            let size = embedder.align_config().size;
            row(
                &format!("{id} {size} (align + model)"),
                time(iters, |i| {
                    let (p, f) = &face_list[i % face_list.len()];
                    embedder
                        .embed(&photos[*p].view(), std::slice::from_ref(f))
                        .unwrap();
                }),
                "faces",
            );
        }
        row(
            "frame → person boxes (768x576)",
            time(iters, |i| {
                people.detect(&frames[i % frames.len()].view()).unwrap();
            }),
            "frames",
        );
    }
}
