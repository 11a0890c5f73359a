//! The caller of a request: credentials found (API key, bearer token or
//! the UI's cookie), verified, and checked against the database once per
//! request by [`identify`], which every `/api/v1` request passes through
//! before the rate limiter and the handlers. It needs the application
//! state (keys, pool), so it sits above `app`, while `auth` (roles,
//! tokens, passwords) stays below it.
//!
//! The same middleware refuses cross-site writes: a browser sends the
//! UI's cookie with any request to us, so an unsafe request that carries a
//! cookie and no header credentials must come from our own origin (or an
//! allowed one), by its `Origin` header or, lacking that, its `Referer`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::api_keys;
use crate::auth::{
    ACCESS_COOKIE, AuthUser, Credential, KeyScope, Permission, REFRESH_COOKIE, Requires, Role,
    cookie, credential,
};
use crate::error::ApiError;

/// What [`identify`] found; handlers read it through [`AuthUser`].
#[derive(Debug, Clone)]
pub enum Identity {
    /// No credentials.
    Anonymous,
    /// Valid credentials.
    User(AuthUser),
    /// Credentials that did not hold (answered if a handler needs them).
    Refused(ApiError),
}

impl Identity {
    pub fn user(&self) -> Option<&AuthUser> {
        match self {
            Self::User(u) => Some(u),
            _ => None,
        }
    }
}

/// The TCP peer's address.
pub fn client_addr(parts: &Parts) -> Option<IpAddr> {
    client_addr_of(&parts.extensions)
}

/// The same from a request's extensions.
pub fn client_addr_of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Finds and checks the caller, once, for everything after it.
pub async fn identify(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Err(e) = same_origin(&parts, &state.settings.allowed_origins) {
        return e.into_response();
    }
    let address = client_addr(&parts);
    let identity = match credential(&parts) {
        None => Identity::Anonymous,
        Some(c) => match authenticate_credential(&state, &c, address).await {
            Ok(u) => Identity::User(u),
            Err(e) => Identity::Refused(e),
        },
    };
    parts.extensions.insert(identity);
    next.run(Request::from_parts(parts, body)).await
}

/// Refuses a cookie-authenticated unsafe request from another origin.
fn same_origin(parts: &Parts, allowed: &[String]) -> Result<(), ApiError> {
    if parts.method.is_safe() {
        return Ok(());
    }
    let has_cookie =
        cookie(parts, ACCESS_COOKIE).is_some() || cookie(parts, REFRESH_COOKIE).is_some();
    let header_credentials = credential(parts).is_some_and(|c| c.in_header());
    if !has_cookie || header_credentials {
        return Ok(());
    }
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let origin = header(axum::http::header::ORIGIN)
        .map(str::to_owned)
        .or_else(|| header(axum::http::header::REFERER).and_then(origin_of));
    let host = header(axum::http::header::HOST);
    let ok = match (&origin, host) {
        (Some(o), Some(h)) => {
            origin_host(o).is_some_and(|oh| oh.eq_ignore_ascii_case(h))
                || allowed.iter().any(|a| a == o)
        }
        (Some(o), None) => allowed.iter().any(|a| a == o),
        (None, _) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "cross-site request refused: a cookie-authenticated write must come from the web UI's own origin",
        )
        .with_details(serde_json::json!({ "origin": origin })))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// `host[:port]` of an origin.
fn origin_host(origin: &str) -> Option<&str> {
    origin.split_once("://").map(|(_, h)| h)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Identity>() {
            Some(Identity::User(u)) => Ok(u.clone()),
            Some(Identity::Refused(e)) => Err(e.clone()),
            Some(Identity::Anonymous) => Err(missing()),
            // Outside the API's middleware (the WebSocket routes).
            None => {
                let c = credential(parts).ok_or_else(missing)?;
                authenticate_credential(state, &c, client_addr(parts)).await
            }
        }
    }
}

fn missing() -> ApiError {
    ApiError::unauthorized(
        "authentication required: send a bearer token, an X-API-Key header or log in",
    )
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

/// As [`Can`], on a route that filters by site: a site-restricted API key
/// may call it, and the handler filters by
/// [`AuthUser::require_at_site`]'s answer.
#[derive(Debug, Clone)]
pub struct CanAtSite<P: Requires>(pub AuthUser, pub std::marker::PhantomData<P>);

impl<P: Requires> CanAtSite<P> {
    /// The site to filter on: `requested`, or the key's own site; another
    /// site than the key's is refused.
    pub fn site(&self, requested: Option<String>) -> Result<Option<String>, ApiError> {
        self.0.require_at_site(P::PERMISSION, requested)
    }
}

impl<P: Requires + Send + Sync> FromRequestParts<AppState> for CanAtSite<P> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        user.require_at_site(P::PERMISSION, None)?;
        Ok(CanAtSite(user, std::marker::PhantomData))
    }
}

/// Checks a request's credential: what comes in `X-API-Key` is always
/// taken for an API key, the rest as [`authenticate_from`] decides.
pub async fn authenticate_credential(
    state: &AppState,
    credential: &Credential,
    address: Option<IpAddr>,
) -> Result<AuthUser, ApiError> {
    match credential {
        Credential::Key(text) => authenticate_key(state, text, address).await,
        other => authenticate_from(state, other.text(), address).await,
    }
}

