//! Publishing spooled events to the broker: MQTT 5 over mutual TLS, QoS 1.
//!
//! rumqttc keeps unacknowledged publishes only in memory and, with a clean
//! session, discards them on reconnect; durability is therefore ours. The
//! rules (what removes an event from the spool, what is sent again, when)
//! live in [`state`], a state machine with no I/O; this module is the
//! driver: it feeds rumqttc's events to the state, reads the spool, and
//! carries out what the state says.
//!
//! The same connection carries the retained status (heartbeat, and the
//! last will `offline`), the subscription to this camera's config and
//! request topics, and camera pictures ([`crate::media`]: the retained
//! snapshot at QoS 1, live frames at QoS 0, never spooled).
//! Every Atrium client accepts packets up to
//! [`atrium_proto::limits::CLIENT_MAX_PACKET`], above what the broker
//! forwards, so an oversized retained configuration is refused here with a
//! clear error instead of breaking the connection for ever.

mod config_topic;
pub mod state;
mod stop;

use stop::offline_status;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atrium_proto::topic::{self, CameraChannel};
use atrium_proto::{CameraConfig, CameraId, CameraState, SiteId, Status};
use atrium_worker::{Attempt, Backoff, Worker, supervise};
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{LastWill, Packet, PubAck, PubAckReason};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::sync::{Notify, watch};

use crate::media::MediaRx;
use crate::metrics::Kind;
use crate::state::Shared;
use atrium_spool::{Spool, SpoolError};
use state::{Acked, PublishState, Settings};

/// Broker connection settings.
#[derive(Clone)]
pub struct PublisherConfig {
    pub site: SiteId,
    pub camera: CameraId,
    pub host: String,
    pub port: u16,
    /// The TLS transport, built (and its files checked) before starting.
    pub transport: rumqttc::Transport,
    pub keep_alive: Duration,
    pub heartbeat: Duration,
    pub inflight: usize,
    /// How long an accepted event stays spooled while its connection stays
    /// up (see [`state`]).
    pub linger: Duration,
}

impl std::fmt::Debug for PublisherConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublisherConfig")
            .field("camera", &self.camera)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Builds the status for the heartbeat.
pub type StatusSource = Arc<dyn Fn(CameraState, Option<String>) -> Status + Send + Sync>;

/// Delay before refused events are sent again: first and longest.
const REFUSED_INITIAL: Duration = Duration::from_secs(1);
const REFUSED_MAX: Duration = Duration::from_secs(30);

/// The MQTT options every edge connection uses.
pub fn mqtt_options(cfg: &PublisherConfig, status: &StatusSource) -> MqttOptions {
    let status_topic = topic::camera(&cfg.site, &cfg.camera, CameraChannel::Status);
    let mut options = MqttOptions::new(cfg.camera.as_str(), cfg.host.clone(), cfg.port);
    options
        .set_transport(cfg.transport.clone())
        .set_keep_alive(cfg.keep_alive)
        .set_clean_start(true)
        .set_max_packet_size(Some(atrium_proto::limits::CLIENT_MAX_PACKET))
        .set_outgoing_inflight_upper_limit(u16::try_from(cfg.inflight + 8).unwrap_or(u16::MAX))
        .set_last_will(LastWill::new(
            status_topic,
            offline_status(status, "connection lost"),
            QoS::AtLeastOnce,
            true,
            None,
        ));
    options
}

/// Everything the driver touches besides rumqttc.
struct Driver {
    client: AsyncClient,
    state: PublishState,
    spool: Arc<Mutex<Spool>>,
    shared: Arc<Shared>,
    status: StatusSource,
    event_topic: String,
    status_topic: String,
    config_topic: String,
    request_topic: String,
    snapshot_topic: String,
    live_topic: String,
    config_version: Option<u64>,
    config_tx: std::sync::mpsc::Sender<CameraConfig>,
    status_changed: Arc<Notify>,
    /// A refusal is reported in `/health` and the heartbeat (it outlives a
    /// reconnect, which ends the state machine's episode).
    problem_reported: bool,
}

