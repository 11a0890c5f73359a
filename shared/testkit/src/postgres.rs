//! A private PostgreSQL 15 cluster with TimescaleDB and pgvector.
//!
//! `initdb` into a temporary directory, start on an ephemeral port with a
//! private socket directory, create the `atrium` database and apply every
//! migration. PostgreSQL refuses to run as root, so when the tests run as
//! root the cluster is owned by and run as the `postgres` system user.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;
use tokio_postgres::{Client, Config, NoTls};

use crate::process::{free_port, is_root, log_tail, run};
use crate::{HarnessError, io_err};

/// The database the harness creates and migrates.
pub const DATABASE: &str = "atrium";

/// A running private PostgreSQL; stopped and deleted on drop.
#[derive(Debug)]
pub struct Postgres {
    dir: TempDir,
    port: u16,
    bin: PathBuf,
    run_as_postgres: bool,
    running: bool,
}

fn pg_bin() -> PathBuf {
    std::env::var_os("ATRIUM_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

impl Postgres {
    /// Starts a cluster, creates the `atrium` database and applies all
    /// migrations.
    pub async fn start() -> Result<Self, HarnessError> {
        let pg = Self::start_empty().await?;
        let mut client = pg.connect().await?;
        atrium_migrate::migrate(&mut client).await?;
        Ok(pg)
    }

    /// Starts a cluster with an empty `atrium` database (no migrations), for
    /// tests of the migrator itself.
    pub async fn start_empty() -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("atrium-pg-")
            .tempdir()
            .map_err(io_err("create a temporary directory"))?;
        let run_as_postgres = is_root();
        let mut pg = Self {
            dir,
            port: 0,
            bin: pg_bin(),
            run_as_postgres,
            running: false,
        };
        std::fs::create_dir(pg.socket_dir()).map_err(io_err("create the socket directory"))?;
        if run_as_postgres {
            let user = nix::unistd::User::from_name("postgres")
                .map_err(|e| HarnessError::User(e.to_string()))?
                .ok_or_else(|| {
                    HarnessError::User("no `postgres` user (is postgresql-15 installed?)".into())
                })?;
            for p in [pg.dir.path(), &pg.socket_dir()] {
                std::os::unix::fs::chown(p, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                    .map_err(io_err(format!("chown {} to postgres", p.display())))?;
            }
        }
        run(pg
            .command("initdb")
            .args([
                "--no-sync",
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-locale",
                "-D",
            ])
            .arg(pg.data_dir()))?;
        let conf = format!(
            "\n# atrium-testkit\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\n\
             shared_preload_libraries = 'timescaledb'\n\
             timescaledb.telemetry_level = off\n\
             fsync = off\n\
             full_page_writes = off\n\
             max_connections = 200\n\
             log_min_messages = warning\n",
            pg.socket_dir().display()
        );
        append(&pg.data_dir().join("postgresql.conf"), &conf)?;
        pg.start_server().await?;

        let admin = pg.connect_to("postgres").await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await?;
        Ok(pg)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut c = if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        if let Some(g) = crate::process::process_group() {
            std::os::unix::process::CommandExt::process_group(&mut c, g);
        }
        c
    }

    /// Starts the server; on a fresh cluster picks a free port, retrying if
    /// another process wins the race for it.
    async fn start_server(&mut self) -> Result<(), HarnessError> {
        let keep_port = self.port != 0;
        let mut last_err = None;
        for _ in 0..5 {
            if !keep_port {
                self.port = free_port()?;
            }
            let mut cmd = self.command("pg_ctl");
            cmd.args(["start", "-w", "-t", "60", "-D"])
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.log_file())
                .arg("-o")
                .arg(format!("-p {}", self.port));
            // pg_ctl blocks until the server accepts connections (-w).
            let result = tokio::task::spawn_blocking(move || run(&mut cmd))
                .await
                .map_err(|e| HarnessError::Io {
                    what: "join pg_ctl".into(),
                    source: std::io::Error::other(e),
                })?;
            match result {
                Ok(_) => {
                    self.running = true;
                    return Ok(());
                }
                Err(e) => last_err = Some(e),
            }
            if keep_port {
                break;
            }
        }
        Err(match last_err {
            Some(HarnessError::Command {
                command,
                status,
                output,
            }) => HarnessError::Command {
                command,
                status,
                output: format!("{output}\nserver log:\n{}", log_tail(&self.log_file())),
            },
            Some(e) => e,
            None => HarnessError::NotReady {
                what: "PostgreSQL",
                secs: 60,
                log: log_tail(&self.log_file()),
            },
        })
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A libpq-style URL for the `atrium` database, for `central --database-url`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Connection configuration for the `atrium` database.
    pub fn config(&self) -> Config {
        let mut c = Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname(DATABASE)
            .connect_timeout(Duration::from_secs(10));
        c
    }

    /// A client of the `atrium` database; its connection runs on a task.
    pub async fn connect(&self) -> Result<Client, HarnessError> {
        self.connect_to(DATABASE).await
    }

    async fn connect_to(&self, db: &str) -> Result<Client, HarnessError> {
        let mut cfg = self.config();
        cfg.dbname(db);
        let (client, conn) = cfg.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("test database connection ended: {e}");
            }
        });
        Ok(client)
    }

    /// Stops the server (fast shutdown), keeping its data: for tests of
    /// "database down" behaviour. `restart` brings it back on the same port.
    pub async fn stop(&mut self) -> Result<(), HarnessError> {
        if self.running {
            let mut cmd = self.command("pg_ctl");
            cmd.args(["stop", "-w", "-m", "fast", "-D"])
                .arg(self.data_dir());
            tokio::task::spawn_blocking(move || run(&mut cmd))
                .await
                .map_err(|e| HarnessError::Io {
                    what: "join pg_ctl".into(),
                    source: std::io::Error::other(e),
                })??;
            self.running = false;
        }
        Ok(())
    }

    /// Starts a stopped server again on the same port.
    pub async fn restart(&mut self) -> Result<(), HarnessError> {
        if !self.running {
            self.start_server().await?;
        }
        Ok(())
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        log_tail(&self.log_file())
    }
}

fn append(path: &Path, text: &str) -> Result<(), HarnessError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err(format!("open {}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(io_err(format!("write {}", path.display())))
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .command("pg_ctl")
                .args(["stop", "-m", "immediate", "-D"])
                .arg(self.data_dir())
                .output();
        }
    }
}
