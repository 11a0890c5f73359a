//! `central`: thin entry point; each subcommand lives in `cmds/`.

use std::process::ExitCode;

use atrium_telemetry::LogFormat;
use clap::Parser;

mod cmds;

/// Atrium central server: ingests edge events and IoT telemetry into
/// TimescaleDB, recognises faces, serves the API and the web UI.
#[derive(Debug, Parser)]
#[command(name = "central", version, about, long_about = None)]
struct Cli {
    /// Log format: `text` for a terminal, `json` for journald.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "ATRIUM_LOG_FORMAT"
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: cmds::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    atrium_telemetry::init(cli.log_format);
    match cmds::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("central: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
