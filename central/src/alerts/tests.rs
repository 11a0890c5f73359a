//! Scripted timelines through rules and lifecycle together, with the
//! clock set by hand: each expected outcome is worked out in a comment.

use chrono::{DateTime, TimeDelta, Utc};

use super::*;

use ChangeKind::{Acknowledged, Fired, Resolved, SeverityRaised, SilenceEnded};
use Severity::{Critical, Escalated, Warning};

/// `s` seconds after an arbitrary origin.
fn t(s: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::seconds(s)
}

/// A book, thresholds and silences, fed facts at a given second.
#[derive(Default)]
struct Rig {
    book: Book,
    th: Thresholds,
    silences: Vec<Silence>,
}

impl Rig {
    fn silenced(silences: Vec<Silence>) -> Self {
        Self {
            silences,
            ..Self::default()
        }
    }

    fn feed(&mut self, facts: &[Fact], now: i64) -> Vec<Change> {
        let c = conditions(facts, &self.th, t(now));
        self.book.step(&c, &self.silences, &self.th, t(now))
    }

    fn alert(&self, key: &AlertKey) -> &Alert {
        self.book.get(key).unwrap()
    }
}

/// What a test checks of a change: subject id, kind, severity, notified.
fn brief(changes: &[Change]) -> Vec<(String, ChangeKind, Severity, bool)> {
    changes
        .iter()
        .map(|c| (c.key.subject.id.clone(), c.what, c.severity, c.notify))
        .collect()
}

fn b(
    id: &str,
    what: ChangeKind,
    sev: Severity,
    notify: bool,
) -> (String, ChangeKind, Severity, bool) {
    (id.to_owned(), what, sev, notify)
}

fn fact(at: i64, what: Observation) -> Fact {
    Fact {
        site: "hq".into(),
        at: t(at),
        what,
    }
}

/// Camera `id` observed at `at`, online or offline since `since`.
fn camera(id: &str, online: bool, since: i64, at: i64) -> Fact {
    let camera = id.into();
    let since = t(since);
    fact(
        at,
        Observation::CameraStatus {
            camera,
            online,
            since,
        },
    )
}

fn key(rule: RuleId, kind: SubjectKind, id: &str) -> AlertKey {
    AlertKey {
        rule,
        subject: Subject::new("hq", kind, id),
    }
}

fn camera_key(id: &str) -> AlertKey {
    key(RuleId::CameraOffline, SubjectKind::Camera, id)
}

fn spool(percent: f64, at: i64) -> Fact {
    let what = Observation::EdgeHeartbeat {
        camera: "cam1".into(),
        spool_percent: percent,
        load_level: LoadLevel::Normal,
    };
    fact(at, what)
}

fn lift(id: &str, mode: LiftMode, at: i64) -> Fact {
    let device = id.into();
    fact(at, Observation::LiftMode { device, mode })
}

fn fire(at: i64) -> Fact {
    let what = Observation::FireZone {
        device: "panel1".into(),
        zone: "Z3".into(),
        state: FireState::Alarm,
        test_mode: false,
    };
    fact(at, what)
}

fn silence(id: &str, matcher: Matcher, starts: i64, ends: i64) -> Silence {
    Silence {
        id: id.into(),
        matcher,
        starts: t(starts),
        ends: t(ends),
        by: "ops".into(),
        comment: Some("maintenance".into()),
    }
}

fn subject_matcher(kind: SubjectKind, id: &str) -> Matcher {
    let id = id.into();
    Matcher {
        subject: Some(SubjectRef { kind, id }),
        ..Matcher::default()
    }
}

