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
use crate::auth::{AuthUser, Permission};
use crate::error::ApiError;
use crate::http::exists::ensure_camera;
use crate::http::extract::Query;
use crate::http::pagination::{Page, PageQuery, Paginated};
use crate::store::filter::Filter;

/// A camera's heartbeat older than this counts as offline.
pub const STALE_AFTER_S: i64 = 30;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CurrentQuery {
    pub site_id: Option<String>,
    pub camera_id: Option<String>,
    pub page: Option<u32>,
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
#[utoipa::path(get, path = "/api/v1/counting/current", tag = "counting", params(CurrentQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "One entry per camera", body = Paginated<CameraNow>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
    ))]
pub async fn current(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<CurrentQuery>,
) -> Result<axum::Json<Paginated<CameraNow>>, ApiError> {
    user.require(Permission::EventsRead)?;
    let page = Page::from_query(PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
    let client = state.pool.get().await?;
    if let Some(c) = &q.camera_id {
        ensure_camera(&client, c).await?;
    }
    let mut f = Filter::default();
    f.opt("c.site_id = $", q.site_id.clone());
    f.opt("c.id = $", q.camera_id.clone());
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM cameras c {}", f.where_sql()),
            &f.params(&[]),
        )
        .await?
        .get(0);
    let n = f.next_index();
    let sql = format!(
        "WITH cams AS (
            SELECT c.id, c.site_id, c.name, s.timezone FROM cameras c JOIN sites s ON s.id = c.site_id
            {where_sql} ORDER BY c.id LIMIT ${n} OFFSET ${m})
         SELECT cams.id, cams.site_id, cams.name, st.state, st.changed_at, st.ts,
                o.in_view, o.zones, o.ts, lt.lines
         FROM cams
         LEFT JOIN camera_status_current st ON st.camera_id = cams.id
         LEFT JOIN LATERAL (
            SELECT ts, in_view, zones FROM occupancy_samples
            WHERE camera_id = cams.id AND ts > now() - INTERVAL '1 day'
            ORDER BY ts DESC LIMIT 1) o ON true
         LEFT JOIN LATERAL (
            SELECT coalesce(jsonb_agg(jsonb_build_object('line_id', line_id, 'in', i, 'out', o) ORDER BY line_id), '[]') AS lines
            FROM (SELECT line_id, sum(in_count) AS i, sum(out_count) AS o FROM crossing_rollups
                  WHERE resolution = 'minute' AND camera_id = cams.id
                    AND bucket >= (date_trunc('day', now() AT TIME ZONE cams.timezone) AT TIME ZONE cams.timezone)
                  GROUP BY line_id) x) lt ON true
         ORDER BY cams.id",
        where_sql = f.where_sql(),
        m = n + 1,
    );
    let rows = client
        .query(&sql, &f.params(&[&page.limit(), &page.offset()]))
        .await?;
    let now = state.clock.now();
    let mut data = Vec::with_capacity(rows.len());
    for r in rows {
        let lines: Vec<LineToday> = serde_json::from_value(r.get(9))
            .map_err(|e| ApiError::internal("reading rollups", e))?;
        let zones: Option<serde_json::Value> = r.get(7);
        let zones: Vec<ZoneOccupancy> = zones
            .and_then(|z| serde_json::from_value(z).ok())
            .unwrap_or_default();
        let state_s: Option<String> = r.get(3);
        let last_seen: Option<DateTime<Utc>> = r.get(5);
        data.push(CameraNow {
            camera_id: r.get(0),
            site_id: r.get(1),
            name: r.get(2),
            state: effective_state(state_s.as_deref(), last_seen, now),
            state_since: r.get(4),
            last_seen,
            in_view: r.get::<_, Option<i32>>(6).map(|v| v.max(0) as u32),
            zones,
            occupancy_at: r.get(8),
            in_today: lines.iter().map(|l| l.in_count).sum(),
            out_today: lines.iter().map(|l| l.out_count).sum(),
            lines_today: lines,
        });
    }
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

/// Bucket size of the history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    #[default]
    Hourly,
    Daily,
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
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// IN/OUT of one line in one bucket.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryBucket {
    /// Start of the hour (UTC), or of the site-local day.
    pub bucket: DateTime<Utc>,
    pub camera_id: String,
    pub line_id: String,
    #[serde(rename = "in")]
    pub in_count: i64,
    #[serde(rename = "out")]
    pub out_count: i64,
}

/// IN/OUT per line per hour or day; buckets that start in
/// [start_time, end_time).
#[utoipa::path(get, path = "/api/v1/counting/history", tag = "counting", params(HistoryQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Buckets, oldest first", body = Paginated<HistoryBucket>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
    ))]
pub async fn history(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<HistoryQuery>,
) -> Result<axum::Json<Paginated<HistoryBucket>>, ApiError> {
    user.require(Permission::EventsRead)?;
    let page = Page::from_query(PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
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
    let mut f = Filter::default();
    f.add("r.resolution = $", "hour".to_owned());
    f.opt("c.site_id = $", q.site_id.clone());
    f.opt("r.camera_id = $", q.camera_id.clone());
    f.opt("r.line_id = $", q.line_id.clone());
    let bucket = match interval {
        Interval::Hourly => "r.bucket",
        Interval::Daily => "time_bucket(INTERVAL '1 day', r.bucket, s.timezone)",
    };
    let n = f.next_index();
    let grouped = format!(
        "SELECT {bucket} AS b, r.camera_id, r.line_id, sum(r.in_count)::bigint AS i, sum(r.out_count)::bigint AS o
         FROM crossing_rollups r JOIN cameras c ON c.id = r.camera_id JOIN sites s ON s.id = c.site_id
         {where_sql} AND r.bucket >= ${n} AND r.bucket < ${e}
         GROUP BY 1, 2, 3 HAVING {bucket} >= ${n} AND {bucket} < ${e}",
        // A day bucket holds hours at or after its start, so filtering the
        // hours by the range first loses nothing the HAVING would keep.
        where_sql = f.where_sql(),
        e = n + 1,
    );
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM ({grouped}) g"),
            &f.params(&[&start, &end]),
        )
        .await?
        .get(0);
    let sql = format!(
        "SELECT b, camera_id, line_id, i, o FROM ({grouped}) g ORDER BY b, camera_id, line_id LIMIT ${} OFFSET ${}",
        n + 2,
        n + 3
    );
    let rows = client
        .query(
            &sql,
            &f.params(&[&start, &end, &page.limit(), &page.offset()]),
        )
        .await?;
    let data = rows
        .iter()
        .map(|r| HistoryBucket {
            bucket: r.get(0),
            camera_id: r.get(1),
            line_id: r.get(2),
            in_count: r.get(3),
            out_count: r.get(4),
        })
        .collect();
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
