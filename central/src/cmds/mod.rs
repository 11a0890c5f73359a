//! Subcommands.

use std::process::ExitCode;

pub mod migrate;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Apply pending database migrations (safe to run again).
    Migrate(migrate::Args),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    match command {
        Command::Migrate(args) => rt.block_on(migrate::run(args)),
    }
}
