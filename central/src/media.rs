//! Camera pictures from the edge agents: the last snapshot of each camera
//! (stored, served on `GET /api/v1/cameras/{id}/snapshot`) and live frames
//! relayed to whoever watches the camera on `/ws/camera/{id}?live=true`.
//!
//! Pictures come on their own MQTT connection (`<client id>-media`,
//! clean session, automatic acknowledgement, no shared subscription):
//! every central instance needs every snapshot and the frames of the
//! cameras its own viewers watch, and a picture lost in a restart is
//! replaced by the next one, unlike an event. Live frames are asked for:
//! while a camera has a viewer here, a live request for
//! `media.live_for_s` seconds is published on its request topic every
//! third of that, so the edge stops by itself soon after the last viewer
//! (or this instance) goes away.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use atrium_proto::CameraId;
use atrium_proto::SiteId;
use atrium_proto::limits::CLIENT_MAX_PACKET;
use atrium_proto::media::{CameraFrame, CameraRequest, FrameBox, FrameKind, RequestKind};
use atrium_proto::topic::{self, CameraChannel, Topic};
use atrium_proto::validate::Cameras;
use atrium_worker::{Attempt, Backoff, Worker, supervise};
use chrono::{DateTime, Utc};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use serde::Serialize;
use tokio::sync::{Notify, broadcast, watch};

use crate::metrics::Metrics;

/// Live frames buffered per viewer; a slower viewer skips frames.
const FRAME_BUFFER: usize = 8;

/// A live frame as a viewer's WebSocket receives it (text, prepared once
/// for every viewer of the camera).
#[derive(Debug)]
pub struct LiveFrame {
    pub camera: CameraId,
    pub text: String,
}

/// The WebSocket message for one live frame.
#[derive(Debug, Serialize)]
struct WsFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    camera_id: &'a CameraId,
    ts: DateTime<Utc>,
    seq: u64,
    width: u32,
    height: u32,
    image_width: u32,
    image_height: u32,
    boxes: &'a [FrameBox],
    jpeg: &'a str,
}

/// Who watches what on this instance, and the relay of live frames.
#[derive(Debug)]
pub struct Media {
    frames: broadcast::Sender<Arc<LiveFrame>>,
    watchers: Mutex<HashMap<CameraId, (SiteId, usize)>>,
    /// A camera got its first viewer: ask for frames now.
    wake: Notify,
    live_for_s: u32,
}

/// Held by a viewer; the camera stops being asked for frames when the
/// last one is dropped.
#[derive(Debug)]
pub struct Watching {
    media: Arc<Media>,
    camera: CameraId,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut w = self
            .media
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, n)) = w.get_mut(&self.camera) {
            *n -= 1;
            if *n == 0 {
                w.remove(&self.camera);
            }
        }
    }
}

impl Media {
    pub fn new(live_for_s: u32) -> Arc<Self> {
        let (frames, _) = broadcast::channel(FRAME_BUFFER);
        Arc::new(Self {
            frames,
            watchers: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            live_for_s,
        })
    }

    /// Starts watching a camera: its live frames from now on.
    pub fn watch(
        self: &Arc<Self>,
        site: SiteId,
        camera: CameraId,
    ) -> (Watching, broadcast::Receiver<Arc<LiveFrame>>) {
        let rx = self.frames.subscribe();
        let first = {
            let mut w = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = w.entry(camera.clone()).or_insert((site, 0));
            entry.1 += 1;
            entry.1 == 1
        };
        if first {
            self.wake.notify_one();
        }
        (
            Watching {
                media: self.clone(),
                camera,
            },
            rx,
        )
    }

