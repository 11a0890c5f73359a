//! The Mosquitto harness gives a real broker that only speaks mutual TLS and
//! confines each identity to its own topics.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use atrium_testkit::{Mosquitto, TestClient};
use rumqttc::QoS;

const OWN_TOPIC: &str = "atrium/v1/hq/cam/cam-a/event";
const OTHER_TOPIC: &str = "atrium/v1/hq/cam/cam-b/event";

#[tokio::test]
async fn tls_publish_subscribe_with_client_certificates() {
    let broker = Mosquitto::start().await.unwrap();
    let central_id = broker.identity("central").unwrap();
    let cam_id = broker.identity("cam-a").unwrap();

    let mut central = TestClient::connect(broker.options("central", &central_id).unwrap())
        .await
        .unwrap();
    let ack = central
        .subscribe("atrium/v1/+/cam/+/event", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(ack.return_codes.len(), 1);
    assert!(
        !matches!(ack.return_codes[0], rumqttc::SubscribeReasonCode::Failure),
        "central may subscribe to all camera events"
    );

    let mut cam = TestClient::connect(broker.options("cam-a", &cam_id).unwrap())
        .await
        .unwrap();
    assert!(cam.publish_acked(OWN_TOPIC, b"hello".to_vec()).await);

    let got = central.next_publish(Duration::from_secs(10)).await.unwrap();
    assert_eq!(got.topic, OWN_TOPIC);
    assert_eq!(&got.payload[..], b"hello");
}

#[tokio::test]
async fn plaintext_connection_is_refused() {
    let broker = Mosquitto::start().await.unwrap();
    let opts = rumqttc::MqttOptions::new("plain", "127.0.0.1", broker.port());
    let err = TestClient::connect(opts).await.unwrap_err();
    println!("plaintext client got: {err}");
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let broker = Mosquitto::start().await.unwrap();
    let foreign = broker.foreign_identity("cam-a").unwrap();
    let err = TestClient::connect(broker.options("cam-a", &foreign).unwrap())
        .await
        .unwrap_err();
    let text = format!("{err:?}");
    assert!(
        text.contains("Tls") || text.contains("Io") || text.contains("alert"),
        "expected a TLS-level refusal, got {text}"
    );
    // The same name with a certificate from the right CA is accepted, so the
    // refusal above was about the signer, not the name.
    let good = broker.identity("cam-a").unwrap();
    TestClient::connect(broker.options("cam-a-good", &good).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn publish_outside_own_prefix_is_not_delivered() {
    let broker = Mosquitto::start().await.unwrap();
    let mut central = TestClient::connect(
        broker
            .options("central", &broker.identity("central").unwrap())
            .unwrap(),
    )
    .await
    .unwrap();
    central
        .subscribe("atrium/v1/+/cam/+/event", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut cam = TestClient::connect(
        broker
            .options("cam-a", &broker.identity("cam-a").unwrap())
            .unwrap(),
    )
    .await
    .unwrap();

    // cam-a speaks for cam-b (forbidden), then for itself (allowed). The
    // broker handles one client's publishes in order, so once the allowed
    // message arrives the forbidden one would already have been delivered.
    cam.publish_acked(OTHER_TOPIC, b"forged".to_vec()).await;
    assert!(cam.publish_acked(OWN_TOPIC, b"genuine".to_vec()).await);

    let first = central.next_publish(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.topic, OWN_TOPIC, "the forged publish was delivered");
    assert_eq!(&first.payload[..], b"genuine");
}
