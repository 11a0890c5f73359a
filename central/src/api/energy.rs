//! `/api/v1/energy/*` reads: energy now and over time, what it cost,
//! what it emitted, targets' progress, and the KPIs only a system that
//! counts people can give (kWh per occupant-hour, energy used where and
//! when nobody was there, a baseline that says how much of a change
//! occupancy explains). Everything needs `energy:read`; the definitions
//! are in docs/ref/energy.md.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::perm;
use crate::caller::CanAtSite;
use crate::energy::baseline::{self, DayPoint, Explanation, Model};
use crate::energy::carbon::Emissions;
use crate::energy::cost;
use crate::energy::meters::{self, SiteNow};
pub use crate::energy_view::{
    CarbonOf, Metered, Target, TariffUsed, carbon_of, cost_of, site_for, site_not_found,
    target_view,
};
use crate::error::ApiError;
use crate::http::extract::Query;
use crate::store::energy::{self as store, Site, Unit};
use crate::store::energy_config as config;

fn meter_not_found(id: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "METER_NOT_FOUND",
        format!("no power meter {id:?} at this site"),
    )
    .with_details(serde_json::json!({"device_id": id, "suggestion": "GET /api/v1/devices?kind=power_meter lists them"}))
}

/// The site and the meters a query sums: `device_id` (a meter of the
/// site) or the site's main meters.
async fn scope(
    client: &impl GenericClient,
    who_site: Option<String>,
    device: Option<&str>,
) -> Result<(Site, Vec<String>), ApiError> {
    match device {
        Some(id) => {
            let row = client
                .query_opt(
                    "SELECT site_id FROM devices WHERE id = $1 AND kind = 'power_meter'",
                    &[&id],
                )
                .await?;
            let meter_site: String = row.ok_or_else(|| meter_not_found(id))?.try_get("site_id")?;
            if who_site.as_ref().is_some_and(|s| *s != meter_site) {
                return Err(meter_not_found(id));
            }
            let site = site_for(client, Some(meter_site)).await?;
            Ok((site, vec![id.to_owned()]))
        }
        None => {
            let site = site_for(client, who_site).await?;
            let meters = store::main_meters(client, &site.id).await?;
            Ok((site, meters))
        }
    }
}

// ---------------------------------------------------------------- current

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SiteOnly {
    /// A site; without it, every site with meters the caller may see.
    pub site_id: Option<String>,
}

/// Each site's energy now.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnergyNow {
    pub data: Vec<SiteNow>,
}

/// kW now and kWh today per site, with the meter tree and each meter's
/// unmetered remainder.
#[utoipa::path(get, path = "/api/v1/energy/current", tag = "energy", params(SiteOnly), security(("bearer" = ["energy:read"])),
    responses(
        (status = 200, description = "Per site", body = EnergyNow),
        (status = 404, description = "Unknown site", body = crate::error::ErrorBody),
    ))]
pub async fn current(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<SiteOnly>,
) -> Result<axum::Json<EnergyNow>, ApiError> {
    let site = who.site(q.site_id)?;
    let client = state.pool.get().await?;
    let sites = match site {
        Some(id) => vec![
            store::site(&client, &id)
                .await?
                .ok_or_else(|| site_not_found(&id))?,
        ],
        None => store::metered_sites(&client).await?,
    };
    let now = state.clock.now();
    let mut data = Vec::with_capacity(sites.len());
    for s in &sites {
        let (rows, day_start) = store::meters_now(&client, s, now).await?;
        data.push(meters::tree(
            &s.id,
            &s.name,
            &s.timezone,
            &rows,
            day_start,
            now,
        ));
    }
    Ok(axum::Json(EnergyNow { data }))
}

// ---------------------------------------------------------------- history

/// Calendar buckets in the site's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Hour,
    Day,
    /// Monday to Monday.
    Week,
    Month,
    Year,
}

