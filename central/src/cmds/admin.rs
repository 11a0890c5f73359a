//! `central admin …`: users, sites, cameras and the broker PKI, for the
//! person who installs and runs Atrium.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
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
    Passwd {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
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
    /// certificate and the broker ACL in DIR (existing files are kept).
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Names the broker's certificate is valid for.
        #[arg(long = "broker-name", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
        broker_names: Vec<String>,
        /// Identities of central instances (ACL and certificates).
        #[arg(long = "central", default_values_t = ["central".to_owned()])]
        central: Vec<String>,
    },
    /// Issue a client certificate (IDENTITY.pem, IDENTITY.key) from the CA
    /// in DIR: a camera id, device id or central identity.
    Issue {
        #[arg(long)]
        dir: PathBuf,
        identity: String,
    },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let AdminCommand::Pki(cmd) = args.command {
        return pki(cmd);
    }
    let url = match (&args.database_url, &args.config) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => {
            let cfg = central::config::Config::load(c)?;
            let pg = cfg.database_config().map_err(anyhow::Error::msg)?;
            return run_db(args.command, connect_with(pg).await?, cfg.faces).await;
        }
        (None, None) => bail!("give --database-url (or ATRIUM_DATABASE_URL) or --config"),
    };
    let client = central::store::connect(&url).await?;
    run_db(args.command, client, Default::default()).await
}

async fn connect_with(pg: tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = pg
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting to the database")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn run_db(
    cmd: AdminCommand,
    mut client: tokio_postgres::Client,
    faces: central::config::FacesSection,
) -> anyhow::Result<ExitCode> {
    match cmd {
        AdminCommand::Persons(c) => super::persons::run(c, &mut client, faces).await,
        AdminCommand::User(c) => user(c, &client).await,
        AdminCommand::Site(c) => site(c, &client).await,
        AdminCommand::Camera(c) => camera(c, &client).await,
        AdminCommand::Pki(c) => pki(c),
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
                let created: chrono::DateTime<chrono::Utc> = r.get(3);
                println!(
                    "{:<24} {:<18} {:<9} {}",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, bool>(2),
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
            let n = client
                .execute(
                    "UPDATE users SET password_hash = $2, updated_at = now() WHERE username = $1",
                    &[&username, &hash],
                )
                .await?;
            if n == 0 {
                bail!("no user {username:?}");
            }
            // A new password ends every session of the user.
            client
                .execute(
                    "UPDATE refresh_tokens SET revoked_at = now()
                     WHERE revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE username = $1)",
                    &[&username],
                )
                .await?;
            println!("password of {username} changed; their sessions are ended");
            if generated {
                println!("password: {pw}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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

fn pki(cmd: PkiCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PkiCommand::Init {
            dir,
            broker_names,
            central,
        } => {
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
            let ids: Vec<&str> = central.iter().map(String::as_str).collect();
            if write_new(
                &dir.join("acl"),
                &atrium_mqtt::acl::mosquitto_acl(&ids),
                false,
            )? {
                println!("wrote acl (Mosquitto acl_file)");
            }
            for id in &central {
                issue(&dir, &ca, id)?;
            }
        }
        PkiCommand::Issue { dir, identity } => {
            if identity != "central" && !identity.starts_with("central-") {
                atrium_proto::CameraId::new(identity.clone())?;
            }
            let ca = load_ca(&dir)?;
            issue(&dir, &ca, &identity)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
