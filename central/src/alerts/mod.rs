//! The alerting core, kept pure so that every rule and every transition
//! can be tested on a scripted timeline with a hand-set `now`: what
//! central has observed ([`Fact`]s), the thresholds and `now` go in,
//! conditions come out ([`conditions`]); conditions, silences and the
//! current alerts ([`Book`]) go in, the alerts' new states and the list of
//! [`Change`]s to deliver come out ([`Book::step`]). Reading the store,
//! the clock and sending notifications are the callers' business.
//!
//! Decisions, so that docs, API and delivery can rely on them:
//!
//! - **One alert per key.** The key is rule + subject ([`AlertKey`]);
//!   however often a condition is seen, it updates the one open alert.
//!   Once resolved, the next bad spell of the same key is a *new* alert
//!   (new `first_seen`, new history): a resolved alert is a closed case,
//!   and reopening it would hide how often a camera fails.
//! - **Observations, not time, count for hold-down.** The caller feeds
//!   the current state-like facts (camera and device status, heartbeats,
//!   recognition windows, energy targets) on every evaluation tick and
//!   events as they arrive; an alert fires after `hold_down.fire`
//!   consecutive bad observations and resolves after `hold_down.resolve`
//!   consecutive good ones. Offline rules are time-based already (90 s,
//!   5 min, 30 min from when the subject went offline), so their default
//!   fire hold-down is 1; an offline spell shorter than the warning
//!   threshold is *pending*: it fires nothing but keeps an open alert
//!   from resolving, so a flapping camera stays one alert. The counters
//!   of keys not yet firing live in the book only (lost on a restart,
//!   which merely restarts the hold-down).
//! - **Severity only rises** while an alert is open (the highest level
//!   reached is what was paged), from the condition (spool 55 % → 95 %,
//!   camera offline 90 s → 5 min → 30 min) or, for rules without their
//!   own schedule, `escalate_after_s` after firing (→ escalated).
//!   **Acknowledgement freezes it**: a person owns the alert, and raising
//!   it would only page them again; an acknowledged alert still resolves.
//! - **Manual resolve** closes the alert even while the condition is still
//!   bad; the key then counts bad observations from zero and fires a new
//!   alert after the hold-down. Resolve says "fixed"; to stop hearing
//!   about something still broken, acknowledge or silence it.
//! - **Silences** ([`Silence`]) never stop state changes, only their
//!   notification (`notify: false`, `silenced_by`). An alert still firing
//!   whose notification was withheld is notified when its last matching
//!   silence ends (an alert notified before the silence began owes
//!   nothing). A fire alarm is hidden only by a silence naming its exact
//!   zone: a site-wide or rule-wide maintenance window never hides a fire.
//! - **Shipped severities:** camera, edge and device offline warning →
//!   critical → escalated by time; spool ≥ 50 % warning, ≥ 90 % critical;
//!   edge in reduced load warning, minimal critical; recognition failures
//!   over 10 % of at least 20 attempts warning; zone violation warning;
//!   fire pre-alarm warning, alarm critical at once (test mode ignored,
//!   fault/isolated/disabled say nothing about a fire); lift fault warning
//!   (a trapped passenger calls through the lift's own emergency line;
//!   the alert is about service and escalates if nobody acks); door
//!   forced critical and resolved by a person only (a forced door is an
//!   incident, not a state that clears); door held open warning until
//!   closed; energy over target warning.
//! - **Adding a rule** is a [`RuleId`] variant and one function in
//!   `rules.rs` (plus its fact, if new).

mod channels;
mod facts;
mod lifecycle;
mod rules;
mod silences;
mod thresholds;
mod view;

#[cfg(test)]
mod tests;

pub use channels::{
    Channel, ChannelError, MAX_ATTEMPTS, Route, Settings, backoff, headline, signature,
};
pub use facts::{DoorOutcome, Fact, FireState, LiftMode, LoadLevel, Observation, ViolationKind};
pub use lifecycle::{ActionError, Alert, Book, Change, ChangeKind, State, Step, Transition};
pub use rules::{Condition, Verdict, conditions, evaluate};
pub use silences::{Matcher, Silence, SilenceError, SubjectRef, silencing};
pub use thresholds::{
    HoldDown, OfflineThresholds, RecognitionThresholds, SpoolThresholds, ThresholdError, Thresholds,
};
pub use view::{AlertView, SubjectView, notification};

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

/// How urgent an alert is; ordered, so that "rises" is a comparison.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
    /// Nobody acknowledged in time.
    Escalated,
}

impl Severity {
    /// The spelling in the API and in notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Escalated => "escalated",
        }
    }
}

/// The shipped rules.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RuleId {
    CameraOffline,
    EdgeOffline,
    SpoolHigh,
    /// The edge box runs in reduced or minimal load level.
    EdgeDegraded,
    RecognitionFailures,
    ZoneViolation,
    FireAlarm,
    DeviceOffline,
    LiftFault,
    DoorForced,
    DoorHeldOpen,
    EnergyOverTarget,
}

impl RuleId {
    /// Every rule, in evaluation order.
    pub const ALL: [Self; 12] = [
        Self::CameraOffline,
        Self::EdgeOffline,
        Self::SpoolHigh,
        Self::EdgeDegraded,
        Self::RecognitionFailures,
        Self::ZoneViolation,
        Self::FireAlarm,
        Self::DeviceOffline,
        Self::LiftFault,
        Self::DoorForced,
        Self::DoorHeldOpen,
        Self::EnergyOverTarget,
    ];

    /// The spelling in config, the API and notifications.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CameraOffline => "camera_offline",
            Self::EdgeOffline => "edge_offline",
            Self::SpoolHigh => "spool_high",
            Self::EdgeDegraded => "edge_degraded",
            Self::RecognitionFailures => "recognition_failures",
            Self::ZoneViolation => "zone_violation",
            Self::FireAlarm => "fire_alarm",
            Self::DeviceOffline => "device_offline",
            Self::LiftFault => "lift_fault",
            Self::DoorForced => "door_forced",
            Self::DoorHeldOpen => "door_held_open",
            Self::EnergyOverTarget => "energy_over_target",
        }
    }

    /// Whether only a silence naming the exact subject may hide it (life
    /// safety: a maintenance window must not swallow a fire).
    pub fn needs_exact_silence(self) -> bool {
        matches!(self, Self::FireAlarm)
    }
}

/// What kind of thing an alert is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A camera or its edge box (id: the camera id).
    Camera,
    /// An IoT device (id: the device id).
    Device,
    /// A door of an access controller (id: `device/door`).
    Door,
    /// A whole site (id: the site id).
    Site,
    /// An energy target (id: the target id).
    Target,
    /// A camera's zone (id: `camera/zone/violation kind`) or a fire
    /// panel's zone (id: `device/zone`).
    Zone,
}

impl SubjectKind {
    /// The spelling in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Device => "device",
            Self::Door => "door",
            Self::Site => "site",
            Self::Target => "target",
            Self::Zone => "zone",
        }
    }
}

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub struct Subject {
    pub site: String,
    pub kind: SubjectKind,
    pub id: String,
}

impl Subject {
    /// A subject of `kind` at `site`.
    pub fn new(site: &str, kind: SubjectKind, id: &str) -> Self {
        Self {
            site: site.to_owned(),
            kind,
            id: id.to_owned(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.site, self.kind.as_str(), self.id)
    }
}

/// The de-duplication key: one open alert per rule and subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub struct AlertKey {
    pub rule: RuleId,
    pub subject: Subject,
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.rule.as_str(), self.subject)
    }
}
