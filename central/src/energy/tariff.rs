//! A tariff is data an operator types in, and a bill is only as right as
//! that data: so every rule pricing relies on (each day of the year in one
//! season, each quarter hour of each kind of day in one band) is checked
//! once, when the tariff is stored, with a message that says where and what
//! to fix. After that, pricing a quarter hour is a lookup that cannot miss.
//! Times are quarter hours because every UTC offset is a multiple of 15
//! minutes and energy is stored per quarter hour. The strings stay as the
//! operator wrote them, so a stored tariff reads back unchanged.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};
use serde::{Deserialize, Serialize};

/// At most this many seasons in a tariff.
pub const MAX_SEASONS: usize = 12;
/// At most this many bands in a season.
pub const MAX_BANDS: usize = 48;

const MAX_NAME_CHARS: usize = 64;
const MAX_PRICE_PER_KWH: f64 = 100.0;
const MAX_STANDING_CHARGE_PER_DAY: f64 = 100_000.0;
const MAX_PRICE_PER_KW: f64 = 100_000.0;
const DEMAND_INTERVAL_MINUTES: [u32; 3] = [15, 30, 60];
const QUARTERS_PER_DAY: u16 = 96;
/// Seasons are checked over a leap year, so that 02-29 has a season too.
const LEAP_YEAR: i32 = 2000;
const DAYS_IN_LEAP_YEAR: u32 = 366;

/// Why a tariff was refused; `to_string()` is meant for the API user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TariffError {
    /// The JSON does not have a tariff's shape (a missing or unknown field,
    /// a wrong type).
    #[error("tariff JSON at {path}: {problem}")]
    Shape { path: String, problem: String },
    /// The tariff breaks a rule.
    #[error("{place}: {problem}")]
    Invalid { place: String, problem: String },
}

fn invalid(place: impl Into<String>, problem: impl Into<String>) -> TariffError {
    TariffError::Invalid {
        place: place.into(),
        problem: problem.into(),
    }
}

/// What kind of day a date is, for choosing bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayType {
    Weekday,
    Weekend,
    Holiday,
}

impl DayType {
    const ALL: [DayType; 3] = [DayType::Weekday, DayType::Weekend, DayType::Holiday];

    fn label(self) -> &'static str {
        match self {
            DayType::Weekday => "weekday",
            DayType::Weekend => "weekend",
            DayType::Holiday => "holiday",
        }
    }

    /// The day type's place in `ALL` (and in a compiled tariff's tables).
    fn index(self) -> usize {
        match self {
            DayType::Weekday => 0,
            DayType::Weekend => 1,
            DayType::Holiday => 2,
        }
    }
}

/// The kind of day `date` is: a holiday whatever the weekday, else
/// Saturday and Sunday are the weekend.
pub fn day_type(date: NaiveDate, holiday: bool) -> DayType {
    if holiday {
        DayType::Holiday
    } else if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        DayType::Weekend
    } else {
        DayType::Weekday
    }
}

/// Prices for energy, per day and for the month's demand peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// ISO 4217 code, e.g. "EUR".
    pub currency: String,
    pub standing_charge_per_day: f64,
    /// Together they cover every day of the year exactly once.
    pub seasons: Vec<Season>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demand: Option<Demand>,
}

/// Part of the year, "MM-DD" to "MM-DD" inclusive; `from` after `to`
/// wraps over new year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Season {
    pub name: String,
    pub from: String,
    pub to: String,
    /// For each kind of day, they cover every quarter hour exactly once.
    pub bands: Vec<Band>,
}

/// A price for energy on some kinds of day, "HH:MM" to "HH:MM" (end
/// excluded, "24:00" allowed); `from` after `to` wraps past midnight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub name: String,
    pub days: Vec<DayType>,
    pub from: String,
    pub to: String,
    pub price_per_kwh: f64,
}

/// A monthly charge on the highest average power over `interval_minutes`
/// among the intervals that start in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    pub price_per_kw: f64,
    pub interval_minutes: u32,
    pub days: Vec<DayType>,
    pub from: String,
    pub to: String,
}

impl Tariff {
    /// The tariff in `v`, refused unless it is valid.
    pub fn from_json(v: &serde_json::Value) -> Result<Tariff, TariffError> {
        let tariff: Tariff =
            serde_path_to_error::deserialize(v).map_err(|e| TariffError::Shape {
                path: e.path().to_string(),
                problem: e.inner().to_string(),
            })?;
        tariff.validate()?;
        Ok(tariff)
    }

    /// Checks every rule; the first broken one is the error.
    pub fn validate(&self) -> Result<(), TariffError> {
        check_currency(&self.currency)?;
        check_amount(
            "tariff",
            "standing_charge_per_day",
            self.standing_charge_per_day,
            MAX_STANDING_CHARGE_PER_DAY,
        )?;
        check_count("tariff", "seasons", self.seasons.len(), MAX_SEASONS)?;
        let days = self
            .seasons
            .iter()
            .enumerate()
            .map(|(i, season)| season.check(i))
            .collect::<Result<Vec<_>, _>>()?;
        check_year_covered(&self.seasons, &days)?;
        if let Some(demand) = &self.demand {
            demand.check()?;
        }
        Ok(())
    }

