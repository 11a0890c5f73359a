//! Runs the alert rules: one central instance at a time (the one holding
//! a PostgreSQL session advisory lock on its own connection; when that
//! instance or its connection dies, the lock goes with it and another
//! takes over within one interval). Every interval it reads the facts,
//! locks the open alerts, lets the core step them, and records the
//! changes with their notifications in one transaction.
//!
//! The bad streaks of alerts not yet fired live in this process only: a
//! takeover restarts their hold-down, which delays an alert by at most
//! the hold-down and never duplicates one (open alerts are in the
//! database).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use deadpool_postgres::GenericClient;
use tokio::sync::{Notify, watch};

use crate::alerts::{AlertKey, Book, Change, Fact, Observation, RuleId, ViolationKind, conditions};
use crate::config::AlertsSection;
use crate::metrics::Metrics;
use crate::store::alert_facts as facts;
use crate::store::alerts as store;

/// The advisory lock key of the evaluator ("ATRIUM" and 1).
const LOCK_KEY: i64 = 0x4154_5249_554d_0001;

/// How long after its reception a door event is read: `received_at` is
/// its ingest transaction's start, and a transaction that started earlier
/// than one already read may still commit; ingest's commit in
/// milliseconds, so one that takes longer than this is lost to the door
/// rules (its rows are stored all the same).
const SETTLE: &str = "10 seconds";

/// The cursor's name for door events.
const DOOR_CURSOR: &str = "door_events";

/// Why one evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Store(#[from] store::AlertStoreError),
    #[error("energy targets: {0}")]
    Energy(String),
}

/// What one evaluator keeps between evaluations.
#[derive(Debug)]
pub struct Evaluator {
    book: Book,
    /// Energy targets' latest facts, and when they were worked out.
    energy: Vec<Fact>,
    energy_at: Option<DateTime<Utc>>,
}

/// Evaluates every `cfg.every_ms` until `stop`, while this instance holds
/// the lock; `wake` tells the local sender that notifications are due.
pub async fn run(
    pool: deadpool_postgres::Pool,
    clock: atrium_clock::SharedClock,
    cfg: AlertsSection,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.every_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut leader: Option<deadpool_postgres::Client> = None;
    let mut ev = Evaluator::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if leader.is_none() {
            leader = lead(&pool).await;
            if leader.is_some() {
                tracing::info!("this instance now evaluates the alert rules");
                metrics.alerts_evaluator.set(1);
                ev = Evaluator::new();
            }
        }
        let Some(client) = leader.as_mut() else {
            continue;
        };
        match ev.evaluate(client, &clock, &cfg, &metrics).await {
            Ok(queued) => {
                metrics.alerts_evaluations.inc();
                if queued > 0 {
                    wake.notify_one();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "alert evaluation failed; next try in one interval");
                if client.is_closed() {
                    tracing::warn!(
                        "lost the evaluator's database connection: another instance may take over"
                    );
                    metrics.alerts_evaluator.set(0);
                    leader = None;
                }
            }
        }
    }
    if let Some(c) = leader {
        // Detached from the pool and dropped: the connection closes and
        // the lock is released at once, rather than being pooled with it.
        drop(deadpool_postgres::Object::take(c));
        metrics.alerts_evaluator.set(0);
    }
}

/// A pooled connection holding the evaluator's lock, if this instance
/// can take it.
async fn lead(pool: &deadpool_postgres::Pool) -> Option<deadpool_postgres::Client> {
    let client = match pool.get().await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "alert evaluator: no database");
            return None;
        }
    };
    match client
        .query_one("SELECT pg_try_advisory_lock($1) AS got", &[&LOCK_KEY])
        .await
        .and_then(|r| r.try_get::<_, bool>("got"))
    {
        Ok(true) => Some(client),
        Ok(false) => None,
        Err(e) => {
            tracing::debug!(error = %e, "alert evaluator lock not taken");
            None
        }
    }
}

impl Default for Evaluator {
    fn default() -> Self {
        Self::new()
    }
}

