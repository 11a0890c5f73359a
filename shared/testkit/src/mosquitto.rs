//! A private Mosquitto broker that speaks only mutual TLS.
//!
//! It runs with the configuration operators get
//! ([`atrium_mqtt::broker::MosquittoConfig`], the same text `central admin
//! broker config` writes); only the paths, the port, the log file and (as
//! root) the user differ. A fresh site CA is generated in-process for each
//! broker; the broker certificate is valid for `127.0.0.1`, `localhost` and
//! any extra listener address; clients must present a certificate from that
//! CA, whose common name becomes their user name for the ACL from
//! [`atrium_mqtt::acl`] (identities `central` and `central-2` are central
//! instances, every other name is a camera or device), and must not be on
//! the CA's revocation list (`crl.pem`, empty at start; `tests/e2e/admin.rs`
//! revokes through the CLI).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use atrium_mqtt::TlsFiles;
use atrium_mqtt::broker::{Listener, LogDest, MosquittoConfig, QueueBudget};
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
    // Dropped first (fields drop in order): the broker is killed before
    // its directory is removed, so it cannot write into a deleted one.
    child: Option<Child>,
    dir: TempDir,
    port: u16,
    extra: Vec<IpAddr>,
    ca: SiteCa,
}

impl Mosquitto {
    /// Generates the PKI and configuration and starts the broker on
    /// 127.0.0.1.
    pub async fn start() -> Result<Self, HarnessError> {
        Self::start_on(&[]).await
    }

    /// As [`Mosquitto::start`], also listening (same port) on `extra`
    /// addresses, e.g. the host side of a veth pair into a network
    /// namespace. The addresses must exist already.
    pub async fn start_on(extra: &[IpAddr]) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("atrium-mqtt-")
            .tempdir()
            .map_err(io_err("create a temporary directory"))?;
        let ca = SiteCa::generate("test site")?;
        let mut names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        names.extend(extra.iter().map(IpAddr::to_string));
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let server = ca.issue_server(&names)?;
        let mut broker = Self {
            dir,
            port: 0,
            extra: extra.to_vec(),
            ca,
            child: None,
        };
        broker.write("ca.pem", broker.ca.cert_pem())?;
        broker.write("server.pem", &server.cert_pem)?;
        broker.write("server.key", &server.key_pem)?;
        broker.write("crl.pem", &broker.ca.crl(&[], 1)?)?;
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

    /// The configuration this broker runs with: the operators' one.
    pub fn config(&self) -> MosquittoConfig {
        let mut listeners = vec![Listener {
            address: "127.0.0.1".into(),
            port: self.port,
        }];
        listeners.extend(self.extra.iter().map(|a| Listener {
            address: a.to_string(),
            port: self.port,
        }));
        MosquittoConfig {
            listeners,
            ca_file: self.path("ca.pem"),
            cert_file: self.path("server.pem"),
            key_file: self.path("server.key"),
            crl_file: Some(self.path("crl.pem")),
            acl_file: self.path("acl"),
            persistence_dir: self.dir.path().to_owned(),
            log: LogDest::File(self.path("mosquitto.log")),
            // As root Mosquitto would switch to the `mosquitto` user, which
            // cannot read our private temporary directory.
            user: is_root().then(|| "root".to_owned()),
            queue: QueueBudget::default(),
        }
    }

    async fn launch(&mut self) -> Result<(), HarnessError> {
        let conf = self.config().render();
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

    /// Makes the broker save its in-memory database now (SIGUSR1, as an
    /// autosave would) and waits until the file on disk has changed.
    pub async fn save(&self) -> Result<(), HarnessError> {
        use std::os::unix::fs::MetadataExt;
        // Mosquitto writes `mosquitto.db.new` and renames it over the old
        // file: a new save is a new inode.
        let db = self.dir.path().join("mosquitto.db");
        // None: no database file yet, which any save then changes.
        let before = std::fs::metadata(&db).map(|m| m.ino()).ok();
        self.signal(nix::sys::signal::Signal::SIGUSR1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = std::fs::metadata(&db).map(|m| m.ino()).ok();
            if now.is_some() && now != before {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(HarnessError::NotReady {
                    what: "Mosquitto save (SIGUSR1)",
                    secs: 10,
                    log: self.log(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(pid) = self
            .child
            .as_ref()
            .and_then(Child::id)
            .and_then(|p| i32::try_from(p).ok())
        {
            // The broker may have exited already (a test that killed it).
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
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
