//! A camera's counting lines and zones. Both are parts of one camera's
//! configuration with the same life (listed, read, replaced, removed inside
//! the camera's configuration transaction), so one set of functions serves
//! both through [`Part`]; only their columns and inserts differ.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use tokio_postgres::types::Json;
use utoipa::ToSchema;

use super::filter::Filter;
use super::list::{self, FromRow, Window};

/// Which side of the line, looking from `a` to `b`, is IN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InSide {
    Left,
    Right,
}

impl InSide {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Right => "right",
        }
    }

    pub fn side(self) -> atrium_proto::Side {
        match self {
            Self::Left => atrium_proto::Side::Left,
            Self::Right => atrium_proto::Side::Right,
        }
    }
}

/// A counting line (normalised coordinates, 0..1, origin top-left).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Line {
    pub camera_id: String,
    pub id: String,
    pub name: Option<String>,
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub in_side: InSide,
    pub updated_at: DateTime<Utc>,
}

/// A zone: polygon (normalised), optional occupancy limit, entry ban.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Zone {
    pub camera_id: String,
    pub id: String,
    pub name: Option<String>,
    pub polygon: Vec<[f32; 2]>,
    pub max_occupancy: Option<u32>,
    pub restricted: bool,
    pub updated_at: DateTime<Utc>,
}

/// What a line is made of, without its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct LineFields {
    pub name: Option<String>,
    pub a: [f32; 2],
    pub b: [f32; 2],
    pub in_side: InSide,
}

/// What a zone is made of, without its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneFields {
    pub name: Option<String>,
    pub polygon: Vec<[f32; 2]>,
    pub max_occupancy: Option<u32>,
    pub restricted: bool,
}

impl FromRow for Line {
    const COLUMNS: &'static str = "camera_id, id, name, a_x, a_y, b_x, b_y, in_side, updated_at";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        let side: String = r.try_get("in_side")?;
        Ok(Self {
            camera_id: r.try_get("camera_id")?,
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            a: [r.try_get("a_x")?, r.try_get("a_y")?],
            b: [r.try_get("b_x")?, r.try_get("b_y")?],
            // The table's CHECK allows only these two.
            in_side: if side == "right" {
                InSide::Right
            } else {
                InSide::Left
            },
            updated_at: r.try_get("updated_at")?,
        })
    }
}

impl FromRow for Zone {
    const COLUMNS: &'static str =
        "camera_id, id, name, polygon, max_occupancy, restricted, updated_at";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        let Json(polygon) = r.try_get::<_, Json<Vec<[f32; 2]>>>("polygon")?;
        Ok(Self {
            camera_id: r.try_get("camera_id")?,
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            polygon,
            max_occupancy: r
                .try_get::<_, Option<i32>>("max_occupancy")?
                .map(|v| v.max(0) as u32),
            restricted: r.try_get("restricted")?,
            updated_at: r.try_get("updated_at")?,
        })
    }
}

/// A line or a zone.
pub trait Part: FromRow {
    const TABLE: &'static str;
    /// "line" or "zone", for messages.
    const WHAT: &'static str;
    /// What the part is made of, without its identity.
    type Fields: Sync;
    /// The part's display name in `fields`.
    fn display_name(fields: &Self::Fields) -> Option<&str>;
    /// Stores a new part of `camera`.
    fn insert<'a, C: GenericClient + Sync>(
        client: &'a C,
        camera: &'a str,
        id: &'a str,
        fields: &'a Self::Fields,
    ) -> impl Future<Output = Result<(), WriteError>> + Send + 'a;
}

impl Part for Line {
    const TABLE: &'static str = "lines";
    const WHAT: &'static str = "line";
    type Fields = LineFields;
    fn display_name(fields: &LineFields) -> Option<&str> {
        fields.name.as_deref()
    }
    async fn insert<C: GenericClient + Sync>(
        client: &C,
        camera: &str,
        id: &str,
        l: &LineFields,
    ) -> Result<(), WriteError> {
        client
                .execute(
                    "INSERT INTO lines (camera_id, id, name, a_x, a_y, b_x, b_y, in_side) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[&camera, &id, &l.name, &l.a[0], &l.a[1], &l.b[0], &l.b[1], &l.in_side.as_str()],
                )
                .await
                .map_err(|e| write_error(e, Self::WHAT, id))?;
        Ok(())
    }
}

