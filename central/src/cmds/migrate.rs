//! `central migrate`: brings the database schema up to date.

use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// PostgreSQL URL, e.g. postgres://atrium@127.0.0.1/atrium.
    #[arg(long, env = "ATRIUM_DATABASE_URL")]
    database_url: String,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut client = central::store::connect(&args.database_url).await?;
    let report = atrium_migrate::migrate(&mut client)
        .await
        .context("migrating the database")?;
    if report.applied.is_empty() {
        println!(
            "database is up to date ({} migrations already applied)",
            report.already.len()
        );
    } else {
        for v in &report.applied {
            println!("applied migration {v:04}");
        }
        println!(
            "{} applied, {} already present",
            report.applied.len(),
            report.already.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
