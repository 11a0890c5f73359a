//! Broken models and images give clear errors, not panics.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use atrium_testkit::workspace_root;
use atrium_vision::detect::OnnxDetector;
use atrium_vision::image::{DecodeLimits, decode};
use atrium_vision::manifest::Family;
use atrium_vision::runtime::load_session;
use atrium_vision::{DetectorConfig, ImageView, Models, VisionError};

fn copy_models_with(name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = workspace_root().join("models");
    for f in std::fs::read_dir(&src).unwrap() {
        let p = f.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    let target = dir.path().join(name);
    let mut bytes = std::fs::read(&target).unwrap();
    edit(&mut bytes);
    std::fs::write(&target, bytes).unwrap();
    dir
}

#[test]
fn corrupted_model_file_is_a_checksum_error_naming_the_file() {
    let dir = copy_models_with("human_centernet_person.onnx", |b| {
        let mid = b.len() / 2;
        b[mid] ^= 0xff;
    });
    let models = Models::open(dir.path(), common::runtime()).unwrap();
    let err = models.person_detector(None, None).unwrap_err();
    assert!(matches!(err, VisionError::Checksum { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("human_centernet_person.onnx") && text.contains("corrupted"),
        "{text}"
    );
}

#[test]
fn truncated_model_without_a_checksum_is_a_load_error() {
    // A user-supplied model has no manifest entry: ONNX Runtime's own
    // refusal must come back as an error.
    let dir = copy_models_with("human_centernet_coco512.onnx", |b| b.truncate(b.len() / 3));
    let err = load_session(
        &dir.path().join("human_centernet_coco512.onnx"),
        None,
        &common::runtime(),
    )
    .unwrap_err();
    assert!(matches!(err, VisionError::ModelLoad { .. }), "{err:?}");
    let models = common::models();
    let err = models
        .yolo_detector(
            &dir.path().join("human_centernet_coco512.onnx"),
            None,
            DetectorConfig::default(),
        )
        .unwrap_err();
    assert!(matches!(err, VisionError::ModelLoad { .. }), "{err:?}");
}

#[test]
fn model_of_the_wrong_shape_is_a_shape_error() {
    // The face detector's file loaded as the person detector.
    let face = workspace_root().join("models/human_blazeface_decoded.onnx");
    let session = load_session(&face, None, &common::runtime()).unwrap();
    let err = OnnxDetector::new(
        "blazeface-as-centernet",
        Family::Centernet,
        session,
        DetectorConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(err, VisionError::Shape { .. }), "{err:?}");
    assert!(err.to_string().contains("images"), "{err}");

    // …and as a YOLO model.
    let models = common::models();
    let err = models
        .yolo_detector(&face, None, DetectorConfig::default())
        .unwrap_err();
    assert!(matches!(err, VisionError::Shape { .. }), "{err:?}");
    assert!(err.to_string().contains("[1, 3, H, W]"), "{err}");
}

#[test]
fn missing_model_and_manifest_are_clear_errors() {
    let dir = copy_models_with("models.toml", |_| {});
    std::fs::remove_file(dir.path().join("human_faceres.onnx")).unwrap();
    let models = Models::open(dir.path(), common::runtime()).unwrap();
    let err = models.face_embedder().unwrap_err();
    assert!(matches!(err, VisionError::ModelRead { .. }), "{err:?}");
    assert!(err.to_string().contains("human_faceres.onnx"));

    let err = Models::open(&dir.path().join("nowhere"), common::runtime()).unwrap_err();
    assert!(matches!(err, VisionError::Manifest { .. }), "{err:?}");
}

#[test]
fn images_without_pixels_are_refused() {
    // A PNG whose header claims 0x0 pixels.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let ihdr = [0u8, 0, 0, 0, 0, 0, 0, 0, 8, 2, 0, 0, 0];
    png.extend_from_slice(&(ihdr.len() as u32).to_be_bytes());
    png.extend_from_slice(b"IHDR");
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc(b"IHDR", &ihdr).to_be_bytes());
    let err = decode(&png, DecodeLimits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            VisionError::EmptyImage { .. } | VisionError::ImageDecode(_)
        ),
        "{err:?}"
    );
    // An empty view cannot even be built.
    assert!(matches!(
        ImageView::new(0, 0, 0, &[]),
        Err(VisionError::EmptyImage { .. })
    ));
    // Truncated JPEG: an error, not a panic.
    let jpeg = std::fs::read(atrium_testkit::fixture("faces/sample1.jpg").unwrap()).unwrap();
    assert!(decode(&jpeg[..200], DecodeLimits::default()).is_err());
}

fn crc(kind: &[u8], data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in kind.iter().chain(data) {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}
