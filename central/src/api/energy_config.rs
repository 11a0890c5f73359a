//! `/api/v1/energy/*` settings: tariffs, public holidays, emission
//! factors, supply contracts, targets, the zones a meter supplies and a
//! site's floor area. Reading them needs `energy:read`, changing them
//! `energy:write` (facility managers and administrators); every change is
//! in the audit log like every write request.

#![allow(unused_qualifications)]

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::energy::{Target, site_for, target_view};
use crate::app::AppState;
use crate::auth::perm;
use crate::caller::CanAtSite;
use crate::energy::tariff::Tariff;
use crate::error::ApiError;
use crate::http::extract::{Json, Path, Query};
use crate::store::energy_config::{
    self as config, Contract, EmissionFactor, EnergyWriteError, Holiday, NewTariff, TargetSpec,
    TariffRow,
};

impl From<EnergyWriteError> for ApiError {
    fn from(e: EnergyWriteError) -> Self {
        match e {
            EnergyWriteError::Overlap(m) => ApiError::new(StatusCode::CONFLICT, "OVERLAP", m),
            EnergyWriteError::Invalid(m) => ApiError::bad_request(m),
            EnergyWriteError::Db(e) => e.into(),
        }
    }
}

fn name_ok(what: &str, s: &str, max: usize) -> Result<(), ApiError> {
    let n = s.trim().chars().count();
    if n == 0 || n > max || s.trim() != s {
        return Err(ApiError::bad_request(format!(
            "{what} must be 1 to {max} characters without surrounding spaces"
        )));
    }
    Ok(())
}

fn dates_ok(from: NaiveDate, to: Option<NaiveDate>) -> Result<(), ApiError> {
    if to.is_some_and(|t| t <= from) {
        return Err(ApiError::bad_request(
            "valid_to must be after valid_from (it is the first day no longer covered)",
        ));
    }
    Ok(())
}

fn not_found(what: &str, id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found(format!("no {what} {id}"))
}

// ---------------------------------------------------------------- tariffs

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SiteFilter {
    pub site_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Tariffs {
    pub data: Vec<TariffRow>,
}

/// Tariffs by site and start.
#[utoipa::path(get, path = "/api/v1/energy/tariffs", tag = "energy", params(SiteFilter), security(("bearer" = ["energy:read"])),
    responses((status = 200, description = "Tariffs", body = Tariffs)))]
pub async fn list_tariffs(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<SiteFilter>,
) -> Result<axum::Json<Tariffs>, ApiError> {
    let site = who.site(q.site_id)?;
    let client = state.pool.get().await?;
    Ok(axum::Json(Tariffs {
        data: config::tariffs(&client, site.as_deref()).await?,
    }))
}

/// A tariff to create or the new state of one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TariffBody {
    pub site_id: String,
    pub name: String,
    /// First local date in force.
    pub valid_from: NaiveDate,
    /// First local date no longer in force; absent: open.
    pub valid_to: Option<NaiveDate>,
    /// Seasons of time-of-use bands, standing charge, demand charge
    /// (docs/ref/energy.md).
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TariffCreated {
    #[serde(flatten)]
    pub tariff: TariffRow,
    /// The open tariff this one succeeds, now ending at `valid_from`.
    pub closed_tariff_id: Option<i64>,
}

fn checked(b: &TariffBody) -> Result<serde_json::Value, ApiError> {
    name_ok("name", &b.name, 200)?;
    dates_ok(b.valid_from, b.valid_to)?;
    let t = Tariff::from_json(&b.definition).map_err(|e| {
        ApiError::bad_request(format!("the tariff's definition: {e}"))
            .with_details(serde_json::json!({"field": "definition"}))
    })?;
    serde_json::to_value(&t).map_err(|e| ApiError::internal("encoding a tariff", e))
}

/// Adds a tariff. An open one after the site's open tariff succeeds it;
/// other overlaps are refused (409).
#[utoipa::path(post, path = "/api/v1/energy/tariffs", tag = "energy", request_body = TariffBody, security(("bearer" = ["energy:write"])),
    responses(
        (status = 201, description = "Created", body = TariffCreated),
        (status = 400, description = "Invalid tariff", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site", body = crate::error::ErrorBody),
        (status = 409, description = "Overlaps another tariff", body = crate::error::ErrorBody),
    ))]
