//! The user list (filters, sortable columns, keyset pages, the bulk form around it) and
//! adding a user.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rollcall_core::domain::{Area, UserStatus};
use rollcall_core::service::{NewUser, UserFilter};
use rollcall_core::{Entity, Error};
use serde::Deserialize;
use std::collections::HashMap;

use super::ui::{Input, checkbox, csrf_field, hidden, layout, pager, select, sort_heading, table_with};
use super::{ConsoleUser, CsrfForm, FormPairs, PageError, comma_list, non_empty, url_part};
use crate::AppState;

/// The user list's filters, as query parameters (and as hidden fields of the bulk form).
#[derive(Deserialize, Default, Clone)]
pub(super) struct UsersQuery {
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
    /// The filters a bulk form carried (the sort and page don't matter there).
    pub(super) fn from_form(form: &FormPairs) -> UsersQuery {
        let one = |k: &str| form.first(k).to_owned();
        UsersQuery {
            search: one("search"),
            status: one("status"),
            last_login: one("last_login"),
            user_type: one("user_type"),
            branch: one("branch"),
            group: one("group"),
            ..UsersQuery::default()
        }
    }

    pub(super) fn filter(&self) -> Result<UserFilter, Error> {
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
            user_type: non_empty(&self.user_type),
            branch: non_empty(&self.branch),
            group: non_empty(&self.group),
            idle_days,
            never_logged_in,
            search: non_empty(&self.search),
            sort: non_empty(&self.sort),
            cursor: self.cursor.clone(),
            before: self.before.clone(),
            limit: Some(50),
            ..UserFilter::default()
        })
    }

    fn filters(&self) -> [(&'static str, &str); 6] {
        [
            ("search", &self.search),
            ("status", &self.status),
            ("last_login", &self.last_login),
            ("user_type", &self.user_type),
            ("branch", &self.branch),
            ("group", &self.group),
        ]
    }

    /// The list's address with these filters, `sort`, and a cursor if any (no cursor: a new
    /// sort starts at the top).
    fn href(&self, sort: &str, cursor: Option<(&str, &str)>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.filters().into_iter().chain([("sort", sort)]) {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        if let Some((k, v)) = cursor {
            q.append_pair(k, v);
        }
        let q = q.finish();
        if q.is_empty() {
            "/admin/users?".to_owned()
        } else {
            format!("/admin/users?{q}")
        }
    }
}

pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<UsersQuery>,
) -> Result<Markup, PageError> {
    let page = state.service.list_users(user.ctx(), &q.filter()?).await?;
    let paged = q.cursor.is_some() || q.before.is_some();
    let pages = pager(
        paged.then(|| q.href(&q.sort, None)),
        page.prev_cursor
            .as_deref()
            .map(|c| q.href(&q.sort, Some(("before", c)))),
        page.next_cursor
            .as_deref()
            .map(|c| q.href(&q.sort, Some(("cursor", c)))),
    );
    let heading = |label: &str, column: &str| sort_heading(label, column, &q.sort, |s| q.href(s, None));
    let filters = html! {
        form class="filters" method="get" action="/admin/users" role="search" {
            (Input::new("search", "Search").value(&q.search).placeholder("name, username or email").render())
            (select("status", "Status", &q.status, &[("", "Any"), ("active", "Active"), ("deactivated", "Deactivated"), ("trash", "Trash")]))
            (select("last_login", "Last login", &q.last_login, &[
                ("", "Any time"), ("never", "Never"), ("30", "Over 30 days ago"), ("60", "Over 60 days ago"), ("90", "Over 90 days ago"),
            ]))
            (Input::new("user_type", "Type").value(&q.user_type).render())
            (Input::new("branch", "Branch").value(&q.branch).render())
            (Input::new("group", "Group").value(&q.group).render())
            (hidden("sort", &q.sort))
            p { button type="submit" { "Filter" } }
        }
    };
    let headings = html! {
        th scope="col" { "Select" }
        (heading("Username", "username"))
        (heading("Name", "name"))
        (heading("Email", "email"))
        th scope="col" { "Type" }
        th scope="col" { "Status" }
        (heading("Last login", "last_login"))
    };
    let rows = html! {
        @for u in &page.items {
            tr {
                td { input type="checkbox" name="ids" value=(u.id) id={ "u" (u.id) } aria-label={ "Select " (u.username) }; }
                td { a href={ "/admin/users/" (u.id) } { (u.username) } }
                td { (u.first_name) " " (u.last_name) }
                td { (u.email) }
                td { (u.user_type) }
                td { (u.status) }
                td { (u.last_login_at.as_deref().unwrap_or("never")) }
            }
        }
    };
    let bulk = html! {
        form method="post" action="/admin/users/bulk" {
            (csrf_field(user.csrf()))
            @for (name, value) in q.filters() { (hidden(name, value)) }
            (table_with(headings, rows))
            (pages)
            fieldset {
                legend { "With the selected users" }
                (checkbox("all_matching", "Every user matching the filter, not only those selected", false))
                (select("action", "Action", "", &[
                    ("deactivate", "Deactivate"), ("activate", "Activate"), ("delete", "Delete"),
                    ("add_to_group", "Add to group"), ("remove_from_group", "Remove from group"),
                    ("add_to_branch", "Add to branch"), ("remove_from_branch", "Remove from branch"),
                    ("change_type", "Change type to"),
                ]))
                (Input::new("value", "Group, branch or type (for those actions)").render())
                p { button type="submit" { "Apply" } }
            }
        }
    };
    Ok(layout(&user, "Users", html! { h1 { "Users" } (filters) (bulk) }))
}

