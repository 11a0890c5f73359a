//! `central serve` as a library call: pool, migrations, keys, ingest, the
//! HTTP server and the background jobs, stopped together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::app::{AppState, Settings};
use crate::auth::jwt::Keys;
use crate::config::Config;
use crate::ingest::{self, IngestConfig};
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;

/// Why central could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("database: {0}")]
    Database(String),
    #[error("migrations: {0}")]
    Migrate(#[from] atrium_migrate::MigrateError),
    #[error(transparent)]
    Keys(#[from] crate::auth::jwt::KeyError),
    #[error(transparent)]
    Ingest(#[from] ingest::IngestError),
    #[error("broker TLS: {0}")]
    Tls(#[from] atrium_mqtt::TlsError),
    #[error("faces: {0}")]
    PhotoKey(#[from] crate::recognize::photo_key::PhotoKeyError),
    #[error(transparent)]
    Notify(#[from] crate::notify::SetupError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// A running central.
pub struct Running {
    /// Where the HTTP server listens (useful with port 0).
    pub addr: SocketAddr,
    pub state: AppState,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Live events buffered per WebSocket client before it counts as too slow.
const LIVE_BUFFER: usize = 4096;

/// A connection pool for the configured database.
pub fn pool(cfg: &Config) -> Result<deadpool_postgres::Pool, ServerError> {
    let pg = cfg
        .database_config()
        .map_err(|e| ServerError::Database(e.to_string()))?;
    let mgr = deadpool_postgres::Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(mgr)
        .max_size(cfg.database.pool_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| ServerError::Database(e.to_string()))
}

/// Starts everything; returns once the HTTP server is listening.
pub async fn start(cfg: Config) -> Result<Running, ServerError> {
    start_with_clock(cfg, atrium_clock::system()).await
}

/// As [`start`], reading the time from `clock` (tests pass a manual one to
/// step through rate-limit windows and key expiry).
pub async fn start_with_clock(
    cfg: Config,
    clock: atrium_clock::SharedClock,
) -> Result<Running, ServerError> {
    // Every task of this instance logs inside this span, so the JSON logs
    // of several instances can be told apart.
    let span = tracing::info_span!("central", instance = %instance_id(&cfg));
    start_in_span(cfg, clock).instrument(span).await
}

/// The instance's name: its MQTT client id.
fn instance_id(cfg: &Config) -> String {
    cfg.broker.client_id.clone().unwrap_or_else(|| {
        format!(
            "central-{}",
            sysinfo::System::host_name().unwrap_or_else(|| "host".into())
        )
    })
}

async fn start_in_span(
    cfg: Config,
    clock: atrium_clock::SharedClock,
) -> Result<Running, ServerError> {
    let pool = pool(&cfg)?;
    {
        let mut client = pool.get().await.map_err(|e| {
            ServerError::Database(format!("cannot connect to {}: {e}", cfg.database.url))
        })?;
        let report = atrium_migrate::migrate(&mut client).await?;
        for v in report.applied {
            tracing::info!(version = v, "applied migration");
        }
    }
    let key_file = cfg.auth.jwt_key_file.clone();
    let ttl = cfg.auth.access_ttl_s;
    let keys = tokio::task::spawn_blocking(move || Keys::load_or_create(&key_file, ttl))
        .await
        .map_err(|e| ServerError::Database(format!("key task: {e}")))??;
    let cameras = ingest::load_cameras(&pool)
        .await
        .map_err(|e| ServerError::Database(e.to_string()))?;
    let devices = ingest::load_devices(&pool)
        .await
        .map_err(|e| ServerError::Database(e.to_string()))?;
    let (faces, recognize) = crate::recognize::setup(&cfg.faces)?;
    let face_index = Arc::new(crate::recognize::index::FaceIndex::new());
    let metrics = Arc::new(Metrics::new());
    let (live, _) = broadcast::channel(LIVE_BUFFER);
    let (sessions, _) = broadcast::channel(256);
    let (stop_tx, stop) = watch::channel(false);
    let client_id = instance_id(&cfg);
    let tls = atrium_mqtt::TlsFiles {
        ca: cfg.broker.ca_file.clone(),
        cert: cfg.broker.cert_file.clone(),
        key: cfg.broker.key_file.clone(),
    };
    let media_options = crate::media::MediaConnection::options(
        &cfg.broker.host,
        cfg.broker.port,
        &client_id,
        tls.transport()?,
    );
    let (handle, ingest_task) = ingest::start(
        IngestConfig {
            host: cfg.broker.host.clone(),
            port: cfg.broker.port,
            tls,
            client_id,
            share_group: cfg.broker.share_group.clone(),
            batch_size: cfg.ingest.batch_size,
            batch_wait: Duration::from_millis(cfg.ingest.batch_ms),
            max_payload_bytes: cfg.ingest.max_payload_bytes,
            spool_dir: cfg.ingest.spool_dir.clone(),
            spool_max_bytes: cfg.ingest.spool_max_mib * 1024 * 1024,
            recognize: recognize.clone(),
            face_index: face_index.clone(),
            clock: clock.clone(),
        },
        pool.clone(),
        cameras,
        devices,
        metrics.clone(),
        stop.clone(),
    )?;
    let (sampler, vitals_tx, vitals) = crate::vitals::channel(&cfg.ingest.spool_dir);
    let notifier = crate::notify::Notifier::new(&cfg.alerts)?;
    let alerts_wake = Arc::new(tokio::sync::Notify::new());
    let state = AppState {
        notifier: notifier.clone(),
        alerts_wake: alerts_wake.clone(),
        counting: crate::counting_view::CountingView::new(),
        vitals,
        pool: pool.clone(),
        keys: Arc::new(keys),
        ingest: handle,
        live,
        sessions,
        metrics,
        settings: Arc::new(Settings {
            secure_cookies: cfg.http.secure_cookies,
            refresh_ttl_s: cfg.auth.refresh_ttl_s,
            max_body_bytes: cfg.http.max_body_bytes,
            disk_path: cfg.ingest.spool_dir.clone(),
            allowed_origins: cfg.http.cors_allowed_origins.clone(),
        }),
        rate_limits: Arc::new(RateLimits::new(&cfg.rate_limits, &clock)),
        started: clock.instant(),
        clock,
        faces: Arc::new(faces),
        recognize,
        media: crate::media::Media::new(cfg.media.live_for_s),
    };
    let listener = tokio::net::TcpListener::bind(&cfg.http.listen)
        .await
        .map_err(|source| ServerError::Listen {
            addr: cfg.http.listen.clone(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            addr: cfg.http.listen.clone(),
            source,
        })?;
    let app = crate::routes::router(state.clone());
    let mut http_stop = stop.clone();
    let http = atrium_worker::spawn(async move {
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = http_stop.changed().await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    let mut tasks = vec![ingest_task, http];
    tasks.push(atrium_worker::spawn(crate::vitals::run(
        sampler,
        vitals_tx,
        stop.clone(),
    )));
    tasks.push(atrium_worker::spawn(
        crate::media::MediaConnection {
            options: media_options,
            pool: pool.clone(),
            cameras: state.ingest.cameras.clone(),
            media: state.media.clone(),
            metrics: state.metrics.clone(),
        }
        .run(stop.clone()),
    ));
    tasks.push(atrium_worker::spawn(crate::media::renew(
        state.media.clone(),
        state.ingest.client.clone(),
        state.metrics.clone(),
        stop.clone(),
    )));
    if cfg.retention.interval_s > 0 {
        tasks.push(atrium_worker::spawn(crate::retention::run(
            pool.clone(),
            Duration::from_secs(cfg.retention.interval_s),
            stop.clone(),
        )));
    }
    tasks.push(atrium_worker::spawn(crate::device_watch::run(
        pool.clone(),
        state.live.clone(),
        state.clock.clone(),
        crate::device_watch::EVERY,
        stop.clone(),
    )));
    tasks.push(atrium_worker::spawn(crate::energy_watch::run(
        pool.clone(),
        state.live.clone(),
        state.clock.clone(),
        crate::energy_watch::EVERY,
        stop.clone(),
    )));
    tasks.push(atrium_worker::spawn(crate::notify::run(
        pool.clone(),
        notifier.clone(),
        state.metrics.clone(),
        state.clock.clone(),
        alerts_wake.clone(),
        Duration::from_millis(cfg.alerts.delivery_poll_ms),
        stop.clone(),
    )));
    if cfg.reports.schedules {
        tasks.push(atrium_worker::spawn(crate::report_schedule::run(
            pool.clone(),
            notifier.clone(),
            state.clock.clone(),
            Duration::from_secs(cfg.reports.every_s.max(1)),
            stop.clone(),
        )));
    }
    if cfg.alerts.enabled {
        tasks.push(atrium_worker::spawn(crate::alert_watch::run(
            pool.clone(),
            state.clock.clone(),
            cfg.alerts.clone(),
            state.metrics.clone(),
            alerts_wake,
            stop.clone(),
        )));
    }
    tasks.push(atrium_worker::spawn(sync_configs(
        state.clone(),
        stop.clone(),
    )));
    let pg = cfg
        .database_config()
        .map_err(|e| ServerError::Database(e.to_string()))?;
    // Until it has loaded, recognition searches the database instead.
    tasks.push(atrium_worker::spawn(crate::recognize::index::follow(
        pg.clone(),
        face_index,
        stop.clone(),
    )));
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    tasks.push(atrium_worker::spawn(crate::live::listen(
        pg,
        state.live.clone(),
        state.sessions.clone(),
        ready_tx,
        stop.clone(),
    )));
    // Serve only once live events can flow, so nothing committed after
    // start is missing from the WebSockets.
    if tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .is_err()
    {
        tracing::warn!("live events are not flowing yet (the database does not answer LISTEN)");
    }
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    tasks.push(atrium_worker::spawn(crate::counting_view::run(
        state.counting.clone(),
        pool.clone(),
        state.live.clone(),
        state.clock.clone(),
        ready_tx,
        stop.clone(),
    )));
    // counting/current reads the database until the view has loaded.
    if tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .is_err()
    {
        tracing::warn!("the counting view has not loaded yet; counting/current reads the database");
    }
    tasks.push(atrium_worker::spawn(housekeeping(
        state.clone(),
        stop.clone(),
    )));
    tracing::info!(%addr, "central is serving");
    Ok(Running {
        addr,
        state,
        stop: stop_tx,
        tasks,
    })
}

impl Running {
    /// Stops accepting work, lets ingest finish its batch, waits for all.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Republishes every configured camera's configuration (retained) after
/// each broker connection, so an edge always finds the latest one even if
/// the broker lost its retained messages.
async fn sync_configs(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = state.ingest.connected.notified() => {}
            _ = stop.changed() => return,
        }
        let Ok(client) = state.pool.get().await else {
            continue;
        };
        let Ok(rows) = client
            .query(
                "SELECT id FROM cameras WHERE config_version > 0 ORDER BY id",
                &[],
            )
            .await
        else {
            continue;
        };
        for r in rows {
            let Ok(id) = r.try_get::<_, String>("id") else {
                continue;
            };
            if let Ok(Some((site, camera, config))) =
                crate::store::cameras::edge_config(&client, &id).await
            {
                crate::api::config::push(&state, &site, &camera, &config).await;
            }
        }
    }
}

async fn housekeeping(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => state.rate_limits.shrink(),
            _ = stop.changed() => return,
        }
    }
}
