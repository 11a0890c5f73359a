//! Alignment: the face, rotated upright and scaled by its landmarks,
//! resampled into the embedder's square input.
//!
//! Written here rather than with an image-processing crate because the
//! output goes straight into the model's float tensor (one bilinear pass, no
//! intermediate image) and each transform is a few lines of arithmetic.
//!
//! Each embedder was trained on crops made one way, and matches faces well
//! only when fed crops made the same way (models/README.md measures how
//! fast similarity falls off when the crop is off):
//! - [`AlignMethod::EyeCrop`] (FaceRes): eyes levelled, side = 4 × eye
//!   distance, centred 30 % of the way from the eyes to the mouth; chosen
//!   on the face-api demo photos as the crop with the widest gap between
//!   same-face and different-face similarities.
//! - [`AlignMethod::ArcFace`] (MobileFace and the InsightFace family): the
//!   least-squares similarity transform that puts the eyes, nose tip and
//!   mouth centre on the five-point template those models were trained on
//!   (112 × 112, mouth corners averaged to their centre).

use super::Face;
use crate::geometry::Point;
use crate::image::ImageView;

/// How a face is cropped for an embedder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlignMethod {
    /// Eyes levelled, a square `side_per_eye_distance` eye distances wide,
    /// centred between the eyes' midpoint (0) and the mouth (1) at
    /// `mouth_weight`.
    EyeCrop {
        side_per_eye_distance: f32,
        mouth_weight: f32,
    },
    /// The ArcFace landmark template, scaled to the output size.
    ArcFace,
}

/// Crop geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlignConfig {
    /// Output side in pixels (the embedder's input).
    pub size: u32,
    pub method: AlignMethod,
}

impl Default for AlignConfig {
    /// FaceRes's crop.
    fn default() -> Self {
        Self {
            size: 224,
            method: AlignMethod::EyeCrop {
                side_per_eye_distance: 4.0,
                mouth_weight: 0.3,
            },
        }
    }
}

impl AlignConfig {
    /// The ArcFace template at `size` × `size`.
    pub fn arcface(size: u32) -> Self {
        Self {
            size,
            method: AlignMethod::ArcFace,
        }
    }
}

/// The ArcFace template for a 112-pixel crop, in OpenCV pixel coordinates
/// (pixel centres on integers): right eye (image left), left eye, nose tip,
/// and the mean of the two mouth corners.
const ARCFACE_112: [(f32, f32); 4] = [
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (56.1396, 92.2848),
];

/// A deliberate perturbation of the crop: shift as a fraction of the crop
/// side, and scale. Used to test stability and to augment enrolment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    pub dx: f32,
    pub dy: f32,
    pub scale: f32,
}

impl Jitter {
    pub const NONE: Self = Self {
        dx: 0.0,
        dy: 0.0,
        scale: 1.0,
    };
}

/// The affine map from output pixel (u, v) to image point: centre, unit
/// vectors of the output axes in image pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub centre: Point,
    pub ux: Point,
    pub uy: Point,
}

impl Transform {
    pub fn for_face(face: &Face, cfg: &AlignConfig, jitter: Jitter) -> Self {
        let t = match cfg.method {
            AlignMethod::EyeCrop {
                side_per_eye_distance,
                mouth_weight,
            } => Self::eye_crop(face, cfg.size, side_per_eye_distance, mouth_weight),
            AlignMethod::ArcFace => Self::arcface(face, cfg.size),
        };
        t.jittered(cfg.size, jitter)
    }

    fn eye_crop(face: &Face, size: u32, side_per_eye_distance: f32, w: f32) -> Self {
        let (re, le, mouth) = (face.right_eye(), face.left_eye(), face.mouth());
        let eyes = re.midpoint(le);
        let angle = (le.y - re.y).atan2(le.x - re.x);
        // Guard against eyes that nearly coincide (a profile): never crop
        // tighter than the detector's box.
        let side = (face.eye_distance() * side_per_eye_distance).max(face.bbox.width());
        let centre = Point::new(
            eyes.x * (1.0 - w) + mouth.x * w,
            eyes.y * (1.0 - w) + mouth.y * w,
        );
        let s = side / size as f32;
        let (sin, cos) = angle.sin_cos();
        Self {
            centre,
            ux: Point::new(cos * s, sin * s),
            uy: Point::new(-sin * s, cos * s),
        }
    }

