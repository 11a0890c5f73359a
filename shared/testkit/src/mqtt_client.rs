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
                        // The test dropped its receiver: it wants no more.
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

/// An MQTT 5 test client: like [`TestClient`], but publishes return the
/// broker's PUBACK reason code, and it accepts packets up to Atrium's
/// client limit.
#[derive(Debug)]
pub struct TestClientV5 {
    pub client: rumqttc::v5::AsyncClient,
    publishes: mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Publish>,
    acks: mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::PubAckReason>,
    task: JoinHandle<Option<rumqttc::v5::ConnectionError>>,
}

impl TestClientV5 {
    /// Connects and waits for the broker's CONNACK (or the first error).
    pub async fn connect(
        mut options: rumqttc::v5::MqttOptions,
    ) -> Result<Self, rumqttc::v5::ConnectionError> {
        use rumqttc::v5::mqttbytes::v5::Packet as P;
        use rumqttc::v5::{AsyncClient as Client5, Event as E5};
        options.set_max_packet_size(Some(atrium_proto::limits::CLIENT_MAX_PACKET));
        let (client, mut eventloop) = Client5::new(options, 1024);
        loop {
            if let E5::Incoming(P::ConnAck(_)) = eventloop.poll().await? {
                break;
            }
        }
        let (pub_tx, publishes) = mpsc::unbounded_channel();
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(E5::Incoming(P::Publish(p))) => {
                        let _ = pub_tx.send(p);
                    }
                    Ok(E5::Incoming(P::PubAck(a))) => {
                        // The test dropped its receiver: it wants no more.
                        let _ = ack_tx.send(a.reason);
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

    /// Publishes at QoS 1 and returns the PUBACK's reason code (`None`: no
    /// PUBACK within 10 s).
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
        retain: bool,
    ) -> Option<rumqttc::v5::mqttbytes::v5::PubAckReason> {
        self.client
            .publish(
                topic,
                rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                retain,
                payload.into(),
            )
            .await
            .ok()?;
        tokio::time::timeout(Duration::from_secs(10), self.acks.recv())
            .await
            .ok()
            .flatten()
    }

    /// Subscribes (without waiting for the SUBACK).
    pub async fn subscribe(&self, filter: &str) -> bool {
        self.client
            .subscribe(filter, rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
            .await
            .is_ok()
    }

    /// The next received publish, or `None` after `limit`.
    pub async fn next_publish(
        &mut self,
        limit: Duration,
    ) -> Option<rumqttc::v5::mqttbytes::v5::Publish> {
        tokio::time::timeout(limit, self.publishes.recv())
            .await
            .ok()
            .flatten()
    }

    /// Whether the connection is still up (the event loop has not failed).
    pub fn connected(&self) -> bool {
        !self.task.is_finished()
    }

    /// Why the connection failed, once it has.
    pub async fn failure(&mut self) -> Option<String> {
        if !self.task.is_finished() {
            return None;
        }
        match (&mut self.task).await {
            Ok(e) => e.map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        }
    }
}

impl Drop for TestClientV5 {
    fn drop(&mut self) {
        self.task.abort();
    }
}
