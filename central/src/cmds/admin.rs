//! `central admin …`: users, sites, cameras and the broker PKI, for the
//! person who installs and runs Atrium.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use atrium_mqtt::broker::QueueBudget;
use central::auth::{Role, password};
use rand::Rng;
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// PostgreSQL URL (or use --config).
    #[arg(long, env = "ATRIUM_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Read the database settings from central's configuration file.
    #[arg(long, short, env = "ATRIUM_CENTRAL_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AdminCommand {
    /// Users of the API and web UI.
    #[command(subcommand)]
    User(UserCommand),
    /// Sites (buildings).
    #[command(subcommand)]
    Site(SiteCommand),
    /// Cameras (each with its edge agent).
    #[command(subcommand)]
    Camera(CameraCommand),
    /// Certificates for the broker, central and edge agents.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// The Mosquitto broker's configuration.
    #[command(subcommand)]
    Broker(BrokerCommand),
    /// Persons to recognise (bulk enrolment).
    #[command(subcommand)]
    Persons(super::persons::PersonsCommand),
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Add a user. Prints a generated password unless --password-stdin.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_enum)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a user's password. Prints a generated one unless --password-stdin.
    /// Ends the user's sessions (their WebSockets close within a second).
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give a user another role. Ends the user's sessions.
    Role {
        username: String,
        #[arg(value_enum)]
        role: Role,
    },
    /// Disable a user: no login, every session ended at once.
    Disable { username: String },
    /// Enable a disabled user again.
    Enable { username: String },
}

#[derive(Debug, clap::Subcommand)]
enum SiteCommand {
    /// Add a site.
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// IANA time zone for "today" and daily reports.
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
    /// List sites.
    List,
}

#[derive(Debug, clap::Subcommand)]
enum CameraCommand {
    /// Add a camera (creates its site, named after its id, if missing).
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        site: String,
        #[arg(long)]
        name: String,
    },
    /// List cameras.
    List,
}

#[derive(Debug, clap::Subcommand)]
enum PkiCommand {
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

#[derive(Debug, clap::Subcommand)]
enum BrokerCommand {
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

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        AdminCommand::Pki(cmd) => return pki(cmd),
        AdminCommand::Broker(cmd) => return broker(cmd),
        _ => {}
    }
    // Bad arguments are named before any connection is tried.
    match &args.command {
        AdminCommand::Camera(CameraCommand::Add { id, site, .. }) => {
            atrium_proto::CameraId::new(id.clone())?;
            atrium_proto::SiteId::new(site.clone())?;
        }
        AdminCommand::Site(SiteCommand::Add { id, .. }) => {
            atrium_proto::SiteId::new(id.clone())?;
        }
        _ => {}
    }
    let url = match (&args.database_url, &args.config) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => {
            let cfg = central::config::Config::load(c)?;
            let pg = cfg.database_config().map_err(anyhow::Error::msg)?;
            return run_db(
                args.command,
                central::store::connect_config(pg).await?,
                cfg.faces,
            )
            .await;
        }
        (None, None) => bail!("give --database-url (or ATRIUM_DATABASE_URL) or --config"),
    };
    let client = central::store::connect(&url).await?;
    run_db(args.command, client, Default::default()).await
}

async fn run_db(
    cmd: AdminCommand,
    mut client: deadpool_postgres::Client,
    faces: central::config::FacesSection,
) -> anyhow::Result<ExitCode> {
    match cmd {
        AdminCommand::Persons(c) => super::persons::run(c, &mut client, faces).await,
        AdminCommand::User(c) => user(c, &client).await,
        AdminCommand::Site(c) => site(c, &client).await,
        AdminCommand::Camera(c) => camera(c, &client).await,
        AdminCommand::Pki(c) => pki(c),
        AdminCommand::Broker(c) => broker(c),
    }
}

/// The password from stdin, or a generated one (printed).
fn new_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_owned();
        password::check_strength(&pw).map_err(anyhow::Error::msg)?;
        return Ok((pw, false));
    }
    let pw: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    Ok((pw, true))
}

async fn hash(pw: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await?
        .map_err(anyhow::Error::msg)
}

