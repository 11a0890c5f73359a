//! `/api/v1/persons`: the people central recognises, and erasure (their
//! photos are in `photos.rs`).
//!
//! Everything here is personal data, so every read and write of it is
//! written to the audit log, and deleting a person erases their templates,
//! photos, negative examples and every link from past recognitions in one
//! transaction (the recognitions stay, as `erased`, so counts do not
//! change after the fact).

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::perm;
use crate::caller::Can;
use crate::error::ApiError;
use crate::http::extract::{Json, Path, Query};
use crate::http::pagination::{Page, Paginated};
use crate::store::audit;
use crate::store::persons::{self, Category, NewPerson, Person, PersonFilter};

/// Create or replace a person.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub category: Category,
    #[serde(default)]
    #[schema(max_length = 4000)]
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
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
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

/// The person, with [`Person::recognisable`] for `state`'s embedder.
pub(super) async fn load_person(
    state: &AppState,
    client: &impl deadpool_postgres::GenericClient,
    id: Uuid,
) -> Result<Person, ApiError> {
    persons::get(client, id)
        .await?
        .map(|p| p.for_embedder(&state.recognize.embedder))
        .ok_or_else(|| person_not_found(id))
}

/// Persons, by name.
#[utoipa::path(get, path = "/api/v1/persons", tag = "persons", params(PersonsQuery), security(("bearer" = ["persons:read"])),
    responses((status = 200, description = "A page of persons", body = Paginated<Person>),
              (status = 400, description = "Bad query", body = crate::error::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Can(user, _): Can<perm::PersonsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<PersonsQuery>,
) -> Result<axum::Json<Paginated<Person>>, ApiError> {
    let page = Page::new(q.page, q.per_page)?;
    let client = state.pool.get().await?;
    let filter = PersonFilter {
        name_contains: q.q.clone(),
        category: q.category,
    };
    let window = page.window();
    let (data, total) = persons::page(&client, &filter, window).await?;
    let data: Vec<Person> = data
        .into_iter()
        .map(|p| p.for_embedder(&state.recognize.embedder))
        .collect();
    audit::record(
        &client,
        user.actor(),
        "persons.list",
        "persons",
        serde_json::json!({ "q": q.q, "returned": data.len() }),
    )
    .await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

/// Create a person (then add photos).
#[utoipa::path(post, path = "/api/v1/persons", tag = "persons", request_body = PersonInput, security(("bearer" = ["persons:create"])),
    responses((status = 201, description = "Created", body = Person),
              (status = 400, description = "Invalid", body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Can(user, _): Can<perm::PersonsCreate>,
    Json(input): Json<PersonInput>,
) -> Result<(StatusCode, axum::Json<Person>), ApiError> {
    input.validate()?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let id = persons::insert(
        &tx,
        &NewPerson {
            name: input.name.trim(),
            category: input.category.as_str(),
            notes: &input.notes,
            consent: input.consent,
            expires_at: input.expires_at,
        },
    )
    .await?;
    audit::record(
        &tx,
        user.actor(),
        "person.create",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    let p = load_person(&state, &tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

/// One person, with when and where they were last recognised.
#[utoipa::path(get, path = "/api/v1/persons/{person_id}", tag = "persons", security(("bearer" = ["persons:read"])),
    params(("person_id" = Uuid, Path)),
    responses((status = 200, description = "The person", body = Person),
              (status = 404, description = "Unknown person", body = crate::error::ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    Can(user, _): Can<perm::PersonsRead>,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Person>, ApiError> {
    let client = state.pool.get().await?;
    let p = load_person(&state, &client, id).await?;
    audit::record(
        &client,
        user.actor(),
        "person.read",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    Ok(axum::Json(p))
}

/// Replace a person's details.
#[utoipa::path(put, path = "/api/v1/persons/{person_id}", tag = "persons", request_body = PersonInput, security(("bearer" = ["persons:update"])),
    params(("person_id" = Uuid, Path)),
    responses((status = 200, description = "Updated", body = Person),
              (status = 404, description = "Unknown person", body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Can(user, _): Can<perm::PersonsUpdate>,
    Path(id): Path<Uuid>,
    Json(input): Json<PersonInput>,
) -> Result<axum::Json<Person>, ApiError> {
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
    audit::record(
        &tx,
        user.actor(),
        "person.update",
        &id.to_string(),
        serde_json::json!({}),
    )
    .await?;
    let p = load_person(&state, &tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(p))
}

/// Erase a person: templates, photos, negative examples, and the links
/// from past recognitions (which stay, as `erased`). Audited.
#[utoipa::path(delete, path = "/api/v1/persons/{person_id}", tag = "persons", security(("bearer" = ["persons:delete"])),
    params(("person_id" = Uuid, Path)),
    responses((status = 200, description = "Erased", body = crate::store::faces::Erased),
              (status = 404, description = "Unknown person", body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Can(user, _): Can<perm::PersonsDelete>,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<crate::store::faces::Erased>, ApiError> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let er = crate::store::faces::erase_person(&tx, id)
        .await?
        .ok_or_else(|| person_not_found(id))?;
    audit::record(
        &tx,
        user.actor(),
        "person.erase",
        &id.to_string(),
        serde_json::to_value(er).unwrap_or_default(),
    )
    .await?;
    tx.commit().await?;
    Ok(axum::Json(er))
}
