//! Report periods and when a scheduled report falls due, on the site's
//! clock.
//!
//! Periods are whole local days, so "the report of 29 March" means that
//! day on the wall clock of the building, 23 hours long where the clocks
//! go forward. Schedules name a local time of day; on the day the clocks
//! change, that time may not exist (it then falls due when the clock
//! jumps past it) or exist twice (it falls due the first time). A
//! schedule remembers the next *period* it owes, not the next instant, so
//! however the clock moves a period is generated once and none is
//! skipped (see `pending`).

use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest custom period: a quarter. Longer spans belong to a data
/// warehouse, not a document someone reads.
pub const MAX_CUSTOM_DAYS: u64 = 92;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Daily,
    Weekly,
    Monthly,
    Custom,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Daily => "daily",
            Kind::Weekly => "weekly",
            Kind::Monthly => "monthly",
            Kind::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Daily, Kind::Weekly, Kind::Monthly, Kind::Custom]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::Daily => "Daily report",
            Kind::Weekly => "Weekly report",
            Kind::Monthly => "Monthly report",
            Kind::Custom => "Report",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeriodError {
    #[error("the period ends ({to}) before it starts ({from})")]
    Reversed { from: NaiveDate, to: NaiveDate },
    #[error("a custom report covers at most {MAX_CUSTOM_DAYS} days")]
    TooLong,
    #[error("unknown time zone {0:?}")]
    Zone(String),
    #[error("a date out of range")]
    OutOfRange,
}

/// Whole local days `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    pub kind: Kind,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// The daily, weekly (Monday to Sunday) or monthly period holding
    /// `date`.
    pub fn containing(kind: Kind, date: NaiveDate) -> Result<Period, PeriodError> {
        let (from, to) = match kind {
            Kind::Daily | Kind::Custom => (date, date),
            Kind::Weekly => {
                let from = date
                    .checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday())))
                    .ok_or(PeriodError::OutOfRange)?;
                let to = from
                    .checked_add_days(Days::new(6))
                    .ok_or(PeriodError::OutOfRange)?;
                (from, to)
            }
            Kind::Monthly => {
                let from = date.with_day(1).ok_or(PeriodError::OutOfRange)?;
                let next = from
                    .checked_add_months(Months::new(1))
                    .ok_or(PeriodError::OutOfRange)?;
                (from, next.pred_opt().ok_or(PeriodError::OutOfRange)?)
            }
        };
        Ok(Period { kind, from, to })
    }

    pub fn custom(from: NaiveDate, to: NaiveDate) -> Result<Period, PeriodError> {
        if to < from {
            return Err(PeriodError::Reversed { from, to });
        }
        if (to - from).num_days() >= MAX_CUSTOM_DAYS as i64 {
            return Err(PeriodError::TooLong);
        }
        Ok(Period {
            kind: Kind::Custom,
            from,
            to,
        })
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period compared with: the previous day, week or calendar
    /// month; for a custom period, as many days just before it.
    pub fn previous(&self) -> Result<Period, PeriodError> {
        let before = self.from.pred_opt().ok_or(PeriodError::OutOfRange)?;
        match self.kind {
            Kind::Custom => {
                let from = self
                    .from
                    .checked_sub_days(Days::new(self.days() as u64))
                    .ok_or(PeriodError::OutOfRange)?;
                Ok(Period {
                    kind: Kind::Custom,
                    from,
                    to: before,
                })
            }
            k => Period::containing(k, before),
        }
    }

    /// The period after this one (schedules step through these).
    pub fn next(&self) -> Result<Period, PeriodError> {
        let after = self.to.succ_opt().ok_or(PeriodError::OutOfRange)?;
        Period::containing(self.kind, after)
    }

    /// The instants the period starts and ends (exclusive) at in `tz`.
    pub fn bounds(&self, tz: Tz) -> Result<(DateTime<Utc>, DateTime<Utc>), PeriodError> {
        let end = self.to.succ_opt().ok_or(PeriodError::OutOfRange)?;
        Ok((
            local_instant(tz, self.from.and_time(NaiveTime::MIN)),
            local_instant(tz, end.and_time(NaiveTime::MIN)),
        ))
    }

    /// When a schedule running at local `at` generates this period: at
    /// `at` on the day after it ends.
    pub fn due_at(&self, at: NaiveTime, tz: Tz) -> Result<DateTime<Utc>, PeriodError> {
        let day = self.to.succ_opt().ok_or(PeriodError::OutOfRange)?;
        Ok(local_instant(tz, day.and_time(at)))
    }
}