#[test]
fn camera_offline_timeline() {
    let mut r = Rig::default();
    let off = |at| camera("cam1", false, 0, at);
    // Offline since 0. At 30 s and 89 s: below the 90 s warning, pending:
    // nothing fires and no alert exists.
    assert_eq!(r.feed(&[off(30)], 30), []);
    assert_eq!(r.feed(&[off(89)], 89), []);
    assert!(r.book.get(&camera_key("cam1")).is_none());
    // 90 s: warning, fired at once (hold-down 1), notified.
    assert_eq!(
        brief(&r.feed(&[off(90)], 90)),
        [b("cam1", Fired, Warning, true)]
    );
    // 200 s: still a warning: nothing new.
    assert_eq!(r.feed(&[off(200)], 200), []);
    // 300 s: critical.
    let raised = r.feed(&[off(300)], 300);
    assert_eq!(brief(&raised), [b("cam1", SeverityRaised, Critical, true)]);
    // 1799 s: still critical.
    assert_eq!(r.feed(&[off(1799)], 1799), []);
    // 1800 s offline: escalated.
    let raised = r.feed(&[off(1800)], 1800);
    assert_eq!(brief(&raised), [b("cam1", SeverityRaised, Escalated, true)]);
    // 1890 s = fired (90) + escalate_after (1800): offline rules escalate
    // on their own schedule only, so nothing more.
    assert_eq!(r.feed(&[off(1890)], 1890), []);
    // Back online at 1895: the first good observation (1 of 2) resolves
    // nothing; the second does, by central itself.
    assert_eq!(r.feed(&[camera("cam1", true, 1895, 1900)], 1900), []);
    let done = r.feed(&[camera("cam1", true, 1895, 1960)], 1960);
    assert_eq!(brief(&done), [b("cam1", Resolved, Escalated, true)]);
    assert_eq!(done[0].from, Some(State::Firing));
    let a = r.alert(&camera_key("cam1"));
    assert_eq!(a.state, State::Resolved);
    assert_eq!(
        a.resolved.as_ref().map(|s| (s.by.clone(), s.at)),
        Some((None, t(1960)))
    );
    // First seen at the first bad observation (90 s), fired then too.
    assert_eq!(
        (a.first_seen, a.fired_at, a.last_seen),
        (t(90), t(90), t(1890))
    );
    assert_eq!(a.escalated_at, Some(t(1800)));
    let history: Vec<_> = a
        .history
        .iter()
        .map(|h| (h.what, h.severity, h.at))
        .collect();
    assert_eq!(
        history,
        [
            (Fired, Warning, t(90)),
            (SeverityRaised, Critical, t(300)),
            (SeverityRaised, Escalated, t(1800)),
            (Resolved, Escalated, t(1960)),
        ]
    );
    assert_eq!(
        a.id(),
        format!("camera_offline:hq/camera/cam1@{}", "2024-10-04T00:01:30Z")
    );
}

#[test]
fn flapping_camera_is_one_alert_without_a_storm() {
    let mut r = Rig::default();
    // Observed every 100 s, alternately offline and online; each offline
    // spell began just after the previous (online) observation, so each
    // offline observation is 99 s old: a warning. 100 s: fires (the one
    // change). Every online observation is good 1 of 2, and the next
    // offline one sets the good streak back to 0: no resolve, no re-fire.
    let mut changes = Vec::new();
    for i in 1..=20 {
        let now = i * 100;
        let f = if i % 2 == 1 {
            camera("cam1", false, now - 99, now)
        } else {
            camera("cam1", true, now - 50, now)
        };
        changes.extend(r.feed(&[f], now));
    }
    assert_eq!(brief(&changes), [b("cam1", Fired, Warning, true)]);
    let a = r.alert(&camera_key("cam1"));
    assert_eq!((a.state, a.good_streak), (State::Firing, 1));
    // A second online observation in a row (2100) resolves it.
    let done = r.feed(&[camera("cam1", true, 1950, 2100)], 2100);
    assert_eq!(brief(&done), [b("cam1", Resolved, Warning, true)]);
}