#[derive(Deserialize, Default)]
pub(super) struct NewUserForm {
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

/// The add-user form with `input` in it and each error beside its field (`""`: the form's).
fn new_user_form(user: &ConsoleUser, input: &NewUserForm, errors: &HashMap<&str, String>) -> Markup {
    let text = |name: &str, label: &str, value: &str, kind: &str| {
        Input::new(name, label)
            .kind(kind)
            .value(value)
            .error(errors.get(name).map(String::as_str))
            .render()
    };
    let body = html! {
        h1 { "Add user" }
        @if let Some(e) = errors.get("") { p role="alert" { (e) } }
        form method="post" action="/admin/users/new" novalidate {
            (csrf_field(user.csrf()))
            (text("username", "Username", &input.username, "text"))
            (text("email", "Email", &input.email, "email"))
            (text("first_name", "First name", &input.first_name, "text"))
            (text("last_name", "Last name", &input.last_name, "text"))
            (text("user_type", "User type (blank for the default)", &input.user_type, "text"))
            (text("branch", "Branch (optional)", &input.branch, "text"))
            (text("groups", "Groups (optional, comma-separated)", &input.groups, "text"))
            (checkbox("send_welcome", "Send a welcome email with a set-password link", input.send_welcome.is_some()))
            p { button type="submit" { "Add user" } }
        }
    };
    layout(user, "Add user", body)
}

pub(super) async fn new_page(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    // The form calls nothing until it is sent: ask the core now whether it would be taken.
    state.service.require_area(user.ctx(), Area::UsersManage).await?;
    let input = NewUserForm {
        send_welcome: Some("1".into()),
        ..NewUserForm::default()
    };
    Ok(new_user_form(&user, &input, &HashMap::new()))
}

pub(super) async fn new_submit(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<NewUserForm>,
) -> Result<Response, PageError> {
    let input = NewUser {
        username: f.username.trim().to_owned(),
        email: f.email.trim().to_owned(),
        first_name: f.first_name.trim().to_owned(),
        last_name: f.last_name.trim().to_owned(),
        user_type: non_empty(&f.user_type),
        branches: non_empty(&f.branch).into_iter().collect(),
        groups: comma_list(&f.groups),
        active: true,
        send_welcome: Some(f.send_welcome.is_some()),
        ..NewUser::default()
    };
    let e = match state.service.create_user(user.ctx(), input).await {
        Ok(created) => {
            return Ok(Redirect::to(&format!("/admin/users?search={}", url_part(&created.username))).into_response());
        }
        Err(e) => e,
    };
    // Each error next to its field, the input kept in the form; refusals of the whole
    // request go to the error page.
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
        Error::NotFound {
            kind: Entity::UserType, ..
        } => "user_type",
        Error::NotFound {
            kind: Entity::Branch, ..
        } => "branch",
        Error::NotFound {
            kind: Entity::Group, ..
        } => "groups",
        Error::NotFound { .. }
        | Error::ConfirmationRequired(_)
        | Error::PlanFeatureUnavailable { .. }
        | Error::SeatLimitReached { .. }
        | Error::BranchSeatCapReached { .. }
        | Error::RuleViolated { .. }
        | Error::Conflict { .. } => "",
        Error::Internal(_) | Error::Forbidden(_) | Error::Unauthenticated | Error::RateLimited { .. } => {
            return Err(e.into());
        }
    };
    let message = match &e {
        Error::InvalidInput { message, .. } if !key.is_empty() => message.clone(),
        other => other.to_string(),
    };
    let errors = HashMap::from([(key, message)]);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, new_user_form(&user, &f, &errors)).into_response())
}
