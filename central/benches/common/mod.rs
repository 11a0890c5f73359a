//! What the central benches share: a central configured against the
//! bench's own PostgreSQL and Mosquitto, and the machine line every table
//! starts with (figures only compare within one machine and run).

use atrium_testkit::{Mosquitto, Postgres};

/// Central's configuration for a bench: its private database and broker,
/// HTTP on an ephemeral port, keys and spool in `dir`; `extra` is
/// appended (more TOML sections). `name` keeps two centrals in one bench
/// apart (client id, spool, file).
pub fn central_config(
    pg: &Postgres,
    broker: &Mosquitto,
    dir: &std::path::Path,
    name: &str,
    extra: &str,
) -> central::config::Config {
    let tls = broker.identity("central").unwrap();
    let text = format!(
        "[database]\nurl = \"{}\"\n[broker]\nhost = \"127.0.0.1\"\nport = {}\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_id = \"bench-{name}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[auth]\njwt_key_file = \"{d}/jwt.pem\"\n[ingest]\nspool_dir = \"{d}/spool-{name}\"\n{extra}\n",
        pg.url(),
        broker.port(),
        tls.ca.display(),
        tls.cert.display(),
        tls.key.display(),
        d = dir.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    central::config::Config::load(&path).unwrap()
}

/// "machine: N cores, CPU model", for the line under a table's title.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    format!(
        "machine: {} cores, {cpu}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
}
