//! Notification channels as data: where a change goes (routing by
//! severity, site and rule), what a webhook receives and how it is
//! signed, how an e-mail reads, and when a failed delivery is tried
//! again. Pure, so that routing, signatures and the retry schedule are
//! tested without a network; sending is `crate::notify`'s business.

use std::collections::BTreeMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use super::lifecycle::Change;
use super::{RuleId, Severity};

/// Which changes a channel receives: every list that is not empty must
/// contain the change's value. An escalation channel names only
/// `escalated`; a day-time channel `warning` and `critical`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Route {
    pub severities: Vec<Severity>,
    pub sites: Vec<String>,
    pub rules: Vec<RuleId>,
}

impl Route {
    /// Whether a change of `severity` at `site` by `rule` goes here.
    pub fn matches(&self, severity: Severity, site: &str, rule: RuleId) -> bool {
        (self.severities.is_empty() || self.severities.contains(&severity))
            && (self.sites.is_empty() || self.sites.iter().any(|s| s == site))
            && (self.rules.is_empty() || self.rules.contains(&rule))
    }
}

/// What kind of channel, with its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Settings {
    /// An HTTP(S) POST of the JSON notification, signed when the channel
    /// has a secret.
    Webhook { url: String },
    /// An e-mail through central's SMTP server (`[alerts.smtp]`), to the
    /// recipients listed for the change's severity.
    Email { to: BTreeMap<Severity, Vec<String>> },
}

impl Settings {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook { .. } => "webhook",
            Self::Email { .. } => "email",
        }
    }
}

/// A channel as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub enabled: bool,
    pub route: Route,
    pub settings: Settings,
    /// The webhook's HMAC-SHA256 key.
    pub secret: Option<String>,
}

/// A channel that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("a channel name is 1 to 63 of a-z, 0-9, '-' and '_', starting with a letter or digit")]
    BadName,
    #[error("the webhook URL must be an http:// or https:// URL with a host: {0}")]
    BadUrl(String),
    #[error("a webhook secret must be 16 to 256 characters")]
    BadSecret,
    #[error("only webhooks are signed: an e-mail channel takes no secret")]
    SecretOnEmail,
    #[error("an e-mail channel needs at least one recipient")]
    NoRecipients,
    #[error("not an e-mail address: {0}")]
    BadAddress(String),
    #[error("an e-mail channel has recipients for {0} but its route never sends {0}")]
    UnroutedRecipients(&'static str),
}

