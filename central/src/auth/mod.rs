//! Who is calling, and what they may do.
//!
//! Passwords are argon2id; access tokens are short-lived RS256 JWTs (so any
//! instance, or another service holding the public key, can verify them
//! without the database); refresh tokens are random, stored only as
//! SHA-256, rotated on every use, and a reused one revokes its family.
//! Browsers get both as httpOnly cookies; API clients use the bearer header
//! and the JSON body.

pub mod jwt;
pub mod login_limit;
pub mod password;
pub mod permissions;
pub mod refresh;
pub mod sessions;

use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
pub use permissions::{Permission, Requires, perm};

/// Access cookie name.
pub const ACCESS_COOKIE: &str = "atrium_access";
/// Refresh cookie name (sent only to /api/v1/auth).
pub const REFRESH_COOKIE: &str = "atrium_refresh";

/// The six roles of the planning document.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    Admin,
    FacilityManager,
    SecurityOfficer,
    Operator,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super_admin",
            Self::Admin => "admin",
            Self::FacilityManager => "facility_manager",
            Self::SecurityOfficer => "security_officer",
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// An authenticated caller (from a verified access token whose session is
/// still open and whose user is still enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    /// The session (refresh-token family).
    pub session: Uuid,
    /// When the access token expires (Unix seconds).
    pub expires_at: i64,
}

impl AuthUser {
    /// The caller as the audit log records them.
    pub fn actor(&self) -> crate::store::audit::Actor<'_> {
        crate::store::audit::Actor::User {
            id: self.id,
            username: &self.username,
        }
    }

    /// Fails with 403 unless the caller's role holds `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.allows(p) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "role {} lacks permission {}",
                self.role.as_str(),
                p.as_str()
            )))
        }
    }
}

/// The access token from `Authorization: Bearer …`, else the cookie.
pub fn access_token(parts: &Parts) -> Option<String> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let v = h.to_str().ok()?;
        return v.strip_prefix("Bearer ").map(|t| t.trim().to_owned());
    }
    cookie(parts, ACCESS_COOKIE)
}

/// A cookie's value.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
