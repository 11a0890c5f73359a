//! MQTT topic names (`atrium/v1/...`).
//!
//! Topics carry identity: the broker's ACL lets each client certificate
//! publish only under its own camera or device level, and central checks that
//! a payload's camera matches the topic it arrived on. Building and parsing
//! both live here so the two ends agree by construction.

use crate::ids::{CameraId, DeviceId, IdError, SiteId};

/// First two levels of every Atrium topic; the version changes only with an
/// incompatible change of the wire contract.
pub const PREFIX: &str = "atrium/v1";

/// What a camera topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CameraChannel {
    /// Events from the edge agent (QoS 1).
    Event,
    /// Retained status from the edge agent, also its last will.
    Status,
    /// Retained configuration from central to the edge agent.
    Config,
    /// Retained last frame (small JPEG) from the edge agent.
    Snapshot,
    /// Live frames from the edge agent while someone watches (QoS 0).
    Live,
    /// Requests from central to the edge agent: a snapshot now, or live
    /// frames for a while (QoS 0).
    Request,
}

impl CameraChannel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Status => "status",
            Self::Config => "config",
            Self::Snapshot => "snapshot",
            Self::Live => "live",
            Self::Request => "request",
        }
    }
}

/// What an IoT device topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceChannel {
    /// Readings (QoS 1).
    Telemetry,
    /// Alarms, faults and access decisions (QoS 1).
    Event,
    /// Retained `online`/`offline`, also the device's last will.
    Status,
    /// Retained description of the device and its points.
    Birth,
}

impl DeviceChannel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Telemetry => "telemetry",
            Self::Event => "event",
            Self::Status => "status",
            Self::Birth => "birth",
        }
    }

    /// Every channel a device publishes on.
    pub const ALL: [Self; 4] = [Self::Telemetry, Self::Event, Self::Status, Self::Birth];
}

/// `atrium/v1/{site}/cam/{camera}/{channel}`.
pub fn camera(site: &SiteId, camera: &CameraId, channel: CameraChannel) -> String {
    format!("{PREFIX}/{site}/cam/{camera}/{}", channel.as_str())
}

/// `atrium/v1/{site}/iot/{kind}/{device}/{channel}`.
pub fn device(site: &SiteId, kind: &str, device: &DeviceId, channel: DeviceChannel) -> String {
    format!("{PREFIX}/{site}/iot/{kind}/{device}/{}", channel.as_str())
}

/// Subscription filter for one channel of every camera on every site.
pub fn all_cameras(channel: CameraChannel) -> String {
    format!("{PREFIX}/+/cam/+/{}", channel.as_str())
}

/// Subscription filter for one channel of every device of every kind on
/// every site.
pub fn all_devices(channel: DeviceChannel) -> String {
    format!("{PREFIX}/+/iot/+/+/{}", channel.as_str())
}

/// A parsed Atrium topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    Camera {
        site: SiteId,
        camera: CameraId,
        channel: CameraChannel,
    },
    Device {
        site: SiteId,
        kind: String,
        device: DeviceId,
        channel: DeviceChannel,
    },
}

/// Why a topic name is not an Atrium topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic {0:?} is not under {PREFIX}/")]
    WrongPrefix(String),
    #[error(
        "topic {0:?} does not have the shape {PREFIX}/SITE/cam/CAMERA/CHANNEL or {PREFIX}/SITE/iot/KIND/DEVICE/CHANNEL"
    )]
    Shape(String),
    #[error("topic {topic:?}: {source}")]
    Id {
        topic: String,
        #[source]
        source: IdError,
    },
}

