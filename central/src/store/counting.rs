//! Counting read models: per camera, the latest state, occupancy and
//! IN/OUT today (site-local day, from the minute rollups); and IN/OUT per
//! line per hour or site-local day (from the hour rollups).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;

use super::filter::Filter;
use super::list::Window;

/// One camera's latest figures, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraCounts {
    pub camera_id: String,
    pub site_id: String,
    pub name: String,
    /// The last reported state and since when; `None` if never reported.
    pub state: Option<String>,
    pub state_since: Option<DateTime<Utc>>,
    /// The last heartbeat.
    pub last_seen: Option<DateTime<Utc>>,
    /// The latest occupancy sample of the last day.
    pub in_view: Option<i32>,
    pub zones: Option<serde_json::Value>,
    pub occupancy_at: Option<DateTime<Utc>>,
    /// `[{line_id, in, out}]` today.
    pub lines_today: serde_json::Value,
}

impl CameraCounts {
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            camera_id: r.try_get("id")?,
            site_id: r.try_get("site_id")?,
            name: r.try_get("name")?,
            state: r.try_get("state")?,
            state_since: r.try_get("changed_at")?,
            last_seen: r.try_get("status_ts")?,
            in_view: r.try_get("in_view")?,
            zones: r.try_get("zones")?,
            occupancy_at: r.try_get("occupancy_ts")?,
            lines_today: r.try_get("lines")?,
        })
    }
}

/// The per-camera figures, for the cameras `cams_sql` selects (a query
/// returning `id, site_id, name, timezone`), with the start of the
/// site-local day and of the next.
fn current_sql(cams_sql: &str) -> String {
    format!(
        "WITH cams AS ({cams_sql}),
         days AS (
            SELECT cams.*, date_trunc('day', now() AT TIME ZONE cams.timezone) AS local_day FROM cams)
         SELECT days.id, days.site_id, days.name, st.state, st.changed_at, st.ts AS status_ts,
                o.in_view, o.zones, o.ts AS occupancy_ts, lt.lines,
                days.local_day AT TIME ZONE days.timezone AS day_start,
                (days.local_day + INTERVAL '1 day') AT TIME ZONE days.timezone AS next_day_start
         FROM days
         LEFT JOIN camera_status_current st ON st.camera_id = days.id
         LEFT JOIN LATERAL (
            SELECT ts, in_view, zones FROM occupancy_samples
            WHERE camera_id = days.id AND ts > now() - INTERVAL '1 day'
            ORDER BY ts DESC LIMIT 1) o ON true
         LEFT JOIN LATERAL (
            SELECT coalesce(jsonb_agg(jsonb_build_object('line_id', line_id, 'in', i, 'out', o) ORDER BY line_id), '[]') AS lines
            FROM (SELECT line_id, sum(in_count) AS i, sum(out_count) AS o FROM crossing_rollups
                  WHERE resolution = 'minute' AND camera_id = days.id
                    AND bucket >= (days.local_day AT TIME ZONE days.timezone)
                  GROUP BY line_id) x) lt ON true
         ORDER BY days.id"
    )
}

/// One page of cameras (by id) with their figures, and how many match.
pub async fn current(
    client: &impl GenericClient,
    site: Option<String>,
    camera: Option<String>,
    window: Window,
) -> Result<(Vec<CameraCounts>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.opt("c.site_id = $", site);
    f.opt("c.id = $", camera);
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) AS n FROM cameras c {}", f.where_sql()),
            &f.params(&[]),
        )
        .await?
        .try_get("n")?;
    let n = f.next_index();
    let sql = current_sql(&format!(
        "SELECT c.id, c.site_id, c.name, s.timezone FROM cameras c JOIN sites s ON s.id = c.site_id
         {where_sql} ORDER BY c.id LIMIT ${n} OFFSET ${m}",
        where_sql = f.where_sql(),
        m = n + 1,
    ));
    let rows = client
        .query(&sql, &f.params(&[&window.limit, &window.offset]))
        .await?;
    let data = rows
        .iter()
        .map(CameraCounts::from_row)
        .collect::<Result<_, _>>()?;
    Ok((data, total))
}

/// Every camera's figures with the site-local day they count (for the
/// in-memory view of `counting/current`).
#[derive(Debug, Clone, PartialEq)]
pub struct CameraCountsToday {
    pub counts: CameraCounts,
    /// Start of the site-local day the figures' "today" is, and of the next.
    pub day_start: DateTime<Utc>,
    pub next_day_start: DateTime<Utc>,
}

/// Every camera, by id.
pub async fn current_all(
    client: &impl GenericClient,
) -> Result<Vec<CameraCountsToday>, tokio_postgres::Error> {
    let sql = current_sql(
        "SELECT c.id, c.site_id, c.name, s.timezone FROM cameras c JOIN sites s ON s.id = c.site_id",
    );
    client
        .query(&sql, &[])
        .await?
        .iter()
        .map(|r| {
            Ok(CameraCountsToday {
                counts: CameraCounts::from_row(r)?,
                day_start: r.try_get("day_start")?,
                next_day_start: r.try_get("next_day_start")?,
            })
        })
        .collect()
}

/// Bucket size of the history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    #[default]
    Hourly,
    Daily,
}

