//! The agent's configuration: one TOML file per camera.
//!
//! Every field has a documented default except the few that identify the
//! camera and the broker; unknown fields are refused (a typo must not be
//! silently ignored on a box nobody looks at). Secrets are never in this
//! file: the camera's credentials and the TLS key are read from files it
//! names. Reference with every field: docs/ref/edge-config.md.
//!
//! Longer than most modules on purpose: it is the whole file format, each
//! section with its defaults and its checks side by side, so a field and
//! its validation cannot drift apart; a fifth of it is its tests.

use std::path::{Path, PathBuf};

use atrium_proto::{CameraConfig, CameraId, LineConfig, SiteId, ZoneConfig};
use serde::Deserialize;

use crate::adaptive::AdaptiveConfig;
use crate::analytics::Anchor;
use crate::track::TrackerConfig;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub camera: CameraSection,
    #[serde(default)]
    pub detector: DetectorSection,
    #[serde(default)]
    pub tracker: TrackerConfig,
    #[serde(default)]
    pub analytics: AnalyticsSection,
    #[serde(default)]
    pub lines: Vec<LineConfig>,
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    #[serde(default)]
    pub faces: FacesSection,
    pub broker: BrokerSection,
    pub spool: SpoolSection,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub adaptive: AdaptiveConfig,
    #[serde(default)]
    pub media: MediaSection,
}

/// Where video comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSection {
    /// Camera id: unique across the installation, the MQTT identity.
    pub id: CameraId,
    /// Site id: the first topic level.
    pub site: SiteId,
    /// `rtsp://host[:port]/path` or `file:///path/video.mp4` (tests, demo).
    pub url: String,
    /// File holding `user:password` for the camera (optional).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// No frame for this long means the camera is lost (default 10).
    #[serde(default = "defaults::stall_timeout_s")]
    pub stall_timeout_s: f64,
    /// First reconnect delay after a loss (default 2; then ×1.5, up to 300).
    #[serde(default = "defaults::reconnect_initial_s")]
    pub reconnect_initial_s: f64,
    /// Longest reconnect delay (default 300).
    #[serde(default = "defaults::reconnect_max_s")]
    pub reconnect_max_s: f64,
    /// File sources: play at the file's frame rate (default true) or as fast
    /// as possible.
    #[serde(default = "defaults::yes")]
    pub realtime: bool,
    /// File sources: start again at the end (default true).
    #[serde(default = "defaults::yes")]
    pub loop_file: bool,
    /// Decoder threads (default 1; 0 lets FFmpeg choose).
    #[serde(default = "defaults::one")]
    pub decode_threads: usize,
}

/// Person detection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorSection {
    /// Directory with `models.toml` and the ONNX files.
    pub models_dir: PathBuf,
    /// `default` (the manifest's person detector), a manifest id, or a path
    /// to an Ultralytics YOLO `.onnx` export.
    pub model: String,
    /// sha256 of a YOLO file (checked when given).
    pub sha256: Option<String>,
    /// Minimum score of a reported detection (default: the manifest's).
    pub score: Option<f32>,
    /// NMS IoU (default: the manifest's).
    pub nms_iou: Option<f32>,
    /// ONNX Runtime intra-op threads (default 1).
    pub threads: usize,
    /// `auto`, `cpu` or `cuda`.
    pub provider: atrium_vision::Provider,
    /// The ONNX Runtime library (default: `ORT_DYLIB_PATH`).
    pub onnxruntime: Option<PathBuf>,
}

impl Default for DetectorSection {
    fn default() -> Self {
        Self {
            models_dir: PathBuf::from("/usr/share/atrium/models"),
            model: "default".into(),
            sha256: None,
            score: None,
            nms_iou: None,
            threads: 1,
            provider: atrium_vision::Provider::Auto,
            onnxruntime: None,
        }
    }
}

/// Line and zone evaluation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsSection {
    /// Point of a person's box used for lines and zones.
    pub anchor: Anchor,
    /// Dead band either side of a line, in pixels (default 6).
    pub hysteresis_px: f32,
    /// Seconds between occupancy events (default 10).
    pub occupancy_interval_s: f64,
    /// `alternate` (every crossing; a track's counts alternate IN/OUT) or
    /// `once_per_direction` (at most one IN and one OUT per track).
    pub count_policy: crate::analytics::line::CountPolicy,
}

