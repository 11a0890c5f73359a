//! Accounts of the API and the web UI, for the users endpoints and the
//! admin CLI alike, so both keep the same two rules: the last active
//! `super_admin` cannot be removed, demoted or disabled, and only a
//! `super_admin` may create or change one. Every change that alters what
//! a user may do ends their sessions in the same transaction.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::filter::Filter;
use super::list::{FromRow, Window};
use crate::roles::Role;

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    /// Shown in the UI; empty means the user name.
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FromRow for User {
    const COLUMNS: &'static str =
        "id, username, display_name, role, disabled, created_at, updated_at";

    fn from_row(r: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
        let role: String = r.try_get("role")?;
        Ok(Self {
            id: r.try_get("id")?,
            username: r.try_get("username")?,
            display_name: r.try_get("display_name")?,
            // The column's CHECK allows only the six roles.
            role: Role::parse(&role).unwrap_or(Role::Viewer),
            disabled: r.try_get("disabled")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

/// Why a change to users was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("no such user")]
    NotFound,
    #[error("user name {0:?} is taken")]
    Taken(String),
    #[error("{0} is the last active super_admin: make another one first")]
    LastSuperAdmin(String),
    #[error("only a super_admin may create or change a super_admin")]
    SuperAdminOnly,
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

/// A user's fields to change; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// A new argon2id hash.
    pub password_hash: Option<String>,
}

/// Whether `name` is a valid user name: 1 to 64 characters, no spaces.
pub fn valid_username(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 64 && !name.chars().any(char::is_whitespace)
}

/// A page of users by user name, optionally of one role.
pub async fn page(
    client: &impl deadpool_postgres::GenericClient,
    role: Option<Role>,
    window: Window,
) -> Result<(Vec<User>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.opt("role = $", role.map(|r| r.as_str().to_owned()));
    super::list::page(client, "users", "", &f, "username", window).await
}

/// One user.
pub async fn get(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<User>, tokio_postgres::Error> {
    let sql = format!("SELECT {} FROM users WHERE id = $1", User::COLUMNS);
    client
        .query_opt(&sql, &[&id])
        .await?
        .map(|r| User::from_row(&r))
        .transpose()
}

/// One user by user name.
pub async fn by_name(
    client: &impl GenericClient,
    username: &str,
) -> Result<Option<User>, tokio_postgres::Error> {
    let sql = format!("SELECT {} FROM users WHERE username = $1", User::COLUMNS);
    client
        .query_opt(&sql, &[&username])
        .await?
        .map(|r| User::from_row(&r))
        .transpose()
}

/// Adds a user. `by` is the acting user's role (`None`: the admin CLI,
/// which may do anything).
pub async fn create(
    client: &impl GenericClient,
    by: Option<Role>,
    username: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
) -> Result<User, UserError> {
    if role == Role::SuperAdmin && by.is_some_and(|r| r != Role::SuperAdmin) {
        return Err(UserError::SuperAdminOnly);
    }
    let sql = format!(
        "INSERT INTO users (id, username, display_name, password_hash, role) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (username) DO NOTHING RETURNING {}",
        User::COLUMNS
    );
    let row = client
        .query_opt(
            &sql,
            &[
                &Uuid::now_v7(),
                &username,
                &display_name,
                &password_hash,
                &role.as_str(),
            ],
        )
        .await?
        .ok_or_else(|| UserError::Taken(username.to_owned()))?;
    Ok(User::from_row(&row)?)
}

/// Applies `change` to user `id`; call it inside a transaction. A change
/// of role, disabled flag or password ends the user's sessions (their
/// tokens are refused and their WebSockets close at once).
pub async fn update(
    tx: &impl GenericClient,
    by: Option<Role>,
    id: Uuid,
    change: Change,
) -> Result<User, UserError> {
    let before = locked(tx, id).await?;
    let after_role = change.role.unwrap_or(before.role);
    let after_disabled = change.disabled.unwrap_or(before.disabled);
    if by.is_some_and(|r| r != Role::SuperAdmin)
        && (before.role == Role::SuperAdmin || after_role == Role::SuperAdmin)
    {
        return Err(UserError::SuperAdminOnly);
    }
    let stays_active_super = after_role == Role::SuperAdmin && !after_disabled;
    if before.role == Role::SuperAdmin && !before.disabled && !stays_active_super {
        guard_last_super_admin(tx, &before).await?;
    }
    let sql = format!(
        "UPDATE users SET display_name = COALESCE($2, display_name), role = $3, disabled = $4,
                password_hash = COALESCE($5, password_hash), updated_at = now()
         WHERE id = $1 RETURNING {}",
        User::COLUMNS
    );
    let ends_sessions = after_role != before.role
        || after_disabled != before.disabled
        || change.password_hash.is_some();
    let row = tx
        .query_one(
            &sql,
            &[
                &id,
                &change.display_name,
                &after_role.as_str(),
                &after_disabled,
                &change.password_hash,
            ],
        )
        .await?;
    if ends_sessions {
        crate::store::sessions::end_all(tx, id).await?;
    }
    Ok(User::from_row(&row)?)
}

/// Deletes user `id` (their sessions and API keys go with them); call it
/// inside a transaction.
pub async fn delete(
    tx: &impl GenericClient,
    by: Option<Role>,
    id: Uuid,
) -> Result<User, UserError> {
    let before = locked(tx, id).await?;
    if before.role == Role::SuperAdmin && by.is_some_and(|r| r != Role::SuperAdmin) {
        return Err(UserError::SuperAdminOnly);
    }
    if before.role == Role::SuperAdmin && !before.disabled {
        guard_last_super_admin(tx, &before).await?;
    }
    crate::store::sessions::end_all(tx, id).await?;
    tx.execute("DELETE FROM users WHERE id = $1", &[&id])
        .await?;
    Ok(before)
}

/// The user, row-locked for the rest of the transaction.
async fn locked(tx: &impl GenericClient, id: Uuid) -> Result<User, UserError> {
    let sql = format!(
        "SELECT {} FROM users WHERE id = $1 FOR UPDATE",
        User::COLUMNS
    );
    let row = tx
        .query_opt(&sql, &[&id])
        .await?
        .ok_or(UserError::NotFound)?;
    Ok(User::from_row(&row)?)
}

/// Fails unless another active super_admin exists. The active
/// super_admins are locked, so two transactions demoting two different
/// ones cannot both see the other still there.
async fn guard_last_super_admin(tx: &impl GenericClient, user: &User) -> Result<(), UserError> {
    let others = tx
        .query(
            "SELECT id FROM users WHERE role = 'super_admin' AND NOT disabled AND id <> $1 FOR UPDATE",
            &[&user.id],
        )
        .await?;
    if others.is_empty() {
        Err(UserError::LastSuperAdmin(user.username.clone()))
    } else {
        Ok(())
    }
}
