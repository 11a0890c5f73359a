//! Recognition across different photos of the same person, with the
//! production enrolment code: the face_recognition 1.3.0 test photos
//! (three different photos of one person, one of another; scripts/setup
//! takes them from PyPI) at the shipped threshold, and
//! `central admin faces calibrate` on small directories of them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use atrium_testkit::{fixture, onnxruntime_library, workspace_root};

/// tests/fixtures/face-photos/<person>/<photo> (scripts/setup).
fn photos() -> PathBuf {
    let one = fixture("face-photos/biden/biden.jpg").unwrap();
    one.ancestors().nth(2).unwrap().to_path_buf()
}

fn calibrate(dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_central"))
        .args(["admin", "faces", "calibrate"])
        .arg(dir)
        .arg("--models-dir")
        .arg(workspace_root().join("models"))
        .arg("--onnxruntime")
        .arg(onnxruntime_library())
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The number after `key` on the line that starts with `line`.
fn number(text: &str, line: &str, key: &str) -> f64 {
    let l = text
        .lines()
        .find(|l| l.starts_with(line))
        .unwrap_or_else(|| panic!("no line {line:?} in:\n{text}"));
    let rest = &l[l.find(key).unwrap_or_else(|| panic!("no {key:?} in {l:?}")) + key.len()..];
    rest.trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{l:?}: {e}"))
}

/// A deployment's configuration file, with a comment to keep.
const SITE_CONFIG: &str = "# site settings\n[database]\nurl = \"postgres://atrium@127.0.0.1/atrium\"\n\n[broker]\nhost = \"broker.example\"\nca_file = \"/etc/atrium/pki/ca.pem\"\ncert_file = \"/etc/atrium/pki/central.pem\"\nkey_file = \"/etc/atrium/pki/central.key\"\n\n[auth]\njwt_key_file = \"/var/lib/atrium/jwt.pem\"\n\n[ingest]\nspool_dir = \"/var/lib/atrium/ingest-spool\"\n\n[faces]\nmargin = 0.05 # tuned\n";

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
}

/// A second photo of the other person: the photo mirrored and re-encoded
/// as WebP. Not a different photo (the real set has one of them), so it
/// only makes the directory valid for the command; the genuine pairs that
/// matter are the three of the first person.
fn mirrored_webp(from: &Path, to: &Path) {
    let img = image::open(from).unwrap().fliph().into_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::WebP).unwrap();
    std::fs::write(to, out.into_inner()).unwrap();
}

#[test]
fn calibrate_orders_same_person_above_others_and_refuses_too_little_data() {
    let set = photos();
    let dir = tempfile::tempdir().unwrap();
    // One person with one photo: nothing to calibrate on.
    copy(
        &set.join("obama/obama.jpg"),
        &dir.path().join("obama/1.jpg"),
    );
    copy(
        &set.join("obama/obama3.jpg"),
        &dir.path().join("obama/3.jpg"),
    );
    copy(
        &set.join("biden/biden.jpg"),
        &dir.path().join("biden/1.jpg"),
    );
    let (ok, out, err) = calibrate(dir.path(), &[]);
    assert!(!ok, "one person with two photos is refused:\n{out}");
    assert!(
        err.contains("at least 2 persons with 2 or more usable photos"),
        "{err}"
    );

    mirrored_webp(
        &set.join("biden/biden.jpg"),
        &dir.path().join("biden/2.webp"),
    );
    copy(
        &set.join("obama/obama2.jpg"),
        &dir.path().join("obama/2.jpg"),
    );
    let config = dir.path().join("central.toml");
    // A deployment's file: --apply changes `[faces] threshold` only.
    std::fs::write(&config, SITE_CONFIG).unwrap();
    let (ok, out, err) = calibrate(
        dir.path(),
        &["--apply", "--config", config.to_str().unwrap()],
    );
    assert!(ok, "{out}\n{err}");
    println!("{out}");
    assert!(out.contains("calibrated on 5 photos of 2 persons"), "{out}");
    let genuine_median = number(&out, "genuine pairs", "median");
    let impostor_max = number(&out, "impostor pairs", "max");
    assert!(
        genuine_median > impostor_max,
        "the same person's photos resemble each other more than the other's:\n{out}"
    );
    let suggested = number(&out, "suggested threshold", "threshold");
    assert!(suggested > impostor_max, "{out}");
    let written: toml::Value = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let t = written["faces"]["threshold"].as_float().unwrap();
    assert!((t - suggested).abs() < 1e-9, "{t} vs {suggested}");
    assert_eq!(written["faces"]["margin"].as_float(), Some(0.05));
    assert_eq!(written["broker"]["host"].as_str(), Some("broker.example"));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("# site settings") && text.contains("# tuned"),
        "{text}"
    );
}

