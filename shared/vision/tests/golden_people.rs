//! Person boxes from our pipeline (letterbox + ONNX Runtime + NMS) against
//! the original TF.js model's, recorded by models/convert/reference.py on
//! the same letterboxed images.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use atrium_testkit::{fixture, video};
use atrium_vision::geometry::{BBox, nms};
use atrium_vision::{Detection, Detector, DetectorConfig, RgbImage};
use serde::Deserialize;

/// Reference scores within this distance of the threshold may fall either
/// side of it (JPEG decoders and resamplers differ by a grey level), so such
/// boxes are allowed, not required.
const MARGIN: f32 = 0.02;
const MIN_IOU: f32 = 0.9;

#[derive(Deserialize)]
struct Reference {
    images: Vec<RefImage>,
}

#[derive(Deserialize)]
struct RefImage {
    image: String,
    size: [u32; 2],
    detections: Vec<RefDet>,
}

#[derive(Deserialize)]
struct RefDet {
    score: f32,
    class: u32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
}

fn reference() -> Reference {
    let path = fixture("vision/centernet_reference.json").unwrap();
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Checks `ours` against the reference; returns (matched, min IoU).
fn compare(
    name: &str,
    ours: &[Detection],
    reference: &RefImage,
    cfg: &DetectorConfig,
) -> (usize, f32) {
    let candidates: Vec<(BBox, f32, u32)> = reference
        .detections
        .iter()
        .filter(|d| cfg.classes.contains(&d.class) && d.score >= cfg.score - MARGIN)
        .map(|d| {
            (
                BBox::new(d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]),
                d.score,
                d.class,
            )
        })
        .collect();
    let kept: Vec<(BBox, f32)> = nms(&candidates, cfg.nms_iou, cfg.max_detections)
        .into_iter()
        .map(|i| (candidates[i].0, candidates[i].1))
        .collect();
    let mut min_iou = 1.0f32;
    let mut matched_maybe = 0;
    for d in ours {
        let (best, iou) = kept
            .iter()
            .enumerate()
            .map(|(i, (b, _))| (i, b.iou(&d.bbox)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or_else(|| panic!("{name}: we found {d:?}, the original model found nothing"));
        assert!(
            iou >= MIN_IOU,
            "{name}: our {d:?} overlaps the closest reference box {:?} by IoU {iou:.3}",
            kept[best]
        );
        min_iou = min_iou.min(iou);
        if kept[best].1 < cfg.score + MARGIN {
            matched_maybe += 1;
        }
    }
    let sure: Vec<&(BBox, f32)> = kept
        .iter()
        .filter(|(_, s)| *s >= cfg.score + MARGIN)
        .collect();
    for (b, s) in &sure {
        assert!(
            ours.iter().any(|d| d.bbox.iou(b) >= MIN_IOU),
            "{name}: the original model found a person at {b:?} (score {s:.3}) that we missed; ours: {ours:?}"
        );
    }
    assert_eq!(
        ours.len(),
        sure.len() + matched_maybe,
        "{name}: count differs from the original model's ({} certain, {matched_maybe} borderline)",
        sure.len()
    );
    (ours.len(), min_iou)
}

/// Every CenterNet of the manifest (the default person-only cut and the
/// 80-class original) against the original TF.js model's boxes.
fn check(images: Vec<(String, RgbImage)>) {
    let models = common::models();
    let ids: Vec<String> = models
        .manifest()
        .models
        .iter()
        .filter(|(_, m)| {
            matches!(
                m.family,
                atrium_vision::manifest::Family::Centernet
                    | atrium_vision::manifest::Family::CenternetPerson
            )
        })
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    for id in ids {
        check_one(&models, &id, &images);
    }
}

fn check_one(models: &atrium_vision::Models, id: &str, images: &[(String, RgbImage)]) {
    let mut detector = models.person_detector(Some(id), None).unwrap();
    let cfg = models.detector_config(detector.model_id()).unwrap();
    let reference = reference();
    let mut total = 0;
    for (name, img) in images {
        let r = reference
            .images
            .iter()
            .find(|r| r.image == *name)
            .unwrap_or_else(|| panic!("no reference for {name}"));
        assert_eq!(
            r.size,
            [img.width(), img.height()],
            "{name}: reference was made on another image"
        );
        let ours = detector.detect(&img.view()).unwrap();
        let (n, min_iou) = compare(name, &ours, r, &cfg);
        println!(
            "{id}: {name}: {n} people, all matching the original model (min IoU {min_iou:.3})"
        );
        total += n;
    }
    assert!(total > 0, "the golden images contain people");
}

#[test]
fn person_boxes_match_the_original_model_on_the_demo_photos() {
    check(common::demo_photos());
}

#[test]
fn person_boxes_match_the_original_model_on_vtest_frames() {
    let reference = reference();
    let indices: Vec<usize> = reference
        .images
        .iter()
        .filter_map(|r| r.image.strip_prefix("vtest.avi#"))
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        indices.len() >= 5,
        "reference holds vtest frames {indices:?}"
    );
    let frames = video::frames(&fixture("vtest.avi").unwrap(), &indices).unwrap();
    assert_eq!(frames.len(), indices.len());
    check(
        frames
            .into_iter()
            .map(|f| {
                (
                    format!("vtest.avi#{}", f.index),
                    RgbImage::from_raw(f.width, f.height, f.data).unwrap(),
                )
            })
            .collect(),
    );
}

#[test]
fn prescaled_frames_give_the_same_people_as_full_frames() {
    // The edge scales frames with swscale to the letterbox's inner size and
    // calls detect_prescaled; boxes must land in frame coordinates exactly
    // as with a full frame.
    let models = common::models();
    let mut detector = models.person_detector(None, None).unwrap();
    let frame = video::frames(&fixture("vtest.avi").unwrap(), &[250])
        .unwrap()
        .remove(0);
    let img = RgbImage::from_raw(frame.width, frame.height, frame.data).unwrap();
    let full = detector.detect(&img.view()).unwrap();
    let lb = detector.letterbox(img.width(), img.height());
    let scaled = resize_nearest_free(&img, lb.inner_w, lb.inner_h);
    let pre = detector
        .detect_prescaled(&scaled.view(), img.width(), img.height())
        .unwrap();
    assert_eq!(full.len(), pre.len());
    for (a, b) in full.iter().zip(&pre) {
        assert!(a.bbox.iou(&b.bbox) > 0.95, "{a:?} vs {b:?}");
    }
    let wrong = detector.detect_prescaled(&img.view(), img.width(), img.height());
    assert!(wrong.is_err(), "a frame of the wrong size is refused");
}

/// The detector's own resize, through a letterbox that maps the image onto
/// exactly the inner size (same resampling as the full-frame path).
fn resize_nearest_free(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    use atrium_vision::letterbox::{Layout, Letterbox, Letterboxer, Normalise};
    let lb = Letterbox::full(img.width(), img.height(), w, h);
    assert_eq!((lb.inner_w, lb.inner_h), (w, h));
    let mut t = vec![0.0f32; (w * h * 3) as usize];
    Letterboxer::new()
        .fill(&img.view(), &lb, Layout::Nhwc, Normalise::RAW, &mut t)
        .unwrap();
    RgbImage::from_raw(w, h, t.iter().map(|v| v.round() as u8).collect()).unwrap()
}
