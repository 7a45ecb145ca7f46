//! The web console: server-rendered pages over the same services as every other channel,
//! behind the session cookie and its CSRF token. Pages decide nothing: what the core refuses
//! is shown on the one error page ([`PageError`], with the REST API's statuses); links and
//! forms appear only for the areas the core says the user holds.
//!
//! Every page is maud markup built from the components in [`ui`], so all text is escaped by
//! construction. Handlers take a [`ConsoleUser`] (signed in, areas known) or a [`CsrfForm`]
//! (that, and a form whose token matched) and return a page or a `PageError`.

mod account;
mod audit;
mod bulk;
mod chart;
mod courses;
mod dashboard;
mod error;
mod extract;
mod idle;
mod import;
mod jobs;
mod learning;
mod org;
mod plan;
mod settings;
mod style;
mod tokens;
mod types;
pub(crate) mod ui;
mod user;
mod users;

use crate::routes::Routes;
use axum::Router;

use crate::AppState;
pub(crate) use error::PageError;
pub(crate) use extract::{ConsoleUser, CsrfForm, FormPairs, NoFields};

/// Every console route, here in one table, recorded (the authorization matrix reads it).
pub fn routes() -> Routes<AppState> {
    Routes::new()
        .get("/console.css", style::plain)
        .get(style::href(), style::immutable)
        .get("/", dashboard::home)
        .get("/admin", dashboard::dashboard)
        .get("/admin/users", users::list)
        .get("/admin/users/new", users::new_page)
        .post("/admin/users/new", users::new_submit)
        .post("/admin/users/bulk", bulk::apply)
        .get("/admin/users/{id}", user::page)
        .post("/admin/users/{id}/status", user::status)
        .post("/admin/users/{id}/delete", user::delete)
        .post("/admin/users/{id}/edit", user::edit)
        .post("/admin/users/{id}/offboard", user::offboard)
        .post("/admin/users/{id}/sessions", user::end_sessions)
        .get("/account", account::page)
        .post("/account/sessions", account::end_sessions)
        .get("/admin/import", import::upload_page)
        .post("/admin/import/preview", import::preview)
        .post("/admin/import/commit", import::commit)
        .get("/admin/types", types::list)
        .post("/admin/types", types::create)
        .get("/admin/types/{name}", types::page)
        .post("/admin/types/{name}", types::edit)
        .get("/admin/branches", org::branches)
        .post("/admin/branches", org::branch_create)
        .get("/admin/branches/{name}", org::branch)
        .get("/admin/groups", org::groups)
        .post("/admin/groups", org::group_create)
        .post("/admin/groups/members", org::member_add)
        .post("/admin/groups/courses", org::course_add)
        .get("/admin/courses", courses::list)
        .post("/admin/courses", courses::create)
        .post("/admin/courses/enroll", courses::enroll)
        .get("/admin/courses/{code}", courses::page)
        .get("/admin/audit", audit::page)
        .get("/admin/audit.csv", audit::csv)
        .get("/admin/plan", plan::page)
        .get("/admin/tokens", tokens::page)
        .post("/admin/tokens", tokens::create)
        .post("/admin/tokens/revoke", tokens::revoke)
        .get("/admin/settings", settings::page)
        .get("/admin/jobs", jobs::page)
        .post("/admin/jobs/{name}/run", jobs::run)
        .post("/admin/settings", settings::save)
        .post("/admin/settings/sso", settings::sso_save)
        .get("/admin/idle-policy", idle::page)
        .post("/admin/idle-policy", idle::save)
        .post("/admin/idle-policy/run", idle::run)
        .get("/learn", learning::learn)
        .post("/learn/complete", learning::complete_unit)
        .get("/teach", learning::teach)
        .post("/teach/grade", learning::grade)
}

pub fn router() -> Router<AppState> {
    routes().into_router()
}

/// A form field's trimmed text, or `None` when it was left blank.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_owned())
}

/// A comma-separated field as its trimmed, non-empty items.
fn comma_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Text made safe for one part of a URL (a path segment or a query value).
fn url_part(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
