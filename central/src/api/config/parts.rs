//! The handlers' bodies for lines and zones: the same operations on
//! [`Part`]s, so a rule (locking, validation, 404s, pushing) is written once.

use axum::http::{StatusCode, Uri};
use serde::Serialize;

use super::{PartListQuery, check_name, finish_change, lock_camera};
use crate::app::AppState;
use crate::error::ApiError;
use crate::http::exists::ensure_camera;
use crate::http::pagination::{Page, Paginated};
use crate::store::parts::{self, Line, Part, Zone};

fn not_found<P: Part>(camera: &str, id: &str) -> ApiError {
    let code = match P::WHAT {
        w if w == Line::WHAT => "LINE_NOT_FOUND",
        w if w == Zone::WHAT => "ZONE_NOT_FOUND",
        _ => "NOT_FOUND",
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        code,
        format!("{} {id:?} not found on camera {camera:?}", P::WHAT),
    )
}

/// A page of parts, of one camera (404 if unknown) or all.
pub async fn list<P: Part + Serialize>(
    state: &AppState,
    uri: &Uri,
    q: PartListQuery,
) -> Result<Paginated<P>, ApiError> {
    let page = Page::new(q.page, q.per_page)?;
    let client = state.pool.get().await?;
    if let Some(c) = &q.camera_id {
        ensure_camera(&client, c).await?;
    }
    let window = page.window();
    let (data, total) = parts::page::<P>(&client, q.camera_id, window).await?;
    Ok(Paginated::new(data, page, total, uri))
}

async fn one<P: Part>(state: &AppState, camera: &str, id: &str) -> Result<P, ApiError> {
    let client = state.pool.get().await?;
    parts::get::<P>(&client, camera, id)
        .await?
        .ok_or_else(|| not_found::<P>(camera, id))
}

/// Adds a part to a camera and pushes the configuration.
pub async fn create<P: Part>(
    state: &AppState,
    camera: &str,
    id: &str,
    fields: &P::Fields,
) -> Result<P, ApiError> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, camera).await?;
    check_name(P::display_name(fields))?;
    P::insert(&tx, camera, id, fields).await?;
    finish_change(state, tx, camera, true).await?;
    one(state, camera, id).await
}

/// Replaces a part (404 if it does not exist) and pushes the configuration.
pub async fn replace<P: Part>(
    state: &AppState,
    camera: &str,
    id: &str,
    fields: &P::Fields,
) -> Result<P, ApiError> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, camera).await?;
    if !parts::delete::<P>(&tx, camera, id).await? {
        return Err(not_found::<P>(camera, id));
    }
    check_name(P::display_name(fields))?;
    P::insert(&tx, camera, id, fields).await?;
    finish_change(state, tx, camera, true).await?;
    one(state, camera, id).await
}

/// Removes a part (404 if it does not exist) and pushes the configuration.
pub async fn remove<P: Part>(state: &AppState, camera: &str, id: &str) -> Result<(), ApiError> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    lock_camera(&tx, camera).await?;
    if !parts::delete::<P>(&tx, camera, id).await? {
        return Err(not_found::<P>(camera, id));
    }
    finish_change(state, tx, camera, true).await
}
