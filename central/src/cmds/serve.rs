//! `central serve`: runs ingest, the API, WebSockets and the web UI until
//! SIGINT/SIGTERM, then stops cleanly (the current batch is committed or
//! left unacknowledged for redelivery).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (see docs/ref/central-config.md).
    #[arg(long, short, env = "ATRIUM_CENTRAL_CONFIG")]
    pub config: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = central::config::Config::load(&args.config)?;
    let running = central::server::start(cfg)
        .await
        .context("starting central")?;
    println!("central listening on http://{}", running.addr);
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
