//! `central admin pki …`: the site CA and the certificates of the broker,
//! central and the edge agents; the broker ACL and the CRL that go with
//! them. Files are written once (an existing key is never overwritten)
//! and secrets with mode 0600.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

#[derive(Debug, clap::Subcommand)]
pub(super) enum PkiCommand {
    /// Create a site CA, the broker's certificate, central's client
    /// certificates, an empty revocation list (crl.pem) and the broker ACL
    /// in DIR (existing files are kept; the ACL gains new central
    /// identities).
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Names the broker's certificate is valid for.
        #[arg(long = "broker-name", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
        broker_names: Vec<String>,
        /// Identities of central instances (`central`, `central-2`, …).
        #[arg(long = "central", default_values_t = ["central".to_owned()])]
        central: Vec<String>,
    },
    /// Issue a client certificate (IDENTITY.pem, IDENTITY.key) from the CA
    /// in DIR for a camera or device id; with --central, for a central
    /// instance (the name must be `central` or start with `central-` or
    /// `central_`, and is added to the ACL).
    Issue {
        #[arg(long)]
        dir: PathBuf,
        /// The identity is a central instance.
        #[arg(long)]
        central: bool,
        identity: String,
    },
    /// Revoke IDENTITY's certificate: add it to crl.pem (the broker refuses
    /// it once reloaded) and move its files to DIR/revoked/, so a new one
    /// can be issued.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        identity: String,
    },
    /// Re-sign crl.pem from DIR/revoked.list (after restoring a backup).
    Crl {
        #[arg(long)]
        dir: PathBuf,
    },
}

fn write_new(path: &Path, text: &str, secret: bool) -> anyhow::Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 });
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
    }
}

fn load_ca(dir: &Path) -> anyhow::Result<atrium_mqtt::pki::SiteCa> {
    let cert = std::fs::read_to_string(dir.join("ca.pem"))
        .with_context(|| format!("reading {}/ca.pem", dir.display()))?;
    let key = std::fs::read_to_string(dir.join("ca.key"))
        .with_context(|| format!("reading {}/ca.key", dir.display()))?;
    Ok(atrium_mqtt::pki::SiteCa::load(&cert, &key)?)
}

fn issue(dir: &Path, ca: &atrium_mqtt::pki::SiteCa, identity: &str) -> anyhow::Result<()> {
    if dir.join(format!("{identity}.pem")).exists() {
        println!("{identity}: certificate exists, kept");
        return Ok(());
    }
    let issued = ca.issue_client(identity)?;
    write_new(&dir.join(format!("{identity}.key")), &issued.key_pem, true)?;
    write_new(
        &dir.join(format!("{identity}.pem")),
        &issued.cert_pem,
        false,
    )?;
    println!("{identity}: wrote {identity}.pem and {identity}.key");
    Ok(())
}

