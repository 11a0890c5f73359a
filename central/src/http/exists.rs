//! Checks that a path or query names something that exists, shared by the
//! API and the WebSocket endpoints so both answer an unknown camera alike.

use crate::error::ApiError;
use crate::store::cameras;

/// 404 unless the camera exists.
pub async fn ensure_camera(client: &deadpool_postgres::Client, id: &str) -> Result<(), ApiError> {
    if cameras::exists(client, id).await? {
        Ok(())
    } else {
        Err(ApiError::camera_not_found(id))
    }
}

/// The camera's site and id as topic levels, or 404 unless it exists.
pub async fn camera_site(
    client: &deadpool_postgres::Client,
    id: &str,
) -> Result<(atrium_proto::SiteId, atrium_proto::CameraId), ApiError> {
    let site = cameras::site_of(client, id)
        .await?
        .ok_or_else(|| ApiError::camera_not_found(id))?;
    // Both were checked on the way into the database.
    let site =
        atrium_proto::SiteId::new(&site).map_err(|e| ApiError::internal("stored site id", e))?;
    let camera = atrium_proto::CameraId::new(id).map_err(|_| ApiError::camera_not_found(id))?;
    Ok((site, camera))
}
