//! Alerting against a real central, PostgreSQL, Mosquitto (TLS), an HTTP
//! webhook receiver and an SMTP server (aiosmtpd, STARTTLS required),
//! with the camera-offline schedule shortened to seconds:
//!
//! - a camera reported offline fires a warning, rises to critical, and
//!   resolves when it is back; a webhook receives each change signed
//!   (checked with an HMAC computed here), and its first refusal is
//!   retried with the same delivery id;
//! - two central instances: one evaluates, each change is notified once,
//!   acknowledging stops escalation, and the other instance takes over
//!   when the first stops;
//! - e-mail to the recipients of each severity, the CLI's test
//!   notification, and a failing channel in `/health` and `/metrics`;
//! - a silence withholds notifications and, once removed, the alert still
//!   firing is announced; the API's errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use support::*;

const SECRET: &str = "a shared secret, 32 characters!";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    delivery: String,
    timestamp: String,
    signature: String,
    body: Value,
    raw: Vec<u8>,
    answered: u16,
    at: Instant,
}

/// An HTTP server standing in for an on-call tool: answers 500 to the
/// first `refuse` requests, 200 after.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(refuse: usize) -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let store = store.clone();
                async move {
                    let mut g = store.lock().unwrap();
                    let answered = if g.len() < refuse { 500 } else { 200 };
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    g.push(Received {
                        delivery: h("x-atrium-delivery"),
                        timestamp: h("x-atrium-timestamp"),
                        signature: h("x-atrium-signature"),
                        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        raw: body.to_vec(),
                        answered,
                        at: Instant::now(),
                    });
                    StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, got }
    }

    fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The accepted deliveries' changes (`fired`, `severity_raised`, …).
    fn accepted(&self) -> Vec<String> {
        self.all()
            .iter()
            .filter(|r| r.answered == 200)
            .map(|r| r.body["change"]["what"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

/// The signature the receiver expects, computed here independently.
fn expected_signature(timestamp: &str, raw: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(raw);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A config evaluating every 200 ms, with camera-offline at 1 s warning,
/// `critical_s` critical and `escalate_s` escalated.
fn fast(
    stack: &Stack,
    identity: &str,
    critical_s: u64,
    escalate_s: u64,
) -> central::config::Config {
    let mut c = stack.config(identity, "");
    c.alerts.every_ms = 200;
    c.alerts.delivery_poll_ms = 200;
    c.alerts.thresholds.camera_offline = central::alerts::OfflineThresholds {
        warning_s: 1,
        critical_s,
        escalate_s,
    };
    c
}

/// Publishes a camera status as the camera's edge agent.
async fn camera_state(stack: &Stack, camera: &str, state: &str, reason: Option<&str>) {
    let mut c = stack.camera_client(camera).await;
    let status = json!({"schema": 1, "ts": Utc::now(), "site": SITE, "camera": camera,
                        "state": state, "reason": reason, "spool_fill": 0.0, "load_level": 0});
    publish_all(
        &mut c,
        &status_topic(camera),
        &[serde_json::to_vec(&status).unwrap()],
    )
    .await;
}

async fn admin(stack: &Stack, api: &Api) -> String {
    let pw = stack.add_user("ada", "admin").await;
    api.token("ada", &pw).await
}

async fn add_webhook(api: &Api, token: &str, name: &str, url: &str, route: Value) {
    let (s, body) = api
        .send(
            Method::POST,
            "/api/v1/alerts/channels",
            token,
            json!({"name": name, "route": route, "webhook": {"url": url, "secret": SECRET}}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["webhook"]["has_secret"], true, "{body}");
    assert!(
        body["webhook"].get("secret").is_none(),
        "secret shown: {body}"
    );
}

/// The open alerts of `rule`.
async fn open_alerts(api: &Api, token: &str, rule: &str) -> Vec<Value> {
    let (s, body) = api.get(&format!("/api/v1/alerts?rule={rule}"), token).await;
    assert_eq!(s, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_camera_fires_rises_and_resolves_with_signed_retried_webhooks() {
    let stack = Stack::start().await;
    stack.add_camera("cam-a").await;
    let central = stack.start_central(fast(&stack, "central", 3, 3600)).await;
    let api = Api::new(&central);
    let token = admin(&stack, &api).await;
    // The receiver refuses the first request: it must come again.
    let hook = Receiver::start(1).await;
    add_webhook(&api, &token, "oncall", &hook.url, json!({})).await;

    camera_state(&stack, "cam-a", "online", None).await;
    let lost = Instant::now();
    camera_state(
        &stack,
        "cam-a",
        "offline",
        Some("no frames from the camera"),
    )
    .await;

    wait_until(Duration::from_secs(30), "fired, then raised to critical, delivered", || {
        let a = hook.accepted();
        async move { a.contains(&"fired".to_owned()) && a.contains(&"severity_raised".to_owned()) }
    })
    .await;
    let first = hook.all().first().cloned().unwrap();
    eprintln!(
        "camera loss to first webhook attempt: {:.2} s (warning at 1 s, evaluation every 0.2 s)",
        (first.at - lost).as_secs_f64()
    );
    let got = hook.all();
    // The refused first delivery came again, same id, after the back-off.
    assert_eq!(got[0].answered, 500);
    let again: Vec<&Received> = got
        .iter()
        .filter(|r| r.delivery == first.delivery)
        .collect();
    assert!(again.len() >= 2, "not retried: {got:?}");
    assert_eq!(again.last().unwrap().answered, 200);
    for r in &got {
        assert_eq!(
            r.signature,
            expected_signature(&r.timestamp, &r.raw),
            "{r:?}"
        );
        assert!(
            r.body["text"]
                .as_str()
                .unwrap()
                .contains("camera cam-a offline"),
            "{r:?}"
        );
        assert_eq!(r.body["alert"]["rule"], "camera_offline");
        assert_eq!(r.body["alert"]["subject"]["id"], "cam-a");
        assert_eq!(r.body["delivery_id"].to_string(), r.delivery);
    }
    let fired = got
        .iter()
        .find(|r| r.body["change"]["what"] == "fired")
        .unwrap();
    assert_eq!(fired.body["change"]["severity"], "warning");
    assert!(
        fired.body["text"]
            .as_str()
            .unwrap()
            .starts_with("[WARNING] fired")
    );
    let raised = got
        .iter()
        .find(|r| r.body["change"]["what"] == "severity_raised")
        .unwrap();
    assert_eq!(raised.body["change"]["severity"], "critical");

    // One alert however often the camera was seen offline.
    let open = open_alerts(&api, &token, "camera_offline").await;
    assert_eq!(open.len(), 1, "{open:?}");
    let id = open[0]["id"].as_i64().unwrap();
    assert_eq!(open[0]["state"], "firing");
    assert_eq!(open[0]["severity"], "critical");
    let (s, detail) = api.get(&format!("/api/v1/alerts/{id}"), &token).await;
    assert_eq!(s, 200, "{detail}");
    let whats: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["what"].as_str().unwrap())
        .collect();
    assert_eq!(whats, ["fired", "severity_raised"], "{detail}");
    let log = detail["deliveries"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{detail}");
    assert!(log.iter().all(|d| d["status"] == "sent"), "{detail}");
    assert_eq!(log[0]["attempts"], 2, "{detail}");

    // Back online: resolved by central (two good looks), and notified.
    camera_state(&stack, "cam-a", "online", None).await;
    wait_until(Duration::from_secs(20), "resolved and delivered", || {
        let a = hook.accepted();
        async move { a.contains(&"resolved".to_owned()) }
    })
    .await;
    assert!(open_alerts(&api, &token, "camera_offline").await.is_empty());
    let (_, detail) = api.get(&format!("/api/v1/alerts/{id}"), &token).await;
    assert_eq!(detail["state"], "resolved");
    assert_eq!(detail["resolved"]["by"], Value::Null, "{detail}");

    // The retry is counted.
    let metrics = reqwest::get(format!("http://{}/metrics", central.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "atrium_central_alert_deliveries_total{channel=\"oncall\",outcome=\"retry\"} 1",
        "atrium_central_alert_deliveries_total{channel=\"oncall\",outcome=\"sent\"} 3",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_notify_once_acknowledging_stops_escalation_and_one_takes_over() {
    let stack = Stack::start().await;
    stack.add_camera("cam-b").await;
    // Warning at 1 s, critical at 2 s, escalated at 8 s: unless acked
    // (well before 8 s, even on a slow machine).
    let one = stack.start_central(fast(&stack, "central", 2, 8)).await;
    let two = stack.start_central(fast(&stack, "central-2", 2, 8)).await;
    let api1 = Api::new(&one);
    let api2 = Api::new(&two);
    let token = admin(&stack, &api1).await;
    let op_pw = stack.add_user("otto", "operator").await;
    let op = api2.token("otto", &op_pw).await;
    let hook = Receiver::start(0).await;
    add_webhook(&api1, &token, "all", &hook.url, json!({})).await;

    // Exactly one instance evaluates.
    let leaders = || {
        [&one, &two]
            .iter()
            .filter(|r| r.state.metrics.alerts_evaluator.get() == 1)
            .count()
    };
    wait_until(Duration::from_secs(10), "an instance evaluates", || {
        let n = leaders();
        async move { n == 1 }
    })
    .await;

    let lost = Utc::now();
    camera_state(
        &stack,
        "cam-b",
        "offline",
        Some("no frames from the camera"),
    )
    .await;
    wait_until(Duration::from_secs(20), "fired", || {
        let a = open_alerts(&api2, &op, "camera_offline");
        async move { a.await.iter().any(|a| a["state"] == "firing") }
    })
    .await;
    let id = open_alerts(&api2, &op, "camera_offline").await[0]["id"]
        .as_i64()
        .unwrap();
    // The operator acknowledges on the other instance (or the same one:
    // either way the row is locked against the evaluator).
    let (s, body) = api2
        .send(
            Method::POST,
            &format!("/api/v1/alerts/{id}/ack"),
            &op,
            json!({"comment": "on my way"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["state"], "acknowledged");
    assert_eq!(body["acknowledged"]["by"], "otto");
    let severity_at_ack = body["severity"].as_str().unwrap().to_owned();
    assert_ne!(
        severity_at_ack, "escalated",
        "acknowledged too late to test: {body}"
    );
    let (s, body) = api1
        .send(
            Method::POST,
            &format!("/api/v1/alerts/{id}/ack"),
            &op,
            json!({}),
        )
        .await;
    assert_error(&body, 409, "CONFLICT", &format!("/api/v1/alerts/{id}/ack"));
    assert_eq!(s, 409);

    // Evaluations well past the escalation time: nothing rises any more.
    let leader = if one.state.metrics.alerts_evaluator.get() == 1 {
        &one
    } else {
        &two
    };
    let past = lost + chrono::TimeDelta::seconds(10);
    wait_until(
        Duration::from_secs(20),
        "evaluations past escalation",
        || {
            let n = leader.state.metrics.alerts_evaluations.get();
            let late = Utc::now() > past;
            async move { late && n > 0 }
        },
    )
    .await;
    let before = leader.state.metrics.alerts_evaluations.get();
    wait_until(Duration::from_secs(10), "three more evaluations", || {
        let n = leader.state.metrics.alerts_evaluations.get();
        async move { n >= before + 3 }
    })
    .await;
    let (_, detail) = api1.get(&format!("/api/v1/alerts/{id}"), &token).await;
    assert_eq!(detail["severity"], severity_at_ack.as_str(), "{detail}");
    assert_ne!(detail["severity"], "escalated", "{detail}");
    wait_until(
        Duration::from_secs(10),
        "the acknowledgement delivered",
        || {
            let a = hook.accepted();
            async move { a.contains(&"acknowledged".to_owned()) }
        },
    )
    .await;
    // Each change once, whichever instance sent it.
    let mut ids: Vec<String> = hook.all().iter().map(|r| r.delivery.clone()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a delivery sent twice: {:?}", hook.all());
    let whats = hook.accepted();
    assert_eq!(
        whats.iter().filter(|w| *w == "fired").count(),
        1,
        "{whats:?}"
    );
    assert_eq!(
        whats.iter().filter(|w| *w == "acknowledged").count(),
        1,
        "{whats:?}"
    );
    assert!(!whats.contains(&"severity_raised".to_owned()) || severity_at_ack == "critical");

    // The evaluating instance stops: the other takes over.
    let (stopped, survivor) = if std::ptr::eq(leader, &one) {
        (one, two)
    } else {
        (two, one)
    };
    stopped.shutdown().await;
    wait_until(
        Duration::from_secs(20),
        "the other instance evaluates",
        || {
            let n = survivor.state.metrics.alerts_evaluator.get();
            async move { n == 1 }
        },
    )
    .await;
    let api = Api::new(&survivor);
    camera_state(&stack, "cam-b", "online", None).await;
    wait_until(Duration::from_secs(20), "resolved by the survivor", || {
        let a = hook.accepted();
        async move { a.contains(&"resolved".to_owned()) }
    })
    .await;
    let (_, detail) = api.get(&format!("/api/v1/alerts/{id}"), &token).await;
    assert_eq!(detail["state"], "resolved", "{detail}");
    survivor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_mail_goes_to_each_severitys_recipients_and_a_failing_channel_shows() {
    let stack = Stack::start().await;
    stack.add_camera("cam-c").await;
    let smtp = atrium_testkit::SmtpServer::start().await.unwrap();
    let mut config = fast(&stack, "central", 3, 3600);
    config.alerts.public_url = Some("https://atrium.example".into());
    config.alerts.smtp = Some(central::config::SmtpSection {
        host: "127.0.0.1".into(),
        port: Some(smtp.port()),
        tls: central::config::SmtpTls::Starttls,
        ca_file: Some(smtp.ca_file()),
        username: None,
        password_file: None,
        from: "Atrium <alerts@atrium.example>".into(),
    });
    let central = stack.start_central(config).await;
    let api = Api::new(&central);
    let token = admin(&stack, &api).await;
    let (s, body) = api
        .send(
            Method::POST,
            "/api/v1/alerts/channels",
            &token,
            json!({"name": "mail", "email": {"to": {
                "warning": ["ops@example.org"], "critical": ["oncall@example.org", "ops@example.org"]}}}),
        )
        .await;
    assert_eq!(s, 201, "{body}");

    camera_state(
        &stack,
        "cam-c",
        "offline",
        Some("no frames from the camera"),
    )
    .await;
    wait_until(Duration::from_secs(30), "two e-mails", || {
        let n = smtp.messages().len();
        async move { n >= 2 }
    })
    .await;
    let mails = smtp.messages();
    let warning = mails
        .iter()
        .find(|m| m.contains("[WARNING] fired"))
        .unwrap();
    assert!(warning.contains("To: ops@example.org"), "{warning}");
    assert!(!warning.contains("oncall@example.org"), "{warning}");
    assert!(
        warning.contains("From: Atrium <alerts@atrium.example>"),
        "{warning}"
    );
    assert!(warning.contains("Rule:      camera_offline"), "{warning}");
    assert!(warning.contains("Subject:   camera cam-c"), "{warning}");
    assert!(
        warning.contains("https://atrium.example/#alerts/"),
        "{warning}"
    );
    let critical = mails
        .iter()
        .find(|m| m.contains("[CRITICAL] severity raised"))
        .unwrap();
    assert!(critical.contains("oncall@example.org"), "{critical}");

    // The CLI's test notification through the same server.
    let cfg_path = stack.dir.path().join("central.toml");
    let text = std::fs::read_to_string(&cfg_path).unwrap();
    let smtp_section = format!(
        "\n[alerts.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\nfrom = \"Atrium <alerts@atrium.example>\"\n",
        smtp.port(),
        smtp.ca_file().display()
    );
    std::fs::write(&cfg_path, text + &smtp_section).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_central"))
        .args(["admin", "--config"])
        .arg(&cfg_path)
        .args(["alerts", "test-channel", "mail"])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("took the test notification"), "{said}");
    let tests: Vec<String> = smtp
        .messages()
        .into_iter()
        .filter(|m| m.contains("[TEST] Atrium test notification to channel mail"))
        .collect();
    assert_eq!(tests.len(), 1);
    assert!(tests[0].contains("oncall@example.org") && tests[0].contains("ops@example.org"));

    // A webhook nobody listens on: the test fails with the reason, and
    // the channel shows as failing in /health (degraded).
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    add_webhook(
        &api,
        &token,
        "dead",
        &format!("http://127.0.0.1:{dead}/hook"),
        json!({}),
    )
    .await;
    let (s, body) = api
        .send(
            Method::POST,
            "/api/v1/alerts/channels/dead/test",
            &token,
            json!({}),
        )
        .await;
    assert_eq!(s, 502, "{body}");
    assert_error(
        &body,
        502,
        "CHANNEL_FAILED",
        "/api/v1/alerts/channels/dead/test",
    );
    let health: Value = reqwest::get(format!("http://{}/health", central.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    let failing = health["failing_alert_channels"].as_array().unwrap();
    assert_eq!(failing.len(), 1, "{health}");
    assert_eq!(failing[0]["name"], "dead");
    assert!(
        failing[0]["last_error"].as_str().unwrap().contains("error"),
        "{health}"
    );
    let (ok, listed) = admin_cli(&stack.pg.url(), &["alerts", "channel", "list"]);
    assert!(ok, "{listed}");
    assert!(
        listed.contains("dead\twebhook\tenabled\tFAILING"),
        "{listed}"
    );
    assert!(listed.contains("mail\temail\tenabled\tok"), "{listed}");
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_withholds_notifications_until_removed_and_the_api_refuses_bad_requests() {
    let stack = Stack::start().await;
    stack.add_camera("cam-d").await;
    let central = stack
        .start_central(fast(&stack, "central", 3600, 7200))
        .await;
    let api = Api::new(&central);
    let token = admin(&stack, &api).await;
    let viewer_pw = stack.add_user("vic", "viewer").await;
    let viewer = api.token("vic", &viewer_pw).await;
    let fm_pw = stack.add_user("fiona", "facility_manager").await;
    let fm = api.token("fiona", &fm_pw).await;
    let hook = Receiver::start(0).await;
    add_webhook(&api, &token, "all", &hook.url, json!({})).await;

    let (s, silence) = api
        .send(
            Method::POST,
            "/api/v1/alerts/silences",
            &fm,
            json!({"matcher": {"subject": {"kind": "camera", "id": "cam-d"}},
                   "duration_s": 3600, "comment": "lens cleaning"}),
        )
        .await;
    assert_eq!(s, 201, "{silence}");
    assert_eq!(silence["by"], "fiona");
    let sid = silence["id"].as_str().unwrap().to_owned();

    camera_state(
        &stack,
        "cam-d",
        "offline",
        Some("no frames from the camera"),
    )
    .await;
    wait_until(Duration::from_secs(20), "fired under the silence", || {
        let a = open_alerts(&api, &token, "camera_offline");
        async move { !a.await.is_empty() }
    })
    .await;
    let alert = open_alerts(&api, &token, "camera_offline").await.remove(0);
    let id = alert["id"].as_i64().unwrap();
    assert_eq!(alert["silenced_by"], sid.as_str(), "{alert}");
    let (_, detail) = api.get(&format!("/api/v1/alerts/{id}"), &token).await;
    assert!(
        detail["deliveries"].as_array().unwrap().is_empty(),
        "{detail}"
    );

    // The viewer may read, not act.
    let (s, _) = api.get("/api/v1/alerts/summary", &viewer).await;
    assert_eq!(s, 200);
    let path = format!("/api/v1/alerts/{id}/ack");
    let (s, body) = api.send(Method::POST, &path, &viewer, json!({})).await;
    assert_eq!(s, 403);
    assert_error(&body, 403, "FORBIDDEN", &path);
    let (s, _) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/alerts/silences/{sid}"),
            &viewer,
            json!({}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = api.get("/api/v1/alerts/channels", &fm).await;
    assert_eq!(s, 403, "channels are for administrators");

    // A key restricted to another site sees nothing of hq's and may not
    // act on it, nor on a silence that names no site.
    stack
        .pg
        .connect()
        .await
        .unwrap()
        .execute(
            "INSERT INTO sites (id, name) VALUES ('annex', 'Annex')",
            &[],
        )
        .await
        .unwrap();
    let (s, k) = api
        .send(
            Method::POST,
            "/api/v1/api-keys",
            &token,
            json!({"name": "annex alerts", "site_id": "annex",
                   "permissions": ["alerts:read", "alerts:ack", "alerts:write"]}),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let key = k["key"].as_str().unwrap().to_owned();
    let (s, body) = api.get("/api/v1/alerts?state=all", &key).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 0, "{body}");
    let (_, body) = api.get("/api/v1/alerts/summary", &key).await;
    assert_eq!(body["firing"], 0, "{body}");
    let (_, body) = api.get("/api/v1/alerts/silences", &key).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 0, "{body}");
    for (method, path) in [
        (Method::GET, format!("/api/v1/alerts/{id}")),
        (Method::POST, format!("/api/v1/alerts/{id}/ack")),
        (Method::POST, format!("/api/v1/alerts/{id}/resolve")),
        (Method::DELETE, format!("/api/v1/alerts/silences/{sid}")),
    ] {
        let (s, b) = api.send(method.clone(), &path, &key, json!({})).await;
        assert_eq!(s, 404, "{method} {path}: {b}");
    }
    let (s, b) = api
        .send(
            Method::POST,
            "/api/v1/alerts/silences",
            &key,
            json!({"matcher": {"rule": "camera_offline"}, "duration_s": 60}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        b["matcher"]["site"], "annex",
        "a site key silences its own site: {b}"
    );

    // The silence ends: the alert still firing is announced now.
    let (s, _) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/alerts/silences/{sid}"),
            &fm,
            json!({}),
        )
        .await;
    assert_eq!(s, 204);
    wait_until(
        Duration::from_secs(20),
        "announced after the silence",
        || {
            let a = hook.accepted();
            async move { a.contains(&"silence_ended".to_owned()) }
        },
    )
    .await;
    assert!(
        !hook.accepted().contains(&"fired".to_owned()),
        "{:?}",
        hook.accepted()
    );

    // Resolved by a person while still offline: a new alert follows.
    let (s, body) = api
        .send(
            Method::POST,
            &format!("/api/v1/alerts/{id}/resolve"),
            &fm,
            json!({"comment": "replaced the camera"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["resolved"]["by"], "fiona");
    assert_eq!(body["resolved"]["comment"], "replaced the camera");
    wait_until(Duration::from_secs(20), "a new alert", || {
        let a = open_alerts(&api, &token, "camera_offline");
        async move { a.await.iter().any(|a| a["id"].as_i64() != Some(id)) }
    })
    .await;

    // Bad requests, in the API's error format.
    for (path, code) in [
        ("/api/v1/alerts?state=sleeping", 400),
        ("/api/v1/alerts?rule=nope", 400),
        ("/api/v1/alerts/999999", 404),
    ] {
        let (s, body) = api.get(path, &token).await;
        assert_eq!(s, code, "{path}: {body}");
        assert_eq!(body["error"]["status"], code, "{body}");
    }
    for (path, body) in [
        (
            "/api/v1/alerts/silences",
            json!({"matcher": {}, "duration_s": 60}),
        ),
        (
            "/api/v1/alerts/silences",
            json!({"matcher": {"rule": "fire_alarm"}}),
        ),
        (
            "/api/v1/alerts/channels",
            json!({"name": "x", "webhook": {"url": "ftp://x"}}),
        ),
        (
            "/api/v1/alerts/channels",
            json!({"name": "Bad Name", "webhook": {"url": "http://x/"}}),
        ),
        (
            "/api/v1/alerts/channels",
            json!({"name": "y", "email": {"to": {"warning": ["nobody"]}}}),
        ),
    ] {
        let (s, b) = api.send(Method::POST, path, &token, body.clone()).await;
        assert_eq!(s, 400, "{body} → {b}");
        assert_error(&b, 400, "VALIDATION_FAILED", path);
    }
    let (s, b) = api
        .send(
            Method::POST,
            "/api/v1/alerts/channels",
            &token,
            json!({"name": "all", "webhook": {"url": hook.url}}),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    let (s, _) = api
        .send(
            Method::POST,
            "/api/v1/alerts/999999/resolve",
            &token,
            json!({}),
        )
        .await;
    assert_eq!(s, 404);
    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_door_alerts_once_even_when_its_event_arrives_late_and_edits_keep_the_secret() {
    let stack = Stack::start().await;
    stack.add_device("doors", "access", None).await;
    let central = stack
        .start_central(fast(&stack, "central", 3600, 7200))
        .await;
    let api = Api::new(&central);
    let token = admin(&stack, &api).await;
    let hook = Receiver::start(0).await;
    add_webhook(&api, &token, "all", &hook.url, json!({})).await;
    // The evaluator has looked once (its door cursor starts there).
    wait_until(Duration::from_secs(10), "an evaluation", || {
        let n = central.state.metrics.alerts_evaluations.get();
        async move { n > 0 }
    })
    .await;

    // A door forced an hour ago, reported only now (spooled through an
    // outage): judged when it arrives.
    let forced = |seq: u64, door: &str| {
        json!({"schema": 1, "ts": Utc::now() - chrono::TimeDelta::hours(1), "seq": seq, "severity": "critical",
               "event": {"type": "access", "data": {"door": door, "outcome": "forced"}}})
    };
    stack
        .publish_device("doors", "access", "event", &forced(1, "north"))
        .await;
    wait_until(Duration::from_secs(30), "door_forced delivered", || {
        let a = hook.accepted();
        async move { a.contains(&"fired".to_owned()) }
    })
    .await;
    let open = open_alerts(&api, &token, "door_forced").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["subject"]["id"], "doors/north");
    assert_eq!(open[0]["severity"], "critical");
    let id = open[0]["id"].as_i64().unwrap();

    // Resolved by a person: the same event is never judged again, even
    // after evaluations that cover its reception time once more.
    let (s, body) = api
        .send(
            Method::POST,
            &format!("/api/v1/alerts/{id}/resolve"),
            &token,
            json!({"comment": "lock replaced"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    // A second door's event, published after: once it is judged, every
    // evaluation since the resolve has run.
    stack
        .publish_device("doors", "access", "event", &forced(2, "south"))
        .await;
    wait_until(Duration::from_secs(30), "the second door's alert", || {
        let a = open_alerts(&api, &token, "door_forced");
        async move { a.await.iter().any(|a| a["subject"]["id"] == "doors/south") }
    })
    .await;
    let open = open_alerts(&api, &token, "door_forced").await;
    assert_eq!(open.len(), 1, "north fired again: {open:?}");
    let (_, all) = api
        .get("/api/v1/alerts?state=all&rule=door_forced", &token)
        .await;
    assert_eq!(all["meta"]["total"], 2, "{all}");

    // Replacing the channel without its secret keeps signing.
    let (s, body) = api
        .send(
            Method::PUT,
            "/api/v1/alerts/channels/all",
            &token,
            json!({"name": "all", "route": {"severities": ["critical"]}, "webhook": {"url": hook.url}}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["webhook"]["has_secret"], true, "{body}");
    assert_eq!(body["route"]["severities"], json!(["critical"]), "{body}");
    central.shutdown().await;
}