/// `--compare` measures every embedder of the manifest on the same photos
/// in one run and prints one row each; `--model X --apply` writes the
/// model and its suggested threshold into the configuration.
#[test]
fn calibrate_compares_every_embedder_and_applies_a_chosen_one() {
    let set = photos();
    let dir = tempfile::tempdir().unwrap();
    for f in ["obama.jpg", "obama2.jpg", "obama3.jpg"] {
        copy(
            &set.join("obama").join(f),
            &dir.path().join("obama").join(f),
        );
    }
    copy(
        &set.join("biden/biden.jpg"),
        &dir.path().join("biden/1.jpg"),
    );
    mirrored_webp(
        &set.join("biden/biden.jpg"),
        &dir.path().join("biden/2.webp"),
    );
    let (ok, out, err) = calibrate(dir.path(), &["--compare"]);
    assert!(ok, "{out}\n{err}");
    println!("{out}");
    let (_, ids) = embedders();
    for id in &ids {
        let row = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("no row for {id}:\n{out}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[2], "5", "{id} embedded all 5 photos: {row}");
        let auc: f64 = cols[3].parse().unwrap();
        assert!(auc > 0.5 && auc <= 1.0, "{row}");
        let ms: f64 = cols[7].parse().unwrap();
        assert!(ms > 0.0, "{row}");
    }
    let config = dir.path().join("central.toml");
    std::fs::write(&config, SITE_CONFIG).unwrap();
    let other = ids.last().unwrap();
    let (ok, out, err) = calibrate(
        dir.path(),
        &[
            "--model",
            other,
            "--apply",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("with model {other}")), "{out}");
    let written: toml::Value = toml::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(written["faces"]["embedder"].as_str(), Some(other.as_str()));
    let suggested = number(&out, "suggested threshold", "threshold");
    let t = written["faces"]["threshold"].as_float().unwrap();
    assert!((t - suggested).abs() < 1e-9, "{t} vs {suggested}");
}

/// The embedders of the manifest, the default first.
fn embedders() -> (String, Vec<String>) {
    let models = support::faces::models();
    let default = models.default_face_embedder().to_owned();
    let mut ids: Vec<String> = models
        .face_embedder_ids()
        .into_iter()
        .map(str::to_owned)
        .collect();
    ids.sort_by_key(|id| *id != default);
    (default, ids)
}

/// For every embedder of the manifest: each photo of the first person is
/// the probe in turn, with the person's other photos enrolled (as the
/// product asks: several photos a person), and the other person enrolled
/// too. The probe's best person must be the right one, ahead of the other
/// by the vote's margin, and the other person's photo, as a stranger
/// against the first person's photos, must stay below the model's shipped
/// threshold; pairwise TAR and FAR at the threshold are printed. With the
/// default embedder every probe must also reach the threshold (the
/// product's promise); another model's rate is printed and documented
/// (models/README.md), not promised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_photos_of_one_person_are_recognised_at_the_shipped_threshold() {
    let (default, ids) = embedders();
    assert!(ids.len() >= 2, "the manifest ships two embedders: {ids:?}");
    for model in ids {
        let faces = central::config::FacesSection {
            models_dir: workspace_root().join("models"),
            onnxruntime: Some(onnxruntime_library()),
            enabled: true,
            embedder: Some(model.clone()),
            ..Default::default()
        };
        let (state, recognize) = central::recognize::setup(&faces).unwrap();
        let enroller = state.enroller.unwrap();
        assert_eq!(enroller.embedder(), model);
        let set = photos();
        let mut samples = Vec::new();
        for (person, file) in [
            ("obama", "obama.jpg"),
            ("obama", "obama2.jpg"),
            ("obama", "obama3.jpg"),
            ("biden", "biden.jpg"),
        ] {
            let bytes = std::fs::read(set.join(person).join(file)).unwrap();
            let e = enroller
                .enrol(bytes)
                .await
                .unwrap_or_else(|e| panic!("{model}: {person}/{file}: {e}"));
            assert_eq!(e.embedding.model, model);
            samples.push((person.to_owned(), e.embedding));
        }
        let vote = recognize.vote;
        let (genuine, impostor) = central::recognize::calibrate::pairs(&samples).unwrap();
        let at = central::recognize::calibrate::operating(&genuine, &impostor, vote.threshold);
        println!(
            "{model}: threshold {:.2}: genuine pairs {genuine:.3?} (TAR {:.0} %), impostor pairs {impostor:.3?} (FAR {:.0} %)",
            vote.threshold,
            at.tar * 100.0,
            at.far * 100.0
        );
        assert_eq!(
            at.far, 0.0,
            "{model}: no pair of two people reaches the threshold"
        );
        let best = |probe: usize, person: &str| {
            samples
                .iter()
                .enumerate()
                .filter(|(i, (p, _))| *i != probe && p == person)
                .map(|(_, (_, e))| samples[probe].1.cosine(e).unwrap())
                .fold(f32::MIN, f32::max)
        };
        let mut recognised = 0;
        for probe in 0..3 {
            let (own, other) = (best(probe, "obama"), best(probe, "biden"));
            println!(
                "{model}: probe obama #{probe}: best own photo {own:.3}, other person {other:.3}"
            );
            assert!(
                own - other >= vote.margin,
                "{model}: probe {probe}: lead {} under the margin",
                own - other
            );
            recognised += usize::from(own >= vote.threshold);
        }
        println!("{model}: {recognised}/3 probes reach the threshold");
        if model == default {
            assert_eq!(
                recognised, 3,
                "{model}: every probe is recognised at the threshold"
            );
        }
        let stranger = best(3, "obama");
        println!("{model}: biden against obama's photos: {stranger:.3}");
        assert!(
            stranger < vote.threshold,
            "{model}: a stranger matched: {stranger}"
        );
    }
}

