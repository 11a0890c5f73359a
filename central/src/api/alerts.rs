//! `/api/v1/alerts/*`: alerts with their history and delivery log,
//! acknowledging and resolving (`alerts:ack`), silences (`alerts:write`)
//! and notification channels (`config:write`: where notifications go is
//! the installation's business). Acknowledge and resolve run the alerting
//! core's own transitions on the locked row, so a person's step and the
//! evaluator's never overwrite each other, and are notified like any
//! other change.

#![allow(unused_qualifications)]

use std::collections::BTreeMap;

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::alerts::{
    ActionError, AlertView, Book, Channel, Matcher, Route, RuleId, Settings, Severity, Silence,
    Transition,
};
use crate::app::AppState;
use crate::auth::perm;
use crate::caller::{Can, CanAtSite};
use crate::error::ApiError;
use crate::http::extract::{Json, Path, Query};
use crate::http::pagination::{Page, Paginated};
use crate::store::alerts::{self as store, AlertFilter, AlertStoreError, ChannelRow, Delivery};

impl From<AlertStoreError> for ApiError {
    fn from(e: AlertStoreError) -> Self {
        match e {
            AlertStoreError::Db(e) => e.into(),
            other => ApiError::internal("alert store", other),
        }
    }
}

fn parse_enum<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| ApiError::bad_request(format!("unknown {what} {s:?}")))
}

// ---------------------------------------------------------------- alerts

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// `open` (default: firing and acknowledged), `firing`,
    /// `acknowledged`, `resolved` or `all`.
    pub state: Option<String>,
    /// `warning`, `critical` or `escalated`.
    pub severity: Option<String>,
    pub site_id: Option<String>,
    /// A rule id, e.g. `camera_offline`.
    pub rule: Option<String>,
    /// Fired at or after.
    pub start_time: Option<DateTime<Utc>>,
    /// Fired before.
    pub end_time: Option<DateTime<Utc>>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

fn states(s: Option<&str>) -> Result<Vec<String>, ApiError> {
    Ok(match s.unwrap_or("open") {
        "open" => vec!["firing".into(), "acknowledged".into()],
        "all" => Vec::new(),
        one @ ("firing" | "acknowledged" | "resolved") => vec![one.to_owned()],
        other => {
            return Err(ApiError::bad_request(format!(
                "state must be open, firing, acknowledged, resolved or all, not {other:?}"
            )));
        }
    })
}

/// Alerts: open ones first, then the newest fired first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertsQuery), security(("bearer" = ["alerts:read"])),
    responses(
        (status = 200, description = "A page of alerts", body = Paginated<AlertView>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    who: CanAtSite<perm::AlertsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<AlertsQuery>,
) -> Result<axum::Json<Paginated<AlertView>>, ApiError> {
    let site = who.site(q.site_id.clone())?;
    let page = Page::new(q.page, q.per_page)?;
    if let Some(s) = &q.severity {
        parse_enum::<Severity>("severity", s)?;
    }
    if let Some(r) = &q.rule {
        parse_enum::<RuleId>("rule", r)?;
    }
    if let (Some(a), Some(b)) = (q.start_time, q.end_time)
        && b <= a
    {
        return Err(ApiError::bad_request("end_time must be after start_time"));
    }
    let filter = AlertFilter {
        states: states(q.state.as_deref())?,
        severity: q.severity,
        sites: site.map(|s| vec![s]),
        rule: q.rule,
        start: q.start_time,
        end: q.end_time,
    };
    let client = state.pool.get().await?;
    let (rows, total) = store::page(&client, &filter, page.window()).await?;
    let data = rows
        .iter()
        .map(|s| AlertView::new(s.id, &s.alert))
        .collect();
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SiteQuery {
    pub site_id: Option<String>,
}

/// How many alerts are open, and the worst one firing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    pub firing: i64,
    pub acknowledged: i64,
    /// The highest severity firing alert (the newest of those).
    pub worst: Option<AlertView>,
}

/// What the banner on every page shows.
#[utoipa::path(get, path = "/api/v1/alerts/summary", tag = "alerts", params(SiteQuery), security(("bearer" = ["alerts:read"])),
    responses((status = 200, description = "Open alerts", body = Summary)))]
