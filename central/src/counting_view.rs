//! `GET /api/v1/counting/current` from memory: per camera its state,
//! latest occupancy and IN/OUT today, kept current by the live feed.
//!
//! The dashboard and integrations poll this endpoint; aggregating the
//! minute rollups per request cost a database query each (504 req/s on 2
//! cores). The view is loaded from the database in one snapshot and then
//! follows the committed events that ingest announces (`crate::live`), so
//! a request is a read of a map.
//!
//! **Exactness.** A notification is delivered after its transaction
//! commits, possibly after a reload has already read that transaction's
//! rows. Ingest puts its transaction id in every notification and a
//! reload records its snapshot (`pg_current_snapshot()`), so an event is
//! applied only if its transaction is not visible in the snapshot the view
//! was loaded from: nothing is counted twice or missed. (A notification
//! without a transaction id, from an older instance, is applied; the next
//! reload corrects any double count.)
//!
//! **What reloads it.** Every [`RELOAD_EVERY`] (cameras added, renamed or
//! removed on another instance, a broadcast the view fell behind), at the
//! next site-local midnight, after the live feed lags, and on
//! [`CountingView::reload_soon`] (a change made through this instance).
//! While the database is away the view keeps answering from what it has.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, broadcast, watch};

use crate::live::LiveEvent;
use crate::store::counting::CameraCounts;
use crate::store::list::Window;

/// The longest a change of the camera registry made elsewhere takes to show.
pub const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// A PostgreSQL snapshot (`xmin:xmax:xip,…`): which transactions' effects
/// it sees.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    xmin: u64,
    xmax: u64,
    in_progress: HashSet<u64>,
}

impl Snapshot {
    /// Parses `pg_current_snapshot()::text`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let list = parts.next()?;
        let in_progress = list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        parts.next().is_none().then_some(Self {
            xmin,
            xmax,
            in_progress,
        })
    }

    /// Whether transaction `xid`'s effects are in the snapshot (committed
    /// before it was taken): PostgreSQL's own rule.
    pub fn sees(&self, xid: u64) -> bool {
        xid < self.xmin || (xid < self.xmax && !self.in_progress.contains(&xid))
    }
}

/// One camera as the view holds it.
#[derive(Debug, Clone, PartialEq)]
struct Camera {
    site: String,
    name: String,
    /// Start of the site-local day the load fell in, and of the next.
    day_start: DateTime<Utc>,
    next_day_start: DateTime<Utc>,
    /// Last reported state, since when, last heartbeat.
    state: Option<String>,
    state_since: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    /// Latest occupancy sample: time, people in view, zones.
    occupancy: Option<(DateTime<Utc>, i32, serde_json::Value)>,
    /// IN/OUT per line, for crossings from `day_start` on ("today", as the
    /// rollup query counts it) and from `next_day_start` on (tomorrow's,
    /// kept so the view is right in the moments after midnight).
    today: BTreeMap<String, (i64, i64)>,
    tomorrow: BTreeMap<String, (i64, i64)>,
}

/// What a load read.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    cameras: BTreeMap<String, Camera>,
    snapshot: Snapshot,
}

/// The in-memory view; cheap to share.
#[derive(Debug, Default)]
pub struct CountingView {
    state: RwLock<Option<Loaded>>,
    reload: Notify,
}

/// One camera row as the load query returns it.
pub use crate::store::counting::CameraCountsToday as LoadRow;

