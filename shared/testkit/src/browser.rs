//! A real headless Chromium behind chromedriver, for web UI tests.
//!
//! chromedriver runs on an ephemeral port; each browser session gets its
//! own profile directory (so sessions share no cookies) and runs headless
//! without GPU or network services. Tests drive it with any WebDriver
//! client (ours use fantoccini).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::process::{free_port, log_tail, wait_for_port};
use crate::{HarnessError, io_err};

/// A running chromedriver; killed (with its browsers) on drop.
#[derive(Debug)]
pub struct Chromedriver {
    port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Chromedriver {
    pub async fn start() -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("atrium-chrome-")
            .tempdir()
            .map_err(io_err("create a temporary directory"))?;
        let log = dir.path().join("chromedriver.log");
        let port = free_port()?;
        let mut cmd = Command::new("chromedriver");
        if let Some(g) = crate::process::process_group() {
            cmd.process_group(g);
        }
        let mut child = cmd
            // Chromium's own scratch directories go here too, so they are
            // removed with the harness instead of piling up in /tmp.
            .env("TMPDIR", dir.path())
            // One zone and language for every run: pages must show site
            // times in the site's zone whatever the browser's is.
            .env("TZ", "UTC")
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(io_err("start chromedriver (scripts/setup installs it)"))?;
        let ready = wait_for_port(port, Duration::from_secs(20), || {
            matches!(child.try_wait(), Ok(None))
        })
        .await;
        if !ready {
            return Err(HarnessError::NotReady {
                what: "chromedriver",
                secs: 20,
                log: log_tail(&log),
            });
        }
        Ok(Self { port, child, dir })
    }

    /// The WebDriver endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// W3C capabilities for a headless Chromium with a fresh profile.
    pub fn capabilities(&self) -> serde_json::Map<String, serde_json::Value> {
        let profile: PathBuf = self
            .dir
            .path()
            .join(format!("profile-{}", free_port().unwrap_or(0)));
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-extensions",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,900",
            "--lang=en-US",
        ]
        .iter()
        .map(|s| serde_json::Value::from(*s))
        .chain(std::iter::once(serde_json::Value::from(format!(
            "--user-data-dir={}",
            profile.display()
        ))))
        .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }),
        );
        caps
    }

    /// chromedriver's log so far.
    pub fn log(&self) -> String {
        log_tail(&self.dir.path().join("chromedriver.log"))
    }
}

/// The processes whose parent is `parent` (from /proc).
fn children_of(parent: u32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // pid (comm) state ppid …: comm may hold spaces, so split after ')'.
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == parent).then_some(pid)
    })
    .collect()
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // A test that failed never closed its session: its browser would
        // outlive chromedriver (reparented to init) and keep using CPU.
        // Killing each browser's main process ends its helpers too.
        if let Some(pid) = self.child.id() {
            for browser in children_of(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(browser),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = self.child.start_kill();
    }
}
