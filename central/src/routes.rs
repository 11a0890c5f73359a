//! The whole application's router: the REST API, `/health` and
//! `/metrics`, the WebSocket endpoints, Swagger UI and the embedded web UI,
//! all in one axum router so tests drive exactly what `central serve`
//! serves. It sits above every HTTP surface and composes them.
//!
//! Every error, including axum's own (unknown route, wrong method, body
//! too large, malformed JSON or query), leaves in the planning document's
//! error format, via [`crate::error::render_errors`].

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, health, openapi};
use crate::app::AppState;
use crate::front_door::{audit, browser, rate_limit};

/// The whole application.
pub fn router(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes;
    // Run bottom-up: identify, then limit, then audit, then the handler.
    let api = api::routes(&state)
        .layer(from_fn_with_state(state.clone(), audit::record_writes))
        .layer(from_fn_with_state(state.clone(), rate_limit::limit))
        .layer(from_fn_with_state(state.clone(), crate::caller::identify));
    let cors = browser::cors(&state.settings.allowed_origins);

    let app = Router::new()
        .nest("/api/v1", api)
        .merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", openapi::ApiDoc::openapi()))
        .route("/health", get(health::health))
        .route("/metrics", get(health::metrics))
        .route("/ws/dashboard", get(crate::ws::dashboard))
        .route("/ws/camera/{camera_id}", get(crate::ws::camera))
        .merge(crate::ui::router())
        .layer(from_fn_with_state(state.clone(), count_requests))
        .layer(axum::middleware::from_fn(crate::error::render_errors))
        .layer(axum::middleware::from_fn(browser::headers))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state);
    match cors {
        Some(c) => app.layer(c),
        None => app,
    }
}

async fn count_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    state.metrics.http_requests.inc();
    next.run(req).await
}
