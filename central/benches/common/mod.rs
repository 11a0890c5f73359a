//! What the central benches share: a central configured against the
//! bench's own PostgreSQL and Mosquitto, and the machine line every table
//! starts with (figures only compare within one machine and run).

// Each bench is its own crate and uses only some of these.
#![allow(dead_code)]

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
    let cpu = match std::fs::read_to_string("/proc/cpuinfo") {
        Ok(t) => t
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or_else(
                || "CPU model not in /proc/cpuinfo".to_owned(),
                |m| m.trim().to_owned(),
            ),
        Err(e) => format!("CPU model unknown (/proc/cpuinfo: {e})"),
    };
    format!(
        "machine: {} cores, {cpu}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
}

/// Makes a user with `role` and logs in on the central at `addr`; the
/// access token.
pub async fn token(db: &tokio_postgres::Client, addr: std::net::SocketAddr, role: &str) -> String {
    let pw = "bench password, long enough";
    let hash = central::auth::password::hash(pw).unwrap();
    let username = format!("bench-{role}");
    db.execute(
        "INSERT INTO users (id, username, password_hash, role) VALUES ($1, $2, $3, $4)",
        &[&uuid::Uuid::now_v7(), &username, &hash, &role],
    )
    .await
    .unwrap();
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": pw}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

/// The `p` quantile (0..1) of `v` (sorted in place), nearest rank.
pub fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}
