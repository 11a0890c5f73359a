//! Subcommands.

use std::process::ExitCode;

pub mod probe;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Connect to an RTSP camera, decode some frames and report codec,
    /// resolution and frame rate.
    Probe(probe::Args),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Probe(args) => probe::run(args),
    }
}
