//! `/api/v1/config/*`: cameras, their counting lines and zones.
//!
//! Lines and zones belong to a camera (ids are unique per camera, hence
//! `/config/zones/{camera_id}/{zone_id}`). Every change runs in one
//! transaction that re-validates the camera's whole configuration, bumps
//! `cameras.config_version`, and after commit publishes the configuration
//! as the retained message the camera's edge agent applies live.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::pagination::{Page, PageQuery, Paginated};
use super::sql::Filter;
use crate::auth::{AuthUser, Permission};
use atrium_proto::{CameraConfig, CameraId, LineConfig, SCHEMA_VERSION, Side, SiteId, ZoneConfig};

/// 404 unless the camera exists.
pub async fn ensure_camera(client: &deadpool_postgres::Client, id: &str) -> Result<(), ApiError> {
    let found = client
        .query_opt("SELECT 1 FROM cameras WHERE id = $1", &[&id])
        .await?
        .is_some();
    if found {
        Ok(())
    } else {
        Err(camera_not_found(id))
    }
}

fn camera_not_found(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "CAMERA_NOT_FOUND", format!("camera {id:?} not found"))
        .with_details(serde_json::json!({ "camera_id": id, "suggestion": "GET /api/v1/config/cameras lists the cameras" }))
}

/// Which side of the line, looking from `a` to `b`, is IN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InSide {
    Left,
    Right,
}

/// A counting line (normalised coordinates, 0..1, origin top-left).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Line {
    pub camera_id: String,
    pub id: String,
    pub name: Option<String>,
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub in_side: InSide,
    pub updated_at: DateTime<Utc>,
}

/// A zone: polygon (normalised), optional occupancy limit, entry ban.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Zone {
    pub camera_id: String,
    pub id: String,
    pub name: Option<String>,
    pub polygon: Vec<[f32; 2]>,
    pub max_occupancy: Option<u32>,
    pub restricted: bool,
    pub updated_at: DateTime<Utc>,
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

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    pub name: Option<String>,
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub in_side: InSide,
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

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneBody {
    pub name: Option<String>,
    pub polygon: Vec<[f32; 2]>,
    pub max_occupancy: Option<u32>,
    #[serde(default)]
    pub restricted: bool,
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

/// A line or zone in a whole-camera update.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedLine {
    pub id: String,
    pub name: Option<String>,
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub in_side: InSide,
}

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
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PartListQuery {
    pub camera_id: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

fn side(s: InSide) -> Side {
    match s {
        InSide::Left => Side::Left,
        InSide::Right => Side::Right,
    }
}

fn side_str(s: InSide) -> &'static str {
    match s {
        InSide::Left => "left",
        InSide::Right => "right",
    }
}

fn line_from_row(r: &tokio_postgres::Row) -> Line {
    Line {
        camera_id: r.get("camera_id"),
        id: r.get("id"),
        name: r.get("name"),
        a: [r.get("a_x"), r.get("a_y")],
        b: [r.get("b_x"), r.get("b_y")],
        in_side: if r.get::<_, String>("in_side") == "right" {
            InSide::Right
        } else {
            InSide::Left
        },
        updated_at: r.get("updated_at"),
    }
}

fn zone_from_row(r: &tokio_postgres::Row) -> Zone {
    Zone {
        camera_id: r.get("camera_id"),
        id: r.get("id"),
        name: r.get("name"),
        polygon: serde_json::from_value(r.get("polygon")).unwrap_or_default(),
        max_occupancy: r
            .get::<_, Option<i32>>("max_occupancy")
            .map(|v| v.max(0) as u32),
        restricted: r.get("restricted"),
        updated_at: r.get("updated_at"),
    }
}

const LINE_COLS: &str = "camera_id, id, name, a_x, a_y, b_x, b_y, in_side, updated_at";
const ZONE_COLS: &str = "camera_id, id, name, polygon, max_occupancy, restricted, updated_at";