pub async fn summary(
    State(state): State<AppState>,
    who: CanAtSite<perm::AlertsRead>,
    Query(q): Query<SiteQuery>,
) -> Result<axum::Json<Summary>, ApiError> {
    let site = who.site(q.site_id)?;
    let sites = site.map(|s| vec![s]);
    let client = state.pool.get().await?;
    let (firing, acknowledged, worst) = store::summary(&client, sites.as_deref()).await?;
    Ok(axum::Json(Summary {
        firing,
        acknowledged,
        worst: worst.map(|s| AlertView::new(s.id, &s.alert)),
    }))
}

/// An alert with its history and delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: AlertView,
    pub history: Vec<Transition>,
    pub deliveries: Vec<Delivery>,
}

async fn visible(
    client: &impl deadpool_postgres::GenericClient,
    id: i64,
    lock: bool,
    site: impl Fn(String) -> Result<Option<String>, ApiError>,
) -> Result<store::Stored, ApiError> {
    let found = if lock {
        store::get_for_update(client, id).await?
    } else {
        store::get(client, id).await?
    };
    let s = found.ok_or_else(|| ApiError::not_found(format!("no alert {id}")))?;
    // A key restricted to another site learns nothing, not even that the
    // alert exists.
    site(s.alert.subject.site.clone())
        .map_err(|_| ApiError::not_found(format!("no alert {id}")))?;
    Ok(s)
}

/// One alert, with every step of its life and every notification sent.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = i64, Path)), security(("bearer" = ["alerts:read"])),
    responses(
        (status = 200, description = "The alert", body = AlertDetail),
        (status = 404, description = "Unknown", body = crate::error::ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    who: CanAtSite<perm::AlertsRead>,
    Path(id): Path<i64>,
) -> Result<axum::Json<AlertDetail>, ApiError> {
    let client = state.pool.get().await?;
    let s = visible(&client, id, false, |site| who.site(Some(site))).await?;
    let deliveries = store::deliveries(&client, id).await?;
    Ok(axum::Json(AlertDetail {
        alert: AlertView::new(s.id, &s.alert),
        history: s.alert.history,
        deliveries,
    }))
}

/// A person's step (`{}` when there is nothing to say).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    /// Up to 1000 characters.
    pub comment: Option<String>,
}

#[derive(Clone, Copy)]
enum Action {
    Ack,
    Resolve,
}

async fn act(
    state: &AppState,
    who: &CanAtSite<perm::AlertsAck>,
    id: i64,
    body: StepBody,
    action: Action,
) -> Result<axum::Json<AlertView>, ApiError> {
    let comment = body.comment.filter(|c| !c.trim().is_empty());
    if comment.as_ref().is_some_and(|c| c.chars().count() > 1000) {
        return Err(ApiError::bad_request("comment is at most 1000 characters"));
    }
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let s = visible(&tx, id, true, |site| who.site(Some(site))).await?;
    let now = state.clock.now();
    let silences = store::silences(&tx, now, None).await?;
    let key = s.alert.key();
    let mut book = Book::from_alerts([s.alert]);
    let by = who.0.username.as_str();
    let change = match action {
        Action::Ack => book.acknowledge(&key, by, comment.as_deref(), &silences, now),
        Action::Resolve => book.resolve(&key, by, comment.as_deref(), &silences, now),
    }
    .map_err(|e| match e {
        ActionError::NotFound(_) => ApiError::not_found(format!("no alert {id}")),
        other => ApiError::conflict(other.to_string()),
    })?;
    let Some(alert) = book.get(&key) else {
        return Err(ApiError::not_found(format!("no alert {id}")));
    };
    let channels = store::channels(&tx).await?;
    let (_, queued) =
        crate::alert_record::record(&tx, Some(id), alert, &[&change], &channels, now).await?;
    let view = AlertView::new(id, alert);
    tx.commit().await?;
    if queued > 0 {
        state.alerts_wake.notify_one();
    }
    Ok(axum::Json(view))
}

/// Acknowledges a firing alert: a person owns it, it stops escalating.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts", params(("id" = i64, Path)), request_body = StepBody, security(("bearer" = ["alerts:ack"])),
    responses(
        (status = 200, description = "Acknowledged", body = AlertView),
        (status = 404, description = "Unknown", body = crate::error::ErrorBody),
        (status = 409, description = "Already acknowledged or resolved", body = crate::error::ErrorBody),
    ))]
