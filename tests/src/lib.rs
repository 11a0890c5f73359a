//! Helpers for end-to-end tests that run Atrium's binaries against real
//! services from `atrium-testkit`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support fails loudly

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atrium_mqtt::TlsFiles;
use atrium_proto::Event;

/// Path of a workspace binary (`edge-agent`, `central`) built beside the
/// running test, in `target/<profile>/`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // Tests: target/<profile>/deps/<test>-<hash>; binaries (the demo):
    // target/<profile>/<bin>. Either way, target/<profile>/<name>.
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir.join(name)
}

/// A command for one of our binaries, in its own process group when the
/// caller asked for detached servers (the demo).
fn our_command(name: &str) -> Command {
    let mut c = Command::new(binary(name));
    if let Some(g) = atrium_testkit::process::process_group() {
        std::os::unix::process::CommandExt::process_group(&mut c, g);
    }
    c
}

/// What an edge agent's configuration needs from a test.
#[derive(Debug, Clone)]
pub struct EdgeSetup {
    pub camera: String,
    pub site: String,
    pub url: String,
    pub broker_port: u16,
    pub tls: TlsFiles,
    /// More TOML appended verbatim (lines, zones, [faces] …).
    pub extra: String,
    /// Top-level `[section]` bodies that replace defaults, e.g.
    /// ("faces", "enabled = false").
    pub sections: Vec<(String, String)>,
}

impl EdgeSetup {
    pub fn new(camera: &str, url: &str, broker_port: u16, tls: TlsFiles) -> Self {
        Self {
            camera: camera.into(),
            site: "hq".into(),
            url: url.into(),
            broker_port,
            tls,
            extra: String::new(),
            sections: Vec::new(),
        }
    }

    pub fn section(mut self, name: &str, body: &str) -> Self {
        self.sections.push((name.into(), body.into()));
        self
    }