async fn lines_of(
    client: &impl deadpool_postgres::GenericClient,
    camera: &str,
) -> Result<Vec<Line>, ApiError> {
    let rows = client
        .query(
            &format!("SELECT {LINE_COLS} FROM lines WHERE camera_id = $1 ORDER BY id"),
            &[&camera],
        )
        .await?;
    Ok(rows.iter().map(line_from_row).collect())
}

async fn zones_of(
    client: &impl deadpool_postgres::GenericClient,
    camera: &str,
) -> Result<Vec<Zone>, ApiError> {
    let rows = client
        .query(
            &format!("SELECT {ZONE_COLS} FROM zones WHERE camera_id = $1 ORDER BY id"),
            &[&camera],
        )
        .await?;
    Ok(rows.iter().map(zone_from_row).collect())
}

/// The camera's configuration message as the edge receives it.
pub async fn camera_config(
    client: &impl deadpool_postgres::GenericClient,
    camera: &str,
) -> Result<Option<(SiteId, CameraId, CameraConfig)>, ApiError> {
    let Some(row) = client
        .query_opt(
            "SELECT site_id, config_version FROM cameras WHERE id = $1",
            &[&camera],
        )
        .await?
    else {
        return Ok(None);
    };
    let site = SiteId::new(row.get::<_, String>(0))
        .map_err(|e| ApiError::internal("reading a camera", e))?;
    let id = CameraId::new(camera).map_err(|e| ApiError::internal("reading a camera", e))?;
    let config = CameraConfig {
        schema: SCHEMA_VERSION,
        version: row.get::<_, i64>(1).max(0) as u64,
        lines: lines_of(client, camera)
            .await?
            .into_iter()
            .map(|l| LineConfig {
                id: l.id,
                name: l.name,
                a: l.a,
                b: l.b,
                in_side: side(l.in_side),
            })
            .collect(),
        zones: zones_of(client, camera)
            .await?
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

async fn camera_view(
    client: &impl deadpool_postgres::GenericClient,
    row: &tokio_postgres::Row,
) -> Result<Camera, ApiError> {
    let id: String = row.get("id");
    Ok(Camera {
        lines: lines_of(client, &id).await?,
        zones: zones_of(client, &id).await?,
        site_id: row.get("site_id"),
        name: row.get("name"),
        enabled: row.get("enabled"),
        config_version: row.get("config_version"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        id,
    })
}

const CAMERA_COLS: &str = "id, site_id, name, enabled, config_version, created_at, updated_at";

/// Cameras with their lines and zones.
#[utoipa::path(get, path = "/api/v1/config/cameras", tag = "config", params(CameraListQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of cameras", body = Paginated<Camera>)))]
pub async fn list_cameras(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<CameraListQuery>,
) -> Result<axum::Json<Paginated<Camera>>, ApiError> {
    user.require(Permission::ConfigRead)?;
    let page = Page::from_query(PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
    let client = state.pool.get().await?;
    let mut f = Filter::default();
    f.opt("site_id = $", q.site_id);
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM cameras {}", f.where_sql()),
            &f.params(&[]),
        )
        .await?
        .get(0);
    let n = f.next_index();
    let rows = client
        .query(
            &format!(
                "SELECT {CAMERA_COLS} FROM cameras {} ORDER BY id LIMIT ${n} OFFSET ${}",
                f.where_sql(),
                n + 1
            ),
            &f.params(&[&page.limit(), &page.offset()]),
        )
        .await?;
    let mut data = Vec::with_capacity(rows.len());
    for r in &rows {
        data.push(camera_view(&client, r).await?);
    }
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

/// One camera.
#[utoipa::path(get, path = "/api/v1/config/cameras/{camera_id}", tag = "config", security(("bearer" = [])),
    params(("camera_id" = String, Path, description = "Camera id")),
    responses(
        (status = 200, description = "The camera", body = Camera),
        (status = 404, description = "Unknown camera", body = super::error::ErrorBody),
    ))]
pub async fn get_camera(
    State(state): State<AppState>,
    user: AuthUser,
    Path(camera_id): Path<String>,
) -> Result<axum::Json<Camera>, ApiError> {
    user.require(Permission::ConfigRead)?;
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {CAMERA_COLS} FROM cameras WHERE id = $1"),
            &[&camera_id],
        )
        .await?
        .ok_or_else(|| camera_not_found(&camera_id))?;
    Ok(axum::Json(camera_view(&client, &row).await?))
}

/// Locks the camera's row for a configuration change (404 if unknown).
async fn lock_camera(
    tx: &deadpool_postgres::Transaction<'_>,
    camera_id: &str,
) -> Result<(), ApiError> {
    tx.query_opt(
        "SELECT 1 FROM cameras WHERE id = $1 FOR UPDATE",
        &[&camera_id],
    )
    .await?
    .ok_or_else(|| camera_not_found(camera_id))?;
    Ok(())
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
        tx.execute(
            "UPDATE cameras SET config_version = config_version + 1, updated_at = now() WHERE id = $1",
            &[&camera_id],
        )
        .await?;
    }
    let (site, camera, config) = camera_config(&tx, camera_id)
        .await?
        .ok_or_else(|| camera_not_found(camera_id))?;
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

fn check_text(what: &str, v: &Option<String>) -> Result<(), ApiError> {
    match v {
        Some(s) if s.chars().count() > 200 => Err(ApiError::bad_request(format!(
            "{what} may have at most 200 characters"
        ))),
        _ => Ok(()),
    }
}

async fn insert_line(
    tx: &deadpool_postgres::Transaction<'_>,
    camera: &str,
    id: &str,
    l: &LineBody,
) -> Result<(), ApiError> {
    check_text("name", &l.name)?;
    tx.execute(
        "INSERT INTO lines (camera_id, id, name, a_x, a_y, b_x, b_y, in_side) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[&camera, &id, &l.name, &l.a[0], &l.a[1], &l.b[0], &l.b[1], &side_str(l.in_side)],
    )
    .await
    .map_err(|e| constraint_error(e, "line", id))?;
    Ok(())
}

async fn insert_zone(
    tx: &deadpool_postgres::Transaction<'_>,
    camera: &str,
    id: &str,
    z: &ZoneBody,
) -> Result<(), ApiError> {
    check_text("name", &z.name)?;
    let polygon = serde_json::to_value(&z.polygon)
        .map_err(|e| ApiError::internal("encoding a polygon", e))?;
    let max = z
        .max_occupancy
        .map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    tx.execute(
        "INSERT INTO zones (camera_id, id, name, polygon, max_occupancy, restricted) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&camera, &id, &z.name, &polygon, &max, &z.restricted],
    )
    .await
    .map_err(|e| constraint_error(e, "zone", id))?;
    Ok(())
}

/// Duplicate ids → 409, check violations (bad id, out-of-frame point) →
/// 400; anything else is ours.
fn constraint_error(e: tokio_postgres::Error, what: &str, id: &str) -> ApiError {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
            ApiError::conflict(format!("{what} {id:?} already exists on this camera"))
        }
        Some(c) if *c == SqlState::CHECK_VIOLATION => ApiError::bad_request(format!(
            "{what} {id:?}: ids are 1-64 letters, digits, '-' or '_', coordinates are between 0 and 1"
        )),
        _ => ApiError::internal("storing the configuration", e),
    }
}

