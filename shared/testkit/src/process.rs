//! Small process helpers shared by the harnesses.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{HarnessError, io_err};

static DETACHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts servers from now on in their own process groups, so a Ctrl-C
/// meant for the program that started them (the demo) reaches only that
/// program, which then stops them in order. Tests leave this off: an
/// interrupted test run takes its servers down with it.
pub fn detach_servers() {
    DETACHED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The process group for a new server: its own (0) when detached.
pub fn process_group() -> Option<i32> {
    DETACHED
        .load(std::sync::atomic::Ordering::Relaxed)
        .then_some(0)
}

/// Whether this process runs as root (servers then need care: PostgreSQL
/// refuses to run as root, Mosquitto drops privileges).
pub(crate) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A port that was free a moment ago. Callers retry on a bind failure,
/// since another test may take it before the server binds it.
pub(crate) fn free_port() -> Result<u16, HarnessError> {
    let l = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(io_err("bind an ephemeral port"))?;
    Ok(l.local_addr()
        .map_err(io_err("read the ephemeral port"))?
        .port())
}

/// Runs a command to completion and fails with its output when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<String, HarnessError> {
    let display = format!("{cmd:?}");
    let out = cmd.output().map_err(io_err(format!("run {display}")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(HarnessError::Command {
            command: display,
            status: out.status.to_string(),
            output: text,
        })
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, or
/// `alive` says the server died, or `limit` passes.
pub(crate) async fn wait_for_port(
    port: u16,
    limit: Duration,
    mut alive: impl FnMut() -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return true;
        }
        if !alive() || tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The tail of a log file, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    // No log yet: an empty tail (it only decorates an error message).
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