    /// The season `date` falls in, by its month and day.
    pub fn season_on(&self, date: NaiveDate) -> Option<&Season> {
        let day = leap_year_day(date)?;
        self.seasons
            .iter()
            .find(|season| season.days().is_ok_and(|days| days.contains(day)))
    }

    /// The band that prices the quarter hour starting at `local`.
    pub fn band_at(&self, local: NaiveDateTime, holiday: bool) -> Option<&Band> {
        let day_type = day_type(local.date(), holiday);
        let quarter = quarter_of(local.time());
        self.season_on(local.date())?
            .bands
            .iter()
            .find(|band| band.applies(day_type, quarter))
    }

    /// The tariff's seasons, bands and demand window worked out once for
    /// every day of a leap year and every quarter hour of each kind of
    /// day, so that pricing many quarter hours parses no string.
    pub fn compile(&self) -> CompiledTariff<'_> {
        let seasons = (0..DAYS_IN_LEAP_YEAR)
            .map(|day| {
                self.seasons
                    .iter()
                    .position(|season| season.days().is_ok_and(|days| days.contains(day)))
            })
            .collect();
        let bands = self
            .seasons
            .iter()
            .map(|season| {
                // A time that does not parse (only in a tariff that was
                // never validated: `from_json` refuses it) is a window
                // that covers nothing, exactly as `band_at` treats it, so
                // the error is dropped rather than reported twice.
                let windows: Vec<Option<Window>> = season
                    .bands
                    .iter()
                    .map(|band| Window::parse(&band.from, &band.to).ok())
                    .collect();
                DayType::ALL.map(|day_type| {
                    (0..QUARTERS_PER_DAY)
                        .map(|quarter| {
                            season
                                .bands
                                .iter()
                                .zip(&windows)
                                .find(|(band, window)| {
                                    band.days.contains(&day_type)
                                        && window.is_some_and(|w| w.contains(quarter))
                                })
                                .map(|(band, _)| band)
                        })
                        .collect()
                })
            })
            .collect();
        let demand = self.demand.as_ref().map(|demand| {
            // As for bands: an unreadable window covers nothing, as in
            // `Demand::covers`.
            let window = Window::parse(&demand.from, &demand.to).ok();
            DayType::ALL.map(|day_type| {
                (0..QUARTERS_PER_DAY)
                    .map(|quarter| {
                        demand.days.contains(&day_type)
                            && window.is_some_and(|w| w.contains(quarter))
                    })
                    .collect()
            })
        });
        CompiledTariff {
            tariff: self,
            seasons,
            bands,
            demand,
        }
    }
}

/// A tariff as lookup tables (`Tariff::compile`): for every date and
/// quarter hour the same band as `Tariff::band_at` and the same demand
/// window as `Demand::covers`, without parsing a string.
#[derive(Debug, Clone)]
pub struct CompiledTariff<'a> {
    tariff: &'a Tariff,
    /// The index of each leap-year day's season (0 = 01-01).
    seasons: Vec<Option<usize>>,
    /// For each season, for each day type, each quarter hour's band.
    bands: Vec<[Vec<Option<&'a Band>>; 3]>,
    /// For each day type, whether an interval starting at each quarter
    /// hour is in the demand window; none without a demand charge.
    demand: Option<[Vec<bool>; 3]>,
}

impl<'a> CompiledTariff<'a> {
    /// The tariff compiled.
    pub fn tariff(&self) -> &'a Tariff {
        self.tariff
    }

    /// The band that prices the quarter hour starting at `local`, as
    /// `Tariff::band_at`.
    pub fn band_at(&self, local: NaiveDateTime, holiday: bool) -> Option<&'a Band> {
        let season = (*self.seasons.get(leap_day_index(local.date())?)?)?;
        let day_type = day_type(local.date(), holiday).index();
        let quarter = usize::from(quarter_of(local.time()));
        *self.bands.get(season)?.get(day_type)?.get(quarter)?
    }

    /// Whether a demand interval starting at `local` is in the window, as
    /// `Demand::covers`; false without a demand charge.
    pub fn demand_covers(&self, local: NaiveDateTime, holiday: bool) -> bool {
        let Some(demand) = &self.demand else {
            return false;
        };
        let day_type = day_type(local.date(), holiday).index();
        let quarter = usize::from(quarter_of(local.time()));
        demand
            .get(day_type)
            .and_then(|window| window.get(quarter))
            .is_some_and(|&covered| covered)
    }
}

impl Season {
    /// Checks the season on its own and returns the days it covers.
    fn check(&self, index: usize) -> Result<DayRange, TariffError> {
        check_name(&format!("season {}", index + 1), &self.name)?;
        let place = format!("season \"{}\"", self.name);
        let days = self.days().map_err(|problem| invalid(&place, problem))?;
        check_count(&place, "bands", self.bands.len(), MAX_BANDS)?;
        let windows = self
            .bands
            .iter()
            .enumerate()
            .map(|(i, band)| band.check(&place, i))
            .collect::<Result<Vec<_>, _>>()?;
        self.check_day_covered(&place, &windows)?;
        Ok(days)
    }

