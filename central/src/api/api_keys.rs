//! `/api/v1/api-keys`: keys for integrations. Anyone holding
//! `apikeys:write` makes keys for themselves; holders of `users:write`
//! also for others (an `admin` not for a `super_admin`). A key acts as its
//! owner within the permissions it was given, which must be the owner's
//! (and the creator's); the whole key is in the creation answer only.
//! Keys are made with a session, never with another key.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission, Role, api_keys, perm};
use crate::caller::Can;
use crate::error::ApiError;
use crate::http::extract::{Json, Path, Query};
use crate::http::pagination::{Page, Paginated};
use crate::store::api_keys::{self as store, ApiKey, NewKeyRow};
use crate::store::users;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for (1 to 100 characters).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Permission strings; default: every permission the owner holds.
    #[serde(default)]
    pub permissions: Option<Vec<String>>,
    /// Restrict the key to one site.
    #[serde(default)]
    pub site_id: Option<String>,
    /// When the key stops working (must be in the future).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The owner (default: you; another user needs `users:write`).
    #[serde(default)]
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// `atr_<prefix>_<secret>`: shown this once, stored only as a hash.
    pub key: String,
    pub api_key: ApiKey,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApiKeysQuery {
    /// Another user's keys (needs `users:read`); default: your own.
    pub user_id: Option<Uuid>,
    /// Everyone's keys (needs `users:read`).
    #[serde(default)]
    pub all: bool,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

fn key_not_found(id: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "API_KEY_NOT_FOUND",
        format!("API key {id} not found"),
    )
}

/// May `by` manage `owner`'s keys?
fn may_manage(by: &AuthUser, owner: Uuid, owner_role: Role) -> Result<(), ApiError> {
    if owner == by.id {
        return Ok(());
    }
    if !by.allows(Permission::UsersWrite) {
        return Err(ApiError::forbidden(
            "managing another user's API keys needs users:write",
        ));
    }
    if owner_role == Role::SuperAdmin && by.role != Role::SuperAdmin {
        return Err(ApiError::forbidden(
            "only a super_admin may manage a super_admin's API keys",
        ));
    }
    Ok(())
}

/// API keys: your own, one user's, or everyone's.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", params(ApiKeysQuery), security(("bearer" = ["apikeys:write"])),
    responses((status = 200, description = "A page of keys (never their secrets)", body = Paginated<ApiKey>)))]
pub async fn list(
    State(state): State<AppState>,
    Can(user, _): Can<perm::ApikeysWrite>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<ApiKeysQuery>,
) -> Result<axum::Json<Paginated<ApiKey>>, ApiError> {
    let page = Page::new(q.page, q.per_page)?;
    let owner = match (q.all, q.user_id) {
        (false, None) => Some(user.id),
        (false, Some(id)) if id == user.id => Some(id),
        (all, id) => {
            if !user.allows(Permission::UsersRead) {
                return Err(ApiError::forbidden("other users' API keys need users:read"));
            }
            if all { None } else { id }
        }
    };
    let client = state.pool.get().await?;
    let (data, total) = store::page(&client, owner, page.window()).await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

/// Create a key; the answer holds the whole key, the only time it is shown.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = NewApiKey, security(("bearer" = ["apikeys:write"])),
    responses((status = 201, description = "Created", body = CreatedApiKey)))]
pub async fn create(
    State(state): State<AppState>,
    Can(by, _): Can<perm::ApikeysWrite>,
    Json(input): Json<NewApiKey>,
) -> Result<(StatusCode, axum::Json<CreatedApiKey>), ApiError> {
    if by.key.is_some() {
        // A key could otherwise mint keys that outlive it or its expiry.
        return Err(ApiError::forbidden("an API key cannot create API keys"));
    }
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    if input.expires_at.is_some_and(|t| t <= state.clock.now()) {
        return Err(ApiError::bad_request("expires_at must be in the future"));
    }
    let client = state.pool.get().await?;
    let owner_id = input.user_id.unwrap_or(by.id);
    let owner = users::get(&**client, owner_id)
        .await?
        .ok_or_else(|| super::users::user_error(users::UserError::NotFound))?;
    may_manage(&by, owner.id, owner.role)?;
    // The owner's permissions, and no more than the creator holds.
    let grantable = |p: Permission| owner.role.allows(p) && by.allows(p);
    let permissions: Vec<Permission> = match &input.permissions {
        None => Permission::ALL
            .iter()
            .copied()
            .filter(|p| grantable(*p))
            .collect(),
        Some(list) => {
            let mut out = Vec::new();
            for text in list {
                let p = Permission::parse(text)
                    .ok_or_else(|| ApiError::bad_request(format!("unknown permission {text:?}")))?;
                if !grantable(p) {
                    return Err(ApiError::bad_request(format!(
                        "the key cannot hold {text:?}: its owner (or you) does not"
                    )));
                }
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            out
        }
    };
    if permissions.is_empty() {
        return Err(ApiError::bad_request("a key needs at least one permission"));
    }
    if let Some(site) = &input.site_id {
        let found = client
            .query_opt("SELECT 1 AS one FROM sites WHERE id = $1", &[site])
            .await?;
        if found.is_none() {
            return Err(ApiError::bad_request(format!("no site {site:?}")));
        }
    }
    let key = api_keys::generate();
    let texts: Vec<String> = permissions.iter().map(|p| p.as_str().to_owned()).collect();
    let api_key = store::create(
        &**client,
        NewKeyRow {
            owner: owner.id,
            created_by: by.id,
            name,
            permissions: &texts,
            site_id: input.site_id.as_deref(),
            expires_at: input.expires_at,
            prefix: &key.prefix,
            secret_hash: &key.secret_hash,
        },
    )
    .await?;
    tracing::info!(prefix = %api_key.prefix, owner = %owner.username, "API key created");
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedApiKey {
            key: key.text,
            api_key,
        }),
    ))
}

/// Revoke a key: refused from the next request on, and WebSockets opened
/// with it close.
#[utoipa::path(delete, path = "/api/v1/api-keys/{key_id}", tag = "api-keys", security(("bearer" = ["apikeys:write"])),
    params(("key_id" = Uuid, Path)),
    responses((status = 200, description = "Revoked", body = ApiKey)))]
pub async fn revoke(
    State(state): State<AppState>,
    Can(by, _): Can<perm::ApikeysWrite>,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<ApiKey>, ApiError> {
    let client = state.pool.get().await?;
    let key = store::get(&**client, id)
        .await?
        .ok_or_else(|| key_not_found(id))?;
    let owner_role = users::get(&**client, key.user_id)
        .await?
        .map_or(Role::Viewer, |u| u.role);
    may_manage(&by, key.user_id, owner_role)?;
    let key = store::revoke(&**client, id)
        .await?
        .ok_or_else(|| key_not_found(id))?;
    tracing::info!(prefix = %key.prefix, "API key revoked");
    Ok(axum::Json(key))
}
