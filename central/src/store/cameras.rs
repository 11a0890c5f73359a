//! Cameras and their configuration as stored, and as the edge receives it
//! (the retained configuration message). Every configuration change runs
//! in a transaction that first locks the camera's row ([`lock`]), so two
//! administrators editing one camera cannot interleave.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;

use atrium_proto::{CameraConfig, CameraId, LineConfig, SCHEMA_VERSION, SiteId, ZoneConfig};

use super::filter::Filter;
use super::list::{self, FromRow, Window};
use super::parts::{self, Line, Zone};

/// A camera's own row.
#[derive(Debug, Clone)]
struct CameraRow {
    id: String,
    site_id: String,
    name: String,
    enabled: bool,
    config_version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl FromRow for CameraRow {
    const COLUMNS: &'static str =
        "id, site_id, name, enabled, config_version, created_at, updated_at";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            site_id: r.try_get("site_id")?,
            name: r.try_get("name")?,
            enabled: r.try_get("enabled")?,
            config_version: r.try_get("config_version")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

/// A camera and its configuration.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Camera {
    pub id: String,
    pub site_id: String,
    pub name: String,
    pub enabled: bool,
    /// Increases with every change of lines or zones.
    pub config_version: i64,
    pub lines: Vec<Line>,
    pub zones: Vec<Zone>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

async fn with_parts(
    client: &impl GenericClient,
    row: CameraRow,
) -> Result<Camera, tokio_postgres::Error> {
    Ok(Camera {
        lines: parts::of_camera(client, &row.id).await?,
        zones: parts::of_camera(client, &row.id).await?,
        site_id: row.site_id,
        name: row.name,
        enabled: row.enabled,
        config_version: row.config_version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        id: row.id,
    })
}

/// Whether the camera exists.
pub async fn exists(client: &impl GenericClient, id: &str) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt("SELECT 1 FROM cameras WHERE id = $1", &[&id])
        .await?
        .is_some())
}

/// The site of a camera, if it exists.
pub async fn site_of(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    client
        .query_opt("SELECT site_id FROM cameras WHERE id = $1", &[&id])
        .await?
        .map(|r| r.try_get("site_id"))
        .transpose()
}

/// One camera with its lines and zones.
pub async fn get(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<Camera>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("SELECT {} FROM cameras WHERE id = $1", CameraRow::COLUMNS),
            &[&id],
        )
        .await?;
    match row {
        Some(r) => Ok(Some(with_parts(client, CameraRow::from_row(&r)?).await?)),
        None => Ok(None),
    }
}

/// One page of cameras (of one site, or all), by id.
pub async fn page(
    client: &impl GenericClient,
    site: Option<String>,
    window: Window,
) -> Result<(Vec<Camera>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.opt("site_id = $", site);
    let (rows, total) = list::page::<CameraRow>(client, "cameras", "", &f, "id", window).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(with_parts(client, r).await?);
    }
    Ok((out, total))
}

/// Locks the camera's row for a configuration change; false if unknown.
pub async fn lock(client: &impl GenericClient, id: &str) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_opt("SELECT 1 FROM cameras WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .is_some())
}

/// Changes the name and/or the enabled flag (`None` keeps them).
pub async fn update(
    client: &impl GenericClient,
    id: &str,
    name: Option<&str>,
    enabled: Option<bool>,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE cameras SET name = coalesce($2, name), enabled = coalesce($3, enabled), updated_at = now() WHERE id = $1",
            &[&id, &name, &enabled],
        )
        .await?;
    Ok(())
}

/// A new configuration version: the edge applies a configuration only
/// when its version grows.
pub async fn bump_version(
    client: &impl GenericClient,
    id: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE cameras SET config_version = config_version + 1, updated_at = now() WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(())
}

/// Why a camera's edge configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EdgeConfigError {
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    /// A stored id the protocol refuses (the tables' CHECKs should make
    /// this impossible).
    #[error("camera {camera:?}: stored id refused: {message}")]
    BadId { camera: String, message: String },
}

/// The camera's configuration message as the edge receives it.
pub async fn edge_config(
    client: &impl GenericClient,
    camera: &str,
) -> Result<Option<(SiteId, CameraId, CameraConfig)>, EdgeConfigError> {
    let Some(row) = client
        .query_opt(
            "SELECT site_id, config_version FROM cameras WHERE id = $1",
            &[&camera],
        )
        .await?
    else {
        return Ok(None);
    };
    let bad = |e: atrium_proto::IdError| EdgeConfigError::BadId {
        camera: camera.to_owned(),
        message: e.to_string(),
    };
    let site = SiteId::new(row.try_get::<_, String>("site_id")?).map_err(bad)?;
    let id = CameraId::new(camera).map_err(bad)?;
    let lines: Vec<Line> = parts::of_camera(client, camera).await?;
    let zones: Vec<Zone> = parts::of_camera(client, camera).await?;
    let config = CameraConfig {
        schema: SCHEMA_VERSION,
        version: row.try_get::<_, i64>("config_version")?.max(0) as u64,
        lines: lines
            .into_iter()
            .map(|l| LineConfig {
                id: l.id,
                name: l.name,
                a: l.a,
                b: l.b,
                in_side: l.in_side.side(),
            })
            .collect(),
        zones: zones
            .into_iter()
            .map(|z| ZoneConfig {
                id: z.id,
                name: z.name,
                polygon: z.polygon,
                max_occupancy: z.max_occupancy,
                restricted: z.restricted,
            })
            .collect(),
    };
    Ok(Some((site, id, config)))
}

/// Every camera's identity and whether it is enabled: what ingest checks
/// each message against. Rows whose ids are not valid identifiers (made
/// outside the API) are left out, with a warning.
pub async fn registry(
    client: &impl GenericClient,
) -> Result<Vec<(CameraId, SiteId, bool)>, tokio_postgres::Error> {
    let rows = client
        .query("SELECT id, site_id, enabled FROM cameras", &[])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        let site: String = r.try_get("site_id")?;
        let enabled: bool = r.try_get("enabled")?;
        match (CameraId::new(id.clone()), SiteId::new(site)) {
            (Ok(id), Ok(site)) => out.push((id, site, enabled)),
            _ => {
                tracing::warn!(camera = %id, "camera with an invalid id or site id ignored by ingest")
            }
        }
    }
    Ok(out)
}

/// The reported state of an enabled camera.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraStatus {
    pub camera_id: String,
    pub site_id: String,
    /// `None` if it never reported.
    pub state: Option<String>,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// The reported state of every enabled camera, by id.
pub async fn statuses(
    client: &impl GenericClient,
) -> Result<Vec<CameraStatus>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT c.id, c.site_id, st.state, st.reason, st.changed_at, st.ts
             FROM cameras c LEFT JOIN camera_status_current st ON st.camera_id = c.id
             WHERE c.enabled ORDER BY c.id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(CameraStatus {
                camera_id: r.try_get("id")?,
                site_id: r.try_get("site_id")?,
                state: r.try_get("state")?,
                reason: r.try_get("reason")?,
                since: r.try_get("changed_at")?,
                last_seen: r.try_get("ts")?,
            })
        })
        .collect()
}
