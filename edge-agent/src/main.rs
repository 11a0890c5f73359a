//! `edge-agent`: thin entry point; each subcommand lives in `cmds/`.

use std::process::ExitCode;

use atrium_telemetry::LogFormat;
use clap::Parser;

mod cmds;

/// Atrium edge agent: reads one camera, counts and recognises people, and
/// publishes events to central over MQTT/TLS.
#[derive(Debug, Parser)]
#[command(name = "edge-agent", version, about, long_about = None)]
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
            eprintln!("edge-agent: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
