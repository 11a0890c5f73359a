//! Who is calling, and what they may do.
//!
//! Passwords are argon2id; access tokens are short-lived RS256 JWTs (so any
//! instance, or another service holding the public key, can verify them
//! without the database); refresh tokens are random, stored only as
//! SHA-256, rotated on every use, and a reused one revokes its family.
//! Browsers get both as httpOnly cookies; API clients use the bearer header
//! and the JSON body.

pub mod api_keys;
pub mod jwt;
pub mod password;
pub mod permissions;
pub mod refresh;

use axum::http::request::Parts;
use uuid::Uuid;

use crate::error::ApiError;
pub use permissions::{Permission, Requires, perm};

/// Access cookie name.
pub const ACCESS_COOKIE: &str = "atrium_access";
/// Refresh cookie name (sent only to /api/v1/auth).
pub const REFRESH_COOKIE: &str = "atrium_refresh";

pub use crate::roles::Role;

/// An authenticated caller: a verified access token whose session is
/// still open, or a valid API key, and in both cases a user who is still
/// enabled, with their current role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    /// The session (refresh-token family), or the API key's id: what a
    /// logout or a revocation announces.
    pub session: Uuid,
    /// When the credential expires (Unix seconds).
    pub expires_at: i64,
    /// Set when the request came with an API key.
    pub key: Option<KeyScope>,
    /// The client's address.
    pub address: Option<std::net::IpAddr>,
}

/// What an API key narrows its owner's rights to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyScope {
    pub id: Uuid,
    pub permissions: Vec<Permission>,
    /// Only this site's data, on routes that filter by site.
    pub site: Option<String>,
}

impl AuthUser {
    /// The caller as the audit log records them.
    pub fn actor(&self) -> crate::store::audit::Actor<'_> {
        crate::store::audit::Actor::User {
            id: self.id,
            username: &self.username,
            address: self.address,
            api_key: self.key.as_ref().map(|k| k.id),
        }
    }

    /// Whether the caller holds `p`: their role does and, with an API key,
    /// the key does too.
    pub fn allows(&self, p: Permission) -> bool {
        self.role.allows(p) && self.key.as_ref().is_none_or(|k| k.permissions.contains(&p))
    }

    /// Fails with 403 unless the caller holds `p`. A site-restricted key
    /// holds nothing on routes that do not filter by site.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        self.require_at_site(p, None).map(|_| ())?;
        match self.key.as_ref().and_then(|k| k.site.as_deref()) {
            Some(site) => Err(ApiError::forbidden(format!(
                "this API key is restricted to site {site:?}, and this route is not filtered by site"
            ))),
            None => Ok(()),
        }
    }

    /// Checks `p` on a route that filters by site: returns the site to
    /// filter on (`requested`, or the key's own site when it has one) and
    /// refuses another site than the key's.
    pub fn require_at_site(
        &self,
        p: Permission,
        requested: Option<String>,
    ) -> Result<Option<String>, ApiError> {
        if !self.role.allows(p) {
            return Err(ApiError::forbidden(format!(
                "role {} lacks permission {}",
                self.role.as_str(),
                p.as_str()
            )));
        }
        let Some(key) = &self.key else {
            return Ok(requested);
        };
        if !key.permissions.contains(&p) {
            return Err(ApiError::forbidden(format!(
                "this API key lacks permission {}",
                p.as_str()
            )));
        }
        match (&key.site, requested) {
            (None, requested) => Ok(requested),
            (Some(own), None) => Ok(Some(own.clone())),
            (Some(own), Some(r)) if *own == r => Ok(Some(r)),
            (Some(own), Some(r)) => Err(ApiError::forbidden(format!(
                "this API key is restricted to site {own:?}, not {r:?}"
            ))),
        }
    }
}

/// The header an API key may come in (besides `Authorization: Bearer`).
pub const API_KEY_HEADER: &str = "x-api-key";

/// Credentials a request presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer …`: an access token, or an API key.
    Bearer(String),
    /// `X-API-Key: …`: an API key.
    Key(String),
    /// The web UI's httpOnly access cookie.
    Cookie(String),
}

impl Credential {
    pub fn text(&self) -> &str {
        match self {
            Self::Bearer(t) | Self::Key(t) | Self::Cookie(t) => t,
        }
    }

    /// Whether the client sent it in a header (not a browser's cookie).
    pub fn in_header(&self) -> bool {
        !matches!(self, Self::Cookie(_))
    }
}

/// The request's credentials: `Authorization: Bearer`, else `X-API-Key`,
/// else the access cookie (a request sending both headers is the bearer
/// token's). A malformed `Authorization` header counts as no credentials
/// (the request is then anonymous and refused where that matters).
pub fn credential(parts: &Parts) -> Option<Credential> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let v = h.to_str().ok()?;
        return v
            .strip_prefix("Bearer ")
            .map(|t| Credential::Bearer(t.trim().to_owned()));
    }
    if let Some(v) = parts.headers.get(API_KEY_HEADER) {
        return v
            .to_str()
            .ok()
            .map(|t| Credential::Key(t.trim().to_owned()));
    }
    cookie(parts, ACCESS_COOKIE).map(Credential::Cookie)
}

/// The credential's text (token or key), for the WebSockets, which check
/// it again later.
pub fn access_token(parts: &Parts) -> Option<String> {
    credential(parts).map(|c| c.text().to_owned())
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
