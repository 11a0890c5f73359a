//! `/api/v1/persons/{id}/photos`: enrolment photos.
//!
//! An upload becomes a template only through the same checks the edge
//! applies to live faces (`recognize::enrol`), and each refusal names its
//! reason so the person uploading can fix the photo. Photos are personal
//! data: reads and writes are audited, and kept images are sealed with the
//! photo key when one is configured.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::persons::{load_person, person_not_found};
use crate::app::AppState;
use crate::auth::perm;
use crate::caller::Can;
use crate::error::ApiError;
use crate::http::extract::Path;
use crate::recognize::enrol::EnrolError;
use crate::store::audit;
use crate::store::list::{self, FromRow};

/// An enrolment photo.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Photo {
    pub id: Uuid,
    pub person_id: Uuid,
    pub content_type: String,
    pub width: i32,
    pub height: i32,
    /// Face box in the photo, pixels: x1, y1, x2, y2.
    pub face_bbox: Vec<f32>,
    /// Overall face quality, 0..1.
    pub quality: f32,
    /// Whether the image itself is kept (see `faces.keep_photos`).
    pub stored: bool,
    pub created_at: DateTime<Utc>,
}

/// Result of an enrolment.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Enrolment {
    pub photo: Photo,
    pub template_id: Uuid,
    pub model: String,
    /// Component scores: size, sharpness, pose, detector (0..1).
    #[schema(value_type = Object)]
    pub quality: serde_json::Value,
}

impl FromRow for Photo {
    const COLUMNS: &'static str = "id, person_id, content_type, width, height, face_bbox, quality, image IS NOT NULL AS stored, created_at";
    fn from_row(r: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            person_id: r.try_get("person_id")?,
            content_type: r.try_get("content_type")?,
            width: r.try_get("width")?,
            height: r.try_get("height")?,
            face_bbox: r.try_get("face_bbox")?,
            quality: r.try_get("quality")?,
            stored: r.try_get("stored")?,
            created_at: r.try_get("created_at")?,
        })
    }
}

fn enrol_refused(e: EnrolError) -> ApiError {
    match e {
        EnrolError::Models(_) | EnrolError::Internal(_) => ApiError::internal("enrolment", e),
        EnrolError::LowQuality {
            issue,
            score,
            min,
            ref quality,
        } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "PHOTO_REFUSED",
            e.to_string(),
        )
        .with_details(serde_json::json!({
            "reason": e.reason(),
            "issue": issue,
            "quality": score,
            "min_quality": min,
            "components": {
                "size": quality.size, "sharpness": quality.sharpness,
                "pose": quality.pose, "detector": quality.detector,
            },
        })),
        EnrolError::SeveralFaces(n) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "PHOTO_REFUSED",
            e.to_string(),
        )
        .with_details(serde_json::json!({ "reason": e.reason(), "faces": n })),
        _ => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "PHOTO_REFUSED",
            e.to_string(),
        )
        .with_details(serde_json::json!({ "reason": e.reason() })),
    }
}

/// Reads the `photo` part of a multipart upload.
async fn photo_part(mut multipart: Multipart, max: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the photo is larger than {max} bytes"),
        )
    };
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(format!("bad multipart body: {}", e.body_text()))
            }
        })?;
        let Some(field) = field else {
            return Err(ApiError::bad_request(
                "multipart body has no `photo` part (send the image as form field `photo`)",
            ));
        };
        if field.name() != Some("photo") {
            continue;
        }
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(format!("bad multipart body: {}", e.body_text()))
            }
        })?;
        if bytes.len() > max {
            return Err(too_large());
        }
        return Ok(bytes);
    }
}

/// Enrol a photo: exactly one face of sufficient quality, embedded with
/// the edge's model. 422 names the reason (`no_face`, `several_faces`,
/// `too_small`, `too_blurry`, `not_frontal`, `not_an_image`).
#[utoipa::path(post, path = "/api/v1/persons/{person_id}/photos", tag = "persons", security(("bearer" = ["persons:update"])),
    params(("person_id" = Uuid, Path)),
    request_body(content_type = "multipart/form-data", description = "Form field `photo`: a JPEG, PNG or WebP"),
    responses((status = 201, description = "Enrolled", body = Enrolment),
              (status = 404, description = "Unknown person", body = crate::error::ErrorBody),
              (status = 413, description = "Photo too large", body = crate::error::ErrorBody),
              (status = 422, description = "Photo refused, with the reason", body = crate::error::ErrorBody)))]
