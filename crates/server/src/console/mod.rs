//! The web console: server-rendered pages over the same services as every other channel,
//! behind the session cookie and its CSRF token. Pages decide nothing: a forbidden action is
//! the core's `Forbidden`, shown as a 403 page; links appear only for the areas the core
//! says the user holds.

use crate::rest::imports::ImportResult;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Router, routing::get};
use rollcall_core::Error;
use rollcall_core::domain::{Area, BaseRole, UserId, UserStatus};
use rollcall_core::service::{
    AuditFilter, BulkAction, BulkTargets, ImportOptions, NewUser, SessionInfo, UserFilter, UserKey,
};
use serde::Deserialize;
use std::collections::HashMap;

use crate::AppState;
use crate::web::{esc, forbidden_page, same, session_of};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console.css", get(stylesheet))
        .route("/admin", get(dashboard))
        .route("/admin/users", get(users))
        .route("/admin/users/bulk", axum::routing::post(bulk))
        .route("/admin/users/new", get(new_user_page).post(new_user_submit))
        .route("/admin/import", get(import_page))
        .route("/admin/import/preview", axum::routing::post(import_preview))
        .route("/admin/import/commit", axum::routing::post(import_commit))
        .route("/admin/types", get(types_page).post(type_create))
        .route("/admin/types/{name}", get(type_page).post(type_edit))
        .route("/admin/users/{id}", get(user_page))
        .route("/admin/users/{id}/status", axum::routing::post(user_status))
        .route("/admin/users/{id}/delete", axum::routing::post(user_delete))
        .route("/admin/audit", get(audit_page))
        .route("/admin/audit.csv", get(audit_csv))
        .merge(catalog::router())
        .merge(settings::router())
        .merge(people::router())
        .route("/learn", get(learn))
        .route("/learn/complete", axum::routing::post(complete_unit))
        .route("/teach", get(teach))
        .route("/teach/grade", axum::routing::post(grade))
}

const STYLESHEET: &str = "\
:root{--fg:#1b1b1b;--bg:#fff;--accent:#0b5cad;--muted:#555;--bad:#a4161a}\
body{font:16px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg);margin:0}\
header{background:#0b3d6e;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}\
header a{color:#fff}nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem}.pages{margin:.75rem 0}.sign-out{margin-left:auto}main{padding:1rem;max-width:72rem}\
a{color:var(--accent)}a:focus,button:focus,input:focus,select:focus{outline:3px solid #f5a623;outline-offset:2px}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ccc}\
td code{word-break:break-all}main{overflow-wrap:anywhere}.error{color:var(--bad)}[role=alert]{color:var(--bad);font-weight:600}\
.cards{display:flex;flex-wrap:wrap;gap:1rem}.card{border:1px solid #ccc;border-radius:.4rem;padding:.75rem 1rem;min-width:12rem}\
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end}label{display:block;font-weight:600}\
form.inline{display:inline}ul.plain{list-style:none;padding:0}svg.chart{max-width:600px}\
@media (max-width:40rem){table{font-size:.9rem}th:nth-child(n+5),td:nth-child(n+5){display:none}}";

async fn stylesheet() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

/// A signed-in page: the navigation shows only what the user's areas allow.
fn layout(info: &SessionInfo, areas: &[Area], title: &str, body: &str) -> Response {
    let mut nav = String::new();
    if areas.contains(&Area::ReportsAll) {
        nav.push_str("<a href=\"/admin\">Dashboard</a>");
    }
    if areas.contains(&Area::UsersManage) {
        nav.push_str("<a href=\"/admin/users\">Users</a><a href=\"/admin/users/new\">Add user</a>");
    }
    if areas.contains(&Area::UserTypesManage) {
        nav.push_str("<a href=\"/admin/types\">User types</a>");
    }
    if areas.contains(&Area::BranchesManage) {
        nav.push_str("<a href=\"/admin/branches\">Branches</a>");
    }
    if areas.contains(&Area::GroupsManage) {
        nav.push_str("<a href=\"/admin/groups\">Groups</a>");
    }
    if areas.contains(&Area::CoursesManageAll) {
        nav.push_str("<a href=\"/admin/courses\">Courses</a>");
    }
    if areas.contains(&Area::PlanManage) {
        nav.push_str("<a href=\"/admin/plan\">Plan</a>");
    }
    if areas.contains(&Area::IntegrationsManage) {
        nav.push_str("<a href=\"/admin/tokens\">Tokens</a>");
    }
    if areas.contains(&Area::SettingsManage) {
        nav.push_str("<a href=\"/admin/settings\">Settings</a>");
    }
    if areas.contains(&Area::ImportRun) {
        nav.push_str("<a href=\"/admin/import\">Import</a>");
    }
    if areas.contains(&Area::UsersManage) {
        nav.push_str("<a href=\"/admin/users?status=trash\">Trash</a>");
    }
    if areas.contains(&Area::AuditView) {
        nav.push_str("<a href=\"/admin/audit\">Audit log</a>");
    }
    if areas.contains(&Area::CoursesTake) {
        nav.push_str("<a href=\"/learn\">My courses</a>");
    }
    if areas.contains(&Area::Grading) {
        nav.push_str("<a href=\"/teach\">Teaching</a>");
    }
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · rollcall</title><link rel=\"stylesheet\" href=\"/console.css\"></head><body>\
         <header><strong>rollcall</strong><nav aria-label=\"Main\">{nav}</nav>\
         <form method=\"post\" action=\"/logout\" class=\"sign-out\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <a href=\"/account\">{}</a> <button type=\"submit\">Sign out</button></form></header><main>{body}</main></body></html>\n",
        esc(title),
        esc(&info.csrf_token),
        esc(&info.user.username),
    );
    axum::response::Html(html).into_response()
}

/// A form field's trimmed text, or `None` when it was left blank.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_owned())
}

/// The signed-in caller of a form post whose CSRF token matches, or the response to send.
async fn posted(state: &AppState, headers: &HeaderMap, csrf: &str, here: &str) -> Result<SessionInfo, Response> {
    posted_with_areas(state, headers, csrf, here)
        .await
        .map(|(info, _)| info)
}

async fn posted_with_areas(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
    here: &str,
) -> Result<(SessionInfo, Vec<Area>), Response> {
    let (info, areas) = signed_in(state, headers, here).await?;
    if !same(&info.csrf_token, csrf) {
        return Err(forbidden_page());
    }
    Ok((info, areas))
}

/// The signed-in user and their areas, or the response to send instead.
async fn signed_in(state: &AppState, headers: &HeaderMap, here: &str) -> Result<(SessionInfo, Vec<Area>), Response> {
    let Some((_, info)) = session_of(state, headers).await else {
        return Err(Redirect::to(&format!("/login?next={here}")).into_response());
    };
    match state.service.my_areas(&info.context).await {
        Ok(areas) => Ok((info, areas)),
        Err(e) => Err(error_page(e)),
    }
}

