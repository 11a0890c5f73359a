//! The report archive, report schedules and the outbox of their e-mails.
//!
//! A scheduled report is stored, its schedule advanced and its e-mail
//! queued in one transaction on the schedule's locked row, so with any
//! number of central instances a period is generated once and its e-mail
//! queued once (sent at least once: a sender dying between sending and
//! recording it is replaced when its lease ends). docs/ref/reports.md.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::filter::Filter;
use super::list::{self, FromRow, Window};

/// An archived report without its data (lists).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportRow {
    pub id: Uuid,
    /// daily, weekly, monthly or custom.
    pub kind: String,
    pub site_id: String,
    #[schema(value_type = String, format = Date)]
    pub period_from: NaiveDate,
    /// The last day, inclusive.
    #[schema(value_type = String, format = Date)]
    pub period_to: NaiveDate,
    pub sections: Vec<String>,
    /// The report names people: reading it needs `persons:read`.
    pub include_persons: bool,
    pub schedule_id: Option<Uuid>,
    pub requested_by: Option<String>,
    pub generated_at: DateTime<Utc>,
    /// SHA-256 of the data.
    pub data_hash: String,
    pub generator: String,
}

impl FromRow for ReportRow {
    const COLUMNS: &'static str = "r.id, r.kind, r.site_id, r.period_from, r.period_to, r.sections, r.include_persons, r.schedule_id, r.requested_by, r.generated_at, r.data_hash, r.generator";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            site_id: r.try_get("site_id")?,
            period_from: r.try_get("period_from")?,
            period_to: r.try_get("period_to")?,
            sections: r.try_get("sections")?,
            include_persons: r.try_get("include_persons")?,
            schedule_id: r.try_get("schedule_id")?,
            requested_by: r.try_get("requested_by")?,
            generated_at: r.try_get("generated_at")?,
            data_hash: r.try_get("data_hash")?,
            generator: r.try_get("generator")?,
        })
    }
}

/// A report to store.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub kind: &'a str,
    pub site_id: &'a str,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub sections: Vec<String>,
    pub include_persons: bool,
    /// The people the report names.
    pub persons: Vec<Uuid>,
    pub schedule_id: Option<Uuid>,
    pub requested_by: Option<&'a str>,
    pub generated_at: DateTime<Utc>,
    pub data: serde_json::Value,
    pub data_hash: &'a str,
    pub generator: &'a str,
}

/// Stores a report; None when its schedule already has one for the
/// period (another instance generated it first).
pub async fn insert(
    client: &impl GenericClient,
    r: &NewReport<'_>,
) -> Result<Option<Uuid>, tokio_postgres::Error> {
    let id = Uuid::now_v7();
    let row = client
        .query_opt(
            "INSERT INTO reports (id, kind, site_id, period_from, period_to, sections, include_persons,
                                  schedule_id, requested_by, generated_at, data, data_hash, generator, persons)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (schedule_id, period_from) DO NOTHING RETURNING id",
            &[
                &id,
                &r.kind,
                &r.site_id,
                &r.period_from,
                &r.period_to,
                &r.sections,
                &r.include_persons,
                &r.schedule_id,
                &r.requested_by,
                &r.generated_at,
                &r.data,
                &r.data_hash,
                &r.generator,
                &r.persons,
            ],
        )
        .await?;
    row.map(|r| r.try_get("id")).transpose()
}

/// A report generated on request with the same definition and the same
/// data as one already archived: asking twice gives the same report.
pub async fn same(
    client: &impl GenericClient,
    r: &NewReport<'_>,
) -> Result<Option<ReportRow>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {} FROM reports r
                 WHERE r.schedule_id IS NULL AND r.kind = $1 AND r.site_id = $2 AND r.period_from = $3
                   AND r.period_to = $4 AND r.sections = $5 AND r.include_persons = $6 AND r.data_hash = $7
                   AND r.generator = $8
                 ORDER BY r.generated_at LIMIT 1",
                ReportRow::COLUMNS
            ),
            &[
                &r.kind,
                &r.site_id,
                &r.period_from,
                &r.period_to,
                &r.sections,
                &r.include_persons,
                &r.data_hash,
                &r.generator,
            ],
        )
        .await?;
    row.as_ref().map(ReportRow::from_row).transpose()
}

