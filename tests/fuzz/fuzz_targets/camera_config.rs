//! The retained camera configuration the edge receives from the broker:
//! parsing never panics, and what it accepts round-trips.
#![no_main]

use atrium_proto::CameraConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = CameraConfig::parse(data) {
        let again = serde_json::to_vec(&c).expect("an accepted configuration serialises");
        assert_eq!(CameraConfig::parse(&again).ok(), Some(c));
    }
});
