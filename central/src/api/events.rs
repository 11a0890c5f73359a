//! `/api/v1/events`: the raw event log, newest first, with filters.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::auth::perm;
use crate::caller::CanAtSite;
use crate::error::ApiError;
use atrium_proto::event::EventKind;

use crate::http::choice::one_of;
use crate::http::exists::ensure_camera;
use crate::http::extract::Query;
use crate::http::pagination::{Page, Paginated};
use crate::store::events::{self, EventFilter, StoredEvent};

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
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// Events in [start_time, end_time), newest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventsQuery), security(("bearer" = ["events:read"])),
    responses(
        (status = 200, description = "A page of events", body = Paginated<StoredEvent>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    who: CanAtSite<perm::EventsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<EventsQuery>,
) -> Result<axum::Json<Paginated<StoredEvent>>, ApiError> {
    let site = who.site(q.site_id.clone())?;
    let page = Page::new(q.page, q.per_page)?;
    let kind = one_of(
        q.kind.as_deref(),
        "event type",
        &EventKind::ALL,
        EventKind::as_str,
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
    let filter = EventFilter {
        start,
        end,
        site,
        camera: q.camera_id,
        kind,
    };
    let window = page.window();
    let (data, total) = events::page(&client, &filter, window).await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}