impl Evaluator {
    /// An evaluator that has seen nothing yet.
    pub fn new() -> Self {
        Self {
            book: Book::default(),
            energy: Vec::new(),
            energy_at: None,
        }
    }

    /// One evaluation (the caller makes sure it is the only evaluator:
    /// `run` holds the lock); returns how many notifications it queued.
    pub async fn evaluate(
        &mut self,
        client: &mut deadpool_postgres::Client,
        clock: &atrium_clock::SharedClock,
        cfg: &AlertsSection,
        metrics: &Metrics,
    ) -> Result<usize, EvalError> {
        let now = clock.now();
        if let Err(e) = self.refresh_energy(client, now, cfg).await {
            // The other rules must not wait on energy: its latest facts
            // stand until the next check.
            tracing::warn!(error = %e, "energy targets not checked; next try in energy_every_s");
            self.energy_at = Some(now);
        }
        let stale = TimeDelta::seconds(crate::api::counting::STALE_AFTER_S);
        let clear = secs(cfg.zone_violation_clear_s);
        let tx = client.transaction().await?;
        let open = store::open_for_update(&tx).await?;
        let window = now - secs(cfg.recognition_window_s);
        // Events before states: a door held open and closed by now
        // fires and then resolves, rather than the other way round.
        let mut all = self.doors(&tx).await?;
        all.extend(facts::cameras(&tx, now, stale, window).await?);
        all.extend(facts::devices(&tx, now).await?);
        all.extend(facts::parts(&tx, now).await?);
        all.extend(facts::zone_violations(&tx, now, clear).await?);
        // Observed now: a resolved energy alert that fires again is a new
        // one, not the old one's first sighting.
        all.extend(self.energy.iter().cloned().map(|f| Fact { at: now, ..f }));
        all.extend(ended_violations(&open, &all, now));
        let silences = store::silences(&tx, now, None).await?;
        let channels = store::channels(&tx).await?;

        let ids: HashMap<AlertKey, i64> = open.iter().map(|s| (s.alert.key(), s.id)).collect();
        let before: BTreeMap<AlertKey, crate::alerts::Alert> = open
            .iter()
            .map(|s| (s.alert.key(), s.alert.clone()))
            .collect();
        self.book.reload(open.into_iter().map(|s| s.alert));
        let conds = conditions(&all, &cfg.thresholds, now);
        let changes = self.book.step(&conds, &silences, &cfg.thresholds, now);
        metrics.alert_changes.inc_by(changes.len() as u64);

        // A key may have two alerts in one step: one resolved, then a new
        // one (a door closed and held open again). The resolved one is
        // written first, so the new one's row can be inserted.
        let retired = self.book.take_retired();
        let mut by_alert: HashMap<(AlertKey, DateTime<Utc>), Vec<&Change>> = HashMap::new();
        for c in &changes {
            by_alert
                .entry((c.key.clone(), c.first_seen))
                .or_default()
                .push(c);
        }
        let mut queued = 0;
        for alert in retired.iter().chain(self.book.alerts()) {
            let key = alert.key();
            // No entry: this alert changed no state this step (its streaks
            // or last observation may still have moved).
            let mine = by_alert
                .remove(&(key.clone(), alert.first_seen))
                .unwrap_or_default();
            let stored = before.get(&key);
            let id = ids
                .get(&key)
                .copied()
                .filter(|_| stored.is_some_and(|b| b.first_seen == alert.first_seen));
            if stored == Some(alert) && mine.is_empty() {
                continue;
            }
            let (_, n) = crate::alert_record::record(&tx, id, alert, &mine, &channels, now).await?;
            queued += n;
        }
        tx.commit().await?;
        for c in &changes {
            tracing::info!(alert = %c.key, what = ?c.what, severity = c.severity.as_str(),
                notify = c.notify, "alert {}", c.summary);
        }
        Ok(queued)
    }

