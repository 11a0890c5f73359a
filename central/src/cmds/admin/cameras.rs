//! `central admin camera …`: cameras, each with its edge agent.

use std::process::ExitCode;

use anyhow::bail;

#[derive(Debug, clap::Subcommand)]
pub(super) enum CameraCommand {
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

pub(super) async fn camera(
    cmd: CameraCommand,
    client: &tokio_postgres::Client,
) -> anyhow::Result<ExitCode> {
    match cmd {
        CameraCommand::Add { id, site, name } => {
            atrium_proto::CameraId::new(id.clone())?;
            atrium_proto::SiteId::new(site.clone())?;
            // Camera and device ids share the certificate name space.
            if client
                .query_opt("SELECT 1 FROM devices WHERE id = $1", &[&id])
                .await?
                .is_some()
            {
                bail!("{id:?} is a device's id; a camera needs an id of its own");
            }
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
