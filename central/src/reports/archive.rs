//! Generating a report into the archive, and reading one back: the one
//! path the API, the admin CLI and schedules share, so a report is the
//! same whoever asked for it.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::gather::{self, Request};
use super::model::{GENERATOR, ReportData};
use crate::error::ApiError;
use crate::store::reports::{self as store, NewReport, ReportRow};

/// A generated (or, for the same definition and data, reused) report.
#[derive(Debug, Clone)]
pub struct Generated {
    pub row: ReportRow,
    pub data: ReportData,
    /// An archived report with the same definition and data was returned
    /// instead of a copy.
    pub reused: bool,
}

fn new_report<'a>(
    req: &'a Request,
    data: &'a serde_json::Value,
    hash: &'a str,
    now: DateTime<Utc>,
    schedule: Option<Uuid>,
    requested_by: Option<&'a str>,
) -> NewReport<'a> {
    NewReport {
        kind: req.period.kind.as_str(),
        site_id: &req.site,
        period_from: req.period.from,
        period_to: req.period.to,
        sections: req
            .sections
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        include_persons: req.include_persons,
        persons: Vec::new(),
        schedule_id: schedule,
        requested_by,
        generated_at: now,
        data: data.clone(),
        data_hash: hash,
        generator: GENERATOR,
    }
}

fn encode(data: &ReportData) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(data).map_err(|e| ApiError::internal("encoding a report", e))
}

/// Gathers the report and archives it; asking again for the same
/// definition while the data has not changed returns the archived one.
pub async fn generate(
    client: &impl GenericClient,
    req: &Request,
    now: DateTime<Utc>,
    requested_by: Option<&str>,
) -> Result<Generated, ApiError> {
    let data = gather::report(client, req, now).await?;
    let hash = data.hash();
    let json = encode(&data)?;
    let mut new = new_report(req, &json, &hash, now, None, requested_by);
    new.persons = data.persons.clone();
    if let Some(row) = store::same(client, &new).await? {
        return Ok(Generated {
            row,
            data,
            reused: true,
        });
    }
    let id = store::insert(client, &new)
        .await?
        .ok_or_else(|| ApiError::internal("archiving a report", "no id returned"))?;
    let row = store::get(client, id)
        .await?
        .ok_or_else(|| ApiError::internal("archiving a report", "the report vanished"))?
        .0;
    Ok(Generated {
        row,
        data,
        reused: false,
    })
}

/// Gathers and archives a schedule's report of a period; None when the
/// schedule already has it.
pub async fn generate_scheduled(
    client: &impl GenericClient,
    req: &Request,
    now: DateTime<Utc>,
    schedule: Uuid,
) -> Result<Option<Uuid>, ApiError> {
    let data = gather::report(client, req, now).await?;
    let hash = data.hash();
    let json = encode(&data)?;
    let mut new = new_report(req, &json, &hash, now, Some(schedule), None);
    new.persons = data.persons.clone();
    Ok(store::insert(client, &new).await?)
}

/// An archived report and its data.
pub async fn load(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<(ReportRow, ReportData)>, ApiError> {
    let Some((row, json)) = store::get(client, id).await? else {
        return Ok(None);
    };
    let data: ReportData = serde_json::from_value(json).map_err(|e| {
        ApiError::internal(
            &format!("reading report {id} (made by {})", row.generator),
            e,
        )
    })?;
    Ok(Some((row, data)))
}
