//! `/api/v1/config/zones`: zones (occupancy limits, restricted areas).

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{PartListQuery, parts};
use crate::app::AppState;
use crate::auth::perm;
use crate::caller::Can;
use crate::error::ApiError;
use crate::http::extract::{Json, Path, Query};
use crate::http::pagination::Paginated;
use crate::store::parts::{Zone, ZoneFields};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneBody {
    pub name: Option<String>,
    pub polygon: Vec<[f32; 2]>,
    pub max_occupancy: Option<u32>,
    #[serde(default)]
    pub restricted: bool,
}

impl From<ZoneBody> for ZoneFields {
    fn from(z: ZoneBody) -> Self {
        Self {
            name: z.name,
            polygon: z.polygon,
            max_occupancy: z.max_occupancy,
            restricted: z.restricted,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneCreate {
    pub camera_id: String,
    pub id: String,
    pub name: Option<String>,
    pub polygon: Vec<[f32; 2]>,
    pub max_occupancy: Option<u32>,
    #[serde(default)]
    pub restricted: bool,
}

/// Zones, optionally of one camera.
#[utoipa::path(get, path = "/api/v1/config/zones", tag = "config", params(PartListQuery), security(("bearer" = ["config:read"])),
    responses((status = 200, description = "A page of zones", body = Paginated<Zone>)))]
pub async fn list_zones(
    State(state): State<AppState>,
    _: Can<perm::ConfigRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<PartListQuery>,
) -> Result<axum::Json<Paginated<Zone>>, ApiError> {
    Ok(axum::Json(parts::list(&state, &uri, q).await?))
}

/// Add a zone to a camera. Pushed to the edge.
#[utoipa::path(post, path = "/api/v1/config/zones", tag = "config", security(("bearer" = ["config:write"])), request_body = ZoneCreate,
    responses(
        (status = 201, description = "Created", body = Zone),
        (status = 400, description = "Invalid zone", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
        (status = 409, description = "A zone with this id exists", body = crate::error::ErrorBody),
    ))]
pub async fn create_zone(
    State(state): State<AppState>,
    _: Can<perm::ConfigWrite>,
    Json(body): Json<ZoneCreate>,
) -> Result<(StatusCode, axum::Json<Zone>), ApiError> {
    let fields = ZoneFields {
        name: body.name,
        polygon: body.polygon,
        max_occupancy: body.max_occupancy,
        restricted: body.restricted,
    };
    let zone = parts::create::<Zone>(&state, &body.camera_id, &body.id, &fields).await?;
    Ok((StatusCode::CREATED, axum::Json(zone)))
}

/// Replace a zone. Pushed to the edge.
#[utoipa::path(put, path = "/api/v1/config/zones/{camera_id}/{zone_id}", tag = "config", security(("bearer" = ["config:write"])),
    params(("camera_id" = String, Path), ("zone_id" = String, Path)), request_body = ZoneBody,
    responses(
        (status = 200, description = "The zone after the change", body = Zone),
        (status = 400, description = "Invalid zone", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera or zone", body = crate::error::ErrorBody),
    ))]
pub async fn put_zone(
    State(state): State<AppState>,
    _: Can<perm::ConfigWrite>,
    Path((cam, id)): Path<(String, String)>,
    Json(body): Json<ZoneBody>,
) -> Result<axum::Json<Zone>, ApiError> {
    let zone = parts::replace::<Zone>(&state, &cam, &id, &body.into()).await?;
    Ok(axum::Json(zone))
}

/// Remove a zone. Pushed to the edge.
#[utoipa::path(delete, path = "/api/v1/config/zones/{camera_id}/{zone_id}", tag = "config", security(("bearer" = ["config:write"])),
    params(("camera_id" = String, Path), ("zone_id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Unknown camera or zone", body = crate::error::ErrorBody),
    ))]
pub async fn delete_zone(
    State(state): State<AppState>,
    _: Can<perm::ConfigWrite>,
    Path((cam, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    parts::remove::<Zone>(&state, &cam, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
