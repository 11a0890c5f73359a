//! `/health` for people and load balancers, `/metrics` for Prometheus.
//!
//! Both are unauthenticated (monitoring systems scrape them without a
//! user); they reveal camera and device ids and states, no personal data.
//! `/health` answers 503 when the database is unreachable, 200 otherwise,
//! with `status` `ok` or `degraded` (broker down, a camera or
//! building-system device not online, or an alert channel failing).

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::counting::effective_state;
use crate::app::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct DatabaseHealth {
    pub up: bool,
    /// Round trip of `SELECT 1`, when up.
    pub latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BrokerHealth {
    pub connected: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IngestHealth {
    /// Messages waiting in the local spool for the database.
    pub spool_depth: i64,
    /// Commit time minus capture time of the last batch's oldest event.
    pub lag_seconds: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CameraHealth {
    pub camera_id: String,
    pub site_id: String,
    /// `online`, `degraded`, `offline` or `unknown`.
    pub state: String,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// A building-system device (`online`, `offline` or `unknown`, as in
/// `GET /api/v1/devices`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceHealth {
    pub device_id: String,
    pub site_id: String,
    pub kind: String,
    pub state: crate::systems::state::DeviceState,
    /// `status` (it said so, or its last will did) or `silent` (three
    /// intervals without a message).
    pub reason: Option<&'static str>,
    pub last_seen: Option<DateTime<Utc>>,
}

/// A notification channel whose latest delivery attempt failed: alerts
/// may be reaching nobody.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelHealth {
    pub name: String,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SystemHealth {
    /// Average over the last sampling interval (5 s).
    pub cpu_percent: f32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// Free and total space of the file system holding the ingest spool.
    pub disk_free_bytes: u64,
    pub disk_total_bytes: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `degraded` or `down`.
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_s: u64,
    pub database: DatabaseHealth,
    pub broker: BrokerHealth,
    pub ingest: IngestHealth,
    pub cameras: Vec<CameraHealth>,
    /// Enabled building-system devices.
    pub devices: Vec<DeviceHealth>,
    /// Enabled alert channels whose latest delivery failed.
    pub failing_alert_channels: Vec<ChannelHealth>,
    pub faces: FacesHealth,
    pub system: SystemHealth,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FacesHealth {
    /// Whether photos can be enrolled.
    pub enrolment: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Similarity threshold recognition uses (for `embedder`).
    pub threshold: f32,
    /// Manifest id of the face embedder central enrols with; edges must
    /// send embeddings of this model to be recognised.
    pub embedder: String,
}

impl From<crate::vitals::Vitals> for SystemHealth {
    fn from(v: crate::vitals::Vitals) -> Self {
        Self {
            cpu_percent: v.cpu_percent,
            memory_used_bytes: v.memory_used_bytes,
            memory_total_bytes: v.memory_total_bytes,
            disk_free_bytes: v.disk_free_bytes,
            disk_total_bytes: v.disk_total_bytes,
        }
    }
}

/// Database, broker, cameras and the machine.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses(
        (status = 200, description = "Up (status ok or degraded)", body = Health),
        (status = 503, description = "The database is unreachable", body = Health),
    ))]
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let started = Instant::now(); // a measurement, not a clock read
    // One query: its answer proves the database is up and gives the
    // cameras; its round trip is the latency reported.
    let db = async {
        let client = state.pool.get().await.map_err(|e| e.to_string())?;
        let rows = crate::store::cameras::statuses(&client)
            .await
            .map_err(|e| e.to_string())?;
        let latency = started.elapsed().as_secs_f64() * 1000.0;
        let devices = crate::store::systems::devices(&client, None, None, None)
            .await
            .map_err(|e| e.to_string())?;
        let channels = crate::store::alerts::channels(&client)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((latency, rows, devices, channels))
    };
    let db = tokio::time::timeout(std::time::Duration::from_secs(5), db)
        .await
        .unwrap_or_else(|_| Err("no answer within 5 s".into()));
    // Sampled in the background (crate::vitals): never measured here.
    let system = SystemHealth::from(*state.vitals.borrow());
    let now = state.clock.now();
    let (database, cameras, devices, failing) = match db {
        Ok((latency, rows, devices, channels)) => (
            DatabaseHealth {
                up: true,
                latency_ms: Some(latency),
                error: None,
            },
            rows.into_iter()
                .map(|r| CameraHealth {
                    state: effective_state(r.state.as_deref(), r.last_seen, now),
                    camera_id: r.camera_id,
                    site_id: r.site_id,
                    reason: r.reason,
                    since: r.since,
                    last_seen: r.last_seen,
                })
                .collect(),
            devices
                .into_iter()
                .filter(|d| d.enabled)
                .map(|d| {
                    let (state, why) = d.contact.state(now);
                    DeviceHealth {
                        device_id: d.id,
                        site_id: d.site_id,
                        kind: d.kind,
                        state,
                        reason: why.map(crate::systems::state::Why::as_str),
                        last_seen: d.contact.last_seen,
                    }
                })
                .collect(),
            channels
                .into_iter()
                .filter(|c| c.channel.enabled && c.failing)
                .map(|c| ChannelHealth {
                    name: c.channel.name,
                    last_error: c.last_error,
                    last_error_at: c.last_error_at,
                    last_success_at: c.last_success_at,
                })
                .collect::<Vec<_>>(),
        ),
        Err(e) => (
            DatabaseHealth {
                up: false,
                latency_ms: None,
                error: Some(e),
            },
            Vec::new(),
            Vec::new(),
            Vec::new(),
        ),
    };
    let broker = state.ingest.broker_connected.load(Ordering::Relaxed);
    let status = if !database.up {
        "down"
    } else if !broker
        || !failing.is_empty()
        || cameras.iter().any(|c| c.state != "online")
        || devices
            .iter()
            .any(|d| d.state != crate::systems::state::DeviceState::Online)
    {
        "degraded"
    } else {
        "ok"
    };
    let code = if database.up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status,
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: state.started.elapsed().as_secs(),
        database,
        broker: BrokerHealth { connected: broker },
        ingest: IngestHealth {
            spool_depth: state.metrics.spool_depth.get(),
            lag_seconds: state.metrics.lag_seconds.get(),
        },
        cameras,
        devices,
        failing_alert_channels: failing,
        faces: FacesHealth {
            enrolment: state.faces.enroller.is_ok(),
            reason: state.faces.enroller.as_ref().err().cloned(),
            threshold: state.recognize.vote.threshold,
            embedder: state.recognize.embedder.clone(),
        },
        system,
    };
    (code, axum::Json(body))
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus metrics", content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
