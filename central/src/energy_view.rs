//! Energy figures composed from the store and the pure energy core:
//! what meters cost under the site's tariffs, what they emitted, and how
//! targets stand. The energy API, the alert evaluator and reports all
//! show these, so they live below all three (docs/architecture.md).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use utoipa::ToSchema;

use crate::energy::carbon::{self, ContractTerms, DayEnergy, Emissions, YearFactors};
use crate::energy::cost;
use crate::energy::targets::{self, Progress};
use crate::energy::tariff::Tariff;
use crate::error::ApiError;
use crate::store::energy::{self as store, Site, Unit};
use crate::store::energy_config as config;

/// The site, 404 when unknown, after the caller's site restriction.
pub async fn site_for(
    client: &impl GenericClient,
    who_site: Option<String>,
) -> Result<Site, ApiError> {
    let id = who_site.ok_or_else(|| ApiError::bad_request("site_id is required"))?;
    store::site(client, &id)
        .await?
        .ok_or_else(|| site_not_found(&id))
}

pub fn site_not_found(id: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "SITE_NOT_FOUND",
        format!("no site {id:?}"),
    )
    .with_details(
        serde_json::json!({"site_id": id, "suggestion": "GET /api/v1/sites lists the sites"}),
    )
}

/// A tariff in force in the months the range touches (a demand charge
/// looks at whole months).
#[derive(Debug, Serialize, ToSchema)]
pub struct TariffUsed {
    pub id: i64,
    pub name: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

/// The tariffs of `site` in force on a local day of `[start, end)`
/// (`end` is exclusive: a tariff starting on the day `end` begins is not
/// one of them), parsed.
async fn tariffs_for(
    client: &impl GenericClient,
    site: &Site,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(config::TariffRow, Tariff)>, ApiError> {
    let r = client
        .query_one(
            "SELECT ($1::timestamptz AT TIME ZONE $3)::date AS f,
                    (($2::timestamptz - INTERVAL '1 microsecond') AT TIME ZONE $3)::date + 1 AS t",
            &[&start, &end, &site.timezone],
        )
        .await?;
    let rows = config::tariffs_between(client, &site.id, r.try_get("f")?, r.try_get("t")?).await?;
    rows.into_iter()
        .map(|r| {
            let t = Tariff::from_json(&r.definition)
                .map_err(|e| ApiError::internal(&format!("reading tariff {}", r.id), e))?;
            Ok((r, t))
        })
        .collect()
}

/// What a query measures: meters of a site, and whether they are the
/// site's supply (its main meters, which owe the standing and demand
/// charges) or one meter.
#[derive(Debug, Clone, Copy)]
pub struct Metered<'a> {
    pub site: &'a Site,
    pub meters: &'a [String],
    pub site_wide: bool,
}

/// What `meters` cost per bucket in `[start, end)`: energy by tariff
/// band; for the site (`with_fixed`) also the standing charges and each
/// day's share of its month's demand charge, the month's peak taken over
/// the whole month however the range cuts it.
pub async fn cost_of(
    client: &impl GenericClient,
    m: &Metered<'_>,
    unit: Unit,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(Vec<DateTime<Utc>>, Vec<TariffUsed>, cost::Cost), ApiError> {
    let (site, meters, with_fixed) = (m.site, m.meters, m.site_wide);
    let quarters = store::quarters(client, site, meters, unit, start, end).await?;
    let (days, months, month_quarters) = if with_fixed {
        let days = store::days(client, site, meters, unit, start, end).await?;
        let months = store::snap(client, &site.timezone, "month", start, end).await?;
        let month_quarters = if months == (start, end) {
            quarters.clone()
        } else {
            store::quarters(client, site, meters, "month", months.0, months.1).await?
        };
        (days, months, month_quarters)
    } else {
        (Vec::new(), (start, end), Vec::new())
    };
    let mut keys: Vec<DateTime<Utc>> = quarters
        .iter()
        .map(|q| q.key)
        .chain(days.iter().map(|d| d.key))
        .collect();
    keys.sort();
    keys.dedup();
    let index = |k: DateTime<Utc>| keys.binary_search(&k).unwrap_or(0);
    let tariffs = tariffs_for(client, site, months.0, months.1).await?;
    let in_force: Vec<cost::InForce<'_>> = tariffs
        .iter()
        .map(|(r, t)| cost::InForce {
            id: r.id,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            tariff: t,
        })
        .collect();
    let quarter = |q: &store::QuarterRow| cost::Quarter {
        start: q.start,
        local: q.local,
        holiday: q.holiday,
        kwh: q.kwh,
        bucket: index(q.key),
    };
    let qs: Vec<cost::Quarter> = quarters.iter().map(quarter).collect();
    let mqs: Vec<cost::Quarter> = month_quarters.iter().map(quarter).collect();
    let ds: Vec<cost::Day> = days
        .iter()
        .map(|d| cost::Day {
            date: d.date,
            holiday: d.holiday,
            bucket: index(d.key),
        })
        .collect();
    let local_now: NaiveDateTime = client
        .query_one(
            "SELECT $1::timestamptz AT TIME ZONE $2 AS n",
            &[&now, &site.timezone],
        )
        .await?
        .try_get("n")?;
    let demand = cost::DemandInput {
        month_quarters: &mqs,
        now: local_now,
    };
    let report = cost::cost(&qs, &ds, &in_force, keys.len(), &demand)
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    let used = tariffs
        .iter()
        .map(|(r, _)| TariffUsed {
            id: r.id,
            name: r.name.clone(),
            valid_from: r.valid_from,
            valid_to: r.valid_to,
        })
        .collect();
    Ok((keys, used, report))
}

/// Emissions per bucket and in total, with what they were computed from.
#[derive(Debug)]
pub struct CarbonOf {
    /// Each bucket's start and its start on the site's clock.
    pub keys: Vec<(DateTime<Utc>, NaiveDateTime)>,
    pub buckets: Vec<Emissions>,
    pub total: Emissions,
    pub factors: Vec<config::EmissionFactor>,
    pub contracts: Vec<config::Contract>,
}

/// Emissions of `meters` per bucket (day or longer) and in total.
pub async fn carbon_of(
    client: &impl GenericClient,
    site: &Site,
    meters: &[String],
    unit: Unit,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<CarbonOf, ApiError> {
    let days = store::days(client, site, meters, unit, start, end).await?;
    let factors = config::emission_factors(client, &site.id).await?;
    let contracts = config::contracts(client, &site.id).await?;
    let mut keys: Vec<(DateTime<Utc>, NaiveDateTime)> =
        days.iter().map(|d| (d.key, d.key_local)).collect();
    keys.dedup();
    let de: Vec<DayEnergy> = days
        .iter()
        .map(|d| DayEnergy {
            date: d.date,
            kwh: d.kwh,
            bucket: keys.binary_search_by_key(&d.key, |k| k.0).unwrap_or(0),
        })
        .collect();
    let yf: Vec<YearFactors> = factors
        .iter()
        .map(|f| YearFactors {
            year: f.year,
            location: f.location_kg_per_kwh,
            residual_mix: f.residual_mix_kg_per_kwh,
        })
        .collect();
    let ct: Vec<ContractTerms> = contracts
        .iter()
        .map(|c| ContractTerms {
            kg_per_kwh: c.kg_per_kwh,
            covers_share: c.covers_share,
            from: c.valid_from,
            to: c.valid_to,
        })
        .collect();
    let (buckets, total) = carbon::emissions(&de, keys.len(), &yf, &ct);
    Ok(CarbonOf {
        keys,
        buckets,
        total,
        factors,
        contracts,
    })
}

/// A target with its progress now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Target {
    pub id: i64,
    pub site_id: String,
    /// A meter, or none for the site's main meters.
    pub device_id: Option<String>,
    pub name: String,
    /// kwh, cost (the tariff's currency) or kgco2e (location-based).
    pub metric: String,
    #[schema(value_type = String, format = Date)]
    pub period_start: NaiveDate,
    /// Exclusive.
    #[schema(value_type = String, format = Date)]
    pub period_end: NaiveDate,
    pub value: f64,
    /// None when `error` says why it cannot be worked out.
    pub progress: Option<Progress>,
    pub error: Option<String>,
}

/// What a target's metric amounts to in `[start, end)`.
async fn actual(
    client: &impl GenericClient,
    m: &Metered<'_>,
    metric: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<f64, ApiError> {
    if end <= start {
        return Ok(0.0);
    }
    Ok(match metric {
        "cost" => {
            // The day in progress owes its standing charge and its share
            // of the month's demand charge from its start.
            let (_, _, r) = cost_of(client, m, "day", start, end, now).await?;
            r.totals.total
        }
        "kgco2e" => {
            carbon_of(client, m.site, m.meters, "day", start, end)
                .await?
                .total
                .location_based_kg
        }
        _ => store::total_kwh(client, m.meters, start, end).await?,
    })
}

/// A target as the API shows it: with its progress, or, when what it
/// measures cannot be worked out (tariffs in two currencies, say), why
/// not, so one target never hides the others.
pub async fn target_view(
    client: &impl GenericClient,
    t: config::TargetRow,
    now: DateTime<Utc>,
) -> Result<Target, ApiError> {
    let site = site_for(client, Some(t.site_id.clone())).await?;
    let meters = match &t.device_id {
        Some(d) => vec![d.clone()],
        None => store::main_meters(client, &site.id).await?,
    };
    let until = now.clamp(t.start_at, t.end_at);
    let metered = Metered {
        site: &site,
        meters: &meters,
        site_wide: t.device_id.is_none(),
    };
    let used = actual(client, &metered, &t.metric, t.start_at, until, now).await;
    let (progress, error) = match used {
        Ok(used) => (
            Some(targets::progress(t.value, t.start_at, t.end_at, now, used)),
            None,
        ),
        Err(e) if e.status.is_client_error() => (None, Some(e.message)),
        Err(e) => return Err(e),
    };
    Ok(Target {
        progress,
        error,
        id: t.id,
        site_id: t.site_id,
        device_id: t.device_id,
        name: t.name,
        metric: t.metric,
        period_start: t.period_start,
        period_end: t.period_end,
        value: t.value,
    })
}
