//! Is this face worth embedding? A score from size, sharpness, pose and
//! detector confidence, each scaled to 0..1; the overall score is the
//! weakest of them, so a refusal can name its reason ("too small", "too
//! blurry", "not facing the camera", "unsure it is a face").

use super::Face;
use super::align::{Jitter, Transform, sample};
use crate::image::ImageView;

/// Thresholds behind the component scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityConfig {
    /// Face box width (pixels) scoring 0 at or below…
    pub min_side: f32,
    /// …and 1 at or above.
    pub good_side: f32,
    /// Variance of the Laplacian (64×64 grey crop) that scores 1.
    pub sharp_variance: f32,
    /// Nose offset from the eyes' midpoint along the eye line, as a
    /// fraction of the eye distance, up to which pose scores 1…
    pub frontal_yaw: f32,
    /// …and from which it scores 0 (a profile).
    pub max_yaw: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        Self {
            // Size scores 0.5 (the gate) at 64 px: below it, faces of a
            // person seldom match their other photos (models/README.md,
            // "Faces at CCTV sizes").
            min_side: 32.0,
            good_side: 96.0,
            sharp_variance: 200.0,
            frontal_yaw: 0.25,
            max_yaw: 1.0,
        }
    }
}

/// Which component limits the overall score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityIssue {
    TooSmall,
    TooBlurry,
    NotFrontal,
    LowConfidence,
}

impl QualityIssue {
    /// Words for an API error or a UI hint.
    pub fn describe(self) -> &'static str {
        match self {
            Self::TooSmall => "the face is too small",
            Self::TooBlurry => "the face is too blurry",
            Self::NotFrontal => "the face is not turned towards the camera",
            Self::LowConfidence => "the detector is unsure this is a face",
        }
    }
}

/// Component and overall scores, each 0..1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Quality {
    pub overall: f32,
    pub size: f32,
    pub sharpness: f32,
    pub pose: f32,
    pub detector: f32,
    /// The weakest component.
    pub limiting: QualityIssue,
    /// The raw measurements, for calibration and logs.
    pub side_px: f32,
    pub laplacian_variance: f32,
    pub yaw: f32,
}

fn ramp(v: f32, zero: f32, one: f32) -> f32 {
    ((v - zero) / (one - zero)).clamp(0.0, 1.0)
}

/// Assesses `face` in `image`.
pub fn assess(image: &ImageView<'_>, face: &Face, cfg: &QualityConfig) -> Quality {
    let side_px = face.bbox.width().min(face.bbox.height());
    let lap = laplacian_variance(image, face);
    let yaw = yaw(face);
    let size = ramp(side_px, cfg.min_side, cfg.good_side);
    let sharpness = ramp(lap, 0.0, cfg.sharp_variance);
    let pose = 1.0 - ramp(yaw.abs(), cfg.frontal_yaw, cfg.max_yaw);
    let detector = face.score.clamp(0.0, 1.0);
    let parts = [
        (size, QualityIssue::TooSmall),
        (sharpness, QualityIssue::TooBlurry),
        (pose, QualityIssue::NotFrontal),
        (detector, QualityIssue::LowConfidence),
    ];
    let (overall, limiting) = parts
        .into_iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((0.0, QualityIssue::LowConfidence));
    Quality {
        overall,
        size,
        sharpness,
        pose,
        detector,
        limiting,
        side_px,
        laplacian_variance: lap,
        yaw,
    }
}

/// Nose offset from the eyes' midpoint along the eye line, in eye
/// distances: about 0 for a frontal face, ±0.5 and beyond for a profile.
pub fn yaw(face: &Face) -> f32 {
    let (re, le, nose) = (face.right_eye(), face.left_eye(), face.nose());
    let d = face.eye_distance().max(1e-3);
    let mid = re.midpoint(le);
    ((nose.x - mid.x) * (le.x - re.x) + (nose.y - mid.y) * (le.y - re.y)) / (d * d)
}