/// Change a camera: name, enabled, and (replacing them all) lines and
/// zones. Pushed to the edge.
#[utoipa::path(put, path = "/api/v1/config/cameras/{camera_id}", tag = "config", security(("bearer" = [])),
    params(("camera_id" = String, Path, description = "Camera id")), request_body = CameraUpdate,
    responses(
        (status = 200, description = "The camera after the change", body = Camera),
        (status = 400, description = "Invalid configuration", body = super::error::ErrorBody),
        (status = 403, description = "Needs config:write", body = super::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = super::error::ErrorBody),
    ))]
pub async fn put_camera(
    State(state): State<AppState>,
    user: AuthUser,
    Path(camera_id): Path<String>,
    Json(body): Json<CameraUpdate>,
) -> Result<axum::Json<Camera>, ApiError> {
    user.require(Permission::ConfigWrite)?;
    if let Some(n) = &body.name
        && (n.trim().is_empty() || n.chars().count() > 200)
    {
        return Err(ApiError::bad_request("name must be 1-200 characters"));
    }
    let bump = body.lines.is_some() || body.zones.is_some();
    let (b, cam) = (&body, &camera_id);
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, cam).await?;
    {
        let tx = &tx;
        tx.execute(
            "UPDATE cameras SET name = coalesce($2, name), enabled = coalesce($3, enabled), updated_at = now() WHERE id = $1",
            &[cam, &b.name, &b.enabled],
        )
        .await?;
        if let Some(lines) = &b.lines {
            tx.execute("DELETE FROM lines WHERE camera_id = $1", &[cam])
                .await?;
            for l in lines {
                let body = LineBody {
                    name: l.name.clone(),
                    a: l.a,
                    b: l.b,
                    in_side: l.in_side,
                };
                insert_line(tx, cam, &l.id, &body).await?;
            }
        }
        if let Some(zones) = &b.zones {
            tx.execute("DELETE FROM zones WHERE camera_id = $1", &[cam])
                .await?;
            for z in zones {
                let body = ZoneBody {
                    name: z.name.clone(),
                    polygon: z.polygon.clone(),
                    max_occupancy: z.max_occupancy,
                    restricted: z.restricted,
                };
                insert_zone(tx, cam, &z.id, &body).await?;
            }
        }
    }
    finish_change(&state, tx, cam, bump).await?;
    let row = client
        .query_one(
            &format!("SELECT {CAMERA_COLS} FROM cameras WHERE id = $1"),
            &[&camera_id],
        )
        .await?;
    Ok(axum::Json(camera_view(&client, &row).await?))
}

