//! Sends alert notifications: webhooks (signed JSON over HTTP(S)) and
//! e-mail (SMTP with STARTTLS or TLS). Notifications wait in
//! `alert_deliveries`, written in the same transaction as the alert
//! change, and every instance runs a sender that claims due rows with
//! `SKIP LOCKED` and a lease: each is sent by one instance, a sender that
//! dies mid-send is replaced when its lease ends (so a receiver may, very
//! rarely, see a delivery twice: the `X-Atrium-Delivery` id tells), and
//! nothing here ever waits on ingest or ingest on it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::alerts::{Channel, MAX_ATTEMPTS, Settings, Severity, backoff, signature};
use crate::config::{AlertsSection, SmtpSection, SmtpTls};
use crate::metrics::Metrics;
use crate::store::alerts as store;

/// Why the sender could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("alerts.smtp: {0}")]
    Smtp(String),
    #[error("the HTTP client for webhooks: {0}")]
    Http(#[source] reqwest::Error),
}

/// What sends notifications: one HTTP client, one SMTP transport.
#[derive(Clone)]
pub struct Notifier {
    http: reqwest::Client,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    public_url: Option<String>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("smtp", &self.smtp.is_some())
            .finish_non_exhaustive()
    }
}

fn smtp(s: &SmtpSection) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), SetupError> {
    let bad = |m: String| SetupError::Smtp(m);
    let from: Mailbox = s
        .from
        .parse()
        .map_err(|e| bad(format!("from {:?}: {e}", s.from)))?;
    let mut tls = TlsParameters::builder(s.host.clone());
    if let Some(ca) = &s.ca_file {
        let pem = std::fs::read(ca).map_err(|e| bad(format!("ca_file {}: {e}", ca.display())))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| bad(format!("ca_file {}: {e}", ca.display())))?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build().map_err(|e| bad(format!("TLS: {e}")))?;
    let (mode, port) = match s.tls {
        SmtpTls::Starttls => (Tls::Required(tls), 587),
        SmtpTls::Tls => (Tls::Wrapper(tls), 465),
        SmtpTls::None => (Tls::None, 25),
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        .port(s.port.unwrap_or(port))
        .tls(mode)
        .timeout(Some(Duration::from_secs(20)));
    if let Some(user) = &s.username {
        let pw = match &s.password_file {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| bad(format!("password_file {}: {e}", p.display())))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            None => return Err(bad("username without password_file".into())),
        };
        b = b.credentials(Credentials::new(user.clone(), pw));
    }
    Ok((b.build(), from))
}