/// Variance of the 4-neighbour Laplacian of the face, resampled eye-level
/// to 64×64 grey. Fixed-size resampling makes the number comparable across
/// face sizes: a small face, upsampled, is smooth and scores low too.
pub fn laplacian_variance(image: &ImageView<'_>, face: &Face) -> f32 {
    const N: usize = 64;
    let cfg = super::AlignConfig {
        size: N as u32,
        // The inner face only (eyes to chin), where focus shows.
        method: super::align::AlignMethod::EyeCrop {
            side_per_eye_distance: 2.2,
            mouth_weight: 0.5,
        },
    };
    let t = Transform::for_face(face, &cfg, Jitter::NONE);
    let mut grey = [0.0f32; N * N];
    for v in 0..N {
        for u in 0..N {
            let [r, g, b] = sample(image, t.apply(u as f32, v as f32, N as u32));
            grey[v * N + u] = 0.299 * r + 0.587 * g + 0.114 * b;
        }
    }
    let mut values = Vec::with_capacity((N - 2) * (N - 2));
    for y in 1..N - 1 {
        for x in 1..N - 1 {
            let c = grey[y * N + x];
            values.push(
                grey[y * N + x - 1]
                    + grey[y * N + x + 1]
                    + grey[(y - 1) * N + x]
                    + grey[(y + 1) * N + x]
                    - 4.0 * c,
            );
        }
    }
    let n = values.len() as f32;
    let mean = values.iter().sum::<f32>() / n;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{BBox, Point};
    use crate::image::RgbImage;

    fn face_at(side: f32, nose_dx: f32, score: f32) -> Face {
        let p = Point::new;
        Face {
            bbox: BBox::new(100.0, 100.0, 100.0 + side, 100.0 + side),
            score,
            keypoints: [
                p(100.0 + side * 0.3, 100.0 + side * 0.4),
                p(100.0 + side * 0.7, 100.0 + side * 0.4),
                p(100.0 + side * (0.5 + nose_dx), 100.0 + side * 0.55),
                p(100.0 + side * 0.5, 100.0 + side * 0.75),
                p(100.0, 100.0 + side * 0.45),
                p(100.0 + side, 100.0 + side * 0.45),
            ],
        }
    }

    fn checkerboard(cell: u32) -> RgbImage {
        let (w, h) = (400, 400);
        let mut data = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                let v = if ((x / cell) + (y / cell)).is_multiple_of(2) {
                    255
                } else {
                    0
                };
                data.extend_from_slice(&[v, v, v]);
            }
        }
        RgbImage::from_raw(w, h, data).unwrap()
    }

    #[test]
    fn yaw_is_zero_frontal_and_grows_towards_profile() {
        assert!(yaw(&face_at(100.0, 0.0, 0.9)).abs() < 1e-5);
        let turned = yaw(&face_at(100.0, 0.15, 0.9));
        assert!((turned - 0.375).abs() < 1e-4, "{turned}");
        assert!(yaw(&face_at(100.0, -0.15, 0.9)) < 0.0);
    }

    #[test]
    fn the_weakest_component_sets_the_score_and_names_the_issue() {
        let sharp = checkerboard(4);
        let cfg = QualityConfig::default();
        let good = assess(&sharp.view(), &face_at(120.0, 0.0, 0.95), &cfg);
        assert_eq!(
            (good.size, good.sharpness, good.pose),
            (1.0, 1.0, 1.0),
            "{good:?}"
        );
        assert_eq!(good.limiting, QualityIssue::LowConfidence);
        assert!((good.overall - 0.95).abs() < 1e-6);

        let small = assess(&sharp.view(), &face_at(30.0, 0.0, 0.95), &cfg);
        assert_eq!(small.limiting, QualityIssue::TooSmall, "{small:?}");
        let profile = assess(&sharp.view(), &face_at(120.0, 0.4, 0.95), &cfg);
        assert_eq!(profile.limiting, QualityIssue::NotFrontal, "{profile:?}");
        let flat = RgbImage::from_raw(400, 400, vec![128; 400 * 400 * 3]).unwrap();
        let blurry = assess(&flat.view(), &face_at(120.0, 0.0, 0.95), &cfg);
        assert_eq!(blurry.limiting, QualityIssue::TooBlurry, "{blurry:?}");
        assert_eq!(blurry.laplacian_variance, 0.0);
    }
}
