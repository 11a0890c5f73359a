//! `central admin site …`: sites (buildings), each with its time zone.

use std::process::ExitCode;

use anyhow::{Context, bail};

#[derive(Debug, clap::Subcommand)]
pub(super) enum SiteCommand {
    /// Add a site.
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// IANA time zone for "today" and daily reports.
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
    /// List sites.
    List,
}

pub(super) async fn site(
    cmd: SiteCommand,
    client: &tokio_postgres::Client,
) -> anyhow::Result<ExitCode> {
    match cmd {
        SiteCommand::Add { id, name, timezone } => {
            atrium_proto::SiteId::new(id.clone())?;
            // Let PostgreSQL judge the zone name: it is what uses it.
            client
                .query_one("SELECT now() AT TIME ZONE $1", &[&timezone])
                .await
                .with_context(|| format!("unknown time zone {timezone:?}"))?;
            let n = client
                .execute(
                    "INSERT INTO sites (id, name, timezone) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                    &[&id, &name, &timezone],
                )
                .await?;
            if n == 0 {
                bail!("site {id:?} already exists");
            }
            println!("added site {id}");
        }
        SiteCommand::List => {
            for r in client
                .query("SELECT id, name, timezone FROM sites ORDER BY id", &[])
                .await?
            {
                println!(
                    "{:<24} {:<32} {}",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