impl Notifier {
    pub fn new(cfg: &AlertsSection) -> Result<Self, SetupError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.webhook_timeout_s))
            .user_agent(concat!("atrium-central/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(SetupError::Http)?;
        let smtp = cfg.smtp.as_ref().map(smtp).transpose()?;
        Ok(Self {
            http,
            smtp,
            public_url: cfg.public_url.clone(),
        })
    }

    /// Sends `payload` (see [`crate::alerts::notification`]) to `channel`
    /// as delivery `delivery`; the error says why not, for the log.
    pub async fn send(
        &self,
        channel: &Channel,
        payload: &Value,
        delivery: i64,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        match &channel.settings {
            Settings::Webhook { url } => {
                self.webhook(url, channel.secret.as_deref(), payload, delivery, now)
                    .await
            }
            Settings::Email { to } => {
                // The payload is central's own (alerts::notification),
                // which always names the severity; warning is only the
                // reading of a payload from a future version without it.
                let severity = payload
                    .pointer("/change/severity")
                    .cloned()
                    .and_then(|v| serde_json::from_value::<Severity>(v).ok())
                    .unwrap_or(Severity::Warning);
                // No list for this severity: none, which `email` refuses
                // with "no recipients for this severity" (logged, retried).
                let to = to.get(&severity).map(Vec::as_slice).unwrap_or_default();
                self.email(to, payload).await
            }
        }
    }

    /// Sends a test notification to `channel` (to every e-mail recipient
    /// it has, whatever the severity).
    pub async fn test(&self, channel: &Channel, now: DateTime<Utc>) -> Result<(), String> {
        let text = format!(
            "[TEST] Atrium test notification to channel {} from central",
            channel.name
        );
        let payload = serde_json::json!({
            "text": text,
            "test": true,
            "change": {"what": "test", "at": now},
            "alert": null,
        });
        match &channel.settings {
            Settings::Webhook { url } => {
                self.webhook(url, channel.secret.as_deref(), &payload, 0, now)
                    .await
            }
            Settings::Email { to } => {
                let mut all: Vec<String> = to.values().flatten().cloned().collect();
                all.sort();
                all.dedup();
                self.email(&all, &payload).await
            }
        }
    }

    async fn webhook(
        &self,
        url: &str,
        secret: Option<&str>,
        payload: &Value,
        delivery: i64,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let mut body = payload.clone();
        if let Some(o) = body.as_object_mut() {
            o.insert("delivery_id".into(), delivery.into());
            if let Some(u) = &self.public_url
                && let Some(id) = payload.pointer("/alert/id").and_then(Value::as_i64)
            {
                o.insert(
                    "url".into(),
                    format!("{}/#alerts/{id}", u.trim_end_matches('/')).into(),
                );
            }
        }
        let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let ts = now.timestamp();
        let mut req = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-atrium-delivery", delivery.to_string())
            .header("x-atrium-timestamp", ts.to_string());
        if let Some(s) = secret {
            req = req.header("x-atrium-signature", signature(s, ts, &bytes));
        }
        let resp = req.body(bytes).send().await.map_err(|e| {
            // Without the URL: a webhook URL is often a secret itself
            // (Slack's, Teams'), and errors are shown on /health. The
            // cause (refused, timed out, certificate) is in the sources.
            let e = e.without_url();
            let mut m = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                m = format!("{m}: {s}");
                src = s.source();
            }
            m
        })?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {status} from the webhook"))
        }
    }

    async fn email(&self, to: &[String], payload: &Value) -> Result<(), String> {
        let Some((transport, from)) = &self.smtp else {
            return Err("no [alerts.smtp] server in central's configuration".into());
        };
        if to.is_empty() {
            return Err("no recipients for this severity".into());
        }
        let subject = payload
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("Atrium alert")
            .to_owned();
        let mut m = Message::builder().from(from.clone()).subject(subject);
        for a in to {
            let mb: Mailbox = a.parse().map_err(|e| format!("recipient {a:?}: {e}"))?;
            m = m.to(mb);
        }
        let msg = m
            .header(ContentType::TEXT_PLAIN)
            .body(self.email_body(payload))
            .map_err(|e| e.to_string())?;
        transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }

    /// Sends a report to `to` with its exports attached (`files`: name,
    /// content type, bytes); the error says why not, for the log.
    pub async fn mail_report(
        &self,
        to: &[String],
        subject: &str,
        body: String,
        files: Vec<(String, &'static str, Vec<u8>)>,
    ) -> Result<(), String> {
        let Some((transport, from)) = &self.smtp else {
            return Err("no [alerts.smtp] server in central's configuration".into());
        };
        if to.is_empty() {
            return Err("no recipients".into());
        }
        let mut m = Message::builder().from(from.clone()).subject(subject);
        for a in to {
            let mb: Mailbox = a.parse().map_err(|e| format!("recipient {a:?}: {e}"))?;
            m = m.to(mb);
        }
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(body));
        for (name, content_type, bytes) in files {
            let ct = ContentType::parse(content_type).map_err(|e| e.to_string())?;
            parts = parts.singlepart(Attachment::new(name).body(bytes, ct));
        }
        let msg = m.multipart(parts).map_err(|e| e.to_string())?;
        transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }

    /// Where people open what a message is about, when configured.
    pub fn public_url(&self) -> Option<&str> {
        self.public_url.as_deref()
    }

    fn email_body(&self, p: &Value) -> String {
        let s = |ptr: &str| {
            p.pointer(ptr)
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => "–".into(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "–".into())
        };
        let mut out = format!(
            "{}\n\nRule:      {}\nSubject:   {} {}\nSite:      {}\nState:     {}\nSeverity:  {}\nFired at:  {}\nLast seen: {}\n",
            s("/text"),
            s("/alert/rule"),
            s("/alert/subject/kind"),
            s("/alert/subject/id"),
            s("/alert/site"),
            s("/alert/state"),
            s("/alert/severity"),
            s("/alert/fired_at"),
            s("/alert/last_seen"),
        );
        if p.pointer("/change/by").is_some_and(|v| !v.is_null()) {
            out.push_str(&format!("By:        {}\n", s("/change/by")));
        }
        if p.pointer("/change/comment").is_some_and(|v| !v.is_null()) {
            out.push_str(&format!("Comment:   {}\n", s("/change/comment")));
        }
        if let (Some(u), Some(id)) = (
            &self.public_url,
            p.pointer("/alert/id").and_then(Value::as_i64),
        ) {
            out.push_str(&format!("\n{}/#alerts/{id}\n", u.trim_end_matches('/')));
        }
        out
    }
}

