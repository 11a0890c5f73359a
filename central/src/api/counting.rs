//! `/api/v1/counting/*`: people now (occupancy, IN/OUT today, camera
//! state) and IN/OUT history from the rollups.
//!
//! "Today" is the calendar day in the camera's site time zone. History
//! comes from the hourly rollups; daily buckets are site-local days. Hours
//! or days without crossings are omitted (sparse series).

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::perm;
use crate::caller::CanAtSite;
use crate::error::ApiError;
use crate::http::exists::ensure_camera;
use crate::http::extract::Query;
use crate::http::pagination::{Page, Paginated};
use crate::store::counting::{self, HistoryFilter, OccupancyBucket, OccupancyFilter};
pub use crate::store::counting::{HistoryBucket, Interval};

/// A camera's heartbeat older than this counts as offline.
pub const STALE_AFTER_S: i64 = 30;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CurrentQuery {
    pub site_id: Option<String>,
    pub camera_id: Option<String>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ZoneOccupancy {
    pub zone: String,
    pub count: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineToday {
    pub line_id: String,
    #[serde(rename = "in")]
    pub in_count: i64,
    #[serde(rename = "out")]
    pub out_count: i64,
}

/// One camera, now.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraNow {
    pub camera_id: String,
    pub site_id: String,
    pub name: String,
    /// `online`, `degraded`, `offline`, or `unknown` (never heard from).
    pub state: String,
    /// When the state last changed.
    pub state_since: Option<DateTime<Utc>>,
    /// Last heartbeat.
    pub last_seen: Option<DateTime<Utc>>,
    /// People in view in the latest occupancy sample (null if none today).
    pub in_view: Option<u32>,
    pub zones: Vec<ZoneOccupancy>,
    /// Time of the latest occupancy sample.
    pub occupancy_at: Option<DateTime<Utc>>,
    /// IN and OUT since local midnight, all lines.
    pub in_today: i64,
    pub out_today: i64,
    pub lines_today: Vec<LineToday>,
}

/// The state to show: a heartbeat older than [`STALE_AFTER_S`] means the
/// camera's agent is gone even if its last word was `online`.
pub fn effective_state(
    state: Option<&str>,
    last_seen: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> String {
    match (state, last_seen) {
        (None, _) | (_, None) => "unknown".into(),
        (Some(s), Some(t)) if s != "offline" && (now - t).num_seconds() > STALE_AFTER_S => {
            "offline".into()
        }
        (Some(s), _) => s.into(),
    }
}

/// Occupancy, IN/OUT today and state per camera.
#[utoipa::path(get, path = "/api/v1/counting/current", tag = "counting", params(CurrentQuery), security(("bearer" = ["events:read"])),
    responses(
        (status = 200, description = "One entry per camera", body = Paginated<CameraNow>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
    ))]
pub async fn current(
    State(state): State<AppState>,
    who: CanAtSite<perm::EventsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<CurrentQuery>,
) -> Result<axum::Json<Paginated<CameraNow>>, ApiError> {
    let site = who.site(q.site_id.clone())?;
    let page = Page::new(q.page, q.per_page)?;
    let now = state.clock.now();
    // From memory (crate::counting_view); from the database when the view
    // has not loaded, or does not know the camera yet (added elsewhere).
    let known = q
        .camera_id
        .as_deref()
        .is_none_or(|c| state.counting.contains(c));
    let from_view = known
        .then(|| {
            state
                .counting
                .page(site.as_deref(), q.camera_id.as_deref(), page.window(), now)
        })
        .flatten();
    let (rows, total) = match from_view {
        Some(v) => v,
        None => {
            let client = state.pool.get().await?;
            if let Some(c) = &q.camera_id {
                ensure_camera(&client, c).await?;
                state.counting.reload_soon();
            }
            counting::current(&client, site, q.camera_id.clone(), page.window()).await?
        }
    };
    let mut data = Vec::with_capacity(rows.len());
    for r in rows {
        let lines: Vec<LineToday> = serde_json::from_value(r.lines_today)
            .map_err(|e| ApiError::internal("reading rollups", e))?;
        // A sample whose zones do not parse shows no zones rather than
        // failing the whole overview.
        let zones: Vec<ZoneOccupancy> = r
            .zones
            .and_then(|z| serde_json::from_value(z).ok())
            .unwrap_or_default();
        data.push(CameraNow {
            state: effective_state(r.state.as_deref(), r.last_seen, now),
            camera_id: r.camera_id,
            site_id: r.site_id,
            name: r.name,
            state_since: r.state_since,
            last_seen: r.last_seen,
            in_view: r.in_view.map(|v| v.max(0) as u32),
            zones,
            occupancy_at: r.occupancy_at,
            in_today: lines.iter().map(|l| l.in_count).sum(),
            out_today: lines.iter().map(|l| l.out_count).sum(),
            lines_today: lines,
        });
    }
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    pub site_id: Option<String>,
    pub camera_id: Option<String>,
    pub line_id: Option<String>,
    /// Default: 24 hours (hourly) or 30 days (daily) before `end_time`.
    pub start_time: Option<DateTime<Utc>>,
    /// Default: now.
    pub end_time: Option<DateTime<Utc>>,
    #[param(inline)]
    pub interval: Option<Interval>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// IN/OUT per line per hour or day; buckets that start in
/// [start_time, end_time).
#[utoipa::path(get, path = "/api/v1/counting/history", tag = "counting", params(HistoryQuery), security(("bearer" = ["events:read"])),
    responses(
        (status = 200, description = "Buckets, oldest first", body = Paginated<HistoryBucket>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
    ))]
pub async fn history(
    State(state): State<AppState>,
    who: CanAtSite<perm::EventsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<HistoryQuery>,
) -> Result<axum::Json<Paginated<HistoryBucket>>, ApiError> {
    let site = who.site(q.site_id.clone())?;
    let page = Page::new(q.page, q.per_page)?;
    let interval = q.interval.unwrap_or_default();
    let (default_span, max_span) = match interval {
        Interval::Hourly => (Duration::hours(24), Duration::days(93)),
        Interval::Daily => (Duration::days(30), Duration::days(3660)),
    };
    let (start, end) = crate::http::time::range(q.start_time, q.end_time, default_span, max_span)?;
    let client = state.pool.get().await?;
    if let Some(c) = &q.camera_id {
        ensure_camera(&client, c).await?;
    }
    let filter = HistoryFilter {
        start,
        end,
        site,
        camera: q.camera_id.clone(),
        line: q.line_id.clone(),
        interval,
    };
    let (data, total) = counting::history(&client, &filter, page.window()).await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OccupancyQuery {
    pub site_id: Option<String>,
    pub camera_id: Option<String>,
    /// Default: 24 hours before `end_time`.
    pub start_time: Option<DateTime<Utc>>,
    /// Default: now. At most 31 days after `start_time`.
    pub end_time: Option<DateTime<Utc>>,
    /// Bucket size in minutes (1 to 1440, default 15); buckets of a day or
    /// a divisor of it start at the site's local midnight.
    #[param(minimum = 1, maximum = 1440)]
    pub bucket_minutes: Option<u32>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// People in view over time per camera: the most and the mean of the
/// occupancy samples in each bucket that holds any (a camera that was
/// offline has no buckets for that time, rather than zeros).
#[utoipa::path(get, path = "/api/v1/counting/occupancy", tag = "counting", params(OccupancyQuery), security(("bearer" = ["events:read"])),
    responses(
        (status = 200, description = "Buckets, oldest first", body = Paginated<OccupancyBucket>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
    ))]
pub async fn occupancy(
    State(state): State<AppState>,
    who: CanAtSite<perm::EventsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<OccupancyQuery>,
) -> Result<axum::Json<Paginated<OccupancyBucket>>, ApiError> {
    let site = who.site(q.site_id.clone())?;
    let page = Page::new(q.page, q.per_page)?;
    let asked = q.bucket_minutes.unwrap_or(15);
    let bucket_minutes = i32::try_from(asked)
        .ok()
        .filter(|m| (1..=1440).contains(m))
        .ok_or_else(|| {
            ApiError::bad_request("bucket_minutes must be from 1 to 1440")
                .with_details(serde_json::json!({ "bucket_minutes": asked }))
        })?;
    let (start, end) = crate::http::time::range(
        q.start_time,
        q.end_time,
        Duration::hours(24),
        Duration::days(31),
    )?;
    let client = state.pool.get().await?;
    if let Some(c) = &q.camera_id {
        ensure_camera(&client, c).await?;
    }
    let filter = OccupancyFilter {
        start,
        end,
        site,
        camera: q.camera_id.clone(),
        bucket_minutes,
    };
    let (data, total) = counting::occupancy(&client, &filter, page.window()).await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_heartbeats_read_as_offline() {
        let now: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        assert_eq!(
            effective_state(Some("online"), Some(now - Duration::seconds(5)), now),
            "online"
        );
        assert_eq!(
            effective_state(Some("online"), Some(now - Duration::seconds(31)), now),
            "offline"
        );
        assert_eq!(
            effective_state(Some("degraded"), Some(now - Duration::minutes(5)), now),
            "offline"
        );
        assert_eq!(effective_state(None, None, now), "unknown");
    }
}
