//! People to recognise: what the API and the CLI's bulk import both write.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// A person to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPerson<'a> {
    pub name: &'a str,
    /// `employee` or `visitor` (the table's CHECK).
    pub category: &'a str,
    pub notes: &'a str,
    pub consent: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Stores a new person under a fresh id (UUIDv7) and returns the id.
pub async fn insert(
    client: &impl GenericClient,
    p: &NewPerson<'_>,
) -> Result<Uuid, tokio_postgres::Error> {
    let id = Uuid::now_v7();
    client
        .execute(
            "INSERT INTO persons (id, name, category, notes, consent, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&id, &p.name, &p.category, &p.notes, &p.consent, &p.expires_at],
        )
        .await?;
    Ok(id)
}
