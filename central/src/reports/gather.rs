//! Reading a report's figures from the store: one function per section,
//! each run for the period and for the previous one, so that every KPI
//! carries its comparison.
//!
//! Counting reads the crossings themselves (kept 400 days), not the hourly
//! rollups: rollup hours are UTC hours, and a report's hours are the
//! site's, which differ where the zone is not a whole number of hours
//! from UTC. Energy reuses `energy_view`, so a report's cost and carbon
//! are the energy API's to the cent. Definitions: docs/ref/reports.md.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use chrono_tz::Tz;
use deadpool_postgres::GenericClient;

use super::SectionKey;
use super::model::{
    Cell, Chart, ChartKind, Column, ColumnKind, Kpi, PeriodView, ReportData, Section, SiteRef,
    Table,
};
use super::period::{self, Period};
use crate::energy_view;
use crate::error::ApiError;
use crate::store::energy as energy_store;
use crate::store::energy_config;

/// A heartbeat older than this says nothing about the camera any more:
/// the edge sends one a minute, and central keeps one a minute.
const HEARTBEAT_VALID_S: i64 = 120;

/// What to gather.
#[derive(Debug, Clone)]
pub struct Request {
    pub site: String,
    pub period: Period,
    pub sections: Vec<SectionKey>,
    /// Names of recognised people (the caller holds `persons:read`).
    pub include_persons: bool,
}

/// One period's bounds in the site's zone.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Where measuring stops: the end, or now for a period in progress.
    until: DateTime<Utc>,
}

struct Ctx<'a, C> {
    client: &'a C,
    site: String,
    tz: Tz,
    now: DateTime<Utc>,
    cur: Span,
    prev: Span,
    include_persons: bool,
}

impl<C> Ctx<'_, C> {
    fn local(&self, t: DateTime<Utc>) -> DateTime<FixedOffset> {
        t.with_timezone(&self.tz).fixed_offset()
    }

    fn when(&self, t: DateTime<Utc>) -> String {
        self.local(t).format("at %H:%M on %-d %b").to_string()
    }
}

fn span(p: &Period, tz: Tz, now: DateTime<Utc>) -> Result<Span, ApiError> {
    let (start, end) = p
        .bounds(tz)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Span {
        start,
        end,
        until: end.min(now).max(start),
    })
}

fn view(p: &Period, s: &Span, tz: Tz) -> PeriodView {
    PeriodView {
        from: p.from,
        to: p.to,
        start: s.start.with_timezone(&tz).fixed_offset(),
        end: s.end.with_timezone(&tz).fixed_offset(),
    }
}

fn kpi(
    key: &str,
    label: &str,
    unit: Option<&str>,
    value: Option<f64>,
    previous: Option<f64>,
) -> Kpi {
    Kpi {
        key: key.to_string(),
        label: label.to_string(),
        unit: unit.map(str::to_string),
        value,
        previous,
        decimals: 0,
        detail: None,
        headline: false,
    }
}

fn unknown_site(id: &str) -> ApiError {
    energy_view::site_not_found(id)
}

/// Gathers a report of `req.site` for `req.period`, as of `now`.
pub async fn report(
    client: &impl GenericClient,
    req: &Request,
    now: DateTime<Utc>,
) -> Result<ReportData, ApiError> {
    let row = client
        .query_opt(
            "SELECT id, name, timezone FROM sites WHERE id = $1",
            &[&req.site],
        )
        .await?
        .ok_or_else(|| unknown_site(&req.site))?;
    let site = SiteRef {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        timezone: row.try_get("timezone")?,
    };
    let tz = period::zone(&site.timezone).map_err(|e| ApiError::internal("the site's zone", e))?;
    let previous = req
        .period
        .previous()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let cur = span(&req.period, tz, now)?;
    let prev = span(&previous, tz, now)?;
    let ctx = Ctx {
        client,
        site: site.id.clone(),
        tz,
        now,
        cur,
        prev,
        include_persons: req.include_persons,
    };
    let mut sections = Vec::new();
    let mut persons = Vec::new();
    for key in &req.sections {
        let s = match key {
            SectionKey::Counting => counting(&ctx).await?,
            SectionKey::Recognition => {
                let (s, named) = recognition(&ctx).await?;
                persons = named;
                s
            }
            SectionKey::Uptime => uptime(&ctx).await?,
            SectionKey::Alerts => alerts(&ctx).await?,
            SectionKey::Energy => energy(&ctx).await?,
            SectionKey::Systems => systems(&ctx).await?,
        };
        sections.push(s);
    }
    Ok(ReportData {
        title: req.period.kind.title().to_string(),
        period: view(&req.period, &cur, tz),
        previous: view(&previous, &prev, tz),
        site,
        sections,
        persons,
    })
}

/// Whether `table` still holds all of `s`: retention drops occupancy
/// samples and camera heartbeats after 90 days (by default), and a
/// period older than that must show "no data", not zero.
async fn kept<C: GenericClient>(ctx: &Ctx<'_, C>, table: &str, s: Span) -> Result<bool, ApiError> {
    let row = ctx
        .client
        .query_opt(
            "SELECT $2::timestamptz - keep <= $3::timestamptz AS kept FROM retention WHERE table_name = $1",
            &[&table, &ctx.now, &s.start],
        )
        .await?;
    Ok(match row {
        Some(r) => r.try_get("kept")?,
        None => true,
    })
}

const DROPPED: &str = "Figures marked – for a period older than what central keeps (see the retention table) are not known any more, not zero.";

// ------------------------------------------------------------ counting