    fn watched(&self) -> Vec<(SiteId, CameraId)> {
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(c, (s, _))| (s.clone(), c.clone()))
            .collect()
    }

    fn relay(&self, frame: &CameraFrame) {
        if self.frames.receiver_count() == 0 {
            return;
        }
        let msg = WsFrame {
            kind: "frame",
            camera_id: &frame.camera,
            ts: frame.ts,
            seq: frame.seq,
            width: frame.width,
            height: frame.height,
            image_width: frame.image_width,
            image_height: frame.image_height,
            boxes: &frame.boxes,
            jpeg: &frame.jpeg,
        };
        if let Ok(text) = serde_json::to_string(&msg) {
            // No receiver left since the check: nobody to show it to.
            if self
                .frames
                .send(Arc::new(LiveFrame {
                    camera: frame.camera.clone(),
                    text,
                }))
                .is_err()
            {
                tracing::trace!("live frame with no viewer left");
            }
        }
    }
}

/// Publishes a request for the camera's edge agent (QoS 0: a lost one is
/// repeated by the next renewal, or by the user).
pub fn request(
    client: &AsyncClient,
    site: &SiteId,
    camera: &CameraId,
    kind: RequestKind,
) -> Result<(), RequestError> {
    let payload = serde_json::to_vec(&CameraRequest::new(kind))?;
    client
        .try_publish(
            topic::camera(site, camera, CameraChannel::Request),
            QoS::AtMostOnce,
            false,
            payload,
        )
        .map_err(Box::new)?;
    Ok(())
}

/// Why a request was not sent.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("encoding the request: {0}")]
    Encode(#[from] serde_json::Error),
    /// Boxed: the client error holds the whole request.
    #[error("queueing the request: {0}")]
    Queue(#[from] Box<rumqttc::v5::ClientError>),
}

/// Renews the live requests of watched cameras until `stop`.
pub async fn renew(
    media: Arc<Media>,
    client: AsyncClient,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let every = Duration::from_secs(u64::from(media.live_for_s / 3).max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = media.wake.notified() => {}
            _ = stop.changed() => return,
        }
        let watched = media.watched();
        metrics.live_cameras.set(watched.len() as i64);
        for (site, camera) in watched {
            let kind = RequestKind::Live {
                for_s: media.live_for_s,
            };
            if let Err(e) = request(&client, &site, &camera, kind) {
                tracing::warn!(error = %e, %camera, "live request not sent");
            }
        }
    }
}

/// The media connection's settings.
pub struct MediaConnection {
    pub options: MqttOptions,
    pub pool: deadpool_postgres::Pool,
    pub cameras: Arc<RwLock<Cameras>>,
    pub media: Arc<Media>,
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for MediaConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaConnection")
            .field("client_id", &self.options.client_id())
            .finish_non_exhaustive()
    }
}

impl MediaConnection {
    /// The MQTT options: the ingest connection's broker and TLS, its own
    /// client id, a clean session.
    pub fn options(
        host: &str,
        port: u16,
        client_id: &str,
        transport: rumqttc::Transport,
    ) -> MqttOptions {
        let mut o = MqttOptions::new(format!("{client_id}-media"), host, port);
        o.set_transport(transport)
            .set_keep_alive(Duration::from_secs(10))
            .set_clean_start(true)
            .set_max_packet_size(Some(CLIENT_MAX_PACKET));
        o
    }

    /// Runs the connection until `stop`.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        let (client, eventloop) = AsyncClient::new(self.options.clone(), 64);
        let mut worker = Receiving {
            client,
            eventloop,
            conn: self,
        };
        let backoff = Backoff::new(Duration::from_millis(375), Duration::from_secs(15));
        supervise("media broker connection", &mut worker, backoff, stop).await;
        if let Err(e) = worker.client.try_disconnect() {
            tracing::debug!(error = %e, "no clean disconnect from the broker");
        }
    }
}

struct Receiving {
    client: AsyncClient,
    eventloop: EventLoop,
    conn: MediaConnection,
}

impl Worker for Receiving {
    type Error = rumqttc::v5::ConnectionError;

