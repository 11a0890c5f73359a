//! `/api/v1/config/lines`: counting lines.

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
use crate::store::parts::{InSide, Line, LineFields};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    pub name: Option<String>,
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub in_side: InSide,
}

impl From<LineBody> for LineFields {
    fn from(l: LineBody) -> Self {
        Self {
            name: l.name,
            a: l.a,
            b: l.b,
            in_side: l.in_side,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineCreate {
    pub camera_id: String,
    pub id: String,
    pub name: Option<String>,
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub in_side: InSide,
}

/// Counting lines, optionally of one camera.
#[utoipa::path(get, path = "/api/v1/config/lines", tag = "config", params(PartListQuery), security(("bearer" = ["config:read"])),
    responses((status = 200, description = "A page of lines", body = Paginated<Line>)))]
pub async fn list_lines(
    State(state): State<AppState>,
    _: Can<perm::ConfigRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<PartListQuery>,
) -> Result<axum::Json<Paginated<Line>>, ApiError> {
    Ok(axum::Json(parts::list(&state, &uri, q).await?))
}

/// Add a counting line to a camera. Pushed to the edge.
#[utoipa::path(post, path = "/api/v1/config/lines", tag = "config", security(("bearer" = ["config:write"])), request_body = LineCreate,
    responses(
        (status = 201, description = "Created", body = Line),
        (status = 400, description = "Invalid line", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
        (status = 409, description = "A line with this id exists", body = crate::error::ErrorBody),
    ))]
pub async fn create_line(
    State(state): State<AppState>,
    _: Can<perm::ConfigWrite>,
    Json(body): Json<LineCreate>,
) -> Result<(StatusCode, axum::Json<Line>), ApiError> {
    let fields = LineFields {
        name: body.name,
        a: body.a,
        b: body.b,
        in_side: body.in_side,
    };
    let line = parts::create::<Line>(&state, &body.camera_id, &body.id, &fields).await?;
    Ok((StatusCode::CREATED, axum::Json(line)))
}

/// Replace a counting line. Pushed to the edge.
#[utoipa::path(put, path = "/api/v1/config/lines/{camera_id}/{line_id}", tag = "config", security(("bearer" = ["config:write"])),
    params(("camera_id" = String, Path), ("line_id" = String, Path)), request_body = LineBody,
    responses(
        (status = 200, description = "The line after the change", body = Line),
        (status = 400, description = "Invalid line", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera or line", body = crate::error::ErrorBody),
    ))]
pub async fn put_line(
    State(state): State<AppState>,
    _: Can<perm::ConfigWrite>,
    Path((cam, id)): Path<(String, String)>,
    Json(body): Json<LineBody>,
) -> Result<axum::Json<Line>, ApiError> {
    let line = parts::replace::<Line>(&state, &cam, &id, &body.into()).await?;
    Ok(axum::Json(line))
}

/// Remove a counting line. Pushed to the edge.
#[utoipa::path(delete, path = "/api/v1/config/lines/{camera_id}/{line_id}", tag = "config", security(("bearer" = ["config:write"])),
    params(("camera_id" = String, Path), ("line_id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Unknown camera or line", body = crate::error::ErrorBody),
    ))]
pub async fn delete_line(
    State(state): State<AppState>,
    _: Can<perm::ConfigWrite>,
    Path((cam, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    parts::remove::<Line>(&state, &cam, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