async fn crossing_totals<C: GenericClient>(
    ctx: &Ctx<'_, C>,
    s: Span,
) -> Result<(i64, i64), ApiError> {
    let r = ctx
        .client
        .query_one(
            "SELECT count(*) FILTER (WHERE direction = 'in') AS i, count(*) FILTER (WHERE direction = 'out') AS o
             FROM line_crossings l JOIN cameras c ON c.id = l.camera_id
             WHERE c.site_id = $1 AND l.ts >= $2 AND l.ts < $3",
            &[&ctx.site, &s.start, &s.end],
        )
        .await?;
    Ok((r.try_get("i")?, r.try_get("o")?))
}

/// The site's occupancy: per minute, the sum over cameras of each
/// camera's highest count of people in view in that minute.
const MINUTE_OCCUPANCY: &str = "
    WITH per_camera AS (
        SELECT time_bucket('1 minute', o.ts) AS m, o.camera_id, max(o.in_view) AS mx
        FROM occupancy_samples o JOIN cameras c ON c.id = o.camera_id
        WHERE c.site_id = $1 AND o.ts >= $2 AND o.ts < $3
        GROUP BY 1, 2)
    SELECT m, sum(mx)::bigint AS people FROM per_camera GROUP BY m";

async fn peak<C: GenericClient>(
    ctx: &Ctx<'_, C>,
    s: Span,
) -> Result<Option<(i64, DateTime<Utc>)>, ApiError> {
    if !kept(ctx, "occupancy_samples", s).await? {
        return Ok(None);
    }
    let r = ctx
        .client
        .query_opt(
            &format!(
                "SELECT m, people FROM ({MINUTE_OCCUPANCY}) x ORDER BY people DESC, m ASC LIMIT 1"
            ),
            &[&ctx.site, &s.start, &s.end],
        )
        .await?;
    Ok(match r {
        Some(r) => Some((r.try_get("people")?, r.try_get("m")?)),
        None => None,
    })
}

async fn zone_violations<C: GenericClient>(ctx: &Ctx<'_, C>, s: Span) -> Result<i64, ApiError> {
    Ok(ctx
        .client
        .query_one(
            "SELECT count(*) AS n FROM zone_events z JOIN cameras c ON c.id = z.camera_id
             WHERE c.site_id = $1 AND z.ts >= $2 AND z.ts < $3
               AND z.kind IN ('max_occupancy', 'restricted_entry')",
            &[&ctx.site, &s.start, &s.end],
        )
        .await?
        .try_get("n")?)
}

