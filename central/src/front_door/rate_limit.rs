//! Spends each `/api/v1` request from its caller's budgets (after
//! `caller::identify`, so the caller is known) and reports the binding
//! budget in `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (Unix seconds) on every response.

use std::net::{IpAddr, Ipv4Addr};

use axum::extract::{OriginalUri, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::caller::{Identity, client_addr_of};
use crate::error::ApiError;
use crate::rate_limit::{Endpoint, Verdict, Who};

pub async fn limit(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    req: Request,
    next: Next,
) -> Response {
    let limits = &state.rate_limits;
    if !limits.enabled {
        return next.run(req).await;
    }
    // Without a peer address (only in-process callers) all share one.
    let addr = client_addr_of(req.extensions()).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let endpoint = Endpoint::of(req.method(), uri.path());
    let user = req.extensions().get::<Identity>().and_then(Identity::user);
    let role = user.map(|u| u.role);
    let who = match (endpoint, user) {
        // Login is per address whoever calls.
        (Some(Endpoint::Login), _) | (_, None) => Who::Addr(addr),
        (_, Some(u)) => u.key.as_ref().map_or(Who::User(u.id), |k| Who::Key(k.id)),
    };
    let verdict = limits.check(who, role, endpoint);
    let mut res = match verdict.retry_after {
        Some(wait) => ApiError::too_many_requests(wait).into_response(),
        None => next.run(req).await,
    };
    set_headers(&mut res, verdict, state.clock.now().timestamp());
    res
}

/// Sets the three headers (`now` in Unix seconds).
pub fn set_headers(res: &mut Response, v: Verdict, now: i64) {
    let reset = now + v.reset_after.as_secs_f64().ceil() as i64;
    let h = res.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(v.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(v.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
}
