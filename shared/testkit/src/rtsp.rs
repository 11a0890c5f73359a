//! A real RTSP camera: GStreamer's RTSP server looping H.264 MP4 files.
//!
//! Runs `scripts/rtsp-camera` (Debian's python3-gi + gst-rtsp-server) as a
//! child process. The server prints `READY port=N` once it listens; the
//! harness waits for that line. Tests can stop and restart it on the same
//! port (camera loss and return) or freeze it with SIGSTOP (a camera that
//! hangs without closing the connection).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::fixtures::workspace_root;
use crate::{HarnessError, io_err};

/// A running RTSP server; killed on drop.
#[derive(Debug)]
pub struct RtspCamera {
    port: u16,
    mounts: Vec<(String, PathBuf)>,
    extra: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn python() -> PathBuf {
    std::env::var_os("ATRIUM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

impl RtspCamera {
    /// Serves each `(name, file)` at `rtsp://127.0.0.1:PORT/name`, looping.
    pub async fn start(mounts: &[(&str, &Path)]) -> Result<Self, HarnessError> {
        Self::start_with(mounts, Vec::new()).await
    }

    /// Like `start`, but every mount requires HTTP basic `user:password`.
    pub async fn start_with_auth(
        mounts: &[(&str, &Path)],
        user_password: &str,
    ) -> Result<Self, HarnessError> {
        Self::start_with(mounts, vec!["--auth".into(), user_password.into()]).await
    }

    /// A camera sending Motion JPEG (a codec the edge refuses) at `/name`.
    pub async fn start_mjpeg(name: &str) -> Result<Self, HarnessError> {
        Self::start_with(&[(name, Path::new("mjpeg:"))], Vec::new()).await
    }

    async fn start_with(
        mounts: &[(&str, &Path)],
        extra: Vec<String>,
    ) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("atrium-rtsp-")
            .tempdir()
            .map_err(io_err("create a temporary directory"))?;
        let mut cam = Self {
            port: 0,
            mounts: mounts
                .iter()
                .map(|(n, p)| ((*n).to_owned(), p.to_path_buf()))
                .collect(),
            extra,
            child: None,
            log: dir.path().join("rtsp-camera.log"),
            _dir: dir,
        };
        cam.launch().await?;
        Ok(cam)
    }

    async fn launch(&mut self) -> Result<(), HarnessError> {
        let script = workspace_root().join("scripts").join("rtsp-camera");
        let log = std::fs::File::create(&self.log).map_err(io_err("create the RTSP server log"))?;
        let mut cmd = Command::new(python());
        if let Some(g) = crate::process::process_group() {
            cmd.process_group(g);
        }
        cmd.arg(&script)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(&self.extra)
            .args(
                self.mounts
                    .iter()
                    .map(|(n, p)| format!("{n}={}", p.display())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(io_err(format!("start {}", script.display())))?;
        let stdout = child.stdout.take().ok_or_else(|| HarnessError::NotReady {
            what: "RTSP server",
            secs: 0,
            log: "no stdout pipe".into(),
        })?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(p) = line.strip_prefix("READY port=") {
                    return p.trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await;
        match ready {
            Ok(Some(port)) => {
                self.port = port;
                self.child = Some(child);
                Ok(())
            }
            _ => {
                let _ = child.kill().await;
                Err(HarnessError::NotReady {
                    what: "RTSP server",
                    secs: 20,
                    log: std::fs::read_to_string(&self.log).unwrap_or_default(),
                })
            }
        }
    }

    /// The server's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtsp://127.0.0.1:PORT/name`.
    pub fn url(&self, name: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{name}", self.port)
    }

    /// Kills the server: clients see the connection close (a camera that
    /// loses power).
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Starts a stopped server again on the same port.
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        if self.child.is_none() {
            self.launch().await?;
        }
        Ok(())
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing
    /// arrives, like a hung camera.
    pub fn freeze(&self) -> Result<(), HarnessError> {
        self.signal(Signal::SIGSTOP)
    }

    /// Resumes a frozen server (SIGCONT).
    pub fn thaw(&self) -> Result<(), HarnessError> {
        self.signal(Signal::SIGCONT)
    }

    fn signal(&self, sig: Signal) -> Result<(), HarnessError> {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .ok_or_else(|| HarnessError::Io {
                what: "signal the RTSP server".into(),
                source: std::io::Error::other("server is not running"),
            })?;
        let pid = i32::try_from(pid).map_err(|e| HarnessError::Io {
            what: "signal the RTSP server".into(),
            source: std::io::Error::other(e),
        })?;
        kill(Pid::from_raw(pid), sig).map_err(|e| HarnessError::Io {
            what: format!("send {sig} to the RTSP server"),
            source: std::io::Error::from(e),
        })
    }
}