pub fn zone(name: &str) -> Result<Tz, PeriodError> {
    name.parse::<Tz>()
        .map_err(|_| PeriodError::Zone(name.to_string()))
}

/// The instant a local wall-clock time happens in `tz`: the first of two
/// when the clocks go back; when they go forward over it, the moment they
/// jump (the first valid local time after it).
pub fn local_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    // In a gap: no zone jumps more than a few hours, so stepping a
    // minute at a time ends within a day.
    let mut probe = local;
    for _ in 0..(24 * 60) {
        probe += chrono::Duration::minutes(1);
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            // The jump itself: the last instant before `probe` is not
            // local time at all, so the first valid minute is when it
            // happened, to the minute; move back to the exact second.
            let jump = t.with_timezone(&Utc);
            return first_valid_after(tz, local, jump);
        }
    }
    Utc.from_utc_datetime(&local)
}

/// The earliest instant (to the second) at or before `upper` whose local
/// time is after `local`.
fn first_valid_after(tz: Tz, local: NaiveDateTime, upper: DateTime<Utc>) -> DateTime<Utc> {
    let mut t = upper;
    loop {
        let earlier = t - chrono::Duration::seconds(1);
        if earlier.with_timezone(&tz).naive_local() > local {
            t = earlier;
        } else {
            return t;
        }
    }
}

