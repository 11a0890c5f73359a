//! Real services for tests, one private instance per call.
//!
//! The project's rule is "real components, not mocks": tests that touch the
//! database, the broker or a camera run against the real thing. Each harness
//! here starts its own server process on an ephemeral port inside a fresh
//! temporary directory, so tests can run in parallel without sharing state,
//! and stops it and deletes the directory on drop.
//!
//! Readiness is always awaited on a real signal (a TCP accept, a line the
//! server prints, `pg_ctl -w`), never on a fixed sleep.

pub mod browser;
pub mod fixtures;
pub mod mosquitto;
pub mod mqtt_client;
pub mod netns;
pub mod poll;
pub mod postgres;
pub mod process;
pub mod rtsp;
pub mod small_disk;
pub mod smtp;
pub mod video;
pub mod webui;

pub use browser::Chromedriver;
pub use fixtures::{fixture, onnxruntime_library, workspace_root};
pub use mosquitto::Mosquitto;
pub use mqtt_client::{TestClient, TestClientV5};
pub use netns::NetNs;
pub use poll::poll;
pub use postgres::Postgres;
pub use rtsp::RtspCamera;
pub use small_disk::SmallDisk;
pub use smtp::SmtpServer;

use std::path::PathBuf;

/// Why a harness could not provide its service.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}):\n{output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
    #[error("{what} did not become ready within {secs} s; its log:\n{log}")]
    NotReady {
        what: &'static str,
        secs: u64,
        log: String,
    },
    #[error("fixture {path} is missing: {hint}")]
    MissingFixture { path: PathBuf, hint: &'static str },
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] atrium_migrate::MigrateError),
    #[error("certificates: {0}")]
    Pki(#[from] atrium_mqtt::pki::PkiError),
    #[error("user lookup: {0}")]
    User(String),
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}
