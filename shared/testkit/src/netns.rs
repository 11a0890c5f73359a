//! A second host on this machine: a network namespace joined to this one
//! by a veth pair, so a test can cut the network between a process inside
//! it and a server outside (a partition) without any traffic leaving the
//! machine.
//!
//! Needs root (or password-less `sudo`) for `ip netns` and `ip link`. The
//! namespace and its veth pair are deleted on drop.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::HarnessError;
use crate::process::{is_root, run};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace with one veth link to the host.
#[derive(Debug)]
pub struct NetNs {
    name: String,
    host_if: String,
    host_ip: Ipv4Addr,
}

/// `ip …`, through `sudo -n` when not root.
fn ip() -> Command {
    if is_root() {
        Command::new("ip")
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "ip"]);
        c
    }
}

impl NetNs {
    /// Creates the namespace and the link, both ends up, with a /30 of
    /// 10.213.0.0/16 chosen from the process id and a counter.
    pub fn create() -> Result<Self, HarnessError> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag = format!("{:x}{n}", pid % 0xffff);
        // Interface names are limited to 15 bytes.
        let name = format!("atrium-{tag}");
        let host_if = format!("ath{tag}");
        let ns_if = format!("atn{tag}");
        // 64 /30 subnets per third octet; the pid spreads parallel test
        // processes over the third octet.
        let block = (pid % 250) as u8;
        let base = ((n % 63) * 4) as u8;
        let host_ip = Ipv4Addr::new(10, 213, block, base + 1);
        let ns_ip = Ipv4Addr::new(10, 213, block, base + 2);
        let ns = Self {
            name,
            host_if,
            host_ip,
        };
        // Leftovers of a killed earlier run with the same names.
        // Cleanup of what may not exist (a half-made namespace): best effort.
        let _ = ip().args(["netns", "del", &ns.name]).output();
        let _ = ip().args(["link", "del", &ns.host_if]).output();
        run(ip().args(["netns", "add", &ns.name]))?;
        run(ip().args([
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &ns_if,
        ]))?;
        run(ip().args(["link", "set", &ns_if, "netns", &ns.name]))?;
        run(ip().args(["addr", "add", &format!("{host_ip}/30"), "dev", &ns.host_if]))?;
        run(ip().args(["link", "set", &ns.host_if, "up"]))?;
        let in_ns = |args: &[&str]| {
            let mut c = ip();
            c.args(["netns", "exec", &ns.name, "ip"]).args(args);
            run(&mut c)
        };
        in_ns(&["addr", "add", &format!("{ns_ip}/30"), "dev", &ns_if])?;
        in_ns(&["link", "set", &ns_if, "up"])?;
        in_ns(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The host's address on the link (servers listen here for clients
    /// inside the namespace).
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Cuts the link: nothing passes until [`NetNs::heal`].
    pub fn cut(&self) -> Result<(), HarnessError> {
        run(ip().args(["link", "set", &self.host_if, "down"])).map(|_| ())
    }

    /// Restores the link.
    pub fn heal(&self) -> Result<(), HarnessError> {
        run(ip().args(["link", "set", &self.host_if, "up"])).map(|_| ())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the pair, and with it
        // the host's end.
        // Cleanup of what may not exist (a half-made namespace): best effort.
        let _ = ip().args(["netns", "del", &self.name]).output();
        let _ = ip().args(["link", "del", &self.host_if]).output();
    }
}
