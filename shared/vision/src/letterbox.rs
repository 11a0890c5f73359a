//! Letterboxing: fitting an image region into a model's fixed input without
//! distorting it, and mapping model coordinates back.
//!
//! The region is scaled by one factor so its longer side fills the input,
//! centred, and the rest is padding. Detectors trained on square inputs find
//! people better this way than on a stretched frame (measured on the demo
//! photos in the models recipe). Resizing uses fast_image_resize's bilinear
//! convolution, which matches Pillow's, the library the reference detections
//! were recorded with. The result is written straight into the model's input
//! tensor, normalised, in NHWC or NCHW order: one pass, no intermediate
//! float image.

use fast_image_resize as fr;

use crate::error::VisionError;
use crate::geometry::{BBox, Point};
use crate::image::ImageView;

/// Where a source region lands in the model input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// The source region, in image pixels.
    pub region: BBox,
    /// Input pixels per source pixel.
    pub scale: f32,
    /// Size of the scaled region inside the input.
    pub inner_w: u32,
    pub inner_h: u32,
    /// Offset of the scaled region inside the input.
    pub pad_x: u32,
    pub pad_y: u32,
    /// The model input size.
    pub input_w: u32,
    pub input_h: u32,
}

impl Letterbox {
    /// Fits `region` into `input_w` × `input_h`, centred.
    pub fn new(region: BBox, input_w: u32, input_h: u32) -> Self {
        let (rw, rh) = (region.width().max(1e-3), region.height().max(1e-3));
        let scale = (input_w as f32 / rw).min(input_h as f32 / rh);
        let inner_w = ((rw * scale).round() as u32).clamp(1, input_w);
        let inner_h = ((rh * scale).round() as u32).clamp(1, input_h);
        Self {
            region,
            scale,
            inner_w,
            inner_h,
            pad_x: (input_w - inner_w) / 2,
            pad_y: (input_h - inner_h) / 2,
            input_w,
            input_h,
        }
    }

    /// The whole of a `width` × `height` image.
    pub fn full(width: u32, height: u32, input_w: u32, input_h: u32) -> Self {
        Self::new(
            BBox::new(0.0, 0.0, width as f32, height as f32),
            input_w,
            input_h,
        )
    }

    /// Input coordinates → source image coordinates.
    pub fn to_source(&self, p: Point) -> Point {
        // Scale by the exact inner size so rounding of inner_w/h is undone.
        let sx = self.region.width() / self.inner_w as f32;
        let sy = self.region.height() / self.inner_h as f32;
        Point::new(
            self.region.x1 + (p.x - self.pad_x as f32) * sx,
            self.region.y1 + (p.y - self.pad_y as f32) * sy,
        )
    }

    /// An input-space box → source image coordinates.
    pub fn box_to_source(&self, b: BBox) -> BBox {
        let a = self.to_source(Point::new(b.x1, b.y1));
        let c = self.to_source(Point::new(b.x2, b.y2));
        BBox::new(a.x, a.y, c.x, c.y)
    }
}

/// Tensor memory order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[1, H, W, 3]` (TF.js-derived models).
    Nhwc,
    /// `[1, 3, H, W]` (PyTorch-derived models such as YOLO).
    Nchw,
}

/// How a byte value becomes a model input value: `v * mul + add`; `pad` is
/// the byte value of padding before normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalise {
    pub mul: f32,
    pub add: f32,
    pub pad: u8,
}

impl Normalise {
    /// 0..255 as it is.
    pub const RAW: Self = Self {
        mul: 1.0,
        add: 0.0,
        pad: 0,
    };
    /// -1..1 (`v / 127.5 - 1`).
    pub const SIGNED: Self = Self {
        mul: 1.0 / 127.5,
        add: -1.0,
        pad: 0,
    };
    /// 0..1 with grey (114) padding, as Ultralytics trains.
    pub const YOLO: Self = Self {
        mul: 1.0 / 255.0,
        add: 0.0,
        pad: 114,
    };
}

/// Reusable letterbox state: the resizer and its output buffer live as long
/// as the model so a frame costs no allocation.
pub struct Letterboxer {
    resizer: fr::Resizer,
    scaled: Vec<u8>,
}

impl std::fmt::Debug for Letterboxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Letterboxer").finish_non_exhaustive()
    }
}

impl Default for Letterboxer {
    fn default() -> Self {
        Self::new()
    }
}

impl Letterboxer {
    pub fn new() -> Self {
        Self {
            resizer: fr::Resizer::new(),
            scaled: Vec::new(),
        }
    }

