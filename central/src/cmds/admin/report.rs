//! `central admin report …`: make a report and write it to a file (for
//! operators and scripts; archived like the API's), list the archive, and
//! manage schedules. The CLI acts as the installation's administrator, so
//! it may name people (`--include-persons`); that is audited as the API's
//! access is.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use central::api::reports::check_schedule;
use central::reports::gather::Request;
use central::reports::period::{Kind, Period};
use central::reports::{self, Format, SectionKey, archive};
use central::store::audit::{self, Actor};
use central::store::reports as store;
use chrono::NaiveDate;

#[derive(Debug, clap::Subcommand)]
pub(super) enum ReportCommand {
    /// Make a report of a site and write it to a file (it is archived too).
    Run {
        /// daily, weekly, monthly or custom (custom needs --to).
        #[arg(long, default_value = "daily")]
        kind: String,
        #[arg(long)]
        site: String,
        /// A day of the period (daily: that day; weekly: its Monday-to-
        /// Sunday week; monthly: its month; custom: the first day).
        /// Default: today in the site's zone.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// The last day of a custom period.
        #[arg(long)]
        to: Option<NaiveDate>,
        /// pdf, excel or csv (a zip of CSV files).
        #[arg(long, default_value = "pdf")]
        format: String,
        /// Comma-separated sections (default: all): counting, recognition,
        /// uptime, alerts, energy, systems.
        #[arg(long)]
        sections: Option<String>,
        /// Name recognised people in the report (personal data).
        #[arg(long)]
        include_persons: bool,
        /// Where to write the file (default: a name from the site, kind
        /// and period, in the current directory); `-` for standard output.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
    },
    /// The archive of generated reports, newest first.
    List {
        #[arg(long)]
        site: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Schedules that make and e-mail reports.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
}

#[derive(Debug, clap::Subcommand)]
pub(super) enum ScheduleCommand {
    /// Add a schedule.
    Add {
        #[arg(long)]
        name: String,
        /// daily, weekly or monthly.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        site: String,
        /// Local time (HH:MM, site's zone) on the day after each period.
        #[arg(long, default_value = "06:00")]
        at: String,
        /// Comma-separated formats to attach: pdf, excel, csv.
        #[arg(long, default_value = "pdf")]
        formats: String,
        /// Comma-separated sections (default: all).
        #[arg(long)]
        sections: Option<String>,
        /// An e-mail address; repeat for several.
        #[arg(long = "to")]
        recipients: Vec<String>,
        /// A day of the first period to make (default: the current one).
        #[arg(long)]
        first_period: Option<NaiveDate>,
    },
    List,
    /// Remove a schedule (its reports stay in the archive).
    Remove {
        id: uuid::Uuid,
    },
}

async fn today(client: &deadpool_postgres::Client, site: &str) -> anyhow::Result<NaiveDate> {
    let row = client
        .query_opt(
            "SELECT (now() AT TIME ZONE timezone)::date AS d FROM sites WHERE id = $1",
            &[&site],
        )
        .await?
        .with_context(|| format!("no site {site:?} (central admin site list)"))?;
    Ok(row.try_get("d")?)
}

pub(super) async fn report(
    cmd: ReportCommand,
    client: &deadpool_postgres::Client,
) -> anyhow::Result<ExitCode> {
    match cmd {
        ReportCommand::Run {
            kind,
            site,
            date,
            to,
            format,
            sections,
            include_persons,
            output,
        } => {
            let kind = Kind::parse(&kind).with_context(|| {
                format!("--kind: daily, weekly, monthly or custom, not {kind:?}")
            })?;
            let format = Format::parse(&format)
                .with_context(|| format!("--format: pdf, excel or csv, not {format:?}"))?;
            let sections =
                SectionKey::parse_list(sections.as_deref()).map_err(anyhow::Error::msg)?;
            let date = match date {
                Some(d) => d,
                None => today(client, &site).await?,
            };
            let period = match (kind, to) {
                (Kind::Custom, Some(to)) => Period::custom(date, to)?,
                (Kind::Custom, None) => bail!("a custom report needs --to (its last day)"),
                (_, Some(_)) => bail!("--to is for custom reports"),
                (k, None) => Period::containing(k, date)?,
            };
            let req = Request {
                site,
                period,
                sections,
                include_persons,
            };
            let g = archive::generate(client, &req, chrono::Utc::now(), Some(audit::CLI_USERNAME))
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            if include_persons {
                audit::record(
                    client,
                    Actor::Cli,
                    "reports.generate",
                    &g.row.id.to_string(),
                    serde_json::json!({}),
                )
                .await?;
            }
            let bytes = reports::export(&g.data, format)?;
            let path =
                output.unwrap_or_else(|| PathBuf::from(reports::file_name(&g.data, kind, format)));
            if path.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout().write_all(&bytes)?;
            } else {
                std::fs::write(&path, &bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!(
                    "report {} ({} {} to {}) written to {} ({} bytes)",
                    g.row.id,
                    g.row.kind,
                    g.row.period_from,
                    g.row.period_to,
                    path.display(),
                    bytes.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ReportCommand::List { site, limit } => {
            let filter = store::ReportFilter {
                sites: site.map(|s| vec![s]),
                ..Default::default()
            };
            let window = central::store::list::Window {
                limit: limit.clamp(1, 1000),
                offset: 0,
            };
            let (rows, total) = store::page(client, &filter, window).await?;
            for r in &rows {
                println!(
                    "{}  {:<8} {:<12} {} to {}  {}  {}",
                    r.id,
                    r.kind,
                    r.site_id,
                    r.period_from,
                    r.period_to,
                    r.generated_at.format("%Y-%m-%d %H:%M:%SZ"),
                    r.requested_by.as_deref().unwrap_or("schedule"),
                );
            }
            eprintln!("{} of {total} reports", rows.len());
            Ok(ExitCode::SUCCESS)
        }
        ReportCommand::Schedule(ScheduleCommand::Add {
            name,
            kind,
            site,
            at,
            formats,
            sections,
            recipients,
            first_period,
        }) => {
            let sections =
                SectionKey::parse_list(sections.as_deref()).map_err(anyhow::Error::msg)?;
            let formats = formats
                .split(',')
                .map(|f| {
                    Format::parse(f.trim())
                        .with_context(|| format!("--formats: pdf, excel or csv, not {f:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let c = check_schedule(
                &name,
                &kind,
                Some(&at),
                Some(sections),
                Some(formats),
                recipients,
            )
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let first =
                Period::containing(c.kind, first_period.unwrap_or(today(client, &site).await?))?;
            let id = store::add_schedule(
                client,
                &store::NewSchedule {
                    name: name.trim(),
                    kind: c.kind.as_str(),
                    site_id: &site,
                    at_local: c.at,
                    sections: c.sections,
                    formats: c.formats,
                    recipients: c.recipients,
                    include_persons: false,
                    next_from: first.from,
                    created_by: Some(audit::CLI_USERNAME),
                },
            )
            .await?;
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        ReportCommand::Schedule(ScheduleCommand::List) => {
            for s in store::schedules(client, None).await? {
                println!(
                    "{}  {:<8} {:<12} at {}  next from {}  {}  to: {}  {}",
                    s.id,
                    s.kind,
                    s.site_id,
                    s.at_local.format("%H:%M"),
                    s.next_from,
                    s.formats.join(","),
                    if s.recipients.is_empty() {
                        "(archive only)".to_string()
                    } else {
                        s.recipients.join(", ")
                    },
                    s.last_error
                        .as_deref()
                        .map(|e| format!("last error: {e}"))
                        // Option, not an error: no last error prints nothing.
                        .unwrap_or_default(),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ReportCommand::Schedule(ScheduleCommand::Remove { id }) => {
            if !store::delete_schedule(client, id).await? {
                bail!("no report schedule {id}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
