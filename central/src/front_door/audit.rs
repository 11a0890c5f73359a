//! Every write request through the API goes to the audit log: who (user,
//! API key, or anonymous), what (method and path, the answer's status),
//! when and from where, whether it succeeded or not. Handlers that touch
//! personal data add their own entries naming the person; request bodies
//! are never recorded (they hold passwords).

use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;
use crate::caller::{Identity, client_addr_of};
use crate::store::audit::{self, Actor};

pub async fn record_writes(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    req: Request,
    next: Next,
) -> Response {
    if req.method().is_safe() {
        return next.run(req).await;
    }
    let action = format!("http.{}", req.method().as_str().to_lowercase());
    let address = client_addr_of(req.extensions());
    let user = req
        .extensions()
        .get::<Identity>()
        .and_then(Identity::user)
        .cloned();
    let res = next.run(req).await;
    let actor = match &user {
        Some(u) => u.actor(),
        None => Actor::Anonymous { address },
    };
    let detail = serde_json::json!({ "status": res.status().as_u16() });
    let recorded = match state.pool.get().await {
        Ok(client) => audit::record(&client, actor, &action, uri.path(), detail)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    // The write itself has happened; its answer stands, and the missing
    // entry is logged loudly for the operator.
    if let Err(e) = recorded {
        tracing::error!(error = %e, action, path = uri.path(), "could not write the audit entry of a request");
    }
    res
}
