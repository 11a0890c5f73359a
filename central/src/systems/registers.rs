//! Energy used, from a meter's cumulative registers, per minute.
//!
//! A register only grows, until the meter is reset (replaced, cleared by
//! a technician) or the register rolls over at its width. Subtracting
//! consecutive readings would count either as a huge negative use, so each
//! step between two readings is classified first ([`step`]):
//!
//! - the register grew: the difference is the use;
//! - it fell to at most half its high-water mark: a reset (or a rollover
//!   the birth did not declare) — the meter counted up from zero, so the
//!   new reading is the use since;
//! - the birth declared the register's rollover value and the fall fits a
//!   wrap: the rest up to the rollover plus the new reading;
//! - it fell by less than half: a glitch (a gateway's rounding, a stale
//!   read) — nothing is counted until the register passes its high-water
//!   mark again, so the glitch is not counted twice.
//!
//! The use of a step is booked in the minute of its later reading, so late
//! and out-of-order points change only the minutes around them, which
//! ingest recomputes from the stored readings ([`minutes`]). Pure code,
//! no I/O: unit tests below, and central/tests/systems.rs against the
//! database.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// One stored reading (the parts rollups use).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub ts: DateTime<Utc>,
    pub import_kwh: Option<f64>,
    pub export_kwh: Option<f64>,
    pub power_kw: Option<f64>,
}

/// How a register moved between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// It grew by this much.
    Increase(f64),
    /// It was reset; this much was used since (the new reading).
    Reset(f64),
    /// It wrapped at its rollover value; this much was used.
    Rollover(f64),
    /// It fell a little: nothing counted.
    Glitch,
}

impl Step {
    /// Energy used in the step.
    pub fn used(self) -> f64 {
        match self {
            Self::Increase(x) | Self::Reset(x) | Self::Rollover(x) => x,
            Self::Glitch => 0.0,
        }
    }
}

/// Classifies the move from the high-water mark `hwm` to reading `v`;
/// `rollover` is the register's wrap value if its birth declared one.
pub fn step(hwm: f64, v: f64, rollover: Option<f64>) -> Step {
    if v >= hwm {
        return Step::Increase(v - hwm);
    }
    if let Some(r) = rollover
        && hwm <= r
        && (r - hwm) + v < r / 2.0
    {
        return Step::Rollover((r - hwm) + v);
    }
    if v <= hwm / 2.0 {
        Step::Reset(v)
    } else {
        Step::Glitch
    }
}

/// A register's walk through readings in time order.
#[derive(Debug, Default, Clone, Copy)]
struct Register {
    hwm: Option<f64>,
}

impl Register {
    /// The step to `v`, or `None` for the first reading seen.
    fn advance(&mut self, v: f64, rollover: Option<f64>) -> Option<Step> {
        let Some(hwm) = self.hwm else {
            self.hwm = Some(v);
            return None;
        };
        let s = step(hwm, v, rollover);
        if !matches!(s, Step::Glitch) {
            self.hwm = Some(v);
        }
        Some(s)
    }
}

/// One minute's figures for one meter.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MinuteStats {
    pub import_kwh: f64,
    pub export_kwh: f64,
    pub power_sum_kw: f64,
    pub samples: i32,
    pub power_min_kw: Option<f64>,
    pub power_max_kw: Option<f64>,
    /// Resets and rollovers of either register.
    pub resets: i32,
}

/// Rollover values of a meter's import and export registers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rollovers {
    pub import: Option<f64>,
    pub export: Option<f64>,
}

impl Rollovers {
    /// Neither register declared one.
    pub const NONE: Self = Self {
        import: None,
        export: None,
    };
}

/// The start of `ts`'s minute.
pub fn minute_of(ts: DateTime<Utc>) -> DateTime<Utc> {
    // Only fails for timestamps near the ends of chrono's range, which the
    // wire contract's parsing never produces; such a reading keeps its ts.
    ts.duration_trunc(TimeDelta::minutes(1)).unwrap_or(ts)
}

