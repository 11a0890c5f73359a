//! `GET /api/v1/sites`: the sites with their time zones. Every role may
//! read them (the web UI shows each site's times in its own zone); a key
//! bound to a site sees only that site.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::auth::perm;
use crate::caller::CanAtSite;
use crate::error::ApiError;
use crate::http::extract::Query;
use crate::http::pagination::{Page, Paginated};
use crate::store::sites::{self, Site};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SitesQuery {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// Sites by id.
#[utoipa::path(get, path = "/api/v1/sites", tag = "config", params(SitesQuery), security(("bearer" = ["events:read"])),
    responses(
        (status = 200, description = "A page of sites", body = Paginated<Site>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    who: CanAtSite<perm::EventsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<SitesQuery>,
) -> Result<axum::Json<Paginated<Site>>, ApiError> {
    let site = who.site(None)?;
    let page = Page::new(q.page, q.per_page)?;
    let client = state.pool.get().await?;
    let (data, total) = sites::page(&client, site, page.window()).await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}
