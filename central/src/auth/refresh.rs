//! Refresh tokens: random, stored as SHA-256, rotated on every use.
//!
//! A token is good once. Using it marks it used and issues the next one in
//! the same family. If a used token is presented again (it was stolen, or a
//! client replayed it), the whole family is revoked: the thief and the
//! victim both have to log in again.

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Why a refresh token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefreshError {
    #[error("refresh token unknown")]
    Unknown,
    #[error("refresh token expired")]
    Expired,
    #[error("refresh token revoked")]
    Revoked,
    #[error("refresh token already used; its session is revoked")]
    Reused,
    #[error("user is disabled")]
    Disabled,
    #[error("database: {0}")]
    Db(String),
}

impl From<tokio_postgres::Error> for RefreshError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e.to_string())
    }
}

/// What is stored of a token.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Issues a token for `user` in `family` (a new family for a login).
pub async fn issue(
    client: &impl deadpool_postgres::GenericClient,
    user: Uuid,
    family: Uuid,
    ttl_s: u64,
) -> Result<String, RefreshError> {
    let token = new_token();
    let expires = Utc::now() + chrono::Duration::seconds(ttl_s as i64);
    client
        .execute(
            "INSERT INTO refresh_tokens (id, user_id, family, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
            &[&Uuid::now_v7(), &user, &family, &digest(&token), &expires],
        )
        .await?;
    Ok(token)
}

/// Uses a token: returns the user and the next token.
pub async fn rotate(
    client: &mut deadpool_postgres::Client,
    token: &str,
    ttl_s: u64,
) -> Result<(Uuid, String), RefreshError> {
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT r.id, r.user_id, r.family, r.expires_at, r.used_at, r.revoked_at, u.disabled
             FROM refresh_tokens r JOIN users u ON u.id = r.user_id
             WHERE r.token_hash = $1 FOR UPDATE OF r",
            &[&digest(token)],
        )
        .await?
        .ok_or(RefreshError::Unknown)?;
    let id: Uuid = row.try_get("id")?;
    let user: Uuid = row.try_get("user_id")?;
    let family: Uuid = row.try_get("family")?;
    let expires: DateTime<Utc> = row.try_get("expires_at")?;
    let used: Option<DateTime<Utc>> = row.try_get("used_at")?;
    let revoked: Option<DateTime<Utc>> = row.try_get("revoked_at")?;
    let disabled: bool = row.try_get("disabled")?;
    if revoked.is_some() {
        return Err(RefreshError::Revoked);
    }
    if used.is_some() {
        tx.execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL",
            &[&family],
        )
        .await?;
        crate::store::sessions::announce(&*tx, family).await?;
        tx.commit().await?;
        tracing::warn!(%user, %family, "a used refresh token was presented again; its family is revoked");
        return Err(RefreshError::Reused);
    }
    if expires < Utc::now() {
        return Err(RefreshError::Expired);
    }
    if disabled {
        return Err(RefreshError::Disabled);
    }
    tx.execute(
        "UPDATE refresh_tokens SET used_at = now() WHERE id = $1",
        &[&id],
    )
    .await?;
    let next = issue(&tx, user, family, ttl_s).await?;
    tx.commit().await?;
    Ok((user, next))
}

/// Revokes the token's whole family (logout); returns the family (the
/// session), `None` for an unknown token.
pub async fn revoke(
    client: &impl deadpool_postgres::GenericClient,
    token: &str,
) -> Result<Option<Uuid>, RefreshError> {
    let Some(row) = client
        .query_opt(
            "SELECT family FROM refresh_tokens WHERE token_hash = $1",
            &[&digest(token)],
        )
        .await?
    else {
        return Ok(None);
    };
    let family: Uuid = row.try_get("family")?;
    client
        .execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND family = $1",
            &[&family],
        )
        .await?;
    Ok(Some(family))
}
