//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

use super::{
    alerts, api_keys, audit, auth, config, counting, energy, energy_config, events, health,
    persons, photos, recognition, reports, sites, snapshots, systems, users, zones,
};
use crate::error;

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Atrium central API", description = "People counting, occupancy, camera configuration, face recognition and building systems. Errors use one format (ErrorBody); lists are paginated (data/meta/links, per_page 1..1000, default 50). Authenticate with a bearer token from /api/v1/auth/login, an API key (Authorization: Bearer atr_… or X-API-Key), or the session cookie the web UI gets. Every /api/v1 response carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset; 429 adds Retry-After."),
    paths(
        auth::login, auth::refresh, auth::logout, auth::me, auth::change_password,
        users::list, users::create, users::get_one, users::update, users::delete,
        api_keys::list, api_keys::create, api_keys::revoke,
        audit::list,
        counting::current, counting::history, counting::occupancy, zones::violations,
        sites::list,
        events::list,
        config::cameras::list_cameras, config::cameras::get_camera, config::cameras::put_camera,
        config::zones::list_zones, config::zones::create_zone, config::zones::put_zone, config::zones::delete_zone,
        config::lines::list_lines, config::lines::create_line, config::lines::put_line, config::lines::delete_line,
        persons::list, persons::create, persons::get_one, persons::update, persons::delete,
        photos::add_photo, photos::list_photos, photos::get_photo, photos::delete_photo,
        recognition::list, recognition::reject,
        snapshots::get_snapshot, snapshots::request_snapshot,
        systems::list_devices, systems::power_readings, systems::lighting_status,
        systems::lifts_status, systems::fire_status, systems::access_events,
        energy::current, energy::history, energy::cost, energy::carbon, energy::kpis,
        energy::baseline, energy::list_targets,
        energy_config::create_target, energy_config::put_target, energy_config::delete_target,
        energy_config::list_tariffs, energy_config::create_tariff, energy_config::get_tariff,
        energy_config::put_tariff, energy_config::delete_tariff,
        energy_config::list_holidays, energy_config::put_holiday, energy_config::delete_holiday,
        energy_config::list_factors, energy_config::put_factor,
        energy_config::list_contracts, energy_config::create_contract, energy_config::delete_contract,
        energy_config::get_meter_zones, energy_config::put_meter_zones, energy_config::put_site,
        alerts::list, alerts::summary, alerts::get, alerts::ack, alerts::resolve,
        alerts::list_silences, alerts::create_silence, alerts::delete_silence,
        alerts::list_channels, alerts::create_channel, alerts::put_channel,
        alerts::delete_channel, alerts::test_channel,
        reports::daily, reports::weekly, reports::monthly, reports::custom, reports::list,
        reports::get, reports::export, reports::list_schedules, reports::create_schedule,
        reports::delete_schedule,
        health::health, health::metrics,
    ),
    components(schemas(error::ErrorBody, crate::live::LiveEvent)),
    modifiers(&BearerAuth, &ErrorResponses),
    tags(
        (name = "auth", description = "Log in, refresh, log out"),
        (name = "counting", description = "Occupancy and IN/OUT counts"),
        (name = "events", description = "The event log"),
        (name = "config", description = "Sites, cameras, counting lines and zones"),
        (name = "cameras", description = "Camera pictures: the last snapshot (live frames: `/ws/camera/{id}?live=true`)"),
        (name = "persons", description = "People to recognise, enrolment photos, erasure (personal data: audited)"),
        (name = "recognition", description = "Face recognitions and \"not this person\" corrections"),
        (name = "systems", description = "Building systems: devices, power per meter, lighting, lifts, fire zones, access events (personal data: audited)"),
        (name = "energy", description = "Energy management: energy now and over time, cost by tariff, Scope 2 emissions, targets, occupancy KPIs and the baseline; tariffs, holidays, factors and contracts"),
        (name = "reports", description = "Daily, weekly, monthly and custom reports of a site, compared with the previous period; the archive; exports as PDF, Excel or CSV (5 an hour per caller); schedules that mail them"),
        (name = "alerts", description = "Alerts: list, history and delivery log, acknowledge, resolve; silences and maintenance windows; notification channels (webhooks, e-mail)"),
        (name = "users", description = "Accounts and roles (administrators)"),
        (name = "api-keys", description = "Keys for integrations"),
        (name = "audit", description = "Who did what, when, from where"),
        (name = "ops", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or atr_ API key")
                    .build(),
            ),
        );
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The API key scheme beside the bearer token: every operation that takes
/// a bearer token takes a key with the same permission.
const API_KEY_SCHEME: &str = "api_key";

/// Declares what every `/api/v1` operation can answer besides its own
/// responses (the error format for 400, 401, 403, 404, 413, 415, 429 and
/// 503), the rate-limit headers on every response, and the API key as an
/// alternative to the bearer token. Done once here rather than in each
/// handler's annotation, so no operation can forget one.
#[derive(Debug)]
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(path, op);
            }
        }
    }
}

/// Operations an API key may not call (changing the owner's password).
const NOT_WITH_A_KEY: &[&str] = &["/api/v1/auth/password"];

fn complete(path: &str, op: &mut Operation) {
    let secured = op.security.is_some();
    let has_body = op.request_body.is_some();
    let mut errors = vec![
        ("400", "Invalid parameters or body"),
        ("404", "No such resource"),
        ("429", "Rate limit exceeded (Retry-After, retry_after)"),
        ("503", "The database is unavailable"),
    ];
    if secured {
        errors.push(("401", "No valid credentials"));
        errors.push(("403", "The caller lacks the permission"));
    }
    if has_body {
        errors.push(("413", "Body too large"));
        errors.push(("415", "Unsupported content type"));
    }
    for (code, description) in errors {
        op.responses
            .responses
            .entry(code.to_owned())
            .or_insert_with(|| RefOr::T(error_response(description)));
    }
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(r) = response {
            for (name, description) in [
                (
                    "X-RateLimit-Limit",
                    "Requests the binding budget allows per window",
                ),
                ("X-RateLimit-Remaining", "Requests left in it"),
                ("X-RateLimit-Reset", "When it is whole again (Unix seconds)"),
            ] {
                r.headers.entry(name.to_owned()).or_insert_with(|| {
                    RefOr::T(
                        HeaderBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                            .description(Some(description))
                            .build(),
                    )
                });
            }
        }
    }
    if let Some(security) = op
        .security
        .as_mut()
        .filter(|_| !NOT_WITH_A_KEY.contains(&path))
    {
        let alternatives: Vec<SecurityRequirement> = security
            .iter()
            .filter_map(|req| serde_json::to_value(req).ok())
            .filter_map(|v| {
                let scopes: Vec<String> = v
                    .get("bearer")?
                    .as_array()?
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect();
                Some(SecurityRequirement::new(API_KEY_SCHEME, scopes))
            })
            .collect();
        security.extend(alternatives);
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}
