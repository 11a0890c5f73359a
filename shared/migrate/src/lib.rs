//! Applies the numbered SQL migrations in `migrations/` to a database.
//!
//! Why our own: the user fixed the file naming (`migrations/0001_name.sql`)
//! and the driver (tokio-postgres); refinery wants `V1__name.sql` and sqlx
//! brings a second PostgreSQL driver. What we need is small: apply pending
//! files in order, each in its own transaction, record them, refuse to run if
//! an applied file has since been edited, and let two central instances start
//! at once without racing (a session advisory lock).
//!
//! The SQL is embedded at compile time so a deployed `central` binary always
//! carries exactly the migrations it was built with.

use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

static MIGRATIONS_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../migrations");

/// Arbitrary constant shared by every Atrium process: the advisory lock key
/// that serialises concurrent migrators.
const LOCK_KEY: i64 = 0x0041_7472_6975_6d00; // "\0Atrium\0"

/// One migration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The number before the first underscore (`0001` → 1).
    pub version: i32,
    /// The rest of the file name without `.sql`.
    pub name: String,
    pub sql: &'static str,
    /// Lower-case hex SHA-256 of the file.
    pub checksum: String,
}

/// Why migrations could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration file {0:?} is not named NNNN_name.sql")]
    BadName(String),
    #[error("migration files {a:?} and {b:?} share version {version}")]
    Duplicate { version: i32, a: String, b: String },
    #[error("migration file {0:?} is not UTF-8")]
    NotUtf8(String),
    #[error(
        "migration {version} ({name}) was applied with checksum {applied} but the file now has {current}: applied migrations must never be edited; add a new one"
    )]
    Edited {
        version: i32,
        name: String,
        applied: String,
        current: String,
    },
    #[error(
        "the database has migration {version} ({name}) which this binary does not know: it was migrated by a newer Atrium"
    )]
    Unknown { version: i32, name: String },
    #[error("migration {version} ({name}) failed: {source}")]
    Apply {
        version: i32,
        name: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("database: {0}")]
    Db(#[from] tokio_postgres::Error),
}

/// All embedded migrations, in version order.
pub fn migrations() -> Result<Vec<Migration>, MigrateError> {
    let mut out: Vec<Migration> = Vec::new();
    for file in MIGRATIONS_DIR.files() {
        let fname = file.path().to_string_lossy().into_owned();
        let Some(stem) = fname.strip_suffix(".sql") else {
            continue;
        };
        let (num, name) = stem
            .split_once('_')
            .ok_or_else(|| MigrateError::BadName(fname.clone()))?;
        if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
            return Err(MigrateError::BadName(fname));
        }
        let version: i32 = num
            .parse()
            .map_err(|_| MigrateError::BadName(fname.clone()))?;
        let sql = file
            .contents_utf8()
            .ok_or_else(|| MigrateError::NotUtf8(fname.clone()))?;
        out.push(Migration {
            version,
            name: name.to_owned(),
            sql,
            checksum: hex::encode(Sha256::digest(sql.as_bytes())),
        });
    }
    out.sort_by_key(|m| m.version);
    for pair in out.windows(2) {
        if pair[0].version == pair[1].version {
            return Err(MigrateError::Duplicate {
                version: pair[0].version,
                a: pair[0].name.clone(),
                b: pair[1].name.clone(),
            });
        }
    }
    Ok(out)
}

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Versions applied by this call, in order.
    pub applied: Vec<i32>,
    /// Versions that were already present.
    pub already: Vec<i32>,
}

/// Applies every pending migration, in order, each in its own transaction.
pub async fn migrate(client: &mut Client) -> Result<Report, MigrateError> {
    let all = migrations()?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            );
            COMMENT ON TABLE schema_migrations IS
                'Migrations applied by central migrate: one row per migrations/NNNN_name.sql file.';",
        )
        .await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = apply_pending(client, &all).await;
    // Unlock even when applying failed; the lock is also dropped with the
    // session, so an error here is not worth masking the real one.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    result
}

async fn apply_pending(client: &mut Client, all: &[Migration]) -> Result<Report, MigrateError> {
    let rows = client
        .query(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    let mut report = Report::default();
    for row in &rows {
        let version: i32 = row.get(0);
        let name: String = row.get(1);
        let checksum: String = row.get(2);
        let Some(known) = all.iter().find(|m| m.version == version) else {
            return Err(MigrateError::Unknown { version, name });
        };
        if known.checksum != checksum {
            return Err(MigrateError::Edited {
                version,
                name,
                applied: checksum,
                current: known.checksum.clone(),
            });
        }
        report.already.push(version);
    }
    for m in all.iter().filter(|m| !report.already.contains(&m.version)) {
        tracing::info!(version = m.version, name = %m.name, "applying migration");
        let apply_err = |source| MigrateError::Apply {
            version: m.version,
            name: m.name.clone(),
            source,
        };
        let tx = client.transaction().await?;
        tx.batch_execute(m.sql).await.map_err(apply_err)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &m.checksum],
        )
        .await?;
        tx.commit().await.map_err(apply_err)?;
        report.applied.push(m.version);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_are_numbered_from_one_without_gaps() {
        let all = migrations().unwrap();
        assert!(!all.is_empty());
        for (i, m) in all.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{} out of sequence", m.name);
            assert_eq!(m.checksum.len(), 64);
        }
    }
}
