//! RGB images as the models see them.
//!
//! [`ImageView`] borrows pixels with a row stride, so the edge can hand over
//! a decoded FFmpeg frame (whose rows are padded) without copying it.
//! [`RgbImage`] owns tightly packed pixels, e.g. a decoded upload.

use crate::error::VisionError;

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

/// Decodes a JPEG or PNG into RGB (EXIF orientation is not applied: the
/// caller decides; alpha is dropped, grey expanded).
pub fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, VisionError> {
    use ::image::ImageDecoder;
    let reader = ::image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| VisionError::ImageDecode(e.to_string()))?;
    let format = reader.format().ok_or_else(|| {
        VisionError::ImageDecode("unrecognised format (JPEG and PNG are accepted)".into())
    })?;
    if !matches!(
        format,
        ::image::ImageFormat::Jpeg | ::image::ImageFormat::Png
    ) {
        return Err(VisionError::ImageDecode(format!(
            "{format:?} is not accepted (JPEG and PNG are)"
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