pub async fn create_tariff(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Json(b): Json<TariffBody>,
) -> Result<(StatusCode, axum::Json<TariffCreated>), ApiError> {
    let site = who.site(Some(b.site_id.clone()))?;
    let definition = checked(&b)?;
    let mut client = state.pool.get().await?;
    let site = site_for(&client, site).await?;
    let (tariff, closed) = config::add_tariff(
        &mut client,
        &NewTariff {
            site_id: &site.id,
            name: &b.name,
            valid_from: b.valid_from,
            valid_to: b.valid_to,
            definition: &definition,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(TariffCreated {
            tariff,
            closed_tariff_id: closed,
        }),
    ))
}

async fn tariff_of_caller(
    state: &AppState,
    who: &crate::auth::AuthUser,
    perm: crate::auth::Permission,
    id: i64,
) -> Result<TariffRow, ApiError> {
    let client = state.pool.get().await?;
    let t = config::tariff(&client, id)
        .await?
        .ok_or_else(|| not_found("tariff", id))?;
    who.require_at_site(perm, Some(t.site_id.clone()))
        .map_err(|_| not_found("tariff", id))?;
    Ok(t)
}

/// One tariff.
#[utoipa::path(get, path = "/api/v1/energy/tariffs/{id}", tag = "energy", params(("id" = i64, Path)), security(("bearer" = ["energy:read"])),
    responses((status = 200, description = "The tariff", body = TariffRow), (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn get_tariff(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Path(id): Path<i64>,
) -> Result<axum::Json<TariffRow>, ApiError> {
    Ok(axum::Json(
        tariff_of_caller(&state, &who.0, crate::auth::Permission::EnergyRead, id).await?,
    ))
}

/// Replaces a tariff: the cost of the days it covered before and covers
/// now changes, no other day's.
#[utoipa::path(put, path = "/api/v1/energy/tariffs/{id}", tag = "energy", params(("id" = i64, Path)), request_body = TariffBody, security(("bearer" = ["energy:write"])),
    responses(
        (status = 200, description = "Replaced", body = TariffRow),
        (status = 400, description = "Invalid tariff", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown", body = crate::error::ErrorBody),
        (status = 409, description = "Overlaps another tariff", body = crate::error::ErrorBody),
    ))]
pub async fn put_tariff(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Path(id): Path<i64>,
    Json(b): Json<TariffBody>,
) -> Result<axum::Json<TariffRow>, ApiError> {
    let old = tariff_of_caller(&state, &who.0, crate::auth::Permission::EnergyWrite, id).await?;
    if old.site_id != b.site_id {
        return Err(ApiError::bad_request(
            "a tariff stays with its site: add a new one for another site",
        ));
    }
    let definition = checked(&b)?;
    let client = state.pool.get().await?;
    let row = config::update_tariff(
        &client,
        id,
        &NewTariff {
            site_id: &old.site_id,
            name: &b.name,
            valid_from: b.valid_from,
            valid_to: b.valid_to,
            definition: &definition,
        },
    )
    .await?
    .ok_or_else(|| not_found("tariff", id))?;
    Ok(axum::Json(row))
}

/// Removes a tariff: its days are no longer priced.
#[utoipa::path(delete, path = "/api/v1/energy/tariffs/{id}", tag = "energy", params(("id" = i64, Path)), security(("bearer" = ["energy:write"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn delete_tariff(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    tariff_of_caller(&state, &who.0, crate::auth::Permission::EnergyWrite, id).await?;
    let client = state.pool.get().await?;
    if !config::delete_tariff(&client, id).await? {
        return Err(not_found("tariff", id));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- holidays

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HolidayFilter {
    pub site_id: Option<String>,
    pub year: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Holidays {
    pub data: Vec<Holiday>,
}

/// A site's public holidays.
#[utoipa::path(get, path = "/api/v1/energy/holidays", tag = "energy", params(HolidayFilter), security(("bearer" = ["energy:read"])),
    responses((status = 200, description = "Holidays", body = Holidays), (status = 404, description = "Unknown site", body = crate::error::ErrorBody)))]
pub async fn list_holidays(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<HolidayFilter>,
) -> Result<axum::Json<Holidays>, ApiError> {
    let site = who.site(q.site_id)?;
    let client = state.pool.get().await?;
    let site = site_for(&client, site).await?;
    Ok(axum::Json(Holidays {
        data: config::holidays(&client, &site.id, q.year).await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayBody {
    pub name: String,
}

/// Adds or renames a public holiday (a local date).
#[utoipa::path(put, path = "/api/v1/energy/holidays/{site_id}/{date}", tag = "energy",
    params(("site_id" = String, Path), ("date" = String, Path, format = Date)), request_body = HolidayBody, security(("bearer" = ["energy:write"])),
    responses((status = 200, description = "Stored", body = Holiday), (status = 400, description = "Bad", body = crate::error::ErrorBody), (status = 404, description = "Unknown site", body = crate::error::ErrorBody)))]
pub async fn put_holiday(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Path((site_id, date)): Path<(String, NaiveDate)>,
    Json(b): Json<HolidayBody>,
) -> Result<axum::Json<Holiday>, ApiError> {
    let site = who.site(Some(site_id))?;
    name_ok("name", &b.name, 200)?;
    let client = state.pool.get().await?;
    let site = site_for(&client, site).await?;
    let h = Holiday {
        site_id: site.id,
        date,
        name: b.name,
    };
    config::put_holiday(&client, &h).await?;
    Ok(axum::Json(h))
}

/// Removes a public holiday.
#[utoipa::path(delete, path = "/api/v1/energy/holidays/{site_id}/{date}", tag = "energy",
    params(("site_id" = String, Path), ("date" = String, Path, format = Date)), security(("bearer" = ["energy:write"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn delete_holiday(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Path((site_id, date)): Path<(String, NaiveDate)>,
) -> Result<StatusCode, ApiError> {
    let site = who.site(Some(site_id))?;
    let client = state.pool.get().await?;
    let site = site_for(&client, site).await?;
    if !config::delete_holiday(&client, &site.id, date).await? {
        return Err(not_found("holiday on", date));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- carbon settings

#[derive(Debug, Serialize, ToSchema)]
pub struct EmissionFactors {
    pub data: Vec<EmissionFactor>,
}

/// A site's grid emission factors by year.
#[utoipa::path(get, path = "/api/v1/energy/emission-factors", tag = "energy", params(SiteFilter), security(("bearer" = ["energy:read"])),
    responses((status = 200, description = "Factors", body = EmissionFactors), (status = 404, description = "Unknown site", body = crate::error::ErrorBody)))]
pub async fn list_factors(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<SiteFilter>,
) -> Result<axum::Json<EmissionFactors>, ApiError> {
    let site = who.site(q.site_id)?;
    let client = state.pool.get().await?;
    let site = site_for(&client, site).await?;
    Ok(axum::Json(EmissionFactors {
        data: config::emission_factors(&client, &site.id).await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactorBody {
    /// kgCO2e per kWh, 0–5.
    pub location_kg_per_kwh: f64,
    pub residual_mix_kg_per_kwh: Option<f64>,
    /// Where the figures come from (publisher, table, edition).
    pub source: String,
}

fn factor_ok(what: &str, v: f64) -> Result<(), ApiError> {
    if !(0.0..=5.0).contains(&v) {
        return Err(ApiError::bad_request(format!(
            "{what} must be between 0 and 5 kgCO2e/kWh (grids are 0–1.2)"
        )));
    }
    Ok(())
}

/// Sets a site's factors for a year.
#[utoipa::path(put, path = "/api/v1/energy/emission-factors/{site_id}/{year}", tag = "energy",
    params(("site_id" = String, Path), ("year" = i32, Path)), request_body = FactorBody, security(("bearer" = ["energy:write"])),
    responses((status = 200, description = "Stored", body = EmissionFactor), (status = 400, description = "Bad", body = crate::error::ErrorBody), (status = 404, description = "Unknown site", body = crate::error::ErrorBody)))]
pub async fn put_factor(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Path((site_id, year)): Path<(String, i32)>,
    Json(b): Json<FactorBody>,
) -> Result<axum::Json<EmissionFactor>, ApiError> {
    let site = who.site(Some(site_id))?;
    if !(1990..=2100).contains(&year) {
        return Err(ApiError::bad_request("year must be 1990 to 2100"));
    }
    factor_ok("location_kg_per_kwh", b.location_kg_per_kwh)?;
    if let Some(r) = b.residual_mix_kg_per_kwh {
        factor_ok("residual_mix_kg_per_kwh", r)?;
    }
    name_ok("source", &b.source, 500)?;
    let client = state.pool.get().await?;
    let site = site_for(&client, site).await?;
    let f = EmissionFactor {
        site_id: site.id,
        year,
        location_kg_per_kwh: b.location_kg_per_kwh,
        residual_mix_kg_per_kwh: b.residual_mix_kg_per_kwh,
        source: b.source,
    };
    config::put_emission_factor(&client, &f).await?;
    Ok(axum::Json(f))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Contracts {
    pub data: Vec<Contract>,
}

/// A site's supply contracts (market-based Scope 2).
#[utoipa::path(get, path = "/api/v1/energy/contracts", tag = "energy", params(SiteFilter), security(("bearer" = ["energy:read"])),
    responses((status = 200, description = "Contracts", body = Contracts), (status = 404, description = "Unknown site", body = crate::error::ErrorBody)))]
pub async fn list_contracts(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Query(q): Query<SiteFilter>,
) -> Result<axum::Json<Contracts>, ApiError> {
    let site = who.site(q.site_id)?;
    let client = state.pool.get().await?;
    let site = site_for(&client, site).await?;
    Ok(axum::Json(Contracts {
        data: config::contracts(&client, &site.id).await?,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractBody {
    pub site_id: String,
    pub supplier: String,
    /// supplier_specific, energy_attribute_certificate or ppa.
    pub instrument: String,
    pub kg_per_kwh: f64,
    /// Share of consumption covered, 0 < share ≤ 1 (default 1).
    pub covers_share: Option<f64>,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

const INSTRUMENTS: [&str; 3] = ["supplier_specific", "energy_attribute_certificate", "ppa"];

/// Adds a supply contract; overlapping another is refused (409).
#[utoipa::path(post, path = "/api/v1/energy/contracts", tag = "energy", request_body = ContractBody, security(("bearer" = ["energy:write"])),
    responses((status = 201, description = "Created", body = Contract), (status = 400, description = "Bad", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site", body = crate::error::ErrorBody), (status = 409, description = "Overlap", body = crate::error::ErrorBody)))]
pub async fn create_contract(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Json(b): Json<ContractBody>,
) -> Result<(StatusCode, axum::Json<Contract>), ApiError> {
    let site = who.site(Some(b.site_id.clone()))?;
    name_ok("supplier", &b.supplier, 200)?;
    if !INSTRUMENTS.contains(&b.instrument.as_str()) {
        return Err(
            ApiError::bad_request(format!("unknown instrument {:?}", b.instrument))
                .with_details(serde_json::json!({"allowed": INSTRUMENTS})),
        );
    }
    factor_ok("kg_per_kwh", b.kg_per_kwh)?;
    let share = b.covers_share.unwrap_or(1.0);
    if !(share > 0.0 && share <= 1.0) {
        return Err(ApiError::bad_request(
            "covers_share must be above 0 and at most 1",
        ));
    }
    dates_ok(b.valid_from, b.valid_to)?;
    let client = state.pool.get().await?;
    let site = site_for(&client, site).await?;
    let mut c = Contract {
        id: 0,
        site_id: site.id,
        supplier: b.supplier,
        instrument: b.instrument,
        kg_per_kwh: b.kg_per_kwh,
        covers_share: share,
        valid_from: b.valid_from,
        valid_to: b.valid_to,
    };
    c.id = config::add_contract(&client, &c).await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// Removes a supply contract.
#[utoipa::path(delete, path = "/api/v1/energy/contracts/{id}", tag = "energy", params(("id" = i64, Path)), security(("bearer" = ["energy:write"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn delete_contract(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.get().await?;
    let site: Option<String> = client
        .query_opt("SELECT site_id FROM supply_contracts WHERE id = $1", &[&id])
        .await?
        .map(|r| r.try_get("site_id"))
        .transpose()?;
    let site = site.ok_or_else(|| not_found("contract", id))?;
    who.site(Some(site))
        .map_err(|_| not_found("contract", id))?;
    config::delete_contract(&client, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- targets

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    pub site_id: String,
    /// A meter of the site; absent: the site's main meters.
    pub device_id: Option<String>,
    pub name: String,
    /// kwh, cost or kgco2e.
    pub metric: String,
    pub period_start: NaiveDate,
    /// Exclusive; at most 10 years after the start.
    pub period_end: NaiveDate,
    pub value: f64,
}

const METRICS: [&str; 3] = ["kwh", "cost", "kgco2e"];

async fn store_target(
    state: &AppState,
    who: &CanAtSite<perm::EnergyWrite>,
    id: Option<i64>,
    b: &TargetBody,
) -> Result<Target, ApiError> {
    let site = who.site(Some(b.site_id.clone()))?;
    name_ok("name", &b.name, 200)?;
    if !METRICS.contains(&b.metric.as_str()) {
        return Err(
            ApiError::bad_request(format!("unknown metric {:?}", b.metric))
                .with_details(serde_json::json!({"allowed": METRICS})),
        );
    }
    if !(b.value.is_finite() && b.value > 0.0) {
        return Err(ApiError::bad_request("value must be a positive number"));
    }
    if b.period_end <= b.period_start || (b.period_end - b.period_start).num_days() > 3660 {
        return Err(ApiError::bad_request(
            "period_end must be after period_start (it is exclusive) and within 10 years of it",
        ));
    }
    let client = state.pool.get().await?;
    let site = site_for(&client, site).await?;
    if let Some(d) = &b.device_id {
        let ok = client
            .query_opt(
                "SELECT 1 FROM devices WHERE id = $1 AND site_id = $2 AND kind = 'power_meter'",
                &[d, &site.id],
            )
            .await?
            .is_some();
        if !ok {
            return Err(ApiError::bad_request(format!(
                "no power meter {d:?} at site {:?}",
                site.id
            )));
        }
    }
    let old_site = match id {
        Some(id) => {
            let old = config::targets(&client, None, Some(id))
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| not_found("target", id))?;
            who.site(Some(old.site_id.clone()))
                .map_err(|_| not_found("target", id))?;
            Some(old.site_id)
        }
        None => None,
    };
    let stored = config::put_target(
        &client,
        id.zip(old_site.as_deref()),
        &TargetSpec {
            site_id: &site.id,
            device_id: b.device_id.as_deref(),
            name: &b.name,
            metric: &b.metric,
            period_start: b.period_start,
            period_end: b.period_end,
            value: b.value,
        },
    )
    .await?
    .ok_or_else(|| not_found("target", id.unwrap_or(0)))?;
    let row = config::targets(&client, None, Some(stored))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found("target", stored))?;
    target_view(&client, row, state.clock.now()).await
}

/// Adds a target.
#[utoipa::path(post, path = "/api/v1/energy/targets", tag = "energy", request_body = TargetBody, security(("bearer" = ["energy:write"])),
    responses((status = 201, description = "Created", body = Target), (status = 400, description = "Bad", body = crate::error::ErrorBody), (status = 404, description = "Unknown site", body = crate::error::ErrorBody)))]
pub async fn create_target(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Json(b): Json<TargetBody>,
) -> Result<(StatusCode, axum::Json<Target>), ApiError> {
    let t = store_target(&state, &who, None, &b).await?;
    Ok((StatusCode::CREATED, axum::Json(t)))
}

/// Replaces a target.
#[utoipa::path(put, path = "/api/v1/energy/targets/{id}", tag = "energy", params(("id" = i64, Path)), request_body = TargetBody, security(("bearer" = ["energy:write"])),
    responses((status = 200, description = "Replaced", body = Target), (status = 400, description = "Bad", body = crate::error::ErrorBody), (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn put_target(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Path(id): Path<i64>,
    Json(b): Json<TargetBody>,
) -> Result<axum::Json<Target>, ApiError> {
    Ok(axum::Json(store_target(&state, &who, Some(id), &b).await?))
}

/// Removes a target.
#[utoipa::path(delete, path = "/api/v1/energy/targets/{id}", tag = "energy", params(("id" = i64, Path)), security(("bearer" = ["energy:write"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn delete_target(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.get().await?;
    let old = config::targets(&client, None, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found("target", id))?;
    who.site(Some(old.site_id))
        .map_err(|_| not_found("target", id))?;
    config::delete_target(&client, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- meters and sites

/// A camera zone.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneRef {
    pub camera_id: String,
    pub zone_id: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterZones {
    pub zones: Vec<ZoneRef>,
}

async fn meter_site(
    client: &impl deadpool_postgres::GenericClient,
    who: &crate::auth::AuthUser,
    perm: crate::auth::Permission,
    id: &str,
) -> Result<String, ApiError> {
    let missing = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "METER_NOT_FOUND",
            format!("no power meter {id:?}"),
        )
    };
    let site: String = client
        .query_opt(
            "SELECT site_id FROM devices WHERE id = $1 AND kind = 'power_meter'",
            &[&id],
        )
        .await?
        .ok_or_else(missing)?
        .try_get("site_id")?;
    who.require_at_site(perm, Some(site.clone()))
        .map_err(|_| missing())?;
    Ok(site)
}

/// The camera zones a meter supplies.
#[utoipa::path(get, path = "/api/v1/energy/meters/{device_id}/zones", tag = "energy", params(("device_id" = String, Path)), security(("bearer" = ["energy:read"])),
    responses((status = 200, description = "Zones", body = MeterZones), (status = 404, description = "Unknown meter", body = crate::error::ErrorBody)))]
pub async fn get_meter_zones(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyRead>,
    Path(id): Path<String>,
) -> Result<axum::Json<MeterZones>, ApiError> {
    let client = state.pool.get().await?;
    meter_site(&client, &who.0, crate::auth::Permission::EnergyRead, &id).await?;
    let zones = config::meter_zones(&client, &id)
        .await?
        .into_iter()
        .map(|(camera_id, zone_id)| ZoneRef { camera_id, zone_id })
        .collect();
    Ok(axum::Json(MeterZones { zones }))
}

/// Sets the camera zones a meter supplies (cameras of the meter's site).
#[utoipa::path(put, path = "/api/v1/energy/meters/{device_id}/zones", tag = "energy", params(("device_id" = String, Path)), request_body = MeterZones, security(("bearer" = ["energy:write"])),
    responses((status = 200, description = "Stored", body = MeterZones), (status = 400, description = "Unknown zone", body = crate::error::ErrorBody), (status = 404, description = "Unknown meter", body = crate::error::ErrorBody)))]
pub async fn put_meter_zones(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Path(id): Path<String>,
    Json(b): Json<MeterZones>,
) -> Result<axum::Json<MeterZones>, ApiError> {
    let mut client = state.pool.get().await?;
    let site = meter_site(&client, &who.0, crate::auth::Permission::EnergyWrite, &id).await?;
    if b.zones.len() > 200 {
        return Err(ApiError::bad_request("a meter supplies at most 200 zones"));
    }
    for z in &b.zones {
        let ok = client
            .query_opt(
                "SELECT 1 FROM zones z JOIN cameras c ON c.id = z.camera_id
                 WHERE z.camera_id = $1 AND z.id = $2 AND c.site_id = $3",
                &[&z.camera_id, &z.zone_id, &site],
            )
            .await?
            .is_some();
        if !ok {
            return Err(ApiError::bad_request(format!(
                "no zone {:?} on camera {:?} at site {site:?}",
                z.zone_id, z.camera_id
            ))
            .with_details(
                serde_json::json!({"suggestion": "GET /api/v1/config/zones lists them"}),
            ));
        }
    }
    let pairs: Vec<(String, String)> = b
        .zones
        .iter()
        .map(|z| (z.camera_id.clone(), z.zone_id.clone()))
        .collect();
    config::set_meter_zones(&mut client, &id, &pairs).await?;
    Ok(axum::Json(b))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteEnergy {
    /// Gross internal floor area; null clears it.
    pub floor_area_m2: Option<f64>,
}

/// Sets a site's floor area (for kWh/m²).
#[utoipa::path(put, path = "/api/v1/energy/sites/{site_id}", tag = "energy", params(("site_id" = String, Path)), request_body = SiteEnergy, security(("bearer" = ["energy:write"])),
    responses((status = 200, description = "Stored", body = SiteEnergy), (status = 400, description = "Bad", body = crate::error::ErrorBody), (status = 404, description = "Unknown site", body = crate::error::ErrorBody)))]
pub async fn put_site(
    State(state): State<AppState>,
    who: CanAtSite<perm::EnergyWrite>,
    Path(site_id): Path<String>,
    Json(b): Json<SiteEnergy>,
) -> Result<axum::Json<SiteEnergy>, ApiError> {
    let site = who.site(Some(site_id))?;
    if b.floor_area_m2.is_some_and(|a| !(a > 0.0 && a < 1e8)) {
        return Err(ApiError::bad_request(
            "floor_area_m2 must be above 0 and below 100 000 000",
        ));
    }
    let client = state.pool.get().await?;
    let site = site_for(&client, site).await?;
    config::set_floor_area(&client, &site.id, b.floor_area_m2).await?;
    Ok(axum::Json(b))
}