async fn counting<C: GenericClient>(ctx: &Ctx<'_, C>) -> Result<Section, ApiError> {
    let (cur, prev) = (ctx.cur, ctx.prev);
    let (in_now, out_now) = crossing_totals(ctx, cur).await?;
    let (in_prev, out_prev) = crossing_totals(ctx, prev).await?;
    let peak_now = peak(ctx, cur).await?;
    let peak_prev = peak(ctx, prev).await?;
    let viol_now = zone_violations(ctx, cur).await?;
    let viol_prev = zone_violations(ctx, prev).await?;
    let mut k_in = kpi(
        "in",
        "People in",
        None,
        Some(in_now as f64),
        Some(in_prev as f64),
    );
    k_in.headline = true;
    let mut k_out = kpi(
        "out",
        "People out",
        None,
        Some(out_now as f64),
        Some(out_prev as f64),
    );
    k_out.headline = true;
    let mut k_peak = kpi(
        "peak_occupancy",
        "Peak people in view",
        None,
        peak_now.map(|p| p.0 as f64),
        peak_prev.map(|p| p.0 as f64),
    );
    k_peak.detail = peak_now.map(|(_, at)| ctx.when(at));
    k_peak.headline = true;
    let kpis = vec![
        k_in,
        k_out,
        k_peak,
        kpi(
            "zone_violations",
            "Zone violations",
            None,
            Some(viol_now as f64),
            Some(viol_prev as f64),
        ),
    ];

    // Per line, with the previous period beside it.
    let rows = ctx
        .client
        .query(
            "SELECT l.camera_id, coalesce(c.name, l.camera_id) AS camera, l.line_id,
                    coalesce(ln.name, l.line_id) AS line,
                    count(*) FILTER (WHERE l.direction = 'in' AND l.ts >= $2) AS i,
                    count(*) FILTER (WHERE l.direction = 'out' AND l.ts >= $2) AS o,
                    count(*) FILTER (WHERE l.direction = 'in' AND l.ts < $2) AS pi,
                    count(*) FILTER (WHERE l.direction = 'out' AND l.ts < $2) AS po
             FROM line_crossings l JOIN cameras c ON c.id = l.camera_id
             LEFT JOIN lines ln ON ln.camera_id = l.camera_id AND ln.id = l.line_id
             WHERE c.site_id = $1 AND l.ts >= $4 AND l.ts < $3
             GROUP BY 1, 2, 3, 4 ORDER BY 2, 1, 4, 3",
            &[&ctx.site, &cur.start, &cur.end, &prev.start],
        )
        .await?;
    let mut per_line = Table {
        key: "counting_lines".into(),
        title: "People in and out per line".into(),
        columns: vec![
            Column::new("Camera", ColumnKind::Text),
            Column::new("Line", ColumnKind::Text),
            Column::new("In", ColumnKind::Integer),
            Column::new("Out", ColumnKind::Integer),
            Column::new("In, previous period", ColumnKind::Integer),
            Column::new("Out, previous period", ColumnKind::Integer),
        ],
        rows: Vec::new(),
    };
    for r in rows {
        per_line.rows.push(vec![
            Cell::Text(r.try_get("camera")?),
            Cell::Text(r.try_get("line")?),
            Cell::Int(r.try_get("i")?),
            Cell::Int(r.try_get("o")?),
            Cell::Int(r.try_get("pi")?),
            Cell::Int(r.try_get("po")?),
        ]);
    }

    // Per local hour: every hour of the period, empty ones included.
    let rows = ctx
        .client
        .query(
            &format!(
                "WITH hours AS (
                     SELECT generate_series($2::timestamptz, $3::timestamptz - INTERVAL '1 hour', INTERVAL '1 hour') AS h),
                 crossings AS (
                     SELECT $2::timestamptz + floor(extract(epoch FROM l.ts - $2::timestamptz) / 3600) * INTERVAL '1 hour' AS h,
                            count(*) FILTER (WHERE direction = 'in') AS i,
                            count(*) FILTER (WHERE direction = 'out') AS o
                     FROM line_crossings l JOIN cameras c ON c.id = l.camera_id
                     WHERE c.site_id = $1 AND l.ts >= $2 AND l.ts < $3 GROUP BY 1),
                 occupancy AS (
                     SELECT $2::timestamptz + floor(extract(epoch FROM m - $2::timestamptz) / 3600) * INTERVAL '1 hour' AS h,
                            max(people) AS p
                     FROM ({MINUTE_OCCUPANCY}) x GROUP BY 1)
                 SELECT hours.h, coalesce(crossings.i, 0) AS i, coalesce(crossings.o, 0) AS o, occupancy.p
                 FROM hours LEFT JOIN crossings USING (h) LEFT JOIN occupancy USING (h)
                 WHERE hours.h < $4 ORDER BY hours.h"
            ),
            &[&ctx.site, &cur.start, &cur.end, &cur.until.max(cur.start + chrono::Duration::seconds(1))],
        )
        .await?;
    let mut per_hour = Table {
        key: "counting_hours".into(),
        title: "People per hour".into(),
        columns: vec![
            Column::new("Hour", ColumnKind::Time),
            Column::new("In", ColumnKind::Integer),
            Column::new("Out", ColumnKind::Integer),
            Column::new("Peak in view", ColumnKind::Integer),
        ],
        rows: Vec::new(),
    };
    for r in rows {
        let h: DateTime<Utc> = r.try_get("h")?;
        let p: Option<i64> = r.try_get("p")?;
        per_hour.rows.push(vec![
            Cell::Time(ctx.local(h)),
            Cell::Int(r.try_get("i")?),
            Cell::Int(r.try_get("o")?),
            p.map_or(Cell::Empty, Cell::Int),
        ]);
    }
    let mut tables = vec![per_line];
    let mut charts = vec![
        Chart {
            key: "counting_per_hour".into(),
            title: "People in and out per hour".into(),
            kind: ChartKind::Column,
            table: "counting_hours".into(),
            x: 0,
            series: vec![1, 2],
            y_label: "people".into(),
        },
        Chart {
            key: "occupancy_per_hour".into(),
            title: "Peak people in view per hour".into(),
            kind: ChartKind::Line,
            table: "counting_hours".into(),
            x: 0,
            series: vec![3],
            y_label: "people".into(),
        },
    ];
    if cur.end - cur.start > chrono::Duration::hours(25) {
        let mut per_day = Table {
            key: "counting_days".into(),
            title: "People per day".into(),
            columns: vec![
                Column::new("Day", ColumnKind::Date),
                Column::new("In", ColumnKind::Integer),
                Column::new("Out", ColumnKind::Integer),
                Column::new("Peak in view", ColumnKind::Integer),
            ],
            rows: Vec::new(),
        };
        let mut days: BTreeMap<NaiveDate, (i64, i64, Option<i64>)> = BTreeMap::new();
        for r in &per_hour.rows {
            if let (Cell::Time(t), Cell::Int(i), Cell::Int(o)) = (&r[0], &r[1], &r[2]) {
                let e = days.entry(t.date_naive()).or_insert((0, 0, None));
                e.0 += i;
                e.1 += o;
                if let Cell::Int(p) = r[3] {
                    e.2 = Some(e.2.map_or(p, |q: i64| q.max(p)));
                }
            }
        }
        for (d, (i, o, p)) in days {
            per_day.rows.push(vec![
                Cell::Date(d),
                Cell::Int(i),
                Cell::Int(o),
                p.map_or(Cell::Empty, Cell::Int),
            ]);
        }
        charts[0] = Chart {
            key: "counting_per_day".into(),
            title: "People in and out per day".into(),
            table: "counting_days".into(),
            ..charts[0].clone()
        };
        tables.push(per_day);
    }
    tables.push(per_hour);

    // Zones: entries, dwell and violations.
    let rows = ctx
        .client
        .query(
            "SELECT coalesce(c.name, z.camera_id) AS camera, coalesce(zn.name, z.zone_id) AS zone,
                    count(*) FILTER (WHERE z.kind = 'entered') AS entries,
                    avg(z.dwell_s) FILTER (WHERE z.kind = 'exited')::float8 AS mean_dwell,
                    max(z.dwell_s) FILTER (WHERE z.kind = 'exited')::float8 AS max_dwell,
                    count(*) FILTER (WHERE z.kind = 'max_occupancy') AS over,
                    count(*) FILTER (WHERE z.kind = 'restricted_entry') AS restricted
             FROM zone_events z JOIN cameras c ON c.id = z.camera_id
             LEFT JOIN zones zn ON zn.camera_id = z.camera_id AND zn.id = z.zone_id
             WHERE c.site_id = $1 AND z.ts >= $2 AND z.ts < $3
             GROUP BY 1, 2 ORDER BY 1, 2",
            &[&ctx.site, &cur.start, &cur.end],
        )
        .await?;
    let mut zones = Table {
        key: "counting_zones".into(),
        title: "Zones: dwell and violations".into(),
        columns: vec![
            Column::new("Camera", ColumnKind::Text),
            Column::new("Zone", ColumnKind::Text),
            Column::new("Entries", ColumnKind::Integer),
            Column::new("Mean dwell (s)", ColumnKind::Number(1)),
            Column::new("Longest dwell (s)", ColumnKind::Number(1)),
            Column::new("Over capacity", ColumnKind::Integer),
            Column::new("Restricted entries", ColumnKind::Integer),
        ],
        rows: Vec::new(),
    };
    for r in rows {
        zones.rows.push(vec![
            Cell::Text(r.try_get("camera")?),
            Cell::Text(r.try_get("zone")?),
            Cell::Int(r.try_get("entries")?),
            Cell::opt_num(r.try_get("mean_dwell")?),
            Cell::opt_num(r.try_get("max_dwell")?),
            Cell::Int(r.try_get("over")?),
            Cell::Int(r.try_get("restricted")?),
        ]);
    }
    tables.push(zones);
    Ok(Section {
        key: SectionKey::Counting.as_str().into(),
        title: "People counting".into(),
        kpis,
        tables,
        charts,
        notes: {
            let mut n = vec![
                "Peak people in view: per minute, the sum over the site's cameras of the most people each saw; a person seen by two cameras counts twice.".to_string(),
            ];
            if !kept(ctx, "occupancy_samples", prev).await? {
                n.push(DROPPED.into());
            }
            n
        },
    })
}

