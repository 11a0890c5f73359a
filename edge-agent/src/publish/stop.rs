//! A clean stop of the publisher: deliver what is still spooled (a few
//! seconds at most), publish the retained `offline` status, disconnect.

use std::time::Duration;

use atrium_proto::CameraState;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{Event, EventLoop};

use super::{Driver, StatusSource};

/// The retained status a stopping (or vanished) agent leaves.
pub(super) fn offline_status(status: &StatusSource, reason: &str) -> Vec<u8> {
    // A struct of strings and numbers always serialises.
    serde_json::to_vec(&status(CameraState::Offline, Some(reason.into()))).unwrap_or_default()
}

impl Driver {
    /// A clean stop: deliver what is still spooled (for a few seconds at
    /// most; the rest waits in the spool for the next start), then say so
    /// and wait briefly for the broker to take it.
    pub(super) async fn deliver_before_stopping(&mut self, eventloop: &mut EventLoop) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let unsent = |d: &Self| {
            d.spool
                .lock()
                .map(|s| s.pending() as usize > d.state.lingering())
                .unwrap_or(false)
        };
        tracing::info!(
            pending = self.spool.lock().map(|s| s.pending()).unwrap_or(0),
            "delivering spooled events before stopping"
        );
        self.fill();
        while unsent(self) && self.state.refusing().is_none() {
            match tokio::time::timeout_at(deadline, eventloop.poll()).await {
                Ok(Ok(ev)) => self.on_event(ev),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "broker connection lost while stopping");
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        "stopping with events still spooled; they are sent at the next start"
                    );
                    break;
                }
            }
        }
        let payload = offline_status(&self.status, "agent stopped");
        if self
            .client
            .try_publish(self.status_topic.clone(), QoS::AtLeastOnce, true, payload)
            .is_ok()
        {
            self.state.requested_other();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while let Ok(Ok(ev)) = tokio::time::timeout_at(deadline, eventloop.poll()).await {
                if matches!(ev, Event::Incoming(Packet::PubAck(_))) && self.state.in_flight() == 0 {
                    break;
                }
                self.on_event(ev);
            }
        }
        // Stopping: if the clean disconnect does not go out, the broker
        // notices the closed connection (and publishes the last will).
        let _ = self.client.try_disconnect();
        // One last poll sends the DISCONNECT; what it returns changes nothing.
        let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
    }
}
