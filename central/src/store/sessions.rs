//! Ending sessions everywhere at once.
//!
//! Access tokens are checked against the database on every request (the
//! session must be open, the user enabled; the role is the user's current
//! one), but a WebSocket is authenticated once, at the upgrade. So every
//! change that ends a session (logout, a reused refresh token, a new
//! password, a new role, a disabled user) also sends a PostgreSQL `NOTIFY`
//! on [`CHANNEL`], in the same transaction, naming the session or the user.
//! Every central instance listens (`live::listen`) and hands the id to its
//! WebSocket connections, which check their token again and close if it no
//! longer holds: within a second, on every instance.

use tokio_postgres::GenericClient;
use uuid::Uuid;

/// The notification channel; the payload is a session or user id.
pub const CHANNEL: &str = "atrium_sessions";

/// Announces that `id` (a session or a user) changed.
pub async fn announce(client: &impl GenericClient, id: Uuid) -> Result<(), tokio_postgres::Error> {
    client
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id.to_string()])
        .await
        .map(|_| ())
}

/// Ends every session of `user` (refresh tokens revoked, so every access
/// token of theirs is refused) and announces it.
pub async fn end_all(
    client: &impl GenericClient,
    user: Uuid,
) -> Result<u64, tokio_postgres::Error> {
    let n = client
        .execute(
            "UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND user_id = $1",
            &[&user],
        )
        .await?;
    announce(client, user).await?;
    Ok(n)
}