    fn days(&self) -> Result<DayRange, String> {
        Ok(DayRange {
            from: parse_month_day(&self.from).map_err(|e| format!("from {e}"))?,
            to: parse_month_day(&self.to).map_err(|e| format!("to {e}"))?,
        })
    }

    /// Exactly one band for each quarter hour of each kind of day.
    fn check_day_covered(&self, place: &str, windows: &[Window]) -> Result<(), TariffError> {
        for day_type in DayType::ALL {
            for quarter in 0..QUARTERS_PER_DAY {
                let mut applying = self
                    .bands
                    .iter()
                    .zip(windows)
                    .filter(|(band, window)| {
                        band.days.contains(&day_type) && window.contains(quarter)
                    })
                    .map(|(band, _)| &band.name);
                let place = || format!("{place}, {}", day_type.label());
                let time = quarter_label(quarter);
                match (applying.next(), applying.next()) {
                    (None, _) => {
                        return Err(invalid(
                            place(),
                            format!(
                                "the quarter hour from {time} is in no band; add a band or widen one to cover it"
                            ),
                        ));
                    }
                    (Some(first), Some(second)) => {
                        return Err(invalid(
                            place(),
                            format!(
                                "the quarter hour from {time} is in both band \"{first}\" and band \"{second}\"; change their times or days so that they do not overlap"
                            ),
                        ));
                    }
                    (Some(_), None) => {}
                }
            }
        }
        Ok(())
    }
}

impl Band {
    /// Checks the band on its own and returns its times.
    fn check(&self, season: &str, index: usize) -> Result<Window, TariffError> {
        check_name(&format!("band {} of {season}", index + 1), &self.name)?;
        let place = format!("band \"{}\" of {season}", self.name);
        check_days(&place, &self.days)?;
        check_amount(
            &place,
            "price_per_kwh",
            self.price_per_kwh,
            MAX_PRICE_PER_KWH,
        )?;
        Window::parse(&self.from, &self.to).map_err(|problem| invalid(&place, problem))
    }

    fn applies(&self, day_type: DayType, quarter: u16) -> bool {
        self.days.contains(&day_type)
            && Window::parse(&self.from, &self.to).is_ok_and(|window| window.contains(quarter))
    }
}

impl Demand {
    /// Whether an interval starting at `local` is in the demand window.
    pub fn covers(&self, local: NaiveDateTime, holiday: bool) -> bool {
        self.days.contains(&day_type(local.date(), holiday))
            && Window::parse(&self.from, &self.to)
                .is_ok_and(|window| window.contains(quarter_of(local.time())))
    }

    fn check(&self) -> Result<(), TariffError> {
        let place = "demand";
        check_amount(place, "price_per_kw", self.price_per_kw, MAX_PRICE_PER_KW)?;
        if !DEMAND_INTERVAL_MINUTES.contains(&self.interval_minutes) {
            return Err(invalid(
                place,
                format!(
                    "interval_minutes must be 15, 30 or 60, not {}",
                    self.interval_minutes
                ),
            ));
        }
        check_days(place, &self.days)?;
        Window::parse(&self.from, &self.to).map_err(|problem| invalid(place, problem))?;
        Ok(())
    }
}

/// Days of a leap year, 0 = 01-01, `from` to `to` inclusive.
#[derive(Debug, Clone, Copy)]
struct DayRange {
    from: u32,
    to: u32,
}

impl DayRange {
    fn contains(self, day: u32) -> bool {
        if self.from <= self.to {
            self.from <= day && day <= self.to
        } else {
            day >= self.from || day <= self.to
        }
    }
}

/// Quarter hours of a day, 0 = 00:00, `from` included, `to` excluded.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: u16,
    to: u16,
}

impl Window {
    fn parse(from: &str, to: &str) -> Result<Self, String> {
        let window = Window {
            from: parse_time(from, false).map_err(|e| format!("from {e}"))?,
            to: parse_time(to, true).map_err(|e| format!("to {e}"))?,
        };
        if window.from == window.to {
            return Err(format!(
                "from and to are both \"{from}\", an empty period; use \"00:00\" to \"24:00\" for all day"
            ));
        }
        Ok(window)
    }

    fn contains(self, quarter: u16) -> bool {
        if self.from < self.to {
            self.from <= quarter && quarter < self.to
        } else {
            quarter >= self.from || quarter < self.to
        }
    }
}

fn check_currency(currency: &str) -> Result<(), TariffError> {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(invalid(
            "tariff",
            format!(
                "currency must be an ISO 4217 code of 3 capital letters such as \"EUR\", not \"{currency}\""
            ),
        ))
    }
}

fn check_amount(place: &str, field: &str, value: f64, max: f64) -> Result<(), TariffError> {
    if value.is_finite() && (0.0..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            place,
            format!("{field} must be a number from 0 to {max}, not {value}"),
        ))
    }
}

