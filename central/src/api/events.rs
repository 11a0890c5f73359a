//! `/api/v1/events`: the raw event log, newest first, with filters.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;
use crate::http::exists::ensure_camera;
use crate::http::extract::Query;
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::store::filter::Filter;

/// Event types the edge sends.
pub const EVENT_TYPES: [&str; 9] = [
    "person_detected",
    "line_crossed",
    "zone_entered",
    "zone_exited",
    "zone_violation",
    "occupancy",
    "face_observed",
    "camera_status",
    "spool_overflow",
];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    pub site_id: Option<String>,
    pub camera_id: Option<String>,
    /// One of the event types (see the MQTT reference), e.g. `line_crossed`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// Default: 7 days before `end_time`.
    pub start_time: Option<DateTime<Utc>>,
    /// Default: now. At most 93 days after `start_time`.
    pub end_time: Option<DateTime<Utc>>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// One stored event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoredEvent {
    pub id: Uuid,
    pub ts: DateTime<Utc>,
    pub site_id: String,
    pub camera_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's `data` as published.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub received_at: DateTime<Utc>,
}

/// Events in [start_time, end_time), newest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = Paginated<StoredEvent>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<EventsQuery>,
) -> Result<axum::Json<Paginated<StoredEvent>>, ApiError> {
    user.require(Permission::EventsRead)?;
    let page = Page::from_query(PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
    if let Some(k) = &q.kind
        && !EVENT_TYPES.contains(&k.as_str())
    {
        return Err(ApiError::bad_request(format!("unknown event type {k:?}"))
            .with_details(serde_json::json!({ "allowed": EVENT_TYPES })));
    }
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
    let mut f = Filter::default();
    f.add("ts >= $", start);
    f.add("ts < $", end);
    f.opt("site_id = $", q.site_id.clone());
    f.opt("camera_id = $", q.camera_id.clone());
    f.opt("type = $", q.kind.clone());
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM events {}", f.where_sql()),
            &f.params(&[]),
        )
        .await?
        .get(0);
    let n = f.next_index();
    let sql = format!(
        "SELECT id, ts, site_id, camera_id, type, coalesce(payload -> 'data', 'null'::jsonb), received_at
         FROM events {} ORDER BY ts DESC, id DESC LIMIT ${n} OFFSET ${}",
        f.where_sql(),
        n + 1
    );
    let rows = client
        .query(&sql, &f.params(&[&page.limit(), &page.offset()]))
        .await?;
    let data = rows
        .iter()
        .map(|r| StoredEvent {
            id: r.get(0),
            ts: r.get(1),
            site_id: r.get(2),
            camera_id: r.get(3),
            kind: r.get(4),
            data: r.get(5),
            received_at: r.get(6),
        })
        .collect();
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}
