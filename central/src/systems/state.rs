//! Whether a device is online, from what central has heard: its retained
//! status (an `offline` one is also its last will, which the broker
//! publishes when the connection drops) and when a message last arrived.
//! A device is offline when its last status says so and nothing arrived
//! since, or when nothing arrived for three of its publishing intervals
//! (the shortest in its birth; [`DEFAULT_INTERVAL_S`] without one). Pure:
//! the API, `/health` and the live offline detection decide the same way.

use chrono::{DateTime, Duration, Utc};

/// The interval assumed for a device that sent no birth.
pub const DEFAULT_INTERVAL_S: i64 = 60;
/// Intervals of silence after which a device counts as offline.
pub const SILENT_INTERVALS: i64 = 3;

/// What central knows about a device's contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Contact {
    /// The last retained status: `Some(true)` online, `Some(false)` offline.
    pub status_online: Option<bool>,
    pub status_received_at: Option<DateTime<Utc>>,
    /// When telemetry or an event last arrived.
    pub last_seen: Option<DateTime<Utc>>,
    pub interval_s: Option<i32>,
}

/// A device's state as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    Online,
    Offline,
    /// Central never heard from it.
    Unknown,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
            Self::Unknown => "unknown",
        }
    }
}

/// Why a device is offline, for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Its last status (or last will) said offline.
    Status,
    /// Nothing arrived for three intervals.
    Silent,
}

impl Why {
    /// The spelling in the API, `/health` and live events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Silent => "silent",
        }
    }
}

impl Contact {
    /// How long silence may last before the device counts as offline.
    pub fn allowed_silence(&self) -> Duration {
        let interval = self.interval_s.map_or(DEFAULT_INTERVAL_S, i64::from).max(1);
        Duration::seconds(interval * SILENT_INTERVALS)
    }

    /// The state at `now`, and why when offline.
    pub fn state(&self, now: DateTime<Utc>) -> (DeviceState, Option<Why>) {
        let heard_since_status = match (self.last_seen, self.status_received_at) {
            (Some(seen), Some(status)) => seen > status,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if self.status_online == Some(false) && !heard_since_status {
            return (DeviceState::Offline, Some(Why::Status));
        }
        let online_status_at = self
            .status_received_at
            .filter(|_| self.status_online == Some(true));
        let latest = match (self.last_seen, online_status_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        match latest {
            None => (DeviceState::Unknown, None),
            Some(t) if now - t > self.allowed_silence() => {
                (DeviceState::Offline, Some(Why::Silent))
            }
            Some(_) => (DeviceState::Online, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_765_094_400 + s, 0).unwrap()
    }

    #[test]
    fn never_heard_is_unknown() {
        assert_eq!(Contact::default().state(at(0)).0, DeviceState::Unknown);
    }

    #[test]
    fn silence_beyond_three_intervals_is_offline() {
        let c = Contact {
            last_seen: Some(at(0)),
            interval_s: Some(10),
            ..Contact::default()
        };
        assert_eq!(c.state(at(30)).0, DeviceState::Online);
        assert_eq!(c.state(at(31)), (DeviceState::Offline, Some(Why::Silent)));
        // Without a birth: 60 s intervals.
        let c = Contact {
            interval_s: None,
            ..c
        };
        assert_eq!(c.state(at(180)).0, DeviceState::Online);
        assert_eq!(c.state(at(181)).0, DeviceState::Offline);
    }

    #[test]
    fn a_last_will_holds_until_something_arrives_after_it() {
        let will = Contact {
            status_online: Some(false),
            status_received_at: Some(at(100)),
            last_seen: Some(at(90)),
            interval_s: Some(10),
        };
        assert_eq!(
            will.state(at(101)),
            (DeviceState::Offline, Some(Why::Status))
        );
        // A reading after the will (a stale will redelivered, or the device
        // back before its online status): online.
        let back = Contact {
            last_seen: Some(at(105)),
            ..will
        };
        assert_eq!(back.state(at(106)).0, DeviceState::Online);
    }

    #[test]
    fn an_online_status_counts_as_contact() {
        let c = Contact {
            status_online: Some(true),
            status_received_at: Some(at(0)),
            last_seen: None,
            interval_s: Some(60),
        };
        assert_eq!(c.state(at(100)).0, DeviceState::Online);
        assert_eq!(c.state(at(181)).0, DeviceState::Offline);
    }
}