fn check_count(place: &str, field: &str, count: usize, max: usize) -> Result<(), TariffError> {
    if (1..=max).contains(&count) {
        Ok(())
    } else {
        Err(invalid(
            place,
            format!("{field} must have 1 to {max} entries, not {count}"),
        ))
    }
}

fn check_name(place: &str, name: &str) -> Result<(), TariffError> {
    let chars = name.chars().count();
    if (1..=MAX_NAME_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(invalid(
            place,
            format!("name must have 1 to {MAX_NAME_CHARS} characters, not {chars}"),
        ))
    }
}

fn check_days(place: &str, days: &[DayType]) -> Result<(), TariffError> {
    if days.is_empty() {
        return Err(invalid(
            place,
            "days is empty; list at least one of weekday, weekend, holiday",
        ));
    }
    for (i, day) in days.iter().enumerate() {
        if days[..i].contains(day) {
            return Err(invalid(
                place,
                format!("days lists {} twice; list it once", day.label()),
            ));
        }
    }
    Ok(())
}

/// Exactly one season for each day of a leap year.
fn check_year_covered(seasons: &[Season], days: &[DayRange]) -> Result<(), TariffError> {
    for day in 0..DAYS_IN_LEAP_YEAR {
        let mut holding = seasons
            .iter()
            .zip(days)
            .filter(|(_, range)| range.contains(day))
            .map(|(season, _)| &season.name);
        let date = month_day_label(day);
        match (holding.next(), holding.next()) {
            (None, _) => {
                return Err(invalid(
                    "seasons",
                    format!("{date} is in no season; move a season's from or to to cover it"),
                ));
            }
            (Some(first), Some(second)) => {
                return Err(invalid(
                    "seasons",
                    format!(
                        "{date} is in both season \"{first}\" and season \"{second}\"; change their dates so that they do not overlap"
                    ),
                ));
            }
            (Some(_), None) => {}
        }
    }
    Ok(())
}

/// "HH:MM" on a quarter hour as the number of quarter hours since
/// midnight; "24:00" only where the period ends (`end`).
fn parse_time(text: &str, end: bool) -> Result<u16, String> {
    let shape = || format!("\"{text}\" is not a time; write HH:MM, e.g. \"07:00\"");
    let (hours, minutes) = text.split_once(':').ok_or_else(shape)?;
    let hours = two_digits(hours).ok_or_else(shape)?;
    let minutes = two_digits(minutes).ok_or_else(shape)?;
    if minutes >= 60 || minutes % 15 != 0 {
        return Err(format!(
            "\"{text}\": minutes must be 00, 15, 30 or 45 (prices change on quarter hours)"
        ));
    }
    if hours > 24 || (hours == 24 && minutes != 0) {
        return Err(format!("\"{text}\": the time must be from 00:00 to 24:00"));
    }
    if hours == 24 && !end {
        return Err(format!(
            "\"{text}\" can only end a period; start at \"00:00\" instead"
        ));
    }
    Ok(hours * 4 + minutes / 15)
}

/// "MM-DD", a day of a leap year, as its index from 01-01 = 0.
fn parse_month_day(text: &str) -> Result<u32, String> {
    let shape = || format!("\"{text}\" is not a day of the year; write MM-DD, e.g. \"10-01\"");
    let (month, day) = text.split_once('-').ok_or_else(shape)?;
    let month = two_digits(month).ok_or_else(shape)?;
    let day = two_digits(day).ok_or_else(shape)?;
    NaiveDate::from_ymd_opt(LEAP_YEAR, month.into(), day.into())
        .map(|date| date.ordinal0())
        .ok_or_else(shape)
}

