//! Subcommands.

use std::process::ExitCode;

pub mod bench;
pub mod check;
pub mod check_config;
pub mod probe;
pub mod relay;
pub mod replay;
pub mod run;
pub mod snapshot;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the agent: camera in, events out.
    Run(run::Args),
    /// Installer self-check: camera, models, broker, disk and clock; prints
    /// a pass/fail list and exits non-zero on any failure.
    Check(run::Args),
    /// Validate a configuration file and print what it sets up.
    CheckConfig(run::Args),
    /// Save a JPEG of the camera's current frame (with lines and zones
    /// drawn), for placing counting lines.
    Snapshot(snapshot::Args),
    /// Connect to an RTSP camera, decode some frames and report codec,
    /// resolution and frame rate (no configuration needed).
    Probe(probe::Args),
    /// Measure decode, detection and full-pipeline frame rates on a video
    /// file and print a table.
    Bench(bench::Args),
    /// Count a recorded video with the configuration's lines and zones, as
    /// the camera would at real time (nothing is published).
    Replay(replay::Args),
    /// Deliver events another local program writes to standard input (one
    /// JSON event per line) with the agent's spool and delivery guarantees;
    /// answers `spooled <id>` per event.
    Relay(relay::Args),
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Snapshot(args) => snapshot::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Relay(args) => relay::run(args),
        Command::Replay(args) => replay::run(args),
    }
}