/// The face as a camera sees it: `photo` scaled so the face box is `side`
/// pixels, then softened (CCTV optics and compression) with a Gaussian
/// blur of 0.7 px.
fn as_cctv(photo: &atrium_vision::RgbImage, face_side: f32, side: f32) -> atrium_vision::RgbImage {
    let scale = side / face_side;
    let (w, h) = (
        ((photo.width() as f32 * scale).round() as u32).max(8),
        ((photo.height() as f32 * scale).round() as u32).max(8),
    );
    let src = image::RgbImage::from_raw(photo.width(), photo.height(), photo.as_bytes().to_vec())
        .unwrap();
    let small = image::imageops::resize(&src, w, h, image::imageops::FilterType::Triangle);
    let soft = image::imageops::blur(&small, 0.7);
    atrium_vision::RgbImage::from_raw(w, h, soft.into_raw()).unwrap()
}

/// Faces at typical CCTV sizes (face box 24 to 96 px wide): each photo,
/// shrunk and softened, against the full-size photos of everyone else
/// (its own person's other photos: genuine; the other person's: impostor).
/// Prints detection, the quality gate and TAR/FAR at the shipped threshold
/// per size. What must hold: no shrunk face is taken for the other person
/// at any size the gate lets through, and the gate refuses the sizes at
/// which recognition has fallen apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_soft_faces_per_size_and_the_quality_gate() {
    let (_, ids) = embedders();
    for model in ids {
        small_soft_faces(&model);
    }
}

