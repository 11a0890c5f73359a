//! `/api/v1/users`: accounts, for administrators (`users:read`,
//! `users:write`). The rules (last active super_admin, only a super_admin
//! touches a super_admin, sessions ended on every change of rights) are
//! the store's, so the admin CLI keeps them too.

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Role, password, perm};
use crate::caller::Can;
use crate::error::ApiError;
use crate::http::extract::{Json, Path, Query};
use crate::http::pagination::{Page, Paginated};
use crate::store::users::{self, Change, User, UserError};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 64 characters, no spaces.
    #[schema(min_length = 1, max_length = 64, pattern = r"^\S+$")]
    pub username: String,
    /// At least 12 characters.
    #[schema(min_length = 12)]
    pub password: String,
    pub role: Role,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub display_name: String,
}

/// Fields to change; absent ones stay. A new role, `disabled` or a new
/// password ends the user's sessions at once.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[schema(max_length = 200)]
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// A password reset by an administrator (at least 12 characters).
    #[schema(min_length = 12)]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsersQuery {
    pub role: Option<Role>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// The API's answer to a refused change.
pub fn user_error(e: UserError) -> ApiError {
    match e {
        UserError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "user not found")
        }
        UserError::Taken(_) => ApiError::conflict(e.to_string()),
        UserError::LastSuperAdmin(_) => {
            ApiError::new(StatusCode::CONFLICT, "LAST_SUPER_ADMIN", e.to_string())
        }
        UserError::SuperAdminOnly => ApiError::forbidden(e.to_string()),
        UserError::Db(e) => e.into(),
    }
}

/// Checks a user name as `central admin user add` does.
pub fn check_username(name: &str) -> Result<(), ApiError> {
    if !users::valid_username(name) {
        return Err(ApiError::bad_request(
            "username must be 1 to 64 characters without spaces",
        ));
    }
    Ok(())
}

fn check_display_name(name: &str) -> Result<(), ApiError> {
    if name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "display_name must be at most 200 characters",
        ));
    }
    Ok(())
}

/// Hashes a new password after checking its strength.
pub async fn new_hash(pw: String) -> Result<String, ApiError> {
    password::check_strength(&pw).map_err(|e| ApiError::bad_request(e.to_string()))?;
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::internal("password hashing", e))?
        .map_err(|e| ApiError::internal("password hashing", e))
}

/// Users, by user name.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UsersQuery), security(("bearer" = ["users:read"])),
    responses((status = 200, description = "A page of users", body = Paginated<User>)))]
pub async fn list(
    State(state): State<AppState>,
    _: Can<perm::UsersRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<UsersQuery>,
) -> Result<axum::Json<Paginated<User>>, ApiError> {
    let page = Page::new(q.page, q.per_page)?;
    let client = state.pool.get().await?;
    let (data, total) = users::page(&client, q.role, page.window()).await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

/// Create a user (an admin cannot create a super_admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser, security(("bearer" = ["users:write"])),
    responses((status = 201, description = "Created", body = User),
              (status = 409, description = "User name taken", body = crate::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Can(by, _): Can<perm::UsersWrite>,
    Json(input): Json<NewUser>,
) -> Result<(StatusCode, axum::Json<User>), ApiError> {
    check_username(&input.username)?;
    check_display_name(&input.display_name)?;
    if input.role == Role::SuperAdmin && by.role != Role::SuperAdmin {
        return Err(user_error(UserError::SuperAdminOnly));
    }
    let hash = new_hash(input.password).await?;
    let client = state.pool.get().await?;
    let user = users::create(
        &**client,
        Some(by.role),
        &input.username,
        &input.display_name,
        input.role,
        &hash,
    )
    .await
    .map_err(user_error)?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users", security(("bearer" = ["users:read"])),
    params(("user_id" = Uuid, Path)),
    responses((status = 200, description = "The user", body = User)))]
pub async fn get_one(
    State(state): State<AppState>,
    _: Can<perm::UsersRead>,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<User>, ApiError> {
    let client = state.pool.get().await?;
    users::get(&**client, id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| user_error(UserError::NotFound))
}

/// Change a user's display name, role, disabled flag or password.
#[utoipa::path(put, path = "/api/v1/users/{user_id}", tag = "users", request_body = UserUpdate, security(("bearer" = ["users:write"])),
    params(("user_id" = Uuid, Path)),
    responses((status = 200, description = "Changed", body = User),
              (status = 409, description = "Would leave no active super_admin", body = crate::error::ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Can(by, _): Can<perm::UsersWrite>,
    Path(id): Path<Uuid>,
    Json(input): Json<UserUpdate>,
) -> Result<axum::Json<User>, ApiError> {
    if let Some(n) = &input.display_name {
        check_display_name(n)?;
    }
    let password_hash = match input.password {
        Some(pw) => Some(new_hash(pw).await?),
        None => None,
    };
    let change = Change {
        display_name: input.display_name,
        role: input.role,
        disabled: input.disabled,
        password_hash,
    };
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let user = users::update(&*tx, Some(by.role), id, change)
        .await
        .map_err(user_error)?;
    tx.commit().await?;
    Ok(axum::Json(user))
}

/// Delete a user (their sessions and API keys go with them).
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "users", security(("bearer" = ["users:write"])),
    params(("user_id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"),
              (status = 409, description = "The last active super_admin", body = crate::error::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Can(by, _): Can<perm::UsersWrite>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    users::delete(&*tx, Some(by.role), id)
        .await
        .map_err(user_error)?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
