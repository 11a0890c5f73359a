//! `/api/v1/reports/*`: generating daily, weekly, monthly and custom
//! reports (`reports:read`), the archive, exports as PDF, Excel or CSV
//! (`reports:export`, 5 an hour per caller by default) and schedules
//! (`reports:export`: a schedule mails exports). A report that names
//! recognised people is generated and read only with `persons:read`, and
//! each such access is audited. Reference: docs/ref/reports.md.

#![allow(unused_qualifications)]

use std::collections::BTreeMap;

use axum::extract::{OriginalUri, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, NaiveTime};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission, perm};
use crate::caller::CanAtSite;
use crate::error::ApiError;
use crate::http::extract::{Json, Path, Query};
use crate::http::pagination::{Page, Paginated};
use crate::reports::gather::Request;
use crate::reports::model::ReportData;
use crate::reports::period::{Kind, Period};
use crate::reports::{self, Format, SectionKey, archive};
use crate::store::audit;
use crate::store::reports::{self as store, ReportFilter, ReportRow, ScheduleRow};

/// A report: what was asked, when it was made, and its figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct Report {
    #[serde(flatten)]
    pub meta: ReportRow,
    /// The same definition with the same data was already archived: this
    /// is that report.
    pub reused: bool,
    /// Where to download each format.
    pub exports: BTreeMap<String, String>,
    pub data: ReportData,
}

fn exports(id: Uuid) -> BTreeMap<String, String> {
    [Format::Pdf, Format::Excel, Format::Csv]
        .into_iter()
        .map(|f| {
            (
                f.as_str().to_string(),
                format!("/api/v1/reports/{id}/export?format={}", f.as_str()),
            )
        })
        .collect()
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "REPORT_NOT_FOUND",
        format!("no report {id}"),
    )
    .with_details(serde_json::json!({"suggestion": "GET /api/v1/reports lists the archive"}))
}

fn persons_needed() -> ApiError {
    ApiError::forbidden("this report names recognised people: it needs the persons:read permission")
}

/// Refuses a report naming people to a caller without `persons:read`,
/// and records that someone with it saw one.
async fn personal_data_check(
    client: &impl GenericClient,
    user: &AuthUser,
    names_people: bool,
    action: &str,
    subject: &str,
) -> Result<(), ApiError> {
    if !names_people {
        return Ok(());
    }
    if !user.allows(Permission::PersonsRead) {
        return Err(persons_needed());
    }
    audit::record(client, user.actor(), action, subject, serde_json::json!({})).await?;
    Ok(())
}

