//! MQTT ingest: edge events and statuses, and the building systems'
//! telemetry, events, statuses and births, in; rows in TimescaleDB out.
//!
//! One MQTT 5 shared subscription (`$share/<group>/…`), so N central
//! instances split the stream. Messages are acknowledged manually and only
//! once they are durable: committed to the database, or — while the
//! database is down — written to a local spool, from which a replayer
//! commits them when it returns. When even the spool is full, nothing is
//! acknowledged and the broker holds the messages (its in-flight window
//! stops delivery). Bad messages are committed too, to `dead_letters`, with
//! their reason, so they are acknowledged and never block the stream. The
//! rules for each outcome are in [`state`]; [`receiver`] is the broker
//! connection, [`collect`] gathers and validates batches, and [`writer`]
//! carries the rules out against the database and the spool, committing
//! one batch while `collect` validates the next.
//!
//! The MQTT client accepts packets up to
//! [`atrium_proto::limits::CLIENT_MAX_PACKET`], above anything the broker
//! forwards: a message too large for the rules is dead-lettered, never a
//! reason to drop the connection (which would make the persistent session
//! deliver it again, for ever, and stop every camera).

mod collect;
mod receiver;
pub mod state;
pub mod write;
pub mod write_devices;
mod writer;

/// What ingest accepts: the wire contract's own checks.
pub use atrium_proto::validate;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use atrium_mqtt::TlsFiles;
use atrium_proto::topic::{self, CameraChannel};
use atrium_proto::{CameraId, CameraState, SiteId};
use atrium_spool::{Spool, SpoolConfig};
use atrium_worker::{Backoff, supervise};
use receiver::Receiver;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Publish;
use rumqttc::v5::{AsyncClient, MqttOptions};
use tokio::sync::{mpsc, watch};
use writer::Writer;

use crate::metrics::Metrics;
use atrium_proto::validate_device::{Devices, KnownDevice};
use state::WriterState;
use validate::{Cameras, KnownCamera};
use write::DeadLetter;

/// Ingest settings.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsFiles,
    pub client_id: String,
    pub share_group: String,
    pub batch_size: usize,
    pub batch_wait: Duration,
    pub max_payload_bytes: usize,
    pub spool_dir: std::path::PathBuf,
    pub spool_max_bytes: u64,
    /// Recognition of the face observations each batch stores.
    pub recognize: crate::recognize::RecognizeConfig,
    /// The templates' sign bits recognition searches first.
    pub face_index: Arc<crate::recognize::index::FaceIndex>,
    /// Batch deadlines, replay pacing and stored-at times read this clock.
    pub clock: atrium_clock::SharedClock,
}

/// Shared with the API: the broker client (to push camera configs), the
/// camera registry and health flags.
#[derive(Clone)]
pub struct IngestHandle {
    pub client: AsyncClient,
    pub cameras: Arc<RwLock<Cameras>>,
    /// The building-system devices ingest accepts messages from.
    pub devices: Arc<RwLock<Devices>>,
    pub broker_connected: Arc<AtomicBool>,
    pub database_up: Arc<AtomicBool>,
    /// Signalled on every (re)connection to the broker.
    pub connected: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for IngestHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestHandle").finish_non_exhaustive()
    }
}

impl IngestHandle {
    /// Publishes a camera's configuration, retained, for its edge agent.
    pub async fn push_camera_config(
        &self,
        site: &SiteId,
        camera: &CameraId,
        config: &atrium_proto::CameraConfig,
    ) -> Result<(), PushError> {
        let payload = serde_json::to_vec(config)?;
        self.client
            .publish(
                topic::camera(site, camera, CameraChannel::Config),
                QoS::AtLeastOnce,
                true,
                payload,
            )
            .await
            .map_err(Box::new)?;
        Ok(())
    }
}

