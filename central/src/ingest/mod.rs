//! MQTT ingest: edge events and statuses in, rows in TimescaleDB out.
//!
//! One MQTT 5 shared subscription (`$share/<group>/…`), so N central
//! instances split the stream. Messages are acknowledged manually and only
//! once they are durable: committed to the database, or — while the
//! database is down — written to a local spool, from which a replayer
//! commits them when it returns. When even the spool is full, nothing is
//! acknowledged and the broker holds the messages (its in-flight window
//! stops delivery). Bad messages are committed too, to `dead_letters`, with
//! their reason, so they are acknowledged and never block the stream.

pub mod validate;
pub mod write;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use atrium_mqtt::TlsFiles;
use atrium_proto::event::EventBody;
use atrium_proto::topic::{self, CameraChannel, Topic};
use atrium_proto::{CameraId, CameraState, SiteId};
use atrium_spool::{Spool, SpoolConfig};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::{mpsc, watch};

use crate::live::LiveEvent;
use crate::metrics::Metrics;
use validate::{Accepted, Cameras, KnownCamera, validate};
use write::{Batch, DeadLetter};

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
}

/// Shared with the API: the broker client (to push camera configs), the
/// camera registry and health flags.
#[derive(Clone)]
pub struct IngestHandle {
    pub client: AsyncClient,
    pub cameras: Arc<RwLock<Cameras>>,
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
    ) -> Result<(), String> {
        let payload = serde_json::to_vec(config).map_err(|e| e.to_string())?;
        self.client
            .publish(
                topic::camera(site, camera, CameraChannel::Config),
                QoS::AtLeastOnce,
                true,
                payload,
            )
            .await
            .map_err(|e| format!("queueing the config publish: {e}"))
    }
}

/// Why ingest could not start.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("broker TLS: {0}")]
    Tls(#[from] atrium_mqtt::TlsError),
    #[error("ingest spool: {0}")]
    Spool(#[from] atrium_spool::SpoolError),
}

/// Reloads the camera registry from the database.
pub async fn load_cameras(pool: &deadpool_postgres::Pool) -> Result<Cameras, String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let rows = client
        .query("SELECT id, site_id, enabled FROM cameras", &[])
        .await
        .map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for r in rows {
        let (id, site, enabled): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
        if let (Ok(id), Ok(site)) = (CameraId::new(id), SiteId::new(site)) {
            out.insert(id, KnownCamera { site, enabled });
        }
    }
    Ok(out)
}

/// Spool record: topic length (u16 LE), topic, payload.
fn encode_record(topic: &str, payload: &[u8]) -> Vec<u8> {
    let t = topic.as_bytes();
    let mut out = Vec::with_capacity(2 + t.len() + payload.len());
    out.extend_from_slice(&(t.len().min(u16::MAX as usize) as u16).to_le_bytes());
    out.extend_from_slice(&t[..t.len().min(u16::MAX as usize)]);
    out.extend_from_slice(payload);
    out
}

fn decode_record(rec: &[u8]) -> Option<(String, Vec<u8>)> {
    let len = u16::from_le_bytes([*rec.first()?, *rec.get(1)?]) as usize;
    let topic = std::str::from_utf8(rec.get(2..2 + len)?).ok()?.to_owned();
    Some((topic, rec.get(2 + len..)?.to_vec()))
}

/// Starts ingest: the MQTT connection and the writer. Returns the handle
/// and the task running it.
pub fn start(
    cfg: IngestConfig,
    pool: deadpool_postgres::Pool,
    cameras: Cameras,
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
    })?;
    if recovery.pending > 0 {
        tracing::warn!(
            pending = recovery.pending,
            "ingest spool holds messages from a database outage; replaying"
        );
    }
    let receive_max: u16 = 2000;
    let mut options = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    options
        .set_transport(transport)
        .set_keep_alive(Duration::from_secs(10))
        .set_clean_start(false)
        .set_session_expiry_interval(Some(3600))
        .set_manual_acks(true)
        .set_receive_maximum(Some(receive_max));
    let (client, eventloop) = AsyncClient::new(options, 4096);
    let handle = IngestHandle {
        client: client.clone(),
        cameras: Arc::new(RwLock::new(cameras)),
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
    let mqtt = tokio::spawn(mqtt_loop(
        eventloop,
        client.clone(),
        cfg.share_group.clone(),
        tx,
        handle.clone(),
        metrics.clone(),
        stop.clone(),
    ));
    let writer = Writer {
        cfg,
        pool,
        client,
        handle: handle.clone(),
        spool: Arc::new(Mutex::new(spool)),
        metrics,
        last_refresh: Instant::now(),
    };
    let task = tokio::spawn(async move {
        writer.run(rx, stop).await;
        let _ = mqtt.await;
    });
    Ok((handle, task))
}