fn error_page(e: Error) -> Response {
    let (status, message) = match e {
        Error::Internal(e) => {
            tracing::error!(error = %e, "console page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong; please try again.".to_owned(),
            )
        }
        Error::Forbidden(m) => (
            StatusCode::FORBIDDEN,
            format!("You don't have access to this page: {m}."),
        ),
        Error::NotFound { .. } => (StatusCode::NOT_FOUND, "Not found.".to_owned()),
        Error::Unauthenticated => return Redirect::to("/login").into_response(),
        other => (StatusCode::BAD_REQUEST, other.to_string()),
    };
    let title = if status == StatusCode::FORBIDDEN {
        "Forbidden"
    } else {
        "Error"
    };
    (
        status,
        crate::web::page(
            title,
            &format!(
                "<h1>{title}</h1><p role=\"alert\">{}</p><p><a href=\"/\">Home</a></p>",
                esc(&message)
            ),
        ),
    )
        .into_response()
}

macro_rules! try_page {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return error_page(e),
        }
    };
}

mod catalog;
mod people;
mod settings;

async fn dashboard(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ctx = &info.context;
    let seats = try_page!(state.service.seat_report(ctx).await);
    // Idle active accounts, counted (not listed): each holds a seat deactivation would free.
    let idle = async |days| {
        state.service.idle_count(ctx, Some(days)).await.map(|n| {
            let seats = if n == 1 { "seat" } else { "seats" };
            format!(
                "<p><a href=\"/admin/users?status=active&amp;last_login={days}\">Idle {days} days</a>: \
                 <strong>{n}</strong> active, holding {n} {seats}</p>"
            )
        })
    };
    let idle30 = try_page!(idle(30).await);
    let idle90 = try_page!(idle(90).await);
    let audit = state
        .service
        .list_audit(
            ctx,
            &AuditFilter {
                limit: Some(10),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap_or_default();
    let history = state.service.seat_history(ctx, 90).await.unwrap_or_default();
    let chart = active_chart(&history, state.service.now().div_euclid(rollcall_core::domain::DAY_MS));
    let gauge = match seats.limit {
        Some(limit) => format!(
            "<p><label for=\"seats\">Seats used</label><meter id=\"seats\" min=\"0\" max=\"{limit}\" value=\"{used}\" high=\"{high}\">{used} of {limit}</meter> {used} of {limit}</p><p>Free seats: <strong>{free}</strong></p>",
            used = seats.used,
            high = limit * 9 / 10,
            free = seats.free.unwrap_or(0),
        ),
        None => format!("<p>Seats used in your branches: <strong>{}</strong></p>", seats.used),
    };
    let rows: String = audit
        .iter()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.at),
                esc(e.actor.as_deref().unwrap_or(&e.actor_kind)),
                esc(&e.action),
                esc(e.target.as_deref().unwrap_or(""))
            )
        })
        .collect();
    let body = format!(
        "<h1>Dashboard</h1><div class=\"cards\"><section class=\"card\"><h2>Seats</h2>{gauge}</section>\
         <section class=\"card\"><h2>Idle accounts</h2>{idle30}{idle90}</section></div>\
         <h2>Active accounts, last 90 days</h2>{chart}<h2>Recent changes</h2><table><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Who</th><th scope=\"col\">What</th><th scope=\"col\">Target</th></tr></thead><tbody>{rows}</tbody></table>",
    );
    layout(&info, &areas, "Dashboard", &body)
}

/// The user list's filters, as query parameters (and as hidden fields of the bulk form).
#[derive(Deserialize, Default, Clone)]
pub struct UsersQuery {
    #[serde(default)]
    search: String,
    #[serde(default)]
    status: String,
    /// `never`, or a number of days.
    #[serde(default)]
    last_login: String,
    #[serde(default)]
    user_type: String,
    #[serde(default)]
    branch: String,
    #[serde(default)]
    group: String,
    /// A column, `-` first for descending (the core's `UserOrder`); empty: creation order.
    #[serde(default)]
    sort: String,
    cursor: Option<String>,
    before: Option<String>,
}

impl UsersQuery {
    fn from_pairs(pairs: &HashMap<String, Vec<String>>) -> UsersQuery {
        let one = |k: &str| pairs.get(k).and_then(|v| v.first()).cloned().unwrap_or_default();
        UsersQuery {
            search: one("search"),
            status: one("status"),
            last_login: one("last_login"),
            user_type: one("user_type"),
            branch: one("branch"),
            group: one("group"),
            sort: String::new(),
            cursor: None,
            before: None,
        }
    }

    fn filter(&self) -> Result<UserFilter, Error> {
        let some = non_empty;
        let status = match self.status.as_str() {
            "" => None,
            s => Some(UserStatus::parse(s)?),
        };
        let (idle_days, never_logged_in) = match self.last_login.as_str() {
            "" => (None, false),
            "never" => (None, true),
            d => (
                Some(
                    d.parse()
                        .map_err(|_| Error::invalid("last_login", "choose never or a number of days"))?,
                ),
                false,
            ),
        };
        Ok(UserFilter {
            status,
            user_type: some(&self.user_type),
            branch: some(&self.branch),
            group: some(&self.group),
            idle_days,
            never_logged_in,
            search: some(&self.search),
            sort: some(&self.sort),
            cursor: self.cursor.clone(),
            before: self.before.clone(),
            limit: Some(50),
            ..UserFilter::default()
        })
    }

    fn hidden_fields(&self) -> String {
        [
            ("search", &self.search),
            ("status", &self.status),
            ("last_login", &self.last_login),
            ("user_type", &self.user_type),
            ("branch", &self.branch),
            ("group", &self.group),
        ]
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)))
        .collect()
    }

    /// The filters and this sort as a query string (no cursor: a new sort starts at the top).
    fn query_string(&self, sort: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("search", self.search.as_str()),
            ("status", &self.status),
            ("last_login", &self.last_login),
            ("user_type", &self.user_type),
            ("branch", &self.branch),
            ("group", &self.group),
            ("sort", sort),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }

    /// A column heading that sorts by `column`: ascending first, then it toggles. The
    /// current order is announced with `aria-sort` and shown with an arrow.
    fn sort_heading(&self, label: &str, column: &str) -> String {
        let descending = format!("-{column}");
        let (aria, arrow, next) = if self.sort == column {
            ("ascending", " ▲", descending.as_str())
        } else if self.sort == descending {
            ("descending", " ▼", column)
        } else {
            ("none", "", column)
        };
        format!(
            "<th scope=\"col\" aria-sort=\"{aria}\"><a href=\"/admin/users?{}\" title=\"Sort by {label}\">{label}<span aria-hidden=\"true\">{arrow}</span></a></th>",
            esc(&self.query_string(next)),
        )
    }
}

