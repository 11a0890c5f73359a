//! Publishing spooled events to the broker: MQTT 5 over mutual TLS, QoS 1.
//!
//! rumqttc keeps unacknowledged publishes only in memory and, with a clean
//! session, discards them on reconnect; durability is therefore ours. The
//! publisher reads events from the spool in sequence order, keeps a window
//! of them in flight, and acknowledges each in the spool only on the
//! broker's PUBACK. After any disconnect it forgets what was in flight and
//! starts again from the oldest unacknowledged event: events are delivered
//! at least once, in order of first delivery; central deduplicates by id.
//!
//! rumqttc does not say which PUBACK belongs to which publish call, but it
//! reports each publish as it writes it (`Outgoing::Publish(pkid)`), in the
//! order the calls were made. The publisher is the only task that publishes
//! and it publishes only while connected, so a FIFO of what it asked for,
//! matched against those reports, maps packet ids to sequence numbers.
//!
//! The same connection carries the retained status (heartbeat, and the
//! last will `offline`) and the subscription to this camera's config topic.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atrium_proto::topic::{self, CameraChannel};
use atrium_proto::{CameraConfig, CameraId, CameraState, SiteId, Status};
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{LastWill, Packet, PubAckReason};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::{Notify, watch};

use crate::metrics::Kind;
use crate::state::Shared;
use atrium_spool::Spool;

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

/// What the publisher asked rumqttc to send, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Event(u64),
    Other,
}

/// Builds the status for the heartbeat.
pub type StatusSource = Arc<dyn Fn(CameraState, Option<String>) -> Status + Send + Sync>;

fn offline_status(status: &StatusSource, reason: &str) -> Vec<u8> {
    serde_json::to_vec(&status(CameraState::Offline, Some(reason.into()))).unwrap_or_default()
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
    mut stop: watch::Receiver<bool>,
) {
    let status_topic = topic::camera(&cfg.site, &cfg.camera, CameraChannel::Status);
    let event_topic = topic::camera(&cfg.site, &cfg.camera, CameraChannel::Event);
    let config_topic = topic::camera(&cfg.site, &cfg.camera, CameraChannel::Config);
    let mut options = MqttOptions::new(cfg.camera.as_str(), cfg.host.clone(), cfg.port);
    options
        .set_transport(cfg.transport.clone())
        .set_keep_alive(cfg.keep_alive)
        .set_clean_start(true)
        .set_outgoing_inflight_upper_limit(u16::try_from(cfg.inflight + 8).unwrap_or(u16::MAX))
        .set_last_will(LastWill::new(
            status_topic.clone(),
            offline_status(&status, "connection lost"),
            QoS::AtLeastOnce,
            true,
            None,
        ));
    let (client, mut eventloop) = AsyncClient::new(options, cfg.inflight + 64);
    let mut connected = false;
    let mut sent: VecDeque<Sent> = VecDeque::new();
    let mut by_pkid: HashMap<u16, u64> = HashMap::new();
    let mut in_flight = 0usize;
    // Highest sequence number handed to rumqttc in this connection.
    let mut sent_through = 0u64;
    let mut failures = 0u32;
    let mut heartbeat = tokio::time::interval(cfg.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let m = &shared.metrics;
    let mut current_config_version: Option<u64> = None;

    loop {
        tokio::select! {
            ev = eventloop.poll() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connected = true;
                    failures = 0;
                    shared.broker_connected.store(true, std::sync::atomic::Ordering::Relaxed);
                    m.broker_connected.set(1);
                    tracing::info!(host = %cfg.host, port = cfg.port, "connected to the broker");
                    sent.clear();
                    by_pkid.clear();
                    in_flight = 0;
                    sent_through = 0;
                    if client.try_subscribe(config_topic.clone(), QoS::AtLeastOnce).is_err() {
                        tracing::warn!("could not queue the config subscription");
                    }
                    let (state, reason) = shared.camera();
                    publish_status(&client, &status_topic, &status, state, reason, &mut sent);
                    fill(&client, &event_topic, &spool, &mut sent, &mut in_flight, &mut sent_through, cfg.inflight);
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    if let Some(Sent::Event(seq)) = sent.pop_front() {
                        by_pkid.insert(pkid, seq);
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    if let Some(seq) = by_pkid.remove(&ack.pkid) {
                        in_flight = in_flight.saturating_sub(1);
                        if ack.reason == PubAckReason::NotAuthorized {
                            // Retrying cannot help: the broker's ACL forbids
                            // this topic for this certificate.
                            m.publish_rejected.inc();
                            tracing::error!(seq, topic = %event_topic, "broker refused the publish: not authorised");
                        }
                        if let Ok(mut s) = spool.lock() {
                            if let Err(e) = s.ack(seq) {
                                tracing::error!(error = %e, "spool acknowledgement failed");
                            }
                            m.spool_depth.set(s.pending() as i64);
                            m.spool_bytes.set(s.bytes() as i64);
                        }
                        fill(&client, &event_topic, &spool, &mut sent, &mut in_flight, &mut sent_through, cfg.inflight);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if p.topic.as_ref() == config_topic.as_bytes() {
                        handle_config(&p.payload, &mut current_config_version, &config_tx);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    if connected {
                        tracing::warn!(error = %e, "broker connection lost");
                        m.reconnects.get_or_create(&Kind::of("broker")).inc();
                    } else if failures == 0 {
                        tracing::warn!(error = %e, "cannot connect to the broker");
                    } else {
                        tracing::debug!(error = %e, "cannot connect to the broker");
                    }
                    connected = false;
                    shared.broker_connected.store(false, std::sync::atomic::Ordering::Relaxed);
                    m.broker_connected.set(0);
                    sent.clear();
                    by_pkid.clear();
                    in_flight = 0;
                    failures += 1;
                    let delay = Duration::from_millis(500).mul_f64(1.5f64.powi(failures.min(10) as i32 - 1)).min(Duration::from_secs(30));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => break,
                    }
                }
            },
            _ = spooled.notified(), if connected => {
                fill(&client, &event_topic, &spool, &mut sent, &mut in_flight, &mut sent_through, cfg.inflight);
            }
            _ = heartbeat.tick() => {
                if connected {
                    let (state, reason) = shared.camera();
                    publish_status(&client, &status_topic, &status, state, reason, &mut sent);
                }
            }
            _ = status_changed.notified(), if connected => {
                let (state, reason) = shared.camera();
                publish_status(&client, &status_topic, &status, state, reason, &mut sent);
            }
            _ = stop.changed() => break,
        }
    }
    if connected {
        // A clean stop: deliver what is still spooled (for a few seconds at
        // most; the rest waits in the spool for the next start), then say
        // so and wait briefly for the broker to take it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        tracing::info!(
            pending = spool.lock().map(|s| s.pending()).unwrap_or(0),
            "delivering spooled events before stopping"
        );
        fill(
            &client,
            &event_topic,
            &spool,
            &mut sent,
            &mut in_flight,
            &mut sent_through,
            cfg.inflight,
        );
        while spool.lock().map(|s| s.pending() > 0).unwrap_or(false) {
            match tokio::time::timeout_at(deadline, eventloop.poll()).await {
                Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                    if let Some(Sent::Event(seq)) = sent.pop_front() {
                        by_pkid.insert(pkid, seq);
                    }
                }
                Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => {
                    if let Some(seq) = by_pkid.remove(&ack.pkid) {
                        in_flight = in_flight.saturating_sub(1);
                        if let Ok(mut s) = spool.lock() {
                            let _ = s.ack(seq);
                        }
                        fill(
                            &client,
                            &event_topic,
                            &spool,
                            &mut sent,
                            &mut in_flight,
                            &mut sent_through,
                            cfg.inflight,
                        );
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "broker connection lost while stopping");
                    break;
                }
                Err(_) => {
                    tracing::warn!(
                        "stopping with events still spooled; they are sent at the next start"
                    );
                    break;
                }
            }
        }
        sent.clear();
        let payload = offline_status(&status, "agent stopped");
        if client
            .try_publish(status_topic, QoS::AtLeastOnce, true, payload)
            .is_ok()
        {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while let Ok(Ok(ev)) = tokio::time::timeout_at(deadline, eventloop.poll()).await {
                if matches!(ev, Event::Incoming(Packet::PubAck(_))) && sent.is_empty() {
                    break;
                }
                if let Event::Outgoing(Outgoing::Publish(_)) = ev {
                    sent.pop_front();
                }
            }
        }
        let _ = client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
    }
    if let Ok(mut s) = spool.lock() {
        let _ = s.sync();
    }
}

