//! People to recognise: what the API and the CLI's bulk import both write.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::filter::Filter;
use super::list::{self, FromRow, Window};

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

/// Employee or visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Employee,
    Visitor,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::Visitor => "visitor",
        }
    }

    /// The table's CHECK allows only the two names.
    fn parse(s: &str) -> Self {
        if s == "visitor" {
            Self::Visitor
        } else {
            Self::Employee
        }
    }
}

/// Where and when a person was last recognised.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LastSeen {
    pub ts: DateTime<Utc>,
    pub camera_id: String,
    pub confidence: f32,
}

/// A person.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub id: Uuid,
    pub name: String,
    pub category: Category,
    pub notes: String,
    pub consent: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub photos: i64,
    /// Embedders this person has templates of: recognition compares a
    /// face only with templates of its own model.
    pub template_models: Vec<String>,
    /// Whether they have a template of the embedder central enrols and
    /// recognises with (`faces.embedder`): if not (after a change of
    /// model, for photos that were not kept), new photos are needed.
    pub recognisable: bool,
    pub last_seen: Option<LastSeen>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl FromRow for Person {
    const COLUMNS: &'static str = "p.id, p.name, p.category, p.notes, p.consent, p.expires_at,
        (SELECT count(*) FROM face_photos f WHERE f.person_id = p.id) AS photos,
        (SELECT coalesce(array_agg(DISTINCT t.model ORDER BY t.model), '{}') FROM face_templates t
         WHERE t.person_id = p.id) AS template_models,
        ls.ts AS seen_ts, ls.camera_id AS seen_camera_id, ls.confidence AS seen_confidence,
        p.created_at, p.updated_at";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        let seen_ts: Option<DateTime<Utc>> = r.try_get("seen_ts")?;
        let last_seen = match seen_ts {
            Some(ts) => Some(LastSeen {
                ts,
                camera_id: r.try_get("seen_camera_id")?,
                confidence: r.try_get("seen_confidence")?,
            }),
            None => None,
        };
        Ok(Self {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            category: Category::parse(r.try_get("category")?),
            notes: r.try_get("notes")?,
            consent: r.try_get("consent")?,
            expires_at: r.try_get("expires_at")?,
            photos: r.try_get("photos")?,
            template_models: r.try_get("template_models")?,
            // Set by the caller, who knows the configured embedder.
            recognisable: false,
            last_seen,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

impl Person {
    /// Sets [`Person::recognisable`] for `embedder`.
    pub fn for_embedder(mut self, embedder: &str) -> Self {
        self.recognisable = self.template_models.iter().any(|m| m == embedder);
        self
    }
}

/// The person's latest recognition, for [`Person::last_seen`].
const LAST_SEEN_JOIN: &str = "LEFT JOIN LATERAL (
    SELECT r.ts, r.camera_id, r.confidence FROM face_recognitions r
    WHERE r.person_id = p.id AND r.status = 'recognized' ORDER BY r.ts DESC LIMIT 1) ls ON true";

/// One person.
pub async fn get(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Person>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT {} FROM persons p {LAST_SEEN_JOIN} WHERE p.id = $1",
        Person::COLUMNS
    );
    client
        .query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(Person::from_row)
        .transpose()
}

/// Which persons: part of the name (any case), a category.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonFilter {
    pub name_contains: Option<String>,
    pub category: Option<Category>,
}

/// One page of persons, by name.
pub async fn page(
    client: &impl GenericClient,
    q: &PersonFilter,
    window: Window,
) -> Result<(Vec<Person>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    if let Some(text) = q.name_contains.as_ref().filter(|t| !t.trim().is_empty()) {
        // LIKE's own characters match themselves.
        let pattern = format!(
            "%{}%",
            text.trim()
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        f.add("lower(p.name) LIKE $", pattern);
    }
    f.opt("p.category = $", q.category.map(|c| c.as_str().to_owned()));
    list::page(
        client,
        "persons p",
        LAST_SEEN_JOIN,
        &f,
        "lower(p.name), p.id",
        window,
    )
    .await
}

/// A person's name, `None` if there is no such person.
pub async fn name(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<String>, tokio_postgres::Error> {
    client
        .query_opt("SELECT name FROM persons WHERE id = $1", &[&id])
        .await?
        .map(|r| r.try_get("name"))
        .transpose()
}