    /// Least-squares similarity (rotation, scale, shift) from the template
    /// (output pixels) onto the face's landmarks (image pixels):
    /// image = a·U − b·V + tx, b·U + a·V + ty, in closed form from the
    /// centred point sets.
    fn arcface(face: &Face, size: u32) -> Self {
        let k = size as f32 / 112.0;
        // Template in this module's convention (pixel centres at +0.5).
        let dst = ARCFACE_112.map(|(u, v)| Point::new((u + 0.5) * k, (v + 0.5) * k));
        let src = [face.right_eye(), face.left_eye(), face.nose(), face.mouth()];
        let n = dst.len() as f32;
        let mean = |ps: &[Point; 4]| {
            Point::new(
                ps.iter().map(|p| p.x).sum::<f32>() / n,
                ps.iter().map(|p| p.y).sum::<f32>() / n,
            )
        };
        let (md, ms) = (mean(&dst), mean(&src));
        let (mut num_a, mut num_b, mut den) = (0.0f32, 0.0f32, 0.0f32);
        for (d, s) in dst.iter().zip(&src) {
            let (u, v) = (d.x - md.x, d.y - md.y);
            let (x, y) = (s.x - ms.x, s.y - ms.y);
            num_a += u * x + v * y;
            num_b += u * y - v * x;
            den += u * u + v * v;
        }
        let (a, b) = (num_a / den, num_b / den);
        let (tx, ty) = (ms.x - (a * md.x - b * md.y), ms.y - (b * md.x + a * md.y));
        let c = size as f32 / 2.0;
        Self {
            centre: Point::new(a * c - b * c + tx, b * c + a * c + ty),
            ux: Point::new(a, b),
            uy: Point::new(-b, a),
        }
    }

    /// Scaled about its centre, then shifted by a fraction of the (scaled)
    /// crop's side.
    fn jittered(mut self, size: u32, jitter: Jitter) -> Self {
        if jitter == Jitter::NONE {
            return self;
        }
        for p in [&mut self.ux, &mut self.uy] {
            p.x *= jitter.scale;
            p.y *= jitter.scale;
        }
        let side = self.ux.x.hypot(self.ux.y) * size as f32;
        self.centre.x += jitter.dx * side;
        self.centre.y += jitter.dy * side;
        self
    }

    /// The image point sampled for the centre of output pixel (u, v).
    pub fn apply(&self, u: f32, v: f32, size: u32) -> Point {
        let du = u + 0.5 - size as f32 / 2.0;
        let dv = v + 0.5 - size as f32 / 2.0;
        Point::new(
            self.centre.x + du * self.ux.x + dv * self.uy.x,
            self.centre.y + du * self.ux.y + dv * self.uy.y,
        )
    }
}

/// Bilinear sample at `p` (pixel centres at +0.5); black outside.
pub fn sample(image: &ImageView<'_>, p: Point) -> [f32; 3] {
    let x = p.x - 0.5;
    let y = p.y - 0.5;
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let mut out = [0.0f32; 3];
    for (dy, wy) in [(0.0, 1.0 - fy), (1.0, fy)] {
        for (dx, wx) in [(0.0, 1.0 - fx), (1.0, fx)] {
            let (sx, sy) = (x0 + dx, y0 + dy);
            if sx < 0.0 || sy < 0.0 || sx >= image.width() as f32 || sy >= image.height() as f32 {
                continue;
            }
            let px = image.pixel(sx as u32, sy as u32);
            let wgt = wx * wy;
            for c in 0..3 {
                out[c] += f32::from(px[c]) * wgt;
            }
        }
    }
    out
}