impl Topic {
    /// Parses a topic name as received from the broker.
    pub fn parse(topic: &str) -> Result<Self, TopicError> {
        let rest = topic
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| TopicError::WrongPrefix(topic.to_owned()))?;
        let levels: Vec<&str> = rest.split('/').collect();
        let id_err = |source| TopicError::Id {
            topic: topic.to_owned(),
            source,
        };
        match levels.as_slice() {
            [site, "cam", camera, channel] => {
                let channel = match *channel {
                    "event" => CameraChannel::Event,
                    "status" => CameraChannel::Status,
                    "config" => CameraChannel::Config,
                    "snapshot" => CameraChannel::Snapshot,
                    "live" => CameraChannel::Live,
                    "request" => CameraChannel::Request,
                    _ => return Err(TopicError::Shape(topic.to_owned())),
                };
                Ok(Self::Camera {
                    site: SiteId::new(*site).map_err(id_err)?,
                    camera: CameraId::new(*camera).map_err(id_err)?,
                    channel,
                })
            }
            [site, "iot", kind, device, channel] => {
                let channel = match *channel {
                    "telemetry" => DeviceChannel::Telemetry,
                    "event" => DeviceChannel::Event,
                    "status" => DeviceChannel::Status,
                    "birth" => DeviceChannel::Birth,
                    _ => return Err(TopicError::Shape(topic.to_owned())),
                };
                if kind.is_empty() || kind.contains(['+', '#']) {
                    return Err(TopicError::Shape(topic.to_owned()));
                }
                Ok(Self::Device {
                    site: SiteId::new(*site).map_err(id_err)?,
                    kind: (*kind).to_owned(),
                    device: DeviceId::new(*device).map_err(id_err)?,
                    channel,
                })
            }
            _ => Err(TopicError::Shape(topic.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (SiteId, CameraId) {
        (
            SiteId::new("hq").unwrap(),
            CameraId::new("lobby-1").unwrap(),
        )
    }

    #[test]
    fn camera_topics_round_trip() {
        let (site, cam) = ids();
        for channel in [
            CameraChannel::Event,
            CameraChannel::Status,
            CameraChannel::Config,
            CameraChannel::Snapshot,
            CameraChannel::Live,
            CameraChannel::Request,
        ] {
            let t = camera(&site, &cam, channel);
            assert_eq!(
                Topic::parse(&t).unwrap(),
                Topic::Camera {
                    site: site.clone(),
                    camera: cam.clone(),
                    channel
                }
            );
        }
        assert_eq!(
            camera(&site, &cam, CameraChannel::Event),
            "atrium/v1/hq/cam/lobby-1/event"
        );
    }

    #[test]
    fn device_topics_round_trip() {
        let site = SiteId::new("hq").unwrap();
        let dev = DeviceId::new("meter-7").unwrap();
        let t = device(&site, "power", &dev, DeviceChannel::Telemetry);
        assert_eq!(t, "atrium/v1/hq/iot/power/meter-7/telemetry");
        assert!(matches!(Topic::parse(&t).unwrap(), Topic::Device { kind, .. } if kind == "power"));
        for channel in DeviceChannel::ALL {
            let t = device(&site, "lift", &dev, channel);
            assert_eq!(
                Topic::parse(&t).unwrap(),
                Topic::Device {
                    site: site.clone(),
                    kind: "lift".into(),
                    device: dev.clone(),
                    channel
                }
            );
        }
        assert_eq!(
            all_devices(DeviceChannel::Birth),
            "atrium/v1/+/iot/+/+/birth"
        );
    }

    #[test]
    fn rejects_foreign_and_malformed_topics() {
        assert!(matches!(
            Topic::parse("other/v1/hq/cam/a/event"),
            Err(TopicError::WrongPrefix(_))
        ));
        assert!(matches!(
            Topic::parse("atrium/v1/hq/cam/a"),
            Err(TopicError::Shape(_))
        ));
        assert!(matches!(
            Topic::parse("atrium/v1/hq/cam/a/bogus"),
            Err(TopicError::Shape(_))
        ));
        assert!(matches!(
            Topic::parse("atrium/v1/HQ/cam/a/event"),
            Err(TopicError::Id { .. })
        ));
        assert!(matches!(
            Topic::parse("atrium/v1/hq/cam/a/event/extra"),
            Err(TopicError::Shape(_))
        ));
    }

    #[test]
    fn subscription_filter_matches_the_built_topic_shape() {
        assert_eq!(all_cameras(CameraChannel::Event), "atrium/v1/+/cam/+/event");
    }
}