impl CountingView {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Installs a load (rows and the snapshot they were read in).
    pub fn install(&self, rows: Vec<LoadRow>, snapshot: Snapshot) {
        let cameras = rows
            .into_iter()
            .map(|r| {
                let c = r.counts;
                let lines: Vec<(String, i64, i64)> =
                    serde_json::from_value::<Vec<serde_json::Value>>(c.lines_today)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|l| {
                            Some((
                                l.get("line_id")?.as_str()?.to_owned(),
                                l.get("in")?.as_i64()?,
                                l.get("out")?.as_i64()?,
                            ))
                        })
                        .collect();
                (
                    c.camera_id,
                    Camera {
                        site: c.site_id,
                        name: c.name,
                        day_start: r.day_start,
                        next_day_start: r.next_day_start,
                        state: c.state,
                        state_since: c.state_since,
                        last_seen: c.last_seen,
                        occupancy: match (c.occupancy_at, c.in_view) {
                            (Some(t), Some(n)) => {
                                Some((t, n, c.zones.unwrap_or(serde_json::Value::Null)))
                            }
                            _ => None,
                        },
                        today: lines.into_iter().map(|(l, i, o)| (l, (i, o))).collect(),
                        tomorrow: BTreeMap::new(),
                    },
                )
            })
            .collect();
        if let Ok(mut g) = self.state.write() {
            *g = Some(Loaded { cameras, snapshot });
        }
    }

    /// Whether a load has been installed.
    pub fn is_loaded(&self) -> bool {
        self.state.read().map(|g| g.is_some()).unwrap_or(false)
    }

    /// Applies one live event, unless the loaded snapshot already holds it.
    pub fn apply(&self, e: &LiveEvent) {
        let Ok(mut g) = self.state.write() else {
            return;
        };
        let Some(loaded) = g.as_mut() else {
            return;
        };
        if e.origin.xid.is_some_and(|x| loaded.snapshot.sees(x)) {
            return;
        }
        let Some(cam) = loaded.cameras.get_mut(&e.camera) else {
            return;
        };
        match e.kind.as_str() {
            "line_crossed" => {
                let (Some(line), Some(dir)) = (
                    e.data.get("line").and_then(|v| v.as_str()),
                    e.data.get("direction").and_then(|v| v.as_str()),
                ) else {
                    return;
                };
                let day = if e.ts >= cam.next_day_start {
                    &mut cam.tomorrow
                } else if e.ts >= cam.day_start {
                    &mut cam.today
                } else {
                    return;
                };
                let c = day.entry(line.to_owned()).or_insert((0, 0));
                match dir {
                    "in" => c.0 += 1,
                    "out" => c.1 += 1,
                    _ => {}
                }
            }
            "occupancy" => {
                let Some(n) = e.data.get("in_view").and_then(|v| v.as_i64()) else {
                    return;
                };
                if cam.occupancy.as_ref().is_none_or(|(t, _, _)| e.ts >= *t) {
                    let zones = e
                        .data
                        .get("zones")
                        .cloned()
                        .unwrap_or(serde_json::Value::Null);
                    cam.occupancy = Some((e.ts, n as i32, zones));
                }
            }
            // Only heartbeats update the current state (as in the
            // database); a camera_status *event* is a record of a change.
            "camera_status" if e.origin.status => {
                let Some(state) = e.data.get("state").and_then(|v| v.as_str()) else {
                    return;
                };
                if cam.last_seen.is_none_or(|t| t <= e.ts) {
                    if cam.state.as_deref() != Some(state) {
                        cam.state = Some(state.to_owned());
                        cam.state_since = Some(e.ts);
                    }
                    cam.last_seen = Some(e.ts);
                }
            }
            _ => {}
        }
    }

    /// Whether the view holds camera `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.state
            .read()
            .ok()
            .and_then(|g| g.as_ref().map(|l| l.cameras.contains_key(id)))
            .unwrap_or(false)
    }

    /// The earliest next site-local midnight, when "today" changes.
    fn next_midnight(&self) -> Option<DateTime<Utc>> {
        let g = self.state.read().ok()?;
        g.as_ref()?.cameras.values().map(|c| c.next_day_start).min()
    }

    /// Asks the view to reload soon (after a change made here).
    pub fn reload_soon(&self) {
        self.reload.notify_one();
    }

    /// One page of cameras (by id) of `site` / `camera`, as
    /// [`crate::store::counting::current`] reads them from the database at
    /// `now`; `None` until a load has been installed.
    pub fn page(
        &self,
        site: Option<&str>,
        camera: Option<&str>,
        window: Window,
        now: DateTime<Utc>,
    ) -> Option<(Vec<CameraCounts>, i64)> {
        let g = self.state.read().ok()?;
        let loaded = g.as_ref()?;
        let matching: Vec<(&String, &Camera)> = loaded
            .cameras
            .iter()
            .filter(|(id, c)| {
                site.is_none_or(|s| c.site == s) && camera.is_none_or(|x| id.as_str() == x)
            })
            .collect();
        let total = matching.len() as i64;
        let rows = matching
            .into_iter()
            .skip(usize::try_from(window.offset).unwrap_or(0))
            .take(usize::try_from(window.limit).unwrap_or(0))
            .map(|(id, c)| {
                let mut lines: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
                let days: &[&BTreeMap<String, (i64, i64)>] = if now >= c.next_day_start {
                    &[&c.tomorrow]
                } else {
                    &[&c.today, &c.tomorrow]
                };
                for day in days {
                    for (l, (i, o)) in day.iter() {
                        let e = lines.entry(l).or_insert((0, 0));
                        e.0 += i;
                        e.1 += o;
                    }
                }
                let occupancy = c
                    .occupancy
                    .as_ref()
                    .filter(|(t, _, _)| now - *t < chrono::Duration::days(1));
                CameraCounts {
                    camera_id: id.clone(),
                    site_id: c.site.clone(),
                    name: c.name.clone(),
                    state: c.state.clone(),
                    state_since: c.state_since,
                    last_seen: c.last_seen,
                    in_view: occupancy.map(|o| o.1),
                    zones: occupancy.map(|o| o.2.clone()),
                    occupancy_at: occupancy.map(|o| o.0),
                    lines_today: serde_json::Value::Array(
                        lines
                            .into_iter()
                            .map(|(l, (i, o))| serde_json::json!({"line_id": l, "in": i, "out": o}))
                            .collect(),
                    ),
                }
            })
            .collect();
        Some((rows, total))
    }
}