impl Part for Zone {
    const TABLE: &'static str = "zones";
    const WHAT: &'static str = "zone";
    type Fields = ZoneFields;
    fn display_name(fields: &ZoneFields) -> Option<&str> {
        fields.name.as_deref()
    }
    async fn insert<C: GenericClient + Sync>(
        client: &C,
        camera: &str,
        id: &str,
        z: &ZoneFields,
    ) -> Result<(), WriteError> {
        // Above i32::MAX people is no limit at all.
        let max = z
            .max_occupancy
            .map(|v| i32::try_from(v).unwrap_or(i32::MAX));
        client
                .execute(
                    "INSERT INTO zones (camera_id, id, name, polygon, max_occupancy, restricted) VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&camera, &id, &z.name, &Json(&z.polygon), &max, &z.restricted],
                )
                .await
                .map_err(|e| write_error(e, Self::WHAT, id))?;
        Ok(())
    }
}

/// Why a line or zone was not stored.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{what} {id:?} already exists on this camera")]
    Duplicate { what: &'static str, id: String },
    #[error(
        "{what} {id:?}: ids are 1-64 letters, digits, '-' or '_', coordinates are between 0 and 1"
    )]
    Invalid { what: &'static str, id: String },
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

fn write_error(e: tokio_postgres::Error, what: &'static str, id: &str) -> WriteError {
    use tokio_postgres::error::SqlState;
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => WriteError::Duplicate {
            what,
            id: id.to_owned(),
        },
        Some(c) if *c == SqlState::CHECK_VIOLATION => WriteError::Invalid {
            what,
            id: id.to_owned(),
        },
        _ => WriteError::Db(e),
    }
}

/// One page of parts, of one camera or all, ordered by camera and id.
pub async fn page<P: Part>(
    client: &impl GenericClient,
    camera: Option<String>,
    window: Window,
) -> Result<(Vec<P>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.opt("camera_id = $", camera);
    list::page(client, P::TABLE, "", &f, "camera_id, id", window).await
}

/// Every part of one camera, by id.
pub async fn of_camera<P: Part>(
    client: &impl GenericClient,
    camera: &str,
) -> Result<Vec<P>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT {} FROM {} WHERE camera_id = $1 ORDER BY id",
                P::COLUMNS,
                P::TABLE
            ),
            &[&camera],
        )
        .await?;
    list::rows(&rows)
}

/// One part.
pub async fn get<P: Part>(
    client: &impl GenericClient,
    camera: &str,
    id: &str,
) -> Result<Option<P>, tokio_postgres::Error> {
    client
        .query_opt(
            &format!(
                "SELECT {} FROM {} WHERE camera_id = $1 AND id = $2",
                P::COLUMNS,
                P::TABLE
            ),
            &[&camera, &id],
        )
        .await?
        .as_ref()
        .map(P::from_row)
        .transpose()
}

/// Removes one part; false if there was none.
pub async fn delete<P: Part>(
    client: &impl GenericClient,
    camera: &str,
    id: &str,
) -> Result<bool, tokio_postgres::Error> {
    let sql = format!("DELETE FROM {} WHERE camera_id = $1 AND id = $2", P::TABLE);
    Ok(client.execute(&sql, &[&camera, &id]).await? > 0)
}

/// Removes every part of a camera.
pub async fn delete_all<P: Part>(
    client: &impl GenericClient,
    camera: &str,
) -> Result<(), tokio_postgres::Error> {
    let sql = format!("DELETE FROM {} WHERE camera_id = $1", P::TABLE);
    client.execute(&sql, &[&camera]).await?;
    Ok(())
}
