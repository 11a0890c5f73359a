//! What facility managers set for energy management: tariffs, holidays,
//! emission factors, supply contracts, targets, the zones a meter
//! supplies and a site's floor area. The API and the CLI both write
//! through here; the content (a tariff's bands, a factor's range) is
//! checked before, the database's constraints are the backstop.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Json;
use utoipa::ToSchema;

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnergyWriteError {
    #[error("{0}")]
    Overlap(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

fn classify(e: tokio_postgres::Error, what: &str) -> EnergyWriteError {
    match e.code() {
        Some(c) if *c == SqlState::EXCLUSION_VIOLATION => EnergyWriteError::Overlap(format!(
            "the {what}'s validity overlaps another {what} of the site: at most one is in force on a day"
        )),
        Some(c) if *c == SqlState::CHECK_VIOLATION || *c == SqlState::FOREIGN_KEY_VIOLATION => {
            EnergyWriteError::Invalid(format!(
                "the {what} was refused by the database: {}",
                e.as_db_error()
                    .map_or("a constraint failed", |d| d.message())
            ))
        }
        _ => EnergyWriteError::Db(e),
    }
}

/// A stored tariff.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TariffRow {
    pub id: i64,
    pub site_id: String,
    pub name: String,
    /// First local date it is in force.
    pub valid_from: NaiveDate,
    /// First local date it is no longer in force; none: open.
    pub valid_to: Option<NaiveDate>,
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const TARIFF_COLUMNS: &str =
    "id, site_id, name, valid_from, valid_to, definition, created_at, updated_at";

fn tariff_row(r: &tokio_postgres::Row) -> Result<TariffRow, tokio_postgres::Error> {
    Ok(TariffRow {
        id: r.try_get("id")?,
        site_id: r.try_get("site_id")?,
        name: r.try_get("name")?,
        valid_from: r.try_get("valid_from")?,
        valid_to: r.try_get("valid_to")?,
        definition: r.try_get("definition")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Tariffs of a site (or all), by site and start.
pub async fn tariffs(
    client: &impl GenericClient,
    site: Option<&str>,
) -> Result<Vec<TariffRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("SELECT {TARIFF_COLUMNS} FROM tariffs WHERE ($1::text IS NULL OR site_id = $1) ORDER BY site_id, valid_from"),
            &[&site],
        )
        .await?;
    rows.iter().map(tariff_row).collect()
}

/// Tariffs of a site in force on some day of `[from, to)`.
pub async fn tariffs_between(
    client: &impl GenericClient,
    site: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<TariffRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT {TARIFF_COLUMNS} FROM tariffs
                 WHERE site_id = $1 AND daterange(valid_from, valid_to) && daterange($2, $3)
                 ORDER BY valid_from"
            ),
            &[&site, &from, &to],
        )
        .await?;
    rows.iter().map(tariff_row).collect()
}

pub async fn tariff(
    client: &impl GenericClient,
    id: i64,
) -> Result<Option<TariffRow>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("SELECT {TARIFF_COLUMNS} FROM tariffs WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(tariff_row).transpose()
}

/// A tariff to store (its definition already validated).
#[derive(Debug, Clone)]
pub struct NewTariff<'a> {
    pub site_id: &'a str,
    pub name: &'a str,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub definition: &'a serde_json::Value,
}

