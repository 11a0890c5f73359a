//! `atrium-iot-sim`: a simulated building's systems (power meters in a
//! tree, lighting, two lifts, a door controller, a fire panel) publishing
//! to Atrium's broker over mutual TLS, each device with its own
//! certificate, as real gateways would. The model is
//! `central::systems::sim`; this binary connects and publishes it.
//!
//! ```sh
//! atrium-iot-sim devices --meters 4          # what to register (central admin device add)
//! atrium-iot-sim run --site hq --broker-port 8883 --certs /etc/atrium/pki
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use atrium_mqtt::TlsFiles;
use atrium_proto::topic::{self, DeviceChannel};
use atrium_proto::{DeviceId, SiteId};
use central::systems::sim::{Fleet, SimConfig};
use chrono::{FixedOffset, Offset, Utc};
use clap::{Parser, Subcommand};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::LastWill;
use rumqttc::v5::{AsyncClient, MqttOptions};

#[derive(Debug, Parser)]
#[command(
    name = "atrium-iot-sim",
    version,
    about = "A simulated building's systems publishing to Atrium over MQTT/TLS"
)]
struct Cli {
    /// Log format: text or json (production).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "ATRIUM_LOG_FORMAT"
    )]
    log_format: atrium_telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct Fleetwide {
    /// Power meters: a main meter and N-1 sub-meters under it.
    #[arg(long, default_value_t = 4)]
    meters: usize,
    /// Prefix of every device id (several buildings on one broker).
    #[arg(long, default_value = "")]
    prefix: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the devices, one per line: id, kind, parent ("-" for none),
    /// floor, name, location (tab-separated), to register with `central
    /// admin device add` and issue certificates for.
    Devices(Fleetwide),
    /// Connect every device and publish until stopped.
    Run(Box<RunArgs>),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    fleet: Fleetwide,
    /// The site the devices are registered at.
    #[arg(long)]
    site: String,
    #[arg(long, default_value = "127.0.0.1")]
    broker_host: String,
    #[arg(long, default_value_t = 8883)]
    broker_port: u16,
    /// Directory with ca.pem and each device's ID.pem and ID.key (what
    /// `central admin pki issue --dir DIR ID` writes).
    #[arg(long)]
    certs: PathBuf,
    /// Seed of the simulation: the same seed gives the same building.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Seconds between telemetry points.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    interval_s: u32,
    /// The site's offset from UTC for office hours, e.g. +01:00.
    #[arg(long, default_value = "+00:00")]
    utc_offset: String,
    /// Start the alarm scenario (a fire zone in alarm for two minutes)
    /// this many seconds after start.
    #[arg(long)]
    alarm_after_s: Option<u64>,
    /// Let lighting follow the people Atrium counts: central's base URL
    /// (reads /api/v1/counting/current; needs --api-key-file).
    #[arg(long, requires = "api_key_file")]
    occupancy_url: Option<String>,
    /// File holding an API key with events:read.
    #[arg(long)]
    api_key_file: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, conflicts_with = "ticks")]
    for_s: Option<u64>,
    /// Replay instead of running live: simulate from this time (RFC
    /// 3339), publish `--ticks` points per device as fast as the broker
    /// takes them, then exit. Timestamps are the simulated ones, so the
    /// same seed, start and ticks give the same messages.
    #[arg(long, requires = "ticks")]
    from: Option<chrono::DateTime<Utc>>,
    /// How many points per device a replay publishes.
    #[arg(long, requires = "from")]
    ticks: Option<u32>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    atrium_telemetry::init(cli.log_format);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("atrium-iot-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("atrium-iot-sim: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config(f: &Fleetwide, seed: u64, interval_s: u32, utc_offset: FixedOffset) -> SimConfig {
    SimConfig {
        seed,
        meters: f.meters,
        utc_offset,
        interval_s,
        alarm_at: None,
        prefix: f.prefix.clone(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Devices(f) => {
            let fleet = Fleet::new(config(&f, 7, 10, Utc.fix()));
            for d in fleet.devices() {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    d.id,
                    d.kind.as_str(),
                    d.parent.as_deref().unwrap_or("-"),
                    d.floor,
                    d.name,
                    d.location
                );
            }
            Ok(())
        }
        Command::Run(a) => publish(*a).await,
    }
}

async fn publish(a: RunArgs) -> anyhow::Result<()> {
    let site = SiteId::new(a.site.clone())?;
    let offset: FixedOffset = a
        .utc_offset
        .parse()
        .with_context(|| format!("--utc-offset {:?} is not like +01:00", a.utc_offset))?;
    let mut cfg = config(&a.fleet, a.seed, a.interval_s, offset);
    let started = a.from.unwrap_or_else(Utc::now);
    cfg.alarm_at = match a.alarm_after_s {
        None => None,
        Some(s) => Some(
            i64::try_from(s)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .and_then(|d| started.checked_add_signed(d))
                .with_context(|| format!("--alarm-after-s {s} is too far in the future"))?,
        ),
    };
    let mut fleet = Fleet::new(cfg);
    let api_key = match &a.api_key_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading {}", p.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    // One connection per device, each with its own certificate and its
    // offline status as last will.
    let mut clients: HashMap<String, Conn> = HashMap::new();
    for d in fleet.devices() {
        let id = DeviceId::new(d.id.clone())?;
        let tls = TlsFiles {
            ca: a.certs.join("ca.pem"),
            cert: a.certs.join(format!("{id}.pem")),
            key: a.certs.join(format!("{id}.key")),
        };
        let mut o = MqttOptions::new(id.as_str(), a.broker_host.clone(), a.broker_port);
        o.set_transport(
            tls.transport()
                .with_context(|| format!("certificate of {id}"))?,
        )
        .set_keep_alive(Duration::from_secs(15))
        .set_last_will(LastWill::new(
            topic::device(&site, d.kind.as_str(), &id, DeviceChannel::Status),
            serde_json::to_vec(
                &serde_json::json!({"schema": 1, "ts": Utc::now(), "state": "offline"}),
            )?,
            QoS::AtLeastOnce,
            true,
            None,
        ));
        let (client, mut eventloop) = AsyncClient::new(o, 256);
        let acked = Arc::new(AtomicU64::new(0));
        let name = d.id.clone();
        let counted = acked.clone();
        // Polls until the connection closes after this client's
        // DISCONNECT (so what was written before it is flushed), counting
        // the broker's acknowledgements.
        let task = tokio::spawn(async move {
            use rumqttc::v5::{Event, mqttbytes::v5::Packet};
            let mut leaving = false;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => leaving = true,
                    Ok(Event::Incoming(Packet::Disconnect(_))) => return,
                    Ok(_) => {}
                    Err(_) if leaving => return,
                    Err(e) => {
                        tracing::warn!(device = %name, error = %e, "broker connection; retrying");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        });
        clients.insert(
            d.id.clone(),
            Conn {
                client,
                sent: Arc::new(AtomicU64::new(0)),
                acked,
                task,
            },
        );
    }
    let send = |pubs: Vec<central::systems::sim::Publication>, clients: &HashMap<String, Conn>| {
        let site = site.clone();
        let conns: Vec<(String, AsyncClient, Arc<AtomicU64>)> = clients
            .iter()
            .map(|(id, c)| (id.clone(), c.client.clone(), c.sent.clone()))
            .collect();
        async move {
            for p in pubs {
                let Some((_, c, sent)) = conns.iter().find(|(id, _, _)| *id == p.device) else {
                    continue;
                };
                let id = DeviceId::new(p.device.clone())?;
                let t = topic::device(&site, p.kind.as_str(), &id, p.channel);
                c.publish(
                    t,
                    QoS::AtLeastOnce,
                    p.retain,
                    serde_json::to_vec(&p.payload)?,
                )
                .await?;
                sent.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }
    };
    send(fleet.hello(started), &clients).await?;
    if let (Some(from), Some(ticks)) = (a.from, a.ticks) {
        for i in 0..ticks {
            let at = from + chrono::Duration::seconds(i64::from(i) * i64::from(a.interval_s));
            send(fleet.tick(at, None), &clients).await?;
        }
        println!(
            "atrium-iot-sim: replayed {ticks} ticks of {} devices from {from}",
            clients.len()
        );
        return finish(clients).await;
    }
    println!(
        "atrium-iot-sim: {} devices of site {} publishing every {} s",
        clients.len(),
        a.site,
        a.interval_s
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let mut tick = tokio::time::interval(Duration::from_secs(u64::from(a.interval_s)));
    let stop_at = a
        .for_s
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        if stop_at.is_some_and(|t| tokio::time::Instant::now() >= t) {
            break;
        }
        let occupancy = match (&a.occupancy_url, &api_key) {
            (Some(url), Some(key)) => occupancy(&http, url, key).await,
            _ => None,
        };
        send(fleet.tick(Utc::now(), occupancy), &clients).await?;
    }
    finish(clients).await
}

/// A device's connection: its client, how many messages it sent and the
/// broker acknowledged, and the task polling it.
struct Conn {
    client: AsyncClient,
    sent: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// Waits until the broker has acknowledged everything each device sent,
/// then disconnects every device cleanly (no last will).
async fn finish(clients: HashMap<String, Conn>) -> anyhow::Result<()> {
    if clients.is_empty() {
        bail!("no devices");
    }
    let all_acked = || {
        clients
            .values()
            .all(|c| c.acked.load(Ordering::Relaxed) >= c.sent.load(Ordering::Relaxed))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !all_acked() {
        if tokio::time::Instant::now() > deadline {
            bail!("the broker did not acknowledge every message within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut tasks = Vec::new();
    for (id, c) in clients {
        if let Err(e) = c.client.disconnect().await {
            tracing::warn!(device = %id, error = %e, "no clean disconnect");
        }
        tasks.push(c.task);
    }
    if tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(tasks))
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close within 10 s");
    }
    Ok(())
}

/// People in view at every camera, summed; `None` when central cannot be
/// read (lighting then follows office hours).
async fn occupancy(http: &reqwest::Client, base: &str, key: &str) -> Option<u32> {
    let url = format!(
        "{}/api/v1/counting/current?per_page=1000",
        base.trim_end_matches('/')
    );
    let read = async {
        let v: serde_json::Value = http
            .get(&url)
            .header("X-API-Key", key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        anyhow::Ok(
            v["data"]
                .as_array()
                .map(|cams| {
                    cams.iter()
                        .filter_map(|c| c["in_view"].as_u64())
                        .sum::<u64>()
                })
                .unwrap_or(0),
        )
    };
    match read.await {
        Ok(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        Err(e) => {
            tracing::warn!(error = %e, "occupancy not read; lighting follows office hours");
            None
        }
    }
}
