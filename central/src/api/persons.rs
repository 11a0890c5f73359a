//! `/api/v1/persons`: the people central recognises, their enrolment
//! photos, and erasure.
//!
//! Everything here is personal data, so every read and write of it is
//! written to the audit log, and deleting a person erases their templates,
//! photos, negative examples and every link from past recognitions in one
//! transaction (the recognitions stay, as `erased`, so counts do not
//! change after the fact).

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::body::Bytes;
use axum::extract::{Multipart, OriginalUri, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{Json, Path, Query};
use super::pagination::{Page, PageQuery, Paginated};
use super::sql::Filter;
use crate::auth::{AuthUser, Permission};
use crate::recognize::enrol::EnrolError;

/// Employee or visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Employee,
    Visitor,
}

impl Category {
    fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::Visitor => "visitor",
        }
    }

    fn parse(s: &str) -> Self {
        if s == "visitor" {
            Self::Visitor
        } else {
            Self::Employee
        }
    }
}

/// Where and when a person was last recognised.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LastSeen {
    pub ts: DateTime<Utc>,
    pub camera_id: String,
    pub confidence: f32,
}

/// A person.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub category: Category,
    pub notes: String,
    pub consent: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub photos: i64,
    pub last_seen: Option<LastSeen>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Create or replace a person.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    /// 1 to 200 characters.
    pub name: String,
    pub category: Category,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub consent: bool,
    /// For visitors: when recognition of them stops.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl PersonInput {
    fn validate(&self) -> Result<(), ApiError> {
        let n = self.name.trim().chars().count();
        if n == 0 || n > 200 {
            return Err(ApiError::bad_request("name must be 1 to 200 characters"));
        }
        if self.notes.chars().count() > 4000 {
            return Err(ApiError::bad_request(
                "notes must be at most 4000 characters",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PersonsQuery {
    /// Case-insensitive part of the name.
    pub q: Option<String>,
    pub category: Option<Category>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

const PERSON_COLUMNS: &str = "p.id, p.name, p.category, p.notes, p.consent, p.expires_at,
    (SELECT count(*) FROM face_photos f WHERE f.person_id = p.id),
    ls.ts, ls.camera_id, ls.confidence, p.created_at, p.updated_at";

const LAST_SEEN_JOIN: &str = "LEFT JOIN LATERAL (
    SELECT r.ts, r.camera_id, r.confidence FROM face_recognitions r
    WHERE r.person_id = p.id AND r.status = 'recognized' ORDER BY r.ts DESC LIMIT 1) ls ON true";

fn person_from(r: &tokio_postgres::Row) -> Person {
    let seen_ts: Option<DateTime<Utc>> = r.get(7);
    Person {
        id: r.get(0),
        name: r.get(1),
        category: Category::parse(r.get(2)),
        notes: r.get(3),
        consent: r.get(4),
        expires_at: r.get(5),
        photos: r.get(6),
        last_seen: seen_ts.map(|ts| LastSeen {
            ts,
            camera_id: r.get(8),
            confidence: r.get(9),
        }),
        created_at: r.get(10),
        updated_at: r.get(11),
    }
}

pub fn person_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "PERSON_NOT_FOUND",
        format!("person {id} not found"),
    )
    .with_details(serde_json::json!({
        "person_id": id,
        "suggestion": "Check if person ID is correct"
    }))
}

/// Records access to personal data.
pub async fn audit(
    client: &impl deadpool_postgres::GenericClient,
    user: &AuthUser,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), ApiError> {
    client
        .execute(
            "INSERT INTO audit_log (user_id, username, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
            &[&user.id, &user.username, &action, &subject, &detail],
        )
        .await?;
    Ok(())
}

async fn load_person(
    client: &impl deadpool_postgres::GenericClient,
    id: Uuid,
) -> Result<Person, ApiError> {
    let sql = format!("SELECT {PERSON_COLUMNS} FROM persons p {LAST_SEEN_JOIN} WHERE p.id = $1");
    client
        .query_opt(&sql, &[&id])
        .await?
        .map(|r| person_from(&r))
        .ok_or_else(|| person_not_found(id))
}

/// Persons, by name.
#[utoipa::path(get, path = "/api/v1/persons", tag = "persons", params(PersonsQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of persons", body = Paginated<Person>),
              (status = 400, description = "Bad query", body = super::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<PersonsQuery>,
) -> Result<axum::Json<Paginated<Person>>, ApiError> {
    user.require(Permission::PersonsRead)?;
    let page = Page::from_query(PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
    let client = state.pool.get().await?;
    let mut f = Filter::default();
    if let Some(text) = q.q.as_ref().filter(|t| !t.trim().is_empty()) {
        let pattern = format!(
            "%{}%",
            text.trim()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        f.add("lower(p.name) LIKE $", pattern);
    }
    f.opt("p.category = $", q.category.map(|c| c.as_str().to_owned()));
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM persons p {}", f.where_sql()),
            &f.params(&[]),
        )
        .await?
        .get(0);
    let n = f.next_index();
    let sql = format!(
        "SELECT {PERSON_COLUMNS} FROM persons p {LAST_SEEN_JOIN} {} ORDER BY lower(p.name), p.id LIMIT ${n} OFFSET ${}",
        f.where_sql(),
        n + 1
    );
    let rows = client
        .query(&sql, &f.params(&[&page.limit(), &page.offset()]))
        .await?;
    audit(
        &client,
        &user,
        "persons.list",
        "persons",
        serde_json::json!({ "q": q.q, "returned": rows.len() }),
    )
    .await?;
    let data = rows.iter().map(person_from).collect();
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

/// Create a person (then add photos).
#[utoipa::path(post, path = "/api/v1/persons", tag = "persons", request_body = PersonInput, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = Person),
              (status = 400, description = "Invalid", body = super::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(input): Json<PersonInput>,
) -> Result<(StatusCode, axum::Json<Person>), ApiError> {
    user.require(Permission::PersonsWrite)?;
    input.validate()?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let id = Uuid::now_v7();
    tx.execute(
        "INSERT INTO persons (id, name, category, notes, consent, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &input.name.trim(),
            &input.category.as_str(),
            &input.notes,
            &input.consent,
            &input.expires_at,
        ],
    )
    .await?;
    audit(
        &tx,
        &user,
        "person.create",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    let p = load_person(&tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

/// One person, with when and where they were last recognised.
#[utoipa::path(get, path = "/api/v1/persons/{person_id}", tag = "persons", security(("bearer" = [])),
    params(("person_id" = Uuid, Path)),
    responses((status = 200, description = "The person", body = Person),
              (status = 404, description = "Unknown person", body = super::error::ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Person>, ApiError> {
    user.require(Permission::PersonsRead)?;
    let client = state.pool.get().await?;
    let p = load_person(&client, id).await?;
    audit(
        &client,
        &user,
        "person.read",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    Ok(axum::Json(p))
}

/// Replace a person's details.
#[utoipa::path(put, path = "/api/v1/persons/{person_id}", tag = "persons", request_body = PersonInput, security(("bearer" = [])),
    params(("person_id" = Uuid, Path)),
    responses((status = 200, description = "Updated", body = Person),
              (status = 404, description = "Unknown person", body = super::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(input): Json<PersonInput>,
) -> Result<axum::Json<Person>, ApiError> {
    user.require(Permission::PersonsWrite)?;
    input.validate()?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let n = tx
        .execute(
            "UPDATE persons SET name = $2, category = $3, notes = $4, consent = $5, expires_at = $6, updated_at = now() WHERE id = $1",
            &[
                &id,
                &input.name.trim(),
                &input.category.as_str(),
                &input.notes,
                &input.consent,
                &input.expires_at,
            ],
        )
        .await?;
    if n == 0 {
        return Err(person_not_found(id));
    }
    audit(
        &tx,
        &user,
        "person.update",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    let p = load_person(&tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(p))
}

/// What an erasure removed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Erasure {
    pub person_id: Uuid,
    pub templates: u64,
    pub photos: u64,
    pub negatives: u64,
    pub recognitions_unlinked: u64,
}

/// Erase a person: templates, photos, negative examples, and the links
/// from past recognitions (which stay, as `erased`). Audited.
#[utoipa::path(delete, path = "/api/v1/persons/{person_id}", tag = "persons", security(("bearer" = [])),
    params(("person_id" = Uuid, Path)),
    responses((status = 200, description = "Erased", body = Erasure),
              (status = 404, description = "Unknown person", body = super::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Erasure>, ApiError> {
    user.require(Permission::PersonsWrite)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let erasure = crate::recognize::erase_person(&tx, id)
        .await?
        .ok_or_else(|| person_not_found(id))?;
    let er = Erasure {
        person_id: id,
        templates: erasure.templates,
        photos: erasure.photos,
        negatives: erasure.negatives,
        recognitions_unlinked: erasure.recognitions,
    };
    audit(
        &tx,
        &user,
        "person.erase",
        &id.to_string(),
        serde_json::to_value(&er).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(er))
}

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

fn photo_from(r: &tokio_postgres::Row) -> Photo {
    Photo {
        id: r.get(0),
        person_id: r.get(1),
        content_type: r.get(2),
        width: r.get(3),
        height: r.get(4),
        face_bbox: r.get(5),
        quality: r.get(6),
        stored: r.get(7),
        created_at: r.get(8),
    }
}

const PHOTO_COLUMNS: &str =
    "id, person_id, content_type, width, height, face_bbox, quality, image IS NOT NULL, created_at";

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
#[utoipa::path(post, path = "/api/v1/persons/{person_id}/photos", tag = "persons", security(("bearer" = [])),
    params(("person_id" = Uuid, Path)),
    request_body(content_type = "multipart/form-data", description = "Form field `photo`: a JPEG or PNG"),
    responses((status = 201, description = "Enrolled", body = Enrolment),
              (status = 404, description = "Unknown person", body = super::error::ErrorBody),
              (status = 413, description = "Photo too large", body = super::error::ErrorBody),
              (status = 422, description = "Photo refused, with the reason", body = super::error::ErrorBody)))]
pub async fn add_photo(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    multipart: Multipart,
) -> Result<(StatusCode, axum::Json<Enrolment>), ApiError> {
    user.require(Permission::PersonsWrite)?;
    let faces = state.faces.clone();
    let Some(enroller) = faces.enroller.as_ref() else {
        return Err(ApiError::unavailable(
            faces
                .unavailable
                .clone()
                .unwrap_or_else(|| "face enrolment is unavailable".into()),
        ));
    };
    {
        let client = state.pool.get().await?;
        load_person(&client, id).await?;
    }
    // The declared content type is not trusted: the bytes are decoded.
    let bytes = photo_part(multipart, faces.photo_max_bytes).await?;
    let enrolled = enroller
        .enrol(bytes.to_vec())
        .await
        .map_err(enrol_refused)?;
    let content_type = crate::recognize::content_type(&bytes);
    let image: Option<Vec<u8>> = if !faces.keep_photos {
        None
    } else if let Some(key) = &faces.photo_key {
        Some(
            key.seal(&bytes)
                .map_err(|e| ApiError::internal("photo encryption", e))?,
        )
    } else {
        Some(bytes.to_vec())
    };
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
    let (photo_id, template_id) = crate::recognize::store_enrolment(
        &tx,
        id,
        &enrolled,
        content_type,
        image,
        faces.photo_key.is_some(),
    )
    .await?;
    audit(
        &tx,
        &user,
        "photo.enrol",
        &id.to_string(),
        serde_json::json!({ "photo_id": photo_id, "quality": enrolled.quality.overall }),
    )
    .await?;
    let row = tx
        .query_one(
            &format!("SELECT {PHOTO_COLUMNS} FROM face_photos WHERE id = $1"),
            &[&photo_id],
        )
        .await?;
    tx.commit().await?;
    let q = enrolled.quality;
    Ok((
        StatusCode::CREATED,
        axum::Json(Enrolment {
            photo: photo_from(&row),
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
#[utoipa::path(get, path = "/api/v1/persons/{person_id}/photos", tag = "persons", security(("bearer" = [])),
    params(("person_id" = Uuid, Path)),
    responses((status = 200, description = "Photos", body = Vec<Photo>),
              (status = 404, description = "Unknown person", body = super::error::ErrorBody)))]
pub async fn list_photos(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Vec<Photo>>, ApiError> {
    user.require(Permission::PersonsRead)?;
    let client = state.pool.get().await?;
    load_person(&client, id).await?;
    let rows = client
        .query(
            &format!(
                "SELECT {PHOTO_COLUMNS} FROM face_photos WHERE person_id = $1 ORDER BY created_at"
            ),
            &[&id],
        )
        .await?;
    Ok(axum::Json(rows.iter().map(photo_from).collect()))
}

fn photo_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "PHOTO_NOT_FOUND",
        format!("photo {id} not found"),
    )
}

/// The photo itself (decrypted). Audited.
#[utoipa::path(get, path = "/api/v1/persons/{person_id}/photos/{photo_id}", tag = "persons", security(("bearer" = [])),
    params(("person_id" = Uuid, Path), ("photo_id" = Uuid, Path)),
    responses((status = 200, description = "The image", content_type = "image/jpeg"),
              (status = 404, description = "Unknown photo, or not kept", body = super::error::ErrorBody)))]
pub async fn get_photo(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, photo_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    user.require(Permission::PersonsRead)?;
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            "SELECT content_type, image, encrypted FROM face_photos WHERE id = $1 AND person_id = $2",
            &[&photo_id, &id],
        )
        .await?
        .ok_or_else(|| photo_not_found(photo_id))?;
    let content_type: String = row.get(0);
    let image: Option<Vec<u8>> = row.get(1);
    let encrypted: bool = row.get(2);
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
    audit(
        &client,
        &user,
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
#[utoipa::path(delete, path = "/api/v1/persons/{person_id}/photos/{photo_id}", tag = "persons", security(("bearer" = [])),
    params(("person_id" = Uuid, Path), ("photo_id" = Uuid, Path)),
    responses((status = 204, description = "Removed"),
              (status = 404, description = "Unknown photo", body = super::error::ErrorBody)))]
pub async fn delete_photo(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, photo_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::PersonsWrite)?;
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
    audit(
        &tx,
        &user,
        "photo.delete",
        &id.to_string(),
        serde_json::json!({ "photo_id": photo_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
