//! `central serve`'s configuration: one TOML file. Unknown fields are
//! refused; secrets (database password, keys) are in files it names.
//! Reference: docs/ref/central-config.md.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseSection,
    pub broker: BrokerSection,
    #[serde(default)]
    pub http: HttpSection,
    pub auth: AuthSection,
    pub ingest: IngestSection,
    #[serde(default)]
    pub retention: RetentionSection,
    #[serde(default)]
    pub faces: FacesSection,
    #[serde(default)]
    pub rate_limits: RateLimitSection,
    #[serde(default)]
    pub media: MediaSection,
    #[serde(default)]
    pub alerts: AlertsSection,
    #[serde(default)]
    pub reports: ReportsSection,
}

/// `[reports]`: the schedule runner (docs/ref/reports.md). Scheduled
/// reports are mailed through `[alerts.smtp]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsSection {
    /// Run report schedules on this instance (default true; with several
    /// instances each period is still made once).
    pub schedules: bool,
    /// Seconds between looks for due schedules and unsent e-mails
    /// (default 60).
    pub every_s: u64,
}

impl Default for ReportsSection {
    fn default() -> Self {
        Self {
            schedules: true,
            every_s: 60,
        }
    }
}

/// `[alerts]`: evaluation, thresholds and the SMTP server
/// (docs/ref/alerts.md).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSection {
    /// Evaluate the rules at all (default true). One instance evaluates at
    /// a time whatever this says on the others.
    pub enabled: bool,
    /// Milliseconds between evaluations (default 5000).
    pub every_ms: u64,
    /// Seconds between energy target checks (default 60; each costs a
    /// cost or carbon computation per target).
    pub energy_every_s: u64,
    /// Seconds without a new violation event after which a zone violation
    /// is over (default 120).
    pub zone_violation_clear_s: u64,
    /// Seconds of face attempts the recognition-failure rule judges
    /// (default 600).
    pub recognition_window_s: u64,
    /// Milliseconds between looks for due notifications when nothing woke
    /// the sender (default 1000).
    pub delivery_poll_ms: u64,
    /// Seconds a webhook may take to answer (default 10).
    pub webhook_timeout_s: u64,
    /// The web UI's address, for links in notifications.
    pub public_url: Option<String>,
    pub thresholds: crate::alerts::Thresholds,
    pub smtp: Option<SmtpSection>,
}

impl Default for AlertsSection {
    fn default() -> Self {
        Self {
            enabled: true,
            every_ms: 5000,
            energy_every_s: 60,
            zone_violation_clear_s: 120,
            recognition_window_s: 600,
            delivery_poll_ms: 1000,
            webhook_timeout_s: 10,
            public_url: None,
            thresholds: crate::alerts::Thresholds::default(),
            smtp: None,
        }
    }
}

/// `[alerts.smtp]`: where e-mail channels send.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    pub host: String,
    /// Default 587 (STARTTLS), 465 for `tls`.
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (TLS from the first byte) or `none`
    /// (only for a relay on the same machine).
    #[serde(default)]
    pub tls: SmtpTls,
    /// A PEM CA to trust besides the system's (a private relay).
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    /// The password, in a file (like the database's).
    pub password_file: Option<PathBuf>,
    /// The sender, e.g. `Atrium <alerts@example.org>`.
    pub from: String,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    #[default]
    Starttls,
    Tls,
    None,
}

/// `[media]`: camera pictures (docs/ref/central-config.md).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSection {
    /// Seconds each live request asks the edge for (default 60, at most
    /// 120); renewed every third of it while someone watches, so the edge
    /// stops this long after the last viewer left.
    pub live_for_s: u32,
}

impl Default for MediaSection {
    fn default() -> Self {
        Self { live_for_s: 60 }
    }
}