/// The figures of every minute in `[from, to)` that holds a reading.
/// `readings` are in time order and include the readings before `from`
/// that the first steps start from (they are not booked themselves).
pub fn minutes(
    readings: &[Reading],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rollovers: Rollovers,
) -> BTreeMap<DateTime<Utc>, MinuteStats> {
    let mut out: BTreeMap<DateTime<Utc>, MinuteStats> = BTreeMap::new();
    let (mut import, mut export) = (Register::default(), Register::default());
    for r in readings {
        let booked = r.ts >= from && r.ts < to;
        let di = r
            .import_kwh
            .and_then(|v| import.advance(v, rollovers.import));
        let de = r
            .export_kwh
            .and_then(|v| export.advance(v, rollovers.export));
        if !booked {
            continue;
        }
        let m = out.entry(minute_of(r.ts)).or_default();
        for (s, total) in [(di, &mut m.import_kwh), (de, &mut m.export_kwh)] {
            if let Some(s) = s {
                *total += s.used();
                if matches!(s, Step::Reset(_) | Step::Rollover(_)) {
                    m.resets += 1;
                }
            }
        }
        if let Some(p) = r.power_kw {
            m.power_sum_kw += p;
            m.samples += 1;
            m.power_min_kw = Some(m.power_min_kw.map_or(p, |x| x.min(p)));
            m.power_max_kw = Some(m.power_max_kw.map_or(p, |x| x.max(p)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_765_094_400 + i64::from(s), 0).unwrap()
    }

    fn energy(s: u32, kwh: f64) -> Reading {
        Reading {
            ts: at(s),
            import_kwh: Some(kwh),
            export_kwh: None,
            power_kw: None,
        }
    }

    #[test]
    fn steps_are_classified() {
        assert_eq!(step(10.0, 12.5, None), Step::Increase(2.5));
        assert_eq!(step(1000.0, 3.0, None), Step::Reset(3.0));
        assert_eq!(step(1000.0, 999.9, None), Step::Glitch);
        // A declared five-digit register wrapping.
        let s = step(99_998.5, 3.5, Some(100_000.0));
        assert!(
            matches!(s, Step::Rollover(x) if (x - 5.0).abs() < 1e-9),
            "{s:?}"
        );
        // A fall that no wrap explains is a reset even with a rollover.
        assert_eq!(step(20_000.0, 1.0, Some(100_000.0)), Step::Reset(1.0));
    }

    #[test]
    fn use_is_booked_in_the_minute_of_the_later_reading() {
        // Worked by hand: 100 → 101 (0:30) → 103 (1:10) → 106 (1:50).
        let r = [
            energy(0, 100.0),
            energy(30, 101.0),
            energy(70, 103.0),
            energy(110, 106.0),
        ];
        let m = minutes(&r, at(0), at(120), Rollovers::default());
        assert_eq!(m.len(), 2);
        assert_eq!(m[&at(0)].import_kwh, 1.0);
        assert_eq!(m[&at(60)].import_kwh, 5.0);
        assert_eq!(m.values().map(|x| x.resets).sum::<i32>(), 0);
    }

    #[test]
    fn a_reset_is_not_negative_use() {
        // 500 → 502, reset, 0.5 → 1.5: used 2 + 0.5 + 1 = 3.5.
        let r = [
            energy(0, 500.0),
            energy(10, 502.0),
            energy(20, 0.5),
            energy(30, 1.5),
        ];
        let m = minutes(&r, at(0), at(60), Rollovers::default());
        assert_eq!(m[&at(0)].import_kwh, 3.5);
        assert_eq!(m[&at(0)].resets, 1);
    }

    #[test]
    fn a_glitch_is_not_counted_twice() {
        // 200 → 199.5 (glitch) → 201: used 1, not 1.5.
        let r = [energy(0, 200.0), energy(10, 199.5), energy(20, 201.0)];
        let m = minutes(&r, at(0), at(60), Rollovers::default());
        assert_eq!(m[&at(0)].import_kwh, 1.0);
        assert_eq!(m[&at(0)].resets, 0);
    }

    #[test]
    fn readings_before_the_range_only_start_the_steps() {
        let r = [energy(0, 10.0), energy(50, 12.0), energy(70, 15.0)];
        let m = minutes(&r, at(60), at(120), Rollovers::default());
        assert_eq!(m.len(), 1);
        assert_eq!(m[&at(60)].import_kwh, 3.0);
    }

    #[test]
    fn power_statistics_per_minute() {
        let p = |s, kw| Reading {
            ts: at(s),
            import_kwh: None,
            export_kwh: None,
            power_kw: Some(kw),
        };
        let m = minutes(
            &[p(0, 2.0), p(20, 4.0), p(40, 3.0), p(61, -1.0)],
            at(0),
            at(120),
            Rollovers::default(),
        );
        assert_eq!(m[&at(0)].samples, 3);
        assert_eq!(m[&at(0)].power_sum_kw, 9.0);
        assert_eq!(m[&at(0)].power_min_kw, Some(2.0));
        assert_eq!(m[&at(0)].power_max_kw, Some(4.0));
        assert_eq!(m[&at(60)].power_max_kw, Some(-1.0));
        assert_eq!(m[&at(60)].import_kwh, 0.0);
    }

    #[test]
    fn export_and_import_are_separate_registers() {
        let r = [
            Reading {
                ts: at(0),
                import_kwh: Some(50.0),
                export_kwh: Some(7.0),
                power_kw: None,
            },
            Reading {
                ts: at(30),
                import_kwh: Some(50.0),
                export_kwh: Some(7.25),
                power_kw: None,
            },
        ];
        let m = minutes(&r, at(0), at(60), Rollovers::default());
        assert_eq!(m[&at(0)].import_kwh, 0.0);
        assert_eq!(m[&at(0)].export_kwh, 0.25);
    }
}
