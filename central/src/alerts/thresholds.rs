//! The numbers behind the rules, as a config section: every field has the
//! planning document's default, so a config names only what it changes,
//! and `validate` refuses combinations that would make a rule silently
//! useless (a warning that can never come before its critical, a percent
//! no spool can reach, a hold-down of zero observations).

use std::collections::BTreeMap;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::{RuleId, Severity};

/// All alerting thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    pub camera_offline: OfflineThresholds,
    pub edge_offline: OfflineThresholds,
    pub device_offline: OfflineThresholds,
    pub spool: SpoolThresholds,
    pub recognition: RecognitionThresholds,
    /// Seconds after firing that an unacknowledged alert of a rule without
    /// its own schedule (all but the offline rules) escalates.
    pub escalate_after_s: u64,
    /// Hold-down for every rule not named in `hold_down_by_rule`.
    pub hold_down: HoldDown,
    /// Per-rule hold-down overrides.
    pub hold_down_by_rule: BTreeMap<RuleId, HoldDown>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            camera_offline: OfflineThresholds::default(),
            edge_offline: OfflineThresholds::default(),
            device_offline: OfflineThresholds::default(),
            spool: SpoolThresholds::default(),
            recognition: RecognitionThresholds::default(),
            escalate_after_s: 1800,
            hold_down: HoldDown::default(),
            hold_down_by_rule: BTreeMap::new(),
        }
    }
}

/// Seconds offline before each severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineThresholds {
    pub warning_s: u64,
    pub critical_s: u64,
    pub escalate_s: u64,
}

impl Default for OfflineThresholds {
    fn default() -> Self {
        Self {
            warning_s: 90,
            critical_s: 300,
            escalate_s: 1800,
        }
    }
}

impl OfflineThresholds {
    /// The severity after `offline_s` seconds offline; none before the
    /// warning threshold.
    pub fn severity(&self, offline_s: i64) -> Option<Severity> {
        let reached = |limit: u64| offline_s >= i64::try_from(limit).unwrap_or(i64::MAX);
        if reached(self.escalate_s) {
            Some(Severity::Escalated)
        } else if reached(self.critical_s) {
            Some(Severity::Critical)
        } else if reached(self.warning_s) {
            Some(Severity::Warning)
        } else {
            None
        }
    }
}

/// Spool fill, percent of the quota.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolThresholds {
    pub warning_percent: f64,
    pub critical_percent: f64,
}

impl Default for SpoolThresholds {
    fn default() -> Self {
        Self {
            warning_percent: 50.0,
            critical_percent: 90.0,
        }
    }
}

/// Recognition failure rate over a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecognitionThresholds {
    /// A rate strictly over this percent is bad.
    pub failure_percent: f64,
    /// Windows with fewer attempts say nothing (too few to judge).
    pub min_attempts: u32,
}

impl Default for RecognitionThresholds {
    fn default() -> Self {
        Self {
            failure_percent: 10.0,
            min_attempts: 20,
        }
    }
}

/// Consecutive observations needed to change an alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HoldDown {
    /// Bad observations before an alert fires.
    pub fire: u32,
    /// Good observations before an open alert resolves.
    pub resolve: u32,
}

impl Default for HoldDown {
    fn default() -> Self {
        Self {
            fire: 1,
            resolve: 2,
        }
    }
}

/// A threshold that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error("alerts.{field}: {lower} must not be greater than {upper}")]
    OutOfOrder {
        field: String,
        lower: &'static str,
        upper: &'static str,
    },
    #[error("alerts.{field}: {value} is outside 0..=100")]
    Percent { field: String, value: f64 },
    #[error("alerts.{field}: must be at least 1")]
    Zero { field: String },
}