fn publish_status(
    client: &AsyncClient,
    status_topic: &str,
    status: &StatusSource,
    state: CameraState,
    reason: Option<String>,
    sent: &mut VecDeque<Sent>,
) {
    let Ok(payload) = serde_json::to_vec(&status(state, reason)) else {
        return;
    };
    if client
        .try_publish(status_topic.to_owned(), QoS::AtLeastOnce, true, payload)
        .is_ok()
    {
        sent.push_back(Sent::Other);
    }
}

/// Hands spooled events to rumqttc until the window is full.
fn fill(
    client: &AsyncClient,
    event_topic: &str,
    spool: &Mutex<Spool>,
    sent: &mut VecDeque<Sent>,
    in_flight: &mut usize,
    sent_through: &mut u64,
    window: usize,
) {
    if *in_flight >= window {
        return;
    }
    let batch = {
        let Ok(s) = spool.lock() else { return };
        match s.read_after(*sent_through, window - *in_flight) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "reading the spool failed");
                return;
            }
        }
    };
    for (seq, payload) in batch {
        if client
            .try_publish(event_topic.to_owned(), QoS::AtLeastOnce, false, payload)
            .is_err()
        {
            // The request queue is full; the next PUBACK refills.
            return;
        }
        sent.push_back(Sent::Event(seq));
        *in_flight += 1;
        *sent_through = seq;
    }
}

fn handle_config(
    payload: &[u8],
    current: &mut Option<u64>,
    tx: &std::sync::mpsc::Sender<CameraConfig>,
) {
    if payload.is_empty() {
        return; // a cleared retained message
    }
    let config: CameraConfig = match serde_json::from_slice(payload) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "ignoring an unreadable camera configuration");
            return;
        }
    };
    if let Err(e) = config.validate() {
        tracing::error!(error = %e, version = config.version, "ignoring an invalid camera configuration");
        return;
    }
    if current.is_some_and(|v| config.version <= v) {
        return;
    }
    *current = Some(config.version);
    tracing::info!(
        version = config.version,
        lines = config.lines.len(),
        zones = config.zones.len(),
        "camera configuration received"
    );
    let _ = tx.send(config);
}