/// Zones, optionally of one camera.
#[utoipa::path(get, path = "/api/v1/config/zones", tag = "config", params(PartListQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of zones", body = Paginated<Zone>)))]
pub async fn list_zones(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<PartListQuery>,
) -> Result<axum::Json<Paginated<Zone>>, ApiError> {
    user.require(Permission::ConfigRead)?;
    let page = Page::from_query(PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
    let client = state.pool.get().await?;
    if let Some(c) = &q.camera_id {
        ensure_camera(&client, c).await?;
    }
    let mut f = Filter::default();
    f.opt("camera_id = $", q.camera_id);
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM zones {}", f.where_sql()),
            &f.params(&[]),
        )
        .await?
        .get(0);
    let n = f.next_index();
    let rows = client
        .query(
            &format!(
                "SELECT {ZONE_COLS} FROM zones {} ORDER BY camera_id, id LIMIT ${n} OFFSET ${}",
                f.where_sql(),
                n + 1
            ),
            &f.params(&[&page.limit(), &page.offset()]),
        )
        .await?;
    Ok(axum::Json(Paginated::new(
        rows.iter().map(zone_from_row).collect(),
        page,
        total,
        &uri,
    )))
}

async fn one_zone(state: &AppState, camera: &str, id: &str) -> Result<Zone, ApiError> {
    let client = state.pool.get().await?;
    client
        .query_opt(
            &format!("SELECT {ZONE_COLS} FROM zones WHERE camera_id = $1 AND id = $2"),
            &[&camera, &id],
        )
        .await?
        .map(|r| zone_from_row(&r))
        .ok_or_else(|| part_not_found(Part::Zone, camera, id))
}

async fn one_line(state: &AppState, camera: &str, id: &str) -> Result<Line, ApiError> {
    let client = state.pool.get().await?;
    client
        .query_opt(
            &format!("SELECT {LINE_COLS} FROM lines WHERE camera_id = $1 AND id = $2"),
            &[&camera, &id],
        )
        .await?
        .map(|r| line_from_row(&r))
        .ok_or_else(|| part_not_found(Part::Line, camera, id))
}

