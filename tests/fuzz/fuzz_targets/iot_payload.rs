//! Building-system payloads as devices publish them (`shared/proto/src/iot.rs`):
//! no parser panics on any bytes, and whatever is accepted, written back
//! out and parsed again, is the same. The first byte picks
//! the device kind and the channel.
#![no_main]

use atrium_proto::iot::{self, DeviceKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let kind = DeviceKind::ALL[usize::from(pick) % DeviceKind::ALL.len()];
    match (pick / 8) % 4 {
        0 => {
            if let Ok(points) = iot::parse_telemetry(kind, payload) {
                for p in points {
                    let again = serde_json::json!({
                        "schema": 1, "ts": p.ts, "seq": p.seq, "values": p.values
                    });
                    let back = iot::parse_telemetry(kind, again.to_string().as_bytes())
                        .expect("an accepted point is accepted again");
                    assert_eq!(back[0].values, p.values);
                }
            }
        }
        1 => {
            if let Ok(b) = iot::parse_birth(payload) {
                let again = serde_json::to_vec(&b).expect("an accepted birth serialises");
                assert_eq!(iot::parse_birth(&again).as_ref(), Ok(&b));
            }
        }
        2 => {
            if let Ok(st) = iot::parse_status(payload) {
                let again = serde_json::to_vec(&st).expect("an accepted status serialises");
                assert_eq!(iot::parse_status(&again).as_ref(), Ok(&st));
            }
        }
        _ => {
            if let Ok(e) = iot::parse_event(kind, payload) {
                let again = serde_json::to_vec(&e).expect("an accepted event serialises");
                assert_eq!(iot::parse_event(kind, &again).as_ref(), Ok(&e));
            }
        }
    }
});