impl Interval {
    fn unit(self) -> Unit {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    /// Default and longest range.
    fn spans(self) -> (Duration, Duration) {
        match self {
            Self::Hour => (Duration::hours(24), Duration::days(93)),
            Self::Day => (Duration::days(30), Duration::days(400)),
            Self::Week => (Duration::weeks(12), Duration::days(800)),
            Self::Month | Self::Year => (Duration::days(365), Duration::days(3700)),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// A site (its main meters summed).
    pub site_id: Option<String>,
    /// One meter instead (its site is implied).
    pub device_id: Option<String>,
    /// Widened down to the start of its bucket in the site's zone.
    /// Default: 24 hours, 30 days, 12 weeks or a year before `end_time`.
    pub start_time: Option<DateTime<Utc>>,
    /// Widened up to the end of its bucket. Default: now.
    pub end_time: Option<DateTime<Utc>>,
    /// hour, day (default), week, month or year (year: cost and carbon).
    #[param(inline)]
    pub interval: Option<Interval>,
}

/// What history, cost and carbon share: the site and the meters asked
/// for, and the range (default: ending now) widened to whole `interval`s
/// in the site's zone.
struct Ranged {
    site: Site,
    meters: Vec<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

async fn ranged(
    client: &impl GenericClient,
    who_site: Option<String>,
    q: &RangeQuery,
    interval: Interval,
    now: DateTime<Utc>,
) -> Result<Ranged, ApiError> {
    let (site, meters) = scope(client, who_site, q.device_id.as_deref()).await?;
    let (span, max) = interval.spans();
    let (start, end) = crate::http::time::range(q.start_time, q.end_time.or(Some(now)), span, max)?;
    let (start, end) = store::snap(client, &site.timezone, interval.unit(), start, end).await?;
    Ok(Ranged {
        site,
        meters,
        start,
        end,
    })
}

impl RangeQuery {
    /// The interval asked for (or `default`), refusing `refused` with `why`.
    fn interval(
        &self,
        default: Interval,
        refused: Option<(Interval, &str)>,
    ) -> Result<Interval, ApiError> {
        let interval = self.interval.unwrap_or(default);
        match refused {
            Some((no, why)) if no == interval => Err(ApiError::bad_request(why)),
            _ => Ok(interval),
        }
    }
}

/// One bucket of energy.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryBucket {
    pub start: DateTime<Utc>,
    /// Its start on the site's clock.
    #[schema(value_type = String, example = "2026-03-29T00:00:00")]
    pub local_start: NaiveDateTime,
    /// Real length (a DST day is 23 or 25).
    pub hours: f64,
    pub kwh: f64,
    pub export_kwh: f64,
    /// kwh / hours.
    pub avg_kw: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pub site_id: String,
    pub device_id: Option<String>,
    pub timezone: String,
    pub interval: Interval,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub total_kwh: f64,
    /// Buckets with readings, oldest first.
    pub data: Vec<HistoryBucket>,
}

/// Energy per hour, day, week or month in the site's zone.
#[utoipa::path(get, path = "/api/v1/energy/history", tag = "energy", params(RangeQuery), security(("bearer" = ["energy:read"])),
    responses(
        (status = 200, description = "Buckets, oldest first", body = History),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site or meter", body = crate::error::ErrorBody),
    ))]
pub async fn history(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<RangeQuery>,
) -> Result<axum::Json<History>, ApiError> {
    let who_site = who.site(q.site_id.clone())?;
    let interval = q.interval(
        Interval::Day,
        Some((Interval::Year, "history goes by hour, day, week or month")),
    )?;
    let client = state.pool.get().await?;
    let Ranged {
        site,
        meters,
        start,
        end,
    } = ranged(&client, who_site, &q, interval, state.clock.now()).await?;
    let rows = store::history(
        &client,
        &meters,
        &site.timezone,
        interval.unit(),
        start,
        end,
    )
    .await?;
    let data: Vec<HistoryBucket> = rows
        .into_iter()
        .map(|b| HistoryBucket {
            avg_kw: if b.hours > 0.0 { b.kwh / b.hours } else { 0.0 },
            start: b.start,
            local_start: b.local_start,
            hours: b.hours,
            kwh: b.kwh,
            export_kwh: b.export_kwh,
        })
        .collect();
    Ok(axum::Json(History {
        site_id: site.id,
        device_id: q.device_id,
        timezone: site.timezone,
        interval,
        start_time: start,
        end_time: end,
        total_kwh: crate::energy::total(data.iter().map(|b| b.kwh)),
        data,
    }))
}

// ---------------------------------------------------------------- cost

/// What a site or a meter cost per bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cost {
    pub site_id: String,
    pub device_id: Option<String>,
    pub timezone: String,
    pub interval: Interval,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    /// Bucket starts, matching `report.buckets` one to one.
    pub buckets: Vec<DateTime<Utc>>,
    pub tariffs: Vec<TariffUsed>,
    pub report: cost::Cost,
}

/// Cost per bucket with its breakdown by tariff band, standing charges
/// and the demand charge (site only: a meter's cost is its energy at the
/// site's prices).
#[utoipa::path(get, path = "/api/v1/energy/cost", tag = "energy", params(RangeQuery), security(("bearer" = ["energy:read"])),
    responses(
        (status = 200, description = "Cost per bucket", body = Cost),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site or meter", body = crate::error::ErrorBody),
    ))]
