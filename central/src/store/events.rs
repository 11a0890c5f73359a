//! The raw event log as stored (`events`, a hypertable keyed by time and
//! the edge's event id).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use super::filter::Filter;
use super::list::{self, FromRow, Window};

/// One stored event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StoredEvent {
    pub id: Uuid,
    pub ts: DateTime<Utc>,
    pub site_id: String,
    pub camera_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's `data` as published.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub received_at: DateTime<Utc>,
}

impl FromRow for StoredEvent {
    const COLUMNS: &'static str = "id, ts, site_id, camera_id, type, coalesce(payload -> 'data', 'null'::jsonb) AS data, received_at";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            ts: r.try_get("ts")?,
            site_id: r.try_get("site_id")?,
            camera_id: r.try_get("camera_id")?,
            kind: r.try_get("type")?,
            data: r.try_get("data")?,
            received_at: r.try_get("received_at")?,
        })
    }
}

/// Which events: a time range [start, end) and optional equalities.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFilter {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub site: Option<String>,
    pub camera: Option<String>,
    pub kind: Option<atrium_proto::event::EventKind>,
}

/// One page of events, newest first.
pub async fn page(
    client: &impl GenericClient,
    q: &EventFilter,
    window: Window,
) -> Result<(Vec<StoredEvent>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.add("ts >= $", q.start);
    f.add("ts < $", q.end);
    f.opt("site_id = $", q.site.clone());
    f.opt("camera_id = $", q.camera.clone());
    f.opt("type = $", q.kind.map(|k| k.as_str()));
    list::page(client, "events", "", &f, "ts DESC, id DESC", window).await
}
