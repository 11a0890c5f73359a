//! Database access.

use tokio_postgres::{Client, NoTls};

/// Why the database could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL: {0}")]
    Url(#[source] tokio_postgres::Error),
    #[error("connecting to the database at {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: tokio_postgres::Error,
    },
}

/// Opens one connection (driven on a background task).
pub async fn connect(url: &str) -> Result<Client, StoreError> {
    let config: tokio_postgres::Config = url.parse().map_err(StoreError::Url)?;
    let target = describe(&config);
    let (client, conn) = config
        .connect(NoTls)
        .await
        .map_err(|source| StoreError::Connect { target, source })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!("database connection ended: {e}");
        }
    });
    Ok(client)
}

/// `host:port/db` without the password, for messages.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default)");
    format!("{host}:{port}/{db}")
}
