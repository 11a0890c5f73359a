//! A private SMTP server that requires STARTTLS (Debian's
//! `python3-aiosmtpd`, storing what it receives in a Maildir), with its
//! own CA: the settings we tell operators to use (`tls = "starttls"` and,
//! for a private relay, `ca_file`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use atrium_mqtt::pki::SiteCa;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::process::{free_port, log_tail, wait_for_port};
use crate::{HarnessError, io_err};

/// Debian's interpreter, which has `python3-aiosmtpd`; a `python3` earlier
/// on the PATH (pyenv, a venv) may not.
const PYTHON: &str = "/usr/bin/python3";

/// A running SMTP server on 127.0.0.1; killed and deleted on drop.
#[derive(Debug)]
pub struct SmtpServer {
    // Dropped first: the server dies before its directory goes.
    child: Option<Child>,
    dir: TempDir,
    port: u16,
}

impl SmtpServer {
    /// Generates a CA and a certificate for 127.0.0.1 and localhost, and
    /// starts the server.
    pub async fn start() -> Result<Self, HarnessError> {
        let mut dir = tempfile::Builder::new()
            .prefix("atrium-smtp-")
            .tempdir()
            .map_err(io_err("create a temporary directory"))?;
        let ca = SiteCa::generate("test mail")?;
        let server = ca.issue_server(&["127.0.0.1", "localhost"])?;
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).map_err(io_err(format!("write {}", p.display())))
        };
        write("ca.pem", ca.cert_pem())?;
        write("server.pem", &server.cert_pem)?;
        write("server.key", &server.key_pem)?;
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let log = std::fs::File::create(dir.path().join("smtp.log"))
                .map_err(io_err("create the SMTP log"))?;
            let mut cmd = Command::new(PYTHON);
            if let Some(g) = crate::process::process_group() {
                cmd.process_group(g);
            }
            let child = cmd
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--tlscert")
                .arg(dir.path().join("server.pem"))
                .arg("--tlskey")
                .arg(dir.path().join("server.key"))
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(dir.path().join("mail"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .map_err(io_err(
                    "start aiosmtpd (is the python3-aiosmtpd package installed?)",
                ))?;
            let mut s = Self {
                child: Some(child),
                dir,
                port,
            };
            let child = &mut s.child;
            let ready = wait_for_port(port, Duration::from_secs(10), || {
                child
                    .as_mut()
                    .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
            })
            .await;
            if ready {
                return Ok(s);
            }
            last = Some(HarnessError::NotReady {
                what: "aiosmtpd",
                secs: 10,
                log: log_tail(&s.dir.path().join("smtp.log")),
            });
            if let Some(mut c) = s.child.take() {
                // Already dead or never listening: a failed kill (it has
                // exited) leaves nothing to clean up.
                let _ = c.kill().await;
            }
            dir = s.dir;
        }
        Err(last.unwrap_or(HarnessError::NotReady {
            what: "aiosmtpd",
            secs: 10,
            log: String::new(),
        }))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Every message received so far, as the raw text stored.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("mail").join("new");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&new)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            // No directory yet: nothing received.
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }
}
