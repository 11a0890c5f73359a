//! `edge-agent relay`: store-and-forward for events another program makes.
//!
//! Reads complete events (the wire format of docs/ref/mqtt.md, one JSON
//! object per line) on standard input and gives them the agent's delivery
//! guarantees: each is checked as central will check it, written to the spool, answered with a
//! line `spooled <id>` once the spool holds it, and published with the
//! same publisher, linger and retry rules as `edge-agent run`. A line that
//! is refused is answered `refused <line> <reason>` and nothing is spooled.
//!
//! It exists for two users: a local program (an access-control reader's
//! bridge, another analytics process) that must not lose events when the
//! network does, and the reliability tests, which generate events with
//! known ids and count them in the database (the relay runs exactly the
//! spool → publish → broker path the camera pipeline uses, without video).
//! No camera, no models.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use atrium_proto::limits::MAX_EVENT_PAYLOAD;
use atrium_proto::topic::{self, CameraChannel};
use atrium_proto::validate::{Accepted, Cameras, KnownCamera, validate};
use atrium_proto::{CameraConfig, CameraState, Event, SCHEMA_VERSION};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::outbox::{Figures, Outbox};
use crate::pipeline::StartError;
use crate::state::Shared;

/// How long `--exit-at-eof` waits for the broker to take what is spooled.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// How the relay ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayOptions {
    /// At the end of the input, wait until everything is delivered (or 30 s
    /// have passed), then stop.
    pub exit_at_eof: bool,
}

/// Why an input line was refused: the text of its `refused` answer line.
fn check(line: &str, config: &Config) -> Result<Event, String> {
    if line.len() > MAX_EVENT_PAYLOAD {
        return Err(format!(
            "event of {} bytes exceeds the {MAX_EVENT_PAYLOAD}-byte limit",
            line.len()
        ));
    }
    let event: Event = serde_json::from_str(line).map_err(|e| format!("not an event: {e}"))?;
    if event.schema != SCHEMA_VERSION {
        return Err(format!(
            "schema {} is not supported (this agent writes {SCHEMA_VERSION})",
            event.schema
        ));
    }
    if event.camera != config.camera.id || event.site != config.camera.site {
        return Err(format!(
            "event is for {}/{}, this agent speaks for {}/{}",
            event.site, event.camera, config.camera.site, config.camera.id
        ));
    }
    // The rest of what central will check (line and zone ids, embedding
    // dimension): refused here, the sender hears why, rather than spooled
    // and dead-lettered at central.
    let topic = topic::camera(&config.camera.site, &config.camera.id, CameraChannel::Event);
    let cameras = Cameras::from([(
        config.camera.id.clone(),
        KnownCamera {
            site: config.camera.site.clone(),
            enabled: true,
        },
    )]);
    match validate(&topic, line.as_bytes(), MAX_EVENT_PAYLOAD, &cameras)? {
        Accepted::Event(e) => Ok(*e),
        Accepted::Status(_) => Err("a status, not an event".into()),
    }
}

