//! A small MQTT test client: connect, subscribe and publish, awaiting the
//! broker's acknowledgements instead of sleeping.
//!
//! rumqttc splits a connection into a client handle and an event loop that
//! must be polled; this wrapper polls it on a task and forwards what tests
//! care about (received publishes, acknowledgements, the first error) over
//! channels.

use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What the event loop reported.
#[derive(Debug)]
pub enum Ack {
    SubAck(rumqttc::SubAck),
    PubAck(u16),
}

/// A connected test client; its event loop stops on drop.
#[derive(Debug)]
pub struct TestClient {
    pub client: AsyncClient,
    publishes: mpsc::UnboundedReceiver<Publish>,
    acks: mpsc::UnboundedReceiver<Ack>,
    task: JoinHandle<Option<ConnectionError>>,
}

impl TestClient {
    /// Connects and waits for the broker's CONNACK (or the first error).
    pub async fn connect(options: MqttOptions) -> Result<Self, ConnectionError> {
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        // The first poll drives TCP, TLS and CONNECT/CONNACK.
        loop {
            match eventloop.poll().await? {
                Event::Incoming(Packet::ConnAck(_)) => break,
                _ => continue,
            }
        }
        let (pub_tx, publishes) = mpsc::unbounded_channel();
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = pub_tx.send(p);
                    }
                    Ok(Event::Incoming(Packet::SubAck(s))) => {
                        let _ = ack_tx.send(Ack::SubAck(s));
                    }
                    Ok(Event::Incoming(Packet::PubAck(a))) => {
                        let _ = ack_tx.send(Ack::PubAck(a.pkid));
                    }
                    Ok(_) => {}
                    Err(e) => return Some(e),
                }
            }
        });
        Ok(Self {
            client,
            publishes,
            acks,
            task,
        })
    }

    /// Subscribes and waits for the SUBACK; returns it.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Option<rumqttc::SubAck> {
        self.client.subscribe(filter, qos).await.ok()?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.acks.recv()).await {
                Ok(Some(Ack::SubAck(s))) => return Some(s),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    pub async fn publish_acked(&mut self, topic: &str, payload: impl Into<Vec<u8>>) -> bool {
        if self
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .is_err()
        {
            return false;
        }
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.acks.recv()).await {
                Ok(Some(Ack::PubAck(_))) => return true,
                Ok(Some(_)) => continue,
                _ => return false,
            }
        }
    }

    /// The next received publish, or `None` after `limit`.
    pub async fn next_publish(&mut self, limit: Duration) -> Option<Publish> {
        tokio::time::timeout(limit, self.publishes.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}