impl Default for AnalyticsSection {
    fn default() -> Self {
        Self {
            anchor: Anchor::BottomCentre,
            hysteresis_px: 6.0,
            occupancy_interval_s: 10.0,
            count_policy: crate::analytics::line::CountPolicy::Alternate,
        }
    }
}

/// Face observation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FacesSection {
    pub enabled: bool,
    /// Seconds between face attempts per track (default 1).
    pub interval_s: f64,
    /// Minimum face quality to publish (default: the manifest's gate).
    pub min_quality: Option<f32>,
    /// Faces embedded per frame at most (default 4).
    pub max_per_frame: usize,
    /// Manifest id of the face embedder (default: the manifest's
    /// `face_embedder`). Must be the one central enrols with (its
    /// `faces.embedder`, shown by central's `/health`): embeddings of
    /// another model match no template.
    pub embedder: Option<String>,
}

impl Default for FacesSection {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_s: 1.0,
            min_quality: None,
            max_per_frame: 4,
            embedder: None,
        }
    }
}

/// The MQTT broker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerSection {
    pub host: String,
    #[serde(default = "defaults::mqtt_port")]
    pub port: u16,
    /// CA certificate that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// This agent's certificate (common name = camera id).
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Seconds between status heartbeats (default 5).
    #[serde(default = "defaults::heartbeat_s")]
    pub heartbeat_s: f64,
    /// MQTT keep-alive seconds (default 10).
    #[serde(default = "defaults::keep_alive_s")]
    pub keep_alive_s: u64,
    /// Publishes awaiting PUBACK at once (default 64).
    #[serde(default = "defaults::inflight")]
    pub inflight: u16,
    /// Seconds an event the broker accepted stays in the spool while the
    /// connection stays up (default 10). The broker saves its state every
    /// 2 s; an event acknowledged just before a broker crash is sent again
    /// from the spool after the reconnection. Must exceed the broker's
    /// `autosave_interval`.
    #[serde(default = "defaults::linger_s")]
    pub linger_s: f64,
}

/// The on-disk event spool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSection {
    pub dir: PathBuf,
    /// Quota in MiB (default 512).
    #[serde(default = "defaults::spool_mib")]
    pub max_mib: u64,
    /// Segment size in KiB (default 1024).
    #[serde(default = "defaults::segment_kib")]
    pub segment_kib: u64,
    /// Milliseconds between fsyncs (default 200; 0 = every event).
    #[serde(default = "defaults::fsync_ms")]
    pub fsync_ms: u64,
    /// Also append `seq id type` of every event to `produced.log` in the
    /// spool directory (default false; for audits and tests).
    #[serde(default)]
    pub journal: bool,
}

/// Camera pictures for central (snapshots, live view on request).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSection {
    /// Seconds between retained snapshots (default 300); one is also
    /// published on the first frame and whenever central asks.
    pub snapshot_interval_s: f64,
    /// Live frames per second while someone watches (default 2, at most 2).
    pub live_fps: f64,
    /// JPEG quality to start from, 1..=100 (default 75; lowered by the
    /// encoder until a frame fits the payload limit).
    pub jpeg_quality: u8,
}

impl Default for MediaSection {
    fn default() -> Self {
        Self {
            snapshot_interval_s: 300.0,
            live_fps: atrium_proto::limits::MAX_LIVE_FPS,
            jpeg_quality: 75,
        }
    }
}

/// Local HTTP endpoints (`/health`, `/metrics`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Address to listen on (default 127.0.0.1:9180; port 0 picks one).
    pub listen: String,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9180".into(),
        }
    }
}

mod defaults {
    pub fn stall_timeout_s() -> f64 {
        10.0
    }
    pub fn reconnect_initial_s() -> f64 {
        2.0
    }
    pub fn reconnect_max_s() -> f64 {
        300.0
    }
    pub fn yes() -> bool {
        true
    }
    pub fn one() -> usize {
        1
    }
    pub fn mqtt_port() -> u16 {
        8883
    }
    pub fn heartbeat_s() -> f64 {
        5.0
    }
    pub fn keep_alive_s() -> u64 {
        10
    }
    pub fn inflight() -> u16 {
        64
    }
    pub fn linger_s() -> f64 {
        10.0
    }
    pub fn spool_mib() -> u64 {
        512
    }
    pub fn segment_kib() -> u64 {
        1024
    }
    pub fn fsync_ms() -> u64 {
        200
    }
}

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Why `camera.url` names no usable source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("camera.url {url:?}: {source}")]
    Url {
        url: String,
        #[source]
        source: url::ParseError,
    },
    #[error("camera.url {0:?} is not a usable file path")]
    NotAPath(String),
    #[error("camera.url scheme {0:?} is not supported (rtsp or file)")]
    Scheme(String),
}

