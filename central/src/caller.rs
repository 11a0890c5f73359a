//! The caller of a request: the access token verified, its session and
//! user checked against the database. It needs the application state (keys,
//! pool), so it sits above `app`, while `auth` (roles, tokens, passwords)
//! stays below it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{AuthUser, Requires, Role, access_token};
use crate::error::ApiError;

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = access_token(parts).ok_or_else(|| {
            ApiError::unauthorized("authentication required: send a bearer token or log in")
        })?;
        authenticate(state, &token).await
    }
}

/// An authenticated caller holding `P`'s permission. Named in a handler's
/// signature before its other extractors, so a caller without the
/// permission gets 403 before any parameter or body is looked at (and a
/// caller without credentials 401).
#[derive(Debug, Clone)]
pub struct Can<P: Requires>(pub AuthUser, pub std::marker::PhantomData<P>);

impl<P: Requires + Send + Sync> FromRequestParts<AppState> for Can<P> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        user.require(P::PERMISSION)?;
        Ok(Can(user, std::marker::PhantomData))
    }
}

/// Verifies an access token and checks, in one indexed query, that its
/// session is still open and its user still enabled. The role and name are
/// the user's current ones, not what the token says: a token outlives
/// neither a role change nor a disabled account.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
    let claims = state
        .keys
        .verify(token)
        .map_err(|e| ApiError::unauthorized(format!("invalid access token: {e}")))?;
    let id = Uuid::parse_str(&claims.sub)
        .map_err(|_| ApiError::unauthorized("invalid access token: bad subject"))?;
    let session = Uuid::parse_str(&claims.sid)
        .map_err(|_| ApiError::unauthorized("invalid access token: bad session"))?;
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            "SELECT u.username, u.role, u.disabled,
                    EXISTS (SELECT 1 FROM refresh_tokens WHERE family = $2 AND revoked_at IS NOT NULL) AS revoked
             FROM users u WHERE u.id = $1",
            &[&id, &session],
        )
        .await?
        .ok_or_else(|| ApiError::unauthorized("user is disabled or deleted"))?;
    let disabled: bool = row.get("disabled");
    let revoked: bool = row.get("revoked");
    if disabled {
        return Err(ApiError::unauthorized("user is disabled or deleted"));
    }
    if revoked {
        return Err(ApiError::unauthorized("session ended: log in again"));
    }
    let role_name: String = row.get("role");
    let role = Role::parse(&role_name)
        .ok_or_else(|| ApiError::unauthorized(format!("user has an unknown role {role_name:?}")))?;
    Ok(AuthUser {
        id,
        username: row.get("username"),
        role,
        session,
        expires_at: claims.exp,
    })
}
