//! Alignment: the face, rotated so the eyes are level and scaled by the eye
//! distance, resampled into the embedder's square input.
//!
//! Written here rather than with an image-processing crate because the
//! output goes straight into the model's float tensor (one bilinear pass, no
//! intermediate image) and the whole transform is five lines of arithmetic.
//! The crop geometry (side = 4 × eye distance, centre 30 % of the way from
//! the eyes to the mouth) was chosen on the face-api demo photos: it gave
//! the widest gap between same-face (jittered) and different-face cosine
//! similarities of the crops we tried; see models/README.md.

use super::Face;
use crate::geometry::Point;
use crate::image::ImageView;

/// Crop geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlignConfig {
    /// Output side in pixels (the embedder's input).
    pub size: u32,
    /// Crop side as a multiple of the eye distance.
    pub side_per_eye_distance: f32,
    /// Where the crop is centred between the eyes' midpoint (0) and the
    /// mouth (1).
    pub mouth_weight: f32,
}

impl Default for AlignConfig {
    fn default() -> Self {
        Self {
            size: 224,
            side_per_eye_distance: 4.0,
            mouth_weight: 0.3,
        }
    }
}

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
        let (re, le, mouth) = (face.right_eye(), face.left_eye(), face.mouth());
        let eyes = re.midpoint(le);
        let angle = (le.y - re.y).atan2(le.x - re.x);
        // Guard against eyes that nearly coincide (a profile): never crop
        // tighter than the detector's box.
        let side =
            (face.eye_distance() * cfg.side_per_eye_distance).max(face.bbox.width()) * jitter.scale;
        let w = cfg.mouth_weight;
        let mut centre = Point::new(
            eyes.x * (1.0 - w) + mouth.x * w,
            eyes.y * (1.0 - w) + mouth.y * w,
        );
        centre.x += jitter.dx * side;
        centre.y += jitter.dy * side;
        let s = side / cfg.size as f32;
        let (sin, cos) = angle.sin_cos();
        Self {
            centre,
            ux: Point::new(cos * s, sin * s),
            uy: Point::new(-sin * s, cos * s),
        }
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

    fn face(re: (f32, f32), le: (f32, f32), mouth: (f32, f32)) -> Face {
        let p = |(x, y)| Point::new(x, y);
        Face {
            bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
            score: 0.9,
            keypoints: [
                p(re),
                p(le),
                p((0.0, 0.0)),
                p(mouth),
                p((0.0, 0.0)),
                p((0.0, 0.0)),
            ],
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
