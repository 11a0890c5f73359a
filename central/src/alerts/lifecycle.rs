//! Alerts' lives: from a rule's conditions to firing, rising severity,
//! acknowledgement and resolution, each step recorded with who, when and
//! why, and each returned as a [`Change`] for delivery. Kept apart from
//! the rules so that hold-down, escalation and silences behave the same
//! for every rule, shipped or added later.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::rules::{Condition, Verdict};
use super::silences::{Silence, silencing};
use super::thresholds::Thresholds;
use super::{AlertKey, RuleId, Severity, Subject};

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Firing,
    /// A person owns it: no more escalation, still resolves.
    Acknowledged,
    Resolved,
}

/// Who took a step, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Step {
    /// None: central itself (the condition cleared).
    pub by: Option<String>,
    pub at: DateTime<Utc>,
    pub comment: Option<String>,
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Fired,
    SeverityRaised,
    Acknowledged,
    Resolved,
    /// The silence that withheld its notifications ended while it still
    /// fires: it is announced now.
    SilenceEnded,
}

/// One entry of an alert's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Transition {
    pub what: ChangeKind,
    /// The state after it.
    pub state: State,
    /// The severity after it.
    pub severity: Severity,
    pub at: DateTime<Utc>,
    pub by: Option<String>,
    pub comment: Option<String>,
    /// The silence that kept it from being notified.
    pub silenced_by: Option<String>,
}

/// One alert: one bad spell of one rule's subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub rule: RuleId,
    pub subject: Subject,
    pub state: State,
    /// The highest severity reached while open.
    pub severity: Severity,
    /// The latest bad observation's summary.
    pub summary: String,
    /// The latest bad observation's figures.
    #[schema(value_type = Object)]
    pub details: Value,
    /// The first bad observation (before the hold-down let it fire).
    pub first_seen: DateTime<Utc>,
    pub fired_at: DateTime<Utc>,
    /// The latest bad (or pending) observation.
    pub last_seen: DateTime<Utc>,
    pub acknowledged: Option<Step>,
    pub resolved: Option<Step>,
    pub escalated_at: Option<DateTime<Utc>>,
    /// Consecutive bad observations.
    pub bad_streak: u32,
    /// Consecutive good observations (towards resolving).
    pub good_streak: u32,
    /// The silence that withheld a notification this alert still owes.
    pub muted_by: Option<String>,
    pub history: Vec<Transition>,
}

impl Alert {
    /// Its de-duplication key.
    pub fn key(&self) -> AlertKey {
        AlertKey {
            rule: self.rule,
            subject: self.subject.clone(),
        }
    }

    /// A stable name for this alert (the key and when it was first seen),
    /// different for each bad spell of the same key.
    pub fn id(&self) -> String {
        let seen = self.first_seen.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        format!("{}@{seen}", self.key())
    }

    /// Firing or acknowledged.
    pub fn is_open(&self) -> bool {
        self.state != State::Resolved
    }

    fn fired(c: &Condition, severity: Severity, pending: Pending, now: DateTime<Utc>) -> Self {
        Self {
            rule: c.rule,
            subject: c.subject.clone(),
            state: State::Firing,
            severity,
            summary: c.summary.clone(),
            details: c.details.clone(),
            first_seen: pending.first_seen,
            fired_at: now,
            last_seen: c.at,
            acknowledged: None,
            resolved: None,
            escalated_at: (severity == Severity::Escalated).then_some(now),
            bad_streak: pending.bad_streak,
            good_streak: 0,
            muted_by: None,
            history: Vec::new(),
        }
    }
}

/// A state change for delivery to turn into notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    pub key: AlertKey,
    /// With `key`, which alert (see [`Alert::id`]).
    pub first_seen: DateTime<Utc>,
    pub what: ChangeKind,
    /// None when the alert was born.
    pub from: Option<State>,
    pub to: State,
    pub severity: Severity,
    pub summary: String,
    pub by: Option<String>,
    pub comment: Option<String>,
    /// False while a silence covers the alert.
    pub notify: bool,
    pub silenced_by: Option<String>,
    pub at: DateTime<Utc>,
}

/// Why a person's step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("no alert {0}")]
    NotFound(String),
    #[error("alert {0} is already resolved")]
    AlreadyResolved(String),
    #[error("alert {0} is already acknowledged")]
    AlreadyAcknowledged(String),
}

/// The current alert of every key (open or the latest resolved one) and
/// the bad streaks of keys that have not fired yet.
#[derive(Debug, Clone, Default)]
pub struct Book {
    alerts: BTreeMap<AlertKey, Alert>,
    pending: BTreeMap<AlertKey, Pending>,
    /// Alerts resolved and then replaced by a new alert of their key
    /// since the last [`Book::take_retired`] (a door closed and held open
    /// again in one step): their last changes still need recording.
    retired: Vec<Alert>,
}

/// A key seen bad, waiting for its hold-down.
#[derive(Debug, Clone, Copy)]
struct Pending {
    first_seen: DateTime<Utc>,
    bad_streak: u32,
}

