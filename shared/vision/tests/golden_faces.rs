//! Faces on the six face-api demo photos: detection counts, quality, and
//! embeddings that separate the same face from different people.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use atrium_vision::face::quality::assess;
use atrium_vision::face::{Jitter, QualityIssue};
use atrium_vision::{Embedding, Face, RgbImage};

/// BlazeFace at score ≥ 0.5 on sample1..6 (the models recipe's counts).
const EXPECTED_FACES: [usize; 6] = [3, 3, 3, 4, 5, 4];

const JITTERS: [Jitter; 4] = [
    Jitter::NONE,
    Jitter {
        dx: 0.05,
        dy: -0.04,
        scale: 1.06,
    },
    Jitter {
        dx: -0.04,
        dy: 0.05,
        scale: 0.95,
    },
    Jitter {
        dx: 0.03,
        dy: 0.03,
        scale: 1.03,
    },
];

fn detect_all() -> Vec<(String, RgbImage, Vec<Face>)> {
    let models = common::models();
    let mut detector = models.face_detector().unwrap();
    common::demo_photos()
        .into_iter()
        .map(|(name, img)| {
            let faces = detector.detect(&img.view(), None).unwrap();
            (name, img, faces)
        })
        .collect()
}

#[test]
fn face_counts_per_photo_match_the_recipe() {
    let counts: Vec<usize> = detect_all().iter().map(|(_, _, f)| f.len()).collect();
    assert_eq!(counts, EXPECTED_FACES);
}

#[test]
fn keypoints_lie_inside_their_face_and_eyes_are_ordered() {
    for (name, _, faces) in detect_all() {
        for f in faces {
            let b = f.bbox;
            for k in &f.keypoints[..4] {
                assert!(
                    k.x >= b.x1 && k.x <= b.x2 && k.y >= b.y1 && k.y <= b.y2,
                    "{name}: keypoint {k:?} outside {b:?}"
                );
            }
            // The subject's right eye is on the image's left; the mouth is
            // below the eyes.
            assert!(f.right_eye().x < f.left_eye().x, "{name}: {f:?}");
            assert!(
                f.mouth().y > f.right_eye().y.min(f.left_eye().y),
                "{name}: {f:?}"
            );
        }
    }
}

#[test]
fn same_face_under_jitter_is_above_the_threshold_and_different_people_below() {
    let models = common::models();
    let threshold = models.same_person_threshold().unwrap();
    let mut embedder = models.face_embedder().unwrap();
    assert_eq!(embedder.dim(), 1024);
    // (photo, face, jitter, embedding)
    let mut all: Vec<(usize, usize, usize, Embedding)> = Vec::new();
    for (p, (_, img, faces)) in detect_all().into_iter().enumerate() {
        for (f, face) in faces.iter().enumerate() {
            let items: Vec<_> = JITTERS.iter().map(|j| (*face, *j)).collect();
            for (j, e) in embedder
                .embed_jittered(&img.view(), &items)
                .unwrap()
                .into_iter()
                .enumerate()
            {
                assert_eq!(e.model, "human_faceres");
                let norm: f32 = e.values.iter().map(|v| v * v).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-4);
                all.push((p, f, j, e));
            }
        }
    }
    assert_eq!(
        all.len(),
        EXPECTED_FACES.iter().sum::<usize>() * JITTERS.len()
    );
    let (mut same_min, mut diff_max, mut same_n, mut diff_n) = (f32::MAX, f32::MIN, 0, 0);
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            let c = a.3.cosine(&b.3).unwrap();
            if (a.0, a.1) == (b.0, b.1) {
                assert!(
                    c > threshold,
                    "photo {} face {}: jitter {} vs {} only {c:.3}",
                    a.0 + 1,
                    a.1,
                    a.2,
                    b.2
                );
                same_min = same_min.min(c);
                same_n += 1;
            } else if a.0 != b.0 {
                // Different photos show different people.
                assert!(
                    c < threshold,
                    "photo {} face {} vs photo {} face {}: {c:.3}",
                    a.0 + 1,
                    a.1,
                    b.0 + 1,
                    b.1
                );
                diff_max = diff_max.max(c);
                diff_n += 1;
            }
        }
    }
    println!(
        "threshold {threshold}: same face (jittered, {same_n} pairs) min {same_min:.3}; different people ({diff_n} pairs) max {diff_max:.3}"
    );
}

#[test]
fn demo_faces_pass_the_quality_gate_and_degraded_ones_fail_for_the_right_reason() {
    let models = common::models();
    let gate = models.min_face_quality().unwrap();
    let cfg = models.quality_config();
    let photos = detect_all();
    let mut passed = 0;
    let mut total = 0;
    for (_, img, faces) in &photos {
        for f in faces {
            total += 1;
            if assess(&img.view(), f, &cfg).overall >= gate {
                passed += 1;
            }
        }
    }
    // Most demo faces are usable; a few are turned away (that is the point
    // of the pose score).
    println!("{passed}/{total} demo faces pass the quality gate {gate}");
    assert!(
        passed * 3 >= total * 2,
        "{passed}/{total} demo faces pass the gate"
    );

    // The most frontal sharp face of sample6, blurred: fails as blurry.
    let (_, img, faces) = &photos[5];
    let face = faces
        .iter()
        .max_by(|a, b| {
            assess(&img.view(), a, &cfg)
                .overall
                .total_cmp(&assess(&img.view(), b, &cfg).overall)
        })
        .unwrap();
    let sharp = assess(&img.view(), face, &cfg);
    assert!(sharp.overall >= gate, "{sharp:?}");
    let blurred = box_blur(img, 6);
    let q = assess(&blurred.view(), face, &cfg);
    assert_eq!(q.limiting, QualityIssue::TooBlurry, "{q:?}");
    assert!(q.overall < gate, "{q:?}");

    // The same photo shrunk to 1/10: the faces (about 24 px) are still
    // found but are too small to embed.
    let small = shrink(img, 10);
    let mut detector = models.face_detector().unwrap();
    let tiny_faces = detector.detect(&small.view(), None).unwrap();
    assert!(
        !tiny_faces.is_empty(),
        "BlazeFace still finds the shrunk faces"
    );
    for f in &tiny_faces {
        let q = assess(&small.view(), f, &cfg);
        assert!(q.overall < gate, "a {:.0}px face passed: {q:?}", q.side_px);
        assert!(q.size < 1.0);
    }
}

fn box_blur(img: &RgbImage, r: i64) -> RgbImage {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let src = img.as_bytes();
    let pass = |src: &[u8], horizontal: bool| -> Vec<u8> {
        let mut out = vec![0u8; src.len()];
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let mut sum = 0u32;
                    let mut n = 0u32;
                    for d in -r..=r {
                        let (sx, sy) = if horizontal { (x + d, y) } else { (x, y + d) };
                        if sx >= 0 && sx < w && sy >= 0 && sy < h {
                            sum += u32::from(src[((sy * w + sx) * 3 + c) as usize]);
                            n += 1;
                        }
                    }
                    out[((y * w + x) * 3 + c) as usize] = (sum / n) as u8;
                }
            }
        }
        out
    };
    let once = pass(src, true);
    let twice = pass(&once, false);
    RgbImage::from_raw(img.width(), img.height(), twice).unwrap()
}

fn shrink(img: &RgbImage, k: u32) -> RgbImage {
    let (w, h) = (img.width() / k, img.height() / k);
    let v = img.view();
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&v.pixel(x * k, y * k));
        }
    }
    RgbImage::from_raw(w, h, data).unwrap()
}