/// Loads the view now: the cameras' figures and the snapshot they were
/// read in, in one read-only repeatable-read transaction.
pub async fn load(pool: &deadpool_postgres::Pool) -> Result<(Vec<LoadRow>, Snapshot), String> {
    let mut client = pool.get().await.map_err(|e| e.to_string())?;
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let text: String = tx
        .query_one("SELECT pg_current_snapshot()::text AS s", &[])
        .await
        .and_then(|r| r.try_get("s"))
        .map_err(|e| e.to_string())?;
    let snapshot = Snapshot::parse(&text).ok_or_else(|| format!("unreadable snapshot {text:?}"))?;
    let rows = crate::store::counting::current_all(&tx)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok((rows, snapshot))
}

/// Keeps `view` current until `stop`: loads, follows `live`, reloads as
/// the module doc says. `ready` fires after the first load.
pub async fn run(
    view: Arc<CountingView>,
    pool: deadpool_postgres::Pool,
    live: broadcast::Sender<LiveEvent>,
    clock: atrium_clock::SharedClock,
    ready: tokio::sync::oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ready = Some(ready);
    // Subscribed before the first load: nothing committed after the load's
    // snapshot can be missed.
    let mut rx = live.subscribe();
    let mut due = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= due {
            match load(&pool).await {
                Ok((rows, snapshot)) => {
                    view.install(rows, snapshot);
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                    due = tokio::time::Instant::now() + RELOAD_EVERY;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "counting view not reloaded; answering from the last load");
                    due = tokio::time::Instant::now() + Duration::from_secs(2);
                }
            }
            // Midnight in any site's zone starts a new "today" there.
            if let Some(m) = view.next_midnight() {
                let wait = (m - clock.now()).to_std().unwrap_or(Duration::ZERO);
                due = due.min(tokio::time::Instant::now() + wait + Duration::from_secs(1));
            }
        }
        tokio::select! {
            m = rx.recv() => match m {
                Ok(e) => view.apply(&e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::info!(missed = n, "counting view fell behind the live feed; reloading");
                    due = tokio::time::Instant::now();
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tokio::time::sleep_until(due) => {}
            _ = view.reload.notified() => due = tokio::time::Instant::now(),
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Origin;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn row(id: &str, lines: serde_json::Value) -> LoadRow {
        LoadRow {
            counts: CameraCounts {
                camera_id: id.into(),
                site_id: "hq".into(),
                name: id.into(),
                state: Some("online".into()),
                state_since: Some(at("2026-12-06T08:00:00Z")),
                last_seen: Some(at("2026-12-06T10:00:00Z")),
                in_view: Some(3),
                zones: Some(serde_json::json!([])),
                occupancy_at: Some(at("2026-12-06T10:00:00Z")),
                lines_today: lines,
            },
            day_start: at("2026-12-05T17:00:00Z"),
            next_day_start: at("2026-12-06T17:00:00Z"),
        }
    }

    fn crossing(cam: &str, ts: &str, dir: &str, xid: Option<u64>) -> LiveEvent {
        LiveEvent {
            kind: "line_crossed".into(),
            site: "hq".into(),
            camera: cam.into(),
            device: None,
            ts: at(ts),
            data: serde_json::json!({"line": "door", "direction": dir, "track": 1}),
            origin: Origin { xid, status: false },
        }
    }

    fn door(view: &CountingView, now: &str) -> (i64, i64) {
        let (rows, _) = view
            .page(
                None,
                Some("cam-a"),
                Window {
                    limit: 10,
                    offset: 0,
                },
                at(now),
            )
            .unwrap();
        let lines = rows[0].lines_today.as_array().unwrap().clone();
        lines
            .iter()
            .find(|l| l["line_id"] == "door")
            .map(|l| (l["in"].as_i64().unwrap(), l["out"].as_i64().unwrap()))
            .unwrap_or((0, 0))
    }

    #[test]
    fn snapshots_see_what_committed_before_them() {
        let s = Snapshot::parse("100:105:101,103").unwrap();
        assert!(s.sees(99) && s.sees(102) && s.sees(104));
        assert!(!s.sees(101) && !s.sees(103) && !s.sees(105) && !s.sees(200));
        assert_eq!(Snapshot::parse("7:7:").unwrap().xmin, 7);
        assert!(Snapshot::parse("x:1:").is_none() && Snapshot::parse("1:2").is_none());
    }

    #[test]
    fn events_already_in_the_snapshot_are_not_counted_again() {
        let view = CountingView::new();
        view.install(
            vec![row(
                "cam-a",
                serde_json::json!([{"line_id": "door", "in": 5, "out": 2}]),
            )],
            Snapshot::parse("100:105:103").unwrap(),
        );
        // Committed before the load (seen by it): already in the 5.
        view.apply(&crossing("cam-a", "2026-12-06T10:01:00Z", "in", Some(99)));
        view.apply(&crossing("cam-a", "2026-12-06T10:01:00Z", "in", Some(104)));
        assert_eq!(door(&view, "2026-12-06T10:02:00Z"), (5, 2));
        // In progress at the load, and after it: counted.
        view.apply(&crossing("cam-a", "2026-12-06T10:01:00Z", "in", Some(103)));
        view.apply(&crossing("cam-a", "2026-12-06T10:01:00Z", "out", Some(106)));
        assert_eq!(door(&view, "2026-12-06T10:02:00Z"), (6, 3));
        // Yesterday's crossing (a late delivery) is not today's.
        view.apply(&crossing("cam-a", "2026-12-05T16:59:59Z", "in", Some(107)));
        assert_eq!(door(&view, "2026-12-06T10:02:00Z"), (6, 3));
        // Unknown camera: ignored until a reload brings it.
        view.apply(&crossing("cam-x", "2026-12-06T10:01:00Z", "in", Some(108)));
        assert!(!view.contains("cam-x"));
    }

    #[test]
    fn after_local_midnight_today_starts_again() {
        let view = CountingView::new();
        view.install(
            vec![row(
                "cam-a",
                serde_json::json!([{"line_id": "door", "in": 5, "out": 2}]),
            )],
            Snapshot::parse("100:100:").unwrap(),
        );
        view.apply(&crossing("cam-a", "2026-12-06T17:00:01Z", "in", Some(120)));
        // Before midnight a crossing time-stamped after it counts today
        // too (the rollup query has no upper bound)…
        assert_eq!(door(&view, "2026-12-06T16:59:00Z"), (6, 2));
        // …after it, only the new day's.
        assert_eq!(door(&view, "2026-12-06T17:00:05Z"), (1, 0));
        assert_eq!(view.next_midnight(), Some(at("2026-12-06T17:00:00Z")));
    }

    #[test]
    fn heartbeats_set_the_state_and_old_ones_do_not() {
        let view = CountingView::new();
        view.install(
            vec![row("cam-a", serde_json::json!([]))],
            Snapshot::default(),
        );
        let status = |state: &str, ts: &str, heartbeat: bool| LiveEvent {
            kind: "camera_status".into(),
            site: "hq".into(),
            camera: "cam-a".into(),
            device: None,
            ts: at(ts),
            data: serde_json::json!({"state": state}),
            origin: Origin {
                xid: None,
                status: heartbeat,
            },
        };
        // An event records a change; only heartbeats set the state.
        view.apply(&status("offline", "2026-12-06T10:00:05Z", false));
        let get = || {
            view.page(
                None,
                None,
                Window {
                    limit: 1,
                    offset: 0,
                },
                at("2026-12-06T10:00:30Z"),
            )
            .unwrap()
            .0
            .remove(0)
        };
        assert_eq!(get().state.as_deref(), Some("online"));
        view.apply(&status("degraded", "2026-12-06T10:00:10Z", true));
        let c = get();
        assert_eq!(c.state.as_deref(), Some("degraded"));
        assert_eq!(c.state_since, Some(at("2026-12-06T10:00:10Z")));
        view.apply(&status("online", "2026-12-06T10:00:08Z", true));
        assert_eq!(
            get().state.as_deref(),
            Some("degraded"),
            "an older heartbeat"
        );
        view.apply(&status("degraded", "2026-12-06T10:00:15Z", true));
        let c = get();
        assert_eq!(
            c.state_since,
            Some(at("2026-12-06T10:00:10Z")),
            "same state: same since"
        );
        assert_eq!(c.last_seen, Some(at("2026-12-06T10:00:15Z")));
    }

    #[test]
    fn pages_filter_by_site_and_camera_in_id_order() {
        let view = CountingView::new();
        let mut b = row("cam-b", serde_json::json!([]));
        b.counts.site_id = "annex".into();
        view.install(
            vec![
                row("cam-c", serde_json::json!([])),
                b,
                row("cam-a", serde_json::json!([])),
            ],
            Snapshot::default(),
        );
        let now = at("2026-12-06T10:00:30Z");
        let ids = |site: Option<&str>, w: Window| {
            let (rows, total) = view.page(site, None, w, now).unwrap();
            (
                rows.into_iter().map(|r| r.camera_id).collect::<Vec<_>>(),
                total,
            )
        };
        assert_eq!(
            ids(
                None,
                Window {
                    limit: 2,
                    offset: 1
                }
            ),
            (vec!["cam-b".to_string(), "cam-c".into()], 3)
        );
        assert_eq!(
            ids(
                Some("hq"),
                Window {
                    limit: 10,
                    offset: 0
                }
            ),
            (vec!["cam-a".to_string(), "cam-c".into()], 2)
        );
        // Occupancy older than a day is not shown.
        let (rows, _) = view
            .page(
                None,
                Some("cam-a"),
                Window {
                    limit: 1,
                    offset: 0,
                },
                at("2026-12-07T10:00:01Z"),
            )
            .unwrap();
        assert_eq!(rows[0].in_view, None);
    }
}