/// Who took a step (none: central).
#[derive(Debug, Clone, Default)]
struct Who {
    by: Option<String>,
    comment: Option<String>,
}

impl Who {
    fn person(by: &str, comment: Option<&str>) -> Self {
        Self {
            by: Some(by.to_owned()),
            comment: comment.map(str::to_owned),
        }
    }

    fn step(&self, at: DateTime<Utc>) -> Step {
        Step {
            by: self.by.clone(),
            at,
            comment: self.comment.clone(),
        }
    }
}

/// What every transition needs to know besides the alert.
#[derive(Debug, Clone, Copy)]
struct Ctx<'a> {
    silences: &'a [Silence],
    thresholds: &'a Thresholds,
    now: DateTime<Utc>,
}

impl Book {
    /// A book of alerts read back from the store; of several alerts of
    /// one key, the latest first seen is kept.
    pub fn from_alerts(alerts: impl IntoIterator<Item = Alert>) -> Self {
        let mut book = Self::default();
        for a in alerts {
            let key = a.key();
            let newer = book
                .alerts
                .get(&key)
                .is_none_or(|old| old.first_seen < a.first_seen);
            if newer {
                book.alerts.insert(key, a);
            }
        }
        book
    }

    /// Replaces the alerts with `open` (read back from the store, where
    /// people may have acknowledged or resolved some since the last
    /// step), keeping the bad streaks of keys that have not fired yet.
    pub fn reload(&mut self, open: impl IntoIterator<Item = Alert>) {
        self.alerts = Self::from_alerts(open).alerts;
        self.retired.clear();
        let alerts = &self.alerts;
        self.pending
            .retain(|k, _| !alerts.get(k).is_some_and(Alert::is_open));
    }

    /// Resolved alerts replaced by a new alert of the same key since the
    /// last call (see [`Book`]'s `retired`).
    pub fn take_retired(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.retired)
    }

    /// The current alert of `key`.
    pub fn get(&self, key: &AlertKey) -> Option<&Alert> {
        self.alerts.get(key)
    }

    /// Every current alert, open or resolved, in key order.
    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values()
    }

    /// Firing and acknowledged alerts.
    pub fn open(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values().filter(|a| a.is_open())
    }

    /// Applies `conditions` in order, then time-based escalation, then
    /// the end of silences, all at `now`; returns the changes made.
    pub fn step(
        &mut self,
        conditions: &[Condition],
        silences: &[Silence],
        thresholds: &Thresholds,
        now: DateTime<Utc>,
    ) -> Vec<Change> {
        let ctx = Ctx {
            silences,
            thresholds,
            now,
        };
        let mut changes: Vec<Change> = conditions
            .iter()
            .filter_map(|c| self.observe(c, ctx))
            .collect();
        self.escalate(ctx, &mut changes);
        self.unmute(ctx, &mut changes);
        changes
    }

    /// A person acknowledges the alert of `key`: it stops escalating.
    pub fn acknowledge(
        &mut self,
        key: &AlertKey,
        by: &str,
        comment: Option<&str>,
        silences: &[Silence],
        now: DateTime<Utc>,
    ) -> Result<Change, ActionError> {
        let alert = self
            .alerts
            .get_mut(key)
            .ok_or_else(|| ActionError::NotFound(key.to_string()))?;
        match alert.state {
            State::Resolved => Err(ActionError::AlreadyResolved(alert.id())),
            State::Acknowledged => Err(ActionError::AlreadyAcknowledged(alert.id())),
            State::Firing => {
                let who = Who::person(by, comment);
                alert.state = State::Acknowledged;
                alert.acknowledged = Some(who.step(now));
                let from = Some(State::Firing);
                Ok(record(
                    alert,
                    ChangeKind::Acknowledged,
                    from,
                    who,
                    silences,
                    now,
                ))
            }
        }
    }

    /// A person resolves the alert of `key`, even if its condition is
    /// still bad (a new alert then fires after the hold-down).
    pub fn resolve(
        &mut self,
        key: &AlertKey,
        by: &str,
        comment: Option<&str>,
        silences: &[Silence],
        now: DateTime<Utc>,
    ) -> Result<Change, ActionError> {
        self.pending.remove(key);
        let alert = self
            .alerts
            .get_mut(key)
            .ok_or_else(|| ActionError::NotFound(key.to_string()))?;
        if alert.state == State::Resolved {
            return Err(ActionError::AlreadyResolved(alert.id()));
        }
        Ok(close(alert, Who::person(by, comment), silences, now))
    }

    fn observe(&mut self, c: &Condition, ctx: Ctx<'_>) -> Option<Change> {
        let key = c.key();
        match self.alerts.get_mut(&key) {
            Some(alert) if alert.is_open() => observe_open(alert, c, ctx),
            _ => self.observe_new(key, c, ctx),
        }
    }

    /// A condition of a key without an open alert: counts towards firing.
    fn observe_new(&mut self, key: AlertKey, c: &Condition, ctx: Ctx<'_>) -> Option<Change> {
        let severity = match c.verdict {
            Verdict::Good => {
                self.pending.remove(&key);
                return None;
            }
            Verdict::Pending => return None,
            Verdict::Bad(s) => s,
        };
        let p = self.pending.entry(key.clone()).or_insert(Pending {
            first_seen: c.at,
            bad_streak: 0,
        });
        p.bad_streak = p.bad_streak.saturating_add(1);
        if p.bad_streak < ctx.thresholds.hold_down(c.rule).fire {
            return None;
        }
        let p = *p;
        self.pending.remove(&key);
        let mut alert = Alert::fired(c, severity, p, ctx.now);
        let change = record(
            &mut alert,
            ChangeKind::Fired,
            None,
            Who::default(),
            ctx.silences,
            ctx.now,
        );
        if let Some(old) = self.alerts.insert(key, alert) {
            self.retired.push(old);
        }
        Some(change)
    }

    /// Raises firing alerts of rules without their own schedule to
    /// escalated once `escalate_after` has passed since they fired.
    fn escalate(&mut self, ctx: Ctx<'_>, changes: &mut Vec<Change>) {
        for alert in self.alerts.values_mut() {
            let Some(after) = ctx.thresholds.escalate_after(alert.rule) else {
                continue;
            };
            if ctx.now - alert.fired_at >= after
                && let Some(c) = raise(alert, Severity::Escalated, ctx)
            {
                changes.push(c);
            }
        }
    }

    /// Announces firing alerts whose withheld notifications are no longer
    /// covered by any silence.
    fn unmute(&mut self, ctx: Ctx<'_>, changes: &mut Vec<Change>) {
        let owing = self
            .alerts
            .values_mut()
            .filter(|a| a.state == State::Firing && a.muted_by.is_some());
        for alert in owing {
            match silencing(ctx.silences, &alert.key(), ctx.now) {
                Some(s) => alert.muted_by = Some(s.id.clone()),
                None => changes.push(record(
                    alert,
                    ChangeKind::SilenceEnded,
                    Some(State::Firing),
                    Who::default(),
                    ctx.silences,
                    ctx.now,
                )),
            }
        }
    }
}