/// Adds a tariff. An open-ended one that starts after the site's open
/// tariff succeeds it: the old one ends where the new one starts (its id
/// is returned). Any other overlap is refused.
pub async fn add_tariff(
    client: &mut deadpool_postgres::Client,
    t: &NewTariff<'_>,
) -> Result<(TariffRow, Option<i64>), EnergyWriteError> {
    let tx = client.transaction().await?;
    let mut closed = None;
    if t.valid_to.is_none() {
        closed = tx
            .query_opt(
                "UPDATE tariffs SET valid_to = $2, updated_at = now()
                 WHERE site_id = $1 AND valid_to IS NULL AND valid_from < $2 RETURNING id",
                &[&t.site_id, &t.valid_from],
            )
            .await?
            .map(|r| r.try_get::<_, i64>("id"))
            .transpose()?;
    }
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO tariffs (site_id, name, valid_from, valid_to, definition)
                 VALUES ($1, $2, $3, $4, $5) RETURNING {TARIFF_COLUMNS}"
            ),
            &[
                &t.site_id,
                &t.name,
                &t.valid_from,
                &t.valid_to,
                &Json(t.definition),
            ],
        )
        .await
        .map_err(|e| classify(e, "tariff"))?;
    let row = tariff_row(&row)?;
    tx.commit().await?;
    Ok((row, closed))
}

/// Replaces a tariff's name, validity and definition; none when there is
/// no such tariff.
pub async fn update_tariff(
    client: &impl GenericClient,
    id: i64,
    t: &NewTariff<'_>,
) -> Result<Option<TariffRow>, EnergyWriteError> {
    let row = client
        .query_opt(
            &format!(
                "UPDATE tariffs SET name = $2, valid_from = $3, valid_to = $4, definition = $5, updated_at = now()
                 WHERE id = $1 AND site_id = $6 RETURNING {TARIFF_COLUMNS}"
            ),
            &[&id, &t.name, &t.valid_from, &t.valid_to, &Json(t.definition), &t.site_id],
        )
        .await
        .map_err(|e| classify(e, "tariff"))?;
    Ok(row.as_ref().map(tariff_row).transpose()?)
}

pub async fn delete_tariff(
    client: &impl GenericClient,
    id: i64,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .execute("DELETE FROM tariffs WHERE id = $1", &[&id])
        .await?
        == 1)
}

/// A public holiday of a site.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Holiday {
    pub site_id: String,
    pub date: NaiveDate,
    pub name: String,
}

pub async fn holidays(
    client: &impl GenericClient,
    site: &str,
    year: Option<i32>,
) -> Result<Vec<Holiday>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT site_id, day, name FROM holidays
             WHERE site_id = $1 AND ($2::int IS NULL OR extract(year FROM day)::int = $2) ORDER BY day",
            &[&site, &year],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Holiday {
                site_id: r.try_get("site_id")?,
                date: r.try_get("day")?,
                name: r.try_get("name")?,
            })
        })
        .collect()
}

/// Adds or renames a holiday.
pub async fn put_holiday(client: &impl GenericClient, h: &Holiday) -> Result<(), EnergyWriteError> {
    client
        .execute(
            "INSERT INTO holidays (site_id, day, name) VALUES ($1, $2, $3)
             ON CONFLICT (site_id, day) DO UPDATE SET name = EXCLUDED.name",
            &[&h.site_id, &h.date, &h.name],
        )
        .await
        .map_err(|e| classify(e, "holiday"))?;
    Ok(())
}

pub async fn delete_holiday(
    client: &impl GenericClient,
    site: &str,
    day: NaiveDate,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .execute(
            "DELETE FROM holidays WHERE site_id = $1 AND day = $2",
            &[&site, &day],
        )
        .await?
        == 1)
}

/// A site's grid factors for a year.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EmissionFactor {
    pub site_id: String,
    pub year: i32,
    /// Grid average, kgCO2e/kWh (location-based).
    pub location_kg_per_kwh: f64,
    /// Residual mix, kgCO2e/kWh (market-based, for energy no contract
    /// covers); none: the grid average stands in, and says so.
    pub residual_mix_kg_per_kwh: Option<f64>,
    pub source: String,
}

pub async fn emission_factors(
    client: &impl GenericClient,
    site: &str,
) -> Result<Vec<EmissionFactor>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT site_id, year, location_kg_per_kwh, residual_mix_kg_per_kwh, source
             FROM emission_factors WHERE site_id = $1 ORDER BY year",
            &[&site],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(EmissionFactor {
                site_id: r.try_get("site_id")?,
                year: r.try_get("year")?,
                location_kg_per_kwh: r.try_get("location_kg_per_kwh")?,
                residual_mix_kg_per_kwh: r.try_get("residual_mix_kg_per_kwh")?,
                source: r.try_get("source")?,
            })
        })
        .collect()
}

