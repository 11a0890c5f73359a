//! Camera frames (central reads them from the broker) and requests (the
//! edge reads them): parsing never panics, and what is accepted
//! round-trips.
#![no_main]

use atrium_proto::media::{CameraFrame, CameraRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((frame, jpeg)) = CameraFrame::parse(data) {
        let again = serde_json::to_vec(&frame).expect("an accepted frame serialises");
        let (back, jpeg_again) =
            CameraFrame::parse(&again).expect("an accepted frame parses again");
        assert_eq!(back, frame);
        assert_eq!(jpeg_again, jpeg);
    }
    if let Ok(r) = CameraRequest::parse(data) {
        let again = serde_json::to_vec(&r).expect("an accepted request serialises");
        assert_eq!(CameraRequest::parse(&again).ok(), Some(r));
    }
});