/// Today on the site's clock, by the server's clock.
async fn site_today(
    client: &impl GenericClient,
    site: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NaiveDate, ApiError> {
    let zone: String = client
        .query_opt("SELECT timezone FROM sites WHERE id = $1", &[&site])
        .await?
        .ok_or_else(|| crate::energy_view::site_not_found(site))?
        .try_get("timezone")?;
    let tz = crate::reports::period::zone(&zone)
        .map_err(|e| ApiError::internal("the site's zone", e))?;
    Ok(now.with_timezone(&tz).date_naive())
}

/// How far back a schedule's first period may start: catching up mails a
/// report per period.
const FIRST_PERIOD_MAX_DAYS_BACK: u64 = 92;

async fn generate(
    state: &AppState,
    user: &AuthUser,
    req: Request,
) -> Result<axum::Json<Report>, ApiError> {
    if req.include_persons && !user.allows(Permission::PersonsRead) {
        return Err(persons_needed());
    }
    // The report and, when it names people, its audit entry: both or
    // neither.
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let g = archive::generate(&tx, &req, state.clock.now(), Some(&user.username)).await?;
    personal_data_check(
        &tx,
        user,
        req.include_persons,
        "reports.generate",
        &g.row.id.to_string(),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(Report {
        exports: exports(g.row.id),
        meta: g.row,
        reused: g.reused,
        data: g.data,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    pub site_id: Option<String>,
    /// A day of the period (default: today in the site's zone). Daily:
    /// that day; weekly: its week, Monday to Sunday; monthly: its month.
    #[param(value_type = Option<String>, format = Date)]
    pub date: Option<NaiveDate>,
    /// Comma-separated: counting, recognition, uptime, alerts, energy,
    /// systems (default: all).
    pub sections: Option<String>,
    /// Name recognised people (needs `persons:read`; default false).
    pub include_persons: Option<bool>,
}

async fn by_period(
    state: AppState,
    who: CanAtSite<perm::ReportsRead>,
    q: PeriodQuery,
    kind: Kind,
) -> Result<axum::Json<Report>, ApiError> {
    let site = who
        .site(q.site_id.clone())?
        .ok_or_else(|| ApiError::bad_request("site_id is required"))?;
    let sections = SectionKey::parse_list(q.sections.as_deref()).map_err(ApiError::bad_request)?;
    let date = match q.date {
        Some(d) => d,
        None => site_today(&state.pool.get().await?, &site, state.clock.now()).await?,
    };
    let period =
        Period::containing(kind, date).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let req = Request {
        site,
        period,
        sections,
        include_persons: q.include_persons.unwrap_or(false),
    };
    generate(&state, &who.0, req).await
}

/// The daily report of a site (generated and archived; the same day with
/// unchanged data returns the archived report).
#[utoipa::path(get, path = "/api/v1/reports/daily", tag = "reports", params(PeriodQuery), security(("bearer" = ["reports:read"])),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 403, description = "Names people without persons:read", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site", body = crate::error::ErrorBody),
    ))]
pub async fn daily(
    State(state): State<AppState>,
    who: CanAtSite<perm::ReportsRead>,
    Query(q): Query<PeriodQuery>,
) -> Result<axum::Json<Report>, ApiError> {
    by_period(state, who, q, Kind::Daily).await
}

/// The weekly report (Monday to Sunday) of a site.
#[utoipa::path(get, path = "/api/v1/reports/weekly", tag = "reports", params(PeriodQuery), security(("bearer" = ["reports:read"])),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site", body = crate::error::ErrorBody),
    ))]
pub async fn weekly(
    State(state): State<AppState>,
    who: CanAtSite<perm::ReportsRead>,
    Query(q): Query<PeriodQuery>,
) -> Result<axum::Json<Report>, ApiError> {
    by_period(state, who, q, Kind::Weekly).await
}

/// The monthly report (a calendar month) of a site.
#[utoipa::path(get, path = "/api/v1/reports/monthly", tag = "reports", params(PeriodQuery), security(("bearer" = ["reports:read"])),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site", body = crate::error::ErrorBody),
    ))]
pub async fn monthly(
    State(state): State<AppState>,
    who: CanAtSite<perm::ReportsRead>,
    Query(q): Query<PeriodQuery>,
) -> Result<axum::Json<Report>, ApiError> {
    by_period(state, who, q, Kind::Monthly).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomInput {
    pub site_id: String,
    /// First day (site's zone).
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Last day, inclusive; at most 92 days after `from`.
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// Default: all.
    pub sections: Option<Vec<SectionKey>>,
    #[serde(default)]
    pub include_persons: bool,
}

/// A report of any run of days (at most 92), compared with as many days
/// just before.
#[utoipa::path(post, path = "/api/v1/reports/custom", tag = "reports", request_body = CustomInput, security(("bearer" = ["reports:read"])),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "Bad period or sections", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site", body = crate::error::ErrorBody),
    ))]