fn select(name: &str, label: &str, current: &str, options: &[(&str, &str)]) -> String {
    let opts: String = options
        .iter()
        .map(|(value, text)| {
            let sel = if *value == current { " selected" } else { "" };
            format!("<option value=\"{}\"{sel}>{}</option>", esc(value), esc(text))
        })
        .collect();
    format!("<p><label for=\"{name}\">{label}</label><select id=\"{name}\" name=\"{name}\">{opts}</select></p>")
}

async fn users(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<UsersQuery>) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/users").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let filter = try_page!(q.filter());
    let page = try_page!(state.service.list_users(&info.context, &filter).await);
    let rows: String = page
        .items
        .iter()
        .map(|u| {
            format!(
                "<tr><td><input type=\"checkbox\" name=\"ids\" value=\"{id}\" id=\"u{id}\" aria-label=\"Select {name}\"></td>\
                 <td><a href=\"/admin/users/{id}\">{name}</a></td><td>{first} {last}</td><td>{email}</td><td>{kind}</td><td>{status}</td><td>{login}</td></tr>",
                id = u.id,
                name = esc(&u.username),
                first = esc(&u.first_name),
                last = esc(&u.last_name),
                email = esc(&u.email),
                kind = esc(&u.user_type),
                status = esc(u.status),
                login = esc(u.last_login_at.as_deref().unwrap_or("never")),
            )
        })
        .collect();
    let qs = q.query_string(&q.sort);
    let sep = if qs.is_empty() { "" } else { "&" };
    let mut pages = vec![];
    if q.cursor.is_some() || q.before.is_some() {
        pages.push(format!(
            "<a href=\"/admin/users?{}\" class=\"first\">First page</a>",
            esc(&qs)
        ));
    }
    if let Some(c) = &page.prev_cursor {
        let href = format!("/admin/users?{qs}{sep}before={c}");
        pages.push(format!("<a href=\"{}\" class=\"prev\">Previous page</a>", esc(&href)));
    }
    if let Some(c) = &page.next_cursor {
        let href = format!("/admin/users?{qs}{sep}cursor={c}");
        pages.push(format!("<a href=\"{}\" class=\"next\">Next page</a>", esc(&href)));
    }
    let next = if pages.is_empty() {
        String::new()
    } else {
        format!("<nav aria-label=\"Pages\" class=\"pages\">{}</nav>", pages.join(" "))
    };
    let filters = format!(
        "<form class=\"filters\" method=\"get\" action=\"/admin/users\" role=\"search\">\
         <p><label for=\"search\">Search</label><input id=\"search\" name=\"search\" value=\"{}\" placeholder=\"name, username or email\"></p>{}{}\
         <p><label for=\"user_type\">Type</label><input id=\"user_type\" name=\"user_type\" value=\"{}\"></p>\
         <p><label for=\"branch\">Branch</label><input id=\"branch\" name=\"branch\" value=\"{}\"></p>\
         <p><label for=\"group\">Group</label><input id=\"group\" name=\"group\" value=\"{}\"></p>\
         <input type=\"hidden\" name=\"sort\" value=\"{}\"><p><button type=\"submit\">Filter</button></p></form>",
        esc(&q.search),
        select(
            "status",
            "Status",
            &q.status,
            &[
                ("", "Any"),
                ("active", "Active"),
                ("deactivated", "Deactivated"),
                ("trash", "Trash")
            ]
        ),
        select(
            "last_login",
            "Last login",
            &q.last_login,
            &[
                ("", "Any time"),
                ("never", "Never"),
                ("30", "Over 30 days ago"),
                ("60", "Over 60 days ago"),
                ("90", "Over 90 days ago")
            ]
        ),
        esc(&q.user_type),
        esc(&q.branch),
        esc(&q.group),
        esc(&q.sort),
    );
    let actions = format!(
        "{}<p><label for=\"value\">Group, branch or type (for those actions)</label><input id=\"value\" name=\"value\"></p>",
        select(
            "action",
            "Action",
            "",
            &[
                ("deactivate", "Deactivate"),
                ("activate", "Activate"),
                ("delete", "Delete"),
                ("add_to_group", "Add to group"),
                ("remove_from_group", "Remove from group"),
                ("add_to_branch", "Add to branch"),
                ("remove_from_branch", "Remove from branch"),
                ("change_type", "Change type to"),
            ]
        )
    );
    let bulk = format!(
        "<form method=\"post\" action=\"/admin/users/bulk\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{hidden}\
         <table><thead><tr><th scope=\"col\">Select</th>{by_username}{by_name}{by_email}<th scope=\"col\">Type</th><th scope=\"col\">Status</th>{by_login}</tr></thead><tbody>{rows}</tbody></table>{next}\
         <fieldset><legend>With the selected users</legend>\
         <p><label><input type=\"checkbox\" name=\"all_matching\" value=\"1\"> Every user matching the filter, not only those selected</label></p>\
         {actions}\
         <p><button type=\"submit\">Apply</button></p></fieldset></form>",
        csrf = esc(&info.csrf_token),
        hidden = q.hidden_fields(),
        by_username = q.sort_heading("Username", "username"),
        by_name = q.sort_heading("Name", "name"),
        by_email = q.sort_heading("Email", "email"),
        by_login = q.sort_heading("Last login", "last_login"),
    );
    let body = format!("<h1>Users</h1>{filters}{bulk}");
    layout(&info, &areas, "Users", &body)
}