async fn mqtt_loop(
    mut eventloop: rumqttc::v5::EventLoop,
    client: AsyncClient,
    group: String,
    tx: mpsc::UnboundedSender<Publish>,
    handle: IngestHandle,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let connected = &handle.broker_connected;
    let mut failures = 0u32;
    loop {
        let ev = tokio::select! {
            ev = eventloop.poll() => ev,
            _ = stop.changed() => break,
        };
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                failures = 0;
                connected.store(true, Ordering::Relaxed);
                metrics.broker_connected.set(1);
                tracing::info!("ingest connected to the broker");
                for channel in [CameraChannel::Event, CameraChannel::Status] {
                    let filter = format!("$share/{group}/{}", topic::all_cameras(channel));
                    if let Err(e) = client.try_subscribe(filter, QoS::AtLeastOnce) {
                        tracing::error!(error = %e, "cannot queue the ingest subscription");
                    }
                }
                handle.connected.notify_one();
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if tx.send(p).is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if connected.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "ingest lost the broker");
                } else if failures == 0 {
                    tracing::warn!(error = %e, "ingest cannot reach the broker");
                }
                metrics.broker_connected.set(0);
                failures += 1;
                let delay = Duration::from_millis(250)
                    .mul_f64(1.5f64.powi(failures.min(10) as i32))
                    .min(Duration::from_secs(15));
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
    let _ = client.try_disconnect();
}

struct Writer {
    cfg: IngestConfig,
    pool: deadpool_postgres::Pool,
    client: AsyncClient,
    handle: IngestHandle,
    spool: Arc<Mutex<Spool>>,
    metrics: Arc<Metrics>,
    last_refresh: Instant,
}

