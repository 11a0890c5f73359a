//! `central admin energy …`: what a facility's energy figures are
//! computed with — tariffs (from a JSON file, checked as the API checks
//! them), public holidays, grid emission factors, a site's floor area and
//! the camera zones a meter supplies. Targets and supply contracts are
//! set in the web UI or the API (docs/ref/energy.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use central::energy::tariff::Tariff;
use central::store::energy_config::{self as config, EmissionFactor, Holiday, NewTariff};
use chrono::NaiveDate;

#[derive(Debug, clap::Subcommand)]
pub(super) enum EnergyCommand {
    /// Tariffs: time-of-use bands by season and day type, standing and
    /// demand charges, each valid over a range of local dates.
    #[command(subcommand)]
    Tariff(TariffCommand),
    /// Public holidays (priced as a tariff's holiday bands).
    #[command(subcommand)]
    Holiday(HolidayCommand),
    /// Set a site's grid emission factors for a year (kgCO2e/kWh).
    Factor {
        #[arg(long)]
        site: String,
        #[arg(long)]
        year: i32,
        /// Grid average (location-based Scope 2).
        #[arg(long)]
        location: f64,
        /// Residual mix (market-based Scope 2 for energy no contract covers).
        #[arg(long)]
        residual_mix: Option<f64>,
        /// Where the figures come from.
        #[arg(long)]
        source: String,
    },
    /// Set a site's gross floor area in m² (for kWh/m²); 0 clears it.
    FloorArea {
        #[arg(long)]
        site: String,
        m2: f64,
    },
    /// Set the camera zones a meter supplies (for empty-building energy);
    /// no --zone clears them.
    MeterZones {
        #[arg(long)]
        meter: String,
        /// CAMERA/ZONE, repeated.
        #[arg(long = "zone")]
        zones: Vec<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(super) enum TariffCommand {
    /// Add a tariff from a JSON file (format: docs/ref/energy.md). An open
    /// tariff (no --to) after the site's open one succeeds it.
    Add {
        #[arg(long)]
        site: String,
        #[arg(long)]
        name: String,
        /// First local date in force (YYYY-MM-DD).
        #[arg(long)]
        from: NaiveDate,
        /// First local date no longer in force.
        #[arg(long)]
        to: Option<NaiveDate>,
        #[arg(long)]
        file: PathBuf,
    },
    List {
        #[arg(long)]
        site: Option<String>,
    },
    /// Remove a tariff: its days are no longer priced.
    Remove { id: i64 },
}

#[derive(Debug, clap::Subcommand)]
pub(super) enum HolidayCommand {
    Add {
        #[arg(long)]
        site: String,
        #[arg(long)]
        date: NaiveDate,
        #[arg(long)]
        name: String,
    },
    List {
        #[arg(long)]
        site: String,
        #[arg(long)]
        year: Option<i32>,
    },
    Remove {
        #[arg(long)]
        site: String,
        #[arg(long)]
        date: NaiveDate,
    },
}

async fn site_exists(client: &deadpool_postgres::Client, site: &str) -> anyhow::Result<()> {
    if central::store::energy::site(client, site).await?.is_none() {
        bail!("no site {site:?} (central admin site list)");
    }
    Ok(())
}

pub(super) async fn energy(
    cmd: EnergyCommand,
    client: &mut deadpool_postgres::Client,
) -> anyhow::Result<ExitCode> {
    match cmd {
        EnergyCommand::Tariff(TariffCommand::Add {
            site,
            name,
            from,
            to,
            file,
        }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let tariff = Tariff::from_json(&value)
                .with_context(|| format!("the tariff in {}", file.display()))?;
            if to.is_some_and(|t| t <= from) {
                bail!("--to must be after --from (it is the first day no longer covered)");
            }
            if name.is_empty() || name.chars().count() > 200 {
                bail!("--name must be 1 to 200 characters");
            }
            site_exists(client, &site).await?;
            let definition = serde_json::to_value(&tariff)?;
            let (row, closed) = config::add_tariff(
                client,
                &NewTariff {
                    site_id: &site,
                    name: &name,
                    valid_from: from,
                    valid_to: to,
                    definition: &definition,
                },
            )
            .await?;
            if let Some(c) = closed {
                println!("tariff {c} now ends on {from}");
            }
            println!(
                "added tariff {} ({name}) at site {site} from {from}",
                row.id
            );
        }
        EnergyCommand::Tariff(TariffCommand::List { site }) => {
            for t in config::tariffs(&*client, site.as_deref()).await? {
                println!(
                    "{:<6} {:<16} {:<32} {} .. {}",
                    t.id,
                    t.site_id,
                    t.name,
                    t.valid_from,
                    t.valid_to.map_or("open".to_owned(), |d| d.to_string())
                );
            }
        }
        EnergyCommand::Tariff(TariffCommand::Remove { id }) => {
            if !config::delete_tariff(&*client, id).await? {
                bail!("no tariff {id}");
            }
            println!("removed tariff {id}");
        }
        EnergyCommand::Holiday(HolidayCommand::Add { site, date, name }) => {
            if name.is_empty() || name.chars().count() > 200 {
                bail!("--name must be 1 to 200 characters");
            }
            site_exists(client, &site).await?;
            config::put_holiday(
                &*client,
                &Holiday {
                    site_id: site.clone(),
                    date,
                    name,
                },
            )
            .await?;
            println!("{date} is a holiday at site {site}");
        }
        EnergyCommand::Holiday(HolidayCommand::List { site, year }) => {
            for h in config::holidays(&*client, &site, year).await? {
                println!("{} {}", h.date, h.name);
            }
        }
        EnergyCommand::Holiday(HolidayCommand::Remove { site, date }) => {
            if !config::delete_holiday(&*client, &site, date).await? {
                bail!("{date} is not a holiday at site {site}");
            }
            println!("removed the holiday on {date} at site {site}");
        }
        EnergyCommand::Factor {
            site,
            year,
            location,
            residual_mix,
            source,
        } => {
            for v in std::iter::once(location).chain(residual_mix) {
                if !(0.0..=5.0).contains(&v) {
                    bail!("factors are 0 to 5 kgCO2e/kWh (grids are 0 to 1.2)");
                }
            }
            if !(1990..=2100).contains(&year) {
                bail!("--year must be 1990 to 2100");
            }
            if source.is_empty() {
                bail!("--source must name where the factors come from");
            }
            site_exists(client, &site).await?;
            config::put_emission_factor(
                &*client,
                &EmissionFactor {
                    site_id: site.clone(),
                    year,
                    location_kg_per_kwh: location,
                    residual_mix_kg_per_kwh: residual_mix,
                    source,
                },
            )
            .await?;
            println!("set the {year} factors of site {site}");
        }
        EnergyCommand::FloorArea { site, m2 } => {
            if !(0.0..1e8).contains(&m2) {
                bail!("the floor area must be 0 (clear) to 100 000 000 m²");
            }
            let area = (m2 > 0.0).then_some(m2);
            if !config::set_floor_area(&*client, &site, area).await? {
                bail!("no site {site:?}");
            }
            println!(
                "site {site}: floor area {}",
                area.map_or("cleared".to_owned(), |a| format!("{a} m²"))
            );
        }
        EnergyCommand::MeterZones { meter, zones } => {
            let mut pairs = Vec::with_capacity(zones.len());
            for z in &zones {
                let (c, id) = z
                    .split_once('/')
                    .with_context(|| format!("--zone {z:?}: write CAMERA/ZONE"))?;
                pairs.push((c.to_owned(), id.to_owned()));
            }
            let site: String = client
                .query_opt(
                    "SELECT site_id FROM devices WHERE id = $1 AND kind = 'power_meter'",
                    &[&meter],
                )
                .await?
                .with_context(|| format!("no power meter {meter:?}"))?
                .try_get(0)?;
            for (c, z) in &pairs {
                let ok = client
                    .query_opt(
                        "SELECT 1 FROM zones z JOIN cameras c ON c.id = z.camera_id
                         WHERE z.camera_id = $1 AND z.id = $2 AND c.site_id = $3",
                        &[c, z, &site],
                    )
                    .await?
                    .is_some();
                if !ok {
                    bail!("no zone {z:?} on camera {c:?} at site {site}");
                }
            }
            config::set_meter_zones(client, &meter, &pairs).await?;
            println!("meter {meter} supplies {} zone(s)", pairs.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