pub async fn add_photo(
    State(state): State<AppState>,
    Can(user, _): Can<perm::PersonsUpdate>,
    Path(id): Path<Uuid>,
    multipart: Multipart,
) -> Result<(StatusCode, axum::Json<Enrolment>), ApiError> {
    let faces = state.faces.clone();
    let enroller = faces
        .enroller
        .as_ref()
        .map_err(|why| ApiError::unavailable(why.clone()))?;
    {
        let client = state.pool.get().await?;
        load_person(&state, &client, id).await?;
    }
    // The declared content type is not trusted: the bytes are decoded.
    let bytes = photo_part(multipart, faces.photo_max_bytes).await?;
    let enrolled = enroller
        .enrol(bytes.to_vec())
        .await
        .map_err(enrol_refused)?;
    let content_type = crate::recognize::content_type(&bytes);
    let (image, sealed) = faces
        .stored_image(&bytes)
        .map_err(|e| ApiError::internal("photo encryption", e))?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    // The person may have been erased while the photo was being embedded.
    if tx
        .query_opt("SELECT 1 FROM persons WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .is_none()
    {
        return Err(person_not_found(id));
    }
    let (photo_id, template_id) = crate::store::faces::insert_enrolment(
        &tx,
        crate::recognize::new_enrolment(id, &enrolled, content_type, image, sealed),
    )
    .await?;
    audit::record(
        &tx,
        user.actor(),
        "photo.enrol",
        &id.to_string(),
        serde_json::json!({ "photo_id": photo_id, "quality": enrolled.quality.overall }),
    )
    .await?;
    let row = tx
        .query_one(
            &format!("SELECT {} FROM face_photos WHERE id = $1", Photo::COLUMNS),
            &[&photo_id],
        )
        .await?;
    tx.commit().await?;
    let q = enrolled.quality;
    Ok((
        StatusCode::CREATED,
        axum::Json(Enrolment {
            photo: Photo::from_row(&row)?,
            template_id,
            model: enrolled.embedding.model,
            quality: serde_json::json!({
                "overall": q.overall, "size": q.size, "sharpness": q.sharpness,
                "pose": q.pose, "detector": q.detector, "limiting": q.limiting,
            }),
        }),
    ))
}

/// A person's photos (metadata).
#[utoipa::path(get, path = "/api/v1/persons/{person_id}/photos", tag = "persons", security(("bearer" = ["persons:read"])),
    params(("person_id" = Uuid, Path)),
    responses((status = 200, description = "Photos", body = Vec<Photo>),
              (status = 404, description = "Unknown person", body = crate::error::ErrorBody)))]
pub async fn list_photos(
    State(state): State<AppState>,
    _: Can<perm::PersonsRead>,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<Photo>>, ApiError> {
    let client = state.pool.get().await?;
    load_person(&state, &client, id).await?;
    let rows = client
        .query(
            &format!(
                "SELECT {} FROM face_photos WHERE person_id = $1 ORDER BY created_at",
                Photo::COLUMNS
            ),
            &[&id],
        )
        .await?;
    Ok(axum::Json(list::rows(&rows)?))
}

fn photo_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "PHOTO_NOT_FOUND",
        format!("photo {id} not found"),
    )
}

/// The photo itself (decrypted). Audited.
#[utoipa::path(get, path = "/api/v1/persons/{person_id}/photos/{photo_id}", tag = "persons", security(("bearer" = ["persons:read"])),
    params(("person_id" = Uuid, Path), ("photo_id" = Uuid, Path)),
    responses((status = 200, description = "The image", content_type = "image/jpeg"),
              (status = 404, description = "Unknown photo, or not kept", body = crate::error::ErrorBody)))]
pub async fn get_photo(
    State(state): State<AppState>,
    Can(user, _): Can<perm::PersonsRead>,
    Path((id, photo_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            "SELECT content_type, image, encrypted FROM face_photos WHERE id = $1 AND person_id = $2",
            &[&photo_id, &id],
        )
        .await?
        .ok_or_else(|| photo_not_found(photo_id))?;
    let content_type: String = row.try_get("content_type")?;
    let image: Option<Vec<u8>> = row.try_get("image")?;
    let encrypted: bool = row.try_get("encrypted")?;
    let Some(image) = image else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "PHOTO_NOT_KEPT",
            "this server keeps templates only, not photos (faces.keep_photos = false)",
        ));
    };
    let image = if encrypted {
        let key = state.faces.photo_key.as_ref().ok_or_else(|| {
            ApiError::unavailable(
                "the photo is encrypted and no faces.photo_key_file is configured",
            )
        })?;
        key.open(&image)
            .map_err(|e| ApiError::internal("photo decryption", e))?
    } else {
        image
    };
    audit::record(
        &client,
        user.actor(),
        "photo.read",
        &id.to_string(),
        serde_json::json!({ "photo_id": photo_id }),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        image,
    )
        .into_response())
}

/// Remove a photo and its template.
#[utoipa::path(delete, path = "/api/v1/persons/{person_id}/photos/{photo_id}", tag = "persons", security(("bearer" = ["persons:update"])),
    params(("person_id" = Uuid, Path), ("photo_id" = Uuid, Path)),
    responses((status = 204, description = "Removed"),
              (status = 404, description = "Unknown photo", body = crate::error::ErrorBody)))]
pub async fn delete_photo(
    State(state): State<AppState>,
    Can(user, _): Can<perm::PersonsUpdate>,
    Path((id, photo_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let n = tx
        .execute(
            "DELETE FROM face_photos WHERE id = $1 AND person_id = $2",
            &[&photo_id, &id],
        )
        .await?;
    if n == 0 {
        return Err(photo_not_found(photo_id));
    }
    audit::record(
        &tx,
        user.actor(),
        "photo.delete",
        &id.to_string(),
        serde_json::json!({ "photo_id": photo_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
