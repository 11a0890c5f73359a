//! Building-system payloads as devices publish them (`shared/proto/src/iot.rs`):
//! no parser panics on any bytes, and whatever is accepted, written back
//! out and parsed again, is the same; ingest's check
//! (`validate_device`) accepts exactly what the parser accepts, for the
//! topic's own device. The first byte picks the device kind and the
//! channel.
#![no_main]

use atrium_proto::iot::{self, DeviceKind};
use atrium_proto::topic::{self, DeviceChannel};
use atrium_proto::validate_device::{Devices, KnownDevice, validate_device};
use atrium_proto::{DeviceId, SiteId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let kind = DeviceKind::ALL[usize::from(pick) % DeviceKind::ALL.len()];
    let channel = DeviceChannel::ALL[usize::from(pick / 8) % 4];
    let (site, dev) = (
        SiteId::new("hq").expect("a valid id"),
        DeviceId::new("dev-1").expect("a valid id"),
    );
    let devices: Devices = [(
        dev.clone(),
        KnownDevice {
            site: site.clone(),
            kind,
            enabled: true,
        },
    )]
    .into_iter()
    .collect();
    let t = topic::device(&site, kind.as_str(), &dev, channel);
    let parsed = match channel {
        DeviceChannel::Telemetry => iot::parse_telemetry(kind, payload).map(|p| {
            p.iter()
                .all(|p| p.device.as_ref().is_none_or(|d| *d == dev))
        }),
        DeviceChannel::Birth => {
            iot::parse_birth(payload).map(|b| b.device.is_none_or(|d| d == dev))
        }
        DeviceChannel::Status => {
            iot::parse_status(payload).map(|s| s.device.is_none_or(|d| d == dev))
        }
        DeviceChannel::Event => {
            iot::parse_event(kind, payload).map(|e| e.device.is_none_or(|d| d == dev))
        }
    };
    let checked = validate_device(&t, payload, usize::MAX, &devices);
    assert_eq!(
        checked.is_ok(),
        parsed == Ok(true),
        "ingest and parser disagree"
    );
    if let Ok(m) = checked {
        assert_eq!(m.device, dev);
    }
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