/// The per-camera configuration parts with their own endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Zone,
    Line,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Self::Zone => "zone",
            Self::Line => "line",
        }
    }
}

fn part_not_found(part: Part, camera: &str, id: &str) -> ApiError {
    let code = match part {
        Part::Zone => "ZONE_NOT_FOUND",
        Part::Line => "LINE_NOT_FOUND",
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        code,
        format!("{} {id:?} not found on camera {camera:?}", part.name()),
    )
}

/// Deletes one zone or line of a locked camera; 404 if there is none.
async fn remove_part(
    tx: &deadpool_postgres::Transaction<'_>,
    part: Part,
    camera: &str,
    id: &str,
) -> Result<(), ApiError> {
    let sql = match part {
        Part::Zone => "DELETE FROM zones WHERE camera_id = $1 AND id = $2",
        Part::Line => "DELETE FROM lines WHERE camera_id = $1 AND id = $2",
    };
    if tx.execute(sql, &[&camera, &id]).await? == 0 {
        return Err(part_not_found(part, camera, id));
    }
    Ok(())
}

/// Add a zone to a camera. Pushed to the edge.
#[utoipa::path(post, path = "/api/v1/config/zones", tag = "config", security(("bearer" = [])), request_body = ZoneCreate,
    responses(
        (status = 201, description = "Created", body = Zone),
        (status = 400, description = "Invalid zone", body = super::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = super::error::ErrorBody),
        (status = 409, description = "A zone with this id exists", body = super::error::ErrorBody),
    ))]
pub async fn create_zone(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<ZoneCreate>,
) -> Result<(StatusCode, axum::Json<Zone>), ApiError> {
    user.require(Permission::ConfigWrite)?;
    let (cam, id) = (body.camera_id.clone(), body.id.clone());
    let zone = ZoneBody {
        name: body.name,
        polygon: body.polygon,
        max_occupancy: body.max_occupancy,
        restricted: body.restricted,
    };
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, &cam).await?;
    insert_zone(&tx, &cam, &id, &zone).await?;
    finish_change(&state, tx, &cam, true).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(one_zone(&state, &cam, &id).await?),
    ))
}

/// Replace a zone. Pushed to the edge.
#[utoipa::path(put, path = "/api/v1/config/zones/{camera_id}/{zone_id}", tag = "config", security(("bearer" = [])),
    params(("camera_id" = String, Path), ("zone_id" = String, Path)), request_body = ZoneBody,
    responses(
        (status = 200, description = "The zone after the change", body = Zone),
        (status = 400, description = "Invalid zone", body = super::error::ErrorBody),
        (status = 404, description = "Unknown camera or zone", body = super::error::ErrorBody),
    ))]
pub async fn put_zone(
    State(state): State<AppState>,
    user: AuthUser,
    Path((cam, id)): Path<(String, String)>,
    Json(body): Json<ZoneBody>,
) -> Result<axum::Json<Zone>, ApiError> {
    user.require(Permission::ConfigWrite)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, &cam).await?;
    remove_part(&tx, Part::Zone, &cam, &id).await?;
    insert_zone(&tx, &cam, &id, &body).await?;
    finish_change(&state, tx, &cam, true).await?;
    Ok(axum::Json(one_zone(&state, &cam, &id).await?))
}

/// Remove a zone. Pushed to the edge.
#[utoipa::path(delete, path = "/api/v1/config/zones/{camera_id}/{zone_id}", tag = "config", security(("bearer" = [])),
    params(("camera_id" = String, Path), ("zone_id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Unknown camera or zone", body = super::error::ErrorBody),
    ))]
