//! An alert as people and other systems see it (the API, the WebSocket,
//! webhooks and e-mail): the stored row id instead of the core's
//! bookkeeping (streaks), so every surface shows the same thing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::lifecycle::{Alert, Change, State, Step, Transition};
use super::{RuleId, Severity, SubjectKind};

/// What an alert is about, without the site (a field of its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SubjectView {
    pub kind: SubjectKind,
    pub id: String,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertView {
    pub id: i64,
    pub rule: RuleId,
    pub site: String,
    pub subject: SubjectView,
    pub state: State,
    /// The highest severity reached while open.
    pub severity: Severity,
    pub summary: String,
    /// The figures behind the latest bad observation.
    #[schema(value_type = Object)]
    pub details: Value,
    /// The first bad observation.
    pub first_seen: DateTime<Utc>,
    pub fired_at: DateTime<Utc>,
    /// The latest bad (or not yet good) observation.
    pub last_seen: DateTime<Utc>,
    pub acknowledged: Option<Step>,
    /// `by` is null when the condition cleared by itself.
    pub resolved: Option<Step>,
    pub escalated_at: Option<DateTime<Utc>>,
    /// The silence that withheld its latest notification.
    pub silenced_by: Option<String>,
}

impl AlertView {
    pub fn new(id: i64, a: &Alert) -> Self {
        Self {
            id,
            rule: a.rule,
            site: a.subject.site.clone(),
            subject: SubjectView {
                kind: a.subject.kind,
                id: a.subject.id.clone(),
            },
            state: a.state,
            severity: a.severity,
            summary: a.summary.clone(),
            details: a.details.clone(),
            first_seen: a.first_seen,
            fired_at: a.fired_at,
            last_seen: a.last_seen,
            acknowledged: a.acknowledged.clone(),
            resolved: a.resolved.clone(),
            escalated_at: a.escalated_at,
            silenced_by: a
                .history
                .last()
                .and_then(|t: &Transition| t.silenced_by.clone()),
        }
    }
}

/// A notification's body (webhooks receive it as JSON; e-mail is written
/// from it): the change, the alert after it, and a one-line `text`
/// (Slack's incoming webhooks show that field).
pub fn notification(id: i64, alert: &Alert, change: &Change) -> Value {
    serde_json::json!({
        "text": super::channels::headline(change),
        "change": {
            "what": change.what,
            "from": change.from,
            "to": change.to,
            "severity": change.severity,
            "by": change.by,
            "comment": change.comment,
            "at": change.at,
        },
        "alert": AlertView::new(id, alert),
    })
}
