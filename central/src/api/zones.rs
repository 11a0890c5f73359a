//! `/api/v1/zones/{zone_id}/violations`: the planning document's zone
//! violations, newest first. Zone ids are unique per camera; without
//! `camera_id` the answer covers every camera with a zone of that id (each
//! row names its camera).

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::auth::perm;
use crate::caller::Can;
use crate::error::ApiError;
use crate::http::choice::one_of;
use crate::http::exists::ensure_camera;
use crate::http::extract::{Path, Query};
use crate::http::pagination::{Page, Paginated};
use crate::store::violations::{self, ViolationFilter, ViolationKind, ZoneViolation};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ViolationsQuery {
    /// The camera whose zone it is (zone ids are unique per camera).
    pub camera_id: Option<String>,
    /// `max_occupancy` or `restricted_entry`.
    pub kind: Option<String>,
    /// Default: 7 days before `end_time`.
    pub start_time: Option<DateTime<Utc>>,
    /// Default: now. At most 93 days after `start_time`.
    pub end_time: Option<DateTime<Utc>>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// A zone's violations in [start_time, end_time), newest first.
#[utoipa::path(get, path = "/api/v1/zones/{zone_id}/violations", tag = "counting",
    params(("zone_id" = String, Path), ViolationsQuery), security(("bearer" = ["events:read"])),
    responses(
        (status = 200, description = "A page of violations", body = Paginated<ZoneViolation>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown zone or camera", body = crate::error::ErrorBody),
    ))]
pub async fn violations(
    State(state): State<AppState>,
    _: Can<perm::EventsRead>,
    OriginalUri(uri): OriginalUri,
    Path(zone): Path<String>,
    Query(q): Query<ViolationsQuery>,
) -> Result<axum::Json<Paginated<ZoneViolation>>, ApiError> {
    let page = Page::new(q.page, q.per_page)?;
    let kind = one_of(
        q.kind.as_deref(),
        "violation kind",
        &ViolationKind::ALL,
        ViolationKind::as_str,
    )?;
    let (start, end) = crate::http::time::range(
        q.start_time,
        q.end_time,
        Duration::days(7),
        Duration::days(93),
    )?;
    let client = state.pool.get().await?;
    if let Some(c) = &q.camera_id {
        ensure_camera(&client, c).await?;
    }
    if !violations::zone_exists(&client, &zone, q.camera_id.as_deref()).await? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ZONE_NOT_FOUND",
            match &q.camera_id {
                Some(c) => format!("zone {zone:?} not found on camera {c:?}"),
                None => format!("no camera has a zone {zone:?}"),
            },
        )
        .with_details(serde_json::json!({
            "zone_id": zone,
            "suggestion": "GET /api/v1/config/zones lists the zones",
        })));
    }
    let filter = ViolationFilter {
        zone,
        camera: q.camera_id,
        start,
        end,
        kind,
    };
    let (data, total) = violations::page(&client, &filter, page.window()).await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}