/// A form body with repeated keys (`ids=1&ids=2`).
fn form_pairs(body: &str) -> HashMap<String, Vec<String>> {
    let mut pairs: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(body.as_bytes()) {
        pairs.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    pairs
}

async fn bulk(State(state): State<AppState>, headers: HeaderMap, body: String) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/users").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let pairs = form_pairs(&body);
    let first = |k: &str| pairs.get(k).and_then(|v| v.first()).map(String::as_str).unwrap_or("");
    if !same(&info.csrf_token, first("csrf")) {
        return forbidden_page();
    }
    let value = first("value").trim().to_owned();
    if first("action").contains('_') && value.is_empty() {
        return error_page(Error::invalid("value", "name the group, branch or type"));
    }
    let action = match first("action") {
        "deactivate" => BulkAction::Deactivate,
        "activate" => BulkAction::Activate,
        "delete" => BulkAction::Delete,
        "add_to_group" => BulkAction::AddToGroup(value),
        "remove_from_group" => BulkAction::RemoveFromGroup(value),
        "add_to_branch" => BulkAction::AddToBranch(value),
        "remove_from_branch" => BulkAction::RemoveFromBranch(value),
        "change_type" => BulkAction::ChangeType(value),
        other => return error_page(Error::invalid("action", format!("unknown action '{other}'"))),
    };
    let targets = if first("all_matching") == "1" {
        let mut filter = try_page!(UsersQuery::from_pairs(&pairs).filter());
        filter.limit = None;
        BulkTargets::Filter(filter)
    } else {
        let ids: Result<Vec<i64>, _> = pairs
            .get("ids")
            .into_iter()
            .flatten()
            .map(|s| s.parse::<i64>())
            .collect();
        match ids {
            Ok(ids) if !ids.is_empty() => BulkTargets::Ids(ids),
            Ok(_) => return error_page(Error::invalid("ids", "select at least one user")),
            Err(_) => return error_page(Error::invalid("ids", "not a user id")),
        }
    };
    let ctx = &info.context;
    // Deleting is confirmed on a page that names how many; the core checks that count.
    let confirm = match (&action, first("confirm_count")) {
        (BulkAction::Delete, "") => {
            let ids = try_page!(
                state
                    .service
                    .bulk_targets(ctx, &BulkAction::Deactivate, &targets, None)
                    .await
            );
            let fields: String = pairs
                .iter()
                .flat_map(|(k, vs)| vs.iter().map(move |v| (k, v)))
                .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v)))
                .collect();
            let body = format!(
                "<h1>Delete {n} users?</h1><p role=\"alert\">Deleting moves {n} users to the trash; when the trash is purged their \
                 enrollments, progress, grades and certificates are erased. Deactivating keeps every record.</p>\
                 <form method=\"post\" action=\"/admin/users/bulk\">{fields}<input type=\"hidden\" name=\"confirm_count\" value=\"{n}\">\
                 <p><button type=\"submit\">Delete {n} users</button> <a href=\"/admin/users\">Cancel</a></p></form>",
                n = ids.len()
            );
            return layout(&info, &areas, "Confirm deletion", &body);
        }
        (BulkAction::Delete, n) => match n.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => return error_page(Error::invalid("confirm_count", "not a number")),
        },
        _ => None,
    };
    let ids = match state.service.bulk_targets(ctx, &action, &targets, confirm).await {
        Ok(ids) => ids,
        Err(e) => return error_page(e),
    };
    let outcomes = state.service.bulk_apply(ctx, &action, &ids).await;
    let done = outcomes.iter().filter(|o| o.ok).count();
    let rows: String = outcomes
        .iter()
        .map(|o| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                o.id,
                if o.ok { "done" } else { "refused" },
                esc(o.message.as_deref().or(o.status.as_deref()).unwrap_or(""))
            )
        })
        .collect();
    let body = format!(
        "<h1>Bulk {}</h1><p role=\"status\">{done} of {} users changed.</p>\
         <table><thead><tr><th scope=\"col\">User id</th><th scope=\"col\">Outcome</th><th scope=\"col\">Detail</th></tr></thead><tbody>{rows}</tbody></table>\
         <p><a href=\"/admin/users\">Back to users</a></p>",
        action.name(),
        outcomes.len(),
    );
    layout(&info, &areas, "Bulk action", &body)
}

#[derive(Deserialize, Default)]
pub struct NewUserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    user_type: String,
    #[serde(default)]
    branch: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    send_welcome: Option<String>,
}

fn new_user_form(
    info: &SessionInfo,
    areas: &[Area],
    input: &NewUserForm,
    errors: &HashMap<&str, String>,
    status: StatusCode,
) -> Response {
    let field = |name: &str, label: &str, value: &str, kind: &str| {
        let error = errors
            .get(name)
            .map(|e| {
                format!(
                    "<span class=\"error\" id=\"{name}-error\" role=\"alert\">{}</span>",
                    esc(e)
                )
            })
            .unwrap_or_default();
        let described = if errors.contains_key(name) {
            format!(" aria-invalid=\"true\" aria-describedby=\"{name}-error\"")
        } else {
            String::new()
        };
        format!(
            "<p><label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" type=\"{kind}\" value=\"{}\"{described}> {error}</p>",
            esc(value)
        )
    };
    let general = errors
        .get("")
        .map(|e| format!("<p role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Add user</h1>{general}<form method=\"post\" action=\"/admin/users/new\" novalidate><input type=\"hidden\" name=\"csrf\" value=\"{}\">{}{}{}{}{}{}{}\
         <p><label><input type=\"checkbox\" name=\"send_welcome\" value=\"1\"{}> Send a welcome email with a set-password link</label></p>\
         <p><button type=\"submit\">Add user</button></p></form>",
        esc(&info.csrf_token),
        field("username", "Username", &input.username, "text"),
        field("email", "Email", &input.email, "email"),
        field("first_name", "First name", &input.first_name, "text"),
        field("last_name", "Last name", &input.last_name, "text"),
        field(
            "user_type",
            "User type (blank for the default)",
            &input.user_type,
            "text"
        ),
        field("branch", "Branch (optional)", &input.branch, "text"),
        field("groups", "Groups (optional, comma-separated)", &input.groups, "text"),
        if input.send_welcome.is_some() { " checked" } else { "" },
    );
    let mut resp = layout(info, areas, "Add user", &body);
    *resp.status_mut() = status;
    resp
}

async fn new_user_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/users/new").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !areas.contains(&Area::UsersManage) {
        return error_page(Error::forbidden("this needs the 'users.manage' permission"));
    }
    let input = NewUserForm {
        send_welcome: Some("1".into()),
        ..NewUserForm::default()
    };
    new_user_form(&info, &areas, &input, &HashMap::new(), StatusCode::OK)
}