#[test]
fn short_offline_spells_never_fire() {
    let mut r = Rig::default();
    // Offline spells of 50 s (< 90 s) alternating with online: pending and
    // good observations only: no alert at all.
    for i in 1..=20 {
        let now = i * 100;
        let f = camera("cam1", i % 2 == 0, now - 50, now);
        assert_eq!(r.feed(&[f], now), []);
    }
    assert_eq!(r.book.alerts().count(), 0);
}

#[test]
fn an_offline_spell_under_the_warning_keeps_an_open_alert_open() {
    let mut r = Rig::default();
    r.feed(&[camera("cam1", false, 0, 100)], 100); // 100 s: warning
    // Online (good 1), offline again for 10 s (pending: good streak back
    // to 0), online (good 1): still firing.
    assert_eq!(r.feed(&[camera("cam1", true, 150, 200)], 200), []);
    assert_eq!(r.feed(&[camera("cam1", false, 290, 300)], 300), []);
    assert_eq!(r.feed(&[camera("cam1", true, 350, 400)], 400), []);
    assert_eq!(r.alert(&camera_key("cam1")).state, State::Firing);
}

#[test]
fn hold_down_counts_both_ways_for_count_rules() {
    let mut r = Rig::default();
    let slow = HoldDown {
        fire: 2,
        resolve: 2,
    };
    r.th.hold_down_by_rule.insert(RuleId::SpoolHigh, slow);
    // 95, 10, 95, 10: each bad streak is 1 < 2: never fires.
    for (i, p) in [95.0, 10.0, 95.0, 10.0].into_iter().enumerate() {
        let now = i64::try_from(i).unwrap() * 10;
        assert_eq!(r.feed(&[spool(p, now)], now), []);
    }
    // 95, 95: the second fires, first seen at the first.
    assert_eq!(r.feed(&[spool(95.0, 40)], 40), []);
    let fired = r.feed(&[spool(95.0, 50)], 50);
    assert_eq!(brief(&fired), [b("cam1", Fired, Critical, true)]);
    assert_eq!(fired[0].first_seen, t(40));
}

#[test]
fn acknowledgement_during_escalation_stops_it_and_the_alert_still_resolves() {
    let mut r = Rig::default();
    let k = camera_key("cam1");
    let off = |at| camera("cam1", false, 0, at);
    r.feed(&[off(90)], 90); // warning
    r.feed(&[off(300)], 300); // critical
    // Acknowledged at 600 s by ana: notified, with who and why.
    let ack = r
        .book
        .acknowledge(&k, "ana", Some("on my way"), &r.silences, t(600))
        .unwrap();
    assert_eq!(
        brief(std::slice::from_ref(&ack)),
        [b("cam1", Acknowledged, Critical, true)]
    );
    assert_eq!(
        (ack.from, ack.to),
        (Some(State::Firing), State::Acknowledged)
    );
    assert_eq!(
        (ack.by.as_deref(), ack.comment.as_deref()),
        (Some("ana"), Some("on my way"))
    );
    // Acknowledging twice is refused.
    let again = r.book.acknowledge(&k, "bo", None, &r.silences, t(610));
    assert!(matches!(again, Err(ActionError::AlreadyAcknowledged(_))));
    // 1800 s offline would escalate, but it is acknowledged: nothing.
    assert_eq!(r.feed(&[off(1800)], 1800), []);
    assert_eq!(r.feed(&[off(2400)], 2400), []);
    let a = r.alert(&k);
    assert_eq!((a.severity, a.escalated_at), (Critical, None));
    // Online twice: resolved from acknowledged; the ack stays on record.
    assert_eq!(r.feed(&[camera("cam1", true, 2450, 2500)], 2500), []);
    let done = r.feed(&[camera("cam1", true, 2450, 2560)], 2560);
    assert_eq!(brief(&done), [b("cam1", Resolved, Critical, true)]);
    assert_eq!(done[0].from, Some(State::Acknowledged));
    let a = r.alert(&k);
    let acked = a.acknowledged.as_ref().unwrap();
    assert_eq!((acked.by.as_deref(), acked.at), (Some("ana"), t(600)));
    let late = r.book.acknowledge(&k, "ana", None, &r.silences, t(2600));
    assert!(matches!(late, Err(ActionError::AlreadyResolved(_))));
}

