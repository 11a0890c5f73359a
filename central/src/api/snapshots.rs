//! `/api/v1/cameras/{camera_id}/snapshot`: the last picture a camera's
//! edge agent published (crate::media), and a way to ask for a fresh one.
//! Pictures show people, so they need `events:read` like the live feed.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LAST_MODIFIED};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::perm;
use crate::caller::Can;
use crate::error::ApiError;
use crate::http::extract::Path;
use atrium_proto::media::RequestKind;

/// When the snapshot was taken, as RFC 3339 (Last-Modified has whole
/// seconds only).
const CAPTURED_AT: HeaderName = HeaderName::from_static("x-atrium-captured-at");
/// The camera's frame size, `WIDTHxHEIGHT` (the JPEG is smaller).
const FRAME_SIZE: HeaderName = HeaderName::from_static("x-atrium-frame-size");

/// The camera's last snapshot.
#[utoipa::path(get, path = "/api/v1/cameras/{camera_id}/snapshot", tag = "cameras",
    params(("camera_id" = String, Path)), security(("bearer" = ["events:read"])),
    responses(
        (status = 200, description = "The JPEG; `X-Atrium-Captured-At` says when it was taken and `X-Atrium-Frame-Size` the camera's frame size", content_type = "image/jpeg",
            headers(("X-Atrium-Captured-At" = String, description = "Capture time, RFC 3339"),
                    ("X-Atrium-Frame-Size" = String, description = "The camera's frame size, WIDTHxHEIGHT"))),
        (status = 404, description = "Unknown camera, or no snapshot yet", body = crate::error::ErrorBody),
    ))]
pub async fn get_snapshot(
    State(state): State<AppState>,
    _: Can<perm::EventsRead>,
    Path(camera): Path<String>,
) -> Result<Response, ApiError> {
    let client = state.pool.get().await?;
    crate::http::exists::ensure_camera(&client, &camera).await?;
    let row = client
        .query_opt(
            "SELECT captured_at, width, height, jpeg FROM camera_snapshots WHERE camera_id = $1",
            &[&camera],
        )
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "SNAPSHOT_NOT_FOUND",
                format!("camera {camera} has sent no snapshot yet"),
            )
        })?;
    let captured: DateTime<Utc> = row.try_get("captured_at")?;
    let width: i32 = row.try_get("width")?;
    let height: i32 = row.try_get("height")?;
    let jpeg: Vec<u8> = row.try_get("jpeg")?;
    let mut res = (StatusCode::OK, jpeg).into_response();
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    for (name, value) in [
        (
            LAST_MODIFIED,
            captured.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        ),
        (
            CAPTURED_AT,
            captured.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
        (FRAME_SIZE, format!("{width}x{height}")),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    Ok(res)
}

/// The answer to a snapshot request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotRequested {
    pub camera_id: String,
    /// Always true: the request went to the broker. The edge answers
    /// within a frame or two if it is online; poll the snapshot's
    /// `X-Atrium-Captured-At` to see it arrive.
    pub requested: bool,
}

/// Asks the camera's edge agent for a fresh snapshot.
#[utoipa::path(post, path = "/api/v1/cameras/{camera_id}/snapshot", tag = "cameras",
    params(("camera_id" = String, Path)), security(("bearer" = ["events:read"])),
    responses(
        (status = 202, description = "Asked; the snapshot arrives when the edge sends it", body = SnapshotRequested),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
        (status = 503, description = "The broker is not connected", body = crate::error::ErrorBody),
    ))]
pub async fn request_snapshot(
    State(state): State<AppState>,
    _: Can<perm::EventsRead>,
    Path(camera): Path<String>,
) -> Result<(StatusCode, axum::Json<SnapshotRequested>), ApiError> {
    let client = state.pool.get().await?;
    let (site, id) = crate::http::exists::camera_site(&client, &camera).await?;
    drop(client);
    crate::media::request(&state.ingest.client, &site, &id, RequestKind::Snapshot)
        .map_err(|e| ApiError::unavailable(format!("the request could not be queued: {e}")))?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(SnapshotRequested {
            camera_id: camera,
            requested: true,
        }),
    ))
}