/// A condition of a key with an open alert: updates it, raises its
/// severity, or counts towards resolving it.
fn observe_open(alert: &mut Alert, c: &Condition, ctx: Ctx<'_>) -> Option<Change> {
    match c.verdict {
        Verdict::Good => {
            alert.good_streak = alert.good_streak.saturating_add(1);
            alert.bad_streak = 0;
            let due = alert.good_streak >= ctx.thresholds.hold_down(c.rule).resolve;
            due.then(|| close(alert, Who::default(), ctx.silences, ctx.now))
        }
        Verdict::Pending => {
            alert.good_streak = 0;
            alert.last_seen = c.at;
            None
        }
        Verdict::Bad(severity) => {
            alert.good_streak = 0;
            alert.bad_streak = alert.bad_streak.saturating_add(1);
            alert.last_seen = c.at;
            alert.summary.clone_from(&c.summary);
            alert.details.clone_from(&c.details);
            raise(alert, severity, ctx)
        }
    }
}

/// Raises a firing alert's severity to `to`; acknowledged alerts keep
/// theirs, and severity never falls while open.
fn raise(alert: &mut Alert, to: Severity, ctx: Ctx<'_>) -> Option<Change> {
    if alert.state != State::Firing || to <= alert.severity {
        return None;
    }
    alert.severity = to;
    if to == Severity::Escalated {
        alert.escalated_at = Some(ctx.now);
    }
    let from = Some(State::Firing);
    Some(record(
        alert,
        ChangeKind::SeverityRaised,
        from,
        Who::default(),
        ctx.silences,
        ctx.now,
    ))
}

fn close(alert: &mut Alert, who: Who, silences: &[Silence], now: DateTime<Utc>) -> Change {
    let from = Some(alert.state);
    alert.state = State::Resolved;
    alert.good_streak = 0;
    alert.resolved = Some(who.step(now));
    record(alert, ChangeKind::Resolved, from, who, silences, now)
}

/// Writes the alert's history entry and the change for delivery; a change
/// under a silence is not notified, and a firing alert remembers that it
/// owes one.
fn record(
    alert: &mut Alert,
    what: ChangeKind,
    from: Option<State>,
    who: Who,
    silences: &[Silence],
    now: DateTime<Utc>,
) -> Change {
    let key = alert.key();
    let silenced_by = silencing(silences, &key, now).map(|s| s.id.clone());
    alert.muted_by = silenced_by.clone().filter(|_| alert.state == State::Firing);
    alert.history.push(Transition {
        what,
        state: alert.state,
        severity: alert.severity,
        at: now,
        by: who.by.clone(),
        comment: who.comment.clone(),
        silenced_by: silenced_by.clone(),
    });
    Change {
        key,
        first_seen: alert.first_seen,
        what,
        from,
        to: alert.state,
        severity: alert.severity,
        summary: alert.summary.clone(),
        by: who.by,
        comment: who.comment,
        notify: silenced_by.is_none(),
        silenced_by,
        at: now,
    }
}
