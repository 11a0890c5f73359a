//! `/api/v1/config/*`: cameras, their counting lines and zones, one module
//! per resource.
//!
//! Lines and zones belong to a camera (ids are unique per camera, hence
//! `/config/zones/{camera_id}/{zone_id}`). Every change runs in one
//! transaction that locks the camera, re-validates its whole
//! configuration, bumps `cameras.config_version`, and after commit
//! publishes the configuration as the retained message the camera's edge
//! agent applies live. Lines and zones share their handlers' bodies
//! ([`parts`]); only the routes' documentation differs.

pub mod cameras;
pub mod lines;
pub mod parts;
pub mod zones;

use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::cameras as store;
use crate::store::cameras::EdgeConfigError;
use crate::store::parts::WriteError;
use atrium_proto::{CameraConfig, CameraId, SiteId};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PartListQuery {
    pub camera_id: Option<String>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Duplicate { .. } => ApiError::conflict(e.to_string()),
            WriteError::Invalid { .. } => ApiError::bad_request(e.to_string()),
            WriteError::Db(e) => ApiError::internal("storing the configuration", e),
        }
    }
}

impl From<EdgeConfigError> for ApiError {
    fn from(e: EdgeConfigError) -> Self {
        match e {
            EdgeConfigError::Db(e) => e.into(),
            other => ApiError::internal("reading a camera", other),
        }
    }
}

/// 404 unless the camera exists; locks its row until the transaction ends.
async fn lock_camera(
    tx: &deadpool_postgres::Transaction<'_>,
    camera_id: &str,
) -> Result<(), ApiError> {
    if store::lock(tx, camera_id).await? {
        Ok(())
    } else {
        Err(ApiError::camera_not_found(camera_id))
    }
}

/// Ends a configuration change: re-validates the camera's configuration,
/// bumps its version if `bump`, commits, and pushes it to the edge.
async fn finish_change(
    state: &AppState,
    tx: deadpool_postgres::Transaction<'_>,
    camera_id: &str,
    bump: bool,
) -> Result<(), ApiError> {
    if bump {
        store::bump_version(&tx, camera_id).await?;
    }
    let (site, camera, config) = store::edge_config(&tx, camera_id)
        .await?
        .ok_or_else(|| ApiError::camera_not_found(camera_id))?;
    config
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // What the edge will accept (shared/proto/src/limits.rs).
    let bytes = serde_json::to_vec(&config)
        .map_err(|e| ApiError::internal("encoding a camera configuration", e))?
        .len();
    if bytes > atrium_proto::limits::MAX_CONFIG_PAYLOAD {
        return Err(ApiError::bad_request(format!(
            "the camera's configuration would be {bytes} bytes, more than the {}-byte limit edge agents accept",
            atrium_proto::limits::MAX_CONFIG_PAYLOAD
        )));
    }
    tx.commit().await?;
    if bump {
        push(state, &site, &camera, &config).await;
    }
    Ok(())
}

/// Publishes a camera's configuration (retained). A failure is logged, not
/// returned: the change is stored, and central republishes every camera's
/// configuration whenever it reconnects to the broker.
pub async fn push(state: &AppState, site: &SiteId, camera: &CameraId, config: &CameraConfig) {
    match state.ingest.push_camera_config(site, camera, config).await {
        Ok(()) => tracing::info!(%camera, version = config.version, "camera configuration pushed"),
        Err(e) => {
            tracing::warn!(%camera, error = %e, "camera configuration not pushed now; it will be on reconnect")
        }
    }
}

/// Display names: at most 200 characters.
fn check_name(name: Option<&str>) -> Result<(), ApiError> {
    match name {
        Some(s) if s.chars().count() > 200 => Err(ApiError::bad_request(
            "name may have at most 200 characters",
        )),
        _ => Ok(()),
    }
}
