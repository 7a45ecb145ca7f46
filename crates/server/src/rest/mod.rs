//! The REST API, `/api/v1`: routes and their OpenAPI document, generated from the same
//! handler annotations, so a route can't exist without being documented.

pub mod admin;
pub mod catalog;
pub mod courses;
pub mod error;
pub mod extract;
pub mod idle;
pub mod imports;
pub mod stream;
pub mod users;

use crate::AppState;
use axum::Router;
use axum::routing::get;
use error::{ApiError, ApiResult};
use rollcall_core::domain::{Millis, parse_time};
use serde::{Deserialize, Deserializer};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rollcall",
        description = "User management for a learning platform: users, types, branches, groups, seats, audit. \
            Authenticate with `Authorization: Bearer rc_api_…` (`rollcall token create --scope api --user U`); \
            a token acts with its user's current permissions. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Codes the HTTP layer answers besides the core's.
pub const HTTP_ERROR_CODES: &[&str] = &["payload_too_large", "unsupported_media_type", "unavailable"];

/// Every stable error code an answer's `error.code` may hold.
pub fn error_codes() -> Vec<&'static str> {
    let mut codes = rollcall_core::Error::codes();
    codes.extend(HTTP_ERROR_CODES);
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// The document lists the stable error codes, so a client knows every one it may meet.
fn with_error_codes(mut doc: OpenApiDoc) -> OpenApiDoc {
    let list: Vec<String> = error_codes().iter().map(|c| format!("`{c}`")).collect();
    let description = doc.info.description.get_or_insert_with(String::new);
    description.push_str(&format!(" Stable error codes: {}.", list.join(", ")));
    doc
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("rc_api_…")
                    .build(),
            ),
        );
    }
}

/// OpenAPI requires a description on every response; where a handler gives none, the
/// status's reason phrase is the honest one.
fn describe_responses(doc: &mut OpenApiDoc) {
    each_operation(doc, |op, _| {
        for (status, response) in op.responses.responses.iter_mut() {
            if let utoipa::openapi::RefOr::T(r) = response
                && r.description.is_empty()
            {
                let reason = status
                    .parse::<u16>()
                    .ok()
                    .and_then(|s| axum::http::StatusCode::from_u16(s).ok());
                r.description = reason
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("response")
                    .to_owned();
            }
        }
    });
}

/// Calls `f` on every operation of the document, with whether its path declares parameters
/// shared by all its operations.
fn each_operation(doc: &mut OpenApiDoc, mut f: impl FnMut(&mut utoipa::openapi::path::Operation, bool)) {
    for item in doc.paths.paths.values_mut() {
        let shared_parameters = item.parameters.as_ref().is_some_and(|p| !p.is_empty());
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            f(op, shared_parameters);
        }
    }
}

/// The refusals any operation can meet before its handler decides anything, documented on
/// every operation they apply to so the document lists every status a client can see: 400
/// for a parameter or body that can't be read, 413 and 415 for a body too large or not
/// JSON, 503 while the database is out of reach.
fn standard_errors(doc: &mut OpenApiDoc) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    each_operation(doc, |op, shared_parameters| {
        let has_body = op.request_body.is_some();
        let has_parameters = shared_parameters || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
        let responses = &mut op.responses.responses;
        if has_body || has_parameters {
            responses
                .entry("400".into())
                .or_insert_with(|| error("a parameter or the body can't be read"));
        }
        if has_body {
            responses
                .entry("413".into())
                .or_insert_with(|| error("the body is larger than this operation accepts"));
            responses
                .entry("415".into())
                .or_insert_with(|| error("the body is not of the documented content type"));
        }
        responses
            .entry("503".into())
            .or_insert_with(|| error("the database is out of reach; retry after `Retry-After` seconds"));
    });
}

/// The `/api/v1` routes and their OpenAPI document.
pub fn router() -> (Router<AppState>, OpenApiDoc) {
    let v1 = OpenApiRouter::new()
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::get_user, users::update_user, users::delete_user))
        .routes(routes!(users::deactivate_user))
        .routes(routes!(users::end_sessions))
        .routes(routes!(users::activate_user))
        .routes(routes!(users::restore_user))
        .routes(routes!(users::bulk))
        .merge(
            // Import files may be far larger than other bodies.
            OpenApiRouter::new()
                .routes(routes!(imports::import))
                .layer(axum::extract::DefaultBodyLimit::max(imports::IMPORT_LIMIT)),
        )
        .routes(routes!(imports::export))
        .routes(routes!(users::get_job))
        .routes(routes!(catalog::list_types, catalog::create_type))
        .routes(routes!(catalog::edit_type, catalog::delete_type))
        .routes(routes!(catalog::list_branches, catalog::create_branch))
        .routes(routes!(catalog::update_branch))
        .routes(routes!(catalog::list_groups, catalog::create_group))
        .routes(routes!(catalog::list_members, catalog::add_members))
        .routes(routes!(catalog::remove_member))
        .routes(routes!(admin::get_plan, admin::set_plan))
        .routes(routes!(admin::seat_report))
        .routes(routes!(admin::idle_report))
        .routes(routes!(idle::get_idle_policy, idle::set_idle_policy))
        .routes(routes!(idle::preview))
        .routes(routes!(idle::run))
        .routes(routes!(idle::warned))
        .routes(routes!(admin::list_audit))
        .routes(routes!(admin::list_settings))
        .routes(routes!(admin::set_setting))
        .routes(routes!(admin::list_daily_jobs))
        .routes(routes!(admin::run_daily_job))
        .routes(routes!(admin::list_tokens, admin::create_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(courses::list_courses, courses::create_course))
        .routes(routes!(courses::get_course))
        .routes(routes!(courses::list_enrollments, courses::enroll))
        .routes(routes!(courses::complete_unit))
        .routes(routes!(courses::grade))
        .routes(routes!(courses::my_courses))
        .routes(routes!(courses::verify_certificate))
        .routes(routes!(courses::add_group_course))
        .routes(routes!(courses::join_group))
        .routes(routes!(courses::offboard))
        .routes(routes!(courses::export_subject))
        .routes(routes!(courses::orphaned_courses))
        .routes(routes!(crate::web::json_login))
        .routes(routes!(crate::web::json_password_reset));
    let (router, mut doc) = OpenApiRouter::with_openapi(with_error_codes(ApiDoc::openapi()))
        .nest("/api/v1", v1)
        .split_for_parts();
    standard_errors(&mut doc);
    describe_responses(&mut doc);
    let json = std::sync::Arc::new(doc.to_json().expect("the OpenAPI document serialises"));
    let router = router
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let json = json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        json.as_str().to_owned(),
                    )
                }
            }),
        )
        .route("/api/v1/{*rest}", axum::routing::any(not_found));
    (router, doc)
}

async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such API route; see /api/v1/openapi.json",
    )
}

/// For PATCH fields where `null` (clear) differs from absent (leave as is).
pub fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub fn parse_opt_time(field: &str, value: Option<&str>) -> ApiResult<Option<Millis>> {
    Ok(value.map(|v| parse_time(field, v)).transpose()?)
}