async fn new_user_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<NewUserForm>,
) -> Response {
    let (info, areas) = match posted_with_areas(&state, &headers, &f.csrf, "/admin/users/new").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let input = NewUser {
        username: f.username.trim().to_owned(),
        email: f.email.trim().to_owned(),
        first_name: f.first_name.trim().to_owned(),
        last_name: f.last_name.trim().to_owned(),
        user_type: (!f.user_type.trim().is_empty()).then(|| f.user_type.trim().to_owned()),
        branches: (!f.branch.trim().is_empty())
            .then(|| f.branch.trim().to_owned())
            .into_iter()
            .collect(),
        groups: f
            .groups
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
        active: true,
        send_welcome: Some(f.send_welcome.is_some()),
        ..NewUser::default()
    };
    match state.service.create_user(&info.context, input).await {
        Ok(user) => Redirect::to(&format!("/admin/users?search={}", url_part(&user.username))).into_response(),
        Err(e @ (Error::Internal(_) | Error::Forbidden(_) | Error::Unauthenticated)) => error_page(e),
        Err(e) => {
            // Each error next to its field; the input stays in the form.
            let mut errors = HashMap::new();
            let key = match &e {
                Error::InvalidInput { field, .. } => match field.as_str() {
                    "username" => "username",
                    "email" => "email",
                    "first_name" => "first_name",
                    "last_name" => "last_name",
                    "user_type" => "user_type",
                    "branch" | "branches" => "branch",
                    "group" | "groups" => "groups",
                    _ => "",
                },
                Error::UsernameTaken(_) => "username",
                Error::EmailTaken(_) => "email",
                Error::NotFound { kind: "user type", .. } => "user_type",
                Error::NotFound { kind: "branch", .. } => "branch",
                Error::NotFound { kind: "group", .. } => "groups",
                _ => "",
            };
            let message = match &e {
                Error::InvalidInput { message, .. } if !key.is_empty() => message.clone(),
                other => other.to_string(),
            };
            errors.insert(key, message);
            new_user_form(&info, &areas, &f, &errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

async fn learn(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/learn").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let courses = try_page!(state.service.my_courses(&info.context).await);
    let csrf = esc(&info.csrf_token);
    let items: String = courses
        .iter()
        .map(|c| {
            let next = if c.role == "learner" && c.completed_at.is_none() && c.units_completed < c.units {
                format!(
                    " <form method=\"post\" action=\"/learn/complete\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                     <input type=\"hidden\" name=\"course\" value=\"{}\"><input type=\"hidden\" name=\"unit\" value=\"{}\">\
                     <button type=\"submit\">Complete unit {}</button></form>",
                    esc(&c.course),
                    c.units_completed + 1,
                    c.units_completed + 1
                )
            } else {
                String::new()
            };
            format!(
                "<li><strong>{}</strong> ({}) — <label for=\"p-{code}\">progress</label> <progress id=\"p-{code}\" max=\"100\" value=\"{pct}\">{pct}%</progress> {pct}%{}{next}</li>",
                esc(&c.course_name),
                esc(c.role),
                c.completed_at.as_ref().map(|_| " · completed, certificate issued").unwrap_or(""),
                code = esc(&c.course),
                pct = c.progress_pct,
            )
        })
        .collect();
    let list = if items.is_empty() {
        "<p>You are not enrolled in any course yet.</p>".to_owned()
    } else {
        format!("<ul>{items}</ul>")
    };
    let me = UserKey::Id(UserId(info.user.id));
    let (_, certificates) = try_page!(state.service.learning_record(&info.context, &me).await);
    layout(
        &info,
        &areas,
        "My courses",
        &format!(
            "<h1>My courses</h1>{list}<h2>My certificates</h2>{}",
            certificates_html(&certificates)
        ),
    )
}

/// Import options as form fields, carried from the upload to the commit.
#[derive(Deserialize, Default)]
pub struct ImportFields {
    #[serde(default)]
    csrf: String,
    /// The id under which the service keeps the uploaded file (never the file itself:
    /// it may hold passwords, and the page would keep them in the browser).
    #[serde(default)]
    upload: String,
    partial: Option<String>,
    update_existing: Option<String>,
    send_welcome: Option<String>,
}

impl ImportFields {
    fn options(&self, dry_run: bool) -> ImportOptions {
        ImportOptions {
            partial: self.partial.is_some(),
            update_existing: self.update_existing.is_some(),
            dry_run,
            send_welcome: Some(self.send_welcome.is_some()),
        }
    }

    fn hidden(&self) -> String {
        let flag = |name: &str, on: &Option<String>| {
            on.as_ref()
                .map(|_| format!("<input type=\"hidden\" name=\"{name}\" value=\"1\">"))
                .unwrap_or_default()
        };
        format!(
            "{}{}{}<input type=\"hidden\" name=\"upload\" value=\"{}\">",
            flag("partial", &self.partial),
            flag("update_existing", &self.update_existing),
            flag("send_welcome", &self.send_welcome),
            esc(&self.upload)
        )
    }
}

async fn import_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/import").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !areas.contains(&Area::ImportRun) {
        return error_page(Error::forbidden("this needs the 'import.run' permission"));
    }
    let body = format!(
        "<h1>Import users</h1><p>Step 1 of 3: choose a CSV file (rollcall's columns or TalentLMS's export). Nothing is written until you confirm.</p>\
         <form method=\"post\" action=\"/admin/import/preview\" enctype=\"multipart/form-data\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <p><label for=\"file\">CSV file</label><input id=\"file\" name=\"file\" type=\"file\" accept=\".csv,text/csv\" required></p>\
         <p><label><input type=\"checkbox\" name=\"update_existing\" value=\"1\"> Update users that already exist</label></p>\
         <p><label><input type=\"checkbox\" name=\"partial\" value=\"1\"> Import the good rows even if some are refused</label></p>\
         <p><label><input type=\"checkbox\" name=\"send_welcome\" value=\"1\" checked> Send welcome emails</label></p>\
         <p><button type=\"submit\">Preview</button></p></form>",
        esc(&info.csrf_token)
    );
    layout(&info, &areas, "Import users", &body)
}

/// Runs the import (or its dry run) on the kept upload through the same code as the API.
async fn run_import(
    state: &AppState,
    info: &SessionInfo,
    fields: &ImportFields,
    dry_run: bool,
) -> Result<ImportResult, Error> {
    let csv = state.service.import_upload(&info.context, &fields.upload).await?;
    let mut file = tempfile::NamedTempFile::new().map_err(Error::internal)?;
    std::io::Write::write_all(&mut file, &csv).map_err(Error::internal)?;
    drop(
        rollcall_csv::read(std::fs::File::open(file.path()).map_err(Error::internal)?)
            .map_err(|e| Error::invalid("file", e.to_string()))?,
    );
    crate::rest::imports::import_file(&state.service, &info.context, file.path(), fields.options(dry_run)).await
}

fn import_report(result: &ImportResult) -> String {
    let rows: String = result
        .rows
        .iter()
        .map(|r| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td></tr>",
                r.line,
                esc(&r.username),
                r.outcome,
                esc(&[r.column.as_deref(), r.reason.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": "))
            )
        })
        .collect();
    let s = &result.summary;
    format!(
        "<p role=\"status\">{} rows: {} created, {} updated, {} unchanged, {} refused.</p>\
         <table><thead><tr><th scope=\"col\">Line</th><th scope=\"col\">Username</th><th scope=\"col\">Outcome</th><th scope=\"col\">Reason</th></tr></thead><tbody>{rows}</tbody></table>",
        s.rows, s.created, s.updated, s.unchanged, s.refused
    )
}