/// Why a camera configuration was not pushed.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("encoding the configuration: {0}")]
    Encode(#[from] serde_json::Error),
    /// Boxed: the client error holds the whole request.
    #[error("queueing the config publish: {0}")]
    Queue(#[from] Box<rumqttc::v5::ClientError>),
}

/// Why ingest could not start.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("broker TLS: {0}")]
    Tls(#[from] atrium_mqtt::TlsError),
    #[error("ingest spool: {0}")]
    Spool(#[from] atrium_spool::SpoolError),
}

/// Why the camera registry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("reading the cameras or devices: {0}")]
    Query(#[from] tokio_postgres::Error),
}

/// Reloads the camera registry from the database.
pub async fn load_cameras(pool: &deadpool_postgres::Pool) -> Result<Cameras, RegistryError> {
    let client = pool.get().await?;
    Ok(crate::store::cameras::registry(&client)
        .await?
        .into_iter()
        .map(|(id, site, enabled)| (id, KnownCamera { site, enabled }))
        .collect())
}

/// Reloads the devices registry from the database.
pub async fn load_devices(pool: &deadpool_postgres::Pool) -> Result<Devices, RegistryError> {
    let client = pool.get().await?;
    Ok(crate::store::devices::registry(&client)
        .await?
        .into_iter()
        .map(|(id, site, kind, enabled)| {
            (
                id,
                KnownDevice {
                    site,
                    kind,
                    enabled,
                },
            )
        })
        .collect())
}

/// How long the broker keeps an offline central's session (its shared
/// subscription and the messages queued for it): seven days. Longer
/// outages than that, or than the broker's queue budget, lose messages;
/// docs/guide/operations.md.
pub const SESSION_EXPIRY_S: u32 = 7 * 24 * 3600;

/// Starts ingest: the MQTT connection and the writer. Returns the handle
/// and the task running it.
pub fn start(
    cfg: IngestConfig,
    pool: deadpool_postgres::Pool,
    cameras: Cameras,
    devices: Devices,
    metrics: Arc<Metrics>,
    stop: watch::Receiver<bool>,
) -> Result<(IngestHandle, tokio::task::JoinHandle<()>), IngestError> {
    let transport = cfg.tls.transport()?;
    let (spool, recovery) = Spool::open(SpoolConfig {
        dir: cfg.spool_dir.clone(),
        // Headroom above the quota ingest enforces itself, so the spool's
        // own drop-oldest never triggers.
        max_bytes: cfg.spool_max_bytes + (64 << 20),
        segment_bytes: 4 << 20,
        fsync_interval: Duration::ZERO,
        clock: cfg.clock.clone(),
    })?;
    if recovery.pending > 0 {
        tracing::warn!(
            pending = recovery.pending,
            "ingest spool holds messages from a database outage; replaying"
        );
    }
    // Bytes recovery could not read as records go to the dead letters, so
    // an operator sees what was damaged.
    let orphans: Vec<DeadLetter> = recovery
        .corrupt
        .iter()
        .map(|c| DeadLetter {
            topic: String::new(),
            reason: format!(
                "corrupt bytes in the ingest spool ({} at byte {}), skipped at start",
                c.segment.display(),
                c.offset
            ),
            payload: c.bytes.clone(),
        })
        .collect();
    if recovery.corrupt_ranges > 0 {
        metrics.spool_errors.inc_by(recovery.corrupt_ranges);
    }
    let receive_max = atrium_mqtt::broker::CENTRAL_RECEIVE_MAXIMUM;
    let mut options = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    options
        .set_transport(transport)
        .set_keep_alive(Duration::from_secs(10))
        .set_clean_start(false)
        .set_session_expiry_interval(Some(SESSION_EXPIRY_S))
        .set_manual_acks(true)
        .set_max_packet_size(Some(atrium_proto::limits::CLIENT_MAX_PACKET))
        .set_receive_maximum(Some(receive_max));
    let (client, eventloop) = AsyncClient::new(options, 4096);
    let handle = IngestHandle {
        client: client.clone(),
        cameras: Arc::new(RwLock::new(cameras)),
        devices: Arc::new(RwLock::new(devices)),
        broker_connected: Arc::new(AtomicBool::new(false)),
        database_up: Arc::new(AtomicBool::new(true)),
        connected: Arc::new(tokio::sync::Notify::new()),
    };
    // Unbounded on purpose: the MQTT event loop must never wait for the
    // writer. If it did, it would stop sending the writer's acknowledgements
    // and keep-alive pings while the writer waits for those acknowledgements
    // to be queued: a deadlock under load (seen in the ingest benchmark).
    // The broker bounds what can be in this channel: it sends at most
    // `receive_max` unacknowledged messages.
    let (tx, rx) = mpsc::unbounded_channel::<Publish>();
    let mut receiver = Receiver {
        eventloop,
        client: client.clone(),
        group: cfg.share_group.clone(),
        tx,
        handle: handle.clone(),
        metrics: metrics.clone(),
    };
    let receiver_stop = stop.clone();
    let mqtt = atrium_worker::spawn(async move {
        // 375 ms, growing by half up to 15 s, as before the shared shape.
        let backoff = Backoff::new(Duration::from_millis(375), Duration::from_secs(15));
        supervise(
            "ingest broker connection",
            &mut receiver,
            backoff,
            receiver_stop,
        )
        .await;
        if let Err(e) = receiver.client.try_disconnect() {
            tracing::debug!(error = %e, "no clean disconnect from the broker");
        }
    });
    let validator = || collect::Validator {
        cfg: cfg.clone(),
        pool: pool.clone(),
        handle: handle.clone(),
        metrics: metrics.clone(),
        last_refresh: cfg.clock.instant(),
    };
    // One validated batch waits while the writer commits the one before.
    let (batches_tx, batches_rx) = mpsc::channel::<collect::Collected>(1);
    let collector = atrium_worker::spawn(collect::run(validator(), rx, batches_tx, stop.clone()));
    let writer = Writer {
        validator: validator(),
        cfg: cfg.clone(),
        pool: pool.clone(),
        client,
        handle: handle.clone(),
        spool: Arc::new(Mutex::new(spool)),
        metrics: metrics.clone(),
        state: WriterState::new(),
        orphans,
        power_sent: Default::default(),
    };
    let task = atrium_worker::spawn(async move {
        writer.run(batches_rx, stop).await;
        for (task, name) in [
            (collector, "ingest collector"),
            (mqtt, "ingest broker connection"),
        ] {
            if let Err(e) = task.await {
                tracing::error!(error = %e, task = name, "ingest task ended abnormally");
            }
        }
    });
    Ok((handle, task))
}

/// Camera state as live events carry it.
pub fn state_name(s: CameraState) -> &'static str {
    match s {
        CameraState::Online => "online",
        CameraState::Degraded => "degraded",
        CameraState::Offline => "offline",
    }
}