impl Channel {
    /// Checks what can be checked without sending.
    pub fn validate(&self) -> Result<(), ChannelError> {
        let n = &self.name;
        let name_ok = (1..=63).contains(&n.len())
            && n.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'-' || b == b'_'))
            });
        if !name_ok {
            return Err(ChannelError::BadName);
        }
        match &self.settings {
            Settings::Webhook { url } => {
                let rest = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"));
                let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
                let ok = host.is_some_and(|h| !h.is_empty() && !h.contains(char::is_whitespace))
                    && url.len() <= 2000
                    && !url.chars().any(char::is_control);
                if !ok {
                    return Err(ChannelError::BadUrl(url.clone()));
                }
                if let Some(s) = &self.secret
                    && !(16..=256).contains(&s.len())
                {
                    return Err(ChannelError::BadSecret);
                }
            }
            Settings::Email { to } => {
                if self.secret.is_some() {
                    return Err(ChannelError::SecretOnEmail);
                }
                if to.values().all(Vec::is_empty) {
                    return Err(ChannelError::NoRecipients);
                }
                for (severity, list) in to {
                    if !list.is_empty()
                        && !self.route.severities.is_empty()
                        && !self.route.severities.contains(severity)
                    {
                        return Err(ChannelError::UnroutedRecipients(severity.as_str()));
                    }
                    for a in list {
                        if !looks_like_address(a) {
                            return Err(ChannelError::BadAddress(a.clone()));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether `change` of an alert at `site` goes to this channel.
    pub fn wants(&self, change: &Change) -> bool {
        self.enabled
            && change.notify
            && self
                .route
                .matches(change.severity, &change.key.subject.site, change.key.rule)
            && match &self.settings {
                Settings::Webhook { .. } => true,
                Settings::Email { to } => to.get(&change.severity).is_some_and(|l| !l.is_empty()),
            }
    }
}

/// A light check (one `@`, something on each side, no spaces); the SMTP
/// library parses the address properly when it sends.
fn looks_like_address(a: &str) -> bool {
    let mut parts = a.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(local), Some(domain), None) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && a.len() <= 254
                && !a.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        _ => false,
    }
}

/// The webhook's signature header: `sha256=` and the hex HMAC-SHA256 of
/// `"{timestamp}.{body}"` under the channel's secret. The timestamp (unix
/// seconds, sent in its own header) is inside the signature so that a
/// captured request cannot be replayed later unnoticed.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// How many times a delivery is tried before it is given up (failed).
pub const MAX_ATTEMPTS: i32 = 8;

/// The wait before attempt `attempt + 1` after `attempt` failed ones:
/// 5 s, 10 s, 20 s … doubling, at most 10 minutes (the [`MAX_ATTEMPTS`]
/// attempts span 5 + 10 + … + 320 s, about 10.6 minutes: a receiver
/// restarting is waited for, one gone for good is given up soon).
pub fn backoff(attempt: i32) -> Duration {
    let n = u32::try_from(attempt.clamp(1, 16) - 1).unwrap_or(0);
    Duration::from_secs((5u64 << n).min(600))
}

/// One line for people (a Slack-compatible `text`, an e-mail subject):
/// `[CRITICAL] fired: camera lobby offline for 5 min (hq)`.
pub fn headline(change: &Change) -> String {
    let what = match change.what {
        super::ChangeKind::Fired => "fired",
        super::ChangeKind::SeverityRaised => "severity raised",
        super::ChangeKind::Acknowledged => "acknowledged",
        super::ChangeKind::Resolved => "resolved",
        super::ChangeKind::SilenceEnded => "still firing after a silence",
    };
    // No one named: central's own step, said without "by".
    let by = change
        .by
        .as_deref()
        .map(|b| format!(" by {b}"))
        .unwrap_or_default();
    format!(
        "[{}] {what}{by}: {} ({})",
        change.severity.as_str().to_uppercase(),
        change.summary,
        change.key.subject.site
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{AlertKey, ChangeKind, State, Subject, SubjectKind};
    use chrono::{TimeZone, Utc};

    fn change(severity: Severity, notify: bool) -> Change {
        Change {
            key: AlertKey {
                rule: RuleId::CameraOffline,
                subject: Subject::new("hq", SubjectKind::Camera, "lobby"),
            },
            first_seen: Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap(),
            what: ChangeKind::Fired,
            from: None,
            to: State::Firing,
            severity,
            summary: "camera lobby offline for 95 s".into(),
            by: None,
            comment: None,
            notify,
            silenced_by: None,
            at: Utc.with_ymd_and_hms(2026, 12, 7, 10, 1, 35).unwrap(),
        }
    }

    fn webhook(route: Route) -> Channel {
        Channel {
            name: "oncall".into(),
            enabled: true,
            route,
            settings: Settings::Webhook {
                url: "https://pager.example/hook".into(),
            },
            secret: Some("0123456789abcdef".into()),
        }
    }

    #[test]
    fn routes_by_severity_site_and_rule() {
        let escalation = webhook(Route {
            severities: vec![Severity::Escalated],
            ..Route::default()
        });
        assert!(!escalation.wants(&change(Severity::Critical, true)));
        assert!(escalation.wants(&change(Severity::Escalated, true)));
        let other_site = webhook(Route {
            sites: vec!["annex".into()],
            ..Route::default()
        });
        assert!(!other_site.wants(&change(Severity::Warning, true)));
        let fire_only = webhook(Route {
            rules: vec![RuleId::FireAlarm],
            ..Route::default()
        });
        assert!(!fire_only.wants(&change(Severity::Warning, true)));
        let all = webhook(Route::default());
        assert!(all.wants(&change(Severity::Warning, true)));
        assert!(!all.wants(&change(Severity::Warning, false)), "silenced");
        let off = Channel {
            enabled: false,
            ..all
        };
        assert!(!off.wants(&change(Severity::Warning, true)));
    }

    #[test]
    fn e_mail_goes_only_where_the_severity_has_recipients() {
        let mut to = BTreeMap::new();
        to.insert(Severity::Critical, vec!["ops@example.org".to_owned()]);
        let c = Channel {
            name: "mail".into(),
            enabled: true,
            route: Route::default(),
            settings: Settings::Email { to },
            secret: None,
        };
        assert_eq!(c.validate(), Ok(()));
        assert!(c.wants(&change(Severity::Critical, true)));
        assert!(!c.wants(&change(Severity::Warning, true)));
    }

    #[test]
    fn refuses_channels_that_cannot_work() {
        let ok = webhook(Route::default());
        assert_eq!(ok.validate(), Ok(()));
        for (name, want) in [
            ("", ChannelError::BadName),
            ("-x", ChannelError::BadName),
            ("Upper", ChannelError::BadName),
        ] {
            let c = Channel {
                name: name.into(),
                ..ok.clone()
            };
            assert_eq!(c.validate(), Err(want), "{name:?}");
        }
        for url in ["ftp://x/y", "https://", "https:// x", "pager.example"] {
            let c = Channel {
                settings: Settings::Webhook { url: url.into() },
                ..ok.clone()
            };
            assert!(
                matches!(c.validate(), Err(ChannelError::BadUrl(_))),
                "{url}"
            );
        }
        let short = Channel {
            secret: Some("short".into()),
            ..ok.clone()
        };
        assert_eq!(short.validate(), Err(ChannelError::BadSecret));
        let mut to = BTreeMap::new();
        to.insert(Severity::Warning, vec!["not an address".to_owned()]);
        let mail = Channel {
            settings: Settings::Email { to: to.clone() },
            secret: None,
            ..ok.clone()
        };
        assert!(matches!(mail.validate(), Err(ChannelError::BadAddress(_))));
        to.insert(Severity::Warning, vec!["a@example.org".to_owned()]);
        let unrouted = Channel {
            settings: Settings::Email { to },
            secret: None,
            route: Route {
                severities: vec![Severity::Critical],
                ..Route::default()
            },
            ..ok.clone()
        };
        assert_eq!(
            unrouted.validate(),
            Err(ChannelError::UnroutedRecipients("warning"))
        );
        let empty = Channel {
            settings: Settings::Email {
                to: BTreeMap::new(),
            },
            secret: None,
            ..ok
        };
        assert_eq!(empty.validate(), Err(ChannelError::NoRecipients));
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        // Worked out with: printf '1700000000.{"a":1}' | openssl dgst
        // -sha256 -hmac 'it is a secret!!'
        let sig = signature("it is a secret!!", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "sha256=df256d82f2dc95b02f203b2eeb91725a948236c5286e3db192cfe7734faa381a"
        );
        assert_ne!(
            sig,
            signature("it is a secret!!", 1_700_000_001, br#"{"a":1}"#)
        );
    }

    #[test]
    fn retries_back_off_doubling_up_to_ten_minutes() {
        let waits: Vec<u64> = (1..=MAX_ATTEMPTS).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(waits, vec![5, 10, 20, 40, 80, 160, 320, 600]);
        assert_eq!(backoff(40).as_secs(), 600);
    }

    #[test]
    fn the_headline_says_severity_what_and_where() {
        assert_eq!(
            headline(&change(Severity::Critical, true)),
            "[CRITICAL] fired: camera lobby offline for 95 s (hq)"
        );
        let mut acked = change(Severity::Warning, true);
        acked.what = ChangeKind::Acknowledged;
        acked.by = Some("olga".into());
        assert_eq!(
            headline(&acked),
            "[WARNING] acknowledged by olga: camera lobby offline for 95 s (hq)"
        );
    }
}
