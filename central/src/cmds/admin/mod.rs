//! `central admin …`: users, sites, cameras, devices, energy, alerts, reports, persons and the broker PKI,
//! for the person who installs and runs Atrium. One module per noun; this
//! one parses the arguments and opens the database for the nouns that
//! need it.

mod alerts;
mod broker;
mod cameras;
mod devices;
mod energy;
mod pki;
mod report;
mod sites;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use alerts::{AlertsCommand, alerts};
use broker::{BrokerCommand, broker};
use cameras::{CameraCommand, camera};
use devices::{DeviceCommand, device};
use energy::{EnergyCommand, energy};
use pki::{PkiCommand, pki};
use report::{ReportCommand, report};
use sites::{SiteCommand, site};
use users::{UserCommand, user};

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
    /// Building-system devices: power meters, lighting, lifts, access
    /// control, fire panels.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Energy management: tariffs, holidays, emission factors, floor
    /// areas, the zones a meter supplies.
    #[command(subcommand)]
    Energy(EnergyCommand),
    /// Alerts: notification channels (and a test notification through
    /// one), silences for maintenance.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Reports: make one and write it to a file, the archive, schedules.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Certificates for the broker, central and edge agents.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// The Mosquitto broker's configuration.
    #[command(subcommand)]
    Broker(BrokerCommand),
    /// Persons to recognise (bulk enrolment). `persons` still works.
    #[command(subcommand, alias = "persons")]
    Person(super::persons::PersonsCommand),
    /// Face recognition: calibrate the same-person threshold on your
    /// photos, compare embedders, re-embed enrolled photos for a new one.
    /// (Plural as the feature is named; `face` works too.)
    #[command(subcommand, alias = "face")]
    Faces(super::faces::FacesCommand),
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        AdminCommand::Pki(cmd) => return pki(cmd),
        AdminCommand::Broker(cmd) => return broker(cmd),
        // No database: photos in, numbers out (and the config file).
        AdminCommand::Faces(cmd) if !cmd.needs_database() => {
            let faces = match &args.config {
                Some(c) => central::config::Config::load(c)?.faces,
                None => Default::default(),
            };
            return super::faces::run(cmd, faces, args.config.as_deref()).await;
        }
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
        AdminCommand::Device(d) => d.check()?,
        _ => {}
    }
    let url = match (&args.database_url, &args.config) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => {
            let cfg = central::config::Config::load(c)?;
            let pg = cfg.database_config()?;
            return run_db(
                args.command,
                central::store::connect_config(pg).await?,
                cfg.faces,
                cfg.alerts,
            )
            .await;
        }
        (None, None) => bail!("give --database-url (or ATRIUM_DATABASE_URL) or --config"),
    };
    let client = central::store::connect(&url).await?;
    run_db(args.command, client, Default::default(), Default::default()).await
}

async fn run_db(
    cmd: AdminCommand,
    mut client: deadpool_postgres::Client,
    faces: central::config::FacesSection,
    alerts_cfg: central::config::AlertsSection,
) -> anyhow::Result<ExitCode> {
    match cmd {
        AdminCommand::Person(c) => super::persons::run(c, &mut client, faces).await,
        AdminCommand::User(c) => user(c, &client).await,
        AdminCommand::Site(c) => site(c, &client).await,
        AdminCommand::Camera(c) => camera(c, &client).await,
        AdminCommand::Device(c) => device(c, &mut client).await,
        AdminCommand::Energy(c) => energy(c, &mut client).await,
        AdminCommand::Alerts(c) => alerts(c, &client, &alerts_cfg).await,
        AdminCommand::Report(c) => report(c, &client).await,
        AdminCommand::Pki(c) => pki(c),
        AdminCommand::Broker(c) => broker(c),
        AdminCommand::Faces(c) => super::faces::run_db(c, &client, faces).await,
    }
}
