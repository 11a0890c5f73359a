//! Central's validation of every MQTT message (topic + payload), as ingest
//! runs it: it must never panic, and an accepted event must survive its own
//! re-serialisation (what central stores is what it accepted).
#![no_main]

use std::collections::HashMap;

use atrium_proto::validate::{Accepted, Cameras, KnownCamera, validate};
use atrium_proto::{CameraId, SiteId};
use libfuzzer_sys::fuzz_target;

fn cameras() -> Cameras {
    let mut c: Cameras = HashMap::new();
    for (id, enabled) in [("cam-a", true), ("cam-off", false)] {
        c.insert(
            CameraId::new(id).expect("a valid id"),
            KnownCamera {
                site: SiteId::new("hq").expect("a valid id"),
                enabled,
            },
        );
    }
    c
}

fuzz_target!(|data: &[u8]| {
    // The first line is the topic, the rest the payload.
    let (topic, payload) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"atrium/v1/hq/cam/cam-a/event"[..], data),
    };
    let topic = String::from_utf8_lossy(topic);
    let cams = cameras();
    if let Ok(Accepted::Event(e)) = validate(&topic, payload, 65536, &cams) {
        let again = serde_json::to_vec(&e).expect("an accepted event serialises");
        assert!(
            matches!(
                validate(&topic, &again, usize::MAX, &cams),
                Ok(Accepted::Event(_))
            ),
            "a re-serialised accepted event is refused"
        );
    }
});