/// How long a claimed delivery is this sender's: longer than the
/// slowest send (a webhook's timeout is at most 120 s; an SMTP exchange
/// is a handful of commands of at most 20 s each).
const LEASE: Duration = Duration::from_secs(300);

/// Sends due notifications until `stop`: whenever `wake` is notified (a
/// local evaluation queued some) and every `poll` otherwise.
pub async fn run(
    pool: deadpool_postgres::Pool,
    notifier: Notifier,
    metrics: Arc<Metrics>,
    clock: atrium_clock::SharedClock,
    wake: Arc<Notify>,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        loop {
            match send_due(&pool, &notifier, &metrics, &clock).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "alert deliveries not sent; next try in one poll");
                    break;
                }
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            // The poll interval, for rows queued by other instances or
            // due for a retry (a local queue wakes it at once).
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Claims and sends one batch; returns how many were claimed.
async fn send_due(
    pool: &deadpool_postgres::Pool,
    notifier: &Notifier,
    metrics: &Metrics,
    clock: &atrium_clock::SharedClock,
) -> Result<usize, String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let now = clock.now();
    let lease = chrono::TimeDelta::from_std(LEASE).unwrap_or(chrono::TimeDelta::MAX);
    // One at a time: each claim's lease then covers exactly one send.
    let due = store::claim(&client, now, lease, 1)
        .await
        .map_err(|e| e.to_string())?;
    let n = due.len();
    for d in due {
        let channel = store::channel(&client, &d.channel)
            .await
            .map_err(|e| e.to_string())?;
        let result = match &channel {
            Some(c) if c.channel.enabled => {
                notifier
                    .send(&c.channel, &d.payload, d.id, clock.now())
                    .await
            }
            Some(_) => Err("channel disabled".into()),
            None => Err("channel removed".into()),
        };
        let now = clock.now();
        let gone = channel.as_ref().is_none_or(|c| !c.channel.enabled);
        let (outcome, retry) = match &result {
            Ok(()) => ("sent", None),
            Err(_) if gone || d.attempts >= MAX_ATTEMPTS => ("failed", None),
            Err(_) => {
                let wait = chrono::TimeDelta::from_std(backoff(d.attempts))
                    .unwrap_or(chrono::TimeDelta::MAX);
                ("retry", Some(now + wait))
            }
        };
        let error = result.as_ref().err().map(String::as_str);
        store::delivered(&client, d.id, d.attempts, error, retry, now)
            .await
            .map_err(|e| e.to_string())?;
        if !gone {
            store::channel_result(&client, &d.channel, error, now)
                .await
                .map_err(|e| e.to_string())?;
        }
        let labels = vec![
            ("channel".to_owned(), d.channel.clone()),
            ("outcome".to_owned(), outcome.to_owned()),
        ];
        metrics.alert_deliveries.get_or_create(&labels).inc();
        metrics
            .alert_channel_failing
            .get_or_create(&vec![("channel".to_owned(), d.channel.clone())])
            .set(i64::from(error.is_some()));
        match error {
            None => {
                tracing::info!(channel = %d.channel, alert = d.alert_id, delivery = d.id, "alert notification sent")
            }
            Some(e) => tracing::warn!(channel = %d.channel, alert = d.alert_id, delivery = d.id,
                attempt = d.attempts, outcome, error = %e, "alert notification not delivered"),
        }
    }
    Ok(n)
}
