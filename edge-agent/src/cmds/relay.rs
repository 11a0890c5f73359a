//! `edge-agent relay --config FILE`: events from standard input, delivered
//! like the camera's own (see `edge_agent::relay`).

use std::process::ExitCode;
use tracing::Instrument;

use anyhow::Context;
use edge_agent::config::Config;
use edge_agent::relay::{self, RelayOptions};
use tokio::sync::watch;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent's TOML configuration (camera, broker and spool sections
    /// are used; no camera is opened and no model loaded).
    #[arg(long, short, env = "ATRIUM_EDGE_CONFIG")]
    pub config: std::path::PathBuf,
    /// At the end of the input, exit once every event is delivered (or
    /// after 30 s) instead of running until stopped.
    #[arg(long)]
    pub exit_at_eof: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("edge-relay")
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            super::run::shutdown_signal().await;
            // No receiver: the relay has already ended.
            let _ = tx.send(true);
        });
        tracing::info!(camera = %config.camera.id, site = %config.camera.site, "edge relay starting");
        let span = tracing::info_span!("camera", camera = %config.camera.id, site = %config.camera.site);
        relay::run(
            config,
            tokio::io::BufReader::new(tokio::io::stdin()),
            tokio::io::stdout(),
            rx,
            RelayOptions {
                exit_at_eof: args.exit_at_eof,
            },
        )
        .instrument(span)
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}