// ---------------------------------------------------------- recognition

async fn recognition_counts<C: GenericClient>(
    ctx: &Ctx<'_, C>,
    s: Span,
) -> Result<(i64, i64, i64), ApiError> {
    let r = ctx
        .client
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'recognized') AS rec,
                    count(*) FILTER (WHERE status = 'unknown') AS unk,
                    count(*) FILTER (WHERE status = 'rejected') AS rej
             FROM face_recognitions WHERE site_id = $1 AND ts >= $2 AND ts < $3",
            &[&ctx.site, &s.start, &s.end],
        )
        .await?;
    Ok((r.try_get("rec")?, r.try_get("unk")?, r.try_get("rej")?))
}

/// The recognition section, and the people it names.
async fn recognition<C: GenericClient>(
    ctx: &Ctx<'_, C>,
) -> Result<(Section, Vec<uuid::Uuid>), ApiError> {
    let (rec, unk, rej) = recognition_counts(ctx, ctx.cur).await?;
    let (prec, punk, prej) = recognition_counts(ctx, ctx.prev).await?;
    let share = |a: i64, b: i64| (a + b > 0).then(|| a as f64 / (a + b) as f64 * 100.0);
    let mut k_rec = kpi(
        "recognized",
        "Faces recognised",
        None,
        Some(rec as f64),
        Some(prec as f64),
    );
    k_rec.headline = true;
    let mut k_share = kpi(
        "recognized_share",
        "Recognised share of decisions",
        Some("%"),
        share(rec, unk),
        share(prec, punk),
    );
    k_share.decimals = 1;
    let kpis = vec![
        k_rec,
        kpi(
            "unknown",
            "Faces not recognised",
            None,
            Some(unk as f64),
            Some(punk as f64),
        ),
        kpi(
            "rejected",
            "Recognitions rejected by staff",
            None,
            Some(rej as f64),
            Some(prej as f64),
        ),
        k_share,
    ];
    let rows = ctx
        .client
        .query(
            "SELECT coalesce(c.name, r.camera_id) AS camera,
                    count(*) FILTER (WHERE r.status = 'recognized') AS rec,
                    count(*) FILTER (WHERE r.status = 'unknown') AS unk
             FROM face_recognitions r LEFT JOIN cameras c ON c.id = r.camera_id
             WHERE r.site_id = $1 AND r.ts >= $2 AND r.ts < $3
             GROUP BY 1 ORDER BY 1",
            &[&ctx.site, &ctx.cur.start, &ctx.cur.end],
        )
        .await?;
    let mut per_camera = Table {
        key: "recognition_cameras".into(),
        title: "Recognition per camera".into(),
        columns: vec![
            Column::new("Camera", ColumnKind::Text),
            Column::new("Recognised", ColumnKind::Integer),
            Column::new("Not recognised", ColumnKind::Integer),
            Column::new("Recognised (%)", ColumnKind::Percent),
        ],
        rows: Vec::new(),
    };
    for r in rows {
        let (a, b): (i64, i64) = (r.try_get("rec")?, r.try_get("unk")?);
        per_camera.rows.push(vec![
            Cell::Text(r.try_get("camera")?),
            Cell::Int(a),
            Cell::Int(b),
            Cell::opt_num(share(a, b)),
        ]);
    }
    let mut tables = vec![per_camera];
    let mut named = Vec::new();
    let mut notes = vec![
        "A decision is one per person track and camera: a person walking past twice is counted twice.".to_string(),
    ];
    if ctx.include_persons {
        let rows = ctx
            .client
            .query(
                "SELECT p.id, p.name, count(*) AS n, min(r.ts) AS first, max(r.ts) AS last
                 FROM face_recognitions r JOIN persons p ON p.id = r.person_id
                 WHERE r.site_id = $1 AND r.ts >= $2 AND r.ts < $3 AND r.status = 'recognized'
                 GROUP BY p.id, p.name ORDER BY n DESC, p.name",
                &[&ctx.site, &ctx.cur.start, &ctx.cur.end],
            )
            .await?;
        let mut people = Table {
            key: "recognition_people".into(),
            title: "People recognised".into(),
            columns: vec![
                Column::new("Person", ColumnKind::Text),
                Column::new("Recognitions", ColumnKind::Integer),
                Column::new("First seen", ColumnKind::Time),
                Column::new("Last seen", ColumnKind::Time),
            ],
            rows: Vec::new(),
        };
        for r in rows {
            named.push(r.try_get("id")?);
            people.rows.push(vec![
                Cell::Text(r.try_get("name")?),
                Cell::Int(r.try_get("n")?),
                Cell::Time(ctx.local(r.try_get("first")?)),
                Cell::Time(ctx.local(r.try_get("last")?)),
            ]);
        }
        tables.push(people);
        notes.push("This report names people: handle it as personal data.".into());
    } else {
        notes.push("Counts only: no one is named (reports name people only for holders of persons:read who ask for it).".into());
    }
    Ok((
        Section {
            key: SectionKey::Recognition.as_str().into(),
            title: "Face recognition".into(),
            kpis,
            tables,
            charts: Vec::new(),
            notes,
        },
        named,
    ))
}

