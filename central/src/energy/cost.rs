//! What metered energy costs is the tariff applied by hand-checkable rules:
//! each quarter hour at its band's price, each day its standing charge and
//! its share of its month's demand charge, always under the tariff in
//! force on the local date. Working it out here, from rows the store has
//! already put in local time, keeps DST, tariff changes and holidays
//! testable without a database; money stays unrounded until it is shown.
//!
//! A demand charge must not depend on how a query cuts the month: each
//! tariff's peak in a month is taken from every quarter hour of the whole
//! local month (`DemandInput::month_quarters`), and each day of the range
//! owes, under the tariff in force that day, `price_per_kw × that tariff's
//! peak in the month / days in the month`, in the day's bucket. A monthly
//! bucket so gets the whole month's charge, a daily one its day's share,
//! and the ranges of any partition of a month add up to the month's
//! charge. A day whose month has no interval in the tariff's window owes
//! none.
//!
//! Each tariff is compiled once into lookup tables (`Tariff::compile`), so
//! pricing a year of quarter hours parses no string.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde::Serialize;

use super::tariff::{CompiledTariff, Tariff, TariffError};

/// The energy of one quarter hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quarter {
    pub start: DateTime<Utc>,
    /// Wall-clock time at `start` in the site's zone; a DST fall-back
    /// repeats an hour of these.
    pub local: NaiveDateTime,
    pub holiday: bool,
    pub kwh: f64,
    /// The output bucket the quarter belongs to.
    pub bucket: usize,
}

/// A local day whose midnight lies in the range: it owes a standing charge
/// and its share of its month's demand charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    pub holiday: bool,
    pub bucket: usize,
}

/// What the demand charge needs beyond the range's own rows.
#[derive(Debug, Clone, Copy)]
pub struct DemandInput<'a> {
    /// Every quarter of each whole local month the range touches (their
    /// `bucket` is not read): a month's peak is the month's, however the
    /// range is cut.
    pub month_quarters: &'a [Quarter],
    /// The site's local time now: a month not over yet is `complete:
    /// false` (a later peak may still raise it).
    pub now: NaiveDateTime,
}

/// A tariff and the local dates it is in force, `valid_from` to `valid_to`
/// (excluded; none: still in force).
#[derive(Debug, Clone, Copy)]
pub struct InForce<'a> {
    pub id: i64,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub tariff: &'a Tariff,
}

impl InForce<'_> {
    fn covers(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| date < to)
    }

    /// Days of `dates` on which the tariff is in force.
    fn days_within(&self, dates: &Range<NaiveDate>) -> u32 {
        let from = dates.start.max(self.valid_from);
        let to = self.valid_to.map_or(dates.end, |to| to.min(dates.end));
        u32::try_from((to - from).num_days()).unwrap_or(0)
    }
}

/// Why no cost could be worked out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CostError {
    #[error("tariff {id}: {source}")]
    Tariff { id: i64, source: TariffError },
    #[error(
        "tariff {first} charges in {first_currency} and tariff {other} in {other_currency}; costs can only be added up in one currency"
    )]
    MixedCurrencies {
        first: i64,
        first_currency: String,
        other: i64,
        other_currency: String,
    },
    #[error("tariffs {first} and {second} are both in force on {date}; a day has one tariff")]
    Overlapping {
        first: i64,
        second: i64,
        date: NaiveDate,
    },
    #[error("a row is for bucket {bucket}, but there are only {n_buckets} buckets")]
    NoSuchBucket { bucket: usize, n_buckets: usize },
}

/// Energy priced by one band of one tariff.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BandCost {
    pub tariff_id: i64,
    pub band: String,
    pub kwh: f64,
    pub price_per_kwh: f64,
    pub cost: f64,
}

/// What a bucket (or the whole range) costs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Charges {
    pub energy_cost: f64,
    pub standing_charge: f64,
    /// The shares of their months' demand charges owed by the bucket's
    /// days.
    pub demand_charge: f64,
    pub total: f64,
    /// All the energy, priced or not.
    pub kwh: f64,
    /// Energy on dates no tariff was in force.
    pub unpriced_kwh: f64,
    pub bands: Vec<BandCost>,
}

/// One tariff's demand charge for one local calendar month, and the
/// range's share of it. The peak is the month's, over all its days
/// whatever the range; each range day under the tariff owes
/// `month_charge / days_in_force`, i.e. price_per_kw × peak_kw /
/// days_in_month.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DemandCharge {
    pub year: i32,
    pub month: u32,
    pub tariff_id: i64,
    /// The tariff's highest demand in the whole month.
    pub peak_kw: f64,
    /// Start of the peak interval's first quarter hour.
    pub peak_at: DateTime<Utc>,
    /// Days of the month the tariff is in force, whatever the range.
    pub days_in_force: u32,
    pub days_in_month: u32,
    /// Days of the range in the month under the tariff: those charged.
    pub days_in_range: u32,
    /// The whole month's charge under the tariff: price_per_kw × peak_kw
    /// × days_in_force / days_in_month.
    pub month_charge: f64,
    /// The range's share: price_per_kw × peak_kw × days_in_range /
    /// days_in_month, the sum of its days' shares.
    pub charge: f64,
    /// False while the month is not over: a later peak may still raise
    /// the charge.
    pub complete: bool,
}

/// The cost of a range, per bucket and in all.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = CostBreakdown)]
pub struct Cost {
    /// None when no tariff was given.
    pub currency: Option<String>,
    pub buckets: Vec<Charges>,
    pub totals: Charges,
    /// Only the months and tariffs some day of the range owes a share to,
    /// by year, month and the tariff's `valid_from`.
    pub demand: Vec<DemandCharge>,
    /// Days owing a standing charge with no tariff in force.
    pub unpriced_days: Vec<NaiveDate>,
}