pub async fn delete_zone(
    State(state): State<AppState>,
    user: AuthUser,
    Path((cam, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ConfigWrite)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, &cam).await?;
    remove_part(&tx, Part::Zone, &cam, &id).await?;
    finish_change(&state, tx, &cam, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Counting lines, optionally of one camera.
#[utoipa::path(get, path = "/api/v1/config/lines", tag = "config", params(PartListQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of lines", body = Paginated<Line>)))]
pub async fn list_lines(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<PartListQuery>,
) -> Result<axum::Json<Paginated<Line>>, ApiError> {
    user.require(Permission::ConfigRead)?;
    let page = Page::from_query(PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
    let client = state.pool.get().await?;
    if let Some(c) = &q.camera_id {
        ensure_camera(&client, c).await?;
    }
    let mut f = Filter::default();
    f.opt("camera_id = $", q.camera_id);
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM lines {}", f.where_sql()),
            &f.params(&[]),
        )
        .await?
        .get(0);
    let n = f.next_index();
    let rows = client
        .query(
            &format!(
                "SELECT {LINE_COLS} FROM lines {} ORDER BY camera_id, id LIMIT ${n} OFFSET ${}",
                f.where_sql(),
                n + 1
            ),
            &f.params(&[&page.limit(), &page.offset()]),
        )
        .await?;
    Ok(axum::Json(Paginated::new(
        rows.iter().map(line_from_row).collect(),
        page,
        total,
        &uri,
    )))
}

/// Add a counting line to a camera. Pushed to the edge.
#[utoipa::path(post, path = "/api/v1/config/lines", tag = "config", security(("bearer" = [])), request_body = LineCreate,
    responses(
        (status = 201, description = "Created", body = Line),
        (status = 400, description = "Invalid line", body = super::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = super::error::ErrorBody),
        (status = 409, description = "A line with this id exists", body = super::error::ErrorBody),
    ))]
pub async fn create_line(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<LineCreate>,
) -> Result<(StatusCode, axum::Json<Line>), ApiError> {
    user.require(Permission::ConfigWrite)?;
    let (cam, id) = (body.camera_id.clone(), body.id.clone());
    let line = LineBody {
        name: body.name,
        a: body.a,
        b: body.b,
        in_side: body.in_side,
    };
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, &cam).await?;
    insert_line(&tx, &cam, &id, &line).await?;
    finish_change(&state, tx, &cam, true).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(one_line(&state, &cam, &id).await?),
    ))
}

/// Replace a counting line. Pushed to the edge.
#[utoipa::path(put, path = "/api/v1/config/lines/{camera_id}/{line_id}", tag = "config", security(("bearer" = [])),
    params(("camera_id" = String, Path), ("line_id" = String, Path)), request_body = LineBody,
    responses(
        (status = 200, description = "The line after the change", body = Line),
        (status = 400, description = "Invalid line", body = super::error::ErrorBody),
        (status = 404, description = "Unknown camera or line", body = super::error::ErrorBody),
    ))]
pub async fn put_line(
    State(state): State<AppState>,
    user: AuthUser,
    Path((cam, id)): Path<(String, String)>,
    Json(body): Json<LineBody>,
) -> Result<axum::Json<Line>, ApiError> {
    user.require(Permission::ConfigWrite)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, &cam).await?;
    remove_part(&tx, Part::Line, &cam, &id).await?;
    insert_line(&tx, &cam, &id, &body).await?;
    finish_change(&state, tx, &cam, true).await?;
    Ok(axum::Json(one_line(&state, &cam, &id).await?))
}

/// Remove a counting line. Pushed to the edge.
#[utoipa::path(delete, path = "/api/v1/config/lines/{camera_id}/{line_id}", tag = "config", security(("bearer" = [])),
    params(("camera_id" = String, Path), ("line_id" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Unknown camera or line", body = super::error::ErrorBody),
    ))]
pub async fn delete_line(
    State(state): State<AppState>,
    user: AuthUser,
    Path((cam, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ConfigWrite)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, &cam).await?;
    remove_part(&tx, Part::Line, &cam, &id).await?;
    finish_change(&state, tx, &cam, true).await?;
    Ok(StatusCode::NO_CONTENT)
}
