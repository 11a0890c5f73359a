//! Subcommands.

use std::process::ExitCode;

pub mod admin;
pub mod check_config;
pub mod faces;
pub mod migrate;
pub mod persons;
pub mod serve;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Apply pending database migrations (safe to run again).
    Migrate(migrate::Args),
    /// Run ingest, the API, WebSockets and the web UI.
    Serve(serve::Args),
    /// Administration: users, sites, cameras, certificates, persons, face calibration.
    Admin(admin::Args),
    /// Validate a configuration file and the files it names (no
    /// connections) and print what it sets up; for `ExecStartPre`.
    CheckConfig(serve::Args),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    match command {
        Command::Migrate(args) => rt.block_on(migrate::run(args)),
        Command::Serve(args) => rt.block_on(serve::run(args)),
        Command::Admin(args) => rt.block_on(admin::run(args)),
        Command::CheckConfig(args) => check_config::run(args),
    }
}