pub async fn custom(
    State(state): State<AppState>,
    who: CanAtSite<perm::ReportsRead>,
    Json(b): Json<CustomInput>,
) -> Result<axum::Json<Report>, ApiError> {
    let site = who
        .site(Some(b.site_id.clone()))?
        .ok_or_else(|| ApiError::bad_request("site_id is required"))?;
    let period = Period::custom(b.from, b.to).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut sections = b.sections.unwrap_or_else(|| SectionKey::ALL.to_vec());
    sections.sort_by_key(|k| SectionKey::ALL.iter().position(|a| a == k));
    sections.dedup();
    if sections.is_empty() {
        return Err(ApiError::bad_request("sections: name at least one"));
    }
    let req = Request {
        site,
        period,
        sections,
        include_persons: b.include_persons,
    };
    generate(&state, &who.0, req).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ArchiveQuery {
    pub site_id: Option<String>,
    /// daily, weekly, monthly or custom.
    pub kind: Option<String>,
    /// Only this schedule's reports.
    pub schedule_id: Option<Uuid>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// The archive of generated reports, newest first (without their data).
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(ArchiveQuery), security(("bearer" = ["reports:read"])),
    responses(
        (status = 200, description = "A page of reports", body = Paginated<ReportRow>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    who: CanAtSite<perm::ReportsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<ArchiveQuery>,
) -> Result<axum::Json<Paginated<ReportRow>>, ApiError> {
    let site = who.site(q.site_id.clone())?;
    let page = Page::new(q.page, q.per_page)?;
    if let Some(k) = &q.kind {
        Kind::parse(k).ok_or_else(|| {
            ApiError::bad_request(format!(
                "kind must be daily, weekly, monthly or custom, not {k:?}"
            ))
        })?;
    }
    let client = state.pool.get().await?;
    let filter = ReportFilter {
        sites: site.map(|s| vec![s]),
        kind: q.kind,
        schedule: q.schedule_id,
    };
    let (rows, total) = store::page(&client, &filter, page.window()).await?;
    Ok(axum::Json(Paginated::new(rows, page, total, &uri)))
}

/// The archived report, its site checked against the caller's.
async fn archived(
    client: &impl GenericClient,
    who: &AuthUser,
    permission: Permission,
    id: Uuid,
) -> Result<(ReportRow, ReportData), ApiError> {
    let (row, data) = archive::load(client, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    // A key limited to another site learns nothing about this report.
    if who
        .require_at_site(permission, Some(row.site_id.clone()))
        .is_err()
    {
        return Err(not_found(id));
    }
    Ok((row, data))
}

/// An archived report with its figures.
#[utoipa::path(get, path = "/api/v1/reports/{id}", tag = "reports", params(("id" = Uuid, Path)), security(("bearer" = ["reports:read"])),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 403, description = "Names people without persons:read", body = crate::error::ErrorBody),
        (status = 404, description = "No such report", body = crate::error::ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    who: CanAtSite<perm::ReportsRead>,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Report>, ApiError> {
    let client = state.pool.get().await?;
    let (row, data) = archived(&client, &who.0, Permission::ReportsRead, id).await?;
    personal_data_check(
        &client,
        &who.0,
        row.include_persons,
        "reports.read",
        &id.to_string(),
    )
    .await?;
    Ok(axum::Json(Report {
        exports: exports(row.id),
        meta: row,
        reused: true,
        data,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// pdf, excel (an .xlsx workbook) or csv (a zip of one CSV per table).
    pub format: String,
}

/// An archived report as a file: the same report and format always give
/// the same PDF and CSV bytes.
#[utoipa::path(get, path = "/api/v1/reports/{id}/export", tag = "reports", params(("id" = Uuid, Path), ExportQuery), security(("bearer" = ["reports:export"])),
    responses(
        (status = 200, description = "The file (application/pdf, an .xlsx workbook, or application/zip)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "Unknown format", body = crate::error::ErrorBody),
        (status = 404, description = "No such report", body = crate::error::ErrorBody),
        (status = 429, description = "Export budget spent (5 an hour by default)", body = crate::error::ErrorBody),
    ))]
pub async fn export(
    State(state): State<AppState>,
    who: CanAtSite<perm::ReportsExport>,
    Path(id): Path<Uuid>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = Format::parse(&q.format).ok_or_else(|| {
        ApiError::bad_request(format!(
            "format must be pdf, excel or csv, not {:?}",
            q.format
        ))
    })?;
    let client = state.pool.get().await?;
    let (row, data) = archived(&client, &who.0, Permission::ReportsExport, id).await?;
    personal_data_check(
        &client,
        &who.0,
        row.include_persons,
        "reports.export",
        &id.to_string(),
    )
    .await?;
    drop(client);
    let kind = Kind::parse(&row.kind).unwrap_or(Kind::Custom);
    let name = reports::file_name(&data, kind, format);
    // Layout is CPU work of up to seconds: off the async threads.
    let bytes = tokio::task::spawn_blocking(move || reports::export(&data, format))
        .await
        .map_err(|e| ApiError::internal("exporting a report", e))?
        .map_err(|e| ApiError::internal("exporting a report", e))?;
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}

// ------------------------------------------------------------ schedules

#[derive(Debug, Serialize, ToSchema)]
pub struct Schedules {
    pub data: Vec<ScheduleRow>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SiteQuery {
    pub site_id: Option<String>,
}

/// Report schedules.
#[utoipa::path(get, path = "/api/v1/reports/schedules", tag = "reports", params(SiteQuery), security(("bearer" = ["reports:read"])),
    responses((status = 200, description = "Schedules", body = Schedules)))]
pub async fn list_schedules(
    State(state): State<AppState>,
    who: CanAtSite<perm::ReportsRead>,
    Query(q): Query<SiteQuery>,
) -> Result<axum::Json<Schedules>, ApiError> {
    let site = who.site(q.site_id)?;
    let client = state.pool.get().await?;
    let data = store::schedules(&client, site.map(|s| vec![s])).await?;
    Ok(axum::Json(Schedules { data }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub name: String,
    /// daily, weekly or monthly.
    pub kind: String,
    pub site_id: String,
    /// Local time of day, HH:MM (default 06:00): the report of a period is
    /// made at this time on the day after it ends, in the site's zone.
    pub at: Option<String>,
    /// Default: all.
    pub sections: Option<Vec<SectionKey>>,
    /// Attachments: pdf, excel, csv (default pdf).
    pub formats: Option<Vec<Format>>,
    /// E-mail addresses (none: archived only).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The first period to make (a day in it, at most 92 days back;
    /// default: the period holding today, made when it ends). Periods
    /// already over are made at once, oldest first.
    #[schema(value_type = Option<String>, format = Date)]
    pub first_period: Option<NaiveDate>,
}

/// A checked schedule, ready to store.
#[derive(Debug)]
pub struct CheckedSchedule {
    pub kind: Kind,
    pub at: NaiveTime,
    pub sections: Vec<String>,
    pub formats: Vec<String>,
    pub recipients: Vec<String>,
}

/// Checks a schedule's fields (shared with the admin CLI).
pub fn check_schedule(
    name: &str,
    kind: &str,
    at: Option<&str>,
    sections: Option<Vec<SectionKey>>,
    formats: Option<Vec<Format>>,
    recipients: Vec<String>,
) -> Result<CheckedSchedule, ApiError> {
    if name.trim().is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request("name: 1 to 200 characters"));
    }
    let kind = Kind::parse(kind)
        .filter(|k| *k != Kind::Custom)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "kind must be daily, weekly or monthly, not {kind:?}"
            ))
        })?;
    let at = match at {
        Some(s) => NaiveTime::parse_from_str(s, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M:%S"))
            .map_err(|_| ApiError::bad_request(format!("at must be HH:MM, not {s:?}")))?,
        None => NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN),
    };
    let mut sections = sections.unwrap_or_else(|| SectionKey::ALL.to_vec());
    sections.sort_by_key(|k| SectionKey::ALL.iter().position(|a| a == k));
    sections.dedup();
    if sections.is_empty() {
        return Err(ApiError::bad_request("sections: name at least one"));
    }
    let mut chosen: Vec<String> = Vec::new();
    for f in formats.unwrap_or_else(|| vec![Format::Pdf]) {
        if !chosen.iter().any(|g| g == f.as_str()) {
            chosen.push(f.as_str().to_string());
        }
    }
    let formats = chosen;
    if formats.is_empty() {
        return Err(ApiError::bad_request("formats: name at least one"));
    }
    for r in &recipients {
        r.parse::<lettre::Address>().map_err(|e| {
            ApiError::bad_request(format!("recipient {r:?} is not an e-mail address: {e}"))
        })?;
    }
    Ok(CheckedSchedule {
        kind,
        at,
        sections: sections.iter().map(|s| s.as_str().to_string()).collect(),
        formats,
        recipients,
    })
}

/// Adds a schedule.
#[utoipa::path(post, path = "/api/v1/reports/schedules", tag = "reports", request_body = ScheduleInput, security(("bearer" = ["reports:export"])),
    responses(
        (status = 201, description = "Added", body = ScheduleRow),
        (status = 400, description = "Bad schedule", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown site", body = crate::error::ErrorBody),
    ))]
pub async fn create_schedule(
    State(state): State<AppState>,
    who: CanAtSite<perm::ReportsExport>,
    Json(b): Json<ScheduleInput>,
) -> Result<(StatusCode, axum::Json<ScheduleRow>), ApiError> {
    let site = who
        .site(Some(b.site_id.clone()))?
        .ok_or_else(|| ApiError::bad_request("site_id is required"))?;
    let c = check_schedule(
        &b.name,
        &b.kind,
        b.at.as_deref(),
        b.sections,
        b.formats,
        b.recipients,
    )?;
    let client = state.pool.get().await?;
    let today = site_today(&client, &site, state.clock.now()).await?;
    let first = Period::containing(c.kind, b.first_period.unwrap_or(today))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if today
        .checked_sub_days(chrono::Days::new(FIRST_PERIOD_MAX_DAYS_BACK))
        .is_some_and(|limit| first.from < limit)
    {
        return Err(ApiError::bad_request(format!(
            "first_period: at most {FIRST_PERIOD_MAX_DAYS_BACK} days back (each period owed is made and mailed)"
        )));
    }
    let id = store::add_schedule(
        &client,
        &store::NewSchedule {
            name: b.name.trim(),
            kind: c.kind.as_str(),
            site_id: &site,
            at_local: c.at,
            sections: c.sections,
            formats: c.formats,
            recipients: c.recipients,
            // Scheduled reports never name people: e-mail leaves the
            // audit trail.
            include_persons: false,
            next_from: first.from,
            created_by: Some(&who.0.username),
        },
    )
    .await?;
    let row = store::schedule(&client, id)
        .await?
        .ok_or_else(|| ApiError::internal("adding a schedule", "the schedule vanished"))?;
    Ok((StatusCode::CREATED, axum::Json(row)))
}

/// Removes a schedule (its reports stay in the archive).
#[utoipa::path(delete, path = "/api/v1/reports/schedules/{id}", tag = "reports", params(("id" = Uuid, Path)), security(("bearer" = ["reports:export"])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such schedule", body = crate::error::ErrorBody),
    ))]
pub async fn delete_schedule(
    State(state): State<AppState>,
    who: CanAtSite<perm::ReportsExport>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.get().await?;
    let gone = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "SCHEDULE_NOT_FOUND",
            format!("no report schedule {id}"),
        )
    };
    let s = store::schedule(&client, id).await?.ok_or_else(gone)?;
    if who
        .0
        .require_at_site(Permission::ReportsExport, Some(s.site_id))
        .is_err()
    {
        return Err(gone());
    }
    store::delete_schedule(&client, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