    async fn run_once(&mut self, attempt: &mut Attempt) -> Result<(), Self::Error> {
        loop {
            let ev = tokio::select! {
                ev = self.eventloop.poll() => ev?,
                _ = attempt.stopped() => return Ok(()),
            };
            match ev {
                Event::Incoming(Packet::ConnAck(_)) => {
                    attempt.progressed();
                    for (channel, qos) in [
                        (CameraChannel::Snapshot, QoS::AtLeastOnce),
                        (CameraChannel::Live, QoS::AtMostOnce),
                    ] {
                        if let Err(e) = self.client.try_subscribe(topic::all_cameras(channel), qos)
                        {
                            tracing::error!(error = %e, "cannot queue the media subscription");
                        }
                    }
                }
                Event::Incoming(Packet::Publish(p)) => {
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    self.conn.on_picture(topic, p.payload.to_vec());
                }
                _ => {}
            }
        }
    }
}

/// A picture that passed every check.
struct Accepted {
    frame: CameraFrame,
    jpeg: Vec<u8>,
}

/// Checks a picture: topic, payload, kind matching the topic, the camera
/// known, enabled and on the topic's site.
fn accept(topic: &str, payload: &[u8], cameras: &Cameras) -> Result<Accepted, String> {
    let Topic::Camera {
        site,
        camera,
        channel,
    } = Topic::parse(topic).map_err(|e| e.to_string())?
    else {
        return Err("not a camera topic".into());
    };
    let want = match channel {
        CameraChannel::Snapshot => FrameKind::Snapshot,
        CameraChannel::Live => FrameKind::Live,
        _ => return Err("not a picture topic".into()),
    };
    let (frame, jpeg) = CameraFrame::parse(payload).map_err(|e| format!("invalid picture: {e}"))?;
    if frame.kind != want {
        return Err(format!("a {:?} frame on the {channel:?} topic", frame.kind));
    }
    if frame.camera != camera || frame.site != site {
        return Err(format!(
            "topic is for camera {site}/{camera} but the picture speaks for {}/{}",
            frame.site, frame.camera
        ));
    }
    match cameras.get(&camera) {
        None => Err(format!("unknown camera {camera}")),
        Some(k) if k.site != site => Err(format!("camera {camera} belongs to site {}", k.site)),
        Some(k) if !k.enabled => Err(format!("camera {camera} is disabled")),
        Some(_) => Ok(Accepted { frame, jpeg }),
    }
}

impl MediaConnection {
    fn on_picture(&self, topic: String, payload: Vec<u8>) {
        if payload.is_empty() {
            return; // a cleared retained snapshot
        }
        let checked = {
            let cameras = self.cameras.read().unwrap_or_else(PoisonError::into_inner);
            accept(&topic, &payload, &cameras)
        };
        match checked {
            Ok(Accepted { frame, jpeg }) => match frame.kind {
                FrameKind::Live => {
                    self.metrics.live_frames.inc();
                    self.media.relay(&frame);
                }
                FrameKind::Snapshot => {
                    let pool = self.pool.clone();
                    let metrics = self.metrics.clone();
                    // Off the connection's loop: a slow database must not
                    // hold up live frames or the keep-alive.
                    atrium_worker::spawn(async move {
                        match store_snapshot(&pool, &frame, &jpeg).await {
                            Ok(true) => {
                                metrics.snapshots_stored.inc();
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, camera = %frame.camera, "snapshot not stored")
                            }
                        }
                    });
                }
            },
            Err(reason) => {
                self.metrics.media_refused.inc();
                tracing::warn!(%topic, %reason, bytes = payload.len(), "camera picture refused");
                let pool = self.pool.clone();
                atrium_worker::spawn(async move {
                    if let Err(e) = dead_letter(&pool, &topic, &reason, &payload).await {
                        tracing::warn!(error = %e, "refused picture not dead-lettered");
                    }
                });
            }
        }
    }
}

/// Why a picture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no database connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("{0}")]
    Query(#[from] tokio_postgres::Error),
}