/// Runs until `stop`; then publishes a final `offline` status.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    cfg: PublisherConfig,
    spool: Arc<Mutex<Spool>>,
    spooled: Arc<Notify>,
    status_changed: Arc<Notify>,
    shared: Arc<Shared>,
    status: StatusSource,
    config_tx: std::sync::mpsc::Sender<CameraConfig>,
    media: MediaRx,
    stop: watch::Receiver<bool>,
) {
    let (client, eventloop) = AsyncClient::new(mqtt_options(&cfg, &status), cfg.inflight + 64);
    let d = Driver {
        client,
        state: PublishState::new(Settings {
            window: cfg.inflight,
            linger: cfg.linger,
            refused_initial: REFUSED_INITIAL,
            refused_max: REFUSED_MAX,
        }),
        spool,
        shared,
        status,
        event_topic: topic::camera(&cfg.site, &cfg.camera, CameraChannel::Event),
        status_topic: topic::camera(&cfg.site, &cfg.camera, CameraChannel::Status),
        config_topic: topic::camera(&cfg.site, &cfg.camera, CameraChannel::Config),
        request_topic: topic::camera(&cfg.site, &cfg.camera, CameraChannel::Request),
        snapshot_topic: topic::camera(&cfg.site, &cfg.camera, CameraChannel::Snapshot),
        live_topic: topic::camera(&cfg.site, &cfg.camera, CameraChannel::Live),
        config_version: None,
        config_tx,
        status_changed: status_changed.clone(),
        problem_reported: false,
    };
    let mut heartbeat = tokio::time::interval(cfg.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn = Connection {
        d,
        eventloop,
        spooled,
        status_changed,
        heartbeat,
        media,
    };
    let backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let name = format!("broker connection to {}:{}", cfg.host, cfg.port);
    supervise(&name, &mut conn, backoff, stop).await;
    let Connection {
        mut d,
        mut eventloop,
        ..
    } = conn;
    if d.state.connected() {
        d.deliver_before_stopping(&mut eventloop).await;
    }
    if let Ok(mut s) = d.spool.lock()
        && let Err(e) = s.sync()
    {
        tracing::error!(error = %e, "spool sync at stop failed");
    }
}

/// One attempt is one broker connection: rumqttc connects on the first
/// poll and again on the first poll after an error.
struct Connection {
    d: Driver,
    eventloop: EventLoop,
    spooled: Arc<Notify>,
    status_changed: Arc<Notify>,
    heartbeat: tokio::time::Interval,
    media: MediaRx,
}

impl Worker for Connection {
    type Error = rumqttc::v5::ConnectionError;

    async fn run_once(&mut self, attempt: &mut Attempt) -> Result<(), Self::Error> {
        let far = Duration::from_secs(3600);
        let d = &mut self.d;
        loop {
            let deadline = d.state.next_deadline();
            let wake = tokio::time::Instant::from_std(
                deadline.unwrap_or_else(|| d.shared.clock.instant() + far),
            );
            tokio::select! {
                ev = self.eventloop.poll() => match ev {
                    Ok(ev) => {
                        d.on_event(ev);
                        if d.state.connected() {
                            attempt.progressed();
                        }
                    }
                    Err(e) => {
                        if d.state.connected() {
                            d.shared.metrics.reconnects.get_or_create(&Kind::of("broker")).inc();
                        }
                        d.state.on_disconnected();
                        d.set_connected(false);
                        return Err(e);
                    }
                },
                _ = tokio::time::sleep_until(wake), if deadline.is_some() => d.on_due(),
                _ = self.spooled.notified(), if d.state.connected() => d.fill(),
                _ = self.heartbeat.tick(), if d.state.connected() => d.publish_status(),
                _ = self.status_changed.notified(), if d.state.connected() => d.publish_status(),
                Some(picture) = self.media.recv(), if d.state.connected() => d.publish_picture(picture),
                _ = attempt.stopped() => return Ok(()),
            }
        }
    }
}

impl Driver {
    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Incoming(Packet::ConnAck(_)) => {
                self.state.on_connected();
                self.set_connected(true);
                tracing::info!("connected to the broker");
                for (topic, qos) in [
                    (&self.config_topic, QoS::AtLeastOnce),
                    (&self.request_topic, QoS::AtMostOnce),
                ] {
                    if self.client.try_subscribe(topic.clone(), qos).is_err() {
                        tracing::warn!(topic, "could not queue a subscription");
                    }
                }
                self.publish_status();
                self.fill();
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => self.state.on_outgoing_publish(pkid),
            Event::Incoming(Packet::PubAck(ack)) => {
                self.on_puback(&ack);
                self.fill();
            }
            Event::Incoming(Packet::Publish(p))
                if p.topic.as_ref() == self.config_topic.as_bytes() =>
            {
                self.on_config(&p.payload);
            }
            Event::Incoming(Packet::Publish(p))
                if p.topic.as_ref() == self.request_topic.as_bytes() =>
            {
                crate::media::on_request(&self.shared, &p.payload);
            }
            _ => {}
        }
    }

    /// Publishes what the broker has accepted so far: the lingering count,
    /// and a wake-up for a shutdown waiting for delivery.
    fn report_progress(&self) {
        self.shared
            .lingering
            .store(self.state.lingering(), Ordering::Relaxed);
        self.shared.delivered.notify_waiters();
    }

    fn set_connected(&self, up: bool) {
        self.shared.broker_connected.store(up, Ordering::Relaxed);
        self.shared.metrics.broker_connected.set(i64::from(up));
        self.report_progress();
    }

    fn on_puback(&mut self, ack: &PubAck) {
        let was_refusing = self.state.refusing().is_some();
        match self
            .state
            .on_puback(ack.pkid, ack.reason, self.shared.clock.instant())
        {
            Acked::Other => {
                if !state::accepted(&ack.reason)
                    && ack.reason != PubAckReason::NoMatchingSubscribers
                {
                    tracing::warn!(reason = ?ack.reason, topic = %self.status_topic, "broker refused a status publish");
                }
            }
            Acked::Accepted { seq, remove } => {
                if self.problem_reported {
                    tracing::info!(
                        seq,
                        "broker accepts events again; sending what waited in the spool"
                    );
                    self.problem_reported = false;
                    self.shared.set_publish_problem(None);
                    self.status_changed.notify_one();
                }
                if remove {
                    self.remove(&[seq]);
                }
            }
            Acked::Refused {
                seq,
                reason,
                retry_in,
            } => {
                let m = &self.shared.metrics;
                m.publish_refused.inc();
                let detail = ack
                    .properties
                    .as_ref()
                    .and_then(|p| p.reason_string.clone())
                    .unwrap_or_default();
                if !was_refusing {
                    let problem = refusal_problem(&reason);
                    tracing::error!(
                        seq,
                        ?reason,
                        detail,
                        topic = %self.event_topic,
                        retry_in_s = retry_in.as_secs_f64(),
                        "{problem}; the event stays in the spool and is sent again"
                    );
                    self.problem_reported = true;
                    self.shared.set_publish_problem(Some(problem));
                    self.status_changed.notify_one();
                } else {
                    tracing::debug!(seq, ?reason, "broker refused an event");
                }
            }
        }
        self.report_progress();
    }

    fn on_due(&mut self) {
        let due = self.state.due(self.shared.clock.instant());
        self.remove(&due.remove);
        if !due.resend.is_empty() {
            tracing::info!(events = due.resend.len(), "sending refused events again");
            for seq in due.resend {
                let record = self.spool.lock().ok().map(|s| s.read(seq));
                match record {
                    Some(Ok(Some(payload))) => {
                        if !self.publish_event(seq, payload) {
                            // The request queue is full: try again soon.
                            self.state.resend_later(seq, self.shared.clock.instant());
                        }
                    }
                    Some(Ok(None)) => self.state.forget(seq),
                    Some(Err(e)) => {
                        self.drop_corrupt(seq, &e);
                        self.state.forget(seq);
                    }
                    None => self.state.forget(seq),
                }
            }
        }
        self.report_progress();
        self.fill();
    }

    /// Removes acknowledged events from the spool.
    fn remove(&self, seqs: &[u64]) {
        if seqs.is_empty() {
            return;
        }
        let Ok(mut s) = self.spool.lock() else { return };
        for &seq in seqs {
            if let Err(e) = s.ack(seq) {
                tracing::error!(error = %e, seq, "spool acknowledgement failed");
            }
        }
        let m = &self.shared.metrics;
        m.spool_depth.set(s.pending() as i64);
        m.spool_bytes.set(s.bytes() as i64);
    }

    /// A record that failed its checksum: it cannot be sent (its bytes are
    /// not what was written), so it is removed and counted.
    fn drop_corrupt(&self, seq: u64, e: &SpoolError) {
        tracing::error!(error = %e, seq, "spool record is corrupt; it is dropped and counted");
        self.shared.metrics.spool_corrupt.inc();
        if let Ok(mut s) = self.spool.lock()
            && let Err(e) = s.ack(seq)
        {
            tracing::error!(error = %e, seq, "corrupt spool record not removed; it is met again");
        }
    }

    fn publish_event(&mut self, seq: u64, payload: Vec<u8>) -> bool {
        if self
            .client
            .try_publish(self.event_topic.clone(), QoS::AtLeastOnce, false, payload)
            .is_err()
        {
            return false;
        }
        self.state.requested_event(seq);
        true
    }

    /// Hands spooled events to rumqttc while the state allows.
    fn fill(&mut self) {
        while let Some((after, max)) = self.state.next_batch() {
            let batch = {
                let Ok(s) = self.spool.lock() else { return };
                s.read_after(after, max)
            };
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "reading the spool failed");
                    return;
                }
            };
            if batch.is_empty() {
                return;
            }
            for record in batch {
                match record.payload {
                    Ok(payload) => {
                        if !self.publish_event(record.seq, payload) {
                            // The request queue is full; the next PUBACK
                            // refills.
                            return;
                        }
                    }
                    Err(e) => self.drop_corrupt(record.seq, &e),
                }
            }
        }
    }

    /// A snapshot (retained, QoS 1, so a central that connects later
    /// still finds it) or a live frame (QoS 0: a lost one is replaced half
    /// a second later).
    fn publish_picture(&mut self, picture: crate::media::Outgoing) {
        let (topic, qos, retain) = match picture.channel {
            CameraChannel::Snapshot => (&self.snapshot_topic, QoS::AtLeastOnce, true),
            _ => (&self.live_topic, QoS::AtMostOnce, false),
        };
        if self
            .client
            .try_publish(topic.clone(), qos, retain, picture.payload)
            .is_ok()
        {
            self.state.requested_other();
        } else {
            self.shared
                .metrics
                .media_dropped
                .get_or_create(&Kind::of("queue_full"))
                .inc();
        }
    }

    fn publish_status(&mut self) {
        let (state, reason) = self.shared.reported_camera();
        let Ok(payload) = serde_json::to_vec(&(self.status)(state, reason)) else {
            return;
        };
        if self
            .client
            .try_publish(self.status_topic.clone(), QoS::AtLeastOnce, true, payload)
            .is_ok()
        {
            self.state.requested_other();
        }
    }
}

/// What the operator is told when the broker refuses events.
fn refusal_problem(reason: &PubAckReason) -> String {
    match reason {
        PubAckReason::NotAuthorized => "broker refuses this camera's events: not authorised (the certificate's common name must be the camera id)".into(),
        PubAckReason::NoMatchingSubscribers => "broker has no subscriber for this camera's events (has central ever connected to this broker?)".into(),
        other => format!("broker refuses this camera's events: {other:?}"),
    }
}
