//! API keys: created, listed, revoked, and looked up by prefix when one is
//! presented. The secret's hash never leaves this module and the API
//! never shows it.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::filter::Filter;
use super::list::{FromRow, Window};

/// A key as the API lists it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    /// The `<prefix>` of `atr_<prefix>_<secret>`: how a key is recognised.
    pub prefix: String,
    pub name: String,
    /// The owner: the key acts as this user, within `permissions`.
    pub user_id: Uuid,
    pub username: String,
    pub permissions: Vec<String>,
    /// Restricted to this site, if set.
    pub site_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Last request made with the key (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl FromRow for ApiKey {
    const COLUMNS: &'static str = "k.id, k.prefix, k.name, k.user_id, u.username, k.permissions,
         k.site_id, k.expires_at, k.created_at, k.last_used_at, k.revoked_at";

    fn from_row(r: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            prefix: r.try_get("prefix")?,
            name: r.try_get("name")?,
            user_id: r.try_get("user_id")?,
            username: r.try_get("username")?,
            permissions: r.try_get("permissions")?,
            site_id: r.try_get("site_id")?,
            expires_at: r.try_get("expires_at")?,
            created_at: r.try_get("created_at")?,
            last_used_at: r.try_get("last_used_at")?,
            revoked_at: r.try_get("revoked_at")?,
        })
    }
}

/// What a new key is.
#[derive(Debug, Clone)]
pub struct NewKeyRow<'a> {
    pub owner: Uuid,
    pub created_by: Uuid,
    pub name: &'a str,
    pub permissions: &'a [String],
    pub site_id: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's `<prefix>` and the SHA-256 of its secret.
    pub prefix: &'a str,
    pub secret_hash: &'a [u8; 32],
}

/// Stores a new key.
pub async fn create(
    client: &impl GenericClient,
    k: NewKeyRow<'_>,
) -> Result<ApiKey, tokio_postgres::Error> {
    let sql = format!(
        "WITH k AS (
             INSERT INTO api_keys (id, prefix, secret_hash, user_id, name, permissions, site_id, expires_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *)
         SELECT {} FROM k JOIN users u ON u.id = k.user_id",
        ApiKey::COLUMNS
    );
    let row = client
        .query_one(
            &sql,
            &[
                &Uuid::now_v7(),
                &k.prefix,
                &k.secret_hash.as_slice(),
                &k.owner,
                &k.name,
                &k.permissions,
                &k.site_id,
                &k.expires_at,
                &k.created_by,
            ],
        )
        .await?;
    ApiKey::from_row(&row)
}

/// One key.
pub async fn get(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<ApiKey>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT {} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = $1",
        ApiKey::COLUMNS
    );
    client
        .query_opt(&sql, &[&id])
        .await?
        .map(|r| ApiKey::from_row(&r))
        .transpose()
}

/// A page of keys, newest first: one owner's, or everyone's.
pub async fn page(
    client: &impl deadpool_postgres::GenericClient,
    owner: Option<Uuid>,
    window: Window,
) -> Result<(Vec<ApiKey>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.opt("k.user_id = $", owner);
    super::list::page(
        client,
        "api_keys k",
        "JOIN users u ON u.id = k.user_id",
        &f,
        "k.created_at DESC, k.id",
        window,
    )
    .await
}

/// Revokes a key (idempotent) and announces it, so WebSockets opened with
/// it close; returns it as it now is.
pub async fn revoke(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<ApiKey>, tokio_postgres::Error> {
    client
        .execute(
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            &[&id],
        )
        .await?;
    crate::store::sessions::announce(client, id).await?;
    get(client, id).await
}

/// What authenticating with a key needs: the key, its hash and its owner.
#[derive(Debug, Clone)]
pub struct Presented {
    pub id: Uuid,
    pub secret_hash: Vec<u8>,
    pub permissions: Vec<String>,
    pub site_id: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub user_id: Uuid,
    pub username: String,
    pub role: String,
    pub disabled: bool,
}

/// The key with `prefix`, if any.
pub async fn lookup(
    client: &impl GenericClient,
    prefix: &str,
) -> Result<Option<Presented>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT k.id, k.secret_hash, k.permissions, k.site_id, k.expires_at, k.last_used_at,
                    k.revoked_at IS NOT NULL AS revoked, u.id AS user_id, u.username, u.role, u.disabled
             FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.prefix = $1",
            &[&prefix],
        )
        .await?;
    row.map(|r| {
        Ok(Presented {
            id: r.try_get("id")?,
            secret_hash: r.try_get("secret_hash")?,
            permissions: r.try_get("permissions")?,
            site_id: r.try_get("site_id")?,
            expires_at: r.try_get("expires_at")?,
            last_used_at: r.try_get("last_used_at")?,
            revoked: r.try_get("revoked")?,
            user_id: r.try_get("user_id")?,
            username: r.try_get("username")?,
            role: r.try_get("role")?,
            disabled: r.try_get("disabled")?,
        })
    })
    .transpose()
}

/// Notes that the key was used. Callers skip it when `last_used_at` is
/// under a minute old (a write per request would cost more than the
/// request); the condition here keeps concurrent requests to one write.
pub async fn touch(client: &impl GenericClient, id: Uuid) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "UPDATE api_keys SET last_used_at = now()
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - INTERVAL '1 minute')",
            &[&id],
        )
        .await
        .map(|_| ())
}
