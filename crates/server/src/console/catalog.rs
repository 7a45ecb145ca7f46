//! Console pages for the catalogue around users: branches, groups, courses, the plan and
//! its seats, and API/SCIM tokens. Each is a list and a form over one service call.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Router, routing::get};
use rollcall_core::domain::TokenScope;
use rollcall_core::service::{NewBranch, NewCourse, NewGroup, UserKey};
use serde::Deserialize;

use super::{error_page, layout, non_empty as some, posted, signed_in, url_part};
use crate::AppState;
use crate::web::esc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/branches", get(branches).post(branch_create))
        .route("/admin/groups", get(groups).post(group_create))
        .route("/admin/groups/members", axum::routing::post(group_member_add))
        .route("/admin/courses", get(courses).post(course_create))
        .route("/admin/courses/enroll", axum::routing::post(course_enroll))
        .route("/admin/courses/{code}", get(course_page))
        .route("/admin/groups/courses", axum::routing::post(group_course_add))
        .route("/admin/plan", get(plan))
        .route("/admin/tokens", get(tokens).post(token_create))
        .route("/admin/tokens/revoke", axum::routing::post(token_revoke))
}

fn table(headers: &[&str], rows: String) -> String {
    let head: String = headers.iter().map(|h| format!("<th scope=\"col\">{h}</th>")).collect();
    format!("<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
}

fn input(name: &str, label: &str, kind: &str) -> String {
    format!("<p><label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" type=\"{kind}\"></p>")
}

fn form(action: &str, csrf: &str, fields: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{fields}<p><button type=\"submit\">{button}</button></p></form>",
        esc(csrf)
    )
}

/// Every form on these pages: the CSRF token and a few named text fields.
#[derive(Deserialize, Default)]
pub struct Fields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    units: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    branch: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    seat_cap: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    course_code: String,
    #[serde(default)]
    course_group: String,
}

async fn branches(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/branches").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list = try_page!(state.service.list_branches(&info.context).await);
    let rows: String = list
        .iter()
        .map(|b| {
            format!(
                "<tr><td><a href=\"/admin/users?branch={}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                url_part(&b.name),
                esc(&b.name),
                b.active_users,
                b.seat_cap.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
                esc(b.default_type.as_deref().unwrap_or("—"))
            )
        })
        .collect();
    let fields = format!(
        "{}{}",
        input("name", "Name", "text"),
        input("seat_cap", "Seat cap (optional)", "number")
    );
    let body = format!(
        "<h1>Branches</h1>{}<h2>New branch</h2>{}",
        table(&["Name", "Active users", "Seat cap", "Default type"], rows),
        form("/admin/branches", &info.csrf_token, &fields, "Create")
    );
    layout(&info, &areas, "Branches", &body)
}

async fn branch_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<Fields>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/branches").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let seat_cap = match some(&f.seat_cap).map(|c| c.parse::<i64>()) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(_)) => return error_page(rollcall_core::Error::invalid("seat_cap", "a whole number")),
    };
    let input = NewBranch {
        name: f.name.trim().to_owned(),
        description: String::new(),
        default_type: None,
        seat_cap,
    };
    try_page!(state.service.add_branch(&info.context, input).await);
    Redirect::to("/admin/branches").into_response()
}

async fn groups(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/groups").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list = try_page!(state.service.list_groups(&info.context).await);
    let rows: String = list
        .iter()
        .map(|g| {
            format!(
                "<tr><td><a href=\"/admin/users?group={}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                url_part(&g.name),
                esc(&g.name),
                esc(g.branch.as_deref().unwrap_or("—")),
                esc(g.key.as_deref().unwrap_or("—")),
                g.members
            )
        })
        .collect();
    let new = format!(
        "{}{}{}",
        input("name", "Name", "text"),
        input("branch", "Branch (optional)", "text"),
        input("key", "Join key (optional)", "text")
    );
    let member = format!(
        "{}{}",
        input("group", "Group", "text"),
        input("username", "Username", "text")
    );
    let course = format!(
        "{}{}",
        input("course_group", "Group", "text"),
        input("course_code", "Course code", "text")
    );
    let body = format!(
        "<h1>Groups</h1>{}<h2>New group</h2>{}<h2>Add a member</h2>{}<h2>Give a group a course</h2><p>Its members, present and future, are enrolled.</p>{}",
        table(&["Name", "Branch", "Key", "Members"], rows),
        form("/admin/groups", &info.csrf_token, &new, "Create"),
        form("/admin/groups/members", &info.csrf_token, &member, "Add"),
        form("/admin/groups/courses", &info.csrf_token, &course, "Give course")
    );
    layout(&info, &areas, "Groups", &body)
}

