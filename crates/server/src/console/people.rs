//! Changing one user from their console page: profile, type, branches and groups,
//! offboarding (deactivate and hand their courses to someone else in one step), and ending
//! their sessions; and the signed-in user's own account page.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_core::domain::UserId;
use rollcall_core::service::{SsoLink, UserKey, UserUpdate, UserView};
use serde::Deserialize;

use super::{error_page, layout, posted, posted_with_areas, signed_in};
use crate::AppState;
use crate::web::{CsrfForm, esc};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users/{id}/edit", axum::routing::post(edit))
        .route("/admin/users/{id}/offboard", axum::routing::post(offboard))
        .route("/admin/users/{id}/sessions", axum::routing::post(end_sessions))
        .route("/account", axum::routing::get(account))
        .route("/account/sessions", axum::routing::post(end_own_sessions))
}

/// Signs a user out everywhere (an administrator acting for them).
async fn end_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<CsrfForm>,
) -> Response {
    let (info, areas) = match posted_with_areas(&state, &headers, &f.csrf, "/admin/users").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ended = try_page!(
        state
            .service
            .end_sessions(&info.context, &UserKey::Id(UserId(id)))
            .await
    );
    let body = format!(
        "<h1>Signed out</h1><p role=\"status\">{ended} session(s) ended.</p><p><a href=\"/admin/users/{id}\">Back to the user</a></p>"
    );
    layout(&info, &areas, "Signed out", &body)
}

/// The signed-in user's own account: who they are, and signing out everywhere.
async fn account(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/account").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let u = &info.user;
    let body = format!(
        "<h1>Your account</h1><p>{first} {last} ({username}, {email}), {kind}.</p>\
         <h2>Sessions</h2><form method=\"post\" action=\"/account/sessions\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p>Signs you out of rollcall on every browser and device, this one included — for a lost laptop or a shared computer.</p>\
         <p><button type=\"submit\">Sign out everywhere</button></p></form>",
        first = esc(&u.first_name),
        last = esc(&u.last_name),
        username = esc(&u.username),
        email = esc(&u.email),
        kind = esc(&u.user_type),
        csrf = esc(&info.csrf_token),
    );
    layout(&info, &areas, "Your account", &body)
}

async fn end_own_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<CsrfForm>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/account").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let me = UserKey::Id(UserId(info.user.id));
    try_page!(state.service.end_sessions(&info.context, &me).await);
    Redirect::to("/login").into_response()
}

/// The edit and offboard forms for a user's page; `sso` is the identity-provider subject
/// the account is linked to.
pub fn forms(u: &UserView, sso: Option<&SsoLink>, csrf: &str) -> String {
    let csrf = esc(csrf);
    let field = |name: &str, label: &str, value: &str| {
        format!(
            "<p><label for=\"e-{name}\">{label}</label><input id=\"e-{name}\" name=\"{name}\" value=\"{}\"></p>",
            esc(value)
        )
    };
    format!(
        "<h2>Edit</h2><form method=\"post\" action=\"/admin/users/{id}/edit\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{}{}{}{}{}{}{}\
         <p><button type=\"submit\">Save changes</button></p></form>\
         <h2>Offboard</h2><form method=\"post\" action=\"/admin/users/{id}/offboard\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p>Deactivates the account (its records stay) and gives the courses it owns to someone else, in one step.</p>\
         <p><label for=\"reassign_to\">New owner of their courses (username)</label><input id=\"reassign_to\" name=\"reassign_to\"></p>\
         <p><button type=\"submit\">Offboard</button></p></form>\
         <h2>Sessions</h2><form method=\"post\" action=\"/admin/users/{id}/sessions\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p>Signs the user out of the console on every device (their API tokens are separate).</p>\
         <p><button type=\"submit\">Sign out everywhere</button></p></form>",
        field("email", "Email", &u.email),
        field("first_name", "First name", &u.first_name),
        field("last_name", "Last name", &u.last_name),
        field("user_type", "User type", &u.user_type),
        field("branches", "Branches (comma-separated)", &u.branches.join(", ")),
        field("groups", "Groups (comma-separated)", &u.groups.join(", ")),
        field(
            "sso_subject",
            &match sso {
                Some(l) => format!("Single sign-on subject (NameID at {}; empty unlinks)", esc(&l.idp)),
                None => "Single sign-on subject (NameID at the identity provider; empty: not linked)".to_owned(),
            },
            sso.map_or("", |l| l.subject.as_str())
        ),
        id = u.id,
    )
}

#[derive(Deserialize, Default)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    user_type: String,
    #[serde(default)]
    branches: String,
    #[serde(default)]
    groups: String,
    /// Absent from forms that don't show it (offboarding): then left as it is.
    sso_subject: Option<String>,
    #[serde(default)]
    reassign_to: String,
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What to add and what to remove to go from `now` to `wanted` (names compared without case).
fn diff(now: &[String], wanted: &[String]) -> (Vec<String>, Vec<String>) {
    let has = |set: &[String], x: &String| set.iter().any(|y| y.eq_ignore_ascii_case(x));
    let add = wanted.iter().filter(|w| !has(now, w)).cloned().collect();
    let remove = now.iter().filter(|n| !has(wanted, n)).cloned().collect();
    (add, remove)
}

fn changed(now: &str, wanted: &str) -> Option<String> {
    (wanted.trim() != now).then(|| wanted.trim().to_owned())
}

async fn edit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<EditForm>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/users").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let key = UserKey::Id(UserId(id));
    let u = try_page!(state.service.get_user(&info.context, &key).await);
    let (add_branches, remove_branches) = diff(&u.branches, &list(&f.branches));
    let (add_groups, remove_groups) = diff(&u.groups, &list(&f.groups));
    let linked = try_page!(state.service.sso_link_of(&info.context, &key).await);
    let sso_subject = match f.sso_subject.as_deref().map(str::trim) {
        Some(wanted) if wanted != linked.as_ref().map_or("", |l| l.subject.as_str()) => {
            Some((!wanted.is_empty()).then(|| wanted.to_owned()))
        }
        _ => None,
    };
    let update = UserUpdate {
        email: changed(&u.email, &f.email),
        first_name: changed(&u.first_name, &f.first_name),
        last_name: changed(&u.last_name, &f.last_name),
        user_type: (!f.user_type.trim().eq_ignore_ascii_case(&u.user_type)).then(|| f.user_type.trim().to_owned()),
        add_branches,
        remove_branches,
        add_groups,
        remove_groups,
        sso_subject,
        ..UserUpdate::default()
    };
    try_page!(state.service.update_user(&info.context, &key, update).await);
    Redirect::to(&format!("/admin/users/{id}")).into_response()
}

async fn offboard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::Form(f): axum::Form<EditForm>,
) -> Response {
    let (info, areas) = match posted_with_areas(&state, &headers, &f.csrf, "/admin/users").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let to = (!f.reassign_to.trim().is_empty()).then(|| UserKey::Username(f.reassign_to.trim().to_owned()));
    let report = try_page!(
        state
            .service
            .offboard(&info.context, &UserKey::Id(UserId(id)), to.as_ref())
            .await
    );
    let body = format!(
        "<h1>{} offboarded</h1><p role=\"status\">The account is {}; {} course(s) now belong to {}.</p><p><a href=\"/admin/users/{id}\">Back to the user</a></p>",
        esc(&report.user.username),
        esc(report.user.status),
        report.courses_reassigned,
        esc(report.new_owner.as_deref().unwrap_or("nobody"))
    );
    layout(&info, &areas, "Offboarded", &body)
}