pub async fn cost(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<RangeQuery>,
) -> Result<axum::Json<Cost>, ApiError> {
    let who_site = who.site(q.site_id.clone())?;
    let interval = q.interval(Interval::Day, None)?;
    let client = state.pool.get().await?;
    let now = state.clock.now();
    let Ranged {
        site,
        meters,
        start,
        end,
    } = ranged(&client, who_site, &q, interval, now).await?;
    let metered = Metered {
        site: &site,
        meters: &meters,
        site_wide: q.device_id.is_none(),
    };
    let (buckets, tariffs, report) =
        cost_of(&client, &metered, interval.unit(), start, end, now).await?;
    Ok(axum::Json(Cost {
        site_id: site.id,
        device_id: q.device_id,
        timezone: site.timezone,
        interval,
        start_time: start,
        end_time: end,
        buckets,
        tariffs,
        report,
    }))
}

// ---------------------------------------------------------------- carbon

#[derive(Debug, Serialize, ToSchema)]
pub struct CarbonBucket {
    pub start: DateTime<Utc>,
    #[schema(value_type = String)]
    pub local_start: NaiveDateTime,
    #[serde(flatten)]
    pub emissions: Emissions,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Carbon {
    pub site_id: String,
    pub device_id: Option<String>,
    pub interval: Interval,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub data: Vec<CarbonBucket>,
    pub total: Emissions,
    /// The factors and contracts applied.
    pub factors: Vec<config::EmissionFactor>,
    pub contracts: Vec<config::Contract>,
}

/// Scope 2 emissions, location-based and market-based, per day, week,
/// month or year.
#[utoipa::path(get, path = "/api/v1/energy/carbon", tag = "energy", params(RangeQuery), security(("bearer" = ["energy:read"])),
    responses(
        (status = 200, description = "Emissions per bucket", body = Carbon),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site or meter", body = crate::error::ErrorBody),
    ))]
pub async fn carbon(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<RangeQuery>,
) -> Result<axum::Json<Carbon>, ApiError> {
    let who_site = who.site(q.site_id.clone())?;
    let interval = q.interval(
        Interval::Month,
        Some((
            Interval::Hour,
            "emission factors are yearly: carbon goes by day, week, month or year",
        )),
    )?;
    let client = state.pool.get().await?;
    let Ranged {
        site,
        meters,
        start,
        end,
    } = ranged(&client, who_site, &q, interval, state.clock.now()).await?;
    let c = carbon_of(&client, &site, &meters, interval.unit(), start, end).await?;
    let data = c
        .keys
        .iter()
        .zip(c.buckets)
        .map(|((start, local_start), emissions)| CarbonBucket {
            start: *start,
            local_start: *local_start,
            emissions,
        })
        .collect();
    Ok(axum::Json(Carbon {
        site_id: site.id,
        device_id: q.device_id,
        interval,
        start_time: start,
        end_time: end,
        data,
        total: c.total,
        factors: c.factors,
        contracts: c.contracts,
    }))
}

// ---------------------------------------------------------------- KPIs

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KpiQuery {
    pub site_id: Option<String>,
    /// Widened to local midnight. Default: 7 days before `end_time`.
    pub start_time: Option<DateTime<Utc>>,
    /// Widened to the next local midnight. Default: now. At most 400 days.
    pub end_time: Option<DateTime<Utc>>,
    /// How many offenders to list (1–100, default 10).
    #[param(minimum = 1, maximum = 100)]
    pub top: Option<u32>,
}

