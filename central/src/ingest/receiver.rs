//! The broker side of ingest: one attempt of the supervised worker is one
//! MQTT connection; every message goes to the writer unacknowledged.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use atrium_proto::topic::{self, CameraChannel, DeviceChannel};
use atrium_worker::{Attempt, Worker};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, Event};
use tokio::sync::mpsc;

use super::IngestHandle;
use crate::internal_events::{BrokerConnection, InternalEvent};
use crate::metrics::Metrics;

/// Receives from the broker: one [`Worker`] attempt is one connection
/// (rumqttc reconnects on the next poll after an error).
pub(super) struct Receiver {
    pub eventloop: rumqttc::v5::EventLoop,
    pub client: AsyncClient,
    pub group: String,
    pub tx: mpsc::UnboundedSender<Publish>,
    pub handle: IngestHandle,
    pub metrics: Arc<Metrics>,
}

impl Worker for Receiver {
    type Error = rumqttc::v5::ConnectionError;

    async fn run_once(&mut self, attempt: &mut Attempt) -> Result<(), Self::Error> {
        let connected = &self.handle.broker_connected;
        let result = loop {
            let ev = tokio::select! {
                ev = self.eventloop.poll() => ev,
                _ = attempt.stopped() => break Ok(()),
            };
            match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    attempt.progressed();
                    connected.store(true, Ordering::Relaxed);
                    BrokerConnection { up: true }.emit(&self.metrics);
                    // Cameras' and devices' messages share the batches and
                    // the rules for being durable.
                    let filters = [CameraChannel::Event, CameraChannel::Status]
                        .map(topic::all_cameras)
                        .into_iter()
                        .chain(DeviceChannel::ALL.map(topic::all_devices));
                    for f in filters {
                        let filter = format!("$share/{}/{f}", self.group);
                        if let Err(e) = self.client.try_subscribe(filter, QoS::AtLeastOnce) {
                            tracing::error!(error = %e, "cannot queue the ingest subscription");
                        }
                    }
                    self.handle.connected.notify_one();
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if self.tx.send(p).is_err() {
                        // The writer is gone: ingest is stopping.
                        break Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        };
        if result.is_err() {
            connected.store(false, Ordering::Relaxed);
            BrokerConnection { up: false }.emit(&self.metrics);
        }
        result
    }
}