#[test]
fn rules_without_a_schedule_escalate_after_firing_unless_acknowledged() {
    let mut r = Rig::default();
    // Two lifts fault at 0: warnings. lift2 is acknowledged at 600.
    let fired = r.feed(
        &[
            lift("lift1", LiftMode::Fault, 0),
            lift("lift2", LiftMode::Fault, 0),
        ],
        0,
    );
    assert_eq!(fired.len(), 2);
    let k2 = key(RuleId::LiftFault, SubjectKind::Device, "lift2");
    r.book.acknowledge(&k2, "ana", None, &[], t(600)).unwrap();
    // 1799: not yet. 1800 = fired + escalate_after, with no fresh
    // observation at all: lift1 escalates, lift2 does not.
    assert_eq!(r.feed(&[], 1799), []);
    let raised = r.feed(&[], 1800);
    assert_eq!(
        brief(&raised),
        [b("lift1", SeverityRaised, Escalated, true)]
    );
    assert_eq!(r.feed(&[], 3600), []);
}

#[test]
fn manual_resolve_of_a_bad_condition_fires_again_after_the_hold_down() {
    let mut r = Rig::default();
    let slow = HoldDown {
        fire: 2,
        resolve: 2,
    };
    r.th.hold_down_by_rule.insert(RuleId::CameraOffline, slow);
    let k = camera_key("cam1");
    let off = |at| camera("cam1", false, 0, at);
    // 90: bad 1 of 2; 100: fires (warning), first seen at 90.
    assert_eq!(r.feed(&[off(90)], 90), []);
    assert_eq!(
        brief(&r.feed(&[off(100)], 100)),
        [b("cam1", Fired, Warning, true)]
    );
    // Resolved by bo at 410 while still offline.
    let done = r
        .book
        .resolve(&k, "bo", Some("replaced the camera"), &[], t(410))
        .unwrap();
    assert_eq!(
        brief(std::slice::from_ref(&done)),
        [b("cam1", Resolved, Warning, true)]
    );
    assert_eq!(done.by.as_deref(), Some("bo"));
    let again = r.book.resolve(&k, "bo", None, &[], t(411));
    assert!(matches!(again, Err(ActionError::AlreadyResolved(_))));
    // Still offline at 420: bad 1 of 2, nothing; the resolved alert stays.
    assert_eq!(r.feed(&[off(420)], 420), []);
    assert_eq!(r.alert(&k).state, State::Resolved);
    // 430: a new alert (430 s offline: critical), first seen at 420, with
    // a history of its own.
    let fired = r.feed(&[off(430)], 430);
    assert_eq!(brief(&fired), [b("cam1", Fired, Critical, true)]);
    let a = r.alert(&k);
    assert_eq!((a.first_seen, a.history.len()), (t(420), 1));
    let unknown = r.book.resolve(&camera_key("nope"), "bo", None, &[], t(440));
    assert_eq!(
        unknown,
        Err(ActionError::NotFound(
            "camera_offline:hq/camera/nope".into()
        ))
    );
}