pub async fn ack(
    State(state): State<AppState>,
    who: CanAtSite<perm::AlertsAck>,
    Path(id): Path<i64>,
    Json(body): Json<StepBody>,
) -> Result<axum::Json<AlertView>, ApiError> {
    act(&state, &who, id, body, Action::Ack).await
}

/// Resolves an open alert (fixed), even while its condition is still bad:
/// a new alert then fires after the hold-down.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", params(("id" = i64, Path)), request_body = StepBody, security(("bearer" = ["alerts:ack"])),
    responses(
        (status = 200, description = "Resolved", body = AlertView),
        (status = 404, description = "Unknown", body = crate::error::ErrorBody),
        (status = 409, description = "Already resolved", body = crate::error::ErrorBody),
    ))]
pub async fn resolve(
    State(state): State<AppState>,
    who: CanAtSite<perm::AlertsAck>,
    Path(id): Path<i64>,
    Json(body): Json<StepBody>,
) -> Result<axum::Json<AlertView>, ApiError> {
    act(&state, &who, id, body, Action::Resolve).await
}

// ---------------------------------------------------------------- silences

#[derive(Debug, Serialize, ToSchema)]
pub struct Silences {
    pub data: Vec<Silence>,
}

/// Silences and maintenance windows not ended yet.
#[utoipa::path(get, path = "/api/v1/alerts/silences", tag = "alerts", params(SiteQuery), security(("bearer" = ["alerts:read"])),
    responses((status = 200, description = "Silences", body = Silences)))]
pub async fn list_silences(
    State(state): State<AppState>,
    who: CanAtSite<perm::AlertsRead>,
    Query(q): Query<SiteQuery>,
) -> Result<axum::Json<Silences>, ApiError> {
    let site = who.site(q.site_id)?;
    let sites = site.map(|s| vec![s]);
    let client = state.pool.get().await?;
    let data = store::silences(&client, state.clock.now(), sites.as_deref()).await?;
    Ok(axum::Json(Silences { data }))
}

/// A new silence: what it covers and when.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceBody {
    pub matcher: Matcher,
    /// Default: now.
    pub starts: Option<DateTime<Utc>>,
    /// Give `ends` or `duration_s` (at most a year).
    pub ends: Option<DateTime<Utc>>,
    pub duration_s: Option<u64>,
    /// Up to 1000 characters.
    pub comment: Option<String>,
}

/// Adds a silence (maintenance window). A key restricted to a site may
/// only silence that site.
#[utoipa::path(post, path = "/api/v1/alerts/silences", tag = "alerts", request_body = SilenceBody, security(("bearer" = ["alerts:write"])),
    responses(
        (status = 201, description = "Added", body = Silence),
        (status = 400, description = "Bad", body = crate::error::ErrorBody),
    ))]
pub async fn create_silence(
    State(state): State<AppState>,
    who: CanAtSite<perm::AlertsWrite>,
    Json(b): Json<SilenceBody>,
) -> Result<(StatusCode, axum::Json<Silence>), ApiError> {
    let mut matcher = b.matcher;
    matcher.site = who.site(matcher.site)?;
    if let Some(s) = &matcher.subject
        && (s.id.is_empty() || s.id.len() > 400)
    {
        return Err(ApiError::bad_request(
            "subject.id must be 1 to 400 characters",
        ));
    }
    let now = state.clock.now();
    let year = TimeDelta::days(366);
    let starts = b.starts.unwrap_or(now);
    if starts < now - year || starts > now + year {
        return Err(ApiError::bad_request("starts must be within a year of now"));
    }
    let ends = match (b.ends, b.duration_s) {
        (Some(e), None) => e,
        (None, Some(d)) if (1..=366 * 86_400).contains(&d) => i64::try_from(d)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .and_then(|d| starts.checked_add_signed(d))
            .ok_or_else(|| ApiError::bad_request("starts + duration_s is past the year 262143"))?,
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "duration_s must be 1 to 31622400 (a year)",
            ));
        }
        _ => {
            return Err(ApiError::bad_request("give either ends or duration_s"));
        }
    };
    if ends <= now {
        return Err(ApiError::bad_request("the silence would already be over"));
    }
    if ends - starts > year {
        return Err(ApiError::bad_request("a silence lasts at most a year"));
    }
    let comment = b.comment.filter(|c| !c.trim().is_empty());
    if comment.as_ref().is_some_and(|c| c.chars().count() > 1000) {
        return Err(ApiError::bad_request("comment is at most 1000 characters"));
    }
    let id = Uuid::now_v7();
    let s = Silence {
        id: id.to_string(),
        matcher,
        starts,
        ends,
        by: who.0.username.clone(),
        comment,
    };
    s.validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let client = state.pool.get().await?;
    store::add_silence(&client, id, &s).await?;
    Ok((StatusCode::CREATED, axum::Json(s)))
}