// --------------------------------------------------------------- uptime

/// Seconds each camera of the site spent online, degraded and offline in
/// `s` (up to `s.until`), by camera id.
async fn camera_states<C: GenericClient>(
    ctx: &Ctx<'_, C>,
    s: Span,
) -> Result<BTreeMap<String, [f64; 3]>, ApiError> {
    let rows = ctx
        .client
        .query(
            "WITH cams AS (SELECT id FROM cameras WHERE site_id = $1),
             h AS (
                 SELECT camera_id, ts, state FROM camera_status_history
                 WHERE camera_id IN (SELECT id FROM cams) AND ts >= $2 AND ts < $3
                 UNION ALL
                 (SELECT DISTINCT ON (camera_id) camera_id, $2, state FROM camera_status_history
                  WHERE camera_id IN (SELECT id FROM cams) AND ts < $2 AND ts >= $2 - make_interval(secs => $4)
                  ORDER BY camera_id, ts DESC)),
             spans AS (
                 SELECT camera_id, state, ts,
                        least(coalesce(lead(ts) OVER (PARTITION BY camera_id ORDER BY ts), $3),
                              ts + make_interval(secs => $4), $3) AS upto
                 FROM h)
             SELECT camera_id, state, sum(extract(epoch FROM upto - ts))::float8 AS secs
             FROM spans WHERE upto > ts GROUP BY 1, 2",
            &[&ctx.site, &s.start, &s.until, &(HEARTBEAT_VALID_S as f64)],
        )
        .await?;
    let mut out: BTreeMap<String, [f64; 3]> = BTreeMap::new();
    for r in rows {
        let state: String = r.try_get("state")?;
        let i = match state.as_str() {
            "online" => 0,
            "degraded" => 1,
            _ => 2,
        };
        out.entry(r.try_get("camera_id")?).or_insert([0.0; 3])[i] += r.try_get::<_, f64>("secs")?;
    }
    Ok(out)
}

async fn uptime<C: GenericClient>(ctx: &Ctx<'_, C>) -> Result<Section, ApiError> {
    let cams = ctx
        .client
        .query(
            "SELECT id, name FROM cameras WHERE site_id = $1 AND enabled ORDER BY name, id",
            &[&ctx.site],
        )
        .await?;
    let now = camera_states(ctx, ctx.cur).await?;
    let before = camera_states(ctx, ctx.prev).await?;
    let kept_now = kept(ctx, "camera_status_history", ctx.cur).await?;
    let kept_before = kept(ctx, "camera_status_history", ctx.prev).await?;
    let span_s = |s: Span| (s.until - s.start).num_milliseconds() as f64 / 1000.0;
    // A period older than what is kept has no measurable time.
    let (cur_s, prev_s) = (
        if kept_now { span_s(ctx.cur) } else { 0.0 },
        if kept_before { span_s(ctx.prev) } else { 0.0 },
    );
    let pct =
        |secs: f64, total: f64| (total > 0.0).then(|| (secs / total * 100.0).clamp(0.0, 100.0));
    let mut table = Table {
        key: "uptime_cameras".into(),
        title: "Camera uptime".into(),
        columns: vec![
            Column::new("Camera", ColumnKind::Text),
            Column::new("Online (%)", ColumnKind::Percent),
            Column::new("Degraded (%)", ColumnKind::Percent),
            Column::new("Offline (%)", ColumnKind::Percent),
            Column::new("No report (%)", ColumnKind::Percent),
            Column::new("Online, previous period (%)", ColumnKind::Percent),
        ],
        rows: Vec::new(),
    };
    let (mut online_sum, mut online_prev_sum) = (0.0, 0.0);
    let mut worst: Option<(f64, String)> = None;
    for c in &cams {
        let id: String = c.try_get("id")?;
        let name: String = c.try_get("name")?;
        let [on, deg, off] = now.get(&id).copied().unwrap_or([0.0; 3]);
        let [pon, _, _] = before.get(&id).copied().unwrap_or([0.0; 3]);
        online_sum += on;
        online_prev_sum += pon;
        let none = (cur_s - on - deg - off).max(0.0);
        if let Some(p) = pct(on, cur_s)
            && worst.as_ref().is_none_or(|(w, _)| p < *w)
        {
            worst = Some((p, name.clone()));
        }
        table.rows.push(vec![
            Cell::Text(name),
            Cell::opt_num(pct(on, cur_s)),
            Cell::opt_num(pct(deg, cur_s)),
            Cell::opt_num(pct(off, cur_s)),
            Cell::opt_num(pct(none, cur_s)),
            Cell::opt_num(pct(pon, prev_s)),
        ]);
    }
    let n = cams.len() as f64;
    let mut k = kpi(
        "camera_uptime",
        "Camera uptime",
        Some("%"),
        pct(online_sum, cur_s * n),
        pct(online_prev_sum, prev_s * n),
    );
    k.decimals = 1;
    k.headline = true;
    k.detail = worst.map(|(p, name)| format!("lowest: {name} ({p:.1} %)"));
    Ok(Section {
        key: SectionKey::Uptime.as_str().into(),
        title: "Camera uptime".into(),
        kpis: vec![k, kpi("cameras", "Cameras", None, Some(n), Some(n))],
        tables: vec![table],
        charts: Vec::new(),
        notes: {
            let mut n = vec![format!(
                "Online time is what the cameras' edge agents reported, minute by minute; \"no report\" is time with no heartbeat for more than {HEARTBEAT_VALID_S} s (the edge box or its network was down). A period in progress is measured up to the time of the report."
            )];
            if !(kept_now && kept_before) {
                n.push(DROPPED.into());
            }
            n
        },
    })
}

// --------------------------------------------------------------- alerts

