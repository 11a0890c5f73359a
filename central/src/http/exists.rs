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
