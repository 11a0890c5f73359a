//! `/api/v1/config/cameras`: cameras with their lines and zones; a whole
//! camera's configuration can be replaced in one request.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{check_name, finish_change, lock_camera};
use crate::app::AppState;
use crate::auth::perm;
use crate::caller::{Can, CanAtSite};
use crate::error::ApiError;
use crate::http::extract::{Json, Path, Query};
use crate::http::pagination::{Page, Paginated};
use crate::store::cameras::{self as store, Camera};
use crate::store::parts::{self, InSide, Line, LineFields, Part, Zone, ZoneFields};

/// A line in a whole-camera update.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedLine {
    pub id: String,
    pub name: Option<String>,
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub in_side: InSide,
}

/// A zone in a whole-camera update.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedZone {
    pub id: String,
    pub name: Option<String>,
    pub polygon: Vec<[f32; 2]>,
    pub max_occupancy: Option<u32>,
    #[serde(default)]
    pub restricted: bool,
}

/// Fields to change; `lines` and `zones`, when given, replace the whole
/// set.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraUpdate {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub lines: Option<Vec<NamedLine>>,
    pub zones: Option<Vec<NamedZone>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CameraListQuery {
    pub site_id: Option<String>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// Cameras with their lines and zones.
#[utoipa::path(get, path = "/api/v1/config/cameras", tag = "config", params(CameraListQuery), security(("bearer" = ["config:read"])),
    responses((status = 200, description = "A page of cameras", body = Paginated<Camera>)))]
pub async fn list_cameras(
    State(state): State<AppState>,
    who: CanAtSite<perm::ConfigRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<CameraListQuery>,
) -> Result<axum::Json<Paginated<Camera>>, ApiError> {
    let site = who.site(q.site_id.clone())?;
    let page = Page::new(q.page, q.per_page)?;
    let mut client = state.pool.get().await?;
    let tx = snapshot(&mut client).await?;
    let window = page.window();
    let (data, total) = store::page(&tx, site, window).await?;
    tx.commit().await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

/// One camera.
#[utoipa::path(get, path = "/api/v1/config/cameras/{camera_id}", tag = "config", security(("bearer" = ["config:read"])),
    params(("camera_id" = String, Path, description = "Camera id")),
    responses(
        (status = 200, description = "The camera", body = Camera),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
    ))]
pub async fn get_camera(
    State(state): State<AppState>,
    _: Can<perm::ConfigRead>,
    Path(camera_id): Path<String>,
) -> Result<axum::Json<Camera>, ApiError> {
    let mut client = state.pool.get().await?;
    let tx = snapshot(&mut client).await?;
    let camera = store::get(&tx, &camera_id)
        .await?
        .ok_or_else(|| ApiError::camera_not_found(&camera_id))?;
    tx.commit().await?;
    Ok(axum::Json(camera))
}

/// A read-only transaction with one snapshot: a camera's version and its
/// lines and zones are read in several statements, and a change committed
/// between them must not give a new line with the old version (a client
/// waiting for "version N applied" would wait for the wrong one).
async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}

/// Change a camera: name, enabled, and (replacing them all) lines and
/// zones. Pushed to the edge.
#[utoipa::path(put, path = "/api/v1/config/cameras/{camera_id}", tag = "config", security(("bearer" = ["config:write"])),
    params(("camera_id" = String, Path, description = "Camera id")), request_body = CameraUpdate,
    responses(
        (status = 200, description = "The camera after the change", body = Camera),
        (status = 400, description = "Invalid configuration", body = crate::error::ErrorBody),
        (status = 403, description = "Needs config:write", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
    ))]
pub async fn put_camera(
    State(state): State<AppState>,
    _: Can<perm::ConfigWrite>,
    Path(camera_id): Path<String>,
    Json(body): Json<CameraUpdate>,
) -> Result<axum::Json<Camera>, ApiError> {
    if let Some(n) = &body.name
        && (n.trim().is_empty() || n.chars().count() > 200)
    {
        return Err(ApiError::bad_request("name must be 1-200 characters"));
    }
    let bump = body.lines.is_some() || body.zones.is_some();
    let cam = camera_id.as_str();
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, cam).await?;
    store::update(&tx, cam, body.name.as_deref(), body.enabled).await?;
    if let Some(lines) = body.lines {
        parts::delete_all::<Line>(&tx, cam).await?;
        for l in lines {
            let fields = LineFields {
                name: l.name,
                a: l.a,
                b: l.b,
                in_side: l.in_side,
            };
            check_name(Line::display_name(&fields))?;
            Line::insert(&tx, cam, &l.id, &fields).await?;
        }
    }
    if let Some(zones) = body.zones {
        parts::delete_all::<Zone>(&tx, cam).await?;
        for z in zones {
            let fields = ZoneFields {
                name: z.name,
                polygon: z.polygon,
                max_occupancy: z.max_occupancy,
                restricted: z.restricted,
            };
            check_name(Zone::display_name(&fields))?;
            Zone::insert(&tx, cam, &z.id, &fields).await?;
        }
    }
    finish_change(&state, tx, cam, bump).await?;
    // A new name or a disabled camera shows in counting/current at once.
    state.counting.reload_soon();
    let camera = store::get(&client, cam)
        .await?
        .ok_or_else(|| ApiError::camera_not_found(cam))?;
    Ok(axum::Json(camera))
}
