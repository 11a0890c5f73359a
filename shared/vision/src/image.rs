//! RGB images as the models see them.
//!
//! [`ImageView`] borrows pixels with a row stride, so the edge can hand over
//! a decoded FFmpeg frame (whose rows are padded) without copying it.
//! [`RgbImage`] owns tightly packed pixels, e.g. a decoded upload.

use crate::error::VisionError;
use crate::geometry::BBox;

/// Borrowed 8-bit RGB pixels, rows top to bottom, `stride` bytes apart.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    width: u32,
    height: u32,
    stride: usize,
    data: &'a [u8],
}

impl<'a> ImageView<'a> {
    /// Checks that `data` holds `height` rows of `width` RGB pixels spaced
    /// `stride` bytes apart, and that there is at least one pixel.
    pub fn new(
        width: u32,
        height: u32,
        stride: usize,
        data: &'a [u8],
    ) -> Result<Self, VisionError> {
        if width == 0 || height == 0 {
            return Err(VisionError::EmptyImage { width, height });
        }
        let row = width as usize * 3;
        let needed = stride
            .checked_mul(height as usize - 1)
            .and_then(|n| n.checked_add(row));
        if stride < row || needed.is_none_or(|n| data.len() < n) {
            return Err(VisionError::ImageBuffer {
                width,
                height,
                stride,
                len: data.len(),
            });
        }
        Ok(Self {
            width,
            height,
            stride,
            data,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Whether rows follow each other without padding.
    pub fn is_packed(&self) -> bool {
        self.stride == self.width as usize * 3
    }

    /// Row `y` (`width * 3` bytes). Callers keep `y < height`.
    pub fn row(&self, y: u32) -> &'a [u8] {
        let start = y as usize * self.stride;
        &self.data[start..start + self.width as usize * 3]
    }

    /// The pixel at (x, y), which must be inside the image.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = y as usize * self.stride + x as usize * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// The pixels packed (borrowed when already packed).
    pub fn packed(&self) -> std::borrow::Cow<'a, [u8]> {
        let len = self.width as usize * 3 * self.height as usize;
        if self.is_packed() {
            std::borrow::Cow::Borrowed(&self.data[..len])
        } else {
            let mut out = Vec::with_capacity(len);
            for y in 0..self.height {
                out.extend_from_slice(self.row(y));
            }
            std::borrow::Cow::Owned(out)
        }
    }

    /// An owned, packed copy.
    pub fn to_owned_image(&self) -> RgbImage {
        RgbImage {
            width: self.width,
            height: self.height,
            data: self.packed().into_owned(),
        }
    }
}

/// Owned, tightly packed 8-bit RGB pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl RgbImage {
    /// Wraps packed RGB pixels; fails if the size does not match.
    pub fn from_raw(width: u32, height: u32, data: Vec<u8>) -> Result<Self, VisionError> {
        if width == 0 || height == 0 {
            return Err(VisionError::EmptyImage { width, height });
        }
        if data.len() != width as usize * height as usize * 3 {
            return Err(VisionError::ImageBuffer {
                width,
                height,
                stride: width as usize * 3,
                len: data.len(),
            });
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The pixels inside `region`, clipped to the image and widened to
    /// whole pixels; `None` when no pixel of it lies inside. With
    /// [`BBox::square`] this is a face crop for enrolment.
    pub fn crop(&self, region: BBox) -> Option<RgbImage> {
        let r = region.clip(self.width as f32, self.height as f32);
        let (x0, y0) = (r.x1.floor() as usize, r.y1.floor() as usize);
        let (x1, y1) = (r.x2.ceil() as usize, r.y2.ceil() as usize);
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        let stride = self.width as usize * 3;
        let mut data = Vec::with_capacity((x1 - x0) * (y1 - y0) * 3);
        for y in y0..y1 {
            data.extend_from_slice(&self.data[y * stride + x0 * 3..y * stride + x1 * 3]);
        }
        Some(RgbImage {
            width: (x1 - x0) as u32,
            height: (y1 - y0) as u32,
            data,
        })
    }

    /// The image as PNG (crops for enrolment, demo and test photos).
    pub fn to_png(&self) -> Result<Vec<u8>, VisionError> {
        use ::image::ImageEncoder;
        let mut out = Vec::new();
        ::image::codecs::png::PngEncoder::new(&mut out)
            .write_image(
                &self.data,
                self.width,
                self.height,
                ::image::ExtendedColorType::Rgb8,
            )
            .map_err(|e| VisionError::ImageEncode(e.to_string()))?;
        Ok(out)
    }

    /// A borrowed view of the whole image.
    pub fn view(&self) -> ImageView<'_> {
        ImageView {
            width: self.width,
            height: self.height,
            stride: self.width as usize * 3,
            data: &self.data,
        }
    }
}

/// Limits on decoded uploads: a photo is refused before its pixels are
/// allocated if it would exceed them (a 1 MB JPEG can claim 30000x30000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 40 megapixels: more than any phone camera, well under memory limits.
        Self {
            max_pixels: 40_000_000,
        }
    }
}