impl Thresholds {
    /// Every nonsensical setting; empty when all is well.
    pub fn validate(&self) -> Result<(), Vec<ThresholdError>> {
        let mut errors = Vec::new();
        for (field, o) in [
            ("camera_offline", &self.camera_offline),
            ("edge_offline", &self.edge_offline),
            ("device_offline", &self.device_offline),
        ] {
            check_offline(field, o, &mut errors);
        }
        check_spool(&self.spool, &mut errors);
        check_recognition(&self.recognition, &mut errors);
        if self.escalate_after_s == 0 {
            errors.push(zero("escalate_after_s".into()));
        }
        check_hold_down("hold_down", &self.hold_down, &mut errors);
        for (rule, h) in &self.hold_down_by_rule {
            check_hold_down(
                &format!("hold_down_by_rule.{}", rule.as_str()),
                h,
                &mut errors,
            );
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The hold-down for `rule`. A fire alarm always fires at its first
    /// observation, whatever the config says.
    pub fn hold_down(&self, rule: RuleId) -> HoldDown {
        let h = self
            .hold_down_by_rule
            .get(&rule)
            .copied()
            .unwrap_or(self.hold_down);
        match rule {
            RuleId::FireAlarm => HoldDown { fire: 1, ..h },
            _ => h,
        }
    }

    /// How long after firing `rule` escalates by itself; none for the
    /// offline rules, whose conditions carry their own schedule.
    pub fn escalate_after(&self, rule: RuleId) -> Option<TimeDelta> {
        match rule {
            RuleId::CameraOffline | RuleId::EdgeOffline | RuleId::DeviceOffline => None,
            _ => Some(seconds(self.escalate_after_s)),
        }
    }
}

/// `s` seconds, saturating (a config can ask for more than chrono holds).
pub(super) fn seconds(s: u64) -> TimeDelta {
    i64::try_from(s)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .unwrap_or(TimeDelta::MAX)
}

fn zero(field: String) -> ThresholdError {
    ThresholdError::Zero { field }
}

fn check_offline(field: &str, o: &OfflineThresholds, errors: &mut Vec<ThresholdError>) {
    let order = [
        (o.warning_s, o.critical_s, "warning_s", "critical_s"),
        (o.critical_s, o.escalate_s, "critical_s", "escalate_s"),
    ];
    for (a, b, lower, upper) in order {
        if a > b {
            errors.push(ThresholdError::OutOfOrder {
                field: field.to_owned(),
                lower,
                upper,
            });
        }
    }
}

fn check_percent(field: &str, value: f64, errors: &mut Vec<ThresholdError>) {
    if !(0.0..=100.0).contains(&value) {
        errors.push(ThresholdError::Percent {
            field: field.to_owned(),
            value,
        });
    }
}

fn check_spool(s: &SpoolThresholds, errors: &mut Vec<ThresholdError>) {
    check_percent("spool.warning_percent", s.warning_percent, errors);
    check_percent("spool.critical_percent", s.critical_percent, errors);
    if s.warning_percent > s.critical_percent {
        errors.push(ThresholdError::OutOfOrder {
            field: "spool".into(),
            lower: "warning_percent",
            upper: "critical_percent",
        });
    }
}

fn check_recognition(r: &RecognitionThresholds, errors: &mut Vec<ThresholdError>) {
    check_percent("recognition.failure_percent", r.failure_percent, errors);
    if r.min_attempts == 0 {
        errors.push(zero("recognition.min_attempts".into()));
    }
}

fn check_hold_down(field: &str, h: &HoldDown, errors: &mut Vec<ThresholdError>) {
    if h.fire == 0 {
        errors.push(zero(format!("{field}.fire")));
    }
    if h.resolve == 0 {
        errors.push(zero(format!("{field}.resolve")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_planning_documents_and_valid() {
        let t = Thresholds::default();
        assert_eq!(t.validate(), Ok(()));
        assert_eq!(
            (t.camera_offline.warning_s, t.camera_offline.critical_s),
            (90, 300)
        );
        assert_eq!(t.camera_offline.escalate_s, 1800);
        assert_eq!(t.edge_offline, t.camera_offline);
        assert_eq!(t.spool.warning_percent, 50.0);
        assert_eq!(t.spool.critical_percent, 90.0);
        assert_eq!(t.recognition.failure_percent, 10.0);
        assert_eq!(t.recognition.min_attempts, 20);
        assert_eq!(t.escalate_after_s, 1800);
        assert_eq!(
            t.hold_down,
            HoldDown {
                fire: 1,
                resolve: 2
            }
        );
    }

    #[test]
    fn offline_severity_steps_at_the_thresholds() {
        let o = OfflineThresholds::default();
        // 89 s: not yet; 90 s: warning; 299/300 s: warning/critical;
        // 1800 s: escalated; negative (a `since` in the future): none.
        assert_eq!(o.severity(89), None);
        assert_eq!(o.severity(90), Some(Severity::Warning));
        assert_eq!(o.severity(299), Some(Severity::Warning));
        assert_eq!(o.severity(300), Some(Severity::Critical));
        assert_eq!(o.severity(1799), Some(Severity::Critical));
        assert_eq!(o.severity(1800), Some(Severity::Escalated));
        assert_eq!(o.severity(-5), None);
    }

    #[test]
    fn validate_refuses_nonsense_and_lists_all_of_it() {
        let mut t = Thresholds::default();
        t.camera_offline.warning_s = 400; // after critical (300)
        t.spool.critical_percent = 120.0; // out of range
        t.recognition.failure_percent = f64::NAN; // not a percent
        t.recognition.min_attempts = 0;
        t.escalate_after_s = 0;
        t.hold_down_by_rule.insert(
            RuleId::SpoolHigh,
            HoldDown {
                fire: 0,
                resolve: 2,
            },
        );
        let errors = t.validate().unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "alerts.camera_offline: warning_s must not be greater than critical_s",
                "alerts.spool.critical_percent: 120 is outside 0..=100",
                "alerts.recognition.failure_percent: NaN is outside 0..=100",
                "alerts.recognition.min_attempts: must be at least 1",
                "alerts.escalate_after_s: must be at least 1",
                "alerts.hold_down_by_rule.spool_high.fire: must be at least 1",
            ]
        );
    }

    #[test]
    fn spool_warning_above_critical_is_refused() {
        let mut t = Thresholds::default();
        t.spool.warning_percent = 95.0;
        assert_eq!(
            t.validate(),
            Err(vec![ThresholdError::OutOfOrder {
                field: "spool".into(),
                lower: "warning_percent",
                upper: "critical_percent",
            }])
        );
    }

    #[test]
    fn a_config_names_only_what_it_changes() {
        let t: Thresholds = serde_json::from_str(
            r#"{"spool": {"warning_percent": 40},
                "hold_down_by_rule": {"lift_fault": {"resolve": 3}}}"#,
        )
        .unwrap();
        assert_eq!(t.spool.warning_percent, 40.0);
        assert_eq!(t.spool.critical_percent, 90.0);
        assert_eq!(t.camera_offline, OfflineThresholds::default());
        assert_eq!(
            t.hold_down(RuleId::LiftFault),
            HoldDown {
                fire: 1,
                resolve: 3
            }
        );
        assert_eq!(t.hold_down(RuleId::SpoolHigh), HoldDown::default());
        // A typo is refused, not ignored.
        assert!(serde_json::from_str::<Thresholds>(r#"{"spool_warning": 1}"#).is_err());
    }

    #[test]
    fn fire_alarm_fires_at_once_whatever_the_config() {
        let mut t = Thresholds::default();
        let slow = HoldDown {
            fire: 3,
            resolve: 3,
        };
        t.hold_down_by_rule.insert(RuleId::FireAlarm, slow);
        assert_eq!(
            t.hold_down(RuleId::FireAlarm),
            HoldDown {
                fire: 1,
                resolve: 3
            }
        );
    }

    #[test]
    fn only_rules_without_a_schedule_escalate_by_lifecycle() {
        let t = Thresholds::default();
        assert_eq!(t.escalate_after(RuleId::CameraOffline), None);
        assert_eq!(t.escalate_after(RuleId::DeviceOffline), None);
        assert_eq!(
            t.escalate_after(RuleId::LiftFault),
            Some(TimeDelta::seconds(1800))
        );
        assert_eq!(seconds(u64::MAX), TimeDelta::MAX);
    }
}
