//! Database access: connections, and the SQL helpers handlers share.

pub mod alert_facts;
pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod cameras;
pub mod counting;
pub mod devices;
pub mod energy;
pub mod energy_config;
pub mod events;
pub mod faces;
pub mod filter;
pub mod list;
pub mod parts;
pub mod persons;
pub mod recognitions;
pub mod reports;
pub mod sessions;
pub mod sites;
pub mod systems;
pub mod users;
pub mod violations;

use tokio_postgres::NoTls;

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
    #[error("connecting to the database at {target}: {message}")]
    Pool { target: String, message: String },
}

/// Opens one connection for a command-line tool. It is the same client
/// type the server's pool hands out, so every store function serves both.
pub async fn connect(url: &str) -> Result<deadpool_postgres::Client, StoreError> {
    connect_config(url.parse().map_err(StoreError::Url)?).await
}

/// The same from a parsed configuration (central's config file).
pub async fn connect_config(
    config: tokio_postgres::Config,
) -> Result<deadpool_postgres::Client, StoreError> {
    let target = describe(&config);
    let manager = deadpool_postgres::Manager::from_config(
        config,
        NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(1)
        .build()
        .map_err(|e| StoreError::Pool {
            target: target.clone(),
            message: e.to_string(),
        })?;
    pool.get().await.map_err(|e| match e {
        deadpool_postgres::PoolError::Backend(source) => StoreError::Connect { target, source },
        other => StoreError::Pool {
            target,
            message: other.to_string(),
        },
    })
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
