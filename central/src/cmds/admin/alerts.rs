//! `central admin alerts …`: notification channels (added from a JSON
//! file, checked as the API checks them), a test notification through a
//! channel, and silences for maintenance. E-mail channels send through
//! `[alerts.smtp]` of central's configuration, so testing one needs
//! `--config`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use central::alerts::{Matcher, RuleId, Silence, SubjectKind, SubjectRef};
use central::api::alerts::ChannelBody;
use central::store::alerts as store;

#[derive(Debug, clap::Subcommand)]
pub(super) enum AlertsCommand {
    /// Notification channels: webhooks and e-mail.
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Send a test notification through a channel now, and say whether it
    /// arrived (an e-mail channel needs --config for the SMTP server).
    TestChannel { name: String },
    /// Silences and maintenance windows.
    #[command(subcommand)]
    Silence(SilenceCommand),
}

#[derive(Debug, clap::Subcommand)]
pub(super) enum ChannelCommand {
    /// Add or replace a channel from a JSON file (format:
    /// docs/ref/alerts.md), `-` for standard input.
    Put { file: PathBuf },
    /// List the channels and whether their latest delivery failed.
    List,
    /// Remove a channel (its queued notifications are given up).
    Remove { name: String },
}

#[derive(Debug, clap::Subcommand)]
pub(super) enum SilenceCommand {
    /// Silence the alerts matching every option given, from now on.
    Add {
        #[arg(long)]
        rule: Option<String>,
        #[arg(long)]
        site: Option<String>,
        /// camera, device, door, site, target or zone (with --subject).
        #[arg(long, requires = "subject")]
        kind: Option<String>,
        #[arg(long, requires = "kind")]
        subject: Option<String>,
        /// How long, in minutes.
        #[arg(long, default_value_t = 60)]
        minutes: u32,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Silences not ended yet.
    List,
    /// End a silence now.
    Remove { id: uuid::Uuid },
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .with_context(|| format!("unknown {what} {s:?}"))
}

pub(super) async fn alerts(
    cmd: AlertsCommand,
    client: &deadpool_postgres::Client,
    cfg: &central::config::AlertsSection,
) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    match cmd {
        AlertsCommand::Channel(ChannelCommand::Put { file }) => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let body: ChannelBody = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a channel", file.display()))?;
            let c = body.channel().map_err(|e| anyhow::anyhow!(e.message))?;
            let new = store::put_channel(client, &c).await?;
            println!(
                "{} {} channel {}",
                if new { "added" } else { "replaced" },
                c.settings.kind(),
                c.name
            );
        }
        AlertsCommand::Channel(ChannelCommand::List) => {
            for r in store::channels(client).await? {
                let c = &r.channel;
                let state = match (&r.last_error, r.failing) {
                    (Some(e), true) => format!("FAILING: {e}"),
                    _ if r.last_success_at.is_some() => "ok".into(),
                    _ => "never used".into(),
                };
                println!(
                    "{}\t{}\t{}\t{}",
                    c.name,
                    c.settings.kind(),
                    if c.enabled { "enabled" } else { "disabled" },
                    state
                );
            }
        }
        AlertsCommand::Channel(ChannelCommand::Remove { name }) => {
            if !store::delete_channel(client, &name).await? {
                bail!("no channel {name:?}");
            }
            println!("removed channel {name}");
        }
        AlertsCommand::TestChannel { name } => {
            let Some(row) = store::channel(client, &name).await? else {
                bail!("no channel {name:?}");
            };
            let notifier = central::notify::Notifier::new(cfg)?;
            let result = notifier.test(&row.channel, now).await;
            store::channel_result(
                client,
                &name,
                result.as_ref().err().map(String::as_str),
                now,
            )
            .await?;
            match result {
                Ok(()) => println!("channel {name} took the test notification"),
                Err(e) => bail!("channel {name} did not take the test notification: {e}"),
            }
        }
        AlertsCommand::Silence(SilenceCommand::Add {
            rule,
            site,
            kind,
            subject,
            minutes,
            comment,
        }) => {
            let rule = rule.map(|r| parse::<RuleId>("rule", &r)).transpose()?;
            let subject = match (kind, subject) {
                (Some(k), Some(id)) => Some(SubjectRef {
                    kind: parse::<SubjectKind>("subject kind", &k)?,
                    id,
                }),
                _ => None,
            };
            if minutes == 0 {
                bail!("--minutes must be at least 1");
            }
            let id = uuid::Uuid::now_v7();
            let s = Silence {
                id: id.to_string(),
                matcher: Matcher {
                    rule,
                    site,
                    subject,
                },
                starts: now,
                ends: now + chrono::TimeDelta::minutes(i64::from(minutes)),
                by: "central admin".into(),
                comment,
            };
            s.validate()?;
            store::add_silence(client, id, &s).await?;
            println!("silence {id} until {}", s.ends.to_rfc3339());
        }
        AlertsCommand::Silence(SilenceCommand::List) => {
            for s in store::silences(client, now, None).await? {
                let m = &s.matcher;
                println!(
                    "{}\trule={}\tsite={}\tsubject={}\t{} .. {}\t{}",
                    s.id,
                    m.rule.map_or("any", RuleId::as_str),
                    m.site.as_deref().unwrap_or("any"),
                    m.subject.as_ref().map_or("any".into(), |r| format!(
                        "{}/{}",
                        r.kind.as_str(),
                        r.id
                    )),
                    s.starts.to_rfc3339(),
                    s.ends.to_rfc3339(),
                    s.comment.as_deref().unwrap_or("")
                );
            }
        }
        AlertsCommand::Silence(SilenceCommand::Remove { id }) => {
            if !store::delete_silence(client, id).await? {
                bail!("no silence {id}");
            }
            println!("removed silence {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