/// Central identities named in an ACL file (`user NAME` lines).
fn acl_centrals(dir: &Path) -> Vec<String> {
    // No ACL yet (a fresh PKI directory): no central identities in it.
    std::fs::read_to_string(dir.join("acl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("user "))
        .map(|u| u.trim().to_owned())
        .collect()
}

/// Writes the ACL for the central identities already in it plus `add`.
fn update_acl(dir: &Path, add: &[String]) -> anyhow::Result<()> {
    let mut ids = acl_centrals(dir);
    let before = ids.clone();
    for a in add {
        atrium_proto::CentralId::new(a.clone())?;
        if !ids.contains(a) {
            ids.push(a.clone());
        }
    }
    let path = dir.join("acl");
    if path.exists() && ids == before {
        return Ok(());
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    replace_file(&path, &atrium_mqtt::acl::mosquitto_acl(&refs), false)?;
    println!(
        "wrote acl (Mosquitto acl_file) for central identities {}",
        ids.join(", ")
    );
    Ok(())
}

/// Atomically replaces a file (write a temporary, rename).
pub(super) fn replace_file(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    // A leftover from an interrupted run, usually absent; write_new
    // reports any real problem with the directory.
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, text, secret)?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// One line of `revoked.list`: serial (hex), identity, Unix time.
fn read_revoked(dir: &Path) -> anyhow::Result<Vec<atrium_mqtt::pki::Revoked>> {
    let path = dir.join("revoked.list");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .enumerate()
        .map(|(i, l)| {
            let mut f = l.split_whitespace();
            let serial = f.next().and_then(|s| hex::decode(s).ok());
            let at = f.nth(1).and_then(|t| t.parse().ok());
            match (serial, at) {
                (Some(serial), Some(at_unix)) => Ok(atrium_mqtt::pki::Revoked { serial, at_unix }),
                _ => bail!(
                    "{}:{}: expected `SERIAL IDENTITY UNIX_TIME`",
                    path.display(),
                    i + 1
                ),
            }
        })
        .collect()
}

/// Signs crl.pem from revoked.list.
fn write_crl(dir: &Path, ca: &atrium_mqtt::pki::SiteCa) -> anyhow::Result<usize> {
    let revoked = read_revoked(dir)?;
    // A CRL number must grow with each list: seconds since the epoch do.
    let number = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(1);
    let pem = ca.crl(&revoked, number)?;
    replace_file(&dir.join("crl.pem"), &pem, false)?;
    Ok(revoked.len())
}

pub(super) fn pki(cmd: PkiCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PkiCommand::Init {
            dir,
            broker_names,
            central,
        } => {
            for c in &central {
                atrium_proto::CentralId::new(c.clone())?;
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let ca = if dir.join("ca.pem").exists() {
                println!("CA exists in {}, kept", dir.display());
                load_ca(&dir)?
            } else {
                let ca = atrium_mqtt::pki::SiteCa::generate("site")?;
                write_new(&dir.join("ca.key"), ca.key_pem(), true)?;
                write_new(&dir.join("ca.pem"), ca.cert_pem(), false)?;
                println!("wrote ca.pem and ca.key (keep ca.key off the edge boxes)");
                ca
            };
            if !dir.join("broker.pem").exists() {
                let names: Vec<&str> = broker_names.iter().map(String::as_str).collect();
                let server = ca.issue_server(&names)?;
                write_new(&dir.join("broker.key"), &server.key_pem, true)?;
                write_new(&dir.join("broker.pem"), &server.cert_pem, false)?;
                println!("wrote broker.pem and broker.key for {}", names.join(", "));
            }
            if !dir.join("crl.pem").exists() {
                write_crl(&dir, &ca)?;
                println!("wrote crl.pem (no certificate revoked yet)");
            }
            update_acl(&dir, &central)?;
            for id in &central {
                issue(&dir, &ca, id)?;
            }
        }
        PkiCommand::Issue {
            dir,
            central,
            identity,
        } => {
            match (atrium_mqtt::pki::Identity::parse(&identity)?, central) {
                (atrium_mqtt::pki::Identity::Central(_), false) => bail!(
                    "{identity:?} is reserved for central instances (it may read every camera); \
                     pass --central to issue a central identity"
                ),
                (atrium_mqtt::pki::Identity::Edge(_), true) => bail!(
                    "{identity:?} is not a central identity: central instances are named \
                     `central`, `central-…` or `central_…`"
                ),
                _ => {}
            }
            let ca = load_ca(&dir)?;
            if central {
                update_acl(&dir, std::slice::from_ref(&identity))?;
            }
            issue(&dir, &ca, &identity)?;
        }
        PkiCommand::Revoke { dir, identity } => {
            atrium_mqtt::pki::Identity::parse(&identity)?;
            let ca = load_ca(&dir)?;
            let cert_path = dir.join(format!("{identity}.pem"));
            let pem = std::fs::read_to_string(&cert_path).with_context(|| {
                format!(
                    "reading {} (no current certificate for {identity})",
                    cert_path.display()
                )
            })?;
            let (serial, cn) = atrium_mqtt::pki::certificate_id(&pem)?;
            if cn != identity {
                bail!(
                    "{} is a certificate for {cn:?}, not {identity:?}",
                    cert_path.display()
                );
            }
            let serial_hex = hex::encode(&serial);
            {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("revoked.list"))
                    .context("opening revoked.list")?;
                writeln!(
                    f,
                    "{serial_hex} {identity} {}",
                    chrono::Utc::now().timestamp()
                )
                .context("writing revoked.list")?;
                f.sync_all().context("writing revoked.list")?;
            }
            let n = write_crl(&dir, &ca)?;
            let keep = dir.join("revoked");
            std::fs::create_dir_all(&keep)
                .with_context(|| format!("creating {}", keep.display()))?;
            let short = &serial_hex[..serial_hex.len().min(12)];
            for ext in ["pem", "key"] {
                let from = dir.join(format!("{identity}.{ext}"));
                if from.exists() {
                    let to = keep.join(format!("{identity}-{short}.{ext}"));
                    std::fs::rename(&from, &to).with_context(|| {
                        format!("moving {} to {}", from.display(), to.display())
                    })?;
                }
            }
            println!(
                "revoked {identity} (serial {serial_hex}); crl.pem now lists {n} certificate(s).\n\
                 Reload the broker to apply it (systemctl reload mosquitto, or SIGHUP); \
                 `central admin pki issue` makes a new certificate."
            );
        }
        PkiCommand::Crl { dir } => {
            let ca = load_ca(&dir)?;
            let n = write_crl(&dir, &ca)?;
            println!("wrote crl.pem listing {n} revoked certificate(s); reload the broker");
        }
    }
    Ok(ExitCode::SUCCESS)
}