/// A report and its data.
pub async fn get(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<(ReportRow, serde_json::Value)>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {}, r.data FROM reports r WHERE r.id = $1",
                ReportRow::COLUMNS
            ),
            &[&id],
        )
        .await?;
    match row {
        Some(r) => Ok(Some((ReportRow::from_row(&r)?, r.try_get("data")?))),
        None => Ok(None),
    }
}

/// Which archived reports a list shows.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub sites: Option<Vec<String>>,
    pub kind: Option<String>,
    pub schedule: Option<Uuid>,
}

/// One page of the archive, newest first.
pub async fn page(
    client: &impl GenericClient,
    q: &ReportFilter,
    window: Window,
) -> Result<(Vec<ReportRow>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.opt("r.site_id = ANY($)", q.sites.clone());
    f.opt("r.kind = $", q.kind.clone());
    f.opt("r.schedule_id = $", q.schedule);
    list::page::<ReportRow>(
        client,
        "reports r",
        "",
        &f,
        "r.generated_at DESC, r.id",
        window,
    )
    .await
}

// ------------------------------------------------------------ schedules

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleRow {
    pub id: Uuid,
    pub name: String,
    /// daily, weekly or monthly.
    pub kind: String,
    pub site_id: String,
    /// Local time of day (site's zone) the report is generated at, the
    /// day after its period.
    #[schema(value_type = String, example = "06:00:00")]
    pub at_local: NaiveTime,
    pub sections: Vec<String>,
    /// pdf, excel, csv: the attachments.
    pub formats: Vec<String>,
    pub recipients: Vec<String>,
    pub include_persons: bool,
    pub enabled: bool,
    /// The first day of the next period to generate.
    #[schema(value_type = String, format = Date)]
    pub next_from: NaiveDate,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl FromRow for ScheduleRow {
    const COLUMNS: &'static str = "s.id, s.name, s.kind, s.site_id, s.at_local, s.sections, s.formats, s.recipients, s.include_persons, s.enabled, s.next_from, s.created_by, s.created_at, s.last_run_at, s.last_error";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            kind: r.try_get("kind")?,
            site_id: r.try_get("site_id")?,
            at_local: r.try_get("at_local")?,
            sections: r.try_get("sections")?,
            formats: r.try_get("formats")?,
            recipients: r.try_get("recipients")?,
            include_persons: r.try_get("include_persons")?,
            enabled: r.try_get("enabled")?,
            next_from: r.try_get("next_from")?,
            created_by: r.try_get("created_by")?,
            created_at: r.try_get("created_at")?,
            last_run_at: r.try_get("last_run_at")?,
            last_error: r.try_get("last_error")?,
        })
    }
}

pub async fn schedules(
    client: &impl GenericClient,
    sites: Option<Vec<String>>,
) -> Result<Vec<ScheduleRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT {} FROM report_schedules s WHERE ($1::text[] IS NULL OR s.site_id = ANY($1)) ORDER BY s.site_id, s.name, s.id",
                ScheduleRow::COLUMNS
            ),
            &[&sites],
        )
        .await?;
    list::rows(&rows)
}

pub async fn schedule(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<ScheduleRow>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {} FROM report_schedules s WHERE s.id = $1",
                ScheduleRow::COLUMNS
            ),
            &[&id],
        )
        .await?;
    row.as_ref().map(ScheduleRow::from_row).transpose()
}

/// A schedule to add.
#[derive(Debug, Clone)]
pub struct NewSchedule<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub site_id: &'a str,
    pub at_local: NaiveTime,
    pub sections: Vec<String>,
    pub formats: Vec<String>,
    pub recipients: Vec<String>,
    pub include_persons: bool,
    pub next_from: NaiveDate,
    pub created_by: Option<&'a str>,
}

pub async fn add_schedule(
    client: &impl GenericClient,
    s: &NewSchedule<'_>,
) -> Result<Uuid, tokio_postgres::Error> {
    let id = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO report_schedules (id, name, kind, site_id, at_local, sections, formats, recipients,
                                           include_persons, next_from, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &id,
                &s.name,
                &s.kind,
                &s.site_id,
                &s.at_local,
                &s.sections,
                &s.formats,
                &s.recipients,
                &s.include_persons,
                &s.next_from,
                &s.created_by,
            ],
        )
        .await?;
    Ok(id)
}