/// Writes the aligned crop (0..255, NHWC) into `out` (`size² × 3` values).
pub fn align_into(
    image: &ImageView<'_>,
    face: &Face,
    cfg: &AlignConfig,
    jitter: Jitter,
    out: &mut [f32],
) {
    let t = Transform::for_face(face, cfg, jitter);
    let n = cfg.size;
    for v in 0..n {
        for u in 0..n {
            let px = sample(image, t.apply(u as f32, v as f32, n));
            let i = ((v * n + u) * 3) as usize;
            out[i..i + 3].copy_from_slice(&px);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;
    use crate::image::RgbImage;

    fn face_at(re: Point, le: Point, mouth: Point) -> Face {
        let o = Point::new(0.0, 0.0);
        Face {
            bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
            score: 0.9,
            keypoints: [re, le, o, mouth, o, o],
        }
    }

    #[test]
    fn level_eyes_give_an_axis_aligned_crop_of_four_eye_distances() {
        let f = face((40.0, 50.0), (60.0, 50.0), (50.0, 70.0));
        let cfg = AlignConfig {
            size: 80,
            ..Default::default()
        };
        let t = Transform::for_face(&f, &cfg, Jitter::NONE);
        // Centre 30 % of the way from the eyes (50,50) to the mouth (50,70).
        assert!((t.centre.x - 50.0).abs() < 1e-4 && (t.centre.y - 56.0).abs() < 1e-4);
        // 80 output pixels span 4 × 20 = 80 image pixels.
        assert!((t.ux.x - 1.0).abs() < 1e-5 && t.ux.y.abs() < 1e-5);
        let corner = t.apply(-0.5, -0.5, 80);
        assert!(
            (corner.x - 10.0).abs() < 1e-3 && (corner.y - 16.0).abs() < 1e-3,
            "{corner:?}"
        );
    }

    /// A face whose landmarks are the template, turned by `angle`, scaled
    /// by `scale` and moved by `shift`.
    fn template_face(scale: f32, angle: f32, shift: (f32, f32)) -> Face {
        let (sin, cos) = angle.sin_cos();
        let p = |(u, v): (f32, f32)| {
            let (x, y) = ((u + 0.5) * scale, (v + 0.5) * scale);
            Point::new(cos * x - sin * y + shift.0, sin * x + cos * y + shift.1)
        };
        let mut f = face_at(p(ARCFACE_112[0]), p(ARCFACE_112[1]), p(ARCFACE_112[3]));
        f.keypoints[2] = p(ARCFACE_112[2]);
        f
    }

    fn face(re: (f32, f32), le: (f32, f32), mouth: (f32, f32)) -> Face {
        face_at(
            Point::new(re.0, re.1),
            Point::new(le.0, le.1),
            Point::new(mouth.0, mouth.1),
        )
    }

    #[test]
    fn arcface_maps_the_template_onto_the_landmarks() {
        for (scale, angle, shift) in [
            (1.0, 0.0, (0.0, 0.0)),
            (2.5, 0.0, (40.0, -7.0)),
            (0.6, 0.4, (300.0, 120.0)),
        ] {
            let f = template_face(scale, angle, shift);
            let t = Transform::for_face(&f, &AlignConfig::arcface(112), Jitter::NONE);
            for (i, (u, v)) in ARCFACE_112.iter().enumerate() {
                let p = t.apply(*u, *v, 112);
                let want = f.keypoints[i];
                assert!(
                    p.distance(want) < 2e-3 * scale.max(1.0),
                    "scale {scale} angle {angle}: template point {i} lands at {p:?}, landmark {want:?}"
                );
            }
            // The output axes are the face's, at the face's scale.
            assert!((t.ux.x.hypot(t.ux.y) - scale).abs() < 1e-4);
            assert!((t.ux.y.atan2(t.ux.x) - angle).abs() < 1e-4);
        }
        // A 224 crop covers the same face area at twice the resolution.
        let f = template_face(1.0, 0.0, (0.0, 0.0));
        let t = Transform::for_face(&f, &AlignConfig::arcface(224), Jitter::NONE);
        assert!((t.ux.x - 0.5).abs() < 1e-5 && (t.centre.x - 56.0).abs() < 1e-3);
    }

    #[test]
    fn tilted_eyes_are_levelled() {
        // Head tilted 90°: left eye straight below the right one.
        let f = face((50.0, 40.0), (50.0, 60.0), (30.0, 50.0));
        let t = Transform::for_face(&f, &AlignConfig::default(), Jitter::NONE);
        // The output's x axis follows the eyes: downwards in the image.
        assert!(t.ux.x.abs() < 1e-5 && t.ux.y > 0.0);
    }

    #[test]
    fn sampling_interpolates_and_is_black_outside() {
        // 2x1 image: black then white.
        let img = RgbImage::from_raw(2, 1, vec![0, 0, 0, 255, 255, 255]).unwrap();
        let v = img.view();
        assert_eq!(sample(&v, Point::new(0.5, 0.5)), [0.0; 3]);
        assert_eq!(sample(&v, Point::new(1.5, 0.5)), [255.0; 3]);
        let mid = sample(&v, Point::new(1.0, 0.5));
        assert!((mid[0] - 127.5).abs() < 1e-3);
        assert_eq!(sample(&v, Point::new(-5.0, -5.0)), [0.0; 3]);
    }
}
