//! The Ultralytics YOLO family, end to end through ONNX Runtime, with a tiny
//! model built here: real YOLO weights cannot be fetched on these machines,
//! so the model ignores its input's content and always emits a fixed
//! [1, 84, 4] output in the Ultralytics layout. What is under test is our
//! side: input layout and size discovery, letterboxing, decoding, class
//! filtering, NMS and mapping back to frame pixels.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use atrium_vision::geometry::BBox;
use atrium_vision::{Detector, DetectorConfig, RgbImage};

const ANCHORS: usize = 4;
const ROWS: usize = 84;

// --- a minimal protobuf writer for ONNX's ModelProto ----------------------

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn field_varint(field: u32, v: u64, out: &mut Vec<u8>) {
    varint(u64::from(field) << 3, out);
    varint(v, out);
}

fn field_bytes(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    varint((u64::from(field) << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// TensorProto: float tensor with raw little-endian data.
fn tensor(name: &str, dims: &[i64], values: &[f32]) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        field_varint(1, d as u64, &mut t);
    }
    field_varint(2, 1, &mut t); // FLOAT
    field_bytes(8, name.as_bytes(), &mut t);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    field_bytes(9, &raw, &mut t);
    t
}

/// TensorProto: int64 tensor (for Reshape's shape input).
fn tensor_i64(name: &str, dims: &[i64], values: &[i64]) -> Vec<u8> {
    let mut t = Vec::new();
    for &d in dims {
        field_varint(1, d as u64, &mut t);
    }
    field_varint(2, 7, &mut t); // INT64
    field_bytes(8, name.as_bytes(), &mut t);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    field_bytes(9, &raw, &mut t);
    t
}

/// ValueInfoProto: a float tensor of fixed shape.
fn value_info(name: &str, dims: &[i64]) -> Vec<u8> {
    let mut shape = Vec::new();
    for &d in dims {
        let mut dim = Vec::new();
        field_varint(1, d as u64, &mut dim);
        field_bytes(1, &dim, &mut shape);
    }
    let mut tensor_type = Vec::new();
    field_varint(1, 1, &mut tensor_type);
    field_bytes(2, &shape, &mut tensor_type);
    let mut type_proto = Vec::new();
    field_bytes(1, &tensor_type, &mut type_proto);
    let mut v = Vec::new();
    field_bytes(1, name.as_bytes(), &mut v);
    field_bytes(2, &type_proto, &mut v);
    v
}

fn node(op: &str, inputs: &[&str], output: &str) -> Vec<u8> {
    let mut n = Vec::new();
    for i in inputs {
        field_bytes(1, i.as_bytes(), &mut n);
    }
    field_bytes(2, output.as_bytes(), &mut n);
    field_bytes(3, output.as_bytes(), &mut n);
    field_bytes(4, op.as_bytes(), &mut n);
    n
}

/// images [1,3,640,640] → ReduceMean → ×0 → reshape [1,1,1] → + fixed
/// output → output0 [1,84,N]. The output depends on the input (so ONNX
/// Runtime keeps the input) but its value is the fixed tensor.
fn tiny_yolo(fixed: &[f32]) -> Vec<u8> {
    let mut g = Vec::new();
    field_bytes(1, &node("ReduceMean", &["images"], "mean"), &mut g);
    field_bytes(1, &node("Mul", &["mean", "zero"], "zeroed"), &mut g);
    field_bytes(
        1,
        &node("Reshape", &["zeroed", "shape3"], "zeroed3"),
        &mut g,
    );
    field_bytes(1, &node("Add", &["zeroed3", "fixed"], "output0"), &mut g);
    field_bytes(2, b"tiny_yolo", &mut g);
    field_bytes(5, &tensor("zero", &[1], &[0.0]), &mut g);
    field_bytes(5, &tensor_i64("shape3", &[3], &[1, 1, 1]), &mut g);
    field_bytes(
        5,
        &tensor("fixed", &[1, ROWS as i64, ANCHORS as i64], fixed),
        &mut g,
    );
    field_bytes(11, &value_info("images", &[1, 3, 640, 640]), &mut g);
    field_bytes(
        12,
        &value_info("output0", &[1, ROWS as i64, ANCHORS as i64]),
        &mut g,
    );
    let mut opset = Vec::new();
    field_bytes(1, b"", &mut opset);
    field_varint(2, 17, &mut opset);
    let mut m = Vec::new();
    field_varint(1, 8, &mut m); // ir_version
    field_bytes(2, b"atrium-test", &mut m);
    field_bytes(7, &g, &mut m);
    field_bytes(8, &opset, &mut m);
    m
}

/// One anchor: (cx, cy, w, h) in 640-input pixels and (class, score) pairs.
type Anchor<'a> = ([f32; 4], &'a [(usize, f32)]);

/// Column-per-anchor output in the Ultralytics layout.
fn output(anchors: &[Anchor<'_>]) -> Vec<f32> {
    let mut out = vec![0.0f32; ROWS * ANCHORS];
    for (j, (b, scores)) in anchors.iter().enumerate() {
        for (r, v) in b.iter().enumerate() {
            out[r * ANCHORS + j] = *v;
        }
        for &(c, s) in *scores {
            out[(4 + c) * ANCHORS + j] = s;
        }
    }
    out
}

#[test]
fn yolo_export_detects_people_in_frame_coordinates() {
    // A 1280x720 frame letterboxes into 640x360 at y = 140..500 (scale 0.5).
    let fixed = output(&[
        ([320.0, 320.0, 100.0, 200.0], &[(0, 0.9)]), // person
        ([324.0, 322.0, 100.0, 200.0], &[(0, 0.8)]), // same person again: NMS drops it
        ([100.0, 250.0, 50.0, 50.0], &[(1, 0.95), (0, 0.1)]), // bicycle
        ([500.0, 300.0, 80.0, 160.0], &[(0, 0.2)]),  // weak person
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-yolo.onnx");
    std::fs::write(&path, tiny_yolo(&fixed)).unwrap();

    let models = common::models();
    let sha = atrium_vision::runtime::sha256_hex(&std::fs::read(&path).unwrap());
    let mut detector = models
        .yolo_detector(&path, Some(&sha), DetectorConfig::default())
        .unwrap();
    assert_eq!(detector.model_id(), "tiny-yolo.onnx");
    let lb = detector.letterbox(1280, 720);
    assert_eq!(
        (lb.input_w, lb.input_h, lb.inner_w, lb.inner_h, lb.pad_y),
        (640, 640, 640, 360, 140)
    );

    let frame = RgbImage::from_raw(1280, 720, vec![90; 1280 * 720 * 3]).unwrap();
    let people = detector.detect(&frame.view()).unwrap();
    assert_eq!(people.len(), 1, "{people:?}");
    let p = people[0];
    assert_eq!(p.class, 0);
    assert!((p.score - 0.9).abs() < 1e-6);
    let expected = BBox::new(540.0, 160.0, 740.0, 560.0);
    assert!(p.bbox.iou(&expected) > 0.999, "{:?}", p.bbox);

    // Asking for bicycles too brings the bicycle back.
    let mut both = models
        .yolo_detector(
            &path,
            None,
            DetectorConfig {
                classes: vec![0, 1],
                ..Default::default()
            },
        )
        .unwrap();
    let found = both.detect(&frame.view()).unwrap();
    assert_eq!(
        found.iter().map(|d| d.class).collect::<Vec<_>>(),
        vec![1, 0]
    );

    // A wrong checksum for a user-supplied model is refused too.
    let err = models
        .yolo_detector(&path, Some(&"0".repeat(64)), DetectorConfig::default())
        .unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");
}