/// The source kind a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceUrl {
    Rtsp(url::Url),
    File(PathBuf),
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates TOML text (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    // A message, not a type: it becomes `ConfigError::Invalid`'s text,
    // naming the field, and nothing branches on it.
    fn validate(&self) -> Result<(), String> {
        self.source().map_err(|e| e.to_string())?;
        let c = &self.camera;
        for (name, v) in [
            ("camera.stall_timeout_s", c.stall_timeout_s),
            ("camera.reconnect_initial_s", c.reconnect_initial_s),
            ("camera.reconnect_max_s", c.reconnect_max_s),
            ("faces.interval_s", self.faces.interval_s),
            ("broker.heartbeat_s", self.broker.heartbeat_s),
            ("broker.linger_s", self.broker.linger_s),
            ("adaptive.interval_s", f64::from(self.adaptive.interval_s)),
            ("media.snapshot_interval_s", self.media.snapshot_interval_s),
        ] {
            seconds(name, v)?;
        }
        if c.reconnect_max_s < c.reconnect_initial_s {
            return Err("camera.reconnect_initial_s must be at most camera.reconnect_max_s".into());
        }
        for (name, v) in [
            ("detector.score", self.detector.score),
            ("detector.nms_iou", self.detector.nms_iou),
        ] {
            if let Some(v) = v
                && !(0.0..=1.0).contains(&v)
            {
                return Err(format!("{name} must be between 0 and 1, got {v}"));
            }
        }
        if self.detector.threads == 0 {
            return Err("detector.threads must be at least 1".into());
        }
        if self.spool.max_mib == 0 {
            return Err("spool.max_mib must be at least 1".into());
        }
        let autosave = f64::from(atrium_mqtt::broker::AUTOSAVE_INTERVAL_S);
        if self.broker.linger_s <= autosave {
            return Err(format!(
                "broker.linger_s must be more than the broker's autosave interval ({autosave} s), got {}",
                self.broker.linger_s
            ));
        }
        let max_fps = atrium_proto::limits::MAX_LIVE_FPS;
        if !(self.media.live_fps > 0.0 && self.media.live_fps <= max_fps) {
            return Err(format!(
                "media.live_fps must be more than 0 and at most {max_fps}, got {}",
                self.media.live_fps
            ));
        }
        if !(1..=100).contains(&self.media.jpeg_quality) {
            return Err(format!(
                "media.jpeg_quality must be between 1 and 100, got {}",
                self.media.jpeg_quality
            ));
        }
        if self.adaptive.base_every == 0 {
            return Err("adaptive.base_every must be at least 1".into());
        }
        self.http
            .listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| format!("http.listen {:?}: {e}", self.http.listen))?;
        self.initial_camera_config()
            .validate()
            .map_err(|e| format!("lines/zones: {e}"))?;
        Ok(())
    }

    /// The source named by `camera.url`.
    pub fn source(&self) -> Result<SourceUrl, SourceError> {
        let raw = &self.camera.url;
        let url = url::Url::parse(raw).map_err(|source| SourceError::Url {
            url: raw.clone(),
            source,
        })?;
        match url.scheme() {
            "rtsp" | "rtsps" => Ok(SourceUrl::Rtsp(url)),
            "file" => url
                .to_file_path()
                .map(SourceUrl::File)
                .map_err(|()| SourceError::NotAPath(raw.clone())),
            other => Err(SourceError::Scheme(other.to_owned())),
        }
    }

    /// Lines and zones from this file, as a camera configuration (version
    /// 0: any configuration pushed by central replaces it).
    pub fn initial_camera_config(&self) -> CameraConfig {
        CameraConfig {
            schema: 1,
            version: 0,
            lines: self.lines.clone(),
            zones: self.zones.clone(),
        }
    }

    /// Reads `user:password` from the credentials file, if any.
    pub fn credentials(&self) -> Result<Option<(String, String)>, ConfigError> {
        let Some(path) = &self.camera.credentials_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let line = text.lines().next().unwrap_or_default();
        let (user, pass) = line.split_once(':').ok_or_else(|| ConfigError::Invalid {
            path: path.clone(),
            message: "must hold user:password on its first line".into(),
        })?;
        Ok(Some((user.to_owned(), pass.to_owned())))
    }
}