#[test]
fn a_silence_withholds_notifications_until_it_expires() {
    let mut r = Rig::silenced(vec![
        silence("s1", subject_matcher(SubjectKind::Camera, "cam1"), 0, 1000),
        silence("s3", subject_matcher(SubjectKind::Camera, "cam3"), 0, 1000),
    ]);
    let off = |id, at| camera(id, false, 0, at);
    let all = |at| [off("cam1", at), off("cam2", at), off("cam3", at)];
    // 90: all three fire; cam1 and cam3 under their silences.
    let fired = r.feed(&all(90), 90);
    assert_eq!(
        brief(&fired),
        [
            b("cam1", Fired, Warning, false),
            b("cam2", Fired, Warning, true),
            b("cam3", Fired, Warning, false),
        ]
    );
    assert_eq!(fired[0].silenced_by.as_deref(), Some("s1"));
    // cam3 comes back (200, 260): resolved, also silenced.
    r.feed(&[camera("cam3", true, 150, 200)], 200);
    let done = r.feed(&[camera("cam3", true, 150, 260)], 260);
    assert_eq!(brief(&done), [b("cam3", Resolved, Warning, false)]);
    // 300: cam1 and cam2 critical; cam1's change withheld.
    let raised = r.feed(&all(300)[..2], 300);
    assert_eq!(
        brief(&raised),
        [
            b("cam1", SeverityRaised, Critical, false),
            b("cam2", SeverityRaised, Critical, true),
        ]
    );
    assert_eq!(r.feed(&all(999)[..2], 999), []);
    // 1000: the silences end. cam1 still fires: announced now, critical.
    // cam3 resolved under its silence and owes nothing; cam2 was notified.
    let ended = r.feed(&all(1000)[..2], 1000);
    assert_eq!(brief(&ended), [b("cam1", SilenceEnded, Critical, true)]);
    assert_eq!(r.alert(&camera_key("cam1")).muted_by, None);
    assert_eq!(r.feed(&all(1100)[..2], 1100), []);
}

#[test]
fn an_alert_notified_before_a_silence_owes_nothing_when_it_ends() {
    let mut r = Rig::silenced(vec![silence(
        "s1",
        subject_matcher(SubjectKind::Camera, "cam1"),
        100,
        200,
    )]);
    assert_eq!(r.feed(&[camera("cam1", false, 0, 90)], 90).len(), 1);
    assert_eq!(r.feed(&[camera("cam1", false, 0, 150)], 150), []);
    assert_eq!(r.feed(&[camera("cam1", false, 0, 250)], 250), []);
}

#[test]
fn a_silence_that_outlives_another_keeps_the_alert_muted() {
    let m = || subject_matcher(SubjectKind::Camera, "cam1");
    let mut r = Rig::silenced(vec![
        silence("short", m(), 0, 100),
        silence("long", m(), 0, 500),
    ]);
    r.feed(&[camera("cam1", false, 0, 90)], 90); // muted by "short"
    // 100: "short" ended, "long" still covers it: no announcement yet.
    assert_eq!(r.feed(&[], 100), []);
    assert_eq!(
        r.alert(&camera_key("cam1")).muted_by.as_deref(),
        Some("long")
    );
    assert_eq!(
        brief(&r.feed(&[], 500)),
        [b("cam1", SilenceEnded, Warning, true)]
    );
}

#[test]
fn a_fire_alarm_during_site_wide_maintenance_is_notified_at_once() {
    let site = Matcher {
        site: Some("hq".into()),
        ..Matcher::default()
    };
    let fire_rule = Matcher {
        rule: Some(RuleId::FireAlarm),
        site: Some("hq".into()),
        subject: None,
    };
    let mut r = Rig::silenced(vec![
        silence("maint", site, 0, 10_000),
        silence("fire-rule", fire_rule, 0, 10_000),
    ]);
    // At 50: a camera offline for 150 s (warning, hidden by the site-wide
    // window) and a fire alarm: critical at once and notified, neither
    // window names its zone.
    let changes = r.feed(&[camera("cam1", false, -100, 50), fire(50)], 50);
    assert_eq!(
        brief(&changes),
        [
            b("cam1", Fired, Warning, false),
            b("panel1/Z3", Fired, Critical, true),
        ]
    );
    assert_eq!(changes[1].silenced_by, None);
}

