//! Alerts, silences, channels and deliveries as stored (migration 0011).
//! An alert row keeps the core's whole [`Alert`] as JSON beside the
//! columns lists filter on, so the evaluator reads back exactly what it
//! wrote and a new field of the core needs no migration.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::alerts::{
    Alert, Channel, Matcher, Route, RuleId, Settings, Severity, Silence, SubjectKind, SubjectRef,
};

use super::filter::Filter;
use super::list::{self, FromRow, Window};

/// Why an alert row could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AlertStoreError {
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
    #[error("alert {id} is unreadable: {source}")]
    Body {
        id: i64,
        #[source]
        source: serde_json::Error,
    },
    #[error("alert could not be written: {0}")]
    Encode(#[source] serde_json::Error),
}

/// An alert with its row id.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: i64,
    pub alert: Alert,
}

fn stored(r: &Row) -> Result<Stored, AlertStoreError> {
    let id: i64 = r.try_get("id")?;
    let body: Value = r.try_get("body")?;
    let alert =
        serde_json::from_value(body).map_err(|source| AlertStoreError::Body { id, source })?;
    Ok(Stored { id, alert })
}

fn text<T: serde::Serialize>(v: T) -> String {
    // Unit enums serialise to a JSON string; take its content.
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Every open alert, locked for this transaction (acknowledging and
/// resolving lock the row too, so no step overwrites a person's).
pub async fn open_for_update(client: &impl GenericClient) -> Result<Vec<Stored>, AlertStoreError> {
    let rows = client
        .query(
            "SELECT id, body FROM alerts WHERE state <> 'resolved' ORDER BY id FOR UPDATE",
            &[],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        match stored(r) {
            Ok(s) => out.push(s),
            // One alert this version cannot read (a newer version's rule)
            // must not stop every other rule: it is left as it is.
            Err(AlertStoreError::Body { id, source }) => {
                tracing::warn!(alert = id, error = %source, "open alert unreadable: not evaluated");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// One alert, locked for this transaction.
pub async fn get_for_update(
    client: &impl GenericClient,
    id: i64,
) -> Result<Option<Stored>, AlertStoreError> {
    client
        .query_opt(
            "SELECT id, body FROM alerts WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .as_ref()
        .map(stored)
        .transpose()
}

/// One alert.
pub async fn get(client: &impl GenericClient, id: i64) -> Result<Option<Stored>, AlertStoreError> {
    client
        .query_opt("SELECT id, body FROM alerts WHERE id = $1", &[&id])
        .await?
        .as_ref()
        .map(stored)
        .transpose()
}

/// Writes `alert`: a new row when `id` is none. Returns its id.
pub async fn save(
    client: &impl GenericClient,
    id: Option<i64>,
    alert: &Alert,
    now: DateTime<Utc>,
) -> Result<i64, AlertStoreError> {
    let body = serde_json::to_value(alert).map_err(AlertStoreError::Encode)?;
    let state = text(alert.state);
    let severity = alert.severity.as_str();
    let row =
        match id {
            Some(id) => {
                client
                    .query_one(
                        "UPDATE alerts SET state = $2, severity = $3, updated_at = $4, body = $5
                     WHERE id = $1 RETURNING id",
                        &[&id, &state, &severity, &now, &body],
                    )
                    .await?
            }
            None => client
                .query_one(
                    "INSERT INTO alerts (rule, site_id, subject_kind, subject_id, state, severity,
                                         first_seen, fired_at, updated_at, body)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                    &[
                        &alert.rule.as_str(),
                        &alert.subject.site,
                        &alert.subject.kind.as_str(),
                        &alert.subject.id,
                        &state,
                        &severity,
                        &alert.first_seen,
                        &alert.fired_at,
                        &now,
                        &body,
                    ],
                )
                .await?,
        };
    Ok(row.try_get("id")?)
}

/// Which alerts a list shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    /// `firing`, `acknowledged`, `resolved`; `open` is the first two.
    pub states: Vec<String>,
    pub severity: Option<String>,
    pub sites: Option<Vec<String>>,
    pub rule: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

struct Listed(Stored);

impl FromRow for Listed {
    const COLUMNS: &'static str = "a.id, a.body";
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        let id: i64 = r.try_get("id")?;
        let body: Value = r.try_get("body")?;
        // A body this version cannot read (written by a newer one) is
        // shown by its columns' worth: skipping it would hide an alert.
        let alert = serde_json::from_value(body).unwrap_or_else(|e| {
            tracing::warn!(alert = id, error = %e, "alert body unreadable");
            unreadable()
        });
        Ok(Self(Stored { id, alert }))
    }
}

fn unreadable() -> Alert {
    let t = DateTime::<Utc>::UNIX_EPOCH;
    Alert {
        rule: RuleId::CameraOffline,
        subject: crate::alerts::Subject::new("", SubjectKind::Site, ""),
        state: crate::alerts::State::Resolved,
        severity: Severity::Warning,
        summary: "(unreadable alert)".into(),
        details: Value::Null,
        first_seen: t,
        fired_at: t,
        last_seen: t,
        acknowledged: None,
        resolved: None,
        escalated_at: None,
        bad_streak: 0,
        good_streak: 0,
        muted_by: None,
        history: Vec::new(),
    }
}

/// One page of alerts: open ones first, then the newest fired first.
pub async fn page(
    client: &impl GenericClient,
    q: &AlertFilter,
    window: Window,
) -> Result<(Vec<Stored>, i64), tokio_postgres::Error> {
    let mut f = Filter::default();
    if !q.states.is_empty() {
        f.add("a.state = ANY($)", q.states.clone());
    }
    f.opt("a.severity = $", q.severity.clone());
    f.opt("a.site_id = ANY($)", q.sites.clone());
    f.opt("a.rule = $", q.rule.clone());
    f.opt("a.fired_at >= $", q.start);
    f.opt("a.fired_at < $", q.end);
    let (rows, total) = list::page::<Listed>(
        client,
        "alerts a",
        "",
        &f,
        "(a.state = 'resolved'), a.fired_at DESC, a.id DESC",
        window,
    )
    .await?;
    Ok((rows.into_iter().map(|l| l.0).collect(), total))
}

/// How many alerts fire and are acknowledged (at `sites`, if limited),
/// and the worst firing one (highest severity, newest).
pub async fn summary(
    client: &impl GenericClient,
    sites: Option<&[String]>,
) -> Result<(i64, i64, Option<Stored>), AlertStoreError> {
    let sites: Option<Vec<String>> = sites.map(<[String]>::to_vec);
    let r = client
        .query_one(
            "SELECT count(*) FILTER (WHERE state = 'firing') AS firing,
                    count(*) FILTER (WHERE state = 'acknowledged') AS acknowledged
             FROM alerts WHERE state <> 'resolved' AND ($1::text[] IS NULL OR site_id = ANY($1))",
            &[&sites],
        )
        .await?;
    let worst = client
        .query_opt(
            "SELECT id, body FROM alerts
             WHERE state = 'firing' AND ($1::text[] IS NULL OR site_id = ANY($1))
             ORDER BY CASE severity WHEN 'escalated' THEN 3 WHEN 'critical' THEN 2 ELSE 1 END DESC,
                      fired_at DESC, id DESC
             LIMIT 1",
            &[&sites],
        )
        .await?
        .as_ref()
        .map(stored)
        .transpose()?;
    Ok((r.try_get("firing")?, r.try_get("acknowledged")?, worst))
}

/// A stored silence; none (with a warning) when it names a rule or kind
/// this version does not know.
fn silence(r: &Row) -> Result<Option<Silence>, tokio_postgres::Error> {
    let id: Uuid = r.try_get("id")?;
    let rule: Option<String> = r.try_get("rule")?;
    let kind: Option<String> = r.try_get("subject_kind")?;
    let subject_id: Option<String> = r.try_get("subject_id")?;
    fn parse<T: serde::de::DeserializeOwned>(s: String) -> Option<T> {
        serde_json::from_value(Value::String(s)).ok()
    }
    // A rule or kind this version does not know (a newer version's) must
    // not widen the silence to every rule or subject: it is skipped.
    let rule = match rule {
        Some(r) => match parse::<RuleId>(r) {
            Some(r) => Some(r),
            None => {
                tracing::warn!(silence = %id, "silence names an unknown rule: skipped");
                return Ok(None);
            }
        },
        None => None,
    };
    let subject = match (kind, subject_id) {
        (Some(k), Some(sid)) => match parse::<SubjectKind>(k) {
            Some(kind) => Some(SubjectRef { kind, id: sid }),
            None => {
                tracing::warn!(silence = %id, "silence names an unknown subject kind: skipped");
                return Ok(None);
            }
        },
        _ => None,
    };
    Ok(Some(Silence {
        id: id.to_string(),
        matcher: Matcher {
            rule,
            site: r.try_get("site_id")?,
            subject,
        },
        starts: r.try_get("starts")?,
        ends: r.try_get("ends")?,
        by: r.try_get("created_by")?,
        comment: r.try_get("comment")?,
    }))
}

const SILENCE_COLUMNS: &str =
    "id, rule, site_id, subject_kind, subject_id, starts, ends, created_by, comment";

/// Silences that have not ended by `now` (at `sites`, if limited: those
/// naming one of them), soonest start first.
pub async fn silences(
    client: &impl GenericClient,
    now: DateTime<Utc>,
    sites: Option<&[String]>,
) -> Result<Vec<Silence>, tokio_postgres::Error> {
    let sites: Option<Vec<String>> = sites.map(<[String]>::to_vec);
    let rows = client
        .query(
            &format!(
                "SELECT {SILENCE_COLUMNS} FROM alert_silences
                 WHERE ends > $1 AND ($2::text[] IS NULL OR site_id = ANY($2))
                 ORDER BY starts, id"
            ),
            &[&now, &sites],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.extend(silence(r)?);
    }
    Ok(out)
}

/// One silence.
pub async fn silence_by_id(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Silence>, tokio_postgres::Error> {
    client
        .query_opt(
            &format!("SELECT {SILENCE_COLUMNS} FROM alert_silences WHERE id = $1"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(silence)
        .transpose()
        .map(Option::flatten)
}

/// Stores a silence (its id a UUID).
pub async fn add_silence(
    client: &impl GenericClient,
    id: Uuid,
    s: &Silence,
) -> Result<(), tokio_postgres::Error> {
    let m = &s.matcher;
    client
        .execute(
            "INSERT INTO alert_silences (id, rule, site_id, subject_kind, subject_id, starts, ends, created_by, comment)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &id,
                &m.rule.map(RuleId::as_str),
                &m.site,
                &m.subject.as_ref().map(|s| s.kind.as_str()),
                &m.subject.as_ref().map(|s| s.id.as_str()),
                &s.starts,
                &s.ends,
                &s.by,
                &s.comment,
            ],
        )
        .await?;
    Ok(())
}

/// Removes a silence; false if there was none.
pub async fn delete_silence(
    client: &impl GenericClient,
    id: Uuid,
) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .execute("DELETE FROM alert_silences WHERE id = $1", &[&id])
        .await?
        > 0)
}

/// A channel with what its deliveries last did.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRow {
    pub channel: Channel,
    pub failing: bool,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
}

fn channel_row(r: &Row) -> Result<Option<ChannelRow>, tokio_postgres::Error> {
    let name: String = r.try_get("name")?;
    let route: Value = r.try_get("route")?;
    let settings: Value = r.try_get("settings")?;
    let (Ok(route), Ok(settings)) = (
        serde_json::from_value::<Route>(route),
        serde_json::from_value::<Settings>(settings),
    ) else {
        tracing::warn!(channel = %name, "alert channel unreadable: skipped");
        return Ok(None);
    };
    Ok(Some(ChannelRow {
        channel: Channel {
            name,
            enabled: r.try_get("enabled")?,
            route,
            settings,
            secret: r.try_get("secret")?,
        },
        failing: r.try_get("failing")?,
        last_error: r.try_get("last_error")?,
        last_error_at: r.try_get("last_error_at")?,
        last_success_at: r.try_get("last_success_at")?,
    }))
}

const CHANNEL_COLUMNS: &str =
    "name, enabled, route, settings, secret, failing, last_error, last_error_at, last_success_at";

/// Every channel, by name.
pub async fn channels(
    client: &impl GenericClient,
) -> Result<Vec<ChannelRow>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("SELECT {CHANNEL_COLUMNS} FROM alert_channels ORDER BY name"),
            &[],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.extend(channel_row(r)?);
    }
    Ok(out)
}

/// One channel.
pub async fn channel(
    client: &impl GenericClient,
    name: &str,
) -> Result<Option<ChannelRow>, tokio_postgres::Error> {
    match client
        .query_opt(
            &format!("SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE name = $1"),
            &[&name],
        )
        .await?
    {
        Some(r) => channel_row(&r),
        None => Ok(None),
    }
}

/// A channel's route and settings as stored. Plain data (strings, lists,
/// enums) always serialises; the NULL fallback would be refused by the
/// NOT NULL columns rather than stored.
fn encoded(c: &Channel) -> (Value, Value) {
    (
        serde_json::to_value(&c.route).unwrap_or(Value::Null),
        serde_json::to_value(&c.settings).unwrap_or(Value::Null),
    )
}

/// Adds a channel, or replaces the one of that name (keeping its
/// delivery state, and its webhook secret when `c` has none: the secret
/// is never shown, so an edit cannot repeat it); true if it was new.
pub async fn put_channel(
    client: &impl GenericClient,
    c: &Channel,
) -> Result<bool, tokio_postgres::Error> {
    let (route, settings) = encoded(c);
    let r = client
        .query_one(
            "INSERT INTO alert_channels (name, kind, enabled, route, settings, secret)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, enabled = EXCLUDED.enabled,
                 route = EXCLUDED.route, settings = EXCLUDED.settings,
                 secret = CASE WHEN EXCLUDED.kind = 'webhook'
                               THEN coalesce(EXCLUDED.secret, alert_channels.secret) END
             RETURNING (xmax = 0) AS inserted",
            &[
                &c.name,
                &c.settings.kind(),
                &c.enabled,
                &route,
                &settings,
                &c.secret,
            ],
        )
        .await?;
    r.try_get("inserted")
}

/// Adds a channel unless one of that name exists; false if it did.
pub async fn add_channel(
    client: &impl GenericClient,
    c: &Channel,
) -> Result<bool, tokio_postgres::Error> {
    let (route, settings) = encoded(c);
    let n = client
        .execute(
            "INSERT INTO alert_channels (name, kind, enabled, route, settings, secret)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
            &[
                &c.name,
                &c.settings.kind(),
                &c.enabled,
                &route,
                &settings,
                &c.secret,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Removes a channel (its delivery log stays); false if there was none.
pub async fn delete_channel(
    client: &impl GenericClient,
    name: &str,
) -> Result<bool, tokio_postgres::Error> {
    // Deliveries not yet made to it are dropped with it: nobody would
    // make them.
    client
        .execute(
            "UPDATE alert_deliveries SET status = 'failed', last_error = 'channel removed'
             WHERE channel = $1 AND status = 'pending'",
            &[&name],
        )
        .await?;
    Ok(client
        .execute("DELETE FROM alert_channels WHERE name = $1", &[&name])
        .await?
        > 0)
}

/// Records how a delivery attempt to `name` went.
pub async fn channel_result(
    client: &impl GenericClient,
    name: &str,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    match error {
        None => {
            client
                .execute(
                    "UPDATE alert_channels SET failing = false, last_success_at = $2 WHERE name = $1",
                    &[&name, &now],
                )
                .await?
        }
        Some(e) => {
            client
                .execute(
                    "UPDATE alert_channels SET failing = true, last_error = $2, last_error_at = $3 WHERE name = $1",
                    &[&name, &e, &now],
                )
                .await?
        }
    };
    Ok(())
}

/// Queues a notification of alert `alert_id` to `channel`.
pub async fn enqueue(
    client: &impl GenericClient,
    alert_id: i64,
    channel: &str,
    what: &str,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO alert_deliveries (alert_id, channel, what, payload, status, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, 'pending', $5, $5)",
            &[&alert_id, &channel, &what, payload, &now],
        )
        .await?;
    Ok(())
}

/// A delivery claimed for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: i64,
    pub alert_id: i64,
    pub channel: String,
    pub payload: Value,
    /// Attempts including this one.
    pub attempts: i32,
}

/// Claims up to `limit` due deliveries for `lease`: no other instance
/// takes them until it has passed (a sender that dies is replaced then).
pub async fn claim(
    client: &impl GenericClient,
    now: DateTime<Utc>,
    lease: chrono::TimeDelta,
    limit: i64,
) -> Result<Vec<Claimed>, tokio_postgres::Error> {
    let until = now + lease;
    let rows = client
        .query(
            "UPDATE alert_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2
             WHERE d.id IN (SELECT id FROM alert_deliveries
                            WHERE status = 'pending' AND next_attempt_at <= $1
                            ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING d.id, d.alert_id, d.channel, d.payload, d.attempts",
            &[&now, &until, &limit],
        )
        .await?;
    let mut out: Vec<Claimed> = rows
        .iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get("id")?,
                alert_id: r.try_get("alert_id")?,
                channel: r.try_get("channel")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()?;
    out.sort_by_key(|c| c.id);
    Ok(out)
}

/// Records the outcome of attempt `attempt` of a delivery: sent; or
/// failed with `error`, tried again at `retry_at` or, when none, given
/// up. Nothing changes if the delivery has moved on since (its lease ran
/// out and another sender claimed it): the newer attempt's outcome wins.
pub async fn delivered(
    client: &impl GenericClient,
    id: i64,
    attempt: i32,
    error: Option<&str>,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    match (error, retry_at) {
        (None, _) => {
            client
                .execute(
                    "UPDATE alert_deliveries SET status = 'sent', sent_at = $2, last_error = NULL
                     WHERE id = $1 AND attempts = $3 AND status = 'pending'",
                    &[&id, &now, &attempt],
                )
                .await?
        }
        (Some(e), Some(at)) => {
            client
                .execute(
                    "UPDATE alert_deliveries SET last_error = $2, next_attempt_at = $3
                     WHERE id = $1 AND attempts = $4 AND status = 'pending'",
                    &[&id, &e, &at, &attempt],
                )
                .await?
        }
        (Some(e), None) => {
            client
                .execute(
                    "UPDATE alert_deliveries SET status = 'failed', last_error = $2
                     WHERE id = $1 AND attempts = $3 AND status = 'pending'",
                    &[&id, &e, &attempt],
                )
                .await?
        }
    };
    Ok(())
}

/// One entry of an alert's delivery log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub channel: String,
    /// The change notified (`fired`, `severity_raised`, …).
    pub what: String,
    /// `pending`, `sent` or `failed` (given up).
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// An alert's deliveries, oldest first.
pub async fn deliveries(
    client: &impl GenericClient,
    alert_id: i64,
) -> Result<Vec<Delivery>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT id, channel, what, status, attempts, last_error, created_at, sent_at
             FROM alert_deliveries WHERE alert_id = $1 ORDER BY id",
            &[&alert_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Delivery {
                id: r.try_get("id")?,
                channel: r.try_get("channel")?,
                what: r.try_get("what")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
                sent_at: r.try_get("sent_at")?,
            })
        })
        .collect()
}

/// Where the evaluator stopped reading event source `name`.
pub async fn cursor(
    client: &impl GenericClient,
    name: &str,
) -> Result<Option<DateTime<Utc>>, tokio_postgres::Error> {
    client
        .query_opt("SELECT ts FROM alert_cursors WHERE name = $1", &[&name])
        .await?
        .map(|r| r.try_get("ts"))
        .transpose()
}

/// Moves the cursor of event source `name` to `ts`.
pub async fn set_cursor(
    client: &impl GenericClient,
    name: &str,
    ts: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO alert_cursors (name, ts) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET ts = EXCLUDED.ts",
            &[&name, &ts],
        )
        .await?;
    Ok(())
}