async fn user(cmd: UserCommand, client: &tokio_postgres::Client) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Add {
            username,
            role,
            password_stdin,
        } => {
            if username.is_empty()
                || username.chars().count() > 64
                || username.chars().any(char::is_whitespace)
            {
                bail!("user names are 1-64 characters without spaces");
            }
            let (pw, generated) = new_password(password_stdin)?;
            let hash = hash(pw.clone()).await?;
            let n = client
                .execute(
                    "INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (username) DO NOTHING",
                    &[&Uuid::now_v7(), &username, &hash, &role.as_str()],
                )
                .await?;
            if n == 0 {
                bail!("user {username:?} already exists (use `central admin user passwd`)");
            }
            println!("added user {username} ({})", role.as_str());
            if generated {
                println!("password: {pw}");
            }
        }
        UserCommand::List => {
            let rows = client
                .query(
                    "SELECT username, role, disabled, created_at FROM users ORDER BY username",
                    &[],
                )
                .await?;
            println!(
                "{:<24} {:<18} {:<9} created",
                "username", "role", "disabled"
            );
            for r in rows {
                let created: chrono::DateTime<chrono::Utc> = r.try_get("created_at")?;
                println!(
                    "{:<24} {:<18} {:<9} {}",
                    r.try_get::<_, String>("username")?,
                    r.try_get::<_, String>("role")?,
                    r.try_get::<_, bool>("disabled")?,
                    created.format("%Y-%m-%d %H:%M")
                );
            }
        }
        UserCommand::Passwd {
            username,
            password_stdin,
        } => {
            let (pw, generated) = new_password(password_stdin)?;
            let hash = hash(pw.clone()).await?;
            change_user(
                client,
                &username,
                "UPDATE users SET password_hash = $2, updated_at = now() WHERE username = $1 RETURNING id",
                &hash,
            )
            .await?;
            println!("password of {username} changed; their sessions are ended");
            if generated {
                println!("password: {pw}");
            }
        }
        UserCommand::Role { username, role } => {
            change_user(
                client,
                &username,
                "UPDATE users SET role = $2, updated_at = now() WHERE username = $1 RETURNING id",
                role.as_str(),
            )
            .await?;
            println!(
                "{username} is now {}; their sessions are ended",
                role.as_str()
            );
        }
        UserCommand::Disable { username } => {
            change_user(
                client,
                &username,
                "UPDATE users SET disabled = ($2 = 'yes'), updated_at = now() WHERE username = $1 RETURNING id",
                "yes",
            )
            .await?;
            println!("{username} is disabled; their sessions are ended");
        }
        UserCommand::Enable { username } => {
            change_user(
                client,
                &username,
                "UPDATE users SET disabled = ($2 = 'yes'), updated_at = now() WHERE username = $1 RETURNING id",
                "no",
            )
            .await?;
            println!("{username} is enabled again");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `update` (`$1` the user name, `$2` the value, returning the id)
/// and ends the user's sessions, in one transaction: every instance closes
/// the user's WebSockets and refuses their tokens.
async fn change_user(
    client: &tokio_postgres::Client,
    username: &str,
    update: &str,
    value: &str,
) -> anyhow::Result<()> {
    client.batch_execute("BEGIN").await?;
    let result = async {
        let row = client
            .query_opt(update, &[&username, &value])
            .await?
            .with_context(|| format!("no user {username:?}"))?;
        let id: Uuid = row.try_get("id")?;
        central::auth::sessions::end_all(client, id).await?;
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => client.batch_execute("COMMIT").await?,
        Err(e) => {
            // The statement's error is what the admin needs; a failed
            // ROLLBACK ends with this one-shot connection anyway.
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e);
        }
    }
    Ok(())
}

async fn site(cmd: SiteCommand, client: &tokio_postgres::Client) -> anyhow::Result<ExitCode> {
    match cmd {
        SiteCommand::Add { id, name, timezone } => {
            atrium_proto::SiteId::new(id.clone())?;
            // Let PostgreSQL judge the zone name: it is what uses it.
            client
                .query_one("SELECT now() AT TIME ZONE $1", &[&timezone])
                .await
                .with_context(|| format!("unknown time zone {timezone:?}"))?;
            let n = client
                .execute(
                    "INSERT INTO sites (id, name, timezone) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                    &[&id, &name, &timezone],
                )
                .await?;
            if n == 0 {
                bail!("site {id:?} already exists");
            }
            println!("added site {id}");
        }
        SiteCommand::List => {
            for r in client
                .query("SELECT id, name, timezone FROM sites ORDER BY id", &[])
                .await?
            {
                println!(
                    "{:<24} {:<32} {}",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn camera(cmd: CameraCommand, client: &tokio_postgres::Client) -> anyhow::Result<ExitCode> {
    match cmd {
        CameraCommand::Add { id, site, name } => {
            atrium_proto::CameraId::new(id.clone())?;
            atrium_proto::SiteId::new(site.clone())?;
            client
                .execute(
                    "INSERT INTO sites (id, name) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING",
                    &[&site],
                )
                .await?;
            let n = client
                .execute(
                    "INSERT INTO cameras (id, site_id, name) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                    &[&id, &site, &name],
                )
                .await?;
            if n == 0 {
                bail!("camera {id:?} already exists");
            }
            println!("added camera {id} at site {site}");
        }
        CameraCommand::List => {
            for r in client
                .query(
                    "SELECT id, site_id, name, enabled FROM cameras ORDER BY id",
                    &[],
                )
                .await?
            {
                println!(
                    "{:<24} {:<16} {:<32} {}",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    if r.get::<_, bool>(3) {
                        "enabled"
                    } else {
                        "disabled"
                    }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
fn replace_file(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
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

fn pki(cmd: PkiCommand) -> anyhow::Result<ExitCode> {
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

fn broker(cmd: BrokerCommand) -> anyhow::Result<ExitCode> {
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
