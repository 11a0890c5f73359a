//! What central's ingest accepts from a building system's device, as a
//! pure function of (topic, payload, known devices): a typed message, or
//! the reason to dead-letter it. The camera counterpart is
//! [`crate::validate`]; both live with the wire contract so the fuzz
//! targets reach them without the server.
//!
//! Checks, in order: size; topic shape; the topic's kind is one Atrium
//! knows; the device is registered, at the topic's site, of the topic's
//! kind, and enabled; the channel's payload ([`crate::iot`]'s typed
//! checks); a device the payload names is the topic's device (a gateway
//! may only speak for the device whose certificate it uses).

use std::collections::HashMap;

use crate::iot::{self, Birth, DeviceEvent, DeviceKind, DeviceStatus, Point};
use crate::topic::{DeviceChannel, Topic};
use crate::{DeviceId, SiteId};

/// A device ingest knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub site: SiteId,
    pub kind: DeviceKind,
    pub enabled: bool,
}

/// Devices by id.
pub type Devices = HashMap<DeviceId, KnownDevice>;

/// What an accepted device message carries.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceBody {
    Telemetry(Vec<Point>),
    Birth(Birth),
    Status(DeviceStatus),
    Event(DeviceEvent),
}

/// An accepted device message.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceMessage {
    pub site: SiteId,
    pub kind: DeviceKind,
    pub device: DeviceId,
    pub body: DeviceBody,
}

/// Checks one device message. `Err` is the refusal's reason, stored in
/// `dead_letters.reason`.
pub fn validate_device(
    topic: &str,
    payload: &[u8],
    max_bytes: usize,
    devices: &Devices,
) -> Result<DeviceMessage, String> {
    if payload.len() > max_bytes {
        return Err(format!(
            "payload of {} bytes exceeds the {max_bytes}-byte limit",
            payload.len()
        ));
    }
    let parsed = Topic::parse(topic).map_err(|e| format!("unexpected topic: {e}"))?;
    let Topic::Device {
        site,
        kind,
        device,
        channel,
    } = parsed
    else {
        return Err("unexpected topic: not a device topic".into());
    };
    let Some(kind) = DeviceKind::parse(&kind) else {
        return Err(format!(
            "unknown device kind {:?} (known: power_meter, lighting, lift, access, fire)",
            kind.chars().take(40).collect::<String>()
        ));
    };
    match devices.get(&device) {
        None => return Err(format!("unknown device {device}")),
        Some(k) if k.site != site => {
            return Err(format!(
                "device {device} belongs to site {}, not {site}",
                k.site
            ));
        }
        Some(k) if k.kind != kind => {
            return Err(format!(
                "device {device} is a {}, not a {}",
                k.kind.as_str(),
                kind.as_str()
            ));
        }
        Some(k) if !k.enabled => return Err(format!("device {device} is disabled")),
        Some(_) => {}
    }
    let refused = |e: iot::IotError| format!("invalid {}: {e}", channel_name(channel));
    // The body, and the device its payload names (telemetry names one per
    // point, checked here).
    let (body, named) = match channel {
        DeviceChannel::Telemetry => {
            let points = iot::parse_telemetry(kind, payload).map_err(refused)?;
            let other = points
                .iter()
                .find_map(|p| p.device.clone().filter(|d| *d != device));
            (DeviceBody::Telemetry(points), other)
        }
        DeviceChannel::Birth => {
            let b = iot::parse_birth(payload).map_err(refused)?;
            let n = b.device.clone();
            (DeviceBody::Birth(b), n)
        }
        DeviceChannel::Status => {
            let s = iot::parse_status(payload).map_err(refused)?;
            let n = s.device.clone();
            (DeviceBody::Status(s), n)
        }
        DeviceChannel::Event => {
            let e = iot::parse_event(kind, payload).map_err(refused)?;
            let n = e.device.clone();
            (DeviceBody::Event(e), n)
        }
    };
    if let Some(other) = named.filter(|d| *d != device) {
        return Err(format!(
            "topic is for device {device} but the payload speaks for {other}"
        ));
    }
    Ok(DeviceMessage {
        site,
        kind,
        device,
        body,
    })
}