/// Runs the relay until `stop` (or the end of the input, with
/// `exit_at_eof`).
pub async fn run<R, W>(
    config: Config,
    input: R,
    mut output: W,
    external_stop: watch::Receiver<bool>,
    options: RelayOptions,
) -> Result<(), StartError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let transport = crate::outbox::transport(&config)?;
    let shared = Arc::new(Shared::new(1, atrium_clock::system()));
    shared.set_camera(CameraState::Online, Some("relay".into()));
    let Outbox {
        spool,
        sink,
        spooled,
    } = crate::outbox::open(&config, &shared)?;

    let (stop_tx, stop) = watch::channel(false);
    let listen = crate::pipeline::listen_addr(&config)?;
    let (bound, http) = crate::http::serve(listen, shared.clone(), stop.clone())
        .await
        .map_err(|source| StartError::Io {
            what: "binding the HTTP port".into(),
            source,
        })?;
    // A convenience for scripts and tests (the address is also logged).
    if let Err(e) = std::fs::write(config.spool.dir.join("http.addr"), bound.to_string()) {
        tracing::warn!(error = %e, "cannot write http.addr beside the spool");
    }
    let http = atrium_worker::spawn(http);

    let status = crate::outbox::status_source(
        &config,
        shared.clone(),
        spool.clone(),
        Arc::new(Mutex::new(Figures::default())),
    );
    // Configurations are not used by the relay; the channel just drains.
    let (config_tx, _config_rx) = std::sync::mpsc::channel::<CameraConfig>();
    // Nor does it make pictures: the sender is dropped at once.
    let (_, media_rx) = tokio::sync::mpsc::channel(1);
    let publisher = atrium_worker::spawn(crate::publish::run(
        crate::outbox::publisher_config(&config, transport),
        spool.clone(),
        spooled,
        Arc::new(Notify::new()),
        shared.clone(),
        status,
        config_tx,
        media_rx,
        stop.clone(),
    ));
    let syncer = atrium_worker::spawn(crate::spool_sync::run(
        spool.clone(),
        Duration::from_millis(config.spool.fsync_ms),
        shared.clone(),
        stop.clone(),
    ));

    let mut lines = input.lines();
    let mut number = 0u64;
    let mut ext = external_stop;
    loop {
        let line = tokio::select! {
            l = lines.next_line() => l,
            _ = ext.changed() => break,
        };
        let line = match line {
            Ok(Some(l)) => l,
            Ok(None) => {
                if options.exit_at_eof {
                    crate::outbox::wait_delivered(&spool, &shared, DRAIN_LIMIT, &mut ext).await;
                    break;
                }
                // Keep delivering until stopped.
                // Err: the stop sender is gone, which also means stop.
                let _ = ext.changed().await;
                break;
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the input failed");
                break;
            }
        };
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match check(&line, &config) {
            Ok(event) => match sink.spool(&event) {
                Ok(_) => format!("spooled {}\n", event.id),
                Err(e) => format!("refused {number} spool: {e}\n"),
            },
            Err(reason) => format!("refused {number} {reason}\n"),
        };
        let written = async {
            output.write_all(answer.as_bytes()).await?;
            output.flush().await
        };
        if let Err(e) = written.await {
            tracing::warn!(error = %e, "cannot answer on the output; stopping");
            break;
        }
    }
    stop_tx.send_replace(true);
    atrium_worker::joined("publisher", publisher).await;
    atrium_worker::joined("spool sync", syncer).await;
    if let Some(Err(e)) = atrium_worker::joined("http", http).await {
        tracing::warn!(error = %e, "the /health and /metrics server failed");
    }
    if let Ok(mut s) = spool.lock() {
        s.sync()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use atrium_proto::event::{Direction, EventBody};
    use std::path::Path;

    fn config() -> Config {
        Config::parse(
            r#"
            [camera]
            id = "lobby-1"
            site = "hq"
            url = "rtsp://192.0.2.10/stream1"
            [broker]
            host = "broker.example"
            ca_file = "/x/ca.pem"
            cert_file = "/x/c.pem"
            key_file = "/x/c.key"
            [spool]
            dir = "/var/lib/atrium/lobby-1"
            "#,
            Path::new("edge.toml"),
        )
        .unwrap()
    }

    fn event(site: &str, camera: &str) -> String {
        let e = Event::new(
            atrium_proto::SiteId::new(site).unwrap(),
            atrium_proto::CameraId::new(camera).unwrap(),
            chrono::Utc::now(),
            EventBody::LineCrossed {
                line: "door".into(),
                direction: Direction::In,
                track: 1,
            },
        );
        serde_json::to_string(&e).unwrap()
    }

    #[test]
    fn only_valid_events_of_this_camera_are_taken() {
        let c = config();
        assert!(check(&event("hq", "lobby-1"), &c).is_ok());
        let err = check(&event("hq", "lobby-2"), &c).unwrap_err();
        assert!(err.contains("this agent speaks for hq/lobby-1"), "{err}");
        assert!(check("{", &c).unwrap_err().contains("not an event"));
        let big = " ".repeat(MAX_EVENT_PAYLOAD + 1);
        assert!(check(&big, &c).unwrap_err().contains("byte limit"));
        let other_schema = event("hq", "lobby-1").replace("\"schema\":1", "\"schema\":9");
        assert!(check(&other_schema, &c).unwrap_err().contains("schema 9"));
        // What central would dead-letter is refused here already.
        let bad_line = event("hq", "lobby-1").replace("\"door\"", "\"Door 1\"");
        let err = check(&bad_line, &c).unwrap_err();
        assert!(err.contains("Door 1"), "{err}");
    }
}