/// Ends a silence now (removes it).
#[utoipa::path(delete, path = "/api/v1/alerts/silences/{id}", tag = "alerts", params(("id" = Uuid, Path)), security(("bearer" = ["alerts:write"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn delete_silence(
    State(state): State<AppState>,
    who: CanAtSite<perm::AlertsWrite>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.get().await?;
    let missing = || ApiError::not_found(format!("no silence {id}"));
    let s = store::silence_by_id(&client, id)
        .await?
        .ok_or_else(missing)?;
    // A key restricted to a site removes only silences naming that site
    // (`site(None)` would answer with the key's own site).
    let allowed = who.site(s.matcher.site.clone()).map_err(|_| missing())?;
    if allowed != s.matcher.site {
        return Err(missing());
    }
    if !store::delete_silence(&client, id).await? {
        return Err(missing());
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- channels

/// A webhook's settings as shown (the secret never is).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub url: String,
    pub has_secret: bool,
}

/// An e-mail channel's recipients per severity.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub to: BTreeMap<Severity, Vec<String>>,
}

/// A notification channel.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    pub name: String,
    /// `webhook` or `email`.
    pub kind: String,
    pub enabled: bool,
    pub route: Route,
    pub webhook: Option<WebhookView>,
    pub email: Option<EmailSettings>,
    /// The latest delivery attempt failed.
    pub failing: bool,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
}

impl From<ChannelRow> for ChannelView {
    fn from(r: ChannelRow) -> Self {
        let c = r.channel;
        let (webhook, email) = match c.settings {
            Settings::Webhook { url } => (
                Some(WebhookView {
                    url,
                    has_secret: c.secret.is_some(),
                }),
                None,
            ),
            Settings::Email { to } => (None, Some(EmailSettings { to })),
        };
        Self {
            kind: if webhook.is_some() {
                "webhook"
            } else {
                "email"
            }
            .into(),
            name: c.name,
            enabled: c.enabled,
            route: c.route,
            webhook,
            email,
            failing: r.failing,
            last_error: r.last_error,
            last_error_at: r.last_error_at,
            last_success_at: r.last_success_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Channels {
    pub data: Vec<ChannelView>,
}

/// Notification channels.
#[utoipa::path(get, path = "/api/v1/alerts/channels", tag = "alerts", security(("bearer" = ["config:write"])),
    responses((status = 200, description = "Channels", body = Channels)))]
pub async fn list_channels(
    State(state): State<AppState>,
    _who: Can<perm::ConfigWrite>,
) -> Result<axum::Json<Channels>, ApiError> {
    let client = state.pool.get().await?;
    let data = store::channels(&client)
        .await?
        .into_iter()
        .map(ChannelView::from)
        .collect();
    Ok(axum::Json(Channels { data }))
}

/// A webhook's settings as given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    pub url: String,
    /// The HMAC-SHA256 key (16 to 256 characters): every request then
    /// carries `X-Atrium-Signature`. Left out on a replace: the stored
    /// one is kept (to stop signing, remove the channel and add it again).
    pub secret: Option<String>,
}

/// A channel as given: `webhook` or `email`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    pub name: String,
    /// Default true.
    pub enabled: Option<bool>,
    /// Default: every change.
    pub route: Option<Route>,
    pub webhook: Option<WebhookBody>,
    pub email: Option<EmailSettings>,
}

impl ChannelBody {
    /// The channel it describes, checked.
    pub fn channel(self) -> Result<Channel, ApiError> {
        let (settings, secret) = match (self.webhook, self.email) {
            (Some(w), None) => (Settings::Webhook { url: w.url }, w.secret),
            (None, Some(e)) => (Settings::Email { to: e.to }, None),
            _ => {
                return Err(ApiError::bad_request(
                    "a channel has either webhook or email settings",
                ));
            }
        };
        let c = Channel {
            name: self.name,
            enabled: self.enabled.unwrap_or(true),
            // No route given: every change (the documented default).
            route: self.route.unwrap_or_default(),
            settings,
            secret,
        };
        c.validate()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(c)
    }
}