/// `[rate_limits]` in central's configuration (docs/ref/central-config.md).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSection {
    /// Limit at all (default true; off only to measure the limiter).
    pub enabled: bool,
    /// Requests per minute per client address without valid credentials.
    pub anonymous_per_minute: u32,
    pub viewer_per_minute: u32,
    pub operator_per_minute: u32,
    pub facility_manager_per_minute: u32,
    pub security_officer_per_minute: u32,
    pub admin_per_minute: u32,
    pub super_admin_per_minute: u32,
    /// `POST /auth/login`, per client address and per user name.
    pub login_per_minute: u32,
    /// `POST /persons`, per caller.
    pub persons_create_per_minute: u32,
    /// `/events` and everything under it, per caller.
    pub events_per_minute: u32,
    /// `GET /reports/{id}/export`, per caller, per hour.
    pub reports_export_per_hour: u32,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        Self {
            enabled: true,
            anonymous_per_minute: 60,
            viewer_per_minute: 60,
            operator_per_minute: 100,
            facility_manager_per_minute: 200,
            security_officer_per_minute: 200,
            admin_per_minute: 300,
            super_admin_per_minute: 1000,
            login_per_minute: 5,
            persons_create_per_minute: 10,
            events_per_minute: 100,
            reports_export_per_hour: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `postgres://user@host:port/db` (no password: see `password_file`).
    pub url: String,
    /// File holding the database password, if it needs one.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Connections in the pool (default 8).
    #[serde(default = "defaults::pool_size")]
    pub pool_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSection {
    pub host: String,
    #[serde(default = "defaults::mqtt_port")]
    pub port: u16,
    pub ca_file: PathBuf,
    /// This instance's certificate; its common name must be a central
    /// identity in the broker ACL (`central`, `central-2`, …).
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// MQTT client id, unique per instance (default: `central-<hostname>`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Shared subscription group: instances in one group split the load.
    #[serde(default = "defaults::share_group")]
    pub share_group: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Address to serve the API, WebSocket and UI on.
    pub listen: String,
    /// Mark cookies `Secure` (default true; turn off only for plain-HTTP
    /// local demos, where browsers would not send them back).
    pub secure_cookies: bool,
    /// Largest request body in bytes (default 1 MiB).
    pub max_body_bytes: usize,
    /// Other origins (`https://host[:port]`) whose pages may call the API
    /// from a browser; empty (the default) turns CORS off.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            secure_cookies: true,
            max_body_bytes: 1024 * 1024,
            cors_allowed_origins: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// RSA private key (PEM, PKCS#8) that signs access tokens; created
    /// (2048-bit, mode 0600) if missing. All instances must share it.
    pub jwt_key_file: PathBuf,
    /// Access token lifetime in seconds (default 3600).
    #[serde(default = "defaults::access_ttl")]
    pub access_ttl_s: u64,
    /// Refresh token lifetime in seconds (default 7 days).
    #[serde(default = "defaults::refresh_ttl")]
    pub refresh_ttl_s: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSection {
    /// Commit after this many messages … (default 1000)
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// … or after this many milliseconds (default 250).
    #[serde(default = "defaults::batch_ms")]
    pub batch_ms: u64,
    /// Larger payloads are dead-lettered (default 65536, the documented
    /// event limit; at most the broker's 262144-byte `message_size_limit`,
    /// above which the broker refuses them itself).
    #[serde(default = "defaults::max_payload")]
    pub max_payload_bytes: usize,
    /// Where messages wait while the database is down.
    pub spool_dir: PathBuf,
    /// Spool quota in MiB (default 1024); when full, central stops
    /// acknowledging and the broker keeps the messages.
    #[serde(default = "defaults::spool_mib")]
    pub spool_max_mib: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Seconds between retention runs (default 3600; 0 disables). What is
    /// kept per table is in the `retention` table.
    pub interval_s: u64,
}

impl Default for RetentionSection {
    fn default() -> Self {
        Self { interval_s: 3600 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FacesSection {
    /// Accept enrolment photos (default true).
    pub enabled: bool,
    /// Directory with `models.toml` and the ONNX files (the edge's models).
    pub models_dir: PathBuf,
    /// The ONNX Runtime library (default: `ORT_DYLIB_PATH`).
    pub onnxruntime: Option<PathBuf>,
    /// Largest photo upload in bytes (default 10 MiB); larger gets 413.
    pub photo_max_bytes: usize,
    /// Largest photo in pixels (default 40 megapixels); larger gets 422.
    pub max_pixels: u64,
    /// Keep enrolment photos (default true); false keeps templates only.
    pub keep_photos: bool,
    /// Key file (64 hex characters) to encrypt kept photos with
    /// (AES-256-GCM). Without it photos are stored unencrypted.
    pub photo_key_file: Option<PathBuf>,
    /// Manifest id of the face embedder central enrols photos with
    /// (default: the manifest's `face_embedder`). Edges must use the same
    /// one (their `faces.embedder`); after a change, `central admin faces
    /// reembed` makes templates for it from the kept photos.
    pub embedder: Option<String>,
    /// Similarity a person must reach with `embedder` (default: its
    /// calibrated `same_person` threshold from the models manifest).
    pub threshold: Option<f32>,
    /// Lead over the runner-up person an observation needs to vote.
    pub margin: f32,
    /// Agreeing observations that decide a track.
    pub min_votes: usize,
    /// Observations after which an undecided track is `unknown`.
    pub max_observations: usize,
    /// Nearest templates fetched per observation.
    pub top_k: i64,
    /// Candidates the sign-bit search proposes (the in-memory index, or
    /// the binary-quantized HNSW index while that loads), re-ranked by
    /// exact cosine (docs/performance.md): more finds the nearest template
    /// more often and costs more.
    pub candidates: i64,
    /// HNSW search breadth (`hnsw.ef_search`) while the in-memory index
    /// loads: higher finds the nearest template more often and costs more
    /// (docs/performance.md).
    pub ef_search: i32,
    /// Seconds of a track's observations that count (and in which a track
    /// is decided once).
    pub window_s: u64,
}

impl Default for FacesSection {
    fn default() -> Self {
        Self {
            enabled: true,
            models_dir: PathBuf::from("/usr/share/atrium/models"),
            onnxruntime: None,
            photo_max_bytes: 10 * 1024 * 1024,
            max_pixels: 40_000_000,
            keep_photos: true,
            photo_key_file: None,
            embedder: None,
            threshold: None,
            margin: 0.05,
            min_votes: 2,
            max_observations: 5,
            top_k: 10,
            candidates: 40,
            ef_search: 100,
            window_s: 600,
        }
    }
}

mod defaults {
    pub fn pool_size() -> usize {
        8
    }
    pub fn mqtt_port() -> u16 {
        8883
    }
    pub fn share_group() -> String {
        "central".into()
    }
    pub fn access_ttl() -> u64 {
        3600
    }
    pub fn refresh_ttl() -> u64 {
        7 * 24 * 3600
    }
    pub fn batch_size() -> usize {
        1000
    }
    pub fn batch_ms() -> u64 {
        250
    }
    pub fn max_payload() -> usize {
        atrium_proto::limits::MAX_EVENT_PAYLOAD
    }
    pub fn spool_mib() -> u64 {
        1024
    }
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Why the database settings do not make a connection configuration.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseConfigError {
    #[error("database.url: {0}")]
    Url(#[source] tokio_postgres::Error),
    #[error("database.password_file {}: {source}", path.display())]
    PasswordFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let c: Config = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        c.http
            .listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| invalid(format!("http.listen {:?}: {e}", c.http.listen)))?;
        if c.ingest.batch_size == 0 || c.ingest.batch_ms == 0 {
            return Err(invalid(
                "ingest.batch_size and ingest.batch_ms must be positive".into(),
            ));
        }
        if c.ingest.max_payload_bytes == 0
            || c.ingest.max_payload_bytes > atrium_proto::limits::BROKER_MESSAGE_LIMIT
        {
            return Err(invalid(format!(
                "ingest.max_payload_bytes must be 1..{} (the broker refuses larger messages itself)",
                atrium_proto::limits::BROKER_MESSAGE_LIMIT
            )));
        }
        if c.auth.access_ttl_s == 0 || c.auth.refresh_ttl_s < c.auth.access_ttl_s {
            return Err(invalid(
                "auth: access_ttl_s must be positive and refresh_ttl_s at least as long".into(),
            ));
        }
        let f = &c.faces;
        if f.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t))
            || !(0.0..=1.0).contains(&f.margin)
            || f.min_votes == 0
            || f.max_observations < f.min_votes
            || !(1..=1000).contains(&f.top_k)
            || !(1..=1000).contains(&f.ef_search)
            || i64::from(f.ef_search) < f.top_k
            || !(f.top_k..=1000).contains(&f.candidates)
            || f.window_s == 0
        {
            return Err(invalid(
                "faces: threshold and margin must be in 0..1, min_votes at least 1 and at most max_observations, top_k 1..1000, ef_search top_k..1000, candidates top_k..1000, window_s positive".into(),
            ));
        }
        let max_live = atrium_proto::limits::MAX_LIVE_FOR_S;
        if !(3..=max_live).contains(&c.media.live_for_s) {
            return Err(invalid(format!(
                "media.live_for_s must be 3..={max_live}, got {}",
                c.media.live_for_s
            )));
        }
        let a = &c.alerts;
        if !(100..=600_000).contains(&a.every_ms)
            || !(1..=86_400).contains(&a.energy_every_s)
            || !(1..=86_400).contains(&a.zone_violation_clear_s)
            || !(60..=86_400).contains(&a.recognition_window_s)
            || !(10..=60_000).contains(&a.delivery_poll_ms)
            || !(1..=120).contains(&a.webhook_timeout_s)
        {
            return Err(invalid(
                "alerts: every_ms must be 100..=600000, energy_every_s and zone_violation_clear_s 1..=86400, recognition_window_s 60..=86400, delivery_poll_ms 10..=60000, webhook_timeout_s 1..=120".into(),
            ));
        }
        if !(1..=3600).contains(&c.reports.every_s) {
            return Err(invalid(format!(
                "reports.every_s must be 1..=3600, got {}",
                c.reports.every_s
            )));
        }
        if let Err(errors) = a.thresholds.validate() {
            let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(invalid(format!("alerts.thresholds: {}", all.join("; "))));
        }
        Ok(c)
    }

    /// The database URL with the password from `password_file` filled in.
    pub fn database_config(&self) -> Result<tokio_postgres::Config, DatabaseConfigError> {
        let mut cfg: tokio_postgres::Config = self
            .database
            .url
            .parse()
            .map_err(DatabaseConfigError::Url)?;
        if let Some(p) = &self.database.password_file {
            let pw =
                std::fs::read_to_string(p).map_err(|source| DatabaseConfigError::PasswordFile {
                    path: p.clone(),
                    source,
                })?;
            cfg.password(pw.trim_end_matches(['\r', '\n']));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's example is a configuration `serve` accepts, so
    /// the page cannot drift from the code.
    #[test]
    fn the_documented_example_loads() {
        let page = include_str!("../../docs/ref/central-config.md");
        let toml_text = page
            .split("```toml")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap_or("");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("central.toml");
        std::fs::write(&path, toml_text).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.alerts.every_ms, 5000);
        assert_eq!(c.alerts.thresholds, crate::alerts::Thresholds::default());
        let smtp = c.alerts.smtp.unwrap();
        assert_eq!(smtp.tls, SmtpTls::Starttls);
        assert_eq!(smtp.port, Some(587));
    }
}
