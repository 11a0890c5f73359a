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
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            secure_cookies: true,
            max_body_bytes: 1024 * 1024,
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
    /// Larger payloads are dead-lettered (default 256 KiB).
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
        256 * 1024
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
        if c.auth.access_ttl_s == 0 || c.auth.refresh_ttl_s < c.auth.access_ttl_s {
            return Err(invalid(
                "auth: access_ttl_s must be positive and refresh_ttl_s at least as long".into(),
            ));
        }
        Ok(c)
    }

    /// The database URL with the password from `password_file` filled in.
    pub fn database_config(&self) -> Result<tokio_postgres::Config, String> {
        let mut cfg: tokio_postgres::Config = self
            .database
            .url
            .parse()
            .map_err(|e| format!("database.url: {e}"))?;
        if let Some(p) = &self.database.password_file {
            let pw = std::fs::read_to_string(p)
                .map_err(|e| format!("database.password_file {}: {e}", p.display()))?;
            cfg.password(pw.trim_end_matches(['\r', '\n']));
        }
        Ok(cfg)
    }
}
