//! What central's integration tests share: a real PostgreSQL (TimescaleDB +
//! pgvector) and a real Mosquitto with TLS, central started in-process on
//! them, an HTTP client, and event builders.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use atrium_proto::event::{Direction, EventBody};
use atrium_proto::topic::{self, CameraChannel};
use atrium_proto::{CameraId, Event, SiteId};
use atrium_testkit::{Mosquitto, Postgres, TestClient};
use central::server::Running;
use tempfile::TempDir;

pub mod faces;

pub const SITE: &str = "hq";

/// Database, broker, and a directory for central's files.
pub struct Stack {
    pub pg: Postgres,
    pub broker: Mosquitto,
    pub dir: TempDir,
}

impl Stack {
    pub async fn start() -> Self {
        let (pg, broker) = tokio::join!(Postgres::start(), Mosquitto::start());
        Self {
            pg: pg.expect("postgres"),
            broker: broker.expect("mosquitto"),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A configuration file for a central instance with `identity`
    /// (`central` or `central-2`), written and loaded like `serve` does.
    pub fn config(&self, identity: &str, extra_ingest: &str) -> central::config::Config {
        self.config_with(identity, extra_ingest, true)
    }

    /// As [`Stack::config`]; `secure_cookies = false` serves a browser over
    /// plain http.
    pub fn config_with(
        &self,
        identity: &str,
        extra_ingest: &str,
        secure_cookies: bool,
    ) -> central::config::Config {
        let tls = self.broker.identity(identity).unwrap();
        let text = format!(
            r#"
[database]
url = "{url}"
pool_size = 4

[broker]
host = "127.0.0.1"
port = {port}
ca_file = "{ca}"
cert_file = "{cert}"
key_file = "{key}"
client_id = "{identity}-test"

[http]
listen = "127.0.0.1:0"
secure_cookies = {secure_cookies}
max_body_bytes = 65536

[auth]
jwt_key_file = "{dir}/jwt.pem"

[ingest]
spool_dir = "{dir}/spool-{identity}"
{extra_ingest}

[faces]
models_dir = "{models}"
onnxruntime = "{ort}"
"#,
            models = atrium_testkit::workspace_root().join("models").display(),
            ort = atrium_testkit::onnxruntime_library().display(),
            url = self.pg.url(),
            port = self.broker.port(),
            ca = tls.ca.display(),
            cert = tls.cert.display(),
            key = tls.key.display(),
            dir = self.dir.path().display(),
        );
        let path = self.dir.path().join(format!("{identity}.toml"));
        std::fs::write(&path, text).unwrap();
        central::config::Config::load(&path).unwrap()
    }

    pub async fn central(&self, identity: &str, extra_ingest: &str) -> Running {
        self.start_central(self.config(identity, extra_ingest))
            .await
    }

    pub async fn start_central(&self, config: central::config::Config) -> Running {
        self.start_central_with_clock(config, atrium_clock::system())
            .await
    }

    /// As [`Stack::start_central`], reading the time from `clock`.
    pub async fn start_central_with_clock(
        &self,
        config: central::config::Config,
        clock: atrium_clock::SharedClock,
    ) -> Running {
        let running = central::server::start_with_clock(config, clock)
            .await
            .expect("central starts");
        // Ingest is usable once it is subscribed; wait on its own signal.
        wait_until(
            Duration::from_secs(20),
            "ingest connects to the broker",
            || {
                let s = running.state.ingest.broker_connected.clone();
                async move { s.load(std::sync::atomic::Ordering::Relaxed) }
            },
        )
        .await;
        running
    }

    pub async fn add_camera(&self, id: &str) {
        let db = self.pg.connect().await.unwrap();
        db.execute(
            "INSERT INTO sites (id, name) VALUES ($1, 'HQ') ON CONFLICT DO NOTHING",
            &[&SITE],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO cameras (id, site_id, name) VALUES ($1, $2, $1)",
            &[&id, &SITE],
        )
        .await
        .unwrap();
    }

    /// Registers a building-system device at the test site.
    pub async fn add_device(&self, id: &str, kind: &str, parent: Option<&str>) {
        let db = self.pg.connect().await.unwrap();
        db.execute(
            "INSERT INTO sites (id, name) VALUES ($1, 'HQ') ON CONFLICT DO NOTHING",
            &[&SITE],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO devices (id, site_id, kind, name, parent_id) VALUES ($1, $2, $3, $1, $4)",
            &[&id, &SITE, &kind, &parent],
        )
        .await
        .unwrap();
    }

    /// Publishes `v` as device `id` (its own certificate) on its `kind`
    /// topic's `channel` and waits for the broker's acknowledgement.
    pub async fn publish_device(&self, id: &str, kind: &str, channel: &str, v: &serde_json::Value) {
        let mut c = self.camera_client(id).await;
        assert!(
            c.publish_acked(
                &device_topic(kind, id, channel),
                serde_json::to_vec(v).unwrap()
            )
            .await
        );
    }

    /// Puts the test site in IANA time zone `zone` (it is created in UTC).
    pub async fn set_site_zone(&self, zone: &str) {
        let db = self.pg.connect().await.unwrap();
        db.execute("UPDATE sites SET timezone = $1", &[&zone])
            .await
            .unwrap();
    }

    /// Adds a user; returns the password.
    pub async fn add_user(&self, username: &str, role: &str) -> String {
        let pw = format!("{username}-secret-pw");
        let hash = central::auth::password::hash(&pw).unwrap();
        let db = self.pg.connect().await.unwrap();
        db.execute(
            "INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, $3, $4)",
            &[&uuid::Uuid::now_v7(), &username, &hash, &role],
        )
        .await
        .unwrap();
        pw
    }

    /// An MQTT client holding the camera's own certificate.
    pub async fn camera_client(&self, camera: &str) -> TestClient {
        let tls = self.broker.identity(camera).unwrap();
        let mut o = self
            .broker
            .options(&format!("{camera}-pub-{}", uuid::Uuid::now_v7()), &tls)
            .unwrap();
        o.set_inflight(200);
        TestClient::connect(o).await.expect("camera connects")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let db = self.pg.connect().await.unwrap();
        db.query_one(sql, &[]).await.unwrap().get(0)
    }
}

/// Polls `cond` (a real observation, not a timer) until true or `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let met = atrium_testkit::poll(limit, || {
        let checked = cond();
        async move { checked.await.then_some(()) }
    })
    .await;
    assert!(met.is_some(), "timed out waiting for: {what}");
}