/// Longest duration a setting in seconds may have (a day): beyond it a
/// value is a typo, and infinity would not fit a `Duration`.
const MAX_SECONDS: f64 = 86_400.0;

/// Checks a duration setting in seconds: positive, finite, at most a day.
fn seconds(name: &str, v: f64) -> Result<(), String> {
    if v.is_nan() || v <= 0.0 || v > MAX_SECONDS {
        return Err(format!(
            "{name} must be more than 0 and at most {MAX_SECONDS} seconds, got {v}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [camera]
        id = "lobby-1"
        site = "hq"
        url = "rtsp://192.0.2.10/stream1"

        [broker]
        host = "broker.example"
        ca_file = "/etc/atrium/ca.pem"
        cert_file = "/etc/atrium/lobby-1.pem"
        key_file = "/etc/atrium/lobby-1.key"

        [spool]
        dir = "/var/lib/atrium/lobby-1"
    "#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("edge.toml"))
    }

    #[test]
    fn minimal_file_gets_the_documented_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.camera.stall_timeout_s, 10.0);
        assert_eq!(c.camera.reconnect_initial_s, 2.0);
        assert_eq!(c.broker.port, 8883);
        assert_eq!(c.broker.linger_s, 10.0);
        assert_eq!(c.spool.max_mib, 512);
        assert_eq!(c.detector.model, "default");
        assert!(c.faces.enabled);
        assert_eq!(c.http.listen, "127.0.0.1:9180");
        assert_eq!(c.adaptive.cpu_warning, 80.0);
        assert!(matches!(c.source(), Ok(SourceUrl::Rtsp(_))));
    }

    #[test]
    fn unknown_field_is_named() {
        let err = parse(&MINIMAL.replace("[spool]", "[spool]\nmax_mb = 5"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_mb"), "{err}");
        assert!(err.contains("edge.toml"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = parse(&MINIMAL.replace("id = \"lobby-1\"", "id = \"Lobby 1\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("camera id"), "{err}");
        let err = parse(&MINIMAL.replace("rtsp://192.0.2.10/stream1", "http://x/y"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("camera.url"), "{err}");
        let with_line = format!(
            "{MINIMAL}\n[[lines]]\nid = \"door\"\na = [0.5, 0.1]\nb = [0.5, 1.4]\nin_side = \"left\"\n"
        );
        let err = parse(&with_line).unwrap_err().to_string();
        assert!(
            err.contains("door") && err.contains("outside the frame"),
            "{err}"
        );
        let err = parse(&MINIMAL.replace("[spool]", "[detector]\nscore = 2.0\n[spool]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("detector.score"), "{err}");
        let err = parse(&MINIMAL.replace("[spool]", "[http]\nlisten = \"nowhere\"\n[spool]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.listen"), "{err}");
        // TOML's `inf` would not fit a Duration: refused, not a panic.
        for (section, key) in [
            ("broker", "linger_s"),
            ("broker", "heartbeat_s"),
            ("faces", "interval_s"),
        ] {
            for bad in ["inf", "nan", "0.0", "1e9"] {
                let text = if section == "broker" {
                    MINIMAL.replace("[broker]", &format!("[broker]\n{key} = {bad}"))
                } else {
                    MINIMAL.replace("[spool]", &format!("[{section}]\n{key} = {bad}\n[spool]"))
                };
                let err = parse(&text).unwrap_err().to_string();
                assert!(err.contains(&format!("{section}.{key}")), "{bad}: {err}");
            }
        }
    }

    #[test]
    fn missing_required_section_is_named() {
        let err = parse(&MINIMAL.replace("[spool]\n        dir = \"/var/lib/atrium/lobby-1\"", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("spool"), "{err}");
    }
}