/// What `quarters` (sorted by `start`) and `days` cost under `tariffs`,
/// in `n_buckets` buckets; the demand charges' peaks come from
/// `demand.month_quarters`, and each of `days` owes its share.
pub fn cost(
    quarters: &[Quarter],
    days: &[Day],
    tariffs: &[InForce<'_>],
    n_buckets: usize,
    demand: &DemandInput<'_>,
) -> Result<Cost, CostError> {
    let currency = check_tariffs(tariffs)?;
    let tariffs = Tariffs {
        in_force: tariffs,
        compiled: tariffs.iter().map(|t| t.tariff.compile()).collect(),
    };
    let mut buckets = vec![Charges::default(); n_buckets];
    charge_energy(quarters, &tariffs, &mut buckets)?;
    let unpriced_days = charge_standing(days, &tariffs, &mut buckets)?;
    let demand = charge_demand(days, &tariffs, demand, &mut buckets)?;
    let mut totals = Charges::default();
    for charges in &mut buckets {
        charges.total = charges.energy_cost + charges.standing_charge + charges.demand_charge;
        totals.add(charges);
    }
    Ok(Cost {
        currency,
        buckets,
        totals,
        demand,
        unpriced_days,
    })
}

impl Charges {
    fn add(&mut self, other: &Charges) {
        self.energy_cost += other.energy_cost;
        self.standing_charge += other.standing_charge;
        self.demand_charge += other.demand_charge;
        self.total += other.total;
        self.kwh += other.kwh;
        self.unpriced_kwh += other.unpriced_kwh;
        for band in &other.bands {
            self.add_band(
                band.tariff_id,
                &band.band,
                band.price_per_kwh,
                band.kwh,
                band.cost,
            );
        }
    }

    fn add_band(&mut self, tariff_id: i64, band: &str, price_per_kwh: f64, kwh: f64, cost: f64) {
        let same = |b: &&mut BandCost| {
            b.tariff_id == tariff_id && b.band == band && b.price_per_kwh == price_per_kwh
        };
        match self.bands.iter_mut().find(same) {
            Some(found) => {
                found.kwh += kwh;
                found.cost += cost;
            }
            None => self.bands.push(BandCost {
                tariff_id,
                band: band.to_owned(),
                kwh,
                price_per_kwh,
                cost,
            }),
        }
    }
}

/// Every tariff valid, no two on the same day, one currency (returned).
fn check_tariffs(tariffs: &[InForce<'_>]) -> Result<Option<String>, CostError> {
    for in_force in tariffs {
        in_force
            .tariff
            .validate()
            .map_err(|source| CostError::Tariff {
                id: in_force.id,
                source,
            })?;
    }
    for (i, first) in tariffs.iter().enumerate() {
        for second in &tariffs[i + 1..] {
            let date = first.valid_from.max(second.valid_from);
            if first.covers(date) && second.covers(date) {
                return Err(CostError::Overlapping {
                    first: first.id,
                    second: second.id,
                    date,
                });
            }
        }
    }
    let Some(first) = tariffs.first() else {
        return Ok(None);
    };
    let currency = &first.tariff.currency;
    match tariffs.iter().find(|t| &t.tariff.currency != currency) {
        Some(other) => Err(CostError::MixedCurrencies {
            first: first.id,
            first_currency: currency.clone(),
            other: other.id,
            other_currency: other.tariff.currency.clone(),
        }),
        None => Ok(Some(currency.clone())),
    }
}

/// The (checked) tariffs, each with its lookup tables.
struct Tariffs<'t, 'a> {
    in_force: &'t [InForce<'a>],
    /// One for each of `in_force`, in the same order.
    compiled: Vec<CompiledTariff<'a>>,
}

impl<'a> Tariffs<'_, 'a> {
    /// The index of the tariff in force on `date`.
    fn on(&self, date: NaiveDate) -> Option<usize> {
        self.in_force.iter().position(|t| t.covers(date))
    }

    /// The tariff in force on `date`, compiled.
    fn compiled_on(&self, date: NaiveDate) -> Option<(&InForce<'a>, &CompiledTariff<'a>)> {
        let index = self.on(date)?;
        Some((self.in_force.get(index)?, self.compiled.get(index)?))
    }
}

fn bucket(buckets: &mut [Charges], index: usize) -> Result<&mut Charges, CostError> {
    let n_buckets = buckets.len();
    buckets.get_mut(index).ok_or(CostError::NoSuchBucket {
        bucket: index,
        n_buckets,
    })
}

fn charge_energy(
    quarters: &[Quarter],
    tariffs: &Tariffs<'_, '_>,
    buckets: &mut [Charges],
) -> Result<(), CostError> {
    for quarter in quarters {
        let charges = bucket(buckets, quarter.bucket)?;
        charges.kwh += quarter.kwh;
        let priced = tariffs
            .compiled_on(quarter.local.date())
            .and_then(|(in_force, compiled)| {
                let band = compiled.band_at(quarter.local, quarter.holiday)?;
                Some((in_force.id, band))
            });
        match priced {
            Some((tariff_id, band)) => {
                let cost = quarter.kwh * band.price_per_kwh;
                charges.energy_cost += cost;
                charges.add_band(tariff_id, &band.name, band.price_per_kwh, quarter.kwh, cost);
            }
            None => charges.unpriced_kwh += quarter.kwh,
        }
    }
    Ok(())
}

/// Charges each day its tariff's standing charge; returns the days
/// without a tariff.
fn charge_standing(
    days: &[Day],
    tariffs: &Tariffs<'_, '_>,
    buckets: &mut [Charges],
) -> Result<Vec<NaiveDate>, CostError> {
    let mut unpriced = Vec::new();
    for day in days {
        let charges = bucket(buckets, day.bucket)?;
        match tariffs.compiled_on(day.date) {
            Some((in_force, _)) => {
                charges.standing_charge += in_force.tariff.standing_charge_per_day;
            }
            None => unpriced.push(day.date),
        }
    }
    Ok(unpriced)
}

/// A demand interval in the window: quarters sharing a tariff, a floored
/// local start and a UTC offset.
#[derive(Debug)]
struct Interval {
    tariff: usize,
    local_start: NaiveDateTime,
    first_start: DateTime<Utc>,
    kwh: f64,
    hours: f64,
}