pub async fn put_emission_factor(
    client: &impl GenericClient,
    f: &EmissionFactor,
) -> Result<(), EnergyWriteError> {
    client
        .execute(
            "INSERT INTO emission_factors (site_id, year, location_kg_per_kwh, residual_mix_kg_per_kwh, source)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (site_id, year) DO UPDATE SET location_kg_per_kwh = EXCLUDED.location_kg_per_kwh,
                 residual_mix_kg_per_kwh = EXCLUDED.residual_mix_kg_per_kwh, source = EXCLUDED.source",
            &[&f.site_id, &f.year, &f.location_kg_per_kwh, &f.residual_mix_kg_per_kwh, &f.source],
        )
        .await
        .map_err(|e| classify(e, "emission factor"))?;
    Ok(())
}

/// A contractual instrument (market-based Scope 2).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contract {
    pub id: i64,
    pub site_id: String,
    pub supplier: String,
    /// supplier_specific, energy_attribute_certificate or ppa.
    pub instrument: String,
    pub kg_per_kwh: f64,
    /// Share of the site's consumption it covers (0 < share ≤ 1).
    pub covers_share: f64,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
}

pub async fn contracts(
    client: &impl GenericClient,
    site: &str,
) -> Result<Vec<Contract>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT id, site_id, supplier, instrument, kg_per_kwh, covers_share, valid_from, valid_to
             FROM supply_contracts WHERE site_id = $1 ORDER BY valid_from",
            &[&site],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Contract {
                id: r.try_get("id")?,
                site_id: r.try_get("site_id")?,
                supplier: r.try_get("supplier")?,
                instrument: r.try_get("instrument")?,
                kg_per_kwh: r.try_get("kg_per_kwh")?,
                covers_share: r.try_get("covers_share")?,
                valid_from: r.try_get("valid_from")?,
                valid_to: r.try_get("valid_to")?,
            })
        })
        .collect()
}

/// Stores a contract (its `id` is ignored) and returns its id.
pub async fn add_contract(
    client: &impl GenericClient,
    c: &Contract,
) -> Result<i64, EnergyWriteError> {
    let row = client
        .query_one(
            "INSERT INTO supply_contracts (site_id, supplier, instrument, kg_per_kwh, covers_share, valid_from, valid_to)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[&c.site_id, &c.supplier, &c.instrument, &c.kg_per_kwh, &c.covers_share, &c.valid_from, &c.valid_to],
        )
        .await
        .map_err(|e| classify(e, "contract"))?;
    Ok(row.try_get("id")?)
}

pub async fn delete_contract(
    client: &impl GenericClient,
    id: i64,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .execute("DELETE FROM supply_contracts WHERE id = $1", &[&id])
        .await?
        == 1)
}

/// A target as stored.
#[derive(Debug, Clone)]
pub struct TargetRow {
    pub id: i64,
    pub site_id: String,
    pub device_id: Option<String>,
    pub name: String,
    pub metric: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub value: f64,
    /// The period's bounds as instants in the site's zone.
    pub start_at: DateTime<Utc>,
    pub end_at: DateTime<Utc>,
}

const TARGETS: &str = "
SELECT t.id, t.site_id, t.device_id, t.name, t.metric, t.period_start, t.period_end, t.value,
       t.period_start::timestamp AT TIME ZONE s.timezone AS start_at,
       t.period_end::timestamp AT TIME ZONE s.timezone AS end_at
FROM energy_targets t JOIN sites s ON s.id = t.site_id
WHERE ($1::text IS NULL OR t.site_id = $1) AND ($2::bigint IS NULL OR t.id = $2)
ORDER BY t.site_id, t.period_start, t.id";