async fn group_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<Fields>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/groups").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let input = NewGroup {
        name: f.name.trim().to_owned(),
        description: String::new(),
        branch: some(&f.branch),
        key: some(&f.key),
    };
    try_page!(state.service.add_group(&info.context, input).await);
    Redirect::to("/admin/groups").into_response()
}

async fn group_member_add(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<Fields>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/groups").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let user = UserKey::Username(f.username.trim().to_owned());
    try_page!(
        state
            .service
            .add_group_members(&info.context, f.group.trim(), &[user])
            .await
    );
    Redirect::to("/admin/groups").into_response()
}

async fn courses(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/courses").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list = try_page!(state.service.list_courses(&info.context, None, false).await);
    let rows: String = list
        .iter()
        .map(|c| {
            format!(
                "<tr><td><a href=\"/admin/courses/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                url_part(&c.code),
                esc(&c.code),
                esc(&c.name),
                esc(&c.owner),
                c.units,
                esc(c.status)
            )
        })
        .collect();
    let fields = format!(
        "{}{}{}{}",
        input("code", "Code", "text"),
        input("name", "Name", "text"),
        input("units", "Units", "number"),
        input("owner", "Owner (username; blank for you)", "text")
    );
    let enroll = format!(
        "{}{}",
        input("course_code", "Course code", "text"),
        input("username", "Username", "text")
    );
    let body = format!(
        "<h1>Courses</h1>{}<h2>New course</h2>{}<h2>Enroll a learner</h2>{}",
        table(&["Code", "Name", "Owner", "Units", "Status"], rows),
        form("/admin/courses", &info.csrf_token, &fields, "Create"),
        form("/admin/courses/enroll", &info.csrf_token, &enroll, "Enroll")
    );
    layout(&info, &areas, "Courses", &body)
}

async fn course_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<Fields>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/courses").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Ok(units) = f.units.trim().parse::<i64>() else {
        return error_page(rollcall_core::Error::invalid("units", "a whole number of units"));
    };
    let input = NewCourse {
        code: f.code.trim().to_owned(),
        name: f.name.trim().to_owned(),
        units,
        owner: Some(some(&f.owner).unwrap_or_else(|| info.user.username.clone())),
        ..NewCourse::default()
    };
    try_page!(state.service.create_course(&info.context, input).await);
    Redirect::to("/admin/courses").into_response()
}

async fn plan(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/plan").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let plan: rollcall_core::service::PlanView = try_page!(state.service.plan(&info.context).await).into();
    let seats = try_page!(state.service.seat_report(&info.context).await);
    let by_type: String = seats
        .by_type
        .iter()
        .map(|t| format!("<tr><td>{}</td><td>{}</td></tr>", esc(&t.user_type), t.active))
        .collect();
    let by_branch: String = seats
        .by_branch
        .iter()
        .map(|b| format!("<tr><td>{}</td><td>{}</td></tr>", esc(&b.branch), b.active))
        .collect();
    let body = format!(
        "<h1>Plan and seats</h1><p>Plan: <strong>{}</strong>. {} of {} seats used, {} free.</p>\
         <p>Change the plan with <code>rollcall plan set</code>.</p><h2>By type</h2>{}<h2>By branch</h2>{}",
        esc(plan.plan),
        plan.seats_used,
        plan.seat_limit,
        plan.seats_free,
        table(&["Type", "Seats"], by_type),
        table(&["Branch", "Seats"], by_branch)
    );
    layout(&info, &areas, "Plan", &body)
}

