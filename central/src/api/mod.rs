//! The REST API under `/api/v1`: one module per resource. Each handler
//! names its permission in its signature (`Can<perm::…>`, checked before
//! any other extractor) and in its OpenAPI entry (the bearer scope);
//! `central/tests/access.rs` holds the two together for every role. [`routes`] lists every route; the
//! application's router (`crate::routes`) mounts it beside the WebSocket,
//! UI, health and documentation routes.

pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod config;
pub mod counting;
pub mod energy;
pub mod energy_config;
pub mod events;
pub mod health;
pub mod openapi;
pub mod persons;
pub mod photos;
pub mod recognition;
pub mod reports;
pub mod sites;
pub mod snapshots;
pub mod systems;
pub mod users;
pub mod zones;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};

use crate::app::AppState;

/// The `/api/v1` routes (unknown paths under it answer the API's 404).
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/auth/password", post(auth::change_password))
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{user_id}",
            get(users::get_one).put(users::update).delete(users::delete),
        )
        .route("/api-keys", get(api_keys::list).post(api_keys::create))
        .route("/api-keys/{key_id}", delete(api_keys::revoke))
        .route("/audit", get(audit::list))
        .route("/counting/current", get(counting::current))
        .route("/counting/history", get(counting::history))
        .route("/counting/occupancy", get(counting::occupancy))
        .route("/sites", get(sites::list))
        .route("/events", get(events::list))
        .route("/reports", get(reports::list))
        .route("/reports/daily", get(reports::daily))
        .route("/reports/weekly", get(reports::weekly))
        .route("/reports/monthly", get(reports::monthly))
        .route("/reports/custom", post(reports::custom))
        .route(
            "/reports/schedules",
            get(reports::list_schedules).post(reports::create_schedule),
        )
        .route("/reports/schedules/{id}", delete(reports::delete_schedule))
        .route("/reports/{id}", get(reports::get))
        .route("/reports/{id}/export", get(reports::export))
        .route("/alerts", get(alerts::list))
        .route("/alerts/summary", get(alerts::summary))
        .route(
            "/alerts/silences",
            get(alerts::list_silences).post(alerts::create_silence),
        )
        .route("/alerts/silences/{id}", delete(alerts::delete_silence))
        .route(
            "/alerts/channels",
            get(alerts::list_channels).post(alerts::create_channel),
        )
        .route(
            "/alerts/channels/{name}",
            put(alerts::put_channel).delete(alerts::delete_channel),
        )
        .route("/alerts/channels/{name}/test", post(alerts::test_channel))
        .route("/alerts/{id}", get(alerts::get))
        .route("/alerts/{id}/ack", post(alerts::ack))
        .route("/alerts/{id}/resolve", post(alerts::resolve))
        .route("/energy/current", get(energy::current))
        .route("/energy/history", get(energy::history))
        .route("/energy/cost", get(energy::cost))
        .route("/energy/carbon", get(energy::carbon))
        .route("/energy/kpis", get(energy::kpis))
        .route("/energy/baseline", get(energy::baseline))
        .route(
            "/energy/targets",
            get(energy::list_targets).post(energy_config::create_target),
        )
        .route(
            "/energy/targets/{id}",
            put(energy_config::put_target).delete(energy_config::delete_target),
        )
        .route(
            "/energy/tariffs",
            get(energy_config::list_tariffs).post(energy_config::create_tariff),
        )
        .route(
            "/energy/tariffs/{id}",
            get(energy_config::get_tariff)
                .put(energy_config::put_tariff)
                .delete(energy_config::delete_tariff),
        )
        .route("/energy/holidays", get(energy_config::list_holidays))
        .route(
            "/energy/holidays/{site_id}/{date}",
            put(energy_config::put_holiday).delete(energy_config::delete_holiday),
        )
        .route("/energy/emission-factors", get(energy_config::list_factors))
        .route(
            "/energy/emission-factors/{site_id}/{year}",
            put(energy_config::put_factor),
        )
        .route(
            "/energy/contracts",
            get(energy_config::list_contracts).post(energy_config::create_contract),
        )
        .route(
            "/energy/contracts/{id}",
            delete(energy_config::delete_contract),
        )
        .route(
            "/energy/meters/{device_id}/zones",
            get(energy_config::get_meter_zones).put(energy_config::put_meter_zones),
        )
        .route("/energy/sites/{site_id}", put(energy_config::put_site))
        .route("/devices", get(systems::list_devices))
        .route("/systems/power/readings", get(systems::power_readings))
        .route("/systems/lighting/status", get(systems::lighting_status))
        .route("/systems/lifts/status", get(systems::lifts_status))
        .route("/systems/fire/status", get(systems::fire_status))
        .route("/systems/access/events", get(systems::access_events))
        .route("/config/cameras", get(config::cameras::list_cameras))
        .route(
            "/config/cameras/{camera_id}",
            get(config::cameras::get_camera).put(config::cameras::put_camera),
        )
        .route(
            "/config/zones",
            get(config::zones::list_zones).post(config::zones::create_zone),
        )
        .route(
            "/config/zones/{camera_id}/{zone_id}",
            put(config::zones::put_zone).delete(config::zones::delete_zone),
        )
        .route(
            "/config/lines",
            get(config::lines::list_lines).post(config::lines::create_line),
        )
        .route(
            "/config/lines/{camera_id}/{line_id}",
            put(config::lines::put_line).delete(config::lines::delete_line),
        )
        .route("/persons", get(persons::list).post(persons::create))
        .route(
            "/persons/{person_id}",
            get(persons::get_one)
                .put(persons::update)
                .delete(persons::delete),
        )
        .route(
            "/persons/{person_id}/photos",
            get(photos::list_photos).post(photos::add_photo).layer(
                // Multipart overhead on top of the photo itself.
                DefaultBodyLimit::max(state.faces.photo_max_bytes + 64 * 1024),
            ),
        )
        .route(
            "/persons/{person_id}/photos/{photo_id}",
            get(photos::get_photo).delete(photos::delete_photo),
        )
        .route(
            "/cameras/{camera_id}/snapshot",
            get(snapshots::get_snapshot).post(snapshots::request_snapshot),
        )
        .route("/zones/{zone_id}/violations", get(zones::violations))
        .route("/events/recognition", get(recognition::list))
        .route(
            "/events/recognition/{recognition_id}/reject",
            post(recognition::reject),
        )
        .fallback(crate::error::not_found)
}