async fn import_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/import").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut fields = ImportFields::default();
    let mut csv = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return error_page(Error::invalid("file", e.body_text())),
        };
        let name = field.name().unwrap_or("").to_owned();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) => return error_page(Error::invalid("file", e.body_text())),
        };
        if name == "file" {
            csv = Some(bytes);
            continue;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "csrf" => fields.csrf = text,
            "partial" => fields.partial = Some(text),
            "update_existing" => fields.update_existing = Some(text),
            "send_welcome" => fields.send_welcome = Some(text),
            _ => {}
        }
    }
    if !same(&info.csrf_token, &fields.csrf) {
        return forbidden_page();
    }
    let Some(csv) = csv else {
        return error_page(Error::invalid("file", "choose a CSV file"));
    };
    fields.upload = try_page!(state.service.stash_import_upload(&info.context, &csv).await);
    let result = try_page!(run_import(&state, &info, &fields, true).await);
    let s = &result.summary;
    let shortfall = if s.seats_needed > s.seats_free {
        format!(
            "<p role=\"alert\">This import needs {} seats and {} are free: free seats or move to a larger plan first.</p>",
            s.seats_needed, s.seats_free
        )
    } else {
        format!("<p>Seats needed: {} of {} free.</p>", s.seats_needed, s.seats_free)
    };
    let commit = if s.can_commit() {
        format!(
            "<form method=\"post\" action=\"/admin/import/commit\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{}<p><button type=\"submit\">Import {} users</button> <a href=\"/admin/import\">Start again</a></p></form>",
            esc(&info.csrf_token),
            fields.hidden(),
            s.created + s.updated
        )
    } else {
        "<p>Nothing can be imported as it stands: correct the file (or allow a partial import) and <a href=\"/admin/import\">start again</a>.</p>".to_owned()
    };
    let body = format!(
        "<h1>Import preview</h1><p>Step 2 of 3: what the import would do. Nothing has been written yet.</p>{shortfall}{}{commit}",
        import_report(&result)
    );
    layout(&info, &areas, "Import preview", &body)
}

async fn import_commit(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(fields): axum::Form<ImportFields>,
) -> Response {
    let (info, areas) = match posted_with_areas(&state, &headers, &fields.csrf, "/admin/import").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = try_page!(run_import(&state, &info, &fields, false).await);
    if result.summary.written {
        try_page!(state.service.discard_import_upload(&info.context, &fields.upload).await);
    }
    let written = if result.summary.written {
        "The import is done."
    } else {
        "Nothing was written."
    };
    let body = format!(
        "<h1>Import report</h1><p>Step 3 of 3. {written}</p>{}<p><a href=\"/admin/users\">Users</a></p>",
        import_report(&result)
    );
    layout(&info, &areas, "Import report", &body)
}

async fn types_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/types").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let types = try_page!(state.service.list_types(&info.context).await);
    let rows: String = types
        .iter()
        .map(|t| {
            format!(
                "<tr><td><a href=\"/admin/types/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                url_part(&t.name),
                esc(&t.name),
                esc(t.base),
                if t.builtin { "built-in" } else { "custom" },
                t.areas.len()
            )
        })
        .collect();
    let body = format!(
        "<h1>User types</h1><table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Based on</th><th scope=\"col\">Kind</th><th scope=\"col\">Areas</th></tr></thead><tbody>{rows}</tbody></table>\
         <h2>New custom type</h2><form method=\"post\" action=\"/admin/types\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <p><label for=\"name\">Name</label><input id=\"name\" name=\"name\" required></p>{}\
         <p><button type=\"submit\">Create</button></p></form>",
        esc(&info.csrf_token),
        select(
            "base",
            "Clone from",
            "learner",
            &[("learner", "Learner"), ("instructor", "Instructor")]
        ),
    );
    layout(&info, &areas, "User types", &body)
}

#[derive(Deserialize)]
pub struct NewTypeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    base: String,
}

async fn type_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<NewTypeForm>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/types").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let created = try_page!(
        state
            .service
            .create_type(&info.context, f.name.trim(), &f.base, &[])
            .await
    );
    Redirect::to(&format!("/admin/types/{}", url_part(&created.name))).into_response()
}

/// One type's feature areas as checkboxes; areas its base lacks are shown but can't be
/// switched on (and the core refuses them if a browser sends them anyway).
fn type_form(
    info: &SessionInfo,
    areas: &[Area],
    t: &rollcall_core::service::TypeView,
    error: Option<&str>,
) -> Response {
    let base = BaseRole::ALL
        .iter()
        .copied()
        .find(|b| b.key() == t.base)
        .map(|b| b.areas());
    let boxes: String = Area::ALL
        .iter()
        .map(|a| {
            let allowed = base.is_some_and(|set| set.contains(*a));
            let checked = if t.areas.contains(&a.name()) { " checked" } else { "" };
            let disabled = if allowed && !t.builtin { "" } else { " disabled" };
            let note = if allowed { "" } else { " <small>(not available to this base type)</small>" };
            format!(
                "<li><label><input type=\"checkbox\" name=\"area\" value=\"{name}\" id=\"area-{name}\"{checked}{disabled}> {name}</label>{note}</li>",
                name = a.name()
            )
        })
        .collect();
    let error = error
        .map(|e| format!("<p role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let save = if t.builtin {
        "<p>Built-in types can't be changed; clone one instead.</p>".to_owned()
    } else {
        "<p><button type=\"submit\">Save</button></p>".to_owned()
    };
    let body = format!(
        "<h1>{}</h1><p>Based on {}.</p>{error}<form method=\"post\" action=\"/admin/types/{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <fieldset><legend>Feature areas</legend><ul class=\"plain\">{boxes}</ul></fieldset>{save}</form>",
        esc(&t.name),
        esc(t.base),
        url_part(&t.name),
        esc(&info.csrf_token),
    );
    let mut resp = layout(info, areas, &t.name, &body);
    if error.is_empty() {
        resp
    } else {
        *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        resp
    }
}

async fn find_type(
    state: &AppState,
    info: &SessionInfo,
    name: &str,
) -> Result<rollcall_core::service::TypeView, Error> {
    state
        .service
        .list_types(&info.context)
        .await?
        .into_iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| Error::NotFound {
            kind: "user type",
            key: name.to_owned(),
        })
}

async fn type_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/types").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = try_page!(find_type(&state, &info, &name).await);
    type_form(&info, &areas, &t, None)
}

async fn type_edit(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
    body: String,
) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/types").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let pairs = form_pairs(&body);
    if !same(
        &info.csrf_token,
        pairs
            .get("csrf")
            .and_then(|v| v.first())
            .map(String::as_str)
            .unwrap_or(""),
    ) {
        return forbidden_page();
    }
    let t = try_page!(find_type(&state, &info, &name).await);
    let wanted: Result<Vec<Area>, Error> = pairs
        .get("area")
        .into_iter()
        .flatten()
        .map(|a| Area::parse(a))
        .collect();
    let wanted = try_page!(wanted);
    let deny: Vec<Area> = Area::ALL.iter().copied().filter(|a| !wanted.contains(a)).collect();
    match state.service.edit_type(&info.context, &t.name, &wanted, &deny).await {
        Ok(updated) => type_form(&info, &areas, &updated, None),
        Err(e @ (Error::Internal(_) | Error::Forbidden(_) | Error::Unauthenticated)) => error_page(e),
        Err(e) => type_form(&info, &areas, &t, Some(&e.to_string())),
    }
}