/// Checks a credential (an access token or an API key) as
/// [`authenticate_from`] does, without a client address.
pub async fn authenticate(state: &AppState, credential: &str) -> Result<AuthUser, ApiError> {
    authenticate_from(state, credential, None).await
}

/// Verifies an access token or an API key and checks, in one indexed
/// query, that its session is open (or the key valid) and its user still
/// enabled. The role and name are the user's current ones, not what the
/// token says: a credential outlives neither a role change nor a disabled
/// account.
pub async fn authenticate_from(
    state: &AppState,
    credential: &str,
    address: Option<IpAddr>,
) -> Result<AuthUser, ApiError> {
    if api_keys::looks_like_key(credential) {
        return authenticate_key(state, credential, address).await;
    }
    let claims = state
        .keys
        .verify(credential)
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
    let disabled: bool = row.try_get("disabled")?;
    let revoked: bool = row.try_get("revoked")?;
    if disabled {
        return Err(ApiError::unauthorized("user is disabled or deleted"));
    }
    if revoked {
        return Err(ApiError::unauthorized("session ended: log in again"));
    }
    Ok(AuthUser {
        id,
        username: row.try_get("username")?,
        role: role(&row.try_get::<_, String>("role")?)?,
        session,
        expires_at: claims.exp,
        key: None,
        address,
    })
}

fn role(name: &str) -> Result<Role, ApiError> {
    Role::parse(name)
        .ok_or_else(|| ApiError::unauthorized(format!("user has an unknown role {name:?}")))
}

async fn authenticate_key(
    state: &AppState,
    text: &str,
    address: Option<IpAddr>,
) -> Result<AuthUser, ApiError> {
    let presented = api_keys::parse(text)
        .map_err(|e| ApiError::unauthorized(format!("invalid API key: {e}")))?;
    let client = state.pool.get().await?;
    let unknown = || ApiError::unauthorized("invalid API key: unknown or wrong secret");
    let key = crate::store::api_keys::lookup(&**client, presented.prefix)
        .await?
        .ok_or_else(unknown)?;
    if !api_keys::matches(presented.secret, &key.secret_hash) {
        return Err(unknown());
    }
    if key.revoked {
        return Err(ApiError::unauthorized("API key revoked"));
    }
    let now = state.clock.now();
    if key.expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::unauthorized("API key expired"));
    }
    if key.disabled {
        return Err(ApiError::unauthorized("the key's owner is disabled"));
    }
    if key
        .last_used_at
        .is_none_or(|t| now - t >= chrono::Duration::minutes(1))
    {
        crate::store::api_keys::touch(&**client, key.id).await?;
    }
    Ok(AuthUser {
        id: key.user_id,
        username: key.username,
        role: role(&key.role)?,
        session: key.id,
        // A key without expiry: the WebSockets' expiry timer never fires.
        expires_at: key.expires_at.map_or(i64::MAX / 2, |t| t.timestamp()),
        key: Some(KeyScope {
            id: key.id,
            permissions: key
                .permissions
                .iter()
                .filter_map(|p| Permission::parse(p))
                .collect(),
            site: key.site_id,
        }),
        address,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = axum::http::Request::builder()
            .method(method)
            .uri("/api/v1/persons");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn cookie_writes_must_come_from_our_origin() {
        let cookie = ("cookie", "atrium_access=t");
        let host = ("host", "atrium.example:8080");
        let none: &[String] = &[];
        // Same origin, by Origin or by Referer.
        assert!(
            same_origin(
                &parts(
                    "POST",
                    &[cookie, host, ("origin", "https://atrium.example:8080")]
                ),
                none
            )
            .is_ok()
        );
        assert!(
            same_origin(
                &parts(
                    "POST",
                    &[
                        cookie,
                        host,
                        ("referer", "https://atrium.example:8080/ui/persons")
                    ]
                ),
                none
            )
            .is_ok()
        );
        // Another origin, or no origin at all.
        assert!(
            same_origin(
                &parts("POST", &[cookie, host, ("origin", "https://evil.example")]),
                none
            )
            .is_err()
        );
        assert!(same_origin(&parts("DELETE", &[cookie, host]), none).is_err());
        // Allowed explicitly.
        let allowed = vec!["https://evil.example".to_owned()];
        assert!(
            same_origin(
                &parts("POST", &[cookie, host, ("origin", "https://evil.example")]),
                &allowed
            )
            .is_ok()
        );
        // Reads, header credentials and cookie-less requests are not browser-forgeable writes.
        assert!(
            same_origin(
                &parts("GET", &[cookie, host, ("origin", "https://evil.example")]),
                none
            )
            .is_ok()
        );
        assert!(
            same_origin(
                &parts("POST", &[cookie, host, ("authorization", "Bearer x")]),
                none
            )
            .is_ok()
        );
        assert!(
            same_origin(
                &parts("POST", &[host, ("origin", "https://evil.example")]),
                none
            )
            .is_ok()
        );
        // The refresh cookie counts too.
        assert!(
            same_origin(
                &parts("POST", &[("cookie", "atrium_refresh=r"), host]),
                none
            )
            .is_err()
        );
    }

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            origin_of("https://a.example:1/x?y").as_deref(),
            Some("https://a.example:1")
        );
        assert_eq!(origin_of("nonsense"), None);
    }
}