/// Decodes a JPEG, PNG or WebP into RGB (EXIF orientation is not applied: the
/// caller decides; alpha is dropped, grey expanded).
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, VisionError> {
    use ::image::ImageDecoder;
    let reader = ::image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| VisionError::ImageDecode(e.to_string()))?;
    let format = reader.format().ok_or_else(|| {
        VisionError::ImageDecode("unrecognised format (JPEG, PNG and WebP are accepted)".into())
    })?;
    if !matches!(
        format,
        ::image::ImageFormat::Jpeg | ::image::ImageFormat::Png | ::image::ImageFormat::WebP
    ) {
        return Err(VisionError::ImageDecode(format!(
            "{format:?} is not accepted (JPEG, PNG and WebP are)"
        )));
    }
    let decoder = reader
        .into_decoder()
        .map_err(|e| VisionError::ImageDecode(e.to_string()))?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(VisionError::EmptyImage { width, height });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(VisionError::ImageTooLarge {
            width,
            height,
            max_pixels: limits.max_pixels,
        });
    }
    let decoded = ::image::DynamicImage::from_decoder(decoder)
        .map_err(|e| VisionError::ImageDecode(e.to_string()))?;
    let rgb = decoded.into_rgb8();
    RgbImage::from_raw(rgb.width(), rgb.height(), rgb.into_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_checks_size_and_stride() {
        let data = vec![0u8; 2 * 8 + 6];
        assert!(ImageView::new(2, 3, 8, &data).is_ok());
        assert!(matches!(
            ImageView::new(2, 3, 5, &data),
            Err(VisionError::ImageBuffer { .. })
        ));
        assert!(matches!(
            ImageView::new(2, 4, 8, &data),
            Err(VisionError::ImageBuffer { .. })
        ));
        assert!(matches!(
            ImageView::new(0, 3, 8, &data),
            Err(VisionError::EmptyImage { .. })
        ));
    }

    #[test]
    fn crops_clip_to_the_image_and_round_outwards() {
        // 4x3, pixel (x, y) = [x, y, 7].
        let data: Vec<u8> = (0..3u8)
            .flat_map(|y| (0..4u8).flat_map(move |x| [x, y, 7]))
            .collect();
        let img = RgbImage::from_raw(4, 3, data).unwrap();
        let c = img.crop(BBox::new(1.5, 0.5, 3.2, 2.0)).unwrap();
        assert_eq!((c.width(), c.height()), (3, 2));
        assert_eq!(c.view().pixel(0, 0), [1, 0, 7]);
        assert_eq!(c.view().pixel(2, 1), [3, 1, 7]);
        // Partly outside: clipped; wholly outside: nothing.
        let c = img.crop(BBox::new(-5.0, -5.0, 2.0, 1.0)).unwrap();
        assert_eq!((c.width(), c.height()), (2, 1));
        assert!(img.crop(BBox::new(10.0, 10.0, 20.0, 20.0)).is_none());
        // PNG round trip.
        let png = img.to_png().unwrap();
        assert_eq!(decode(&png, DecodeLimits::default()).unwrap(), img);
    }

    #[test]
    fn packing_drops_row_padding() {
        // 2x2 image, stride 8 (2 bytes of padding per row).
        let data = [1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0];
        let v = ImageView::new(2, 2, 8, &data).unwrap();
        assert_eq!(&*v.packed(), &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(v.pixel(1, 1), [10, 11, 12]);
    }

    #[test]
    fn decode_refuses_non_images_and_huge_ones() {
        assert!(matches!(
            decode(b"hello, not an image", DecodeLimits::default()),
            Err(VisionError::ImageDecode(_))
        ));
        let mut png = Vec::new();
        ::image::RgbImage::new(100, 100)
            .write_to(
                &mut std::io::Cursor::new(&mut png),
                ::image::ImageFormat::Png,
            )
            .unwrap();
        assert!(matches!(
            decode(&png, DecodeLimits { max_pixels: 9_999 }),
            Err(VisionError::ImageTooLarge { .. })
        ));
        let ok = decode(&png, DecodeLimits::default()).unwrap();
        assert_eq!((ok.width(), ok.height()), (100, 100));
    }
}