/// The periods a schedule owes at `now`: from `next` on, each whose due
/// time has come, at most `limit` (a schedule that was off for a year
/// catches up a few at a time).
pub fn pending(
    next: Period,
    at: NaiveTime,
    tz: Tz,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Period>, PeriodError> {
    let mut out = Vec::new();
    let mut p = next;
    while out.len() < limit && p.due_at(at, tz)? <= now {
        out.push(p);
        p = p.next()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn periods_hold_their_date_and_compare_with_the_one_before() {
        let w = Period::containing(Kind::Weekly, d("2026-12-03")).unwrap();
        assert_eq!((w.from, w.to), (d("2026-11-30"), d("2026-12-06")));
        assert_eq!(w.previous().unwrap().from, d("2026-11-23"));
        let m = Period::containing(Kind::Monthly, d("2028-02-10")).unwrap();
        assert_eq!(
            (m.from, m.to, m.days()),
            (d("2028-02-01"), d("2028-02-29"), 29)
        );
        let p = m.previous().unwrap();
        assert_eq!((p.from, p.to), (d("2028-01-01"), d("2028-01-31")));
        assert_eq!(m.next().unwrap().to, d("2028-03-31"));
        let c = Period::custom(d("2026-11-28"), d("2026-12-02")).unwrap();
        let p = c.previous().unwrap();
        assert_eq!((p.from, p.to), (d("2026-11-23"), d("2026-11-27")));
        assert_eq!(
            Period::custom(d("2026-12-02"), d("2026-12-01")),
            Err(PeriodError::Reversed {
                from: d("2026-12-02"),
                to: d("2026-12-01")
            })
        );
        assert_eq!(
            Period::custom(d("2026-01-01"), d("2026-04-03")),
            Err(PeriodError::TooLong)
        );
    }

    #[test]
    fn a_day_is_23_or_25_hours_where_the_clocks_change() {
        let london = zone("Europe/London").unwrap();
        let spring = Period::containing(Kind::Daily, d("2026-03-29")).unwrap();
        let (s, e) = spring.bounds(london).unwrap();
        assert_eq!(
            (s, e),
            (utc("2026-03-29T00:00:00Z"), utc("2026-03-29T23:00:00Z"))
        );
        let autumn = Period::containing(Kind::Daily, d("2026-10-25")).unwrap();
        let (s, e) = autumn.bounds(london).unwrap();
        assert_eq!((e - s).num_hours(), 25);
        // Santiago moves its clocks at midnight: the day starts when the
        // clock jumps from 23:59:59 to 01:00.
        let santiago = zone("America/Santiago").unwrap();
        let p = Period::containing(Kind::Daily, d("2026-09-06")).unwrap();
        let (s, _) = p.bounds(santiago).unwrap();
        assert_eq!(s, utc("2026-09-06T04:00:00Z"));
        assert!(zone("Mars/Olympus").is_err());
        assert_eq!(
            Period::containing(Kind::Weekly, NaiveDate::MIN),
            Err(PeriodError::OutOfRange)
        );
        assert_eq!(
            Period::containing(Kind::Monthly, NaiveDate::MAX),
            Err(PeriodError::OutOfRange)
        );
    }

    /// A runner that looks every few minutes across a whole year in a zone
    /// with clock changes, at a time of day that is skipped in spring and
    /// repeated in autumn, owes and runs each period exactly once.
    #[test]
    fn a_schedule_runs_each_period_once_across_clock_changes_and_month_ends() {
        let london = zone("Europe/London").unwrap();
        let at = NaiveTime::from_hms_opt(1, 30, 0).unwrap();
        for kind in [Kind::Daily, Kind::Weekly, Kind::Monthly] {
            let mut next = Period::containing(kind, d("2026-01-01")).unwrap();
            let mut ran: Vec<(Period, DateTime<Utc>)> = Vec::new();
            let mut now = utc("2026-01-01T00:00:00Z");
            while now < utc("2027-01-01T12:00:00Z") {
                for p in pending(next, at, london, now, 10).unwrap() {
                    ran.push((p, now));
                    next = p.next().unwrap();
                }
                now += chrono::Duration::minutes(7);
            }
            let expected = match kind {
                Kind::Daily => 365,
                Kind::Weekly => 52,
                _ => 12,
            };
            assert_eq!(ran.len(), expected, "{kind:?}");
            for w in ran.windows(2) {
                assert_eq!(
                    w[0].0.next().unwrap(),
                    w[1].0,
                    "{kind:?}: no gap, no repeat"
                );
            }
            for (p, when) in &ran {
                let due = p.due_at(at, london).unwrap();
                assert!(*when >= due && *when - due < chrono::Duration::minutes(7));
            }
        }
        // The day after 28 March: 01:30 does not exist on 29 March, so the
        // daily report of the 28th is due when the clocks jump at 01:00 UTC.
        let p = Period::containing(Kind::Daily, d("2026-03-28")).unwrap();
        assert_eq!(p.due_at(at, london).unwrap(), utc("2026-03-29T01:00:00Z"));
        // 01:30 happens twice on 25 October: the first time counts.
        let p = Period::containing(Kind::Daily, d("2026-10-24")).unwrap();
        assert_eq!(p.due_at(at, london).unwrap(), utc("2026-10-25T00:30:00Z"));
        // February's report in a leap year is due on 1 March.
        let p = Period::containing(Kind::Monthly, d("2028-02-15")).unwrap();
        assert_eq!(
            p.due_at(NaiveTime::from_hms_opt(6, 0, 0).unwrap(), london)
                .unwrap(),
            utc("2028-03-01T06:00:00Z")
        );
    }

    #[test]
    fn a_long_outage_catches_up_a_few_periods_at_a_time() {
        let utc_tz = zone("UTC").unwrap();
        let first = Period::containing(Kind::Daily, d("2026-01-01")).unwrap();
        let at = NaiveTime::from_hms_opt(6, 0, 0).unwrap();
        let owed = pending(first, at, utc_tz, utc("2026-02-01T12:00:00Z"), 10).unwrap();
        assert_eq!(owed.len(), 10);
        assert_eq!(owed[9].from, d("2026-01-10"));
        assert!(
            pending(first, at, utc_tz, utc("2026-01-02T05:59:59Z"), 10)
                .unwrap()
                .is_empty()
        );
    }
}
