//! The HTTP surface: the REST API under `/api/v1`, `/health`, `/metrics`,
//! the WebSocket endpoints, Swagger UI and the embedded web UI, all in one
//! axum router so tests drive exactly what `central serve` serves.
//!
//! Every error, including axum's own (unknown route, wrong method, body
//! too large, malformed JSON or query), leaves in the planning document's
//! error format, via [`error::render_errors`].

pub mod auth;
pub mod config;
pub mod counting;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod pagination;
pub mod persons;
pub mod photos;
pub mod recognition;
pub mod sql;
pub mod time;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use tokio::sync::broadcast;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::jwt::Keys;
use crate::auth::login_limit::LoginLimiter;
use crate::ingest::IngestHandle;
use crate::live::LiveEvent;
use crate::metrics::Metrics;

/// Settings the handlers need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Mark cookies `Secure`.
    pub secure_cookies: bool,
    pub refresh_ttl_s: u64,
    pub max_body_bytes: usize,
    /// Directory whose file system `/health` reports on (the spool's).
    pub disk_path: std::path::PathBuf,
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub pool: deadpool_postgres::Pool,
    pub keys: Arc<Keys>,
    pub ingest: IngestHandle,
    pub live: broadcast::Sender<LiveEvent>,
    /// Sessions and users whose access just changed (logout, password,
    /// role, disabled): WebSockets check themselves again.
    pub sessions: broadcast::Sender<uuid::Uuid>,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
    pub login_limiter: Arc<LoginLimiter>,
    pub started: Instant,
    pub faces: Arc<crate::recognize::FacesState>,
    pub recognize: crate::recognize::RecognizeConfig,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes;
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/counting/current", get(counting::current))
        .route("/counting/history", get(counting::history))
        .route("/events", get(events::list))
        .route("/config/cameras", get(config::list_cameras))
        .route(
            "/config/cameras/{camera_id}",
            get(config::get_camera).put(config::put_camera),
        )
        .route(
            "/config/zones",
            get(config::list_zones).post(config::create_zone),
        )
        .route(
            "/config/zones/{camera_id}/{zone_id}",
            put(config::put_zone).delete(config::delete_zone),
        )
        .route(
            "/config/lines",
            get(config::list_lines).post(config::create_line),
        )
        .route(
            "/config/lines/{camera_id}/{line_id}",
            put(config::put_line).delete(config::delete_line),
        )
        .route("/persons", get(persons::list).post(persons::create))
        .route(
            "/persons/{person_id}",
            get(persons::get_one)
                .put(persons::update)
                .delete(persons::delete),
        )
        .route(
            "/persons/{person_id}/photos",
            get(photos::list_photos).post(photos::add_photo).layer(
                // Multipart overhead on top of the photo itself.
                DefaultBodyLimit::max(state.faces.photo_max_bytes + 64 * 1024),
            ),
        )
        .route(
            "/persons/{person_id}/photos/{photo_id}",
            get(photos::get_photo).delete(photos::delete_photo),
        )
        .route("/events/recognition", get(recognition::list))
        .route(
            "/events/recognition/{recognition_id}/reject",
            post(recognition::reject),
        )
        .fallback(error::not_found);
    Router::new()
        .nest("/api/v1", api)
        .merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", openapi::ApiDoc::openapi()))
        .route("/health", get(health::health))
        .route("/metrics", get(health::metrics))
        .route("/ws/dashboard", get(crate::ws::dashboard))
        .route("/ws/camera/{camera_id}", get(crate::ws::camera))
        .merge(crate::ui::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(axum::middleware::from_fn(error::render_errors))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn count_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    state.metrics.http_requests.inc();
    next.run(req).await
}