async fn tokens_page(
    state: &AppState,
    headers: &HeaderMap,
    issued: Option<&rollcall_core::service::IssuedToken>,
) -> Response {
    let (info, areas) = match signed_in(state, headers, "/admin/tokens").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list = try_page!(state.service.list_tokens(&info.context).await);
    let rows: String = list
        .iter()
        .map(|t| {
            let revoke = if t.revoked_at.is_none() {
                form(
                    "/admin/tokens/revoke",
                    &info.csrf_token,
                    &format!("<input type=\"hidden\" name=\"name\" value=\"{}\">", esc(&t.name)),
                    "Revoke",
                )
            } else {
                "revoked".to_owned()
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
                esc(&t.name),
                esc(t.scope),
                esc(t.user.as_deref().unwrap_or("—")),
                esc(&t.created_at)
            )
        })
        .collect();
    let shown = issued
        .map(|t| {
            format!(
                "<p role=\"status\">Token <strong>{}</strong> created. Copy it now; it is shown only once:</p><p><code id=\"new-token\">{}</code></p>",
                esc(&t.view.name),
                esc(&t.token)
            )
        })
        .unwrap_or_default();
    let fields = format!(
        "{}<p><label for=\"scope\">Scope</label><select id=\"scope\" name=\"scope\"><option value=\"api\">API (acts as a user)</option><option value=\"scim\">SCIM (identity provider)</option></select></p>{}",
        input("name", "Name", "text"),
        input("username", "User (API tokens)", "text")
    );
    let body = format!(
        "<h1>Tokens</h1>{shown}{}<h2>New token</h2>{}",
        table(&["Name", "Scope", "User", "Created", ""], rows),
        form("/admin/tokens", &info.csrf_token, &fields, "Create")
    );
    let mut resp = layout(&info, &areas, "Tokens", &body);
    // A page showing a secret must not be cached.
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

async fn tokens(State(state): State<AppState>, headers: HeaderMap) -> Response {
    tokens_page(&state, &headers, None).await
}

async fn token_create(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<Fields>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/tokens").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let scope = try_page!(TokenScope::parse(&f.scope));
    let user = some(&f.username).map(UserKey::Username);
    let issued = try_page!(
        state
            .service
            .create_token(&info.context, f.name.trim(), scope, user.as_ref(), None)
            .await
    );
    tokens_page(&state, &headers, Some(&issued)).await
}

async fn token_revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<Fields>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/tokens").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    try_page!(state.service.revoke_token(&info.context, f.name.trim()).await);
    Redirect::to("/admin/tokens").into_response()
}

async fn course_enroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<Fields>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/courses").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let user = UserKey::Username(f.username.trim().to_owned());
    try_page!(
        state
            .service
            .enroll(
                &info.context,
                &user,
                f.course_code.trim(),
                rollcall_core::domain::CourseRole::Learner
            )
            .await
    );
    Redirect::to("/admin/courses").into_response()
}

async fn group_course_add(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<Fields>,
) -> Response {
    let info = match posted(&state, &headers, &f.csrf, "/admin/groups").await {
        Ok(i) => i,
        Err(r) => return r,
    };
    try_page!(
        state
            .service
            .add_group_course(&info.context, f.course_group.trim(), f.course_code.trim())
            .await
    );
    Redirect::to("/admin/groups").into_response()
}

/// One course: its owner and units, and everyone enrolled with their progress and grade.
async fn course_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Response {
    let (info, areas) = match signed_in(&state, &headers, "/admin/courses").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let course = try_page!(state.service.get_course(&info.context, &code).await);
    let enrollments = try_page!(state.service.course_enrollments(&info.context, &course.code).await);
    let rows: String = enrollments
        .iter()
        .map(|e| {
            format!(
                "<tr><td><a href=\"/admin/users/{}\">{}</a></td><td>{}</td><td>{}%</td><td>{}</td><td>{}</td></tr>",
                e.user_id,
                esc(&e.username),
                esc(e.role),
                e.progress_pct,
                e.grade.map(|g| g.to_string()).unwrap_or_else(|| "—".into()),
                esc(e.completed_at.as_deref().unwrap_or("—"))
            )
        })
        .collect();
    let body = format!(
        "<h1>{} ({})</h1><p>Owner: {}. {} units. Status: {}.</p><h2>Enrollments</h2>{}",
        esc(&course.name),
        esc(&course.code),
        esc(&course.owner),
        course.units,
        esc(course.status),
        table(&["User", "Role", "Progress", "Grade", "Completed"], rows)
    );
    layout(&info, &areas, &course.name, &body)
}
