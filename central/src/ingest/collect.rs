//! The first stage of ingest's pipeline: it gathers the broker's messages
//! into batches and validates each batch while the writer is still
//! committing the one before. Validation is CPU work (JSON parsing, the
//! wire contract's checks) and a commit is mostly waiting for the
//! database; done one after the other in one task, one core idled while
//! the other worked (docs/performance.md, "Ingest"). A channel of one
//! batch between the stages keeps at most one validated batch waiting, and
//! the broker's receive maximum (two batches) bounds what is in flight.

use std::sync::Arc;
use std::time::Instant;

use atrium_proto::topic::Topic;
use rumqttc::v5::mqttbytes::v5::Publish;
use tokio::sync::{mpsc, watch};

use super::validate::{Accepted, validate};
use super::write::{Batch, DeadLetter};
use super::{IngestConfig, IngestHandle, load_cameras, load_devices};
use crate::internal_events::{InternalEvent, MessageDeadLettered, MessagesReceived};
use crate::metrics::Metrics;
use atrium_proto::validate_device::validate_device;

/// A message as ingest handles it: topic and payload.
pub(super) type Msg = (String, Vec<u8>);

/// A batch gathered from the broker: the publishes to acknowledge once it
/// is durable, their messages (what a spool or a retry starts from), and
/// the batch validated from them.
pub(super) struct Collected {
    pub(super) pending: Vec<Publish>,
    pub(super) msgs: Vec<Msg>,
    pub(super) batch: Batch,
}

/// An accepted message with what the batch stores of it.
enum Valid {
    Event(Box<atrium_proto::Event>, serde_json::Value),
    Status(Box<atrium_proto::Status>),
}

/// Turns messages into a batch against the camera and device registries,
/// reading them again when a message names a camera or device they do
/// not know and they were last read before that message arrived: one
/// registered just before it sent its first message is found, not
/// dead-lettered. (A stream of messages from unregistered senders costs
/// one registry read per batch.)
pub(super) struct Validator {
    pub(super) cfg: IngestConfig,
    pub(super) pool: deadpool_postgres::Pool,
    pub(super) handle: IngestHandle,
    pub(super) metrics: Arc<Metrics>,
    pub(super) last_refresh: Instant,
}

impl Validator {
    pub(super) async fn refresh_registries(&mut self) {
        match load_cameras(&self.pool).await {
            Ok(c) => {
                if let Ok(mut g) = self.handle.cameras.write() {
                    *g = c;
                }
                self.last_refresh = self.cfg.clock.instant();
            }
            Err(e) => tracing::debug!(error = %e, "camera registry not refreshed"),
        }
        match load_devices(&self.pool).await {
            Ok(d) => {
                if let Ok(mut g) = self.handle.devices.write() {
                    *g = d;
                }
            }
            Err(e) => tracing::debug!(error = %e, "device registry not refreshed"),
        }
    }

    /// Validates messages into a batch; `arrived` is when the first of
    /// them reached central.
    pub(super) async fn build(&mut self, msgs: &[Msg], arrived: Instant) -> Batch {
        // Checked under the read lock, without copying the registry; a
        // poisoned lock counts as "unknown" and refreshes it.
        let unknown = match (self.handle.cameras.read(), self.handle.devices.read()) {
            (Ok(cams), Ok(devs)) => msgs.iter().any(|(t, _)| match Topic::parse(t) {
                Ok(Topic::Camera { camera, .. }) => !cams.contains_key(&camera),
                Ok(Topic::Device { device, .. }) => !devs.contains_key(&device),
                Err(_) => false,
            }),
            _ => true,
        };
        if unknown && self.last_refresh <= arrived {
            self.refresh_registries().await;
        }
        let cams = match self.handle.cameras.read() {
            Ok(g) => g.clone(),
            Err(e) => {
                // Poisoned: no camera is known, so messages are
                // dead-lettered with "unknown camera" rather than lost.
                tracing::error!(error = %e, "camera registry lock poisoned; treating every camera as unknown");
                Default::default()
            }
        };
        let devs = match self.handle.devices.read() {
            Ok(g) => g.clone(),
            Err(e) => {
                tracing::error!(error = %e, "device registry lock poisoned; treating every device as unknown");
                Default::default()
            }
        };
        let mut batch = Batch {
            received_at: self.cfg.clock.now(),
            ..Batch::default()
        };
        for (topic, payload) in msgs {
            if matches!(Topic::parse(topic), Ok(Topic::Device { .. })) {
                match validate_device(topic, payload, self.cfg.max_payload_bytes, &devs) {
                    Ok(m) => batch.devices.push(m),
                    Err(reason) => self.dead_letter(&mut batch, topic, payload, reason),
                }
                continue;
            }
            let checked = validate(topic, payload, self.cfg.max_payload_bytes, &cams).and_then(
                |a| match &a {
                    Accepted::Event(e) => self.cfg.recognize.check(e).map(|()| a),
                    Accepted::Status(_) => Ok(a),
                },
            );
            // The payload as JSON, stored as received (`validate` has just
            // parsed these bytes, so a failure here is a contradiction, and
            // dead-lettered like any refusal rather than stored as null).
            let checked = checked.and_then(|a| match a {
                Accepted::Event(e) => serde_json::from_slice(payload)
                    .map(|raw| Valid::Event(e, raw))
                    .map_err(|e| format!("malformed JSON: {e}")),
                Accepted::Status(s) => Ok(Valid::Status(s)),
            });
            match checked {
                Ok(Valid::Event(e, raw)) => batch.events.push((*e, raw)),
                Ok(Valid::Status(s)) => batch.statuses.push(*s),
                Err(reason) => self.dead_letter(&mut batch, topic, payload, reason),
            }
        }
        batch
    }

    fn dead_letter(&self, batch: &mut Batch, topic: &str, payload: &[u8], reason: String) {
        MessageDeadLettered {
            topic,
            reason: &reason,
            bytes: payload.len(),
        }
        .emit(&self.metrics);
        batch.dead.push(DeadLetter {
            topic: topic.to_owned(),
            reason,
            payload: payload.to_vec(),
        })
    }
}

/// Gathers batches (up to `batch_size` messages, or what came within
/// `batch_wait` of a batch's first message), validates them and hands them
/// to the writer, until `stop`, or until the broker connection or the
/// writer is gone.
pub(super) async fn run(
    mut validator: Validator,
    mut rx: mpsc::UnboundedReceiver<Publish>,
    out: mpsc::Sender<Collected>,
    mut stop: watch::Receiver<bool>,
) {
    let (size, wait) = (validator.cfg.batch_size, validator.cfg.batch_wait);
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            _ = stop.changed() => return,
        };
        let Some(first) = first else { return };
        let arrived = validator.cfg.clock.instant();
        let mut pending = vec![first];
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        let mut closed = false;
        while pending.len() < size {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(p) => pending.push(p),
                    None => { closed = true; break; }
                },
                _ = &mut deadline => break,
                _ = stop.changed() => return,
            }
        }
        let msgs: Vec<Msg> = pending
            .iter()
            .map(|p| {
                (
                    String::from_utf8_lossy(&p.topic).into_owned(),
                    p.payload.to_vec(),
                )
            })
            .collect();
        MessagesReceived { count: msgs.len() }.emit(&validator.metrics);
        let batch = validator.build(&msgs, arrived).await;
        let collected = Collected {
            pending,
            msgs,
            batch,
        };
        if out.send(collected).await.is_err() || closed {
            return;
        }
    }
}
