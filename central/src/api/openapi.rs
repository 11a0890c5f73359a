//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{auth, config, counting, events, health, persons, photos, recognition, zones};
use crate::error;

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Atrium central API", description = "People counting, occupancy, camera configuration and face recognition. Errors use one format (ErrorBody); lists are paginated (data/meta/links, per_page 1..1000, default 50). Authenticate with a bearer token from /api/v1/auth/login, or the session cookie the web UI gets."),
    paths(
        auth::login, auth::refresh, auth::logout, auth::me,
        counting::current, counting::history, zones::violations,
        events::list,
        config::cameras::list_cameras, config::cameras::get_camera, config::cameras::put_camera,
        config::zones::list_zones, config::zones::create_zone, config::zones::put_zone, config::zones::delete_zone,
        config::lines::list_lines, config::lines::create_line, config::lines::put_line, config::lines::delete_line,
        persons::list, persons::create, persons::get_one, persons::update, persons::delete,
        photos::add_photo, photos::list_photos, photos::get_photo, photos::delete_photo,
        recognition::list, recognition::reject,
        health::health, health::metrics,
    ),
    components(schemas(error::ErrorBody, crate::live::LiveEvent)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Log in, refresh, log out"),
        (name = "counting", description = "Occupancy and IN/OUT counts"),
        (name = "events", description = "The event log"),
        (name = "config", description = "Cameras, counting lines and zones"),
        (name = "persons", description = "People to recognise, enrolment photos, erasure (personal data: audited)"),
        (name = "recognition", description = "Face recognitions and \"not this person\" corrections"),
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
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