fn channel_name(c: DeviceChannel) -> &'static str {
    match c {
        DeviceChannel::Telemetry => "telemetry",
        DeviceChannel::Event => "event",
        DeviceChannel::Status => "status",
        DeviceChannel::Birth => "birth",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices() -> Devices {
        let mut d = Devices::new();
        for (id, kind, enabled) in [
            ("meter-1", DeviceKind::PowerMeter, true),
            ("meter-2", DeviceKind::PowerMeter, true),
            ("panel-1", DeviceKind::Fire, true),
            ("door-ctl", DeviceKind::Access, true),
            ("old-meter", DeviceKind::PowerMeter, false),
        ] {
            d.insert(
                DeviceId::new(id).unwrap(),
                KnownDevice {
                    site: SiteId::new("hq").unwrap(),
                    kind,
                    enabled,
                },
            );
        }
        d
    }

    const METER_1: &str = "atrium/v1/hq/iot/power_meter/meter-1/telemetry";

    fn reading(extra: &str) -> String {
        format!(
            r#"{{"schema":1,"ts":"2026-12-07T08:00:00Z","seq":1,{extra}"values":{{"energy_import_kwh":12.5,"power_kw":3.2}}}}"#
        )
    }

    #[test]
    fn a_good_reading_is_accepted_with_its_identity() {
        let m = validate_device(METER_1, reading("").as_bytes(), 4096, &devices()).unwrap();
        assert_eq!(m.device.as_str(), "meter-1");
        assert_eq!(m.kind, DeviceKind::PowerMeter);
        let DeviceBody::Telemetry(points) = m.body else {
            panic!("telemetry expected")
        };
        assert_eq!(points.len(), 1);
        // Naming itself is fine.
        let own = reading(r#""device":"meter-1","#);
        assert!(validate_device(METER_1, own.as_bytes(), 4096, &devices()).is_ok());
    }

    #[test]
    fn each_kind_of_bad_device_message_names_its_reason() {
        let d = devices();
        let good = reading("");
        let cases: Vec<(&str, String, &str)> = vec![
            (METER_1, reading(r#""device":"meter-2","#), "speaks for meter-2"),
            ("atrium/v1/hq/iot/power_meter/ghost/telemetry", good.clone(), "unknown device ghost"),
            ("atrium/v1/annex/iot/power_meter/meter-1/telemetry", good.clone(), "belongs to site hq"),
            ("atrium/v1/hq/iot/fire/meter-1/telemetry", good.clone(), "is a power_meter, not a fire"),
            ("atrium/v1/hq/iot/toaster/meter-1/telemetry", good.clone(), "unknown device kind"),
            ("atrium/v1/hq/iot/power_meter/old-meter/telemetry", good.clone(), "disabled"),
            ("atrium/v1/hq/cam/meter-1/event", good.clone(), "not a device topic"),
            (METER_1, "{".into(), "invalid telemetry"),
            (METER_1, "x".repeat(5000), "exceeds the 4096-byte limit"),
            (
                "atrium/v1/hq/iot/power_meter/meter-1/status",
                r#"{"schema":1,"ts":"2026-12-07T08:00:00Z","state":"offline","device":"meter-2"}"#.into(),
                "speaks for meter-2",
            ),
            (
                "atrium/v1/hq/iot/fire/panel-1/event",
                r#"{"schema":1,"ts":"2026-12-07T08:00:00Z","seq":3,"severity":"info","event":{"type":"access","data":{"door":"d1","outcome":"granted"}}}"#.into(),
                "access events come from access devices",
            ),
        ];
        for (topic, payload, want) in cases {
            let err = validate_device(topic, payload.as_bytes(), 4096, &d).unwrap_err();
            assert!(
                err.contains(want),
                "{topic}: {err:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn a_batch_naming_another_device_in_any_point_is_refused() {
        let batch = format!(
            "[{},{}]",
            reading(""),
            reading(r#""device":"meter-2","#).replace("08:00", "08:01")
        );
        let err = validate_device(METER_1, batch.as_bytes(), 4096, &devices()).unwrap_err();
        assert!(err.contains("meter-2"), "{err}");
    }

    #[test]
    fn birth_status_and_events_are_typed() {
        let d = devices();
        let birth = r#"{"schema":1,"ts":"2026-12-07T08:00:00Z","model":"PM5560","firmware":"2.1","points":[{"name":"energy_import_kwh","unit":"kWh","meaning":"total_increasing","interval_s":60}]}"#;
        let m = validate_device(
            "atrium/v1/hq/iot/power_meter/meter-1/birth",
            birth.as_bytes(),
            4096,
            &d,
        )
        .unwrap();
        assert!(matches!(m.body, DeviceBody::Birth(b) if b.points[0].interval_s == 60));
        let event = r#"{"schema":1,"ts":"2026-12-07T08:00:00Z","seq":9,"severity":"warning","ack_required":true,"event":{"type":"access","data":{"door":"d1","outcome":"forced"}}}"#;
        let m = validate_device(
            "atrium/v1/hq/iot/access/door-ctl/event",
            event.as_bytes(),
            4096,
            &d,
        )
        .unwrap();
        assert!(matches!(m.body, DeviceBody::Event(e) if e.ack_required));
    }
}