    /// Writes `image`'s `lb.region` into `tensor` (length `3 * input_w *
    /// input_h`), letterboxed and normalised. If the image already has the
    /// inner size and the region is the whole image (the edge scaled the
    /// frame with swscale), it is copied without resizing.
    pub fn fill(
        &mut self,
        image: &ImageView<'_>,
        lb: &Letterbox,
        layout: Layout,
        norm: Normalise,
        tensor: &mut [f32],
    ) -> Result<(), VisionError> {
        let (iw, ih) = (lb.input_w as usize, lb.input_h as usize);
        if tensor.len() != iw * ih * 3 {
            return Err(VisionError::Resize(format!(
                "tensor holds {} values, input {iw}x{ih}x3 needs {}",
                tensor.len(),
                iw * ih * 3
            )));
        }
        let whole = lb.region == BBox::new(0.0, 0.0, image.width() as f32, image.height() as f32);
        let prescaled = whole && image.width() == lb.inner_w && image.height() == lb.inner_h;
        let (inner_w, inner_h) = (lb.inner_w as usize, lb.inner_h as usize);
        let (src, src_stride): (&[u8], usize) = if prescaled {
            // Borrow the rows in place.
            (&[], image.stride())
        } else {
            self.resize(image, lb)?;
            (&self.scaled, inner_w * 3)
        };
        let pad = f32::from(norm.pad) * norm.mul + norm.add;
        tensor.fill(pad);
        let plane = iw * ih;
        for y in 0..inner_h {
            let row: &[u8] = if prescaled {
                image.row(y as u32)
            } else {
                &src[y * src_stride..y * src_stride + inner_w * 3]
            };
            let ty = y + lb.pad_y as usize;
            match layout {
                Layout::Nhwc => {
                    let start = (ty * iw + lb.pad_x as usize) * 3;
                    for (t, &v) in tensor[start..start + inner_w * 3].iter_mut().zip(row) {
                        *t = f32::from(v) * norm.mul + norm.add;
                    }
                }
                Layout::Nchw => {
                    let base = ty * iw + lb.pad_x as usize;
                    for (x, px) in row.chunks_exact(3).enumerate() {
                        for (c, &v) in px.iter().enumerate() {
                            tensor[c * plane + base + x] = f32::from(v) * norm.mul + norm.add;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn resize(&mut self, image: &ImageView<'_>, lb: &Letterbox) -> Result<(), VisionError> {
        let packed = image.packed();
        let src =
            fr::images::ImageRef::new(image.width(), image.height(), &packed, fr::PixelType::U8x3)
                .map_err(|e| VisionError::Resize(e.to_string()))?;
        self.scaled
            .resize(lb.inner_w as usize * lb.inner_h as usize * 3, 0);
        let mut dst = fr::images::Image::from_slice_u8(
            lb.inner_w,
            lb.inner_h,
            &mut self.scaled,
            fr::PixelType::U8x3,
        )
        .map_err(|e| VisionError::Resize(e.to_string()))?;
        let r = lb.region.clip(image.width() as f32, image.height() as f32);
        if r.width() < 1.0 || r.height() < 1.0 || r != lb.region {
            // A region reaching outside the image: resize the visible part
            // into the matching sub-rectangle, leave the rest as padding.
            return self.resize_partial(&src, lb, r);
        }
        let opts = fr::ResizeOptions::new()
            .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear))
            .crop(
                f64::from(r.x1),
                f64::from(r.y1),
                f64::from(r.width()),
                f64::from(r.height()),
            );
        self.resizer
            .resize(&src, &mut dst, &opts)
            .map_err(|e| VisionError::Resize(e.to_string()))
    }

    /// Region partly outside the image: scale the visible part and place it
    /// where it belongs inside the inner rectangle (black elsewhere).
    fn resize_partial(
        &mut self,
        src: &fr::images::ImageRef<'_>,
        lb: &Letterbox,
        visible: BBox,
    ) -> Result<(), VisionError> {
        self.scaled.fill(0);
        if visible.width() < 1.0 || visible.height() < 1.0 {
            return Ok(());
        }
        let sx = lb.inner_w as f32 / lb.region.width();
        let sy = lb.inner_h as f32 / lb.region.height();
        let ox = ((visible.x1 - lb.region.x1) * sx).round() as u32;
        let oy = ((visible.y1 - lb.region.y1) * sy).round() as u32;
        let w =
            ((visible.width() * sx).round() as u32).clamp(1, lb.inner_w.saturating_sub(ox).max(1));
        let h =
            ((visible.height() * sy).round() as u32).clamp(1, lb.inner_h.saturating_sub(oy).max(1));
        if ox >= lb.inner_w || oy >= lb.inner_h {
            return Ok(());
        }
        let mut part = fr::images::Image::new(w, h, fr::PixelType::U8x3);
        let opts = fr::ResizeOptions::new()
            .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear))
            .crop(
                f64::from(visible.x1),
                f64::from(visible.y1),
                f64::from(visible.width()),
                f64::from(visible.height()),
            );
        self.resizer
            .resize(src, &mut part, &opts)
            .map_err(|e| VisionError::Resize(e.to_string()))?;
        let stride = lb.inner_w as usize * 3;
        for y in 0..h as usize {
            let src_row = &part.buffer()[y * w as usize * 3..(y + 1) * w as usize * 3];
            let start = (oy as usize + y) * stride + ox as usize * 3;
            self.scaled[start..start + w as usize * 3].copy_from_slice(src_row);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::RgbImage;

    #[test]
    fn landscape_frame_is_centred_vertically() {
        let lb = Letterbox::full(768, 576, 512, 512);
        assert_eq!((lb.inner_w, lb.inner_h), (512, 384));
        assert_eq!((lb.pad_x, lb.pad_y), (0, 64));
        let p = lb.to_source(Point::new(256.0, 64.0 + 192.0));
        assert!(
            (p.x - 384.0).abs() < 1e-3 && (p.y - 288.0).abs() < 1e-3,
            "{p:?}"
        );
    }

    #[test]
    fn region_maps_back_into_the_image() {
        let lb = Letterbox::new(BBox::new(100.0, 50.0, 200.0, 250.0), 256, 256);
        assert_eq!(
            (lb.inner_w, lb.inner_h, lb.pad_x, lb.pad_y),
            (128, 256, 64, 0)
        );
        let b = lb.box_to_source(BBox::new(64.0, 0.0, 192.0, 256.0));
        assert!(
            (b.x1 - 100.0).abs() < 1e-3 && (b.y2 - 250.0).abs() < 1e-3,
            "{b:?}"
        );
    }

    fn solid(w: u32, h: u32, rgb: [u8; 3]) -> RgbImage {
        RgbImage::from_raw(
            w,
            h,
            rgb.iter()
                .copied()
                .cycle()
                .take((w * h * 3) as usize)
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn fill_writes_padding_and_normalised_pixels_in_both_layouts() {
        let img = solid(8, 4, [255, 0, 51]);
        let lb = Letterbox::full(8, 4, 4, 4);
        let mut lbx = Letterboxer::new();
        let mut t = vec![0.0; 4 * 4 * 3];
        lbx.fill(&img.view(), &lb, Layout::Nhwc, Normalise::SIGNED, &mut t)
            .unwrap();
        // Row 0 is padding (-1), row 1 is content.
        assert!(t[..12].iter().all(|&v| v == -1.0));
        assert!((t[12] - 1.0).abs() < 1e-6 && (t[13] + 1.0).abs() < 1e-6);
        assert!((t[14] - (51.0 / 127.5 - 1.0)).abs() < 1e-6);

        let mut t = vec![0.0; 4 * 4 * 3];
        lbx.fill(&img.view(), &lb, Layout::Nchw, Normalise::YOLO, &mut t)
            .unwrap();
        let pad = 114.0 / 255.0;
        assert!(
            (t[0] - pad).abs() < 1e-6,
            "top-left of the red plane is padding"
        );
        assert!((t[4] - 1.0).abs() < 1e-6, "red plane, row 1");
        assert!((t[16 + 4]).abs() < 1e-6, "green plane, row 1");
        assert!((t[32 + 4] - 0.2).abs() < 1e-6, "blue plane, row 1");
    }

    #[test]
    fn prescaled_frames_are_copied_not_resized() {
        // A 4x2 view with a padded stride, already at the inner size of a
        // 4x4 input: rows are read in place.
        let data = [9u8; 4 * 3 * 2 + 5];
        let view = ImageView::new(4, 2, 4 * 3 + 5, &data[..]).unwrap();
        let lb = Letterbox::full(4, 2, 4, 4);
        let mut t = vec![0.0; 48];
        Letterboxer::new()
            .fill(&view, &lb, Layout::Nhwc, Normalise::RAW, &mut t)
            .unwrap();
        assert_eq!(t.iter().filter(|&&v| v == 9.0).count(), 4 * 2 * 3);
    }

    #[test]
    fn region_outside_the_image_pads_instead_of_failing() {
        let img = solid(10, 10, [200, 200, 200]);
        let lb = Letterbox::new(BBox::new(-10.0, -10.0, 10.0, 10.0), 8, 8);
        let mut t = vec![0.0; 8 * 8 * 3];
        Letterboxer::new()
            .fill(&img.view(), &lb, Layout::Nhwc, Normalise::RAW, &mut t)
            .unwrap();
        assert_eq!(t[0], 0.0, "outside the image is black");
        let last = t.len() - 1;
        assert!(t[last] > 150.0, "inside the image keeps its pixels");
    }
}
