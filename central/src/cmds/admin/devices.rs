//! `central admin device …`: the building systems' devices (meters,
//! lighting and lift controllers, door controllers, fire panels). Each
//! device connects with its own certificate (`central admin pki issue
//! ID`), whose common name is its id; camera and device ids share that
//! name space, so an id taken by either is refused for the other.

use std::process::ExitCode;

use anyhow::{Context, bail};
use atrium_proto::iot::DeviceKind;

#[derive(Debug, clap::Subcommand)]
pub(super) enum DeviceCommand {
    /// Register a device (creates its site, named after its id, if
    /// missing). Its certificate: `central admin pki issue ID`.
    Add {
        /// Device id: also its certificate's common name and MQTT topic level.
        #[arg(long)]
        id: String,
        #[arg(long)]
        site: String,
        /// power_meter, lighting, lift, access or fire.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        name: String,
        /// Where it is (free text: "plant room B2").
        #[arg(long)]
        location: Option<String>,
        /// Floor number (negative below ground).
        #[arg(long, allow_hyphen_values = true)]
        floor: Option<i32>,
        /// For a sub-meter: the meter upstream of it (same site).
        #[arg(long)]
        parent: Option<String>,
    },
    /// List devices.
    List {
        #[arg(long)]
        site: Option<String>,
    },
    /// Stop accepting a device's messages (they are dead-lettered with
    /// "device is disabled"); its history stays.
    Disable { id: String },
    /// Accept a disabled device's messages again.
    Enable { id: String },
    /// Remove a device from the registry. Its stored readings stay (a
    /// device added again with the same id continues its history); revoke
    /// its certificate with `central admin pki revoke ID`.
    Remove { id: String },
}

impl DeviceCommand {
    /// Checks what can be checked without the database.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if let Self::Add {
            id,
            site,
            kind,
            name,
            location,
            floor,
            parent,
        } = self
        {
            atrium_proto::DeviceId::new(id.clone())?;
            atrium_proto::SiteId::new(site.clone())?;
            if DeviceKind::parse(kind).is_none() {
                bail!(
                    "unknown device kind {kind:?}: one of power_meter, lighting, lift, access, fire"
                );
            }
            if name.is_empty() || name.chars().count() > 200 {
                bail!("--name must be 1 to 200 characters");
            }
            if location.as_ref().is_some_and(|l| l.chars().count() > 200) {
                bail!("--location may be at most 200 characters");
            }
            if floor.is_some_and(|f| !(-50..=300).contains(&f)) {
                bail!("--floor must be between -50 and 300");
            }
            if let Some(p) = parent {
                if kind != "power_meter" {
                    bail!("only a power_meter can have a --parent meter");
                }
                if p == id {
                    bail!("a meter cannot be its own parent");
                }
            }
        }
        Ok(())
    }
}

async fn set_enabled(
    client: &deadpool_postgres::Client,
    id: &str,
    enabled: bool,
) -> anyhow::Result<()> {
    let n = client
        .execute(
            "UPDATE devices SET enabled = $2 WHERE id = $1",
            &[&id, &enabled],
        )
        .await?;
    if n == 0 {
        bail!("no device {id:?}");
    }
    let what = if enabled { "enabled" } else { "disabled" };
    println!("{what} device {id} (central notices within a second of its next message)");
    Ok(())
}

pub(super) async fn device(
    cmd: DeviceCommand,
    client: &mut deadpool_postgres::Client,
) -> anyhow::Result<ExitCode> {
    cmd.check()?;
    match cmd {
        DeviceCommand::Add {
            id,
            site,
            kind,
            name,
            location,
            floor,
            parent,
        } => {
            let tx = client.transaction().await?;
            // The ids share the certificate name space (and the ACL's
            // patterns): one name, one thing.
            if tx
                .query_opt("SELECT 1 FROM cameras WHERE id = $1", &[&id])
                .await?
                .is_some()
            {
                bail!("{id:?} is a camera's id; a device needs an id of its own");
            }
            if let Some(p) = &parent {
                let row = tx
                    .query_opt("SELECT site_id, kind FROM devices WHERE id = $1", &[p])
                    .await?
                    .with_context(|| format!("parent meter {p:?} does not exist"))?;
                let (psite, pkind): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                if pkind != "power_meter" || psite != site {
                    bail!("parent {p:?} must be a power_meter at site {site} (it is a {pkind} at {psite})");
                }
            }
            tx.execute(
                "INSERT INTO sites (id, name) VALUES ($1, $1) ON CONFLICT (id) DO NOTHING",
                &[&site],
            )
            .await?;
            let n = tx
                .execute(
                    "INSERT INTO devices (id, site_id, kind, name, location, floor, parent_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                    &[&id, &site, &kind, &name, &location, &floor, &parent],
                )
                .await?;
            if n == 0 {
                bail!("device {id:?} already exists");
            }
            tx.commit().await?;
            println!("added {kind} {id} at site {site}");
            println!("its certificate: central admin pki issue {id}");
        }
        DeviceCommand::List { site } => {
            for r in client
                .query(
                    "SELECT id, site_id, kind, name, coalesce(parent_id, '-'), enabled
                     FROM devices WHERE $1::text IS NULL OR site_id = $1 ORDER BY site_id, kind, id",
                    &[&site],
                )
                .await?
            {
                println!(
                    "{:<24} {:<16} {:<12} {:<32} parent {:<24} {}",
                    r.try_get::<_, String>(0)?,
                    r.try_get::<_, String>(1)?,
                    r.try_get::<_, String>(2)?,
                    r.try_get::<_, String>(3)?,
                    r.try_get::<_, String>(4)?,
                    if r.try_get::<_, bool>(5)? {
                        "enabled"
                    } else {
                        "disabled"
                    }
                );
            }
        }
        DeviceCommand::Disable { id } => set_enabled(client, &id, false).await?,
        DeviceCommand::Enable { id } => set_enabled(client, &id, true).await?,
        DeviceCommand::Remove { id } => {
            let children: Vec<String> = client
                .query(
                    "SELECT id FROM devices WHERE parent_id = $1 ORDER BY id",
                    &[&id],
                )
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            if !children.is_empty() {
                bail!(
                    "{id:?} is the parent meter of {}; remove them first",
                    children.join(", ")
                );
            }
            if client
                .execute("DELETE FROM devices WHERE id = $1", &[&id])
                .await?
                == 0
            {
                bail!("no device {id:?}");
            }
            println!("removed device {id} (its readings stay; revoke its certificate with `central admin pki revoke {id}`)");
        }
    }
    Ok(ExitCode::SUCCESS)
}
