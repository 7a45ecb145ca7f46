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
mod courses;
mod dashboard;
mod error;
mod extract;
mod import;
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

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;
pub(crate) use error::PageError;
pub(crate) use extract::{ConsoleUser, CsrfForm, FormPairs, NoFields};

/// Every console route, here in one table.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console.css", get(style::plain))
        .route(style::href(), get(style::immutable))
        .route("/", get(dashboard::home))
        .route("/admin", get(dashboard::dashboard))
        .route("/admin/users", get(users::list))
        .route("/admin/users/new", get(users::new_page).post(users::new_submit))
        .route("/admin/users/bulk", post(bulk::apply))
        .route("/admin/users/{id}", get(user::page))
        .route("/admin/users/{id}/status", post(user::status))
        .route("/admin/users/{id}/delete", post(user::delete))
        .route("/admin/users/{id}/edit", post(user::edit))
        .route("/admin/users/{id}/offboard", post(user::offboard))
        .route("/admin/users/{id}/sessions", post(user::end_sessions))
        .route("/account", get(account::page))
        .route("/account/sessions", post(account::end_sessions))
        .route("/admin/import", get(import::upload_page))
        .route("/admin/import/preview", post(import::preview))
        .route("/admin/import/commit", post(import::commit))
        .route("/admin/types", get(types::list).post(types::create))
        .route("/admin/types/{name}", get(types::page).post(types::edit))
        .route("/admin/branches", get(org::branches).post(org::branch_create))
        .route("/admin/groups", get(org::groups).post(org::group_create))
        .route("/admin/groups/members", post(org::member_add))
        .route("/admin/groups/courses", post(org::course_add))
        .route("/admin/courses", get(courses::list).post(courses::create))
        .route("/admin/courses/enroll", post(courses::enroll))
        .route("/admin/courses/{code}", get(courses::page))
        .route("/admin/audit", get(audit::page))
        .route("/admin/audit.csv", get(audit::csv))
        .route("/admin/plan", get(plan::page))
        .route("/admin/tokens", get(tokens::page).post(tokens::create))
        .route("/admin/tokens/revoke", post(tokens::revoke))
        .route("/admin/settings", get(settings::page).post(settings::save))
        .route("/admin/settings/sso", post(settings::sso_save))
        .route("/learn", get(learning::learn))
        .route("/learn/complete", post(learning::complete_unit))
        .route("/teach", get(learning::teach))
        .route("/teach/grade", post(learning::grade))
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
