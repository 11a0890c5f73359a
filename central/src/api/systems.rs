//! `/api/v1/devices` and `/api/v1/systems/*`: the building systems —
//! devices with their online state, power per meter from the rollups, the
//! present of lighting circuits, lifts and fire zones, and access events.
//!
//! Everything needs `systems:read`. Access events are personal data
//! (who passed which door when): every read of them is written to the
//! audit log, and the credential's hash is shown only to callers who may
//! read personal data (`persons:read`).

// utoipa's generated code for `params(…)` names the query types with a
// path rustc considers redundant.
#![allow(unused_qualifications)]

use axum::extract::{OriginalUri, State};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::{Permission, perm};
use crate::caller::CanAtSite;
use crate::error::ApiError;
use crate::http::choice::one_of;
use crate::http::extract::Query;
use crate::http::pagination::{Page, Paginated};
use crate::store::audit;
use crate::store::systems::{self, AccessEventRow, AccessFilter, DeviceRow, PartRow, PowerBucket};
use crate::systems::state::DeviceState;
use atrium_proto::iot::DeviceKind;

/// A device and its state.
#[derive(Debug, Serialize, ToSchema)]
pub struct Device {
    pub device_id: String,
    pub site_id: String,
    /// power_meter, lighting, lift, access or fire.
    pub kind: String,
    pub name: String,
    pub location: Option<String>,
    pub floor: Option<i32>,
    /// For a sub-meter: the meter upstream of it.
    pub parent_id: Option<String>,
    pub enabled: bool,
    /// online, offline (its last will, or three intervals without a
    /// message) or unknown (never heard).
    pub state: DeviceState,
    /// Why it is offline: `status` (it said so, or its last will did) or
    /// `silent`.
    pub offline_reason: Option<String>,
    /// When a telemetry point or an event last arrived.
    pub last_seen: Option<DateTime<Utc>>,
    /// Its last retained status and the device's timestamp on it.
    pub status: Option<String>,
    pub status_at: Option<DateTime<Utc>>,
    /// Seconds between its messages (the shortest in its birth).
    pub interval_s: Option<i32>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    /// The newest value of each of its readings (meters and lifts; the
    /// other kinds report per circuit, door or zone under /systems).
    #[schema(value_type = Option<Object>)]
    pub readings: Option<serde_json::Value>,
    pub readings_at: Option<DateTime<Utc>>,
}

