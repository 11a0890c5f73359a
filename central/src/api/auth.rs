//! `/api/v1/auth/*`: log in, refresh, log out, who am I.
//!
//! Two ways to hold a session: API clients ask for `"session": "token"`
//! (the default) and get both tokens in the body; the web UI asks for
//! `"session": "cookie"` and gets them only as httpOnly, SameSite=Strict
//! cookies, so page scripts never see a token. The refresh cookie is sent
//! only to `/api/v1/auth`.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::refresh::RefreshError;
use crate::auth::{ACCESS_COOKIE, AuthUser, REFRESH_COOKIE, Role, password, refresh};
use crate::error::ApiError;
use crate::http::extract::Json;

/// How the client keeps its session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionMode {
    /// Tokens in the response body (API clients).
    #[default]
    Token,
    /// Tokens only in httpOnly cookies (the web UI).
    Cookie,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub session: SessionMode,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token; omit it to use the refresh cookie.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    /// Permission strings the role holds.
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// RS256 JWT for `Authorization: Bearer` (absent in cookie mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use refresh token (absent in cookie mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub user: UserInfo,
}

fn user_info(id: Uuid, username: String, role: Role) -> UserInfo {
    let permissions = role
        .permissions()
        .into_iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    UserInfo {
        id,
        username,
        role,
        permissions,
    }
}

fn cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    // Tokens are base64url and JWT characters only: always a valid header.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A hash to verify against when the user does not exist, so a wrong user
/// name costs as much time as a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    // Hashing a constant fails only if argon2 itself is broken; an empty
    // hash then verifies nothing, which is still a refusal.
    HASH.get_or_init(|| password::hash("no such user, no such password").unwrap_or_default())
}

/// Issues tokens for a user in a session and answers in the chosen mode.
async fn respond_with_tokens(
    state: &AppState,
    user: (Uuid, String, Role),
    session: Uuid,
    refresh_token: String,
    mode: SessionMode,
) -> Result<Response, ApiError> {
    let (id, username, role) = user;
    let access = state
        .keys
        .issue(
            &id.to_string(),
            &username,
            role.as_str(),
            &session.to_string(),
        )
        .map_err(|e| ApiError::internal("signing the access token", e))?;
    let secure = state.settings.secure_cookies;
    let mut headers = HeaderMap::new();
    let body = match mode {
        SessionMode::Token => TokenResponse {
            access_token: Some(access),
            token_type: "Bearer",
            expires_in: state.keys.ttl_s(),
            refresh_token: Some(refresh_token),
            user: user_info(id, username, role),
        },
        SessionMode::Cookie => {
            headers.append(
                SET_COOKIE,
                cookie(ACCESS_COOKIE, &access, "/", state.keys.ttl_s(), secure),
            );
            headers.append(
                SET_COOKIE,
                cookie(
                    REFRESH_COOKIE,
                    &refresh_token,
                    "/api/v1/auth",
                    state.settings.refresh_ttl_s as i64,
                    secure,
                ),
            );
            TokenResponse {
                access_token: None,
                token_type: "Bearer",
                expires_in: state.keys.ttl_s(),
                refresh_token: None,
                user: user_info(id, username, role),
            }
        }
    };
    Ok((headers, axum::Json(body)).into_response())
}

/// Log in with a user name and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong user name or password", body = crate::error::ErrorBody),
        (status = 429, description = "Too many attempts", body = crate::error::ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    // The per-address login budget is the rate limiter's; the user name
    // is known only here.
    if state.rate_limits.enabled
        && let Some(wait) = state
            .rate_limits
            .check_login_user(&req.username)
            .retry_after
    {
        return Err(ApiError::too_many_requests(wait));
    }
    let client = state.pool.get().await?;
    let row = client
        .query_opt(
            "SELECT id, password_hash, role, disabled FROM users WHERE username = $1",
            &[&req.username],
        )
        .await?;
    let (hash, found) = match &row {
        Some(r) => (r.try_get::<_, String>("password_hash")?, true),
        None => (dummy_hash().to_owned(), false),
    };
    let pw = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .map_err(|e| ApiError::internal("password check", e))?;
    let disabled = match &row {
        Some(r) => r.try_get::<_, bool>("disabled")?,
        None => true,
    };
    let Some(row) = row.filter(|_| found && ok && !disabled) else {
        tracing::info!(username = %req.username, "login refused");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIALS",
            "wrong user name or password",
        ));
    };
    let id: Uuid = row.try_get("id")?;
    let role = Role::parse(&row.try_get::<_, String>("role")?)
        .ok_or_else(|| ApiError::internal("reading the user's role", "unknown role"))?;
    let session = Uuid::now_v7();
    let token = refresh::issue(&client, id, session, state.settings.refresh_ttl_s)
        .await
        .map_err(|e| ApiError::internal("issuing a refresh token", e))?;
    tracing::info!(username = %req.username, "logged in");
    respond_with_tokens(
        &state,
        (id, req.username, role),
        session,
        token,
        req.session,
    )
    .await
}

