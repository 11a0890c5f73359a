//! The shipped rules, one function each: a rule looks at one fact and
//! says whether its subject is fine, bad (and how bad), or on its way to
//! bad; it returns nothing for facts it has no opinion on. Rules see
//! neither the alerts nor each other, so each can be tested alone and a
//! new one cannot disturb the others; hold-down, escalation and silences
//! are the lifecycle's job.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::facts::{DoorOutcome, Fact, FireState, LiftMode, LoadLevel, Observation};
use super::thresholds::{OfflineThresholds, Thresholds};
use super::{AlertKey, RuleId, Severity, Subject, SubjectKind};

/// What a rule concluded about its subject from one fact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub rule: RuleId,
    pub subject: Subject,
    pub verdict: Verdict,
    /// When the fact was observed.
    pub at: DateTime<Utc>,
    /// One line for people.
    pub summary: String,
    /// The figures behind it, for the API and notifications.
    pub details: Value,
}

impl Condition {
    /// The alert this condition is about.
    pub fn key(&self) -> AlertKey {
        AlertKey {
            rule: self.rule,
            subject: self.subject.clone(),
        }
    }
}

/// A rule's judgement of one observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "severity", rename_all = "snake_case")]
pub enum Verdict {
    /// Fine: counts towards resolving.
    Good,
    /// Bad, but not yet worth an alert (offline for less than the warning
    /// threshold): fires nothing, and keeps an open alert from resolving.
    Pending,
    /// Bad: counts towards firing.
    Bad(Severity),
}

/// What every rule concludes from `facts` at `now`.
pub fn conditions(facts: &[Fact], thresholds: &Thresholds, now: DateTime<Utc>) -> Vec<Condition> {
    facts
        .iter()
        .flat_map(|f| {
            RuleId::ALL
                .into_iter()
                .filter_map(move |r| evaluate(r, f, thresholds, now))
        })
        .collect()
}

