//! What central observes, in the alerting core's own words rather than
//! the wire's: ingest, device watching and energy each know a little, and
//! translating once at the boundary keeps the rules free of MQTT payload
//! details (a spool fill of 0..1 on the wire is a percent here; an offline
//! decision already made by `systems::state` arrives as `online: false`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One observation at a site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub site: String,
    /// When it was observed (or the event happened).
    pub at: DateTime<Utc>,
    pub what: Observation,
}

/// What was observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Observation {
    /// A camera's stream state; `since`: when it entered that state.
    CameraStatus {
        camera: String,
        online: bool,
        since: DateTime<Utc>,
    },
    /// Whether a camera's edge agent is connected; `since` as above.
    EdgeStatus {
        camera: String,
        online: bool,
        since: DateTime<Utc>,
    },
    /// An edge heartbeat's health figures.
    EdgeHeartbeat {
        camera: String,
        /// Spool fill, 0..100 % of its quota.
        spool_percent: f64,
        load_level: LoadLevel,
    },
    /// Recognition attempts and failures over the last window.
    RecognitionWindow {
        camera: String,
        attempts: u32,
        failures: u32,
    },
    /// A zone's violation started (`active`) or ended.
    ZoneViolation {
        camera: String,
        zone: String,
        kind: ViolationKind,
        active: bool,
    },
    /// A fire panel zone's state.
    FireZone {
        device: String,
        zone: String,
        state: FireState,
        /// The panel is in test mode: alarms are tests.
        test_mode: bool,
    },
    /// An IoT device's contact; `since` as above.
    DeviceStatus {
        device: String,
        online: bool,
        since: DateTime<Utc>,
    },
    /// A lift's operating mode.
    LiftMode { device: String, mode: LiftMode },
    /// Something that happened at a door.
    DoorEvent {
        device: String,
        door: String,
        outcome: DoorOutcome,
    },
    /// An energy target's standing.
    EnergyTarget {
        target_id: String,
        /// The actual or the forecast is over the target.
        over: bool,
        /// Used so far in the period.
        value: f64,
        /// Where the period ends at the rate so far.
        forecast: Option<f64>,
        target: f64,
    },
}

/// An edge box's adaptive load level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadLevel {
    Normal,
    Reduced,
    Minimal,
}

/// Which zone rule is violated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    MaxOccupancy,
    RestrictedEntry,
}

impl ViolationKind {
    /// The spelling in subjects and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxOccupancy => "max_occupancy",
            Self::RestrictedEntry => "restricted_entry",
        }
    }
}

/// A fire panel zone's state (the spellings of the device protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FireState {
    Normal,
    PreAlarm,
    Alarm,
    Fault,
    Isolated,
    Disabled,
}

impl FireState {
    /// The protocol's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::PreAlarm => "pre_alarm",
            Self::Alarm => "alarm",
            Self::Fault => "fault",
            Self::Isolated => "isolated",
            Self::Disabled => "disabled",
        }
    }
}

/// A lift's operating mode (the spellings of the device protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiftMode {
    Normal,
    Maintenance,
    Fault,
}

impl LiftMode {
    /// The protocol's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Maintenance => "maintenance",
            Self::Fault => "fault",
        }
    }
}

/// What happened at a door.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoorOutcome {
    Granted,
    Denied,
    Forced,
    HeldOpen,
    Closed,
}

impl DoorOutcome {
    /// The protocol's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Denied => "denied",
            Self::Forced => "forced",
            Self::HeldOpen => "held_open",
            Self::Closed => "closed",
        }
    }
}