fn two_digits(text: &str) -> Option<u16> {
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// `date`'s month and day as an index into a leap year (what seasons use).
fn leap_year_day(date: NaiveDate) -> Option<u32> {
    NaiveDate::from_ymd_opt(LEAP_YEAR, date.month(), date.day()).map(|d| d.ordinal0())
}

/// Days of a leap year before the first of each month.
const LEAP_YEAR_MONTH_STARTS: [u32; 12] = [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335];

/// `leap_year_day` by table, as an index.
fn leap_day_index(date: NaiveDate) -> Option<usize> {
    let month_start = LEAP_YEAR_MONTH_STARTS.get(usize::try_from(date.month0()).ok()?)?;
    usize::try_from(month_start + date.day0()).ok()
}

/// The quarter hour of the day `time` falls in.
fn quarter_of(time: NaiveTime) -> u16 {
    // At most 23 * 4 + 3: always fits.
    u16::try_from(time.hour() * 4 + time.minute() / 15).unwrap_or(QUARTERS_PER_DAY - 1)
}

fn quarter_label(quarter: u16) -> String {
    format!("{:02}:{:02}", quarter / 4, quarter % 4 * 15)
}

fn month_day_label(day: u32) -> String {
    NaiveDate::from_yo_opt(LEAP_YEAR, day + 1)
        .map(|date| date.format("%m-%d").to_string())
        .unwrap_or_else(|| format!("day {}", day + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The brief's example: winter wraps over new year, the weekday night
    /// band wraps past midnight.
    fn example() -> Value {
        json!({
            "currency": "EUR",
            "standing_charge_per_day": 1.2,
            "seasons": [
                {"name": "winter", "from": "10-01", "to": "03-31", "bands": [
                    {"name": "peak", "days": ["weekday"], "from": "07:00", "to": "23:00", "price_per_kwh": 0.30},
                    {"name": "night", "days": ["weekday"], "from": "23:00", "to": "07:00", "price_per_kwh": 0.12},
                    {"name": "off_peak", "days": ["weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": 0.15}
                ]},
                {"name": "summer", "from": "04-01", "to": "09-30", "bands": [
                    {"name": "peak", "days": ["weekday"], "from": "07:00", "to": "23:00", "price_per_kwh": 0.25},
                    {"name": "night", "days": ["weekday"], "from": "23:00", "to": "07:00", "price_per_kwh": 0.10},
                    {"name": "off_peak", "days": ["weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": 0.13}
                ]}
            ],
            "demand": {"price_per_kw": 9.5, "interval_minutes": 30, "days": ["weekday"], "from": "16:00", "to": "20:00"}
        })
    }

    /// The message `example()` changed by `edit` is refused with.
    fn refused(edit: impl FnOnce(&mut Value)) -> String {
        let mut v = example();
        edit(&mut v);
        Tariff::from_json(&v).unwrap_err().to_string()
    }

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn the_example_parses_and_round_trips() {
        let tariff = Tariff::from_json(&example()).unwrap();
        assert_eq!(tariff.currency, "EUR");
        assert_eq!(tariff.seasons.len(), 2);
        assert_eq!(tariff.seasons[0].bands[1].days, vec![DayType::Weekday]);
        assert_eq!(tariff.demand.as_ref().unwrap().interval_minutes, 30);
        assert_eq!(serde_json::to_value(&tariff).unwrap(), example());
    }

    #[test]
    fn a_tariff_without_demand_round_trips_without_it() {
        let mut v = example();
        v.as_object_mut().unwrap().remove("demand");
        let tariff = Tariff::from_json(&v).unwrap();
        assert_eq!(tariff.demand, None);
        assert_eq!(serde_json::to_value(&tariff).unwrap(), v);
    }

    #[test]
    fn an_uncovered_quarter_hour_is_named() {
        // Night ends at 06:45, peak starts at 07:00: weekdays 06:45–07:00
        // have no band.
        let msg = refused(|v| v["seasons"][0]["bands"][1]["to"] = json!("06:45"));
        assert_eq!(
            msg,
            "season \"winter\", weekday: the quarter hour from 06:45 is in no band; add a band or widen one to cover it"
        );
    }

    #[test]
    fn overlapping_bands_are_named() {
        // Night from 22:45: 22:45–23:00 is in peak (07:00–23:00) too.
        let msg = refused(|v| v["seasons"][1]["bands"][1]["from"] = json!("22:45"));
        assert_eq!(
            msg,
            "season \"summer\", weekday: the quarter hour from 22:45 is in both band \"peak\" and band \"night\"; change their times or days so that they do not overlap"
        );
    }

    #[test]
    fn a_day_type_without_bands_is_named() {
        // Off-peak only on weekends: holidays have no band at all, first
        // gap at 00:00.
        let msg = refused(|v| v["seasons"][0]["bands"][2]["days"] = json!(["weekend"]));
        assert!(
            msg.starts_with(
                "season \"winter\", holiday: the quarter hour from 00:00 is in no band"
            ),
            "{msg}"
        );
    }

    #[test]
    fn an_uncovered_leap_day_is_named() {
        // Winter ends 02-28, summer starts 03-01: 02-29 has no season.
        let msg = refused(|v| {
            v["seasons"][0]["to"] = json!("02-28");
            v["seasons"][1]["from"] = json!("03-01");
        });
        assert_eq!(
            msg,
            "seasons: 02-29 is in no season; move a season's from or to to cover it"
        );
    }

    #[test]
    fn a_gap_between_seasons_is_named() {
        // Summer from 04-02: 04-01 is in neither.
        let msg = refused(|v| v["seasons"][1]["from"] = json!("04-02"));
        assert!(msg.starts_with("seasons: 04-01 is in no season"), "{msg}");
    }

    #[test]
    fn overlapping_seasons_are_named() {
        // Summer to 10-01: 10-01 is also winter's first day.
        let msg = refused(|v| v["seasons"][1]["to"] = json!("10-01"));
        assert_eq!(
            msg,
            "seasons: 10-01 is in both season \"winter\" and season \"summer\"; change their dates so that they do not overlap"
        );
    }

    #[test]
    fn a_time_off_the_quarter_hour_is_refused() {
        let msg = refused(|v| v["seasons"][0]["bands"][0]["from"] = json!("07:10"));
        assert_eq!(
            msg,
            "band \"peak\" of season \"winter\": from \"07:10\": minutes must be 00, 15, 30 or 45 (prices change on quarter hours)"
        );
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in [
            "7:00", "07-00", "0700", "ab:cd", "25:00", "24:15", "07:60", "+7:00",
        ] {
            let msg = refused(|v| v["seasons"][0]["bands"][0]["to"] = json!(bad));
            assert!(
                msg.starts_with(&format!("band \"peak\" of season \"winter\": to \"{bad}\"")),
                "{bad}: {msg}"
            );
        }
    }

    #[test]
    fn twenty_four_hundred_only_ends_a_period() {
        let msg = refused(|v| v["seasons"][0]["bands"][2]["from"] = json!("24:00"));
        assert_eq!(
            msg,
            "band \"off_peak\" of season \"winter\": from \"24:00\" can only end a period; start at \"00:00\" instead"
        );
    }

    #[test]
    fn an_empty_period_is_refused() {
        let msg = refused(|v| {
            v["seasons"][0]["bands"][2]["from"] = json!("00:00");
            v["seasons"][0]["bands"][2]["to"] = json!("00:00");
        });
        assert_eq!(
            msg,
            "band \"off_peak\" of season \"winter\": from and to are both \"00:00\", an empty period; use \"00:00\" to \"24:00\" for all day"
        );
    }

    #[test]
    fn a_band_ending_at_midnight_as_00_00_wraps() {
        // 07:00–00:00 is 07:00–24:00 written the other way.
        let mut v = example();
        v["seasons"][0]["bands"][0]["to"] = json!("00:00");
        v["seasons"][0]["bands"][1]["from"] = json!("00:00");
        let tariff = Tariff::from_json(&v).unwrap();
        let band = tariff.band_at(at("2024-01-15 23:45"), false).unwrap();
        assert_eq!(band.name, "peak");
    }

    #[test]
    fn currencies_must_look_like_iso_4217() {
        for bad in ["eur", "EURO", "EU", "€UR", ""] {
            let msg = refused(|v| v["currency"] = json!(bad));
            assert_eq!(
                msg,
                format!(
                    "tariff: currency must be an ISO 4217 code of 3 capital letters such as \"EUR\", not \"{bad}\""
                )
            );
        }
    }

    #[test]
    fn prices_must_be_from_zero_to_the_maximum() {
        let msg = refused(|v| v["seasons"][1]["bands"][0]["price_per_kwh"] = json!(-0.01));
        assert_eq!(
            msg,
            "band \"peak\" of season \"summer\": price_per_kwh must be a number from 0 to 100, not -0.01"
        );
        let msg = refused(|v| v["seasons"][1]["bands"][0]["price_per_kwh"] = json!(100.5));
        assert!(msg.ends_with("not 100.5"), "{msg}");
        let msg = refused(|v| v["standing_charge_per_day"] = json!(-1));
        assert_eq!(
            msg,
            "tariff: standing_charge_per_day must be a number from 0 to 100000, not -1"
        );
        let msg = refused(|v| v["demand"]["price_per_kw"] = json!(100001));
        assert_eq!(
            msg,
            "demand: price_per_kw must be a number from 0 to 100000, not 100001"
        );
    }

    #[test]
    fn a_price_that_is_not_finite_is_refused() {
        let mut tariff = Tariff::from_json(&example()).unwrap();
        tariff.seasons[0].bands[0].price_per_kwh = f64::NAN;
        let msg = tariff.validate().unwrap_err().to_string();
        assert_eq!(
            msg,
            "band \"peak\" of season \"winter\": price_per_kwh must be a number from 0 to 100, not NaN"
        );
    }

    #[test]
    fn unknown_fields_are_refused_with_their_path() {
        let msg = refused(|v| v["seasons"][1]["bands"][2]["colour"] = json!("green"));
        assert!(
            msg.starts_with("tariff JSON at seasons[1].bands[2].colour: unknown field `colour`"),
            "{msg}"
        );
        let msg = refused(|v| v["demand"]["days"] = json!(["weekday", "sunday"]));
        assert!(
            msg.starts_with("tariff JSON at demand.days[1]: unknown variant `sunday`"),
            "{msg}"
        );
    }

    #[test]
    fn days_must_be_listed_once_each() {
        let msg = refused(|v| v["seasons"][0]["bands"][0]["days"] = json!([]));
        assert_eq!(
            msg,
            "band \"peak\" of season \"winter\": days is empty; list at least one of weekday, weekend, holiday"
        );
        let msg = refused(|v| v["demand"]["days"] = json!(["weekday", "weekday"]));
        assert_eq!(msg, "demand: days lists weekday twice; list it once");
    }

    #[test]
    fn demand_intervals_are_15_30_or_60_minutes() {
        let msg = refused(|v| v["demand"]["interval_minutes"] = json!(20));
        assert_eq!(msg, "demand: interval_minutes must be 15, 30 or 60, not 20");
        let msg = refused(|v| v["demand"]["to"] = json!("20:05"));
        assert!(
            msg.starts_with("demand: to \"20:05\": minutes must be"),
            "{msg}"
        );
    }

    #[test]
    fn names_have_1_to_64_characters() {
        let msg = refused(|v| v["seasons"][1]["name"] = json!(""));
        assert_eq!(msg, "season 2: name must have 1 to 64 characters, not 0");
        let msg = refused(|v| v["seasons"][0]["bands"][2]["name"] = json!("é".repeat(65)));
        assert_eq!(
            msg,
            "band 3 of season \"winter\": name must have 1 to 64 characters, not 65"
        );
        let mut v = example();
        v["seasons"][0]["bands"][2]["name"] = json!("é".repeat(64));
        assert!(Tariff::from_json(&v).is_ok());
    }

    #[test]
    fn seasons_and_bands_are_limited_in_number() {
        let msg = refused(|v| v["seasons"] = json!([]));
        assert_eq!(msg, "tariff: seasons must have 1 to 12 entries, not 0");
        let msg = refused(|v| {
            let one = v["seasons"][0].clone();
            v["seasons"] = Value::Array(vec![one; 13]);
        });
        assert_eq!(msg, "tariff: seasons must have 1 to 12 entries, not 13");
        let msg = refused(|v| {
            let one = v["seasons"][0]["bands"][0].clone();
            v["seasons"][0]["bands"] = Value::Array(vec![one; 49]);
        });
        assert_eq!(
            msg,
            "season \"winter\": bands must have 1 to 48 entries, not 49"
        );
    }

    #[test]
    fn season_dates_must_be_days_of_a_leap_year() {
        let msg = refused(|v| v["seasons"][0]["to"] = json!("02-30"));
        assert_eq!(
            msg,
            "season \"winter\": to \"02-30\" is not a day of the year; write MM-DD, e.g. \"10-01\""
        );
        let msg = refused(|v| v["seasons"][0]["from"] = json!("10/01"));
        assert!(
            msg.starts_with("season \"winter\": from \"10/01\""),
            "{msg}"
        );
    }

    #[test]
    fn a_one_season_year_from_01_01_to_12_31_is_valid() {
        let v = json!({
            "currency": "CHF",
            "standing_charge_per_day": 0,
            "seasons": [{"name": "all year", "from": "01-01", "to": "12-31", "bands": [
                {"name": "flat", "days": ["weekday", "weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": 0.2}
            ]}]
        });
        assert!(Tariff::from_json(&v).is_ok());
    }

    #[test]
    fn day_types() {
        // 2024-01-15 is a Monday, 2024-01-20 a Saturday, 2024-01-21 a Sunday.
        let date = |d| NaiveDate::from_ymd_opt(2024, 1, d).unwrap();
        assert_eq!(day_type(date(15), false), DayType::Weekday);
        assert_eq!(day_type(date(19), false), DayType::Weekday);
        assert_eq!(day_type(date(20), false), DayType::Weekend);
        assert_eq!(day_type(date(21), false), DayType::Weekend);
        assert_eq!(day_type(date(15), true), DayType::Holiday);
        assert_eq!(day_type(date(20), true), DayType::Holiday);
    }

    #[test]
    fn bands_on_a_weekday_around_their_edges() {
        let tariff = Tariff::from_json(&example()).unwrap();
        // Monday 2024-01-15, winter: night until 07:00, peak 07:00–23:00.
        for (time, name, price) in [
            ("06:45", "night", 0.12),
            ("07:00", "peak", 0.30),
            ("22:45", "peak", 0.30),
            ("23:00", "night", 0.12),
            ("00:00", "night", 0.12),
            ("23:50", "night", 0.12),
        ] {
            let band = tariff
                .band_at(at(&format!("2024-01-15 {time}")), false)
                .unwrap();
            assert_eq!(
                (band.name.as_str(), band.price_per_kwh),
                (name, price),
                "{time}"
            );
        }
    }

    #[test]
    fn bands_on_a_saturday_and_on_a_weekday_holiday() {
        let tariff = Tariff::from_json(&example()).unwrap();
        // Saturday 2024-01-20 and Wednesday 2024-01-17 as a holiday: off
        // peak (0.15) at every time a weekday would be night or peak.
        for day in ["2024-01-20", "2024-01-17"] {
            for time in ["06:45", "07:00", "22:45", "23:00"] {
                let band = tariff
                    .band_at(at(&format!("{day} {time}")), day == "2024-01-17")
                    .unwrap();
                assert_eq!((band.name.as_str(), band.price_per_kwh), ("off_peak", 0.15));
            }
        }
        // The same Wednesday, not a holiday, is priced as a weekday.
        let band = tariff.band_at(at("2024-01-17 07:00"), false).unwrap();
        assert_eq!(band.name, "peak");
    }

    #[test]
    fn the_season_changes_at_midnight_after_03_31() {
        let tariff = Tariff::from_json(&example()).unwrap();
        // Sunday 2024-03-31 23:45 is winter off peak (0.15); Monday
        // 2024-04-01 00:00 is summer night (0.10).
        let before = tariff.band_at(at("2024-03-31 23:45"), false).unwrap();
        assert_eq!(
            (before.name.as_str(), before.price_per_kwh),
            ("off_peak", 0.15)
        );
        let after = tariff.band_at(at("2024-04-01 00:00"), false).unwrap();
        assert_eq!((after.name.as_str(), after.price_per_kwh), ("night", 0.10));
        assert_eq!(
            tariff
                .season_on(at("2024-03-31 00:00").date())
                .unwrap()
                .name,
            "winter"
        );
        assert_eq!(
            tariff
                .season_on(at("2024-04-01 00:00").date())
                .unwrap()
                .name,
            "summer"
        );
        // The winter season wraps over new year: 12-31 and 01-01 are winter,
        // and a non-leap year's 02-28 and 03-01 too.
        for day in [
            "2023-12-31 12:00",
            "2024-01-01 12:00",
            "2023-02-28 12:00",
            "2023-03-01 12:00",
        ] {
            assert_eq!(
                tariff.season_on(at(day).date()).unwrap().name,
                "winter",
                "{day}"
            );
        }
    }

    #[test]
    fn a_compiled_tariff_agrees_with_band_at_and_covers() {
        let mut midnight = example();
        midnight["seasons"][0]["bands"][0]["to"] = json!("00:00");
        midnight["seasons"][0]["bands"][1]["from"] = json!("00:00");
        midnight["demand"] = json!({"price_per_kw": 3, "interval_minutes": 60,
            "days": ["weekend", "holiday"], "from": "22:00", "to": "06:00"});
        let mut no_demand = example();
        no_demand.as_object_mut().unwrap().remove("demand");
        // Three seasons, one of them a single day (02-29), and a band
        // that ends at 24:00.
        let three = json!({
            "currency": "CHF",
            "standing_charge_per_day": 0,
            "seasons": [
                {"name": "leap", "from": "02-29", "to": "02-29", "bands": [
                    {"name": "all", "days": ["weekday", "weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": 1}
                ]},
                {"name": "spring", "from": "03-01", "to": "06-15", "bands": [
                    {"name": "day", "days": ["weekday", "holiday"], "from": "06:15", "to": "24:00", "price_per_kwh": 0.3},
                    {"name": "early", "days": ["weekday", "holiday"], "from": "00:00", "to": "06:15", "price_per_kwh": 0.1},
                    {"name": "weekend", "days": ["weekend"], "from": "00:00", "to": "24:00", "price_per_kwh": 0.2}
                ]},
                {"name": "rest", "from": "06-16", "to": "02-28", "bands": [
                    {"name": "flat", "days": ["weekday", "weekend", "holiday"], "from": "00:00", "to": "24:00", "price_per_kwh": 0.25}
                ]}
            ],
            "demand": {"price_per_kw": 1, "interval_minutes": 15, "days": ["weekday"], "from": "00:00", "to": "24:00"}
        });
        let mut tariffs: Vec<Tariff> = [example(), midnight, no_demand, three]
            .iter()
            .map(|v| Tariff::from_json(v).unwrap())
            .collect();
        // Not valid (bands overlap 22:45–23:00, summer misses 04-01): the
        // first band and season that match win, in both.
        let mut invalid: Value = example();
        invalid["seasons"][1]["bands"][1]["from"] = json!("22:45");
        invalid["seasons"][1]["from"] = json!("04-02");
        tariffs.push(serde_json::from_value(invalid).unwrap());
        let ptr = |band: Option<&Band>| band.map(|b| b as *const Band);
        for tariff in &tariffs {
            let compiled = tariff.compile();
            assert!(std::ptr::eq(compiled.tariff(), tariff));
            // Every quarter hour of 2024 (a leap year), each day as itself
            // (a weekday or the weekend) and as a holiday.
            let mut day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
            while day.year() == 2024 {
                for holiday in [false, true] {
                    for quarter in 0..96 {
                        let local =
                            day.and_time(NaiveTime::MIN) + chrono::Duration::minutes(15 * quarter);
                        assert_eq!(
                            ptr(compiled.band_at(local, holiday)),
                            ptr(tariff.band_at(local, holiday)),
                            "{local} holiday {holiday}"
                        );
                        assert_eq!(
                            compiled.demand_covers(local, holiday),
                            tariff
                                .demand
                                .as_ref()
                                .is_some_and(|d| d.covers(local, holiday)),
                            "{local} holiday {holiday}"
                        );
                    }
                }
                day = day.succ_opt().unwrap();
            }
        }
        // The invalid one has no band on 2024-04-01 (no season): nor has
        // the compiled one, as checked above.
        assert!(tariffs[4].band_at(at("2024-04-01 12:00"), false).is_none());
    }

    #[test]
    fn the_demand_window() {
        let tariff = Tariff::from_json(&example()).unwrap();
        let demand = tariff.demand.as_ref().unwrap();
        // Weekdays 16:00–20:00: intervals starting 16:00 and 19:30 are in,
        // 15:45 and 20:00 are not; not on a Saturday nor on a holiday.
        assert!(demand.covers(at("2024-01-15 16:00"), false));
        assert!(demand.covers(at("2024-01-15 19:30"), false));
        assert!(!demand.covers(at("2024-01-15 15:45"), false));
        assert!(!demand.covers(at("2024-01-15 20:00"), false));
        assert!(!demand.covers(at("2024-01-20 17:00"), false));
        assert!(!demand.covers(at("2024-01-17 17:00"), true));
    }
}