fn device(r: DeviceRow, now: DateTime<Utc>) -> Device {
    let (state, why) = r.contact.state(now);
    Device {
        device_id: r.id,
        site_id: r.site_id,
        kind: r.kind,
        name: r.name,
        location: r.location,
        floor: r.floor,
        parent_id: r.parent_id,
        enabled: r.enabled,
        state,
        offline_reason: why.map(|w| w.as_str().to_owned()),
        last_seen: r.contact.last_seen,
        status: r.status,
        status_at: r.status_ts,
        interval_s: r.contact.interval_s,
        model: r.model,
        firmware: r.firmware,
        readings: r.readings,
        readings_at: r.readings_at,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DevicesQuery {
    pub site_id: Option<String>,
    /// power_meter, lighting, lift, access or fire.
    pub kind: Option<String>,
    /// online, offline or unknown.
    pub state: Option<String>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

const STATES: [DeviceState; 3] = [
    DeviceState::Online,
    DeviceState::Offline,
    DeviceState::Unknown,
];

/// Devices with their state and last contact, by site, kind and id.
#[utoipa::path(get, path = "/api/v1/devices", tag = "systems", params(DevicesQuery), security(("bearer" = ["systems:read"])),
    responses(
        (status = 200, description = "A page of devices", body = Paginated<Device>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
    ))]
pub async fn list_devices(
    State(state): State<AppState>,
    who: CanAtSite<perm::SystemsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<DevicesQuery>,
) -> Result<axum::Json<Paginated<Device>>, ApiError> {
    let site = who.site(q.site_id.clone())?;
    let page = Page::new(q.page, q.per_page)?;
    let kind = one_of(
        q.kind.as_deref(),
        "device kind",
        &DeviceKind::ALL,
        DeviceKind::as_str,
    )?;
    let wanted = one_of(
        q.state.as_deref(),
        "device state",
        &STATES,
        DeviceState::as_str,
    )?;
    let client = state.pool.get().await?;
    let now = state.clock.now();
    let all: Vec<Device> =
        systems::devices(&client, site.as_deref(), kind.map(DeviceKind::as_str), None)
            .await?
            .into_iter()
            .map(|r| device(r, now))
            .filter(|d| wanted.is_none_or(|w| d.state == w))
            .collect();
    let total = all.len() as i64;
    let w = page.window();
    let data = all
        .into_iter()
        .skip(usize::try_from(w.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(w.limit).unwrap_or(0))
        .collect();
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}

/// Bucket widths of the power readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PowerInterval {
    Minute,
    Hour,
    /// Midnight to midnight in the site's time zone.
    Day,
}

impl PowerInterval {
    fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// Default and longest range.
    fn spans(self) -> (Duration, Duration) {
        match self {
            Self::Minute => (Duration::hours(2), Duration::days(2)),
            Self::Hour => (Duration::hours(24), Duration::days(93)),
            Self::Day => (Duration::days(30), Duration::days(400)),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PowerQuery {
    /// A meter; without it, the site's main meters (those without a
    /// parent) summed, which needs `site_id`.
    pub device_id: Option<String>,
    pub site_id: Option<String>,
    /// Default: 2 hours (minute), 24 hours (hour) or 30 days (day) before
    /// `end_time`; at most 2, 93 or 400 days.
    pub start_time: Option<DateTime<Utc>>,
    /// Default: now.
    pub end_time: Option<DateTime<Utc>>,
    /// minute, hour (default) or day.
    #[param(inline)]
    pub interval: Option<PowerInterval>,
}

/// A meter's (or a site's) energy and power per bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct PowerReadings {
    pub device_id: Option<String>,
    pub site_id: String,
    pub interval: PowerInterval,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    /// Buckets starting in [start_time, end_time) that hold readings,
    /// oldest first.
    pub data: Vec<PowerBucket>,
}

/// Energy and power per minute, hour or day, from the rollups.
#[utoipa::path(get, path = "/api/v1/systems/power/readings", tag = "systems", params(PowerQuery), security(("bearer" = ["systems:read"])),
    responses(
        (status = 200, description = "Buckets, oldest first", body = PowerReadings),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown meter", body = crate::error::ErrorBody),
    ))]
pub async fn power_readings(
    State(state): State<AppState>,
    who: CanAtSite<perm::SystemsRead>,
    Query(q): Query<PowerQuery>,
) -> Result<axum::Json<PowerReadings>, ApiError> {
    let site = who.site(q.site_id.clone())?;
    let interval = q.interval.unwrap_or(PowerInterval::Hour);
    let (default_span, max_span) = interval.spans();
    let (start, end) = crate::http::time::range(q.start_time, q.end_time, default_span, max_span)?;
    let client = state.pool.get().await?;
    let site = match &q.device_id {
        Some(id) => {
            let meter = systems::devices(&client, None, None, Some(id))
                .await?
                .into_iter()
                .next()
                .filter(|d| d.kind == DeviceKind::PowerMeter.as_str())
                .ok_or_else(|| device_not_found(id, "power_meter"))?;
            if site.as_ref().is_some_and(|s| *s != meter.site_id) {
                return Err(device_not_found(id, "power_meter"));
            }
            meter.site_id
        }
        None => site.ok_or_else(|| {
            ApiError::bad_request("give device_id (a meter) or site_id (the site's main meters)")
        })?,
    };
    let data = systems::power_buckets(
        &client,
        q.device_id.as_deref(),
        &site,
        interval.as_str(),
        start,
        end,
    )
    .await?;
    Ok(axum::Json(PowerReadings {
        device_id: q.device_id,
        site_id: site,
        interval,
        start_time: start,
        end_time: end,
        data,
    }))
}

fn device_not_found(id: &str, kind: &str) -> ApiError {
    ApiError::not_found(format!("no {kind} {id:?}")).with_details(serde_json::json!({
        "device_id": id,
        "suggestion": format!("GET /api/v1/devices?kind={kind} lists them"),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SiteQuery {
    pub site_id: Option<String>,
}

/// A part's present with its device's identity and state.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartStatus {
    pub device_id: String,
    pub device_name: String,
    pub site_id: String,
    pub location: Option<String>,
    pub floor: Option<i32>,
    /// The device's state: a value from an offline device is its last
    /// known one.
    pub device_state: DeviceState,
    /// The circuit, door or zone ("" for a lift).
    pub part: String,
    /// The part's state: circuit on/off, lift mode, fire zone state.
    pub state: Option<String>,
    /// Since when `state` holds (the device's time).
    pub state_since: Option<DateTime<Utc>>,
    /// The newest value of each reading.
    #[schema(value_type = Object)]
    pub readings: serde_json::Value,
    /// The device's time of the newest reading.
    pub ts: DateTime<Utc>,
}

async fn statuses(
    state: &AppState,
    site: Option<&str>,
    kind: DeviceKind,
    family: &str,
) -> Result<Vec<PartStatus>, ApiError> {
    let client = state.pool.get().await?;
    let now = state.clock.now();
    let devices: std::collections::HashMap<String, DeviceRow> =
        systems::devices(&client, site, Some(kind.as_str()), None)
            .await?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
    let parts = systems::parts(&client, family, site).await?;
    Ok(parts
        .into_iter()
        .filter_map(|p: PartRow| {
            let d = devices.get(&p.device_id)?;
            Some(PartStatus {
                device_id: p.device_id,
                device_name: d.name.clone(),
                site_id: d.site_id.clone(),
                location: d.location.clone(),
                floor: d.floor,
                device_state: d.contact.state(now).0,
                part: p.part,
                state: p.state,
                state_since: p.state_since,
                readings: p.readings,
                ts: p.ts,
            })
        })
        .collect())
}

/// Parts of one kind, most urgent first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemStatus {
    pub data: Vec<PartStatus>,
    /// How many parts are in each state.
    #[schema(value_type = Object)]
    pub summary: std::collections::BTreeMap<String, usize>,
}

fn with_summary(mut data: Vec<PartStatus>, rank: fn(Option<&str>) -> u8) -> SystemStatus {
    data.sort_by(|a, b| {
        (rank(a.state.as_deref()), &a.device_id, &a.part).cmp(&(
            rank(b.state.as_deref()),
            &b.device_id,
            &b.part,
        ))
    });
    let mut summary = std::collections::BTreeMap::new();
    for p in &data {
        *summary
            .entry(p.state.clone().unwrap_or_else(|| "unknown".into()))
            .or_insert(0) += 1;
    }
    SystemStatus { data, summary }
}

/// Lighting circuits: on/off, dimming level and power, now.
#[utoipa::path(get, path = "/api/v1/systems/lighting/status", tag = "systems", params(SiteQuery), security(("bearer" = ["systems:read"])),
    responses((status = 200, description = "Circuits", body = SystemStatus),
              (status = 400, description = "Bad query", body = crate::error::ErrorBody)))]
pub async fn lighting_status(
    State(state): State<AppState>,
    who: CanAtSite<perm::SystemsRead>,
    Query(q): Query<SiteQuery>,
) -> Result<axum::Json<SystemStatus>, ApiError> {
    let site = who.site(q.site_id)?;
    let data = statuses(&state, site.as_deref(), DeviceKind::Lighting, "lighting").await?;
    Ok(axum::Json(with_summary(data, |s| {
        u8::from(s != Some("on"))
    })))
}

/// Lifts: floor, direction, doors, mode (faults first), now.
#[utoipa::path(get, path = "/api/v1/systems/lifts/status", tag = "systems", params(SiteQuery), security(("bearer" = ["systems:read"])),
    responses((status = 200, description = "Lifts, faults first", body = SystemStatus),
              (status = 400, description = "Bad query", body = crate::error::ErrorBody)))]