    pub fn extra(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    /// Writes `edge.toml` into `dir` (the spool lives in `dir/spool`).
    pub fn write(&self, dir: &Path) -> PathBuf {
        let root = atrium_testkit::workspace_root();
        let section = |name: &str, default: &str| -> String {
            self.sections
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, b)| b.clone())
                .next()
                .unwrap_or_else(|| default.to_owned())
        };
        let text = format!(
            r#"
[camera]
id = "{camera}"
site = "{site}"
url = "{url}"
stall_timeout_s = 5
reconnect_initial_s = 1
reconnect_max_s = 4
{camera_extra}

[detector]
models_dir = "{models}"
onnxruntime = "{ort}"
{detector}

[faces]
{faces}

[broker]
host = "127.0.0.1"
port = {port}
ca_file = "{ca}"
cert_file = "{cert}"
key_file = "{key}"
heartbeat_s = 1
keep_alive_s = 5

[spool]
dir = "{spool}"
journal = true
fsync_ms = 50
{spool_extra}

[http]
listen = "127.0.0.1:0"

[adaptive]
{adaptive}

{extra}
"#,
            camera = self.camera,
            site = self.site,
            url = self.url,
            camera_extra = section("camera", ""),
            models = root.join("models").display(),
            ort = atrium_testkit::onnxruntime_library().display(),
            detector = section("detector", ""),
            faces = section("faces", "enabled = false"),
            port = self.broker_port,
            ca = self.tls.ca.display(),
            cert = self.tls.cert.display(),
            key = self.tls.key.display(),
            spool = dir.join("spool").display(),
            spool_extra = section("spool", ""),
            adaptive = section("adaptive", "enabled = false"),
            extra = self.extra,
        );
        let path = dir.join("edge.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// A running `edge-agent run`; killed on drop.
#[derive(Debug)]
pub struct EdgeAgent {
    pub config: PathBuf,
    pub dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    starts: u32,
}

impl EdgeAgent {
    /// Starts the agent with `config` (in `dir`).
    pub fn start(dir: &Path, config: &Path) -> Self {
        let mut a = Self {
            config: config.to_owned(),
            dir: dir.to_owned(),
            child: None,
            log: dir.join("edge.log"),
            starts: 0,
        };
        a.spawn(&[]);
        a
    }

    fn spawn(&mut self, extra: &[&str]) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = our_command("edge-agent")
            .args(["--log-format", "json", "run", "--config"])
            .arg(&self.config)
            .args(extra)
            .env("RUST_LOG", "info,edge_agent=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("edge-agent binary (cargo builds it for the atrium-tests crate)");
        self.child = Some(child);
    }

    /// Starts again after `kill9` or `stop`.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "agent still running");
        self.spawn(&[]);
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (up to 30 s) for a clean exit; returns its status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    /// Waits for the process to exit by itself.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let c = self.child.as_mut()?;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                self.child = None;
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `produced.log`: (seq, event id, type) of every event the agent made.
    pub fn journal(&self) -> Vec<(u64, String, String)> {
        let text = std::fs::read_to_string(self.dir.join("spool/produced.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut p = l.split(' ');
                let seq = p.next()?.parse().ok()?;
                let id = p.next()?.to_owned();
                let kind = p.next()?.to_owned();
                Some((seq, id, kind))
            })
            .collect()
    }

    /// The address of its `/health` and `/metrics`.
    pub fn http_addr(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("spool/http.addr")).ok()
    }
}

impl Drop for EdgeAgent {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Everything a subscriber saw on camera topics.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Events in arrival order.
    pub events: Vec<Event>,
    /// Status messages in arrival order.
    pub statuses: Vec<atrium_proto::Status>,
    /// Payloads on event topics that did not parse.
    pub bad: Vec<String>,
}

/// Subscribes as `central` to every camera topic and collects what arrives
/// on a task; `snapshot` copies what was seen so far.
#[derive(Debug)]
pub struct Observer {
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    pub async fn start(broker: &atrium_testkit::Mosquitto) -> Self {
        let tls = broker.identity("central").unwrap();
        let mut opts = broker.options("observer", &tls).unwrap();
        // A persistent session: the broker keeps the subscription and queues
        // messages while the observer reconnects after a broker restart.
        opts.set_clean_session(false);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 1000);
        client
            .subscribe("atrium/v1/+/cam/+/event", rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        client
            .subscribe("atrium/v1/+/cam/+/status", rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let s = seen.clone();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut subacks = 0;
            let mut connacks = 0;
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack))) => {
                        connacks += 1;
                        if connacks > 1 && !ack.session_present {
                            let _ = client.try_subscribe(
                                "atrium/v1/+/cam/+/event",
                                rumqttc::QoS::AtLeastOnce,
                            );
                            let _ = client.try_subscribe(
                                "atrium/v1/+/cam/+/status",
                                rumqttc::QoS::AtLeastOnce,
                            );
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        subacks += 1;
                        if subacks == 2
                            && let Some(r) = ready.take()
                        {
                            let _ = r.send(());
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        let mut g = s.lock().unwrap();
                        if p.topic.ends_with("/status") {
                            if let Ok(st) = serde_json::from_slice(&p.payload) {
                                g.statuses.push(st);
                            }
                        } else {
                            match serde_json::from_slice::<Event>(&p.payload) {
                                Ok(e) => g.events.push(e),
                                Err(e) => g
                                    .bad
                                    .push(format!("{e}: {}", String::from_utf8_lossy(&p.payload))),
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .unwrap()
            .unwrap();
        Self { seen, task }
    }

    pub fn snapshot(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Polls until `pred` holds for what was seen (or `limit` passes);
    /// returns the last snapshot.
    pub async fn wait_for(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&Seen) -> bool,
    ) -> (bool, Seen) {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.snapshot();
            if pred(&s) {
                return (true, s);
            }
            if Instant::now() >= deadline {
                return (false, s);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs `central ARGS…` to completion; returns stdout, panics with stderr
/// on failure.
pub fn central_cli(args: &[&str]) -> String {
    let out = Command::new(binary("central"))
        .args(args)
        .output()
        .expect("central binary (cargo builds it for the atrium-tests crate)");
    assert!(
        out.status.success(),
        "central {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a `central serve` needs from a test or the demo.
#[derive(Debug, Clone)]
pub struct CentralSetup {
    pub database_url: String,
    pub broker_port: u16,
    pub tls: TlsFiles,
    /// `127.0.0.1:0` picks a free port.
    pub listen: String,
    pub secure_cookies: bool,
}

impl CentralSetup {
    /// Writes `central.toml` into `dir`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let text = format!(
            r#"[database]
url = "{db}"

[broker]
host = "127.0.0.1"
port = {port}
ca_file = "{ca}"
cert_file = "{cert}"
key_file = "{key}"
client_id = "central-{pid}"

[http]
listen = "{listen}"
secure_cookies = {secure}

[auth]
jwt_key_file = "{dir}/jwt.pem"

[ingest]
spool_dir = "{dir}/ingest-spool"

[faces]
models_dir = "{models}"
onnxruntime = "{ort}"
"#,
            models = atrium_testkit::workspace_root().join("models").display(),
            ort = atrium_testkit::onnxruntime_library().display(),
            db = self.database_url,
            port = self.broker_port,
            ca = self.tls.ca.display(),
            cert = self.tls.cert.display(),
            key = self.tls.key.display(),
            pid = std::process::id(),
            listen = self.listen,
            secure = self.secure_cookies,
            dir = dir.display(),
        );
        let path = dir.join("central.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// A running `central serve`; stopped (SIGTERM) on drop.
#[derive(Debug)]
pub struct CentralServer {
    /// `http://host:port`.
    pub base: String,
    child: Option<Child>,
    log: PathBuf,
}

impl CentralServer {
    /// Starts it and waits for its "listening" line (up to 60 s: the first
    /// start creates the JWT key).
    pub fn start(dir: &Path, config: &Path) -> Self {
        use std::io::BufRead;
        let log = dir.join("central.log");
        let err = std::fs::File::create(&log).unwrap();
        let mut child = our_command("central")
            .args(["--log-format", "json", "serve", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("central binary (cargo builds it for the atrium-tests crate)");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(url) = line.strip_prefix("central listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => Self {
                base,
                child: Some(child),
                log,
            },
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "central did not start; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        c.wait().ok()
    }
}

impl Drop for CentralServer {
    fn drop(&mut self) {
        self.stop();
    }
}