/// IN/OUT of one line in one bucket.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryBucket {
    /// Start of the hour (UTC), or of the site-local day.
    pub bucket: DateTime<Utc>,
    pub camera_id: String,
    pub line_id: String,
    #[serde(rename = "in")]
    pub in_count: i64,
    #[serde(rename = "out")]
    pub out_count: i64,
}

/// Which buckets: those starting in [start, end), optionally of one site,
/// camera or line.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryFilter {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub site: Option<String>,
    pub camera: Option<String>,
    pub line: Option<String>,
    pub interval: Interval,
}

/// One page of buckets, oldest first, and how many match.
pub async fn history(
    client: &impl GenericClient,
    q: &HistoryFilter,
    window: Window,
) -> Result<(Vec<HistoryBucket>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.add("r.resolution = $", "hour".to_owned());
    f.opt("c.site_id = $", q.site.clone());
    f.opt("r.camera_id = $", q.camera.clone());
    f.opt("r.line_id = $", q.line.clone());
    let bucket = match q.interval {
        Interval::Hourly => "r.bucket",
        Interval::Daily => "time_bucket(INTERVAL '1 day', r.bucket, s.timezone)",
    };
    let n = f.next_index();
    let grouped = format!(
        "SELECT {bucket} AS b, r.camera_id, r.line_id, sum(r.in_count)::bigint AS i, sum(r.out_count)::bigint AS o
         FROM crossing_rollups r JOIN cameras c ON c.id = r.camera_id JOIN sites s ON s.id = c.site_id
         {where_sql} AND r.bucket >= ${n} AND r.bucket < ${e}
         GROUP BY 1, 2, 3 HAVING {bucket} >= ${n} AND {bucket} < ${e}",
        // A day bucket holds hours at or after its start, so filtering the
        // hours by the range first loses nothing the HAVING would keep.
        where_sql = f.where_sql(),
        e = n + 1,
    );
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) AS n FROM ({grouped}) g"),
            &f.params(&[&q.start, &q.end]),
        )
        .await?
        .try_get("n")?;
    let sql = format!(
        "SELECT b, camera_id, line_id, i, o FROM ({grouped}) g ORDER BY b, camera_id, line_id LIMIT ${} OFFSET ${}",
        n + 2,
        n + 3
    );
    let rows = client
        .query(
            &sql,
            &f.params(&[&q.start, &q.end, &window.limit, &window.offset]),
        )
        .await?;
    let data = rows
        .iter()
        .map(|r| {
            Ok(HistoryBucket {
                bucket: r.try_get("b")?,
                camera_id: r.try_get("camera_id")?,
                line_id: r.try_get("line_id")?,
                in_count: r.try_get("i")?,
                out_count: r.try_get("o")?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    Ok((data, total))
}

/// People in view in one bucket of one camera, from its occupancy samples.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OccupancyBucket {
    /// Start of the bucket (aligned to the site's local midnight).
    pub bucket: DateTime<Utc>,
    pub camera_id: String,
    /// The most people in view in one sample.
    pub max_in_view: i32,
    /// The mean of the samples.
    pub avg_in_view: f64,
    /// How many samples the bucket holds (the edge sends one every few
    /// seconds while it streams; none while it is offline).
    pub samples: i64,
}

/// Which occupancy buckets: samples in [start, end) in buckets of
/// `bucket_minutes`, optionally of one site or camera.
#[derive(Debug, Clone, PartialEq)]
pub struct OccupancyFilter {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub site: Option<String>,
    pub camera: Option<String>,
    pub bucket_minutes: i32,
}

/// One page of occupancy buckets, oldest first, and how many match.
pub async fn occupancy(
    client: &impl GenericClient,
    q: &OccupancyFilter,
    window: Window,
) -> Result<(Vec<OccupancyBucket>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    f.add("o.ts >= $", q.start);
    f.add("o.ts < $", q.end);
    f.opt("c.site_id = $", q.site.clone());
    f.opt("o.camera_id = $", q.camera.clone());
    let n = f.next_index();
    // time_bucket with the site's zone: buckets of a day or its divisors
    // start at local midnight, as the charts show them.
    let grouped = format!(
        "SELECT time_bucket(make_interval(mins => ${n}), o.ts, s.timezone) AS b, o.camera_id,
                max(o.in_view) AS mx, avg(o.in_view)::float8 AS av, count(*) AS n
         FROM occupancy_samples o JOIN cameras c ON c.id = o.camera_id JOIN sites s ON s.id = c.site_id
         {where_sql}
         GROUP BY 1, 2",
        where_sql = f.where_sql(),
    );
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) AS n FROM ({grouped}) g"),
            &f.params(&[&q.bucket_minutes]),
        )
        .await?
        .try_get("n")?;
    let sql = format!(
        "SELECT b, camera_id, mx, av, n FROM ({grouped}) g ORDER BY b, camera_id LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows = client
        .query(
            &sql,
            &f.params(&[&q.bucket_minutes, &window.limit, &window.offset]),
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(OccupancyBucket {
                bucket: r.try_get("b")?,
                camera_id: r.try_get("camera_id")?,
                max_in_view: r.try_get("mx")?,
                avg_in_view: r.try_get("av")?,
                samples: r.try_get("n")?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map(|data| (data, total))
}
