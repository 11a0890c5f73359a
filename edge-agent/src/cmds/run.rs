//! `edge-agent run --config FILE`.

use std::path::PathBuf;
use std::process::ExitCode;
use tracing::Instrument;

use anyhow::Context;
use edge_agent::config::Config;
use edge_agent::pipeline::{self, RunOptions};
use tokio::sync::watch;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent's TOML configuration.
    #[arg(long, short, env = "ATRIUM_EDGE_CONFIG")]
    pub config: PathBuf,
    /// With a file source that does not loop: exit once the file is played
    /// and every event acknowledged (tests, batch counting).
    #[arg(long)]
    pub exit_at_end: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("edge-io")
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = tx.send(true);
        });
        tracing::info!(camera = %config.camera.id, site = %config.camera.site, version = env!("CARGO_PKG_VERSION"), "edge agent starting");
        let span = tracing::info_span!("camera", camera = %config.camera.id, site = %config.camera.site);
        pipeline::run(
            config,
            rx,
            RunOptions {
                exit_when_source_ends: args.exit_at_end,
            },
        )
        .instrument(span)
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested");
}