pub async fn delete_schedule(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .execute("DELETE FROM report_schedules WHERE id = $1", &[&id])
        .await?
        == 1)
}

/// Enabled schedules' ids, for the runner to try one by one.
pub async fn enabled_schedules(
    client: &impl GenericClient,
) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT id FROM report_schedules WHERE enabled ORDER BY id",
            &[],
        )
        .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Locks a schedule for this transaction, or None when another instance
/// holds it (it is generating that schedule's report now) or it is gone.
pub async fn lock_schedule(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<ScheduleRow>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {} FROM report_schedules s WHERE s.id = $1 AND s.enabled FOR UPDATE SKIP LOCKED",
                ScheduleRow::COLUMNS
            ),
            &[&id],
        )
        .await?;
    row.as_ref().map(ScheduleRow::from_row).transpose()
}

/// Records a run: the next period owed, or the error that stopped it (the
/// period stays owed and is retried).
pub async fn schedule_ran(
    client: &impl GenericClient,
    id: Uuid,
    next_from: NaiveDate,
    error: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE report_schedules SET next_from = $2, last_run_at = now(), last_error = $3 WHERE id = $1",
            &[&id, &next_from, &error],
        )
        .await?;
    Ok(())
}

// -------------------------------------------------------------- mailings

pub async fn enqueue_mailing(
    client: &impl GenericClient,
    report: Uuid,
    recipients: &[String],
    formats: &[String],
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO report_mailings (report_id, recipients, formats) VALUES ($1, $2, $3)",
            &[&report, &recipients, &formats],
        )
        .await?;
    Ok(())
}

/// A mailing claimed for sending.
#[derive(Debug, Clone)]
pub struct Mailing {
    pub id: i64,
    pub report_id: Uuid,
    pub recipients: Vec<String>,
    pub formats: Vec<String>,
    pub attempts: i32,
}

/// Claims the oldest due mailing for `lease`, so that one instance sends
/// it; a crashed sender's claim runs out and another picks it up.
pub async fn claim_mailing(
    client: &impl GenericClient,
    lease: std::time::Duration,
) -> Result<Option<Mailing>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "UPDATE report_mailings SET lease_until = now() + make_interval(secs => $1), attempts = attempts + 1
             WHERE id = (SELECT id FROM report_mailings
                         WHERE delivered_at IS NULL AND failed_at IS NULL AND next_at <= now()
                           AND (lease_until IS NULL OR lease_until < now())
                         ORDER BY next_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id, report_id, recipients, formats, attempts",
            &[&lease.as_secs_f64()],
        )
        .await?;
    row.map(|r| {
        Ok(Mailing {
            id: r.try_get("id")?,
            report_id: r.try_get("report_id")?,
            recipients: r.try_get("recipients")?,
            formats: r.try_get("formats")?,
            attempts: r.try_get("attempts")?,
        })
    })
    .transpose()
}

/// Records a mailing's outcome: delivered, retried after `retry_in`, or
/// (no `retry_in`) given up.
pub async fn mailing_done(
    client: &impl GenericClient,
    id: i64,
    error: Option<&str>,
    retry_in: Option<std::time::Duration>,
) -> Result<(), tokio_postgres::Error> {
    match (error, retry_in) {
        (None, _) => {
            client
                .execute(
                    "UPDATE report_mailings SET delivered_at = now(), lease_until = NULL, last_error = NULL WHERE id = $1",
                    &[&id],
                )
                .await?
        }
        (Some(e), Some(wait)) => {
            client
                .execute(
                    "UPDATE report_mailings SET next_at = now() + make_interval(secs => $2), lease_until = NULL, last_error = $3 WHERE id = $1",
                    &[&id, &wait.as_secs_f64(), &e],
                )
                .await?
        }
        (Some(e), None) => {
            client
                .execute(
                    "UPDATE report_mailings SET failed_at = now(), lease_until = NULL, last_error = $2 WHERE id = $1",
                    &[&id, &e],
                )
                .await?
        }
    };
    Ok(())
}