pub async fn targets(
    client: &impl GenericClient,
    site: Option<&str>,
    id: Option<i64>,
) -> Result<Vec<TargetRow>, tokio_postgres::Error> {
    let rows = client.query(TARGETS, &[&site, &id]).await?;
    rows.iter()
        .map(|r| {
            Ok(TargetRow {
                id: r.try_get("id")?,
                site_id: r.try_get("site_id")?,
                device_id: r.try_get("device_id")?,
                name: r.try_get("name")?,
                metric: r.try_get("metric")?,
                period_start: r.try_get("period_start")?,
                period_end: r.try_get("period_end")?,
                value: r.try_get("value")?,
                start_at: r.try_get("start_at")?,
                end_at: r.try_get("end_at")?,
            })
        })
        .collect()
}

/// What a target is set to.
#[derive(Debug, Clone)]
pub struct TargetSpec<'a> {
    pub site_id: &'a str,
    pub device_id: Option<&'a str>,
    pub name: &'a str,
    pub metric: &'a str,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub value: f64,
}

/// Adds a target (`replace` none) or replaces target `id` if it still
/// belongs to `site` (what the caller's right to change it was checked
/// against); returns its id, none when there is no such target.
pub async fn put_target(
    client: &impl GenericClient,
    replace: Option<(i64, &str)>,
    t: &TargetSpec<'_>,
) -> Result<Option<i64>, EnergyWriteError> {
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
        &t.site_id,
        &t.device_id,
        &t.name,
        &t.metric,
        &t.period_start,
        &t.period_end,
        &t.value,
    ];
    let row = match replace {
        None => client
            .query_opt(
                "INSERT INTO energy_targets (site_id, device_id, name, metric, period_start, period_end, value)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &params,
            )
            .await,
        Some((id, site)) => {
            let mut p: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.to_vec();
            p.push(&id);
            p.push(&site);
            client
                .query_opt(
                    "UPDATE energy_targets SET site_id = $1, device_id = $2, name = $3, metric = $4,
                         period_start = $5, period_end = $6, value = $7, updated_at = now()
                     WHERE id = $8 AND site_id = $9 RETURNING id",
                    &p,
                )
                .await
        }
    }
    .map_err(|e| classify(e, "target"))?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

pub async fn delete_target(
    client: &impl GenericClient,
    id: i64,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .execute("DELETE FROM energy_targets WHERE id = $1", &[&id])
        .await?
        == 1)
}

/// The zones (camera, zone) a meter supplies.
pub async fn meter_zones(
    client: &impl GenericClient,
    meter: &str,
) -> Result<Vec<(String, String)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT camera_id, zone_id FROM meter_zones WHERE device_id = $1 ORDER BY 1, 2",
            &[&meter],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("camera_id")?, r.try_get("zone_id")?)))
        .collect()
}

/// Replaces the zones a meter supplies.
pub async fn set_meter_zones(
    client: &mut deadpool_postgres::Client,
    meter: &str,
    zones: &[(String, String)],
) -> Result<(), EnergyWriteError> {
    let tx = client.transaction().await?;
    tx.execute("DELETE FROM meter_zones WHERE device_id = $1", &[&meter])
        .await?;
    for (camera, zone) in zones {
        tx.execute(
            "INSERT INTO meter_zones (device_id, camera_id, zone_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&meter, camera, zone],
        )
        .await
        .map_err(|e| classify(e, "meter zone"))?;
    }
    tx.commit().await?;
    Ok(())
}

/// Sets (or clears) a site's floor area; false when there is no such site.
pub async fn set_floor_area(
    client: &impl GenericClient,
    site: &str,
    m2: Option<f64>,
) -> Result<bool, EnergyWriteError> {
    Ok(client
        .execute(
            "UPDATE sites SET floor_area_m2 = $2 WHERE id = $1",
            &[&site, &m2],
        )
        .await
        .map_err(|e| classify(e, "floor area"))?
        == 1)
}
