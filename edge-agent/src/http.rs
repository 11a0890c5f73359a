//! `/health` and `/metrics` on a local port, for the installer, systemd
//! watchdogs and Prometheus.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::watch;

use crate::state::Shared;

/// The JSON `/health` answers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: &'static str,
    pub camera: atrium_proto::CameraState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera_reason: Option<String>,
    pub broker_connected: bool,
    pub load_level: u8,
    pub spool_depth: i64,
    /// Of those, events the broker accepted that stay for `broker.linger_s`.
    pub spool_lingering: usize,
    /// Why the broker refuses this camera's events, while it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish_problem: Option<String>,
    /// Events lost because the spool could not store them (disk full, I/O
    /// error) since start.
    pub events_unspooled: u64,
}

fn health(shared: &Shared) -> Health {
    use std::sync::atomic::Ordering::Relaxed;
    let (camera, reason) = shared.reported_camera();
    let broker = shared.broker_connected.load(Relaxed);
    let level = shared.load_level.load(Relaxed);
    let unspooled = shared.metrics.events_unspooled.get();
    let status = match (camera, broker) {
        (atrium_proto::CameraState::Offline, _) => "unhealthy",
        (_, false) => "degraded",
        (atrium_proto::CameraState::Degraded, _) => "degraded",
        _ if level >= 3 || unspooled > 0 => "degraded",
        _ => "healthy",
    };
    Health {
        status,
        camera,
        camera_reason: reason,
        broker_connected: broker,
        load_level: level,
        spool_depth: shared.metrics.spool_depth.get(),
        spool_lingering: shared.lingering.load(Relaxed),
        publish_problem: shared.publish_problem(),
        events_unspooled: unspooled,
    }
}

/// The router (separate for tests).
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/health",
            get(|State(s): State<Arc<Shared>>| async move {
                let h = health(&s);
                let code = if h.status == "unhealthy" {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                };
                (code, Json(h))
            }),
        )
        .route(
            "/metrics",
            get(|State(s): State<Arc<Shared>>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    s.metrics.encode(),
                )
                    .into_response()
            }),
        )
        .with_state(shared)
}

/// Binds `addr`; returns the bound address and the server future.
pub async fn serve(
    addr: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, impl Future<Output = std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(shared);
    Ok((bound, async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.changed().await;
            })
            .await
    }))
}