fn small_soft_faces(model: &str) {
    let models = support::faces::models();
    let mut detector = models.face_detector().unwrap();
    let mut embedder = models.face_embedder_by_id(Some(model)).unwrap();
    let gate = models.min_face_quality().unwrap();
    let quality_cfg = models.quality_config();
    let threshold = models.same_person_threshold_of(model).unwrap();
    let set = photos();
    let photos: Vec<(&str, atrium_vision::RgbImage)> = [
        ("obama", "obama.jpg"),
        ("obama", "obama2.jpg"),
        ("obama", "obama3.jpg"),
        ("biden", "biden.jpg"),
    ]
    .into_iter()
    .map(|(p, f)| {
        let bytes = std::fs::read(set.join(p).join(f)).unwrap();
        (
            p,
            atrium_vision::image::decode(&bytes, Default::default()).unwrap(),
        )
    })
    .collect();
    let largest = |faces: Vec<atrium_vision::Face>| {
        faces
            .into_iter()
            .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
    };
    let mut full = Vec::new();
    for (_, img) in &photos {
        let face = largest(detector.detect(&img.view(), None).unwrap()).unwrap();
        let e = embedder.embed(&img.view(), &[face]).unwrap().remove(0);
        full.push((face, e));
    }
    println!(
        "{model}: face side | detected | pass gate | TAR all detected | TAR passed | FAR passed (pairs) | threshold {threshold:.2}"
    );
    let mut rows = Vec::new();
    for side in [24.0f32, 32.0, 44.0, 64.0, 96.0, 128.0] {
        let (mut detected, mut passed) = (0, 0);
        let (mut hits_all, mut probes_all, mut hits, mut probes) = (0, 0, 0, 0);
        let (mut false_accepts, mut impostor_pairs) = (0, 0);
        for (i, (person, img)) in photos.iter().enumerate() {
            let face_side = full[i].0.bbox.width().min(full[i].0.bbox.height());
            let small = as_cctv(img, face_side, side);
            let Some(face) = largest(detector.detect(&small.view(), None).unwrap()) else {
                continue;
            };
            detected += 1;
            let q = atrium_vision::face::quality::assess(&small.view(), &face, &quality_cfg);
            let through = q.overall >= gate;
            passed += usize::from(through);
            let e = embedder.embed(&small.view(), &[face]).unwrap().remove(0);
            let mut best_own = f32::MIN;
            for (j, (other, _)) in photos.iter().enumerate() {
                if j == i {
                    continue;
                }
                let s = e.cosine(&full[j].1).unwrap();
                if other == person {
                    best_own = best_own.max(s);
                } else if through {
                    impostor_pairs += 1;
                    false_accepts += usize::from(s >= threshold);
                }
            }
            if *person == "obama" {
                probes_all += 1;
                hits_all += usize::from(best_own >= threshold);
                if through {
                    probes += 1;
                    hits += usize::from(best_own >= threshold);
                }
            }
        }
        println!(
            "{model}: {side:>6} px | {detected}/4 | {passed}/4 | {hits_all}/{probes_all} | {hits}/{probes} | {false_accepts}/{impostor_pairs}"
        );
        rows.push((side, passed, false_accepts));
    }
    for (side, passed, false_accepts) in &rows {
        assert_eq!(
            *false_accepts, 0,
            "{model}: {side} px: a shrunk face matched the other person"
        );
        if *side <= 24.0 {
            assert_eq!(*passed, 0, "the gate must refuse {side} px faces");
        }
    }
    assert!(
        rows.iter()
            .all(|(side, passed, _)| *side < 96.0 || *passed == 4),
        "{model}: the gate lets through faces of 96 px and more: {rows:?}"
    );
}