    /// Door events received after the cursor and at least [`SETTLE`]
    /// ago (by the database's clock, which stamps `received_at`); moves
    /// the cursor to that bound, so each event is read once, whichever
    /// instance evaluates.
    async fn doors(&mut self, tx: &impl GenericClient) -> Result<Vec<Fact>, EvalError> {
        let upto: DateTime<Utc> = tx
            .query_one(&format!("SELECT now() - INTERVAL '{SETTLE}' AS upto"), &[])
            .await?
            .try_get("upto")?;
        let Some(cursor) = store::cursor(tx, DOOR_CURSOR).await? else {
            // The first evaluation ever: history is not alerted on.
            store::set_cursor(tx, DOOR_CURSOR, upto).await?;
            return Ok(Vec::new());
        };
        if upto <= cursor {
            return Ok(Vec::new());
        }
        let facts = facts::door_events(tx, cursor, upto).await?;
        store::set_cursor(tx, DOOR_CURSOR, upto).await?;
        Ok(facts)
    }

    /// Works out the energy targets' standing every `energy_every_s`.
    async fn refresh_energy(
        &mut self,
        client: &deadpool_postgres::Client,
        now: DateTime<Utc>,
        cfg: &AlertsSection,
    ) -> Result<(), EvalError> {
        let due = self
            .energy_at
            .is_none_or(|at| now - at >= secs(cfg.energy_every_s));
        if !due {
            return Ok(());
        }
        let mut out = Vec::new();
        let targets = crate::store::energy_config::targets(client, None, None).await?;
        for t in targets {
            if t.end_at <= now {
                // Its period is over: an alert still open about it ends
                // with it (nothing more can be saved or lost).
                out.push(Fact {
                    site: t.site_id.clone(),
                    at: now,
                    what: Observation::EnergyTarget {
                        target_id: t.id.to_string(),
                        over: false,
                        value: 0.0,
                        forecast: None,
                        target: t.value,
                    },
                });
                continue;
            }
            if now < t.start_at {
                continue;
            }
            let site = t.site_id.clone();
            let id = t.id.to_string();
            let value = t.value;
            let view = crate::energy_view::target_view(client, t, now)
                .await
                .map_err(|e| EvalError::Energy(e.message))?;
            let Some(p) = view.progress else {
                continue;
            };
            let over = p.actual > value || p.forecast.is_some_and(|f| f > value);
            out.push(Fact {
                site,
                at: now,
                what: Observation::EnergyTarget {
                    target_id: id,
                    over,
                    value: p.actual,
                    forecast: p.forecast,
                    target: value,
                },
            });
        }
        self.energy = out;
        self.energy_at = Some(now);
        Ok(())
    }
}

fn secs(s: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// "Over" facts for open zone-violation alerts no recent event speaks of
/// (the evaluator was away while the violation ended).
fn ended_violations(open: &[store::Stored], seen: &[Fact], now: DateTime<Utc>) -> Vec<Fact> {
    let spoken: std::collections::HashSet<(String, String, &'static str)> = seen
        .iter()
        .filter_map(|f| match &f.what {
            Observation::ZoneViolation {
                camera, zone, kind, ..
            } => Some((camera.clone(), zone.clone(), kind.as_str())),
            _ => None,
        })
        .collect();
    open.iter()
        .filter(|s| s.alert.rule == RuleId::ZoneViolation)
        .filter_map(|s| {
            let d = &s.alert.details;
            let camera = d.get("camera")?.as_str()?.to_owned();
            let zone = d.get("zone")?.as_str()?.to_owned();
            let kind = match d.get("kind")?.as_str()? {
                "restricted_entry" => ViolationKind::RestrictedEntry,
                _ => ViolationKind::MaxOccupancy,
            };
            if spoken.contains(&(camera.clone(), zone.clone(), kind.as_str())) {
                return None;
            }
            Some(Fact {
                site: s.alert.subject.site.clone(),
                at: now,
                what: Observation::ZoneViolation {
                    camera,
                    zone,
                    kind,
                    active: false,
                },
            })
        })
        .collect()
}
