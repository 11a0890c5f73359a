//! Runs report schedules and mails their reports.
//!
//! Every instance runs this loop. A schedule's period is generated inside
//! a transaction that holds the schedule's row (`FOR UPDATE SKIP LOCKED`):
//! the report is stored, the schedule moved to its next period and the
//! e-mail queued together, so a second instance either skips the locked
//! row or, once it is free, sees the period already done. What falls due
//! is decided on the site's wall clock (`reports::period::pending`), so a
//! change of the clocks neither repeats nor skips a report. E-mails wait
//! in `report_mailings` and go out like alert notifications: claimed with
//! a lease, retried with the same back-off, given up after as many tries.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use uuid::Uuid;

use crate::alerts::{MAX_ATTEMPTS, backoff};
use crate::notify::Notifier;
use crate::reports::gather::Request;
use crate::reports::period::{self, Kind, Period};
use crate::reports::{self, Format, SectionKey, archive};
use crate::store::reports as store;

/// How many owed periods one schedule catches up per look (a schedule
/// that was off for months does not hold its lock for minutes).
const CATCH_UP: usize = 3;

/// How long a claimed mailing is this instance's: a monthly report's
/// three exports and an SMTP exchange take well under a minute.
const LEASE: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("{0}")]
    Report(String),
}

impl From<crate::error::ApiError> for ScheduleError {
    fn from(e: crate::error::ApiError) -> Self {
        ScheduleError::Report(e.message)
    }
}

/// What a schedule generates next, read from its row.
fn next_period(s: &store::ScheduleRow) -> Result<Period, String> {
    let kind = Kind::parse(&s.kind).ok_or_else(|| format!("unknown kind {:?}", s.kind))?;
    Period::containing(kind, s.next_from).map_err(|e| e.to_string())
}

/// Generates every period now due, schedule by schedule; returns how many
/// reports this instance generated.
pub async fn run_once(
    pool: &deadpool_postgres::Pool,
    now: DateTime<Utc>,
) -> Result<usize, ScheduleError> {
    let mut client = pool.get().await?;
    let mut made = 0;
    for id in store::enabled_schedules(&client).await? {
        for _ in 0..CATCH_UP {
            match one_period(&mut client, id, now).await {
                Ok(true) => made += 1,
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(schedule = %id, error = %e, "report schedule: period not generated; retried at the next look");
                    break;
                }
            }
        }
    }
    Ok(made)
}

