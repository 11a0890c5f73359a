//! The application state every handler shares. It lives below the HTTP
//! surfaces (API, WebSockets, UI) that use it, so none of them has to
//! import another to reach it.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::broadcast;

use crate::auth::jwt::Keys;
use crate::ingest::IngestHandle;
use crate::live::LiveEvent;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;

/// Settings the handlers need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Mark cookies `Secure`.
    pub secure_cookies: bool,
    pub refresh_ttl_s: u64,
    pub max_body_bytes: usize,
    /// Directory whose file system `/health` reports on (the spool's).
    pub disk_path: std::path::PathBuf,
    /// Origins besides our own that may call the API from a browser
    /// (CORS, and the cross-site write check); empty by default.
    pub allowed_origins: Vec<String>,
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
    pub rate_limits: Arc<RateLimits>,
    /// Every handler reads the time here (tests pass a manual clock).
    pub clock: atrium_clock::SharedClock,
    pub started: Instant,
    pub faces: Arc<crate::recognize::FacesState>,
    pub recognize: crate::recognize::RecognizeConfig,
    /// Camera pictures: who watches what, the live relay.
    pub media: Arc<crate::media::Media>,
    /// Per camera: state, occupancy, IN/OUT today (`counting/current`),
    /// kept current by the live feed.
    pub counting: Arc<crate::counting_view::CountingView>,
    /// The machine's latest vitals (`/health`), sampled in the background.
    pub vitals: tokio::sync::watch::Receiver<crate::vitals::Vitals>,
    /// Sends alert notifications (the test endpoint sends directly).
    pub notifier: crate::notify::Notifier,
    /// Tells this instance's sender that notifications are queued.
    pub alerts_wake: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
