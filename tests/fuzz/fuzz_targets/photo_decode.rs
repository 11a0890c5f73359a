//! Photo decoding at enrolment (an upload anyone with persons:update can
//! send): never panics, never allocates past the pixel limit, and what it
//! accepts has the size it claims.
#![no_main]

use atrium_vision::image::{DecodeLimits, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits {
        max_pixels: 4_000_000,
    };
    if let Ok(img) = decode(data, limits) {
        let (w, h) = (img.width(), img.height());
        assert!(u64::from(w) * u64::from(h) <= limits.max_pixels);
        assert_eq!(img.as_bytes().len(), w as usize * h as usize * 3);
    }
});