/// Generates the schedule's next period if it is due and nobody else is
/// at it; true when a report was stored.
async fn one_period(
    client: &mut deadpool_postgres::Object,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, ScheduleError> {
    let mut tx = client.transaction().await?;
    let Some(s) = store::lock_schedule(&tx, id).await? else {
        return Ok(false);
    };
    let zone: String = tx
        .query_one("SELECT timezone FROM sites WHERE id = $1", &[&s.site_id])
        .await?
        .try_get("timezone")?;
    let outcome = async {
        let p = next_period(&s)?;
        let tz = period::zone(&zone).map_err(|e| e.to_string())?;
        let due = period::pending(p, s.at_local, tz, now, 1).map_err(|e| e.to_string())?;
        match due.first() {
            Some(p) => Ok(Some((
                *p,
                p.due_at(s.at_local, tz).map_err(|e| e.to_string())?,
            ))),
            None => Ok::<_, String>(None),
        }
    }
    .await;
    let (p, due_at) = match outcome {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(false),
        Err(e) => {
            store::schedule_ran(&tx, id, s.next_from, Some(&e)).await?;
            tx.commit().await?;
            return Err(ScheduleError::Report(e));
        }
    };
    let sections = s
        .sections
        .iter()
        .filter_map(|k| SectionKey::parse(k))
        .collect::<Vec<_>>();
    let req = Request {
        site: s.site_id.clone(),
        period: p,
        sections,
        // Scheduled reports never name people: an e-mail leaves the
        // audit trail (docs/ref/reports.md).
        include_persons: false,
    };
    let next = p
        .next()
        .map_err(|e| ScheduleError::Report(e.to_string()))?
        .from;
    // Generation runs in a savepoint: a failure rolls back what it wrote
    // and the schedule's row stays locked while the failure is recorded.
    let sp = tx.savepoint("generate").await?;
    let report = match archive::generate_scheduled(&sp, &req, now, id).await {
        Ok(r) => {
            sp.commit().await?;
            r
        }
        Err(e) => {
            sp.rollback().await?;
            // A period failing for a day (a tariff in two currencies, say)
            // is skipped, so that it does not hold back every later one.
            let give_up = now - due_at > chrono::Duration::days(1);
            let (next_from, message) = if give_up {
                (
                    next,
                    format!(
                        "the report of {} to {} was skipped after failing for a day: {}",
                        p.from, p.to, e.message
                    ),
                )
            } else {
                (s.next_from, e.message.clone())
            };
            store::schedule_ran(&tx, id, next_from, Some(&message)).await?;
            tx.commit().await?;
            return Err(ScheduleError::Report(message));
        }
    };
    if let Some(report) = report {
        if !s.recipients.is_empty() {
            store::enqueue_mailing(&tx, report, &s.recipients, &s.formats).await?;
        }
        tracing::info!(schedule = %id, site = %s.site_id, from = %p.from, to = %p.to, report = %report, "scheduled report generated");
    }
    store::schedule_ran(&tx, id, next, None).await?;
    tx.commit().await?;
    Ok(report.is_some())
}

/// Sends due mailings, one at a time; returns how many were claimed.
pub async fn send_due(
    pool: &deadpool_postgres::Pool,
    notifier: &Notifier,
) -> Result<usize, ScheduleError> {
    let client = pool.get().await?;
    let mut n = 0;
    while let Some(m) = store::claim_mailing(&client, LEASE).await? {
        n += 1;
        let result = mail(&client, notifier, &m).await;
        let retry = (m.attempts < MAX_ATTEMPTS).then(|| backoff(m.attempts));
        match &result {
            Ok(()) => {
                tracing::info!(report = %m.report_id, to = m.recipients.len(), "report mailed")
            }
            Err(e) => {
                tracing::warn!(report = %m.report_id, attempt = m.attempts, error = %e, "report not mailed")
            }
        }
        store::mailing_done(&client, m.id, result.err().as_deref(), retry).await?;
    }
    Ok(n)
}

async fn mail(
    client: &deadpool_postgres::Object,
    notifier: &Notifier,
    m: &store::Mailing,
) -> Result<(), String> {
    let (row, data) = archive::load(client, m.report_id)
        .await
        .map_err(|e| e.message)?
        .ok_or("the report was deleted")?;
    let kind = Kind::parse(&row.kind).unwrap_or(Kind::Custom);
    let mut files = Vec::new();
    for f in &m.formats {
        let format = Format::parse(f).ok_or_else(|| format!("unknown format {f:?}"))?;
        // Rendering is CPU work: off the async threads.
        let d = data.clone();
        let bytes = tokio::task::spawn_blocking(move || reports::export(&d, format))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        files.push((
            reports::file_name(&data, kind, format),
            format.content_type(),
            bytes,
        ));
    }
    let subject = format!(
        "{} – {} – {}",
        data.title,
        data.site.name,
        if data.period.from == data.period.to {
            data.period.from.to_string()
        } else {
            format!("{} to {}", data.period.from, data.period.to)
        }
    );
    let mut body = format!(
        "{subject}\n\nThe report is attached ({}).\n\n",
        m.formats.join(", ")
    );
    for s in &data.sections {
        for k in s.kpis.iter().filter(|k| k.headline) {
            let v = k.value.map_or("–".to_string(), |v| {
                format!("{v:.*}", usize::from(k.decimals))
            });
            let unit = k.unit.as_deref().unwrap_or("");
            body.push_str(&format!("{}: {v} {unit}\n", k.label));
        }
    }
    if let Some(u) = notifier.public_url() {
        body.push_str(&format!(
            "\n{}/#reports/{}\n",
            u.trim_end_matches('/'),
            row.id
        ));
    }
    notifier
        .mail_report(&m.recipients, &subject, body, files)
        .await
}

/// Looks for due schedules and mailings every `every` until `stop`.
pub async fn run(
    pool: deadpool_postgres::Pool,
    notifier: Notifier,
    clock: atrium_clock::SharedClock,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = run_once(&pool, clock.now()).await {
            tracing::warn!(error = %e, "report schedules not looked at; next try in one interval");
        }
        if let Err(e) = send_due(&pool, &notifier).await {
            tracing::warn!(error = %e, "report mailings not sent; next try in one interval");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