impl Writer {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Publish>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut pending: Vec<Publish> = Vec::new();
        let mut replay_tick = tokio::time::interval(Duration::from_millis(500));
        let mut refresh_tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            // Collect a batch: up to batch_size, or batch_wait after the
            // first message.
            let deadline = tokio::time::sleep(self.cfg.batch_wait);
            tokio::pin!(deadline);
            let mut deadline_armed = !pending.is_empty();
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(p) => {
                            if !deadline_armed {
                                deadline.as_mut().reset(tokio::time::Instant::now() + self.cfg.batch_wait);
                                deadline_armed = true;
                            }
                            pending.push(p);
                            if pending.len() >= self.cfg.batch_size { break; }
                        }
                        None => return,
                    },
                    _ = &mut deadline, if deadline_armed => break,
                    _ = replay_tick.tick() => { self.replay().await; }
                    _ = refresh_tick.tick() => { self.refresh_cameras().await; }
                    _ = stop.changed() => return,
                }
            }
            if pending.is_empty() {
                continue;
            }
            if self.commit_or_spool(&pending).await {
                for p in pending.drain(..) {
                    if let Err(e) = self.client.ack(&p).await {
                        tracing::warn!(error = %e, "ack not queued; the broker will redeliver");
                    }
                }
            } else {
                // Neither the database nor the spool took it: keep the
                // messages unacknowledged and try again shortly.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    async fn refresh_cameras(&mut self) {
        match load_cameras(&self.pool).await {
            Ok(c) => {
                if let Ok(mut g) = self.handle.cameras.write() {
                    *g = c;
                }
                self.last_refresh = Instant::now();
            }
            Err(e) => tracing::debug!(error = %e, "camera registry not refreshed"),
        }
    }

    /// Validates messages into a batch (refreshing the camera registry once
    /// if a camera is unknown: it may have just been added).
    async fn build(&mut self, msgs: &[(String, Vec<u8>)]) -> Batch {
        let unknown = {
            let cams = self
                .handle
                .cameras
                .read()
                .map(|g| g.clone())
                .unwrap_or_default();
            msgs.iter().any(|(t, _)| match Topic::parse(t) {
                Ok(Topic::Camera { camera, .. }) => !cams.contains_key(&camera),
                _ => false,
            })
        };
        if unknown && self.last_refresh.elapsed() > Duration::from_secs(1) {
            self.refresh_cameras().await;
        }
        let cams = self
            .handle
            .cameras
            .read()
            .map(|g| g.clone())
            .unwrap_or_default();
        let mut batch = Batch::default();
        for (topic, payload) in msgs {
            match validate(topic, payload, self.cfg.max_payload_bytes, &cams) {
                Ok(Accepted::Event(e)) => {
                    let raw = serde_json::from_slice(payload).unwrap_or_default();
                    batch.events.push((*e, raw));
                }
                Ok(Accepted::Status(s)) => batch.statuses.push(*s),
                Err(reason) => {
                    tracing::debug!(topic, reason, "dead letter");
                    batch.dead.push(DeadLetter {
                        topic: topic.clone(),
                        reason,
                        payload: payload.clone(),
                    })
                }
            }
        }
        batch
    }

    async fn commit(&mut self, msgs: &[(String, Vec<u8>)]) -> Result<(), CommitError> {
        let batch = self.build(msgs).await;
        self.commit_batch(&batch).await
    }

    async fn commit_batch(&mut self, batch: &Batch) -> Result<(), CommitError> {
        let started = Instant::now();
        let mut client = self
            .pool
            .get()
            .await
            .map_err(|e| CommitError::Unavailable(e.to_string()))?;
        let tx = client.transaction().await.map_err(CommitError::from)?;
        let written = write::write(&tx, batch).await.map_err(CommitError::from)?;
        // Live events go out through PostgreSQL NOTIFY, which is delivered
        // on commit and to every central instance, so a dashboard on any
        // instance sees what any instance committed, exactly once.
        let mut live = live_events(batch, &written.new_ids);
        live.extend(
            crate::recognize::process(&tx, &batch.events, &written.new_ids, &self.cfg.recognize)
                .await
                .map_err(CommitError::from)?,
        );
        for chunk in crate::live::chunks(&live) {
            tx.execute("SELECT pg_notify($1, $2)", &[&crate::live::CHANNEL, &chunk])
                .await
                .map_err(CommitError::from)?;
        }
        tx.commit().await.map_err(CommitError::from)?;
        let m = &self.metrics;
        m.commit_seconds.observe(started.elapsed().as_secs_f64());
        m.batch_size.observe(batch.len() as f64);
        m.events_stored.inc_by(written.new_events);
        m.events_duplicate
            .inc_by(batch.events.len() as u64 - written.new_events.min(batch.events.len() as u64));
        m.dead_letters.inc_by(written.dead_letters);
        let now = chrono::Utc::now();
        if let Some(lag) = batch
            .events
            .iter()
            .map(|(e, _)| (now - e.ts).num_milliseconds())
            .max()
        {
            m.lag_seconds.set(lag as f64 / 1000.0);
        }
        Ok(())
    }

    /// The database refused a batch (not an outage): commit message by
    /// message, dead-lettering each one it refuses, so one bad row cannot
    /// stop ingest.
    async fn commit_one_by_one(&mut self, msgs: &[(String, Vec<u8>)]) -> Result<(), CommitError> {
        for m in msgs {
            let batch = self.build(std::slice::from_ref(m)).await;
            match self.commit_batch(&batch).await {
                Ok(()) => {}
                Err(CommitError::Refused(reason)) => {
                    let dead = Batch {
                        dead: vec![DeadLetter {
                            topic: m.0.clone(),
                            reason: format!("database refused the message: {reason}"),
                            payload: m.1.clone(),
                        }],
                        ..Batch::default()
                    };
                    self.commit_batch(&dead).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Commits, or spools if the database is unreachable. True when the
    /// messages are durable (and may be acknowledged).
    async fn commit_or_spool(&mut self, pending: &[Publish]) -> bool {
        let msgs: Vec<(String, Vec<u8>)> = pending
            .iter()
            .map(|p| {
                (
                    String::from_utf8_lossy(&p.topic).into_owned(),
                    p.payload.to_vec(),
                )
            })
            .collect();
        self.metrics.messages.inc_by(msgs.len() as u64);
        let spooled_before = self.spool.lock().map(|s| s.pending()).unwrap_or(0);
        if spooled_before == 0 {
            let mut result = self.commit(&msgs).await;
            if let Err(CommitError::Refused(reason)) = &result {
                tracing::error!(
                    reason,
                    "database refused a batch; committing message by message"
                );
                result = self.commit_one_by_one(&msgs).await;
            }
            match result {
                Ok(()) => {
                    self.set_database_up(true);
                    return true;
                }
                Err(e) => {
                    self.set_database_up(false);
                    tracing::warn!(error = %e, messages = msgs.len(), "database write failed; spooling");
                }
            }
        }
        // Spool (also while older messages are still spooled, to keep
        // their order).
        let Ok(mut spool) = self.spool.lock() else {
            return false;
        };
        // The spool would drop its oldest records to make room (the edge's
        // policy); central must not, so it refuses instead and leaves the
        // messages unacknowledged with the broker.
        let needed: u64 = msgs
            .iter()
            .map(|(t, p)| (t.len() + p.len() + 64) as u64)
            .sum();
        if spool.bytes() + needed > self.cfg.spool_max_bytes {
            tracing::error!(
                spooled = spool.pending(),
                "ingest spool full while the database is down; leaving messages with the broker"
            );
            return false;
        }
        for (topic, payload) in &msgs {
            if let Err(e) = spool.append(&encode_record(topic, payload)) {
                tracing::error!(error = %e, "ingest spool write failed");
                return false;
            }
        }
        if let Err(e) = spool.sync() {
            tracing::error!(error = %e, "ingest spool sync failed");
            return false;
        }
        self.metrics.spool_depth.set(spool.pending() as i64);
        true
    }

    fn set_database_up(&self, up: bool) {
        if self.handle.database_up.swap(up, Ordering::Relaxed) != up {
            if up {
                tracing::info!("database reachable again");
            } else {
                tracing::error!("database unreachable");
            }
        }
        self.metrics.database_up.set(i64::from(up));
    }

    /// Commits spooled messages, oldest first, while the database takes
    /// them.
    async fn replay(&mut self) {
        loop {
            let records = match self.spool.lock() {
                Ok(s) if s.pending() > 0 => {
                    s.read_after(0, self.cfg.batch_size).unwrap_or_default()
                }
                _ => return,
            };
            let msgs: Vec<(String, Vec<u8>)> = records
                .iter()
                .filter_map(|(_, r)| decode_record(r))
                .collect();
            let mut result = self.commit(&msgs).await;
            if let Err(CommitError::Refused(_)) = &result {
                result = self.commit_one_by_one(&msgs).await;
            }
            match result {
                Ok(()) => {
                    self.set_database_up(true);
                    if let Ok(mut s) = self.spool.lock() {
                        for (seq, _) in &records {
                            let _ = s.ack(*seq);
                        }
                        let _ = s.sync();
                        self.metrics.spool_depth.set(s.pending() as i64);
                        tracing::info!(
                            replayed = records.len(),
                            left = s.pending(),
                            "replayed spooled messages"
                        );
                    }
                }
                Err(e) => {
                    self.set_database_up(false);
                    tracing::debug!(error = %e, "database still unreachable");
                    return;
                }
            }
        }
    }
}

/// What WebSocket clients get from a batch: newly stored events of the
/// live kinds (a redelivered event is not announced twice) and statuses.
fn live_events(batch: &Batch, new_ids: &std::collections::HashSet<uuid::Uuid>) -> Vec<LiveEvent> {
    let mut out = Vec::new();
    for (e, raw) in &batch.events {
        let live = matches!(
            e.body,
            EventBody::LineCrossed { .. }
                | EventBody::Occupancy { .. }
                | EventBody::ZoneViolation { .. }
                | EventBody::CameraStatus { .. }
                | EventBody::PersonDetected { .. }
        );
        if live && new_ids.contains(&e.id) {
            out.push(LiveEvent::from_event(e, raw));
        }
    }
    out.extend(batch.statuses.iter().map(LiveEvent::from_status));
    out
}

/// Why a commit failed.
#[derive(Debug, thiserror::Error)]
enum CommitError {
    /// The database cannot be reached: spool and retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database answered with an error for this data.
    #[error("database refused: {0}")]
    Refused(String),
}

impl From<tokio_postgres::Error> for CommitError {
    fn from(e: tokio_postgres::Error) -> Self {
        // Errors with an SQLSTATE came from the server about this
        // statement, except those that mean the server is going away.
        match e.code() {
            Some(code)
                if !code.code().starts_with("08")
                    && !code.code().starts_with("57")
                    && !code.code().starts_with("53") =>
            {
                // "db error" alone would tell the operator nothing.
                Self::Refused(match e.as_db_error() {
                    Some(d) => format!("{} ({})", d.message(), d.code().code()),
                    None => e.to_string(),
                })
            }
            _ => Self::Unavailable(e.to_string()),
        }
    }
}

/// Camera state as live events carry it.
pub fn state_name(s: CameraState) -> &'static str {
    match s {
        CameraState::Online => "online",
        CameraState::Degraded => "degraded",
        CameraState::Offline => "offline",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_records_round_trip() {
        let r = encode_record("atrium/v1/hq/cam/a/event", b"{\"x\":1}");
        assert_eq!(
            decode_record(&r),
            Some(("atrium/v1/hq/cam/a/event".into(), b"{\"x\":1}".to_vec()))
        );
        assert_eq!(decode_record(&[5, 0, b'a']), None);
    }
}