/// Keeps the snapshot unless a newer one is kept; true when written.
async fn store_snapshot(
    pool: &deadpool_postgres::Pool,
    frame: &CameraFrame,
    jpeg: &[u8],
) -> Result<bool, StoreError> {
    let client = pool.get().await?;
    let dims = [
        frame.width,
        frame.height,
        frame.image_width,
        frame.image_height,
    ]
    .map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    let n = client
        .execute(
            "INSERT INTO camera_snapshots (camera_id, captured_at, width, height, image_width, image_height, jpeg)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (camera_id) DO UPDATE SET
                captured_at = EXCLUDED.captured_at, received_at = now(),
                width = EXCLUDED.width, height = EXCLUDED.height,
                image_width = EXCLUDED.image_width, image_height = EXCLUDED.image_height,
                jpeg = EXCLUDED.jpeg
             WHERE camera_snapshots.captured_at < EXCLUDED.captured_at",
            &[
                &frame.camera.as_str(),
                &frame.ts,
                &dims[0],
                &dims[1],
                &dims[2],
                &dims[3],
                &jpeg,
            ],
        )
        .await?;
    Ok(n == 1)
}

async fn dead_letter(
    pool: &deadpool_postgres::Pool,
    topic: &str,
    reason: &str,
    payload: &[u8],
) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let keep = &payload[..payload.len().min(crate::ingest::write::DEAD_LETTER_KEEP)];
    let size = i32::try_from(payload.len()).unwrap_or(i32::MAX);
    client
        .execute(
            "INSERT INTO dead_letters (topic, reason, payload, payload_bytes) VALUES ($1, $2, $3, $4)",
            &[&topic, &reason, &keep, &size],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use atrium_proto::validate::KnownCamera;

    fn frame(kind: FrameKind, camera: &str) -> Vec<u8> {
        serde_json::to_vec(&CameraFrame {
            schema: 1,
            ts: "2026-12-01T10:00:00Z".parse().unwrap(),
            site: SiteId::new("hq").unwrap(),
            camera: CameraId::new(camera).unwrap(),
            kind,
            seq: 1,
            width: 640,
            height: 480,
            image_width: 320,
            image_height: 240,
            boxes: Vec::new(),
            jpeg: CameraFrame::encode_jpeg(&[0xFF, 0xD8, 0xFF, 0xDB]),
        })
        .unwrap()
    }

    fn cameras() -> Cameras {
        let mut c = Cameras::new();
        c.insert(
            CameraId::new("cam-1").unwrap(),
            KnownCamera {
                site: SiteId::new("hq").unwrap(),
                enabled: true,
            },
        );
        c
    }

    #[test]
    fn pictures_are_accepted_only_on_their_own_topic_and_camera() {
        let snap = frame(FrameKind::Snapshot, "cam-1");
        assert!(accept("atrium/v1/hq/cam/cam-1/snapshot", &snap, &cameras()).is_ok());
        let refused = [
            (
                "atrium/v1/hq/cam/cam-1/live",
                snap.clone(),
                "Snapshot frame",
            ),
            (
                "atrium/v1/hq/cam/cam-2/snapshot",
                frame(FrameKind::Snapshot, "cam-2"),
                "unknown camera",
            ),
            (
                "atrium/v1/hq/cam/cam-2/snapshot",
                snap.clone(),
                "speaks for",
            ),
            (
                "atrium/v1/hq/cam/cam-1/event",
                snap.clone(),
                "not a picture topic",
            ),
            (
                "atrium/v1/hq/cam/cam-1/snapshot",
                b"{}".to_vec(),
                "invalid picture",
            ),
        ];
        for (topic, payload, why) in refused {
            let e = accept(topic, &payload, &cameras()).err().unwrap();
            assert!(e.contains(why), "{topic}: {e}");
        }
    }

    #[test]
    fn a_camera_is_watched_until_its_last_viewer_leaves() {
        let media = Media::new(60);
        let site = SiteId::new("hq").unwrap();
        let cam = CameraId::new("cam-1").unwrap();
        let (a, _) = media.watch(site.clone(), cam.clone());
        let (b, _) = media.watch(site, cam.clone());
        assert_eq!(media.watched().len(), 1);
        drop(a);
        assert_eq!(media.watched(), vec![(SiteId::new("hq").unwrap(), cam)]);
        drop(b);
        assert!(media.watched().is_empty());
    }
}
