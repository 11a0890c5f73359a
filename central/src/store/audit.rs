//! The audit log of access to personal data: one writer for the API and
//! the admin CLI, so every entry has the same shape whoever made it.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A logged-in user of the API or the web UI.
    User { id: Uuid, username: &'a str },
    /// `central admin …` on the server (no user account).
    Cli,
}

/// The user name the CLI's entries carry.
pub const CLI_USERNAME: &str = "admin-cli";

/// Records `action` on `subject` (a person's id, usually), with details.
pub async fn record(
    client: &impl GenericClient,
    actor: Actor<'_>,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> Result<(), tokio_postgres::Error> {
    let (user_id, username) = match actor {
        Actor::User { id, username } => (Some(id), username),
        Actor::Cli => (None, CLI_USERNAME),
    };
    client
        .execute(
            "INSERT INTO audit_log (user_id, username, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
            &[&user_id, &username, &action, &subject, &detail],
        )
        .await?;
    Ok(())
}