fn demand_intervals(quarters: &[Quarter], tariffs: &Tariffs<'_, '_>) -> Vec<Interval> {
    let mut index: HashMap<(usize, NaiveDateTime, i64), usize> = HashMap::new();
    let mut intervals: Vec<Interval> = Vec::new();
    for quarter in quarters {
        let Some(tariff) = tariffs.on(quarter.local.date()) else {
            continue;
        };
        let Some((in_force, compiled)) = tariffs
            .in_force
            .get(tariff)
            .zip(tariffs.compiled.get(tariff))
        else {
            continue;
        };
        let Some(demand) = &in_force.tariff.demand else {
            continue;
        };
        let Some(local_start) = floor(quarter.local, demand.interval_minutes) else {
            continue;
        };
        if !compiled.demand_covers(local_start, quarter.holiday) {
            continue;
        }
        let offset = (quarter.local - quarter.start.naive_utc()).num_minutes();
        let key = (tariff, local_start, offset);
        match index.get(&key).and_then(|&i| intervals.get_mut(i)) {
            Some(interval) => interval.kwh += quarter.kwh,
            None => {
                index.insert(key, intervals.len());
                intervals.push(Interval {
                    tariff,
                    local_start,
                    first_start: quarter.start,
                    kwh: quarter.kwh,
                    hours: f64::from(demand.interval_minutes) / 60.0,
                });
            }
        }
    }
    intervals
}

/// `local` floored to a multiple of `minutes` since midnight.
fn floor(local: NaiveDateTime, minutes: u32) -> Option<NaiveDateTime> {
    let since_midnight = local.hour() * 60 + local.minute();
    let floored = since_midnight - since_midnight.checked_rem(minutes)?;
    let time = NaiveTime::from_hms_opt(floored / 60, floored % 60, 0)?;
    Some(local.date().and_time(time))
}

/// Each tariff's peak interval in each month (the first on ties), by the
/// month's first day and the tariff's index.
fn monthly_peaks(intervals: &[Interval]) -> HashMap<(NaiveDate, usize), &Interval> {
    let mut peaks: HashMap<(NaiveDate, usize), &Interval> = HashMap::new();
    for interval in intervals {
        let Some(month) = month_of(interval.local_start.date()) else {
            continue;
        };
        peaks
            .entry((month.start, interval.tariff))
            .and_modify(|peak| {
                if interval.kwh > peak.kwh {
                    *peak = interval;
                }
            })
            .or_insert(interval);
    }
    peaks
}

fn month_of(date: NaiveDate) -> Option<Range<NaiveDate>> {
    let first = date.with_day(1)?;
    Some(first..first.checked_add_months(Months::new(1))?)
}