fn audit_table(entries: &[rollcall_core::service::AuditEntryView]) -> String {
    let rows: String = entries
        .iter()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&e.at),
                esc(e.actor.as_deref().unwrap_or(&e.actor_kind)),
                esc(&e.channel),
                esc(&e.action),
                esc(e.target.as_deref().unwrap_or("")),
                esc(&e.changes.to_string())
            )
        })
        .collect();
    format!(
        "<table><thead><tr><th scope=\"col\">When</th><th scope=\"col\">Who</th><th scope=\"col\">Channel</th><th scope=\"col\">What</th><th scope=\"col\">Target</th><th scope=\"col\">Changes</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

async fn user_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/users").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let u = try_page!(state.service.get_user(&info.context, &UserKey::Id(UserId(id))).await);
    let trail = if areas.contains(&Area::AuditView) {
        let filter = AuditFilter {
            target: Some(u.username.clone()),
            limit: Some(50),
            ..AuditFilter::default()
        };
        audit_table(&try_page!(state.service.list_audit(&info.context, &filter).await))
    } else {
        String::new()
    };
    let csrf = esc(&info.csrf_token);
    let status_action = match u.status {
        "active" => "deactivate",
        "deactivated" => "activate",
        _ => "restore",
    };
    let status_form = format!(
        "<form method=\"post\" action=\"/admin/users/{id}/status\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"action\" value=\"{status_action}\">\
         <button type=\"submit\">{}</button></form>",
        match status_action {
            "deactivate" => "Deactivate (frees the seat, keeps every record)",
            "activate" => "Activate (takes a seat)",
            _ => "Restore from the trash",
        }
    );
    let delete_form = if u.status == "trash" {
        String::new()
    } else {
        format!(
            "<h2>Delete</h2><form method=\"post\" action=\"/admin/users/{id}/delete\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <p>Deleting moves the account to the trash; when the trash is purged, its enrollments, progress, grades and certificates are erased.</p>\
             <p><label for=\"confirm\">Type the username, {}, to confirm</label><input id=\"confirm\" name=\"confirm\" autocomplete=\"off\"></p>\
             <p><label for=\"reassign\">Give the courses they own to (username, optional)</label><input id=\"reassign\" name=\"reassign\"></p>\
             <p><button type=\"submit\">Delete</button></p></form>",
            esc(&u.username)
        )
    };
    let body = format!(
        "<h1>{name}</h1><dl><dt>Name</dt><dd>{first} {last}</dd><dt>Email</dt><dd>{email}</dd><dt>Type</dt><dd>{kind}</dd>\
         <dt>Branches</dt><dd>{branches}</dd><dt>Groups</dt><dd>{groups}</dd><dt>Status</dt><dd>{status}</dd><dt>Last login</dt><dd>{login}</dd></dl>\
         <h2>Courses</h2>{record}<h2>Status</h2>{status_form}{edit}{delete_form}<h2>Audit trail</h2>{trail}",
        record = learning_html(&try_page!(
            state
                .service
                .learning_record(&info.context, &UserKey::Id(UserId(u.id)))
                .await
        )),
        edit = if u.status == "trash" {
            String::new()
        } else {
            let sso = try_page!(
                state
                    .service
                    .sso_link_of(&info.context, &UserKey::Id(UserId(u.id)))
                    .await
            );
            people::forms(&u, sso.as_ref(), &info.csrf_token)
        },
        name = esc(&u.username),
        first = esc(&u.first_name),
        last = esc(&u.last_name),
        email = esc(&u.email),
        kind = esc(&u.user_type),
        branches = esc(&u.branches.join(", ")),
        groups = esc(&u.groups.join(", ")),
        status = esc(u.status),
        login = esc(u.last_login_at.as_deref().unwrap_or("never")),
    );
    layout(&info, &areas, &u.username, &body)
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

async fn user_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<i64>,
    axum::Form(f): axum::Form<StatusForm>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/users").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let key = UserKey::Id(UserId(id));
    let ctx = &info.context;
    try_page!(match f.action.as_str() {
        "deactivate" => state.service.deactivate_user(ctx, &key).await,
        "activate" => state.service.activate_user(ctx, &key).await,
        "restore" => state.service.restore_user(ctx, &key).await,
        other => Err(Error::invalid("action", format!("unknown action '{other}'"))),
    });
    Redirect::to(&format!("/admin/users/{id}")).into_response()
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    reassign: String,
}

async fn user_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<i64>,
    axum::Form(f): axum::Form<DeleteForm>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/users").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let reassign = (!f.reassign.trim().is_empty()).then(|| UserKey::Username(f.reassign.trim().to_owned()));
    try_page!(
        state
            .service
            .delete_user(
                &info.context,
                &UserKey::Id(UserId(id)),
                Some(&f.confirm),
                false,
                reassign.as_ref()
            )
            .await
    );
    Redirect::to(&format!("/admin/users/{id}")).into_response()
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    /// A date (or RFC 3339 time): entries from then on.
    #[serde(default)]
    since: String,
    #[serde(default)]
    action: String,
}

impl AuditQuery {
    fn filter(&self, limit: i64) -> Result<AuditFilter, Error> {
        let some = non_empty;
        let since = match some(&self.since) {
            Some(s) => Some(rollcall_core::domain::parse_time("since", &s)?),
            None => None,
        };
        Ok(AuditFilter {
            actor: some(&self.actor),
            target: some(&self.target),
            action: some(&self.action),
            since,
            limit: Some(limit),
            ..AuditFilter::default()
        })
    }

    fn query_string(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("actor", &self.actor)
            .append_pair("target", &self.target)
            .append_pair("action", &self.action)
            .append_pair("since", &self.since);
        q.finish()
    }
}

/// The filtered audit log as CSV (formula-safe cells), for spreadsheets and auditors.
async fn audit_csv(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<AuditQuery>) -> Response {
    let (info, _) = match signed_in(&state, &headers, "/admin/audit").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let filter = try_page!(q.filter(10_000));
    let entries = try_page!(state.service.list_audit(&info.context, &filter).await);
    let mut out = String::from("at,actor,channel,action,target,changes,source\n");
    for e in &entries {
        let cells = [
            e.at.clone(),
            e.actor.clone().unwrap_or_else(|| e.actor_kind.clone()),
            e.channel.clone(),
            e.action.clone(),
            e.target.clone().unwrap_or_default(),
            e.changes.to_string(),
            e.source.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = cells
            .iter()
            .map(|c| format!("\"{}\"", rollcall_csv::formula_safe(c).replace('"', "\"\"")))
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

async fn audit_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<AuditQuery>) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/audit").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let filter = try_page!(q.filter(200));
    let entries = try_page!(state.service.list_audit(&info.context, &filter).await);
    let body = format!(
        "<h1>Audit log</h1><form class=\"filters\" method=\"get\" action=\"/admin/audit\">\
         <p><label for=\"actor\">Actor</label><input id=\"actor\" name=\"actor\" value=\"{}\"></p>\
         <p><label for=\"target\">Target</label><input id=\"target\" name=\"target\" value=\"{}\"></p>\
         <p><label for=\"action\">Action</label><input id=\"action\" name=\"action\" value=\"{}\" placeholder=\"user.deactivate\"></p>\
         <p><label for=\"since\">Since (date)</label><input id=\"since\" name=\"since\" type=\"date\" value=\"{}\"></p>\
         <p><button type=\"submit\">Filter</button></p></form><p><a href=\"/admin/audit.csv?{}\">Export these entries as CSV</a></p>{}",
        esc(&q.actor),
        esc(&q.target),
        esc(&q.action),
        esc(&q.since),
        esc(&q.query_string()),
        audit_table(&entries)
    );
    layout(&info, &areas, "Audit log", &body)
}

#[derive(Deserialize)]
pub struct CompleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    course: String,
    #[serde(default)]
    unit: i64,
}