/// A meter whose zones were empty while it used energy.
#[derive(Debug, Serialize, ToSchema)]
pub struct Offender {
    pub device_id: String,
    pub name: String,
    /// `camera/zone` it supplies.
    pub zones: Vec<String>,
    pub empty_kwh: f64,
    pub empty_hours: i64,
    /// All its energy in the range.
    pub kwh: f64,
    /// empty_kwh / kwh.
    pub empty_share: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmptyBuilding {
    /// Main meters' energy in hours every camera watched and saw nobody.
    pub kwh: f64,
    pub hours: i64,
    /// kwh / the range's energy.
    pub share: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Kpis {
    pub site_id: String,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub kwh: f64,
    pub floor_area_m2: Option<f64>,
    pub kwh_per_m2: Option<f64>,
    /// Local days in the range.
    pub days: usize,
    /// Days on which the site's cameras sent occupancy samples.
    pub days_with_occupancy: usize,
    /// Σ over cameras and quarter hours of the mean people in view × ¼ h.
    pub occupant_hours: f64,
    /// Energy of the days with occupancy: what the ratio below divides.
    pub kwh_on_days_with_occupancy: f64,
    /// kwh_on_days_with_occupancy / occupant_hours.
    pub kwh_per_occupant_hour: Option<f64>,
    pub empty_building: EmptyBuilding,
    /// Energy of meters with zones in hours all their zones were empty.
    pub empty_zones_kwh: f64,
    /// Most empty-zone energy first.
    pub top_offenders: Vec<Offender>,
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// kWh/m², kWh per occupant-hour and empty-building energy.
#[utoipa::path(get, path = "/api/v1/energy/kpis", tag = "energy", params(KpiQuery), security(("bearer" = ["energy:read"])),
    responses(
        (status = 200, description = "The KPIs", body = Kpis),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site", body = crate::error::ErrorBody),
    ))]
pub async fn kpis(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<KpiQuery>,
) -> Result<axum::Json<Kpis>, ApiError> {
    let who_site = who.site(q.site_id.clone())?;
    let top = q.top.unwrap_or(10).clamp(1, 100) as usize;
    let client = state.pool.get().await?;
    let site = site_for(&client, who_site).await?;
    let (start, end) = crate::http::time::range(
        q.start_time,
        q.end_time.or(Some(state.clock.now())),
        Duration::days(7),
        Duration::days(400),
    )?;
    let (start, end) = store::snap(&client, &site.timezone, "day", start, end).await?;
    let meters = store::main_meters(&client, &site.id).await?;
    let days = store::days(&client, &site, &meters, "day", start, end).await?;
    let occupancy: BTreeMap<NaiveDate, f64> =
        store::occupant_hours_by_day(&client, &site, start, end)
            .await?
            .into_iter()
            .collect();
    let kwh = crate::energy::total(days.iter().map(|d| d.kwh));
    let occupant_hours = crate::energy::total(occupancy.values().copied());
    // Per occupant-hour over the days the cameras reported (a site whose
    // cameras came later, or were down, has days of energy without).
    let kwh_counted = crate::energy::total(
        days.iter()
            .filter(|d| occupancy.contains_key(&d.date))
            .map(|d| d.kwh),
    );
    let (empty_kwh, empty_hours) =
        store::empty_building(&client, &site, &meters, start, end).await?;
    let zones = store::empty_zones(&client, &site, start, end).await?;
    Ok(axum::Json(Kpis {
        site_id: site.id,
        start_time: start,
        end_time: end,
        kwh,
        floor_area_m2: site.floor_area_m2,
        kwh_per_m2: site.floor_area_m2.and_then(|a| ratio(kwh, a)),
        days: days.len(),
        days_with_occupancy: occupancy.len(),
        occupant_hours,
        kwh_on_days_with_occupancy: kwh_counted,
        kwh_per_occupant_hour: ratio(kwh_counted, occupant_hours),
        empty_building: EmptyBuilding {
            kwh: empty_kwh,
            hours: empty_hours,
            share: ratio(empty_kwh, kwh),
        },
        empty_zones_kwh: crate::energy::total(zones.iter().map(|z| z.empty_kwh)),
        top_offenders: zones
            .into_iter()
            .filter(|z| z.empty_kwh > 0.0)
            .take(top)
            .map(|z| Offender {
                empty_share: ratio(z.empty_kwh, z.kwh),
                device_id: z.device_id,
                name: z.name,
                zones: z.zones,
                empty_kwh: z.empty_kwh,
                empty_hours: z.empty_hours,
                kwh: z.kwh,
            })
            .collect(),
    }))
}

// ---------------------------------------------------------------- baseline

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BaselineQuery {
    pub site_id: Option<String>,
    /// The period to explain (widened to local days). Default: the 7
    /// days before `end_time`.
    pub start_time: Option<DateTime<Utc>>,
    /// Default: the last local midnight.
    pub end_time: Option<DateTime<Utc>>,
    /// Training days (widened to local days). Default: the 8 weeks
    /// before `start_time`.
    pub training_start: Option<DateTime<Utc>>,
    pub training_end: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BaselineDay {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub kwh: f64,
    pub occupant_hours: f64,
    pub expected_kwh: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Baseline {
    pub site_id: String,
    pub training_start: DateTime<Utc>,
    pub training_end: DateTime<Utc>,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    /// None when no line could be fitted (`model_error` says why).
    pub model: Option<Model>,
    pub model_error: Option<String>,
    pub explanation: Option<Explanation>,
    pub days: Vec<BaselineDay>,
}

/// `n` calendar days (on the site's clock) before `t`.
async fn days_before(
    client: &impl GenericClient,
    site: &Site,
    t: DateTime<Utc>,
    n: i32,
) -> Result<DateTime<Utc>, ApiError> {
    Ok(client
        .query_one(
            "SELECT (($1::timestamptz AT TIME ZONE $2) - make_interval(days => $3)) AT TIME ZONE $2 AS d",
            &[&t, &site.timezone, &n],
        )
        .await?
        .try_get("d")?)
}

async fn day_points(
    client: &impl GenericClient,
    site: &Site,
    meters: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(NaiveDate, DayPoint)>, ApiError> {
    let days = store::days(client, site, meters, "day", start, end).await?;
    let occ: BTreeMap<NaiveDate, f64> = store::occupant_hours_by_day(client, site, start, end)
        .await?
        .into_iter()
        .collect();
    // Days without samples (before the cameras came, or a camera outage)
    // say nothing about occupancy: left out, not taken as 0.
    Ok(days
        .iter()
        .filter(|d| d.kwh > 0.0)
        .filter_map(|d| {
            let occupant_hours = *occ.get(&d.date)?;
            Some((
                d.date,
                DayPoint {
                    occupant_hours,
                    kwh: d.kwh,
                },
            ))
        })
        .collect())
}

/// Daily kWh against occupant-hours: the fitted line over training days
/// and a period explained by it.
#[utoipa::path(get, path = "/api/v1/energy/baseline", tag = "energy", params(BaselineQuery), security(("bearer" = ["energy:read"])),
    responses(
        (status = 200, description = "The baseline", body = Baseline),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site", body = crate::error::ErrorBody),
    ))]
pub async fn baseline(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<BaselineQuery>,
) -> Result<axum::Json<Baseline>, ApiError> {
    let who_site = who.site(q.site_id.clone())?;
    let client = state.pool.get().await?;
    let site = site_for(&client, who_site).await?;
    let now = state.clock.now();
    let end = match q.end_time {
        Some(t) => t,
        None => client
            .query_one(
                "SELECT date_trunc('day', $1::timestamptz, $2) AS d",
                &[&now, &site.timezone],
            )
            .await?
            .try_get("d")?,
    };
    let (start, end) = match q.start_time {
        Some(s) => {
            crate::http::time::range(Some(s), Some(end), Duration::days(7), Duration::days(93))?
        }
        None => (days_before(&client, &site, end, 7).await?, end),
    };
    let (start, end) = store::snap(&client, &site.timezone, "day", start, end).await?;
    let t_end = q.training_end.unwrap_or(start);
    let (t_start, t_end) = match q.training_start {
        Some(s) => crate::http::time::range(
            Some(s),
            Some(t_end),
            Duration::weeks(8),
            Duration::days(400),
        )?,
        None => (days_before(&client, &site, t_end, 56).await?, t_end),
    };
    let (t_start, t_end) = store::snap(&client, &site.timezone, "day", t_start, t_end).await?;
    let meters = store::main_meters(&client, &site.id).await?;
    let training = day_points(&client, &site, &meters, t_start, t_end).await?;
    let period = day_points(&client, &site, &meters, start, end).await?;
    let fitted = baseline::fit(&training.iter().map(|(_, p)| *p).collect::<Vec<_>>());
    let (model, model_error) = match fitted {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let points: Vec<DayPoint> = period.iter().map(|(_, p)| *p).collect();
    Ok(axum::Json(Baseline {
        site_id: site.id,
        training_start: t_start,
        training_end: t_end,
        start_time: start,
        end_time: end,
        explanation: model.map(|m| m.explain(&points)),
        days: period
            .iter()
            .map(|(date, p)| BaselineDay {
                date: *date,
                kwh: p.kwh,
                occupant_hours: p.occupant_hours,
                expected_kwh: model.map(|m| m.expected(p.occupant_hours)),
            })
            .collect(),
        model,
        model_error,
    }))
}

// ---------------------------------------------------------------- targets

#[derive(Debug, Serialize, ToSchema)]
pub struct Targets {
    pub data: Vec<Target>,
}

/// Targets with their progress, variance and forecast.
#[utoipa::path(get, path = "/api/v1/energy/targets", tag = "energy", params(SiteOnly), security(("bearer" = ["energy:read"])),
    responses((status = 200, description = "Targets", body = Targets)))]
pub async fn list_targets(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<SiteOnly>,
) -> Result<axum::Json<Targets>, ApiError> {
    let site = who.site(q.site_id)?;
    let client = state.pool.get().await?;
    let now = state.clock.now();
    let mut data = Vec::new();
    for t in config::targets(&client, site.as_deref(), None).await? {
        data.push(target_view(&client, t, now).await?);
    }
    Ok(axum::Json(Targets { data }))
}