/// Charges each of `days` its share of its month's demand charge under
/// the tariff in force that day; returns the months and tariffs charged.
fn charge_demand(
    days: &[Day],
    tariffs: &Tariffs<'_, '_>,
    input: &DemandInput<'_>,
    buckets: &mut [Charges],
) -> Result<Vec<DemandCharge>, CostError> {
    let intervals = demand_intervals(input.month_quarters, tariffs);
    let peaks = monthly_peaks(&intervals);
    // The range's days owing a share, by month, tariff (in the order the
    // charges are listed) and bucket.
    let mut owed: BTreeMap<(NaiveDate, NaiveDate, usize), BTreeMap<usize, u32>> = BTreeMap::new();
    for day in days {
        let Some(tariff) = tariffs.on(day.date) else {
            continue;
        };
        let (Some(month), Some(in_force)) = (month_of(day.date), tariffs.in_force.get(tariff))
        else {
            continue;
        };
        if peaks.contains_key(&(month.start, tariff)) {
            let key = (month.start, in_force.valid_from, tariff);
            *owed.entry(key).or_default().entry(day.bucket).or_default() += 1;
        }
    }
    let mut charges = Vec::new();
    for ((month_start, _, tariff), per_bucket) in owed {
        let (Some(month), Some(peak), Some(in_force)) = (
            month_of(month_start),
            peaks.get(&(month_start, tariff)),
            tariffs.in_force.get(tariff),
        ) else {
            continue;
        };
        let Some(demand) = &in_force.tariff.demand else {
            continue;
        };
        let peak_kw = peak.kwh / peak.hours;
        let days_in_force = in_force.days_within(&month);
        let days_in_month = u32::try_from((month.end - month.start).num_days()).unwrap_or(0);
        let share =
            |days: u32| demand.price_per_kw * peak_kw * f64::from(days) / f64::from(days_in_month);
        let mut days_in_range = 0;
        for (index, days) in per_bucket {
            bucket(buckets, index)?.demand_charge += share(days);
            days_in_range += days;
        }
        charges.push(DemandCharge {
            year: month.start.year(),
            month: month.start.month(),
            tariff_id: in_force.id,
            peak_kw,
            peak_at: peak.first_start,
            days_in_force,
            days_in_month,
            days_in_range,
            month_charge: share(days_in_force),
            charge: share(days_in_range),
            complete: month.end.and_time(NaiveTime::MIN) <= input.now,
        });
    }
    Ok(charges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    /// A quarter at local time `at`, `offset` minutes ahead of UTC.
    fn quarter(at: &str, offset: i64, kwh: f64, bucket: usize) -> Quarter {
        let local = local(at);
        Quarter {
            start: (local - chrono::Duration::minutes(offset)).and_utc(),
            local,
            holiday: false,
            kwh,
            bucket,
        }
    }

    fn day(at: &str, bucket: usize) -> Day {
        Day {
            date: date(at),
            holiday: false,
            bucket,
        }
    }

    fn in_force<'a>(id: i64, from: &str, to: Option<&str>, tariff: &'a Tariff) -> InForce<'a> {
        InForce {
            id,
            valid_from: date(from),
            valid_to: to.map(date),
            tariff,
        }
    }

    /// Demand peaks from `month_quarters`, long after their months ended.
    fn settled(month_quarters: &[Quarter]) -> DemandInput<'_> {
        DemandInput {
            month_quarters,
            now: local("2100-01-01 00:00"),
        }
    }

    /// The days `from` to `to` (excluded), each in the bucket `bucket`
    /// gives it.
    fn days_between(from: &str, to: &str, bucket: impl Fn(NaiveDate) -> usize) -> Vec<Day> {
        date(from)
            .iter_days()
            .take_while(|d| *d < date(to))
            .map(|d| Day {
                date: d,
                holiday: false,
                bucket: bucket(d),
            })
            .collect()
    }

    fn close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "{actual} is not {expected}"
        );
    }

    /// Winter (10-01..03-31) weekdays: night 23:00–07:00 at 0.10, peak
    /// 07:00–23:00 at 0.30; weekends and holidays 0.20. Summer the same at
    /// 0.08, 0.25 and 0.15. Standing charge 1.00 a day; demand 10 a kW
    /// on 30-minute intervals starting weekdays 16:00–20:00.
    fn seasonal() -> Tariff {
        let bands = |night: f64, peak: f64, off_peak: f64| {
            json!([
                {"name": "night", "days": ["weekday"], "from": "23:00", "to": "07:00", "price_per_kwh": night},
                {"name": "peak", "days": ["weekday"], "from": "07:00", "to": "23:00", "price_per_kwh": peak},
                {"name": "off_peak", "days": ["weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": off_peak}
            ])
        };
        Tariff::from_json(&json!({
            "currency": "EUR",
            "standing_charge_per_day": 1.0,
            "seasons": [
                {"name": "winter", "from": "10-01", "to": "03-31", "bands": bands(0.10, 0.30, 0.20)},
                {"name": "summer", "from": "04-01", "to": "09-30", "bands": bands(0.08, 0.25, 0.15)}
            ],
            "demand": {"price_per_kw": 10.0, "interval_minutes": 30, "days": ["weekday"], "from": "16:00", "to": "20:00"}
        }))
        .unwrap()
    }

    /// One price all the time; demand `(price_per_kw, interval_minutes,
    /// all_day)` on weekdays 16:00–20:00, or all day every day when
    /// `all_day`.
    fn flat(currency: &str, price: f64, standing: f64, demand: Option<(f64, u32, bool)>) -> Tariff {
        let mut v = json!({
            "currency": currency,
            "standing_charge_per_day": standing,
            "seasons": [{"name": "all year", "from": "01-01", "to": "12-31", "bands": [
                {"name": "flat", "days": ["weekday", "weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": price}
            ]}]
        });
        if let Some((price_per_kw, interval_minutes, all_day)) = demand {
            v["demand"] = if all_day {
                json!({"price_per_kw": price_per_kw, "interval_minutes": interval_minutes,
                       "days": ["weekday", "weekend", "holiday"], "from": "00:00", "to": "24:00"})
            } else {
                json!({"price_per_kw": price_per_kw, "interval_minutes": interval_minutes,
                       "days": ["weekday"], "from": "16:00", "to": "20:00"})
            };
        }
        Tariff::from_json(&v).unwrap()
    }

    /// The quarters of one local day across a DST change: from local
    /// midnight (`midnight_utc`) the offset is `before` minutes until
    /// `change_utc`, then `after`; the day ends when the local date does.
    /// Each quarter's bucket is its local hour.
    fn dst_day(
        day: &str,
        midnight_utc: &str,
        change_utc: &str,
        before: i64,
        after: i64,
        kwh: impl Fn(NaiveDateTime) -> f64,
    ) -> Vec<Quarter> {
        let utc = |text: &str| local(text).and_utc();
        let (mut start, change) = (utc(midnight_utc), utc(change_utc));
        let mut quarters = Vec::new();
        loop {
            let offset = if start < change { before } else { after };
            let local = start.naive_utc() + chrono::Duration::minutes(offset);
            if local.date() != date(day) {
                return quarters;
            }
            quarters.push(Quarter {
                start,
                local,
                holiday: false,
                kwh: kwh(local),
                bucket: local.hour() as usize,
            });
            start += chrono::Duration::minutes(15);
        }
    }

    #[test]
    fn a_band_boundary_between_two_quarters() {
        let tariff = seasonal();
        let tariffs = [in_force(1, "2024-01-01", None, &tariff)];
        // Monday 2024-01-15 (CET, +60): 06:45 is night (2 kWh × 0.10 =
        // 0.20), 07:00 is peak (3 kWh × 0.30 = 0.90).
        let quarters = [
            quarter("2024-01-15 06:45", 60, 2.0, 0),
            quarter("2024-01-15 07:00", 60, 3.0, 1),
        ];
        let cost = cost(&quarters, &[], &tariffs, 2, &settled(&quarters)).unwrap();
        assert_eq!(cost.currency.as_deref(), Some("EUR"));
        close(cost.buckets[0].energy_cost, 0.20);
        close(cost.buckets[1].energy_cost, 0.90);
        close(cost.buckets[1].total, 0.90);
        close(cost.totals.energy_cost, 1.10);
        close(cost.totals.total, 1.10);
        close(cost.totals.kwh, 5.0);
        let bands: Vec<_> = cost
            .totals
            .bands
            .iter()
            .map(|b| (b.tariff_id, b.band.as_str(), b.kwh, b.price_per_kwh))
            .collect();
        assert_eq!(bands, [(1, "night", 2.0, 0.10), (1, "peak", 3.0, 0.30)]);
        close(cost.totals.bands[0].cost, 0.20);
        close(cost.totals.bands[1].cost, 0.90);
        // Outside the window (16:00–20:00), and no day: no demand charge.
        assert!(cost.demand.is_empty());
    }

    #[test]
    fn a_season_change_at_midnight() {
        let tariff = seasonal();
        let tariffs = [in_force(1, "2024-01-01", None, &tariff)];
        // Sunday 2024-03-31 23:45 (CEST, +120) is winter off peak, 0.20;
        // Monday 2024-04-01 00:00 summer night, 0.08. 1 kWh each: 0.28.
        let quarters = [
            quarter("2024-03-31 23:45", 120, 1.0, 0),
            quarter("2024-04-01 00:00", 120, 1.0, 1),
        ];
        let cost = cost(&quarters, &[], &tariffs, 2, &settled(&quarters)).unwrap();
        close(cost.buckets[0].energy_cost, 0.20);
        close(cost.buckets[1].energy_cost, 0.08);
        close(cost.totals.energy_cost, 0.28);
        assert_eq!(cost.buckets[0].bands[0].band, "off_peak");
        assert_eq!(cost.buckets[1].bands[0].band, "night");
        assert_eq!(cost.totals.bands.len(), 2);
    }

    #[test]
    fn a_spring_forward_day_has_92_quarters() {
        let tariff = seasonal();
        let tariffs = [in_force(1, "2024-01-01", None, &tariff)];
        // Sunday 2024-03-31: local midnight is 23:00Z the day before (+60);
        // at 01:00Z the clocks jump from 02:00 to 03:00 (+120); local
        // midnight after is 22:00Z. 23 hours: 92 quarters, 1 kWh each.
        let quarters = dst_day(
            "2024-03-31",
            "2024-03-30 23:00",
            "2024-03-31 01:00",
            60,
            120,
            |_| 1.0,
        );
        assert_eq!(quarters.len(), 92);
        let days = [day("2024-03-31", 0)];
        let cost = cost(&quarters, &days, &tariffs, 24, &settled(&quarters)).unwrap();
        // Local hour buckets: 01:00 has 4 quarters, 02:00 none, 03:00 4.
        close(cost.buckets[1].kwh, 4.0);
        close(cost.buckets[2].kwh, 0.0);
        close(cost.buckets[3].kwh, 4.0);
        // A winter Sunday: 92 kWh × 0.20 = 18.40, plus 1.00 standing; no
        // interval in the (weekday) demand window, so no demand charge.
        close(cost.totals.kwh, 92.0);
        close(cost.totals.energy_cost, 18.40);
        close(cost.totals.standing_charge, 1.0);
        close(cost.totals.total, 19.40);
        assert!(cost.demand.is_empty());
    }

    #[test]
    fn a_fall_back_day_keeps_the_repeated_hour_apart() {
        // 0.20 a kWh, 1.00 a day, demand 10 a kW on hourly intervals all
        // day every day, in force all of October.
        let tariff = flat("EUR", 0.20, 1.0, Some((10.0, 60, true)));
        let tariffs = [in_force(1, "2024-01-01", None, &tariff)];
        // Sunday 2024-10-27: local midnight is 22:00Z the day before
        // (+120); at 01:00Z the clocks go back from 03:00 to 02:00 (+60);
        // local midnight after is 23:00Z. 25 hours: 100 quarters. Local
        // 02:00–03:00 happens twice (00:00–01:00Z and 01:00–02:00Z).
        // 1 kWh in each of its 8 quarters, 0.5 kWh in the 92 others.
        let quarters = dst_day(
            "2024-10-27",
            "2024-10-26 22:00",
            "2024-10-27 01:00",
            120,
            60,
            |local| if local.hour() == 2 { 1.0 } else { 0.5 },
        );
        assert_eq!(quarters.len(), 100);
        // The day's midnight is in the 00:00 bucket. The rest of October
        // has no energy: the month's quarters are the day's.
        let days = [day("2024-10-27", 0)];
        let demand = DemandInput {
            month_quarters: &quarters,
            now: local("2024-10-28 00:00"),
        };
        let cost = cost(&quarters, &days, &tariffs, 24, &demand).unwrap();
        // 8 × 1 + 92 × 0.5 = 54 kWh × 0.20 = 10.80; the 02:00 bucket has
        // both hours: 8 kWh, 1.60.
        close(cost.totals.kwh, 54.0);
        close(cost.totals.energy_cost, 10.80);
        close(cost.buckets[2].kwh, 8.0);
        close(cost.buckets[2].energy_cost, 1.60);
        // Each 02:00 hour is 4 kWh: 4 kW (merged they would be 8 kW); the
        // other hours 2 kW. The first 02:00 (CEST) starts 00:00Z.
        assert_eq!(cost.demand.len(), 1);
        let demand = &cost.demand[0];
        close(demand.peak_kw, 4.0);
        assert_eq!(demand.peak_at, local("2024-10-27 00:00").and_utc());
        // The month: 10 × 4 kW × 31/31 = 40.00; the one day's share
        // 10 × 4 / 31 = 40/31 ≈ 1.2903, in the day's bucket (00:00).
        // October is not over on the 28th.
        assert_eq!((demand.year, demand.month, demand.tariff_id), (2024, 10, 1));
        assert_eq!((demand.days_in_force, demand.days_in_month), (31, 31));
        assert_eq!(demand.days_in_range, 1);
        close(demand.month_charge, 40.0);
        close(demand.charge, 40.0 / 31.0);
        assert!(!demand.complete);
        close(cost.buckets[0].demand_charge, 40.0 / 31.0);
        close(cost.buckets[2].demand_charge, 0.0);
        // 10.80 + 1.00 + 40/31.
        close(cost.totals.total, 11.80 + 40.0 / 31.0);
    }

    #[test]
    fn a_holiday_is_priced_as_its_band_and_has_no_demand() {
        let tariff = seasonal();
        let tariffs = [in_force(1, "2024-01-01", None, &tariff)];
        // Wednesday 2024-01-17 17:00 and 17:15 (+60), 2 kWh each; all of
        // January's 31 days in one (monthly) bucket, 1.00 standing each.
        let quarters = [
            quarter("2024-01-17 17:00", 60, 2.0, 0),
            quarter("2024-01-17 17:15", 60, 2.0, 0),
        ];
        let days = days_between("2024-01-01", "2024-02-01", |_| 0);
        let holiday = quarters.map(|q| Quarter { holiday: true, ..q });
        // As a holiday: off peak, 4 × 0.20 = 0.80; demand is weekdays
        // only, so January has no peak and its days owe none.
        let cost_holiday = cost(&holiday, &days, &tariffs, 1, &settled(&holiday)).unwrap();
        close(cost_holiday.totals.energy_cost, 0.80);
        assert_eq!(cost_holiday.totals.bands[0].band, "off_peak");
        assert!(cost_holiday.demand.is_empty());
        close(cost_holiday.totals.demand_charge, 0.0);
        close(cost_holiday.totals.total, 0.80 + 31.0);
        // As a working day: peak, 4 × 0.30 = 1.20; 4 kWh in 30 minutes is
        // 8 kW, 10 × 8 × 31/31 = 80.00 for the 31 days.
        let working = cost(&quarters, &days, &tariffs, 1, &settled(&quarters)).unwrap();
        close(working.totals.energy_cost, 1.20);
        close(working.demand[0].peak_kw, 8.0);
        assert_eq!(working.demand[0].days_in_range, 31);
        close(working.totals.demand_charge, 80.0);
    }

    #[test]
    fn a_tariff_change_mid_month_switches_prices_and_prorates_demand() {
        // A: 0.20 a kWh, 1.00 a day, 10 a kW; in force until 2024-11-11
        // (10 days of November). B: 0.30, 2.00, 12 a kW; from 2024-11-11
        // (20 days). Demand: 30 minutes, weekdays 16:00–20:00.
        let a = flat("EUR", 0.20, 1.0, Some((10.0, 30, false)));
        let b = flat("EUR", 0.30, 2.0, Some((12.0, 30, false)));
        let tariffs = [
            in_force(7, "2024-10-01", Some("2024-11-11"), &a),
            in_force(8, "2024-11-11", None, &b),
        ];
        // Each quarter's bucket is its day of the month less one.
        let quarters = [
            // Friday 11-08, A: 3 kWh in 30 minutes, 6 kW; 3 × 0.20 = 0.60.
            quarter("2024-11-08 17:00", 60, 1.5, 7),
            quarter("2024-11-08 17:15", 60, 1.5, 7),
            // Sunday 11-10, A: outside the window; 5 × 0.20 = 1.00.
            quarter("2024-11-10 17:00", 60, 5.0, 9),
            // Tuesday 11-12, B: 2 kWh, 4 kW; 2 × 0.30 = 0.60.
            quarter("2024-11-12 18:00", 60, 2.0, 11),
        ];
        let by_day = |d: NaiveDate| d.day0() as usize;
        // The month's charges, A: 10 × 6 × 10/30 = 20.00 for its 10 days;
        // B: 12 × 4 × 20/30 = 32.00 for its 20.
        let expected = [
            (7, 6.0, "2024-11-08 16:00", 10, 20.0),
            (8, 4.0, "2024-11-12 17:00", 20, 32.0),
        ];
        let check = |demand: &[DemandCharge]| {
            assert_eq!(demand.len(), 2);
            for (demand, (id, kw, at, days, charge)) in demand.iter().zip(expected) {
                assert_eq!(
                    (demand.year, demand.month, demand.tariff_id),
                    (2024, 11, id)
                );
                close(demand.peak_kw, kw);
                assert_eq!(demand.peak_at, local(at).and_utc());
                assert_eq!((demand.days_in_force, demand.days_in_month), (days, 30));
                assert_eq!(demand.days_in_range, days);
                close(demand.month_charge, charge);
                close(demand.charge, charge);
                assert!(demand.complete);
            }
        };

        // November as one monthly bucket: the charges as before.
        let monthly_quarters = quarters.map(|q| Quarter { bucket: 0, ..q });
        let monthly_days = days_between("2024-11-01", "2024-12-01", |_| 0);
        let monthly = cost(
            &monthly_quarters,
            &monthly_days,
            &tariffs,
            1,
            &settled(&quarters),
        )
        .unwrap();
        check(&monthly.demand);
        // Energy 0.60 + 1.00 + 0.60 = 2.20; standing 10 × 1.00 + 20 ×
        // 2.00 = 50.00; demand 20.00 + 32.00 = 52.00; 104.20 in all.
        let only = &monthly.buckets[0];
        close(only.energy_cost, 2.20);
        close(only.standing_charge, 50.0);
        close(only.demand_charge, 52.0);
        close(only.total, 104.20);
        close(monthly.totals.total, 104.20);
        close(monthly.totals.kwh, 10.0);
        let bands: Vec<_> = monthly
            .totals
            .bands
            .iter()
            .map(|b| (b.tariff_id, b.kwh, b.price_per_kwh))
            .collect();
        assert_eq!(bands, [(7, 8.0, 0.20), (8, 2.0, 0.30)]);

        // November as 30 daily buckets: each day of A owes 10 × 6 / 30 =
        // 2.00, each day of B 12 × 4 / 30 = 1.60.
        let days = days_between("2024-11-01", "2024-12-01", by_day);
        let daily = cost(&quarters, &days, &tariffs, 30, &settled(&quarters)).unwrap();
        check(&daily.demand);
        for (i, charges) in daily.buckets.iter().enumerate() {
            close(charges.demand_charge, if i < 10 { 2.0 } else { 1.6 });
        }
        close(daily.totals.demand_charge, 52.0);
        // Per bucket (energy, standing, demand, total): 11-08 0.60 + 1.00
        // + 2.00; 11-10 1.00 + 1.00 + 2.00; 11-11 0 + 2.00 + 1.60; 11-12
        // 0.60 + 2.00 + 1.60.
        for (i, (energy, standing, demand, total)) in [
            (7, (0.60, 1.0, 2.0, 3.60)),
            (9, (1.00, 1.0, 2.0, 4.00)),
            (10, (0.0, 2.0, 1.6, 3.60)),
            (11, (0.60, 2.0, 1.6, 4.20)),
        ] {
            let charges = &daily.buckets[i];
            close(charges.energy_cost, energy);
            close(charges.standing_charge, standing);
            close(charges.demand_charge, demand);
            close(charges.total, total);
        }
        close(daily.totals.total, 104.20);

        // Cut at 11-15, on the 15th: the month's peaks (all of November's
        // quarters), but only 14 days. A: 10 days × 2.00 = 20.00; B: 4
        // days (11-11 to 11-14) × 1.60 = 6.40. November is not over.
        let days = days_between("2024-11-01", "2024-11-15", by_day);
        let demand = DemandInput {
            month_quarters: &quarters,
            now: local("2024-11-15 00:00"),
        };
        let cut = cost(&quarters, &days, &tariffs, 14, &demand).unwrap();
        let cut_demand: Vec<_> = cut
            .demand
            .iter()
            .map(|d| (d.tariff_id, d.days_in_range, d.complete))
            .collect();
        assert_eq!(cut_demand, [(7, 10, false), (8, 4, false)]);
        close(cut.demand[0].charge, 20.0);
        close(cut.demand[1].charge, 6.40);
        close(cut.demand[1].month_charge, 32.0);
        close(cut.totals.demand_charge, 26.40);
    }

    #[test]
    fn the_demand_peak_is_the_highest_interval_in_the_window() {
        let tariff = seasonal();
        let tariffs = [in_force(1, "2024-01-01", None, &tariff)];
        // Monday 2024-01-15 (+60), all peak energy at 0.30.
        let quarters = [
            // 15:30: 10 kWh, 20 kW, but before the window.
            quarter("2024-01-15 15:30", 60, 10.0, 0),
            // 16:00: 2 + 1 = 3 kWh in 30 minutes, 6 kW: the peak.
            quarter("2024-01-15 16:00", 60, 2.0, 1),
            quarter("2024-01-15 16:15", 60, 1.0, 1),
            // 18:00: 6 kW too; the first one stays the peak.
            quarter("2024-01-15 18:00", 60, 1.5, 2),
            quarter("2024-01-15 18:15", 60, 1.5, 2),
            // 19:45 is in the 19:30 interval: 2.5 kWh, 5 kW.
            quarter("2024-01-15 19:45", 60, 2.5, 3),
            // 20:00: 5 kWh, 10 kW, but after the window.
            quarter("2024-01-15 20:00", 60, 5.0, 4),
        ];
        // The day, in the bucket of its midnight.
        let days = [day("2024-01-15", 0)];
        let cost = cost(&quarters, &days, &tariffs, 5, &settled(&quarters)).unwrap();
        assert_eq!(cost.demand.len(), 1);
        let demand = &cost.demand[0];
        close(demand.peak_kw, 6.0);
        assert_eq!(demand.peak_at, local("2024-01-15 15:00").and_utc());
        // The month 10 × 6 × 31/31 = 60.00; the day's share 60/31, in the
        // day's bucket, not the peak's.
        close(demand.month_charge, 60.0);
        close(demand.charge, 60.0 / 31.0);
        assert!(demand.complete);
        close(cost.buckets[0].demand_charge, 60.0 / 31.0);
        close(cost.buckets[1].demand_charge, 0.0);
        // 23.5 kWh × 0.30 = 7.05, plus 1.00 standing and 60/31.
        close(cost.totals.energy_cost, 7.05);
        close(cost.totals.total, 8.05 + 60.0 / 31.0);
    }

    #[test]
    fn a_range_owes_its_days_share_of_the_whole_months_peak() {
        // 0.20 a kWh, 1.00 a day, 10 a kW on hourly intervals all day.
        let tariff = flat("EUR", 0.20, 1.0, Some((10.0, 60, true)));
        let tariffs = [in_force(1, "2024-01-01", None, &tariff)];
        // November 2024 (+60, 30 days). Saturday 11-02 12:00–13:00: 4 × 2
        // kWh = 8 kWh in the hour, 8 kW, the month's peak. The range is
        // 11-10 and 11-11: 1 kWh at 12:00 each, 1 kW.
        let range_quarters = [
            quarter("2024-11-10 12:00", 60, 1.0, 0),
            quarter("2024-11-11 12:00", 60, 1.0, 1),
        ];
        let month_quarters: Vec<Quarter> = ["00", "15", "30", "45"]
            .iter()
            .map(|m| quarter(&format!("2024-11-02 12:{m}"), 60, 2.0, 99))
            .chain(range_quarters)
            .collect();
        let days = [day("2024-11-10", 0), day("2024-11-11", 1)];
        let demand = settled(&month_quarters);
        let cost = cost(&range_quarters, &days, &tariffs, 2, &demand).unwrap();
        assert_eq!(cost.demand.len(), 1);
        let d = &cost.demand[0];
        // The peak is 11-02's, 12:00 local = 11:00Z, not the range's 1 kW.
        close(d.peak_kw, 8.0);
        assert_eq!(d.peak_at, local("2024-11-02 11:00").and_utc());
        assert_eq!((d.days_in_force, d.days_in_month), (30, 30));
        assert_eq!(d.days_in_range, 2);
        // The month 10 × 8 × 30/30 = 80.00; the range 2 × 10 × 8 / 30 =
        // 16/3 ≈ 5.33, 8/3 a day in each day's bucket.
        close(d.month_charge, 80.0);
        close(d.charge, 16.0 / 3.0);
        assert!(d.complete);
        close(cost.buckets[0].demand_charge, 8.0 / 3.0);
        close(cost.buckets[1].demand_charge, 8.0 / 3.0);
        // Energy only from the range's quarters: 2 × 1 × 0.20 = 0.40; two
        // days' standing 2.00; 0.40 + 2.00 + 16/3.
        close(cost.totals.energy_cost, 0.40);
        close(cost.totals.kwh, 2.0);
        close(cost.totals.total, 2.40 + 16.0 / 3.0);

        // Thirty one-day queries, or two halves, add up to the month's
        // 80.00.
        let one_day: f64 = days_between("2024-11-01", "2024-12-01", |_| 0)
            .iter()
            .map(|day| {
                let cost = super::cost(&[], &[*day], &tariffs, 1, &demand).unwrap();
                close(cost.totals.demand_charge, 10.0 * 8.0 / 30.0);
                cost.totals.demand_charge
            })
            .sum();
        close(one_day, 80.0);
        let halves: f64 = [("2024-11-01", "2024-11-16"), ("2024-11-16", "2024-12-01")]
            .iter()
            .map(|(from, to)| {
                let days = days_between(from, to, |_| 0);
                let cost = super::cost(&[], &days, &tariffs, 1, &demand).unwrap();
                // 15 days × 8/3 = 40.00.
                close(cost.totals.demand_charge, 40.0);
                cost.totals.demand_charge
            })
            .sum();
        close(halves, 80.0);
        // A December day: December has no interval, so it owes nothing.
        let december = super::cost(&[], &[day("2024-12-02", 0)], &tariffs, 1, &demand).unwrap();
        assert!(december.demand.is_empty());
        close(december.totals.demand_charge, 0.0);
    }

    #[test]
    fn a_month_is_complete_once_it_is_over() {
        // 10 a kW on 15-minute intervals all day: 1 kWh at 12:00 on
        // Saturday 2024-02-10 (+60) is 4 kW; February 2024 has 29 days,
        // so the day owes 10 × 4 / 29 = 40/29 however late it is asked.
        let tariff = flat("EUR", 0.20, 1.0, Some((10.0, 15, true)));
        let tariffs = [in_force(1, "2024-01-01", None, &tariff)];
        let quarters = [quarter("2024-02-10 12:00", 60, 1.0, 0)];
        let days = [day("2024-02-10", 0)];
        for (now, complete) in [
            ("2024-02-10 12:00", false),
            ("2024-02-29 23:45", false),
            ("2024-03-01 00:00", true),
            ("2025-01-01 00:00", true),
        ] {
            let demand = DemandInput {
                month_quarters: &quarters,
                now: local(now),
            };
            let cost = cost(&quarters, &days, &tariffs, 1, &demand).unwrap();
            let d = &cost.demand[0];
            assert_eq!(d.complete, complete, "{now}");
            assert_eq!((d.days_in_month, d.days_in_range), (29, 1));
            close(d.charge, 40.0 / 29.0);
            close(d.month_charge, 40.0);
        }
    }

    #[test]
    fn energy_without_a_tariff_is_unpriced() {
        let tariff = seasonal();
        let tariffs = [in_force(1, "2024-02-01", None, &tariff)];
        // 2024-01-31 has no tariff: 2 kWh unpriced, no standing charge.
        // Thursday 2024-02-01 10:00 is peak: 1 × 0.30, plus 1.00 standing.
        let quarters = [
            quarter("2024-01-31 10:00", 60, 2.0, 0),
            quarter("2024-02-01 10:00", 60, 1.0, 1),
        ];
        let days = [day("2024-01-31", 0), day("2024-02-01", 1)];
        let cost = cost(&quarters, &days, &tariffs, 2, &settled(&quarters)).unwrap();
        close(cost.buckets[0].kwh, 2.0);
        close(cost.buckets[0].unpriced_kwh, 2.0);
        close(cost.buckets[0].total, 0.0);
        assert!(cost.buckets[0].bands.is_empty());
        close(cost.buckets[1].unpriced_kwh, 0.0);
        close(cost.buckets[1].total, 1.30);
        close(cost.totals.kwh, 3.0);
        close(cost.totals.unpriced_kwh, 2.0);
        close(cost.totals.total, 1.30);
        assert_eq!(cost.unpriced_days, [date("2024-01-31")]);
        // 02-01's tariff has demand, but February has no interval in its
        // window (10:00 is before 16:00): no demand charge.
        assert!(cost.demand.is_empty());
    }

    #[test]
    fn no_tariff_at_all_prices_nothing() {
        let quarters = [quarter("2024-01-15 10:00", 60, 2.0, 0)];
        let days = [day("2024-01-15", 0)];
        let cost = cost(&quarters, &days, &[], 1, &settled(&quarters)).unwrap();
        assert_eq!(cost.currency, None);
        close(cost.totals.unpriced_kwh, 2.0);
        close(cost.totals.total, 0.0);
        assert_eq!(cost.unpriced_days, [date("2024-01-15")]);
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let eur = flat("EUR", 0.2, 1.0, None);
        let usd = flat("USD", 0.2, 1.0, None);
        let tariffs = [
            in_force(1, "2024-01-01", Some("2024-02-01"), &eur),
            in_force(2, "2024-02-01", None, &usd),
        ];
        let err = cost(&[], &[], &tariffs, 0, &settled(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tariff 1 charges in EUR and tariff 2 in USD; costs can only be added up in one currency"
        );
    }

    #[test]
    fn overlapping_tariffs_are_refused() {
        let a = flat("EUR", 0.2, 1.0, None);
        let tariffs = [
            in_force(1, "2024-01-01", Some("2024-02-02"), &a),
            in_force(2, "2024-02-01", None, &a),
        ];
        let err = cost(&[], &[], &tariffs, 0, &settled(&[])).unwrap_err();
        assert_eq!(
            err,
            CostError::Overlapping {
                first: 1,
                second: 2,
                date: date("2024-02-01")
            }
        );
    }

    #[test]
    fn an_invalid_tariff_is_refused() {
        let mut a = flat("EUR", 0.2, 1.0, None);
        a.currency = "euro".into();
        let tariffs = [in_force(3, "2024-01-01", None, &a)];
        let err = cost(&[], &[], &tariffs, 0, &settled(&[])).unwrap_err();
        assert!(
            err.to_string().starts_with("tariff 3: tariff: currency"),
            "{err}"
        );
    }

    #[test]
    fn a_row_for_a_missing_bucket_is_refused() {
        let quarters = [quarter("2024-01-15 10:00", 60, 2.0, 3)];
        let err = cost(&quarters, &[], &[], 2, &settled(&quarters)).unwrap_err();
        assert_eq!(
            err,
            CostError::NoSuchBucket {
                bucket: 3,
                n_buckets: 2
            }
        );
    }
}
