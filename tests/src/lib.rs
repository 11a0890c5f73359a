//! Helpers for end-to-end tests that run Atrium's binaries against real
//! services from `atrium-testkit`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support fails loudly

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atrium_mqtt::TlsFiles;
use atrium_proto::Event;

/// Path of a workspace binary (`edge-agent`, `central`) built beside the
/// running test, in `target/<profile>/`. The first call in a test process
/// runs `cargo test --workspace --no-run` for that profile, the build the
/// test runner itself does (so a no-op under `scripts/test`, and no
/// rebuild with other features), so a test never runs a stale binary.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // Tests: target/<profile>/deps/<test>-<hash>; binaries (the demo):
    // target/<profile>/<bin>. Either way, target/<profile>/<name>.
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
        ensure_built(&dir);
    }
    dir.join(name)
}

/// Whether `key` is one of the variables the test runner sets for a test
/// process (cargo's "environment variables Cargo sets for crates", which
/// nextest sets too).
fn runner_set(key: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"]
        .iter()
        .any(|prefix| key.starts_with(prefix))
        || matches!(
            key,
            "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// Builds the workspace's binaries once per test process. `cargo test
/// --no-run` rather than `cargo build --bins`: the test build unifies
/// dev-dependency features, so the two would rebuild each other's
/// binaries.
fn ensure_built(profile_dir: &Path) {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["test", "--workspace", "--no-run", "--locked", "--quiet"])
            .current_dir(atrium_testkit::workspace_root());
        // The variables the test runner sets for a test process describe
        // this test crate, not the build: build scripts that declare them
        // with `rerun-if-env-changed` (ring's: CARGO_PKG_NAME,
        // CARGO_MANIFEST_DIR) would see them change, and cargo would
        // rebuild ring and all above it (central, the agent, every test)
        // under the running suite.
        for (key, _) in std::env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            if runner_set(key) {
                cmd.env_remove(key);
            }
        }
        let profile = profile_dir
            .file_name()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if profile == "release" {
            cmd.arg("--release");
        } else if profile != "debug" {
            cmd.args(["--profile", &profile]);
        }
        if let Some(target) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        let out = cmd.output().expect("running cargo to build the binaries");
        assert!(
            out.status.success(),
            "cargo test --workspace --no-run failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// A command for one of our binaries, in its own process group when the
/// caller asked for detached servers (the demo).
/// glibc's malloc setting the edge's systemd unit sets
/// (systemd/edge-agent@.service): agents in tests and the demo run as
/// installed.
pub const EDGE_MMAP_THRESHOLD: &str = "262144";

/// SIGKILL and reap a child process. A child that already exited is
/// reaped all the same; a failure to signal or reap it is reported, not
/// fatal (the test's own assertions say what matters).
fn kill_and_reap(name: &str, mut child: Child) {
    if let Err(e) = child.kill() {
        eprintln!("{name}: kill: {e}");
    }
    if let Err(e) = child.wait() {
        eprintln!("{name}: wait: {e}");
    }
}

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
    /// The broker's address (default 127.0.0.1).
    pub broker_host: String,
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
            broker_host: "127.0.0.1".into(),
            tls,
            extra: String::new(),
            sections: Vec::new(),
        }
    }

    /// Connects to the broker at `host` instead of 127.0.0.1.
    pub fn broker_host(mut self, host: &str) -> Self {
        self.broker_host = host.into();
        self
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
host = "{host}"
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
            host = self.broker_host,
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
        Self::start_with(dir, config, &[])
    }

    /// Starts the agent with more `run` arguments (e.g. `--exit-at-end`).
    pub fn start_with(dir: &Path, config: &Path, args: &[&str]) -> Self {
        let mut a = Self {
            config: config.to_owned(),
            dir: dir.to_owned(),
            child: None,
            log: dir.join("edge.log"),
            starts: 0,
        };
        a.spawn(args);
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
            // As systemd/edge-agent@.service runs it.
            .env("MALLOC_MMAP_THRESHOLD_", EDGE_MMAP_THRESHOLD)
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
        if let Some(c) = self.child.take() {
            kill_and_reap("process", c);
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
    /// The MQTT client id (the broker keeps the session under it); `None`:
    /// `central-<test pid>`.
    pub client_id: Option<String>,
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
client_id = "{client_id}"

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
            client_id = self
                .client_id
                .clone()
                .unwrap_or_else(|| format!("central-{}", std::process::id())),
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
    config: PathBuf,
}

impl CentralServer {
    /// Starts it and waits for its "listening" line (up to 60 s: the first
    /// start creates the JWT key).
    pub fn start(dir: &Path, config: &Path) -> Self {
        let mut s = Self {
            base: String::new(),
            child: None,
            log: dir.join("central.log"),
            config: config.to_owned(),
        };
        s.spawn();
        s
    }

    /// Starts it again after [`CentralServer::kill9`] or `stop`, with the
    /// same configuration (the HTTP port may change).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "central still running");
        self.spawn();
    }

    /// SIGKILL: no chance to finish a batch or say goodbye.
    pub fn kill9(&mut self) {
        if let Some(c) = self.child.take() {
            kill_and_reap("process", c);
        }
    }

    /// One sample of `GET /metrics` (`None`: not served or not there).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        metric_at(&format!("{}/metrics", self.base), name).await
    }

    fn spawn(&mut self) {
        use std::io::BufRead;
        let log = self.log.clone();
        let config = self.config.clone();
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = our_command("central")
            .args(["--log-format", "json", "serve", "--config"])
            .arg(&config)
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
            Ok(base) => {
                self.base = base;
                self.child = Some(child);
            }
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

/// A running `edge-agent relay`: the test writes events (one JSON object a
/// line) and the agent answers `spooled <id>` once its spool holds each
/// one. Killed on drop.
#[derive(Debug)]
pub struct RelayAgent {
    pub config: PathBuf,
    pub dir: PathBuf,
    netns: Option<String>,
    child: Option<tokio::process::Child>,
    stdin: Option<tokio::process::ChildStdin>,
    answers: tokio::sync::mpsc::UnboundedReceiver<String>,
    log: PathBuf,
}

impl RelayAgent {
    /// Starts `edge-agent relay --config CONFIG`, inside the network
    /// namespace `netns` if given.
    pub fn start(dir: &Path, config: &Path, netns: Option<&atrium_testkit::NetNs>) -> Self {
        let (_tx, answers) = tokio::sync::mpsc::unbounded_channel();
        let mut a = Self {
            config: config.to_owned(),
            dir: dir.to_owned(),
            netns: netns.map(|n| n.name().to_owned()),
            child: None,
            stdin: None,
            answers,
            log: dir.join("relay.log"),
        };
        a.spawn();
        a
    }

    fn spawn(&mut self) {
        use tokio::io::AsyncBufReadExt;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = tokio::process::Command::new("ip");
                c.args(["netns", "exec", ns]).arg(binary("edge-agent"));
                c
            }
            None => tokio::process::Command::new(binary("edge-agent")),
        };
        let mut child = cmd
            .args(["--log-format", "json", "relay", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info,edge_agent=debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("edge-agent binary");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        self.stdin = child.stdin.take();
        self.answers = rx;
        self.child = Some(child);
    }

    /// Writes one line; false if the agent is gone.
    pub async fn send(&mut self, line: &str) -> bool {
        use tokio::io::AsyncWriteExt;
        let Some(stdin) = &mut self.stdin else {
            return false;
        };
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        stdin.write_all(&bytes).await.is_ok() && stdin.flush().await.is_ok()
    }

    /// The next answer line, or `None` after `limit` (or when the agent is
    /// gone).
    pub async fn answer(&mut self, limit: Duration) -> Option<String> {
        tokio::time::timeout(limit, self.answers.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next answer (cancel-safe; `None` once the agent's output ends,
    /// e.g. after `kill9` until `restart`).
    pub async fn next_answer(&mut self) -> Option<String> {
        self.answers.recv().await
    }

    /// Sends `line` and waits for its answer.
    pub async fn send_and_answer(&mut self, line: &str) -> Option<String> {
        if !self.send(line).await {
            return None;
        }
        self.answer(Duration::from_secs(10)).await
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub async fn kill9(&mut self) {
        self.stdin = None;
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Closes the input, SIGTERMs the agent and waits for it to exit.
    pub async fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.stdin = None;
        let mut c = self.child.take()?;
        if let Some(pid) = c.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(Duration::from_secs(30), c.wait()).await {
            Ok(s) => s.ok(),
            Err(_) => {
                let _ = c.kill().await;
                None
            }
        }
    }

    /// Starts again after `kill9` or `stop`.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "relay still running");
        self.spawn();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The address of its `/health` and `/metrics` (outside a namespace).
    pub fn http_addr(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("spool/http.addr")).ok()
    }

    /// One sample of the agent's `/metrics` (outside a namespace).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        metric_at(&format!("http://{}/metrics", self.http_addr()?), name).await
    }

    /// The agent's `/health` JSON (outside a namespace).
    pub async fn health(&self) -> Option<serde_json::Value> {
        reqwest::get(format!("http://{}/health", self.http_addr()?))
            .await
            .ok()?
            .json()
            .await
            .ok()
    }
}

/// One sample from a Prometheus text endpoint (`None`: not served or not
/// there). `name` includes labels as exposed, e.g. `x_total{kind="a"}`.
pub async fn metric_at(url: &str, name: &str) -> Option<f64> {
    let body = reqwest::get(url).await.ok()?.text().await.ok()?;
    body.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A simulated device as `atrium-iot-sim devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimDevice {
    pub id: String,
    pub kind: String,
    pub parent: Option<String>,
    pub floor: i32,
    pub name: String,
    pub location: String,
}

/// `atrium-iot-sim` as the demo and the tests run it: its devices
/// registered with `central admin device add`, a certificate for each from
/// the broker's CA, and the simulator publishing.
#[derive(Debug)]
pub struct IotSim {
    child: Option<Child>,
    pub log: PathBuf,
    pub devices: Vec<SimDevice>,
}

impl IotSim {
    /// The simulated building's devices (`--meters` power meters).
    pub fn devices(meters: usize) -> Vec<SimDevice> {
        let out = Command::new(binary("atrium-iot-sim"))
            .args(["devices", "--meters", &meters.to_string()])
            .output()
            .expect("atrium-iot-sim (cargo builds it with the workspace)");
        assert!(
            out.status.success(),
            "atrium-iot-sim devices: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                assert_eq!(f.len(), 6, "atrium-iot-sim devices line {l:?}");
                SimDevice {
                    id: f[0].to_owned(),
                    kind: f[1].to_owned(),
                    parent: (f[2] != "-").then(|| f[2].to_owned()),
                    floor: f[3].parse().expect("a floor number"),
                    name: f[4].to_owned(),
                    location: f[5].to_owned(),
                }
            })
            .collect()
    }

    /// Registers the devices at `site` (parents first, as listed) and
    /// starts the simulator with `args` after the connection settings;
    /// its log is `dir/iot-sim.log`.
    pub fn start(
        dir: &Path,
        database_url: &str,
        site: &str,
        broker: &atrium_testkit::Mosquitto,
        meters: usize,
        args: &[&str],
    ) -> Self {
        let devices = Self::devices(meters);
        let certs = dir.join("iot-certs");
        std::fs::create_dir_all(&certs).expect("the certificates' directory");
        for d in &devices {
            let floor = d.floor.to_string();
            let mut a = vec![
                "admin",
                "--database-url",
                database_url,
                "device",
                "add",
                "--id",
                &d.id,
                "--site",
                site,
                "--kind",
                &d.kind,
                "--name",
                &d.name,
                "--floor",
                &floor,
                "--location",
                &d.location,
            ];
            if let Some(p) = &d.parent {
                a.extend(["--parent", p.as_str()]);
            }
            central_cli(&a);
            let tls = broker.identity(&d.id).expect("a device certificate");
            for (from, to) in [
                (&tls.ca, certs.join("ca.pem")),
                (&tls.cert, certs.join(format!("{}.pem", d.id))),
                (&tls.key, certs.join(format!("{}.key", d.id))),
            ] {
                std::fs::copy(from, &to).expect("copying a certificate");
            }
        }
        let log = dir.join("iot-sim.log");
        let err = std::fs::File::create(&log).expect("the simulator's log");
        let out = err.try_clone().expect("the simulator's log");
        let child = our_command("atrium-iot-sim")
            .args(["--log-format", "json", "run", "--site", site])
            .args(["--meters", &meters.to_string()])
            .args(["--broker-port", &broker.port().to_string(), "--certs"])
            .arg(&certs)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("atrium-iot-sim");
        Self {
            child: Some(child),
            log,
            devices,
        }
    }

    /// SIGKILL: the simulator holds nothing to flush (its devices' last
    /// wills then say offline).
    pub fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            kill_and_reap("atrium-iot-sim", c);
        }
    }
}

impl Drop for IotSim {
    fn drop(&mut self) {
        self.stop();
    }
}