/// What `rule` concludes from `fact` at `now`; none when the fact is not
/// its business.
pub fn evaluate(
    rule: RuleId,
    fact: &Fact,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Option<Condition> {
    let t = thresholds;
    match rule {
        RuleId::CameraOffline => camera_offline(fact, t, now),
        RuleId::EdgeOffline => edge_offline(fact, t, now),
        RuleId::SpoolHigh => spool_high(fact, t),
        RuleId::EdgeDegraded => edge_degraded(fact),
        RuleId::RecognitionFailures => recognition_failures(fact, t),
        RuleId::ZoneViolation => zone_violation(fact),
        RuleId::FireAlarm => fire_alarm(fact),
        RuleId::DeviceOffline => device_offline(fact, t, now),
        RuleId::LiftFault => lift_fault(fact),
        RuleId::DoorForced => door_forced(fact),
        RuleId::DoorHeldOpen => door_held_open(fact),
        RuleId::EnergyOverTarget => energy_over_target(fact),
    }
}

fn condition(
    fact: &Fact,
    rule: RuleId,
    subject: Subject,
    verdict: Verdict,
    summary: String,
    details: Value,
) -> Condition {
    Condition {
        rule,
        subject,
        verdict,
        at: fact.at,
        summary,
        details,
    }
}

fn camera_offline(f: &Fact, t: &Thresholds, now: DateTime<Utc>) -> Option<Condition> {
    let Observation::CameraStatus {
        camera,
        online,
        since,
    } = &f.what
    else {
        return None;
    };
    let subject = Subject::new(&f.site, SubjectKind::Camera, camera);
    let th = &t.camera_offline;
    Some(offline(
        f,
        RuleId::CameraOffline,
        subject,
        (*online, *since),
        th,
        now,
    ))
}

fn edge_offline(f: &Fact, t: &Thresholds, now: DateTime<Utc>) -> Option<Condition> {
    let Observation::EdgeStatus {
        camera,
        online,
        since,
    } = &f.what
    else {
        return None;
    };
    let subject = Subject::new(&f.site, SubjectKind::Camera, camera);
    let th = &t.edge_offline;
    Some(offline(
        f,
        RuleId::EdgeOffline,
        subject,
        (*online, *since),
        th,
        now,
    ))
}

fn device_offline(f: &Fact, t: &Thresholds, now: DateTime<Utc>) -> Option<Condition> {
    let Observation::DeviceStatus {
        device,
        online,
        since,
    } = &f.what
    else {
        return None;
    };
    let subject = Subject::new(&f.site, SubjectKind::Device, device);
    let th = &t.device_offline;
    Some(offline(
        f,
        RuleId::DeviceOffline,
        subject,
        (*online, *since),
        th,
        now,
    ))
}

/// The offline rules' shared schedule: severity from how long the subject
/// has been offline at `now` (not at the fact's time, so a status that
/// keeps being fed while nothing changes still escalates).
fn offline(
    f: &Fact,
    rule: RuleId,
    subject: Subject,
    (online, since): (bool, DateTime<Utc>),
    th: &OfflineThresholds,
    now: DateTime<Utc>,
) -> Condition {
    let noun = match rule {
        RuleId::EdgeOffline => "edge box of camera",
        RuleId::CameraOffline => "camera",
        _ => "device",
    };
    if online {
        let summary = format!("{noun} {} online", subject.id);
        let details = json!({ "online": true, "since": since });
        return condition(f, rule, subject, Verdict::Good, summary, details);
    }
    let offline_s = (now - since).num_seconds();
    let verdict = th
        .severity(offline_s)
        .map_or(Verdict::Pending, Verdict::Bad);
    let summary = format!("{noun} {} offline for {}", subject.id, human(offline_s));
    let details = json!({ "online": false, "since": since, "offline_s": offline_s });
    condition(f, rule, subject, verdict, summary, details)
}

fn spool_high(f: &Fact, t: &Thresholds) -> Option<Condition> {
    let Observation::EdgeHeartbeat {
        camera,
        spool_percent,
        ..
    } = &f.what
    else {
        return None;
    };
    let p = *spool_percent;
    let verdict = if p >= t.spool.critical_percent {
        Verdict::Bad(Severity::Critical)
    } else if p >= t.spool.warning_percent {
        Verdict::Bad(Severity::Warning)
    } else {
        Verdict::Good
    };
    let subject = Subject::new(&f.site, SubjectKind::Camera, camera);
    let summary = format!("event spool of camera {camera} {p:.0} % full");
    let details = json!({ "spool_percent": p });
    Some(condition(
        f,
        RuleId::SpoolHigh,
        subject,
        verdict,
        summary,
        details,
    ))
}

fn edge_degraded(f: &Fact) -> Option<Condition> {
    let Observation::EdgeHeartbeat {
        camera, load_level, ..
    } = &f.what
    else {
        return None;
    };
    let (verdict, level) = match load_level {
        LoadLevel::Normal => (Verdict::Good, "normal"),
        LoadLevel::Reduced => (Verdict::Bad(Severity::Warning), "reduced"),
        LoadLevel::Minimal => (Verdict::Bad(Severity::Critical), "minimal"),
    };
    let subject = Subject::new(&f.site, SubjectKind::Camera, camera);
    let summary = format!("edge box of camera {camera} at {level} load level");
    let details = json!({ "load_level": level });
    Some(condition(
        f,
        RuleId::EdgeDegraded,
        subject,
        verdict,
        summary,
        details,
    ))
}

fn recognition_failures(f: &Fact, t: &Thresholds) -> Option<Condition> {
    let Observation::RecognitionWindow {
        camera,
        attempts,
        failures,
    } = &f.what
    else {
        return None;
    };
    if *attempts < t.recognition.min_attempts || *attempts == 0 {
        return None;
    }
    let rate = f64::from(*failures) * 100.0 / f64::from(*attempts);
    let verdict = if rate > t.recognition.failure_percent {
        Verdict::Bad(Severity::Warning)
    } else {
        Verdict::Good
    };
    let subject = Subject::new(&f.site, SubjectKind::Camera, camera);
    let summary = format!("camera {camera}: {failures} of {attempts} recognitions failed");
    let details = json!({ "attempts": attempts, "failures": failures, "failure_percent": rate });
    Some(condition(
        f,
        RuleId::RecognitionFailures,
        subject,
        verdict,
        summary,
        details,
    ))
}

fn zone_violation(f: &Fact) -> Option<Condition> {
    let Observation::ZoneViolation {
        camera,
        zone,
        kind,
        active,
    } = &f.what
    else {
        return None;
    };
    let id = format!("{camera}/{zone}/{}", kind.as_str());
    let subject = Subject::new(&f.site, SubjectKind::Zone, &id);
    let verdict = if *active {
        Verdict::Bad(Severity::Warning)
    } else {
        Verdict::Good
    };
    let what = kind.as_str().replace('_', " ");
    let state = if *active { "violated" } else { "clear" };
    let summary = format!("zone {zone} of camera {camera}: {what} {state}");
    let details = json!({ "camera": camera, "zone": zone, "kind": kind, "active": active });
    Some(condition(
        f,
        RuleId::ZoneViolation,
        subject,
        verdict,
        summary,
        details,
    ))
}

fn fire_alarm(f: &Fact) -> Option<Condition> {
    let Observation::FireZone {
        device,
        zone,
        state,
        test_mode,
    } = &f.what
    else {
        return None;
    };
    let verdict = match (state, test_mode) {
        (FireState::Normal, _) => Verdict::Good,
        (FireState::Alarm, false) => Verdict::Bad(Severity::Critical),
        (FireState::PreAlarm, false) => Verdict::Bad(Severity::Warning),
        // Test alarms are tests; a fault, isolation or disabled zone says
        // nothing about whether there is a fire.
        _ => return None,
    };
    let subject = Subject::new(&f.site, SubjectKind::Zone, &format!("{device}/{zone}"));
    let summary = format!("fire panel {device} zone {zone}: {}", state.as_str());
    let details = json!({ "device": device, "zone": zone, "state": state, "test_mode": test_mode });
    Some(condition(
        f,
        RuleId::FireAlarm,
        subject,
        verdict,
        summary,
        details,
    ))
}

fn lift_fault(f: &Fact) -> Option<Condition> {
    let Observation::LiftMode { device, mode } = &f.what else {
        return None;
    };
    let verdict = match mode {
        LiftMode::Fault => Verdict::Bad(Severity::Warning),
        LiftMode::Normal | LiftMode::Maintenance => Verdict::Good,
    };
    let subject = Subject::new(&f.site, SubjectKind::Device, device);
    let summary = format!("lift {device}: {}", mode.as_str());
    let details = json!({ "mode": mode });
    Some(condition(
        f,
        RuleId::LiftFault,
        subject,
        verdict,
        summary,
        details,
    ))
}

fn door_subject(f: &Fact) -> Option<(Subject, DoorOutcome)> {
    let Observation::DoorEvent {
        device,
        door,
        outcome,
    } = &f.what
    else {
        return None;
    };
    let id = format!("{device}/{door}");
    Some((Subject::new(&f.site, SubjectKind::Door, &id), *outcome))
}

fn door_forced(f: &Fact) -> Option<Condition> {
    let (subject, outcome) = door_subject(f)?;
    // An incident, not a state: nothing clears it but a person.
    if outcome != DoorOutcome::Forced {
        return None;
    }
    let summary = format!("door {} forced open", subject.id);
    let verdict = Verdict::Bad(Severity::Critical);
    let details = json!({ "outcome": outcome });
    Some(condition(
        f,
        RuleId::DoorForced,
        subject,
        verdict,
        summary,
        details,
    ))
}

fn door_held_open(f: &Fact) -> Option<Condition> {
    let (subject, outcome) = door_subject(f)?;
    let verdict = match outcome {
        DoorOutcome::HeldOpen => Verdict::Bad(Severity::Warning),
        DoorOutcome::Closed => Verdict::Good,
        DoorOutcome::Granted | DoorOutcome::Denied | DoorOutcome::Forced => return None,
    };
    let summary = format!("door {}: {}", subject.id, outcome.as_str());
    let details = json!({ "outcome": outcome });
    Some(condition(
        f,
        RuleId::DoorHeldOpen,
        subject,
        verdict,
        summary,
        details,
    ))
}

fn energy_over_target(f: &Fact) -> Option<Condition> {
    let Observation::EnergyTarget {
        target_id,
        over,
        value,
        forecast,
        target,
    } = &f.what
    else {
        return None;
    };
    let verdict = if *over {
        Verdict::Bad(Severity::Warning)
    } else {
        Verdict::Good
    };
    let subject = Subject::new(&f.site, SubjectKind::Target, target_id);
    let state = if *over { "over" } else { "within" };
    let summary = format!("energy target {target_id}: {state} target {target}");
    let details = json!({ "value": value, "forecast": forecast, "target": target });
    Some(condition(
        f,
        RuleId::EnergyOverTarget,
        subject,
        verdict,
        summary,
        details,
    ))
}

/// A duration for people: "45 s", "5 min", "2 h 10 min".
fn human(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::super::ViolationKind;
    use super::*;
    use chrono::TimeDelta;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::seconds(s)
    }

    fn fact(what: Observation) -> Fact {
        Fact {
            site: "hq".into(),
            at: t(0),
            what,
        }
    }

    fn verdicts(what: Observation, now: i64) -> Vec<(RuleId, Verdict)> {
        conditions(&[fact(what)], &Thresholds::default(), t(now))
            .into_iter()
            .map(|c| (c.rule, c.verdict))
            .collect()
    }

    fn camera(online: bool) -> Observation {
        Observation::CameraStatus {
            camera: "cam1".into(),
            online,
            since: t(0),
        }
    }

    #[test]
    fn camera_offline_severity_follows_the_time_since_it_went() {
        // Offline since t(0): 89 s pending, 90 s warning, 300 s critical,
        // 1800 s escalated; online: good.
        let cam = |now| verdicts(camera(false), now);
        assert_eq!(cam(89), [(RuleId::CameraOffline, Verdict::Pending)]);
        let w = Verdict::Bad(Severity::Warning);
        assert_eq!(cam(90), [(RuleId::CameraOffline, w)]);
        let c = Verdict::Bad(Severity::Critical);
        assert_eq!(cam(300), [(RuleId::CameraOffline, c)]);
        let e = Verdict::Bad(Severity::Escalated);
        assert_eq!(cam(1800), [(RuleId::CameraOffline, e)]);
        assert_eq!(
            verdicts(camera(true), 5000),
            [(RuleId::CameraOffline, Verdict::Good)]
        );
    }

    #[test]
    fn offline_summary_says_for_how_long() {
        let c = conditions(&[fact(camera(false))], &Thresholds::default(), t(330));
        assert_eq!(c[0].summary, "camera cam1 offline for 5 min");
        assert_eq!(c[0].details["offline_s"], 330);
        assert_eq!(human(7800), "2 h 10 min");
        assert_eq!(human(-3), "0 s");
    }

    #[test]
    fn one_heartbeat_feeds_spool_and_load_rules() {
        let hb = |spool_percent, load_level| Observation::EdgeHeartbeat {
            camera: "cam1".into(),
            spool_percent,
            load_level,
        };
        let (w, c) = (
            Verdict::Bad(Severity::Warning),
            Verdict::Bad(Severity::Critical),
        );
        assert_eq!(
            verdicts(hb(49.9, LoadLevel::Normal), 0),
            [
                (RuleId::SpoolHigh, Verdict::Good),
                (RuleId::EdgeDegraded, Verdict::Good)
            ]
        );
        assert_eq!(
            verdicts(hb(50.0, LoadLevel::Reduced), 0),
            [(RuleId::SpoolHigh, w), (RuleId::EdgeDegraded, w)]
        );
        assert_eq!(
            verdicts(hb(90.0, LoadLevel::Minimal), 0),
            [(RuleId::SpoolHigh, c), (RuleId::EdgeDegraded, c)]
        );
    }

    #[test]
    fn recognition_needs_enough_attempts_and_a_rate_over_the_limit() {
        let w = |attempts, failures| Observation::RecognitionWindow {
            camera: "cam1".into(),
            attempts,
            failures,
        };
        // 19 attempts, all failed: too few to judge.
        assert_eq!(verdicts(w(19, 19), 0), []);
        // 2 of 20 = 10 %: not over 10 %.
        let rf = RuleId::RecognitionFailures;
        assert_eq!(verdicts(w(20, 2), 0), [(rf, Verdict::Good)]);
        // 3 of 20 = 15 %.
        assert_eq!(
            verdicts(w(20, 3), 0),
            [(rf, Verdict::Bad(Severity::Warning))]
        );
    }

    #[test]
    fn zone_kinds_are_separate_subjects() {
        let z = |kind| Observation::ZoneViolation {
            camera: "cam1".into(),
            zone: "lobby".into(),
            kind,
            active: true,
        };
        let ids: Vec<String> = [ViolationKind::MaxOccupancy, ViolationKind::RestrictedEntry]
            .into_iter()
            .flat_map(|k| conditions(&[fact(z(k))], &Thresholds::default(), t(0)))
            .map(|c| c.subject.id)
            .collect();
        assert_eq!(
            ids,
            ["cam1/lobby/max_occupancy", "cam1/lobby/restricted_entry"]
        );
    }

    #[test]
    fn fire_alarm_is_critical_at_once_and_tests_are_ignored() {
        let fire = |state, test_mode| Observation::FireZone {
            device: "panel1".into(),
            zone: "Z3".into(),
            state,
            test_mode,
        };
        let fa = RuleId::FireAlarm;
        let crit = Verdict::Bad(Severity::Critical);
        assert_eq!(verdicts(fire(FireState::Alarm, false), 0), [(fa, crit)]);
        let warn = Verdict::Bad(Severity::Warning);
        assert_eq!(verdicts(fire(FireState::PreAlarm, false), 0), [(fa, warn)]);
        assert_eq!(verdicts(fire(FireState::Alarm, true), 0), []);
        assert_eq!(verdicts(fire(FireState::Fault, false), 0), []);
        assert_eq!(
            verdicts(fire(FireState::Normal, true), 0),
            [(fa, Verdict::Good)]
        );
        let c = conditions(
            &[fact(fire(FireState::Alarm, false))],
            &Thresholds::default(),
            t(0),
        );
        assert_eq!(
            c[0].subject,
            Subject::new("hq", SubjectKind::Zone, "panel1/Z3")
        );
    }

    #[test]
    fn doors_lifts_devices_and_energy() {
        let door = |outcome| Observation::DoorEvent {
            device: "ac1".into(),
            door: "d1".into(),
            outcome,
        };
        let (w, c) = (
            Verdict::Bad(Severity::Warning),
            Verdict::Bad(Severity::Critical),
        );
        assert_eq!(
            verdicts(door(DoorOutcome::Forced), 0),
            [(RuleId::DoorForced, c)]
        );
        assert_eq!(
            verdicts(door(DoorOutcome::HeldOpen), 0),
            [(RuleId::DoorHeldOpen, w)]
        );
        // Closing clears held-open only; a forced door waits for a person.
        assert_eq!(
            verdicts(door(DoorOutcome::Closed), 0),
            [(RuleId::DoorHeldOpen, Verdict::Good)]
        );
        assert_eq!(verdicts(door(DoorOutcome::Granted), 0), []);
        let lift = |mode| Observation::LiftMode {
            device: "lift1".into(),
            mode,
        };
        assert_eq!(verdicts(lift(LiftMode::Fault), 0), [(RuleId::LiftFault, w)]);
        assert_eq!(
            verdicts(lift(LiftMode::Maintenance), 0),
            [(RuleId::LiftFault, Verdict::Good)]
        );
        let dev = Observation::DeviceStatus {
            device: "meter1".into(),
            online: false,
            since: t(0),
        };
        assert_eq!(verdicts(dev, 300), [(RuleId::DeviceOffline, c)]);
        let energy = Observation::EnergyTarget {
            target_id: "t1".into(),
            over: true,
            value: 700.0,
            forecast: Some(1200.0),
            target: 1000.0,
        };
        assert_eq!(verdicts(energy, 0), [(RuleId::EnergyOverTarget, w)]);
    }
}