/// Trade a refresh token for new tokens (the old one stops working).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body(content = RefreshRequest, description = "Omit the body to use the refresh cookie"),
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, used, expired or revoked refresh token", body = crate::error::ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    parts: Parts,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: RefreshRequest = if body.is_empty() {
        RefreshRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let (token, mode) = match req.refresh_token {
        Some(t) => (t, SessionMode::Token),
        None => (
            crate::auth::cookie(&parts, REFRESH_COOKIE).ok_or_else(|| {
                ApiError::unauthorized("no refresh token: send refresh_token or the refresh cookie")
            })?,
            SessionMode::Cookie,
        ),
    };
    let mut client = state.pool.get().await?;
    let (user, next) = match refresh::rotate(&mut client, &token, state.settings.refresh_ttl_s)
        .await
    {
        Ok(v) => v,
        Err(RefreshError::Db(e)) => return Err(ApiError::internal("refreshing the session", e)),
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "INVALID_REFRESH_TOKEN",
                e.to_string(),
            ));
        }
    };
    let row = client
        .query_one("SELECT username, role FROM users WHERE id = $1", &[&user])
        .await?;
    let role = Role::parse(&row.try_get::<_, String>("role")?)
        .ok_or_else(|| ApiError::internal("reading the user's role", "unknown role"))?;
    let username: String = row.try_get("username")?;
    let session = client
        .query_one(
            "SELECT family FROM refresh_tokens WHERE token_hash = $1",
            &[&refresh::digest(&next)],
        )
        .await?
        .try_get("family")?;
    respond_with_tokens(&state, (user, username, role), session, next, mode).await
}

/// End the session: its refresh token and every access token issued in it
/// stop working; the cookies are cleared.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body(content = RefreshRequest, description = "Omit the body to use the refresh cookie"),
    responses((status = 204, description = "Logged out")))]
pub async fn logout(
    State(state): State<AppState>,
    parts: Parts,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: RefreshRequest = if body.is_empty() {
        RefreshRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    if let Some(t) = req
        .refresh_token
        .or_else(|| crate::auth::cookie(&parts, REFRESH_COOKIE))
        && let Some(session) = refresh::revoke(&tx, &t)
            .await
            .map_err(|e| ApiError::internal("logging out", e))?
    {
        crate::store::sessions::announce(&*tx, session).await?;
    }
    // An access token alone also ends its session.
    if let Some(t) = crate::auth::access_token(&parts)
        && let Ok(claims) = state.keys.verify(&t)
        && let Ok(session) = Uuid::parse_str(&claims.sid)
    {
        tx.execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL",
            &[&session],
        )
        .await?;
        crate::store::sessions::announce(&*tx, session).await?;
    }
    tx.commit().await?;
    let secure = state.settings.secure_cookies;
    let mut headers = HeaderMap::new();
    headers.append(SET_COOKIE, cookie(ACCESS_COOKIE, "", "/", 0, secure));
    headers.append(
        SET_COOKIE,
        cookie(REFRESH_COOKIE, "", "/api/v1/auth", 0, secure),
    );
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The authenticated user", body = UserInfo),
        (status = 401, description = "Not authenticated", body = crate::error::ErrorBody),
    ))]
pub async fn me(user: AuthUser) -> axum::Json<UserInfo> {
    let mut info = user_info(user.id, user.username.clone(), user.role);
    // With an API key: what the key holds.
    info.permissions
        .retain(|p| crate::auth::Permission::parse(p).is_some_and(|p| user.allows(p)));
    axum::Json(info)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    /// At least 12 characters.
    #[schema(min_length = 12)]
    pub new_password: String,
}

/// Change your own password (with the current one). Every session of
/// yours ends, this one included: log in again with the new password.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange, security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; every session ended"),
        (status = 400, description = "Wrong current password or too weak a new one", body = crate::error::ErrorBody),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    if user.key.is_some() {
        return Err(ApiError::forbidden(
            "an API key cannot change its owner's password",
        ));
    }
    let mut client = state.pool.get().await?;
    let hash: String = client
        .query_one("SELECT password_hash FROM users WHERE id = $1", &[&user.id])
        .await?
        .try_get("password_hash")?;
    let current = req.current_password;
    let ok = tokio::task::spawn_blocking(move || password::verify(&current, &hash))
        .await
        .map_err(|e| ApiError::internal("password check", e))?;
    if !ok {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_CREDENTIALS",
            "the current password is wrong",
        ));
    }
    let new_hash = super::users::new_hash(req.new_password).await?;
    let tx = client.transaction().await?;
    crate::store::users::update(
        &*tx,
        None,
        user.id,
        crate::store::users::Change {
            password_hash: Some(new_hash),
            ..Default::default()
        },
    )
    .await
    .map_err(super::users::user_error)?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