pub async fn lifts_status(
    State(state): State<AppState>,
    who: CanAtSite<perm::SystemsRead>,
    Query(q): Query<SiteQuery>,
) -> Result<axum::Json<SystemStatus>, ApiError> {
    let site = who.site(q.site_id)?;
    let data = statuses(&state, site.as_deref(), DeviceKind::Lift, "lift").await?;
    Ok(axum::Json(with_summary(data, |s| match s {
        Some("fault") => 0,
        Some("maintenance") => 1,
        _ => 2,
    })))
}

/// Fire panels' zones: state and test mode, alarms first.
#[utoipa::path(get, path = "/api/v1/systems/fire/status", tag = "systems", params(SiteQuery), security(("bearer" = ["systems:read"])),
    responses((status = 200, description = "Zones, alarms first", body = SystemStatus),
              (status = 400, description = "Bad query", body = crate::error::ErrorBody)))]
pub async fn fire_status(
    State(state): State<AppState>,
    who: CanAtSite<perm::SystemsRead>,
    Query(q): Query<SiteQuery>,
) -> Result<axum::Json<SystemStatus>, ApiError> {
    let site = who.site(q.site_id)?;
    let data = statuses(&state, site.as_deref(), DeviceKind::Fire, "fire").await?;
    Ok(axum::Json(with_summary(data, fire_rank)))
}