#[test]
fn a_silence_naming_the_fire_zone_hides_it() {
    let zone = subject_matcher(SubjectKind::Zone, "panel1/Z3");
    let mut r = Rig::silenced(vec![silence("fire-test", zone, 0, 3600)]);
    let changes = r.feed(&[fire(50)], 50);
    assert_eq!(brief(&changes), [b("panel1/Z3", Fired, Critical, false)]);
    assert_eq!(changes[0].silenced_by.as_deref(), Some("fire-test"));
}

#[test]
fn a_fire_alarm_fires_at_once_whatever_the_hold_down() {
    let mut r = Rig::default();
    r.th.hold_down = HoldDown {
        fire: 5,
        resolve: 2,
    };
    assert_eq!(
        brief(&r.feed(&[fire(0)], 0)),
        [b("panel1/Z3", Fired, Critical, true)]
    );
}

#[test]
fn spool_warning_critical_and_resolve_after_hold_down() {
    let mut r = Rig::default();
    // 55 %: warning. 95 %: critical. 40 %: good 1 of 2. 40 %: resolved.
    assert_eq!(
        brief(&r.feed(&[spool(55.0, 0)], 0)),
        [b("cam1", Fired, Warning, true)]
    );
    let raised = r.feed(&[spool(95.0, 10)], 10);
    assert_eq!(brief(&raised), [b("cam1", SeverityRaised, Critical, true)]);
    // 70 %: still bad, but severity does not fall while open.
    assert_eq!(r.feed(&[spool(70.0, 15)], 15), []);
    assert_eq!(r.feed(&[spool(40.0, 20)], 20), []);
    let done = r.feed(&[spool(40.0, 30)], 30);
    assert_eq!(brief(&done), [b("cam1", Resolved, Critical, true)]);
    let k = key(RuleId::SpoolHigh, SubjectKind::Camera, "cam1");
    assert_eq!(r.alert(&k).summary, "event spool of camera cam1 70 % full");
}

#[test]
fn recognition_failures_below_the_attempts_minimum_raise_nothing() {
    let mut r = Rig::default();
    let window = |attempts, failures, at| {
        let camera = "cam1".into();
        fact(
            at,
            Observation::RecognitionWindow {
                camera,
                attempts,
                failures,
            },
        )
    };
    // 19 attempts, all failed, ten times over: too few to judge.
    for i in 0..10 {
        assert_eq!(r.feed(&[window(19, 19, i)], i), []);
    }
    assert_eq!(r.book.alerts().count(), 0);
    // 20 attempts, 3 failed (15 % > 10 %): a warning.
    let fired = r.feed(&[window(20, 3, 20)], 20);
    assert_eq!(brief(&fired), [b("cam1", Fired, Warning, true)]);
}

#[test]
fn one_condition_seen_often_is_one_alert() {
    let mut r = Rig::default();
    // The same spool fill 100 times, one step each: one alert, fired once.
    let mut changes = Vec::new();
    for i in 0..100 {
        changes.extend(r.feed(&[spool(60.0, i)], i));
    }
    assert_eq!(brief(&changes), [b("cam1", Fired, Warning, true)]);
    // 100 copies in one step: still the one alert, no change.
    let copies = vec![spool(60.0, 100); 100];
    assert_eq!(r.feed(&copies, 100), []);
    assert_eq!(r.book.alerts().count(), 1);
    let k = key(RuleId::SpoolHigh, SubjectKind::Camera, "cam1");
    assert_eq!(r.alert(&k).bad_streak, 200);
}

