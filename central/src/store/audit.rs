//! The audit log: one writer for the API, its request log and the admin
//! CLI, so every entry has the same shape whoever made it, and one reader
//! for `GET /api/v1/audit`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::store::filter::Filter;
use crate::store::list::Window;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A user of the API or the web UI, from `address`, perhaps through
    /// one of their API keys.
    User {
        id: Uuid,
        username: &'a str,
        address: Option<IpAddr>,
        api_key: Option<Uuid>,
    },
    /// A request that carried no valid credentials (a failed login, say).
    Anonymous { address: Option<IpAddr> },
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
    let (user_id, username, address, api_key) = match actor {
        Actor::User {
            id,
            username,
            address,
            api_key,
        } => (Some(id), username, address, api_key),
        Actor::Anonymous { address } => (None, ANONYMOUS_USERNAME, address, None),
        Actor::Cli => (None, CLI_USERNAME, None, None),
    };
    client
        .execute(
            "INSERT INTO audit_log (user_id, username, action, subject, detail, address, api_key_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &user_id, &username, &action, &subject, &detail, &address, &api_key,
            ],
        )
        .await?;
    Ok(())
}

/// The user name entries without a user carry.
pub const ANONYMOUS_USERNAME: &str = "anonymous";

/// One audit entry as the API lists it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub id: i64,
    pub ts: DateTime<Utc>,
    /// The acting user (absent for the admin CLI and anonymous requests).
    pub user_id: Option<Uuid>,
    pub username: String,
    /// `http.post`, `http.put`, `http.delete` for write requests;
    /// `person.read`, `photo.read`, `recognition.list`, … for personal data.
    pub action: String,
    /// The request path, or the person's id for personal data.
    pub subject: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// The client's address.
    pub address: Option<String>,
    /// The API key used, if any.
    pub api_key_id: Option<Uuid>,
}

impl super::list::FromRow for Entry {
    const COLUMNS: &'static str =
        "id, ts, user_id, username, action, subject, detail, host(address) AS address, api_key_id";

    fn from_row(r: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            ts: r.try_get("ts")?,
            user_id: r.try_get("user_id")?,
            username: r.try_get("username")?,
            action: r.try_get("action")?,
            subject: r.try_get("subject")?,
            detail: r.try_get("detail")?,
            address: r.try_get("address")?,
            api_key_id: r.try_get("api_key_id")?,
        })
    }
}

/// What `GET /audit` filters on.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub user_id: Option<Uuid>,
    pub username: Option<String>,
    /// Exact action, or a prefix ending in `.` (`http.`).
    pub action: Option<String>,
    pub subject: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// A page of entries, newest first, and the total.
pub async fn page(
    client: &impl GenericClient,
    q: Query,
    window: Window,
) -> Result<(Vec<Entry>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.opt("user_id = $", q.user_id);
    f.opt("username = $", q.username);
    match q.action {
        Some(a) if a.ends_with('.') => f.add("starts_with(action, $)", a),
        a => f.opt("action = $", a),
    }
    f.opt("subject = $", q.subject);
    f.opt("ts >= $", q.from);
    f.opt("ts < $", q.to);
    super::list::page(client, "audit_log", "", &f, "ts DESC, id DESC", window).await
}