/// Fire states, most urgent first.
pub fn fire_rank(s: Option<&str>) -> u8 {
    match s {
        Some("alarm") => 0,
        Some("pre_alarm") => 1,
        Some("fault") => 2,
        Some("disabled") => 3,
        Some("isolated") => 4,
        Some("normal") => 6,
        _ => 5,
    }
}

const OUTCOMES: [&str; 4] = ["granted", "denied", "forced", "held_open"];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    pub site_id: Option<String>,
    /// A door controller.
    pub device_id: Option<String>,
    pub door: Option<String>,
    /// granted, denied, forced or held_open.
    pub outcome: Option<String>,
    /// Default: 24 hours before `end_time`; at most 93 days.
    pub start_time: Option<DateTime<Utc>>,
    /// Default: now.
    pub end_time: Option<DateTime<Utc>>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 1000)]
    pub per_page: Option<u32>,
}

/// Access decisions at doors, newest first (personal data: each read is
/// audited; credential hashes only with `persons:read`).
#[utoipa::path(get, path = "/api/v1/systems/access/events", tag = "systems", params(AccessQuery), security(("bearer" = ["systems:read"])),
    responses(
        (status = 200, description = "A page of access events", body = Paginated<AccessEventRow>),
        (status = 400, description = "Bad query", body = crate::error::ErrorBody),
    ))]
pub async fn access_events(
    State(state): State<AppState>,
    who: CanAtSite<perm::SystemsRead>,
    OriginalUri(uri): OriginalUri,
    Query(q): Query<AccessQuery>,
) -> Result<axum::Json<Paginated<AccessEventRow>>, ApiError> {
    let site = who.site(q.site_id.clone())?;
    let page = Page::new(q.page, q.per_page)?;
    if let Some(o) = &q.outcome
        && !OUTCOMES.contains(&o.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "unknown outcome {o:?}: one of {}",
            OUTCOMES.join(", ")
        )));
    }
    let (start, end) = crate::http::time::range(
        q.start_time,
        q.end_time,
        Duration::hours(24),
        Duration::days(93),
    )?;
    let client = state.pool.get().await?;
    let filter = AccessFilter {
        site,
        device: q.device_id.clone(),
        door: q.door.clone(),
        outcome: q.outcome.clone(),
        start,
        end,
    };
    let (mut data, total) = systems::access_events(&client, &filter, page.window()).await?;
    let personal = who.0.allows(Permission::PersonsRead);
    if !personal {
        for e in &mut data {
            e.credential_hash = None;
        }
    }
    audit::record(
        &client,
        who.0.actor(),
        "systems.access_events.list",
        "access_events",
        serde_json::json!({
            "site_id": filter.site, "device_id": filter.device, "door": filter.door,
            "outcome": filter.outcome, "start_time": start, "end_time": end,
            "returned": data.len(), "credential_hashes": personal,
        }),
    )
    .await?;
    Ok(axum::Json(Paginated::new(data, page, total, &uri)))
}