#[test]
fn energy_over_target_fires_resolves_and_fires_anew() {
    let mut r = Rig::default();
    let energy = |over, at| {
        let what = Observation::EnergyTarget {
            target_id: "t1".into(),
            over,
            value: 700.0,
            forecast: Some(if over { 1200.0 } else { 900.0 }),
            target: 1000.0,
        };
        fact(at, what)
    };
    let fired = r.feed(&[energy(true, 0)], 0);
    assert_eq!(brief(&fired), [b("t1", Fired, Warning, true)]);
    assert_eq!(fired[0].summary, "energy target t1: over target 1000");
    // Within the target at 600 (good 1 of 2) and 1200: resolved, before
    // escalate_after (1800) would have escalated it; a resolved alert
    // never escalates.
    assert_eq!(r.feed(&[energy(false, 600)], 600), []);
    let done = r.feed(&[energy(false, 1200)], 1200);
    assert_eq!(brief(&done), [b("t1", Resolved, Warning, true)]);
    assert_eq!(r.feed(&[], 1800), []);
    // Over again later: a new alert, first seen now.
    let again = r.feed(&[energy(true, 9000)], 9000);
    assert_eq!(brief(&again), [b("t1", Fired, Warning, true)]);
    assert_eq!(again[0].first_seen, t(9000));
}

#[test]
fn a_book_read_back_keeps_the_latest_alert_per_key() {
    let mut r = Rig::default();
    r.feed(&[spool(60.0, 0)], 0);
    let k = key(RuleId::SpoolHigh, SubjectKind::Camera, "cam1");
    let newer = r.alert(&k).clone();
    let older = Alert {
        first_seen: t(-100),
        ..newer.clone()
    };
    let book = Book::from_alerts([newer.clone(), older]);
    assert_eq!(book.get(&k), Some(&newer));
    assert_eq!(book.open().count(), 1);
}

#[test]
fn alerts_and_changes_serialize_in_snake_case() {
    let mut r = Rig::default();
    let changes = r.feed(&[spool(95.0, 0)], 0);
    let json = serde_json::to_value(&changes[0]).unwrap();
    assert_eq!(json["what"], "fired");
    assert_eq!(json["to"], "firing");
    assert_eq!(json["severity"], "critical");
    assert_eq!(json["key"]["rule"], "spool_high");
    assert_eq!(json["key"]["subject"]["kind"], "camera");
    let k = key(RuleId::SpoolHigh, SubjectKind::Camera, "cam1");
    let alert = r.alert(&k).clone();
    let back: Alert = serde_json::from_value(serde_json::to_value(&alert).unwrap()).unwrap();
    assert_eq!(back, alert);
    let names: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
    let serde_names: Vec<String> = RuleId::ALL
        .iter()
        .map(|r| {
            serde_json::to_value(r)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, serde_names);
}

#[test]
fn a_door_closed_and_held_open_again_in_one_step_keeps_both_alerts() {
    // Held open at 0; at 60 the door reports closed twice (two good looks
    // resolve) and a new held-open event arrives in the same step.
    let mut r = Rig::default();
    let door = |outcome, at| {
        fact(
            at,
            Observation::DoorEvent {
                device: "ctl".into(),
                door: "north".into(),
                outcome,
            },
        )
    };
    let fired = r.feed(&[door(DoorOutcome::HeldOpen, 0)], 0);
    assert_eq!(brief(&fired), [b("ctl/north", Fired, Warning, true)]);
    let step = r.feed(
        &[
            door(DoorOutcome::Closed, 60),
            door(DoorOutcome::Closed, 60),
            door(DoorOutcome::HeldOpen, 60),
        ],
        60,
    );
    assert_eq!(
        brief(&step),
        [
            b("ctl/north", Resolved, Warning, true),
            b("ctl/north", Fired, Warning, true)
        ]
    );
    // The first alert is handed over for recording, resolved; the book
    // holds the new one, first seen at 60.
    let retired = r.book.take_retired();
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].state, State::Resolved);
    assert_eq!(retired[0].first_seen, t(0));
    assert_eq!(step[0].first_seen, t(0));
    assert_eq!(step[1].first_seen, t(60));
    let key = key(RuleId::DoorHeldOpen, SubjectKind::Door, "ctl/north");
    assert_eq!(r.alert(&key).first_seen, t(60));
    assert!(r.book.take_retired().is_empty(), "handed over once");
}
