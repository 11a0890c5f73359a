//! `central admin broker config`: the one Mosquitto configuration Atrium
//! is tested with (persistence, queue budget, limits, TLS, CRL).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

use atrium_mqtt::broker::QueueBudget;

use super::pki::replace_file;

#[derive(Debug, clap::Subcommand)]
pub(super) enum BrokerCommand {
    /// Write the Mosquitto configuration Atrium needs (persistence, queue
    /// budget for an offline central, size limits, mutual TLS, ACL, CRL):
    /// the same text the tests and the demo run with.
    Config {
        /// The PKI directory (`pki init`): ca.pem, broker.pem, broker.key,
        /// acl, crl.pem.
        #[arg(long)]
        pki: PathBuf,
        /// Listener address and port (repeat for several).
        #[arg(long = "listen", default_values_t = ["0.0.0.0:8883".to_owned()])]
        listen: Vec<String>,
        /// Directory of mosquitto.db.
        #[arg(long, default_value = "/var/lib/mosquitto")]
        persistence_dir: PathBuf,
        /// `stderr` (journald), `syslog`, or `file:PATH`.
        #[arg(long, default_value = "stderr")]
        log: String,
        /// Broker memory for one offline central's queue, MiB.
        #[arg(long, default_value_t = QueueBudget::default().memory_mib)]
        queue_mib: u64,
        /// Average event size assumed for the queue's message limit, bytes.
        #[arg(long, default_value_t = QueueBudget::default().event_bytes)]
        event_bytes: u64,
        /// User the broker runs as after start (default: Mosquitto's own).
        #[arg(long)]
        user: Option<String>,
        /// Write here instead of standard output (e.g.
        /// /etc/mosquitto/mosquitto.conf).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

pub(super) fn broker(cmd: BrokerCommand) -> anyhow::Result<ExitCode> {
    use atrium_mqtt::broker::{Listener, LogDest, MosquittoConfig};
    let BrokerCommand::Config {
        pki,
        listen,
        persistence_dir,
        log,
        queue_mib,
        event_bytes,
        user,
        out,
    } = cmd;
    let listeners = listen
        .iter()
        .map(|l| {
            let (address, port) = l
                .rsplit_once(':')
                .with_context(|| format!("--listen {l:?}: expected ADDRESS:PORT"))?;
            let port = port
                .parse()
                .with_context(|| format!("--listen {l:?}: bad port"))?;
            Ok(Listener {
                address: address.to_owned(),
                port,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let log = match log.as_str() {
        "stderr" => LogDest::Stderr,
        "syslog" => LogDest::Syslog,
        other => match other.strip_prefix("file:") {
            Some(p) if !p.is_empty() => LogDest::File(p.into()),
            _ => bail!("--log {other:?}: use stderr, syslog or file:PATH"),
        },
    };
    if queue_mib == 0 || event_bytes == 0 {
        bail!("--queue-mib and --event-bytes must be positive");
    }
    let crl = pki.join("crl.pem");
    let config = MosquittoConfig {
        listeners,
        ca_file: pki.join("ca.pem"),
        cert_file: pki.join("broker.pem"),
        key_file: pki.join("broker.key"),
        crl_file: Some(crl),
        acl_file: pki.join("acl"),
        persistence_dir,
        log,
        user,
        queue: QueueBudget {
            memory_mib: queue_mib,
            event_bytes,
        },
    };
    let text = config.render();
    match out {
        Some(path) => {
            replace_file(&path, &text, false)?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