struct AlertTotals {
    fired: i64,
    acknowledged: i64,
    critical: i64,
    mean_ack_min: Option<f64>,
}

async fn alert_totals<C: GenericClient>(
    ctx: &Ctx<'_, C>,
    s: Span,
) -> Result<AlertTotals, ApiError> {
    let r = ctx
        .client
        .query_one(
            "SELECT count(*) AS fired,
                    count(*) FILTER (WHERE body->'acknowledged' IS NOT NULL AND body->'acknowledged' <> 'null') AS acked,
                    count(*) FILTER (WHERE severity <> 'warning') AS critical,
                    avg(extract(epoch FROM (body->'acknowledged'->>'at')::timestamptz - fired_at) / 60)::float8 AS tta
             FROM alerts WHERE site_id = $1 AND fired_at >= $2 AND fired_at < $3",
            &[&ctx.site, &s.start, &s.end],
        )
        .await?;
    Ok(AlertTotals {
        fired: r.try_get("fired")?,
        acknowledged: r.try_get("acked")?,
        critical: r.try_get("critical")?,
        mean_ack_min: r.try_get("tta")?,
    })
}

async fn alerts<C: GenericClient>(ctx: &Ctx<'_, C>) -> Result<Section, ApiError> {
    let a = alert_totals(ctx, ctx.cur).await?;
    let p = alert_totals(ctx, ctx.prev).await?;
    let mut fired = kpi(
        "fired",
        "Alerts fired",
        None,
        Some(a.fired as f64),
        Some(p.fired as f64),
    );
    fired.headline = true;
    let mut tta = kpi(
        "time_to_acknowledge",
        "Mean time to acknowledge",
        Some("min"),
        a.mean_ack_min,
        p.mean_ack_min,
    );
    tta.decimals = 1;
    tta.headline = true;
    let kpis = vec![
        fired,
        kpi(
            "critical",
            "Critical or escalated",
            None,
            Some(a.critical as f64),
            Some(p.critical as f64),
        ),
        kpi(
            "acknowledged",
            "Acknowledged",
            None,
            Some(a.acknowledged as f64),
            Some(p.acknowledged as f64),
        ),
        tta,
    ];
    let rows = ctx
        .client
        .query(
            "SELECT rule, count(*) AS fired,
                    count(*) FILTER (WHERE severity <> 'warning') AS critical,
                    count(*) FILTER (WHERE body->'acknowledged' IS NOT NULL AND body->'acknowledged' <> 'null') AS acked,
                    avg(extract(epoch FROM (body->'acknowledged'->>'at')::timestamptz - fired_at) / 60)::float8 AS tta,
                    count(*) FILTER (WHERE state <> 'resolved') AS open
             FROM alerts WHERE site_id = $1 AND fired_at >= $2 AND fired_at < $3
             GROUP BY rule ORDER BY fired DESC, rule",
            &[&ctx.site, &ctx.cur.start, &ctx.cur.end],
        )
        .await?;
    let mut by_rule = Table {
        key: "alerts_rules".into(),
        title: "Alerts by rule".into(),
        columns: vec![
            Column::new("Rule", ColumnKind::Text),
            Column::new("Fired", ColumnKind::Integer),
            Column::new("Critical or escalated", ColumnKind::Integer),
            Column::new("Acknowledged", ColumnKind::Integer),
            Column::new("Mean time to acknowledge (min)", ColumnKind::Number(1)),
            Column::new("Still open", ColumnKind::Integer),
        ],
        rows: Vec::new(),
    };
    for r in rows {
        by_rule.rows.push(vec![
            Cell::Text(r.try_get("rule")?),
            Cell::Int(r.try_get("fired")?),
            Cell::Int(r.try_get("critical")?),
            Cell::Int(r.try_get("acked")?),
            Cell::opt_num(r.try_get("tta")?),
            Cell::Int(r.try_get("open")?),
        ]);
    }
    let rows = ctx
        .client
        .query(
            "SELECT fired_at, rule, subject_kind || ' ' || subject_id AS subject, severity, state,
                    body->>'summary' AS summary,
                    (extract(epoch FROM (body->'acknowledged'->>'at')::timestamptz - fired_at) / 60)::float8 AS tta,
                    (body->'resolved'->>'at')::timestamptz AS resolved_at
             FROM alerts WHERE site_id = $1 AND fired_at >= $2 AND fired_at < $3
             ORDER BY fired_at, id",
            &[&ctx.site, &ctx.cur.start, &ctx.cur.end],
        )
        .await?;
    let mut list = Table {
        key: "alerts_list".into(),
        title: "Every alert fired".into(),
        columns: vec![
            Column::new("Fired", ColumnKind::Time),
            Column::new("Rule", ColumnKind::Text),
            Column::new("Subject", ColumnKind::Text),
            Column::new("Severity", ColumnKind::Text),
            Column::new("State", ColumnKind::Text),
            Column::new("Minutes to acknowledge", ColumnKind::Number(1)),
            Column::new("Resolved", ColumnKind::Time),
            Column::new("Summary", ColumnKind::Text),
        ],
        rows: Vec::new(),
    };
    for r in rows {
        let resolved: Option<DateTime<Utc>> = r.try_get("resolved_at")?;
        list.rows.push(vec![
            Cell::Time(ctx.local(r.try_get("fired_at")?)),
            Cell::Text(r.try_get("rule")?),
            Cell::Text(r.try_get("subject")?),
            Cell::Text(r.try_get("severity")?),
            Cell::Text(r.try_get("state")?),
            Cell::opt_num(r.try_get("tta")?),
            resolved.map_or(Cell::Empty, |t| Cell::Time(ctx.local(t))),
            Cell::Text(
                r.try_get::<_, Option<String>>("summary")?
                    // No summary in the body: an empty cell, nothing lost.
                    .unwrap_or_default(),
            ),
        ]);
    }
    Ok(Section {
        key: SectionKey::Alerts.as_str().into(),
        title: "Alerts".into(),
        kpis,
        tables: vec![by_rule, list],
        charts: Vec::new(),
        notes: vec![
            "Alerts are counted in the period they fired in; time to acknowledge runs from firing to the first acknowledgement.".into(),
        ],
    })
}

