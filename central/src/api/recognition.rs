//! `/api/v1/events/recognition`: who was recognised where, and "not this
//! person" corrections.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::perm;
use crate::caller::Can;
use crate::error::ApiError;
use crate::http::choice::one_of;
use crate::http::exists::ensure_camera;
use crate::http::extract::{Path, Query};
use crate::http::pagination::{Page, Paginated};
use crate::store::audit;
use crate::store::recognitions::{self, Recognition, RecognitionFilter, RecognitionStatus};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecognitionQuery {
    pub camera_id: Option<String>,
    pub person_id: Option<Uuid>,
    /// `recognized`, `unknown`, `rejected` or `erased`.
    pub status: Option<String>,
    /// Default: 7 days before `end_time`.
    pub start_time: Option<DateTime<Utc>>,
    /// Default: now. At most 93 days after `start_time`.
    pub end_time: Option<DateTime<Utc>>,
    /// Lowest confidence (0..1) returned.
    pub min_confidence: Option<f32>,
    /// Highest confidence (0..1) returned.
    pub max_confidence: Option<f32>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// Recognitions in [start_time, end_time), newest first.
#[utoipa::path(get, path = "/api/v1/events/recognition", tag = "recognition", params(RecognitionQuery), security(("bearer" = ["persons:read"])),
    responses(
        (status = 200, description = "A page of recognitions", body = Paginated<Recognition>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown camera", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Can(user, _): Can<perm::PersonsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<RecognitionQuery>,
) -> Result<axum::Json<Paginated<Recognition>>, ApiError> {
    let page = Page::new(q.page, q.per_page)?;
    let status = one_of(
        q.status.as_deref(),
        "status",
        &RecognitionStatus::ALL,
        RecognitionStatus::as_str,
    )?;
    for (name, v) in [
        ("min_confidence", q.min_confidence),
        ("max_confidence", q.max_confidence),
    ] {
        if let Some(v) = v
            && !(0.0..=1.0).contains(&v)
        {
            return Err(ApiError::bad_request(format!(
                "{name} must be between 0 and 1"
            )));
        }
    }
    if let (Some(lo), Some(hi)) = (q.min_confidence, q.max_confidence)
        && lo > hi
    {
        return Err(ApiError::bad_request(
            "min_confidence is above max_confidence",
        ));
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
    let filter = RecognitionFilter {
        start,
        end,
        camera: q.camera_id.clone(),
        person: q.person_id,
        status,
        min_confidence: q.min_confidence,
        max_confidence: q.max_confidence,
    };
    let window = page.window();
    let (data, total) = recognitions::page(&client, &filter, window).await?;
    audit::record(
        &client,
        user.actor(),
        "recognitions.list",
        &q.person_id
            .map_or_else(|| "recognitions".to_owned(), |p| p.to_string()),
        serde_json::json!({ "camera_id": q.camera_id, "returned": data.len() }),
    )
    .await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

/// What a rejection did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Rejection {
    pub recognition_id: Uuid,
    pub person_id: Uuid,
    /// Observations stored as negative examples of the person.
    pub negatives: u64,
}

/// "Not this person": the recognition becomes `rejected` and its track's
/// observations that voted for the person become negative examples, which
/// later votes respect.
#[utoipa::path(post, path = "/api/v1/events/recognition/{recognition_id}/reject", tag = "recognition", security(("bearer" = ["persons:update"])),
    params(("recognition_id" = Uuid, Path)),
    responses(
        (status = 200, description = "Rejected", body = Rejection),
        (status = 404, description = "No such recognition of a person", body = crate::error::ErrorBody),
    ))]
pub async fn reject(
    State(state): State<AppState>,
    Can(user, _): Can<perm::PersonsUpdate>,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Rejection>, ApiError> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let Some((person, negatives)) =
        crate::store::recognitions::reject(&tx, id, state.recognize.window).await?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "RECOGNITION_NOT_FOUND",
            format!(
                "no recognition {id} of a person (unknown, already rejected or erased ones cannot be rejected)"
            ),
        ));
    };
    audit::record(
        &tx,
        user.actor(),
        "recognition.reject",
        &person.to_string(),
        serde_json::json!({ "recognition_id": id, "negatives": negatives }),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(Rejection {
        recognition_id: id,
        person_id: person,
        negatives,
    }))
}