/// Adds a channel.
#[utoipa::path(post, path = "/api/v1/alerts/channels", tag = "alerts", request_body = ChannelBody, security(("bearer" = ["config:write"])),
    responses(
        (status = 201, description = "Added", body = ChannelView),
        (status = 400, description = "Bad", body = crate::error::ErrorBody),
        (status = 409, description = "The name is taken", body = crate::error::ErrorBody),
    ))]
pub async fn create_channel(
    State(state): State<AppState>,
    _who: Can<perm::ConfigWrite>,
    Json(b): Json<ChannelBody>,
) -> Result<(StatusCode, axum::Json<ChannelView>), ApiError> {
    let c = b.channel()?;
    let client = state.pool.get().await?;
    if !store::add_channel(&client, &c).await? {
        return Err(ApiError::conflict(format!(
            "a channel named {:?} exists (PUT replaces it)",
            c.name
        )));
    }
    let row = store::channel(&client, &c.name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no channel {:?}", c.name)))?;
    Ok((StatusCode::CREATED, axum::Json(row.into())))
}

/// Replaces a channel (its delivery state is kept, and its webhook
/// secret when the body gives none).
#[utoipa::path(put, path = "/api/v1/alerts/channels/{name}", tag = "alerts", params(("name" = String, Path)), request_body = ChannelBody, security(("bearer" = ["config:write"])),
    responses(
        (status = 200, description = "Replaced", body = ChannelView),
        (status = 400, description = "Bad", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown", body = crate::error::ErrorBody),
    ))]
pub async fn put_channel(
    State(state): State<AppState>,
    _who: Can<perm::ConfigWrite>,
    Path(name): Path<String>,
    Json(b): Json<ChannelBody>,
) -> Result<axum::Json<ChannelView>, ApiError> {
    if b.name != name {
        return Err(ApiError::bad_request(
            "the body's name must be the path's (remove and add to rename)",
        ));
    }
    let c = b.channel()?;
    let client = state.pool.get().await?;
    if store::channel(&client, &name).await?.is_none() {
        return Err(ApiError::not_found(format!("no channel {name:?}")));
    }
    store::put_channel(&client, &c).await?;
    let row = store::channel(&client, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no channel {name:?}")))?;
    Ok(axum::Json(row.into()))
}

/// Removes a channel; its queued notifications are given up, its
/// delivery log stays.
#[utoipa::path(delete, path = "/api/v1/alerts/channels/{name}", tag = "alerts", params(("name" = String, Path)), security(("bearer" = ["config:write"])),
    responses((status = 204, description = "Removed"), (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn delete_channel(
    State(state): State<AppState>,
    _who: Can<perm::ConfigWrite>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let client = state.pool.get().await?;
    if !store::delete_channel(&client, &name).await? {
        return Err(ApiError::not_found(format!("no channel {name:?}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The answer to a test.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tested {
    pub delivered: bool,
}

/// Sends a test notification to a channel now (not queued, not retried).
#[utoipa::path(post, path = "/api/v1/alerts/channels/{name}/test", tag = "alerts", params(("name" = String, Path)), security(("bearer" = ["config:write"])),
    responses(
        (status = 200, description = "Delivered", body = Tested),
        (status = 404, description = "Unknown", body = crate::error::ErrorBody),
        (status = 502, description = "Not delivered: the error says why", body = crate::error::ErrorBody),
    ))]
pub async fn test_channel(
    State(state): State<AppState>,
    _who: Can<perm::ConfigWrite>,
    Path(name): Path<String>,
) -> Result<axum::Json<Tested>, ApiError> {
    let client = state.pool.get().await?;
    let row = store::channel(&client, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no channel {name:?}")))?;
    let now = state.clock.now();
    let result = state.notifier.test(&row.channel, now).await;
    store::channel_result(
        &client,
        &name,
        result.as_ref().err().map(String::as_str),
        now,
    )
    .await?;
    match result {
        Ok(()) => Ok(axum::Json(Tested { delivered: true })),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "CHANNEL_FAILED",
            format!("channel {name:?} did not take the test notification: {e}"),
        )),
    }
}