// --------------------------------------------------------------- energy

async fn energy<C: GenericClient>(ctx: &Ctx<'_, C>) -> Result<Section, ApiError> {
    let site = energy_view::site_for(ctx.client, Some(ctx.site.clone())).await?;
    let meters = energy_store::main_meters(ctx.client, &site.id).await?;
    let mut kpis = Vec::new();
    let mut tables = Vec::new();
    let mut notes = Vec::new();
    let mut charts = Vec::new();
    if meters.is_empty() {
        notes.push("The site has no main power meter: no energy figures.".into());
    } else {
        let m = energy_view::Metered {
            site: &site,
            meters: &meters,
            site_wide: true,
        };
        let (cur, prev) = (ctx.cur, ctx.prev);
        let (keys, _, cost) =
            energy_view::cost_of(ctx.client, &m, "day", cur.start, cur.end, ctx.now).await?;
        let (_, _, pcost) =
            energy_view::cost_of(ctx.client, &m, "day", prev.start, prev.end, ctx.now).await?;
        let carbon =
            energy_view::carbon_of(ctx.client, &site, &meters, "day", cur.start, cur.end).await?;
        let pcarbon =
            energy_view::carbon_of(ctx.client, &site, &meters, "day", prev.start, prev.end).await?;
        let currency = cost.currency.clone();
        let priced = currency.is_some();
        let mut k_kwh = kpi(
            "kwh",
            "Energy used",
            Some("kWh"),
            Some(cost.totals.kwh),
            Some(pcost.totals.kwh),
        );
        k_kwh.decimals = 1;
        k_kwh.headline = true;
        let mut k_cost = kpi(
            "cost",
            "Energy cost",
            currency.as_deref(),
            priced.then_some(cost.totals.total),
            pcost.currency.is_some().then_some(pcost.totals.total),
        );
        k_cost.decimals = 2;
        k_cost.headline = true;
        let mut k_loc = kpi(
            "co2e_location",
            "Emissions, location-based",
            Some("kg CO2e"),
            Some(carbon.total.location_based_kg),
            Some(pcarbon.total.location_based_kg),
        );
        k_loc.decimals = 1;
        k_loc.headline = true;
        let mut k_mkt = kpi(
            "co2e_market",
            "Emissions, market-based",
            Some("kg CO2e"),
            Some(carbon.total.market_based_kg),
            Some(pcarbon.total.market_based_kg),
        );
        k_mkt.decimals = 1;
        kpis = vec![k_kwh, k_cost, k_loc, k_mkt];
        if !cost.unpriced_days.is_empty() {
            notes.push(format!(
                "{} day(s) had no tariff in force: their energy is not priced.",
                cost.unpriced_days.len()
            ));
        }
        let mut by_day: BTreeMap<NaiveDate, (f64, Option<f64>, f64, f64)> = BTreeMap::new();
        for (k, c) in keys.iter().zip(&cost.buckets) {
            let d = k.with_timezone(&ctx.tz).date_naive();
            let e = by_day.entry(d).or_insert((0.0, None, 0.0, 0.0));
            e.0 += c.kwh;
            if priced {
                e.1 = Some(e.1.unwrap_or(0.0) + c.total);
            }
        }
        for ((_, local), em) in carbon.keys.iter().zip(&carbon.buckets) {
            let e = by_day.entry(local.date()).or_insert((0.0, None, 0.0, 0.0));
            e.2 += em.location_based_kg;
            e.3 += em.market_based_kg;
        }
        let cost_col = format!("Cost ({})", currency.as_deref().unwrap_or("unpriced"));
        let mut days = Table {
            key: "energy_days".into(),
            title: "Energy per day".into(),
            columns: vec![
                Column::new("Day", ColumnKind::Date),
                Column::new("Energy (kWh)", ColumnKind::Number(1)),
                Column::new(&cost_col, ColumnKind::Number(2)),
                Column::new("kg CO2e, location-based", ColumnKind::Number(1)),
                Column::new("kg CO2e, market-based", ColumnKind::Number(1)),
            ],
            rows: Vec::new(),
        };
        for (d, (kwh, c, loc, mkt)) in by_day {
            if d < ctx.cur.start.with_timezone(&ctx.tz).date_naive() {
                continue;
            }
            days.rows.push(vec![
                Cell::Date(d),
                Cell::Num(kwh),
                Cell::opt_num(c),
                Cell::Num(loc),
                Cell::Num(mkt),
            ]);
        }
        tables.push(days);
        charts.push(Chart {
            key: "energy_per_day".into(),
            title: "Energy per day".into(),
            kind: ChartKind::Column,
            table: "energy_days".into(),
            x: 0,
            series: vec![1],
            y_label: "kWh".into(),
        });
    }
    // Targets whose period overlaps the report's.
    let mut targets = Table {
        key: "energy_targets".into(),
        title: "Energy targets".into(),
        columns: vec![
            Column::new("Target", ColumnKind::Text),
            Column::new("Metric", ColumnKind::Text),
            Column::new("From", ColumnKind::Date),
            Column::new("To (exclusive)", ColumnKind::Date),
            Column::new("Target value", ColumnKind::Number(1)),
            Column::new("Used so far", ColumnKind::Number(1)),
            Column::new("Variance (%)", ColumnKind::Number(1)),
            Column::new("Forecast", ColumnKind::Number(1)),
            Column::new("On track", ColumnKind::Text),
        ],
        rows: Vec::new(),
    };
    for t in energy_config::targets(ctx.client, Some(&ctx.site), None).await? {
        if t.end_at <= ctx.cur.start || t.start_at >= ctx.cur.end {
            continue;
        }
        let v = energy_view::target_view(ctx.client, t, ctx.cur.until).await?;
        let p = v.progress.as_ref();
        targets.rows.push(vec![
            Cell::Text(v.name.clone()),
            Cell::Text(v.metric.clone()),
            Cell::Date(v.period_start),
            Cell::Date(v.period_end),
            Cell::Num(v.value),
            Cell::opt_num(p.map(|p| p.actual)),
            Cell::opt_num(p.and_then(|p| p.variance_percent)),
            Cell::opt_num(p.and_then(|p| p.forecast)),
            match (p, &v.error) {
                (Some(p), _) => Cell::text(if p.on_track { "yes" } else { "no" }),
                (None, Some(e)) => Cell::text(e.clone()),
                (None, None) => Cell::Empty,
            },
        ]);
    }
    tables.push(targets);
    Ok(Section {
        key: SectionKey::Energy.as_str().into(),
        title: "Energy, cost and carbon".into(),
        kpis,
        tables,
        charts,
        notes,
    })
}

