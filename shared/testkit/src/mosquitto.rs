//! A private Mosquitto broker that speaks only mutual TLS.
//!
//! A fresh site CA is generated in-process for each broker; the broker
//! certificate is valid for `127.0.0.1` and `localhost`; clients must present
//! a certificate from that CA, whose common name becomes their user name for
//! the ACL from [`atrium_mqtt::acl`] (identities `central` and `central-2`
//! are central instances, every other name is a camera or device).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use atrium_mqtt::TlsFiles;
use atrium_mqtt::pki::{Issued, SiteCa};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::process::{free_port, is_root, log_tail, wait_for_port};
use crate::{HarnessError, io_err};

/// Identities the generated ACL treats as central instances.
pub const CENTRAL_IDENTITIES: [&str; 2] = ["central", "central-2"];

/// A running private broker; killed and deleted on drop.
#[derive(Debug)]
pub struct Mosquitto {
    dir: TempDir,
    port: u16,
    ca: SiteCa,
    child: Option<Child>,
}

impl Mosquitto {
    /// Generates the PKI and configuration and starts the broker.
    pub async fn start() -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("atrium-mqtt-")
            .tempdir()
            .map_err(io_err("create a temporary directory"))?;
        let ca = SiteCa::generate("test site")?;
        let server = ca.issue_server(&["127.0.0.1", "localhost"])?;
        let mut broker = Self {
            dir,
            port: 0,
            ca,
            child: None,
        };
        broker.write("ca.pem", broker.ca.cert_pem())?;
        broker.write("server.pem", &server.cert_pem)?;
        broker.write("server.key", &server.key_pem)?;
        broker.write("acl", &atrium_mqtt::acl::mosquitto_acl(&CENTRAL_IDENTITIES))?;

        let mut last = None;
        for _ in 0..5 {
            broker.port = free_port()?;
            match broker.launch().await {
                Ok(()) => return Ok(broker),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(HarnessError::NotReady {
            what: "Mosquitto",
            secs: 10,
            log: String::new(),
        }))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> Result<(), HarnessError> {
        let p = self.path(name);
        std::fs::write(&p, text).map_err(io_err(format!("write {}", p.display())))
    }

    async fn launch(&mut self) -> Result<(), HarnessError> {
        let conf = format!(
            "per_listener_settings false\n\
             allow_anonymous false\n\
             persistence true\n\
             persistence_location {dir}/\n\
             autosave_interval 1\n\
             max_queued_messages 1000000\n\
             max_inflight_messages 0\n\
             {user}\
             log_dest file {log}\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             connection_messages true\n\
             acl_file {acl}\n\
             listener {port} 127.0.0.1\n\
             cafile {ca}\n\
             certfile {cert}\n\
             keyfile {key}\n\
             require_certificate true\n\
             use_identity_as_username true\n",
            // As root Mosquitto would switch to the `mosquitto` user, which
            // cannot read our private temporary directory.
            user = if is_root() { "user root\n" } else { "" },
            dir = self.dir.path().display(),
            log = self.path("mosquitto.log").display(),
            acl = self.path("acl").display(),
            port = self.port,
            ca = self.path("ca.pem").display(),
            cert = self.path("server.pem").display(),
            key = self.path("server.key").display(),
        );
        self.write("mosquitto.conf", &conf)?;
        let mut cmd = Command::new("mosquitto");
        if let Some(g) = crate::process::process_group() {
            cmd.process_group(g);
        }
        let child = cmd
            .arg("-c")
            .arg(self.path("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(io_err(
                "start mosquitto (is the mosquitto package installed?)",
            ))?;
        self.child = Some(child);
        let port = self.port;
        let child = &mut self.child;
        let ready = wait_for_port(port, Duration::from_secs(10), || {
            child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
        })
        .await;
        if ready {
            Ok(())
        } else {
            if let Some(mut c) = self.child.take() {
                let _ = c.kill().await;
            }
            Err(HarnessError::NotReady {
                what: "Mosquitto",
                secs: 10,
                log: log_tail(&self.path("mosquitto.log")),
            })
        }
    }

    /// The broker's TLS port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate file that signed the broker and all identities.
    pub fn ca_file(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// Issues a client certificate for `identity` from the broker's CA and
    /// writes it (with the CA) under the broker's directory.
    pub fn identity(&self, identity: &str) -> Result<TlsFiles, HarnessError> {
        let issued = self.ca.issue_client(identity)?;
        self.write_identity(identity, &issued, self.ca.cert_pem())
    }

    /// A client certificate for `identity` signed by an unrelated CA, which
    /// the broker must refuse. The CA file still trusts the broker, so the
    /// failure is the broker rejecting the client, not the other way round.
    pub fn foreign_identity(&self, identity: &str) -> Result<TlsFiles, HarnessError> {
        let other = SiteCa::generate("foreign")?;
        let issued = other.issue_client(identity)?;
        self.write_identity(&format!("foreign-{identity}"), &issued, self.ca.cert_pem())
    }

    fn write_identity(
        &self,
        dir: &str,
        issued: &Issued,
        ca_pem: &str,
    ) -> Result<TlsFiles, HarnessError> {
        let d = self.path("clients").join(dir);
        std::fs::create_dir_all(&d).map_err(io_err(format!("create {}", d.display())))?;
        let files = TlsFiles {
            ca: d.join("ca.pem"),
            cert: d.join("client.pem"),
            key: d.join("client.key"),
        };
        for (p, text) in [
            (&files.ca, ca_pem),
            (&files.cert, &issued.cert_pem),
            (&files.key, &issued.key_pem),
        ] {
            std::fs::write(p, text).map_err(io_err(format!("write {}", p.display())))?;
        }
        Ok(files)
    }

    /// rumqttc (MQTT 3.1.1) options for a TLS client of this broker.
    pub fn options(
        &self,
        client_id: &str,
        tls: &TlsFiles,
    ) -> Result<rumqttc::MqttOptions, HarnessError> {
        let mut o = rumqttc::MqttOptions::new(client_id, "127.0.0.1", self.port);
        o.set_transport(tls.transport().map_err(|e| HarnessError::Io {
            what: "TLS configuration".into(),
            source: std::io::Error::other(e),
        })?);
        o.set_keep_alive(Duration::from_secs(5));
        Ok(o)
    }

    /// rumqttc MQTT 5 options for a TLS client of this broker.
    pub fn options_v5(
        &self,
        client_id: &str,
        tls: &TlsFiles,
    ) -> Result<rumqttc::v5::MqttOptions, HarnessError> {
        let mut o = rumqttc::v5::MqttOptions::new(client_id, "127.0.0.1", self.port);
        o.set_transport(tls.transport().map_err(|e| HarnessError::Io {
            what: "TLS configuration".into(),
            source: std::io::Error::other(e),
        })?);
        o.set_keep_alive(Duration::from_secs(5));
        Ok(o)
    }

    /// Stops the broker (SIGTERM: it saves sessions and queued messages, as
    /// a restarted production broker would have them); `restart` brings it
    /// back on the same port with the same certificates.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id().and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(Duration::from_secs(10), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
    }

    /// Kills the broker outright (a crash: unsaved state is lost).
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Starts a stopped broker again on the same port.
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        if self.child.is_none() {
            self.launch().await?;
        }
        Ok(())
    }

    /// The broker's log so far (for assertion messages).
    pub fn log(&self) -> String {
        log_tail(&self.path("mosquitto.log"))
    }
}
