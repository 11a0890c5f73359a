//! Silences and maintenance windows. A silence hides notifications, never
//! state: alerts under it still fire, escalate and resolve, so the alerts
//! page tells the truth during maintenance and nothing is lost when the
//! window ends. Fire alarms are the exception to broad matching: only a
//! silence that names the exact fire zone hides one, because a site-wide
//! window set up for camera work must not swallow a real fire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AlertKey, RuleId, SubjectKind};

/// A silence or maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Silence {
    pub id: String,
    pub matcher: Matcher,
    pub starts: DateTime<Utc>,
    /// Expiry: the silence covers `starts <= now < ends`.
    pub ends: DateTime<Utc>,
    /// Who set it up.
    pub by: String,
    pub comment: Option<String>,
}

/// Which alerts a silence covers: every field given must match. Unknown
/// fields are refused: a misspelt one would silently widen the silence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    pub rule: Option<RuleId>,
    pub site: Option<String>,
    pub subject: Option<SubjectRef>,
}

/// A subject named by kind and id (ids are unique across sites).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectRef {
    pub kind: SubjectKind,
    pub id: String,
}

/// A silence that cannot be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("a silence needs an id")]
    NoId,
    #[error("a silence must end after it starts")]
    EndsBeforeStart,
    #[error(
        "a silence must name a rule, a site or a subject (silencing everything is turning alerting off)"
    )]
    MatchesEverything,
}

impl Matcher {
    /// Whether the matcher covers the alert `key`.
    pub fn matches(&self, key: &AlertKey) -> bool {
        let s = &key.subject;
        let rule_ok = self.rule.is_none_or(|r| r == key.rule);
        let site_ok = self.site.as_deref().is_none_or(|site| site == s.site);
        let subject_ok = self
            .subject
            .as_ref()
            .is_none_or(|r| r.kind == s.kind && r.id == s.id);
        let broad_ok = !key.rule.needs_exact_silence() || self.subject.is_some();
        rule_ok && site_ok && subject_ok && broad_ok
    }

    fn is_empty(&self) -> bool {
        self.rule.is_none() && self.site.is_none() && self.subject.is_none()
    }
}

impl Silence {
    /// Whether it is in force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.starts <= now && now < self.ends
    }

    /// Whether it hides the alert `key`'s notifications at `now`.
    pub fn covers(&self, key: &AlertKey, now: DateTime<Utc>) -> bool {
        self.is_active(now) && self.matcher.matches(key)
    }

    /// Refuses a silence that cannot be meant.
    pub fn validate(&self) -> Result<(), SilenceError> {
        if self.id.trim().is_empty() {
            Err(SilenceError::NoId)
        } else if self.ends <= self.starts {
            Err(SilenceError::EndsBeforeStart)
        } else if self.matcher.is_empty() {
            Err(SilenceError::MatchesEverything)
        } else {
            Ok(())
        }
    }
}

/// The first of `silences` hiding `key` at `now`.
pub fn silencing<'a>(
    silences: &'a [Silence],
    key: &AlertKey,
    now: DateTime<Utc>,
) -> Option<&'a Silence> {
    silences.iter().find(|s| s.covers(key, now))
}

#[cfg(test)]
mod tests {
    use super::super::Subject;
    use super::*;
    use chrono::TimeDelta;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::seconds(s)
    }

    fn silence(matcher: Matcher) -> Silence {
        Silence {
            id: "s1".into(),
            matcher,
            starts: t(0),
            ends: t(100),
            by: "ana".into(),
            comment: None,
        }
    }

    fn key(rule: RuleId, kind: SubjectKind, id: &str) -> AlertKey {
        AlertKey {
            rule,
            subject: Subject::new("hq", kind, id),
        }
    }

    #[test]
    fn a_silence_covers_from_start_until_expiry() {
        let s = silence(Matcher {
            site: Some("hq".into()),
            ..Matcher::default()
        });
        let k = key(RuleId::CameraOffline, SubjectKind::Camera, "cam1");
        assert!(!s.covers(&k, t(-1)));
        assert!(s.covers(&k, t(0)));
        assert!(s.covers(&k, t(99)));
        assert!(!s.covers(&k, t(100)));
    }

    #[test]
    fn every_given_field_must_match() {
        let s = silence(Matcher {
            rule: Some(RuleId::SpoolHigh),
            site: Some("hq".into()),
            subject: Some(SubjectRef {
                kind: SubjectKind::Camera,
                id: "cam1".into(),
            }),
        });
        assert!(s.covers(&key(RuleId::SpoolHigh, SubjectKind::Camera, "cam1"), t(5)));
        assert!(!s.covers(
            &key(RuleId::CameraOffline, SubjectKind::Camera, "cam1"),
            t(5)
        ));
        assert!(!s.covers(&key(RuleId::SpoolHigh, SubjectKind::Camera, "cam2"), t(5)));
        assert!(!s.covers(&key(RuleId::SpoolHigh, SubjectKind::Device, "cam1"), t(5)));
    }

    #[test]
    fn fire_alarms_need_their_exact_subject() {
        let fire = key(RuleId::FireAlarm, SubjectKind::Zone, "panel1/Z3");
        let site_wide = silence(Matcher {
            site: Some("hq".into()),
            ..Matcher::default()
        });
        let fire_rule = silence(Matcher {
            rule: Some(RuleId::FireAlarm),
            ..Matcher::default()
        });
        let other_zone = silence(Matcher {
            subject: Some(SubjectRef {
                kind: SubjectKind::Zone,
                id: "panel1/Z4".into(),
            }),
            ..Matcher::default()
        });
        let this_zone = silence(Matcher {
            subject: Some(SubjectRef {
                kind: SubjectKind::Zone,
                id: "panel1/Z3".into(),
            }),
            ..Matcher::default()
        });
        assert!(!site_wide.covers(&fire, t(5)));
        assert!(!fire_rule.covers(&fire, t(5)));
        assert!(!other_zone.covers(&fire, t(5)));
        assert!(this_zone.covers(&fire, t(5)));
        let all = [site_wide, fire_rule, other_zone, this_zone];
        assert_eq!(silencing(&all[..3], &fire, t(5)), None);
        assert_eq!(
            silencing(&all, &fire, t(5)).map(|s| &all[3] == s),
            Some(true)
        );
    }

    #[test]
    fn validate_refuses_what_cannot_be_meant() {
        let site = Matcher {
            site: Some("hq".into()),
            ..Matcher::default()
        };
        assert_eq!(silence(site.clone()).validate(), Ok(()));
        let everything = silence(Matcher::default());
        assert_eq!(everything.validate(), Err(SilenceError::MatchesEverything));
        let backwards = Silence {
            ends: t(0),
            ..silence(site.clone())
        };
        assert_eq!(backwards.validate(), Err(SilenceError::EndsBeforeStart));
        let anonymous = Silence {
            id: " ".into(),
            ..silence(site)
        };
        assert_eq!(anonymous.validate(), Err(SilenceError::NoId));
    }
}