// -------------------------------------------------------------- systems

async fn device_event_counts<C: GenericClient>(
    ctx: &Ctx<'_, C>,
    s: Span,
) -> Result<BTreeMap<String, i64>, ApiError> {
    let rows = ctx
        .client
        .query(
            "SELECT type, count(*) AS n FROM device_events
             WHERE site_id = $1 AND ts >= $2 AND ts < $3 GROUP BY type",
            &[&ctx.site, &s.start, &s.end],
        )
        .await?;
    let mut out = BTreeMap::new();
    for r in rows {
        out.insert(r.try_get("type")?, r.try_get("n")?);
    }
    Ok(out)
}

async fn systems<C: GenericClient>(ctx: &Ctx<'_, C>) -> Result<Section, ApiError> {
    let now = device_event_counts(ctx, ctx.cur).await?;
    let before = device_event_counts(ctx, ctx.prev).await?;
    let get = |m: &BTreeMap<String, i64>, k: &str| m.get(k).copied().unwrap_or(0) as f64;
    let mut alarms = kpi(
        "alarms",
        "Alarms",
        None,
        Some(get(&now, "alarm")),
        Some(get(&before, "alarm")),
    );
    alarms.headline = true;
    let kpis = vec![
        kpi(
            "access",
            "Access events",
            None,
            Some(get(&now, "access")),
            Some(get(&before, "access")),
        ),
        alarms,
        kpi(
            "faults",
            "Faults",
            None,
            Some(get(&now, "fault")),
            Some(get(&before, "fault")),
        ),
    ];
    let rows = ctx
        .client
        .query(
            "SELECT e.type, e.kind,
                    count(*) FILTER (WHERE e.ts >= $2) AS n,
                    count(*) FILTER (WHERE e.ts < $2) AS p,
                    count(*) FILTER (WHERE e.ts >= $2 AND e.severity = 'critical') AS crit
             FROM device_events e
             WHERE e.site_id = $1 AND e.ts >= $4 AND e.ts < $3
             GROUP BY 1, 2 ORDER BY 1, 2",
            &[&ctx.site, &ctx.cur.start, &ctx.cur.end, &ctx.prev.start],
        )
        .await?;
    let mut by_kind = Table {
        key: "systems_events".into(),
        title: "Building-system events by kind".into(),
        columns: vec![
            Column::new("Type", ColumnKind::Text),
            Column::new("Kind", ColumnKind::Text),
            Column::new("Events", ColumnKind::Integer),
            Column::new("Critical", ColumnKind::Integer),
            Column::new("Events, previous period", ColumnKind::Integer),
        ],
        rows: Vec::new(),
    };
    for r in rows {
        by_kind.rows.push(vec![
            Cell::Text(r.try_get("type")?),
            Cell::Text(r.try_get("kind")?),
            Cell::Int(r.try_get("n")?),
            Cell::Int(r.try_get("crit")?),
            Cell::Int(r.try_get("p")?),
        ]);
    }
    let rows = ctx
        .client
        .query(
            "SELECT d.name, d.kind, coalesce(d.location, '') AS location,
                    count(e.*) FILTER (WHERE e.type = 'alarm') AS alarms,
                    count(e.*) FILTER (WHERE e.type = 'fault') AS faults,
                    count(e.*) AS n
             FROM devices d
             LEFT JOIN device_events e ON e.device_id = d.id AND e.ts >= $2 AND e.ts < $3
             WHERE d.site_id = $1 AND d.enabled
             GROUP BY d.id, d.name, d.kind, d.location ORDER BY d.kind, d.name",
            &[&ctx.site, &ctx.cur.start, &ctx.cur.end],
        )
        .await?;
    let mut devices = Table {
        key: "systems_devices".into(),
        title: "Building-system devices".into(),
        columns: vec![
            Column::new("Device", ColumnKind::Text),
            Column::new("Kind", ColumnKind::Text),
            Column::new("Location", ColumnKind::Text),
            Column::new("Events", ColumnKind::Integer),
            Column::new("Alarms", ColumnKind::Integer),
            Column::new("Faults", ColumnKind::Integer),
        ],
        rows: Vec::new(),
    };
    for r in rows {
        devices.rows.push(vec![
            Cell::Text(r.try_get("name")?),
            Cell::Text(r.try_get("kind")?),
            Cell::Text(r.try_get("location")?),
            Cell::Int(r.try_get("n")?),
            Cell::Int(r.try_get("alarms")?),
            Cell::Int(r.try_get("faults")?),
        ]);
    }
    Ok(Section {
        key: SectionKey::Systems.as_str().into(),
        title: "Building systems".into(),
        kpis,
        tables: vec![by_kind, devices],
        charts: Vec::new(),
        notes: Vec::new(),
    })
}
