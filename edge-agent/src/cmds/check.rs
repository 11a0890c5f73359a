//! `edge-agent check --config FILE`: the installer's self-check. Each line
//! is PASS, WARN or FAIL with what was measured; any FAIL makes the exit
//! code 1.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use atrium_mqtt::TlsFiles;
use atrium_proto::topic::{self, CameraChannel};
use atrium_vision::RgbImage;
use edge_agent::config::{Config, SourceUrl};
use edge_agent::decode::Decoder;
use edge_agent::detect;
use edge_agent::source::file::{FileOptions, play};
use edge_agent::source::rtsp::{self, RtspOptions};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

use super::run::Args;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Warn,
    Fail,
}

struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, v: Verdict, what: &str, detail: impl std::fmt::Display) {
        let tag = match v {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => {
                self.failed = true;
                "FAIL"
            }
        };
        println!("{tag}  {what:<8} {detail}");
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut report = Report { failed: false };
    println!(
        "edge-agent {} self-check of {}",
        env!("CARGO_PKG_VERSION"),
        args.config.display()
    );
    rt.block_on(check_camera(&config, &mut report));
    check_models(&config, &mut report);
    rt.block_on(check_broker(&config, &mut report));
    check_disk(&config, &mut report);
    check_clock(&mut report);
    Ok(if report.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn check_camera(config: &Config, report: &mut Report) {
    match config.source() {
        Ok(SourceUrl::Rtsp(url)) => {
            let credentials = match config.credentials() {
                Ok(c) => c,
                Err(e) => return report.line(Verdict::Fail, "camera", e),
            };
            let mut opts = RtspOptions::new(url);
            opts.credentials = credentials;
            let started = Instant::now();
            let mut stream = match rtsp::connect(&opts).await {
                Ok(s) => s,
                Err(e) => return report.line(Verdict::Fail, "camera", e),
            };
            let info = stream.info().clone();
            let mut decoder = match Decoder::new(info.codec, 1) {
                Ok(d) => d,
                Err(e) => return report.line(Verdict::Fail, "camera", e),
            };
            let first = Instant::now();
            let (mut decoded, mut size) = (0, info.size);
            while decoded < 20 {
                let frame = match stream.next_frame().await {
                    Ok(f) => f,
                    Err(e) => return report.line(Verdict::Fail, "camera", e),
                };
                if let Err(e) = decoder.decode(&frame, |p| {
                    decoded += 1;
                    size = Some((p.width(), p.height()));
                }) {
                    return report.line(Verdict::Fail, "camera", e);
                }
            }
            let fps = decoded as f64 / first.elapsed().as_secs_f64().max(1e-3);
            let (w, h) = size.unwrap_or((0, 0));
            report.line(
                Verdict::Pass,
                "camera",
                format!(
                    "{} {}x{}, {:.1} fps measured ({} announced), connected in {:.1} s",
                    info.codec,
                    w,
                    h,
                    fps,
                    info.fps.map_or("none".into(), |f| format!("{f:.1}")),
                    (first - started).as_secs_f64()
                ),
            );
        }
        Ok(SourceUrl::File(path)) => {
            let stop = AtomicBool::new(false);
            let mut frames = 0;
            let mut desc = String::new();
            let result = play(
                &FileOptions {
                    path: path.clone(),
                    realtime: false,
                    loop_file: false,
                    threads: 1,
                },
                &stop,
                |i| desc = format!("{} {}x{}, {:?} fps", i.codec, i.size.0, i.size.1, i.fps),
                |_, _| {
                    frames += 1;
                    if frames >= 10 {
                        stop.store(true, Ordering::Relaxed);
                    }
                },
            );
            match result {
                Ok(_) if frames > 0 => report.line(
                    Verdict::Pass,
                    "camera",
                    format!("file {}: {desc}", path.display()),
                ),
                Ok(_) => report.line(
                    Verdict::Fail,
                    "camera",
                    format!("file {}: no frames decoded", path.display()),
                ),
                Err(e) => report.line(Verdict::Fail, "camera", e),
            }
        }
        Err(e) => report.line(Verdict::Fail, "camera", e),
    }
}

fn check_models(config: &Config, report: &mut Report) {
    let (models, mut detector) = match detect::load(config) {
        Ok(d) => d,
        Err(e) => return report.line(Verdict::Fail, "models", e),
    };
    let img = RgbImage::from_raw(640, 480, vec![96; 640 * 480 * 3]).ok();
    let Some(img) = img else { return };
    let mut ms = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        if let Err(e) = detector.detect(&img.view()) {
            return report.line(Verdict::Fail, "models", e);
        }
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let best = ms.iter().copied().fold(f64::MAX, f64::min);
    let mut detail = format!(
        "{} loaded, {best:.0} ms per frame ({} thread(s))",
        detector.model_id(),
        config.detector.threads
    );
    if config.faces.enabled {
        match (
            models.face_detector(),
            models.face_embedder_by_id(config.faces.embedder.as_deref()),
        ) {
            (Ok(f), Ok(e)) => detail.push_str(&format!(
                "; faces: {} + {} ({}-D)",
                f.model_id(),
                e.model_id(),
                e.dim()
            )),
            (Err(e), _) | (_, Err(e)) => return report.line(Verdict::Fail, "models", e),
        }
    }
    // A camera at 10 fps leaves 100 ms per frame.
    let v = if best > 100.0 {
        Verdict::Warn
    } else {
        Verdict::Pass
    };
    report.line(v, "models", detail);
}

async fn check_broker(config: &Config, report: &mut Report) {
    let b = &config.broker;
    let tls = TlsFiles {
        ca: b.ca_file.clone(),
        cert: b.cert_file.clone(),
        key: b.key_file.clone(),
    };
    let transport = match tls.transport() {
        Ok(t) => t,
        Err(e) => return report.line(Verdict::Fail, "broker", e),
    };
    let mut opts = MqttOptions::new(
        format!("{}-check", config.camera.id),
        b.host.clone(),
        b.port,
    );
    opts.set_transport(transport)
        .set_keep_alive(Duration::from_secs(5))
        // A retained configuration may follow the SUBACK; it must not break
        // the connection (shared/proto/src/limits.rs).
        .set_max_packet_size(Some(atrium_proto::limits::CLIENT_MAX_PACKET));
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    let config_topic = topic::camera(
        &config.camera.site,
        &config.camera.id,
        CameraChannel::Config,
    );
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_subscribe(config_topic.clone(), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::SubAck(s))) => {
                    return Ok(s
                        .return_codes
                        .iter()
                        .all(|c| matches!(c, SubscribeReasonCode::Success(_))));
                }
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await;
    let _ = client.try_disconnect();
    match outcome {
        Ok(Ok(true)) => report.line(
            Verdict::Pass,
            "broker",
            format!("{}:{} TLS OK, authenticated, config topic readable ({:.0} ms)", b.host, b.port, started.elapsed().as_secs_f64() * 1000.0),
        ),
        Ok(Ok(false)) => report.line(
            Verdict::Fail,
            "broker",
            format!("connected, but the ACL refuses {config_topic}: is the certificate's name the camera id?"),
        ),
        Ok(Err(e)) => report.line(Verdict::Fail, "broker", format!("{}:{}: {e}", b.host, b.port)),
        Err(_) => report.line(Verdict::Fail, "broker", format!("{}:{}: no answer within 10 s", b.host, b.port)),
    }
}

fn check_disk(config: &Config, report: &mut Report) {
    let dir = &config.spool.dir;
    if let Err(e) = std::fs::create_dir_all(dir) {
        return report.line(
            Verdict::Fail,
            "disk",
            format!("cannot create {}: {e}", dir.display()),
        );
    }
    let probe = dir.join(".check");
    let written = std::fs::File::create(&probe).and_then(|mut f| {
        use std::io::Write;
        f.write_all(b"ok")?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = written {
        return report.line(
            Verdict::Fail,
            "disk",
            format!("cannot write in {}: {e}", dir.display()),
        );
    }
    let disks = sysinfo::Disks::new_with_refreshed_list();
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
    let free = disks
        .list()
        .iter()
        .filter(|d| canonical.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| d.available_space());
    let quota = config.spool.max_mib * 1024 * 1024;
    match free {
        Some(f) if f < quota => report.line(
            Verdict::Warn,
            "disk",
            format!(
                "{} writable, but only {} MiB free for a {} MiB spool quota",
                dir.display(),
                f >> 20,
                config.spool.max_mib
            ),
        ),
        Some(f) => report.line(
            Verdict::Pass,
            "disk",
            format!("{} writable, {} MiB free", dir.display(), f >> 20),
        ),
        None => report.line(Verdict::Pass, "disk", format!("{} writable", dir.display())),
    }
}

fn check_clock(report: &mut Report) {
    let now = chrono::Utc::now();
    if now.format("%Y").to_string().parse::<i32>().unwrap_or(0) < 2025 {
        return report.line(
            Verdict::Fail,
            "clock",
            format!("system time {now} is not plausible: events would carry wrong times"),
        );
    }
    let synced = std::process::Command::new("timedatectl")
        .args(["show", "-p", "NTPSynchronized", "--value"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match synced.as_deref() {
        Some("yes") => report.line(
            Verdict::Pass,
            "clock",
            format!("{} UTC, NTP synchronised", now.format("%Y-%m-%d %H:%M:%S")),
        ),
        Some(_) => report.line(
            Verdict::Warn,
            "clock",
            format!(
                "{} UTC, NOT synchronised by NTP: enable systemd-timesyncd",
                now.format("%Y-%m-%d %H:%M:%S")
            ),
        ),
        None => report.line(
            Verdict::Warn,
            "clock",
            format!(
                "{} UTC; NTP state unknown (no timedatectl)",
                now.format("%Y-%m-%d %H:%M:%S")
            ),
        ),
    }
}
