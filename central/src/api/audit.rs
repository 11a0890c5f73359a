//! `GET /api/v1/audit`: the audit log, newest first, for `audit:read`.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::perm;
use crate::caller::Can;
use crate::error::ApiError;
use crate::http::extract::Query;
use crate::http::pagination::{Page, Paginated};
use crate::store::audit::{self, Entry};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub user_id: Option<Uuid>,
    pub username: Option<String>,
    /// An action (`person.read`), or a prefix ending in a dot (`http.`).
    pub action: Option<String>,
    /// A path or a person's id.
    pub subject: Option<String>,
    /// From (inclusive), RFC 3339.
    pub start_time: Option<DateTime<Utc>>,
    /// To (exclusive), RFC 3339.
    pub end_time: Option<DateTime<Utc>>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// The audit log: who did what, when, from where.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery), security(("bearer" = ["audit:read"])),
    responses((status = 200, description = "A page of entries", body = Paginated<Entry>)))]
pub async fn list(
    State(state): State<AppState>,
    _: Can<perm::AuditRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<AuditQuery>,
) -> Result<axum::Json<Paginated<Entry>>, ApiError> {
    let page = Page::new(q.page, q.per_page)?;
    if let (Some(s), Some(e)) = (q.start_time, q.end_time)
        && s >= e
    {
        return Err(ApiError::bad_request("start_time must be before end_time"));
    }
    let client = state.pool.get().await?;
    let query = audit::Query {
        user_id: q.user_id,
        username: q.username,
        action: q.action,
        subject: q.subject,
        from: q.start_time,
        to: q.end_time,
    };
    let (data, total) = audit::page(&client, query, page.window()).await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}
