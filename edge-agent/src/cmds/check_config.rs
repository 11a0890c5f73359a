//! `edge-agent check-config --config FILE`: parse, validate, summarise.
//! Used as `ExecStartPre` so a broken file fails fast with its reason.

use std::process::ExitCode;

use edge_agent::config::{Config, SourceUrl};

use super::run::Args;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let c = Config::load(&args.config)?;
    let source = match c.source() {
        Ok(SourceUrl::Rtsp(u)) => edge_agent::source::rtsp::redact(&u),
        Ok(SourceUrl::File(p)) => format!("file {}", p.display()),
        Err(e) => anyhow::bail!(e),
    };
    println!("{}: OK", args.config.display());
    println!(
        "  camera {} on site {}: {source}",
        c.camera.id, c.camera.site
    );
    println!(
        "  detector: {} (models in {})",
        c.detector.model,
        c.detector.models_dir.display()
    );
    println!(
        "  faces: {}",
        if c.faces.enabled {
            format!("every {} s per person", c.faces.interval_s)
        } else {
            "off".into()
        }
    );
    println!("  broker: {}:{}", c.broker.host, c.broker.port);
    println!(
        "  spool: {} (quota {} MiB)",
        c.spool.dir.display(),
        c.spool.max_mib
    );
    println!("  lines: {}, zones: {}", c.lines.len(), c.zones.len());
    Ok(ExitCode::SUCCESS)
}