/// `atrium/v1/hq/iot/{kind}/{device}/{channel}`.
pub fn device_topic(kind: &str, device: &str, channel: &str) -> String {
    format!("atrium/v1/{SITE}/iot/{kind}/{device}/{channel}")
}

pub fn event_topic(camera: &str) -> String {
    topic::camera(
        &SiteId::new(SITE).unwrap(),
        &CameraId::new(camera).unwrap(),
        CameraChannel::Event,
    )
}

pub fn status_topic(camera: &str) -> String {
    topic::camera(
        &SiteId::new(SITE).unwrap(),
        &CameraId::new(camera).unwrap(),
        CameraChannel::Status,
    )
}

pub fn event(camera: &str, body: EventBody) -> Event {
    Event::new(
        SiteId::new(SITE).unwrap(),
        CameraId::new(camera).unwrap(),
        chrono::Utc::now(),
        body,
    )
}

pub fn crossing(camera: &str, line: &str, dir: Direction, track: u64) -> Event {
    event(
        camera,
        EventBody::LineCrossed {
            line: line.into(),
            direction: dir,
            track,
        },
    )
}

pub fn json(e: &Event) -> Vec<u8> {
    serde_json::to_vec(e).unwrap()
}

/// Publishes every payload at QoS 1 on `topic` and waits for all PUBACKs.
pub async fn publish_all(client: &mut TestClient, topic: &str, payloads: &[Vec<u8>]) {
    for (i, p) in payloads.iter().enumerate() {
        assert!(
            client.publish_acked(topic, p.clone()).await,
            "publish {i} not acknowledged"
        );
    }
}

/// Publishes `events` from `camera`'s own certificate as fast as the
/// broker takes them (500 in flight); returns once every PUBACK is in.
pub async fn publish_fast(stack: &Stack, camera: &str, events: &[Event]) {
    let tls = stack.broker.identity(camera).unwrap();
    let mut o = stack
        .broker
        .options(&format!("{camera}-fast-{}", uuid::Uuid::now_v7()), &tls)
        .unwrap();
    o.set_inflight(500);
    let (client, mut el) = rumqttc::AsyncClient::new(o, 1000);
    let topic = event_topic(camera);
    let payloads: Vec<Vec<u8>> = events.iter().map(json).collect();
    let n = payloads.len();
    let publisher = tokio::spawn(async move {
        for p in payloads {
            client
                .publish(&topic, rumqttc::QoS::AtLeastOnce, false, p)
                .await
                .unwrap();
        }
        client
    });
    let mut acked = 0;
    while acked < n {
        match el.poll().await {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(e) => panic!("{camera} publisher lost the broker: {e}"),
        }
    }
    publisher.await.unwrap();
}

/// An HTTP client of one central.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(running: &Running) -> Self {
        Self {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in (token mode) from the user's own machine: a loopback
    /// address of its own per user name, as staff log in from their own
    /// computers (the login budget is 5 a minute per address); returns the
    /// body.
    pub async fn login(&self, user: &str, pw: &str) -> serde_json::Value {
        let r = machine_of(user)
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": user, "password": pw}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login of {user}");
        r.json().await.unwrap()
    }

    pub async fn token(&self, user: &str, pw: &str) -> String {
        self.login(user, pw).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// GET with a bearer token: (status, JSON body).
    pub async fn get(&self, path: &str, token: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// An HTTP client whose connections come from a loopback address of
/// `user`'s own (127.0.x.y, the same for the same name).
pub fn machine_of(user: &str) -> reqwest::Client {
    let h = user
        .bytes()
        .fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
    let addr = std::net::Ipv4Addr::new(127, 0, (h >> 8) as u8 % 250 + 2, h as u8 % 250 + 2);
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(addr))
        .build()
        .unwrap()
}

/// Asserts the planning document's error format.
pub fn assert_error(body: &serde_json::Value, status: u16, code: &str, path: &str) {
    let e = &body["error"];
    assert_eq!(e["status"], status, "{body}");
    assert_eq!(e["code"], code, "{body}");
    assert_eq!(e["path"], path, "{body}");
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        e["timestamp"]
            .as_str()
            .is_some_and(|t| t.parse::<chrono::DateTime<chrono::Utc>>().is_ok()),
        "{body}"
    );
}

/// `central admin --database-url URL ARGS…`: whether it succeeded, and
/// what it printed (stdout then stderr).
pub fn admin_cli(url: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_central"))
        .args(["admin", "--database-url", url])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A screenshot of the page as `name`, and axe-core finding no serious
/// or critical accessibility violation on it.
pub async fn check_view(c: &fantoccini::Client, name: &str) {
    let shot = atrium_testkit::webui::screenshot(c, name).await;
    let report = atrium_testkit::webui::axe(c).await;
    assert!(
        report.serious.is_empty(),
        "{name}: serious or critical accessibility violations (screenshot {}):\n{:#?}",
        shot.display(),
        report.serious
    );
}
