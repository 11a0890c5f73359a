//! `central check-config --config FILE`: parse and validate the file, open
//! every file it names (database password, broker TLS identity, JWT key,
//! photo key) without connecting anywhere, and summarise. Used as the
//! unit's `ExecStartPre`, so a broken file fails before `serve` with its
//! reason instead of as a crash loop.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use atrium_proto::CentralId;

use super::serve::Args;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let c = central::config::Config::load(&args.config)?;
    let db = c.database_config()?;
    let tls = atrium_mqtt::TlsFiles {
        ca: c.broker.ca_file.clone(),
        cert: c.broker.cert_file.clone(),
        key: c.broker.key_file.clone(),
    };
    tls.transport().context("broker TLS files")?;
    let cert = read(&c.broker.cert_file, "broker.cert_file")?;
    let (_, cn) = atrium_mqtt::pki::certificate_id(&cert).context("broker.cert_file")?;
    if let Err(e) = CentralId::new(&cn) {
        bail!(
            "broker.cert_file {} is issued to {cn:?}, not to a central instance ({e}); issue one with `central admin pki issue --central`",
            c.broker.cert_file.display()
        );
    }
    let jwt = if c.auth.jwt_key_file.exists() {
        central::auth::jwt::Keys::load_or_create(&c.auth.jwt_key_file, c.auth.access_ttl_s)
            .context("auth.jwt_key_file")?;
        format!("{}", c.auth.jwt_key_file.display())
    } else {
        format!(
            "{} (created at the first start)",
            c.auth.jwt_key_file.display()
        )
    };
    if let Some(p) = &c.faces.photo_key_file {
        central::recognize::photo_key::PhotoKey::load(p).context("faces.photo_key_file")?;
    }
    println!("{}: OK", args.config.display());
    let hosts: Vec<String> = db
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    println!(
        "  database: {} / {}",
        hosts.join(","),
        db.get_dbname().unwrap_or("(default)")
    );
    println!(
        "  broker: {}:{} as {cn} (group {})",
        c.broker.host, c.broker.port, c.broker.share_group
    );
    println!("  http: {}", c.http.listen);
    println!("  jwt key: {jwt}");
    println!(
        "  ingest spool: {} (quota {} MiB)",
        c.ingest.spool_dir.display(),
        c.ingest.spool_max_mib
    );
    println!(
        "  faces: {}",
        if c.faces.enabled {
            format!("on (models in {})", c.faces.models_dir.display())
        } else {
            "off".into()
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{what} {}", path.display()))
}
