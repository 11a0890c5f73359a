//! Topic names as they arrive from the broker: parsing never panics, and a
//! parsed camera topic is rebuilt to the same string.
#![no_main]

use atrium_proto::topic::{self, Topic};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Topic::Camera {
        site,
        camera,
        channel,
    }) = Topic::parse(s)
    {
        assert_eq!(topic::camera(&site, &camera, channel), s);
    }
});