async fn complete_unit(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<CompleteForm>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/learn").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let me = UserKey::Id(UserId(info.user.id));
    try_page!(state.service.complete_unit(&info.context, &me, &f.course, f.unit).await);
    Redirect::to("/learn").into_response()
}

/// An instructor's courses, their learners' progress, and grading.
async fn teach(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/teach").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let courses = try_page!(state.service.teaching(&info.context).await);
    let csrf = esc(&info.csrf_token);
    let mut body = String::from("<h1>Teaching</h1>");
    if courses.is_empty() {
        body.push_str("<p>You don't own any course yet.</p>");
    }
    for (c, enrollments) in &courses {
        let rows: String = enrollments
            .iter()
            .filter(|e| e.role == "learner")
            .map(|e| {
                format!(
                    "<tr><td>{name}</td><td>{pct}%</td><td>{grade}</td><td><form method=\"post\" action=\"/teach/grade\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"course\" value=\"{code}\"><input type=\"hidden\" name=\"user_id\" value=\"{id}\">\
                     <label for=\"g-{code}-{id}\">Grade for {name}</label> <input id=\"g-{code}-{id}\" name=\"grade\" type=\"number\" min=\"0\" max=\"100\" required> <button type=\"submit\">Save</button></form></td></tr>",
                    name = esc(&e.username),
                    pct = e.progress_pct,
                    grade = e.grade.map(|g| g.to_string()).unwrap_or_else(|| "—".into()),
                    code = esc(&c.code),
                    id = e.user_id,
                )
            })
            .collect();
        body.push_str(&format!(
            "<h2>{} ({})</h2><table><thead><tr><th scope=\"col\">Learner</th><th scope=\"col\">Progress</th><th scope=\"col\">Grade</th><th scope=\"col\">Grade it</th></tr></thead><tbody>{rows}</tbody></table>",
            esc(&c.name),
            esc(&c.code)
        ));
    }
    layout(&info, &areas, "Teaching", &body)
}

#[derive(Deserialize)]
pub struct GradeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    course: String,
    #[serde(default)]
    user_id: i64,
    grade: Option<i64>,
}

async fn grade(State(state): State<AppState>, headers: HeaderMap, axum::Form(f): axum::Form<GradeForm>) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/teach").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(grade) = f.grade else {
        return error_page(Error::invalid("grade", "enter a grade from 0 to 100"));
    };
    try_page!(
        state
            .service
            .grade(&info.context, &UserKey::Id(UserId(f.user_id)), &f.course, grade)
            .await
    );
    Redirect::to("/teach").into_response()
}

/// The start page: who is signed in, and the console's sections they may use.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let start = if areas.contains(&Area::ReportsAll) {
        "<p><a href=\"/admin\">Open the dashboard</a></p>"
    } else if areas.contains(&Area::CoursesTake) {
        "<p><a href=\"/learn\">Go to your courses</a></p>"
    } else {
        ""
    };
    let body = format!(
        "<h1>Welcome</h1><p>Signed in as <strong>{}</strong> ({}).</p>{start}",
        esc(&info.user.username),
        esc(&info.user.user_type)
    );
    layout(&info, &areas, "Home", &body)
}

/// Active accounts per day over 90 days as an inline SVG line (no script, no library).
fn active_chart(points: &[(i64, i64)], today: i64) -> String {
    let Some(&(_, latest)) = points.last() else {
        return "<p>No history yet: the count is recorded every minute from now on.</p>".to_owned();
    };
    let (width, height, days) = (600.0_f64, 150.0_f64, 90.0_f64);
    let max = points.iter().map(|p| p.1).max().unwrap_or(1).max(1) as f64;
    let first_day = today - 89;
    let coords: Vec<String> = points
        .iter()
        .map(|&(day, active)| {
            let x = (day - first_day) as f64 / (days - 1.0) * width;
            let y = height - active as f64 / max * (height - 10.0);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let lowest = points.iter().map(|p| p.1).min().unwrap_or(0);
    format!(
        "<svg viewBox=\"-5 -5 {} {}\" width=\"100%\" class=\"chart\" role=\"img\" aria-labelledby=\"chart-title\">\
         <title id=\"chart-title\">Active accounts over the last 90 days: now {latest}, lowest {lowest}, highest {max}</title>\
         <line x1=\"0\" y1=\"{height}\" x2=\"{width}\" y2=\"{height}\" stroke=\"#888\"/>\
         <polyline fill=\"none\" stroke=\"#0b5cad\" stroke-width=\"2\" points=\"{}\"/>{}</svg>",
        width + 10.0,
        height + 10.0,
        coords.join(" "),
        // A single day is a dot, not an invisible line.
        if points.len() == 1 {
            format!(
                "<circle cx=\"{}\" r=\"3\" fill=\"#0b5cad\"/>",
                coords[0].replace(',', "\" cy=\"")
            )
        } else {
            String::new()
        },
    )
}

fn certificates_html(certificates: &[rollcall_core::service::CertificateView]) -> String {
    if certificates.is_empty() {
        return "<p>No certificates yet.</p>".to_owned();
    }
    let items: String = certificates
        .iter()
        .map(|c| {
            format!(
                "<li>{} — issued {} — code <code>{}</code></li>",
                esc(&c.course_name),
                esc(&c.issued_at),
                esc(&c.code)
            )
        })
        .collect();
    format!("<ul>{items}</ul>")
}

/// A user's courses with progress and grade, then their certificates.
fn learning_html(
    (courses, certificates): &(
        Vec<rollcall_core::service::EnrollmentView>,
        Vec<rollcall_core::service::CertificateView>,
    ),
) -> String {
    let rows: String = courses
        .iter()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}%</td><td>{}</td></tr>",
                esc(&e.course_name),
                esc(e.role),
                e.progress_pct,
                e.grade.map(|g| g.to_string()).unwrap_or_else(|| "—".into())
            )
        })
        .collect();
    format!(
        "<table><thead><tr><th scope=\"col\">Course</th><th scope=\"col\">Role</th><th scope=\"col\">Progress</th><th scope=\"col\">Grade</th></tr></thead><tbody>{rows}</tbody></table><h3>Certificates</h3>{}",
        certificates_html(certificates)
    )
}

/// Text made safe for one part of a URL (a path segment or a query value).
fn url_part(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
