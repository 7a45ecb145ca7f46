//! Branches and groups: their lists, creating them, adding a member to a group, and giving
//! a group a course (its members, present and future, are enrolled).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::service::{NewBranch, NewGroup, UserKey};
use serde::Deserialize;

use super::chart::{SeatChart, seat_chart};
use super::ui::{Input, layout, post_form, table};
use super::{ConsoleUser, CsrfForm, PageError, non_empty, url_part};
use crate::AppState;

pub(super) async fn branches(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    let list = state.service.list_branches(user.ctx()).await?;
    let body = html! {
        h1 { "Branches" }
        (table(&["Name", "Active users", "Seat cap", "Default type"], html! {
            @for b in &list {
                tr {
                    td { a href={ "/admin/branches/" (url_part(&b.name)) } { (b.name) } }
                    td { (b.active_users) }
                    td { (b.seat_cap.map_or_else(|| "—".to_owned(), |c| c.to_string())) }
                    td { (b.default_type.as_deref().unwrap_or("—")) }
                }
            }
        }))
        h2 { "New branch" }
        (post_form("/admin/branches", user.csrf(), html! {
            (Input::new("name", "Name").kind("text").render())
            (Input::new("seat_cap", "Seat cap (optional)").kind("number").render())
        }, "Create"))
    };
    Ok(layout(&user, "Branches", body))
}

/// One branch: its seats over 90 days against its cap, and its users.
pub(super) async fn branch(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(name): Path<String>,
) -> Result<Markup, PageError> {
    let h = state.service.branch_seat_history(user.ctx(), &name).await?;
    let today = state.service.system().now().div_euclid(rollcall_core::domain::DAY_MS);
    let reached_on = h
        .cap_reached_on
        .as_deref()
        .and_then(|d| rollcall_core::domain::parse_time("cap_reached_on", d).ok())
        .map(|t| t.div_euclid(rollcall_core::domain::DAY_MS));
    let body = html! {
        h1 { "Branch " (h.branch) }
        p {
            (h.active) " active users"
            @if let Some(cap) = h.cap { " of a cap of " (cap) }
            ". " a href={ "/admin/users?branch=" (url_part(&h.branch)) } { "Its users" }
        }
        h2 { "Seats used, last 90 days" }
        (seat_chart(&SeatChart {
            title: "Seats used in the branch",
            points: &h.history,
            limit: h.cap.map(|c| (c, "branch cap")),
            reached_on,
            today,
            days: 90,
        }))
    };
    Ok(layout(&user, &h.branch, body))
}

#[derive(Deserialize)]
pub(super) struct BranchForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    seat_cap: String,
}

pub(super) async fn branch_create(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<BranchForm>,
) -> Result<Response, PageError> {
    let seat_cap = non_empty(&f.seat_cap)
        .map(|c| c.parse::<i64>())
        .transpose()
        .map_err(|_| Error::invalid("seat_cap", "a whole number"))?;
    let input = NewBranch {
        name: f.name.trim().to_owned(),
        description: String::new(),
        default_type: None,
        seat_cap,
    };
    state.service.add_branch(user.ctx(), input).await?;
    Ok(Redirect::to("/admin/branches").into_response())
}

pub(super) async fn groups(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    let list = state.service.list_groups(user.ctx()).await?;
    let csrf = user.csrf();
    let body = html! {
        h1 { "Groups" }
        (table(&["Name", "Branch", "Key", "Members"], html! {
            @for g in &list {
                tr {
                    td { a href={ "/admin/users?group=" (url_part(&g.name)) } { (g.name) } }
                    td { (g.branch.as_deref().unwrap_or("—")) }
                    td { (g.key.as_deref().unwrap_or("—")) }
                    td { (g.members) }
                }
            }
        }))
        h2 { "New group" }
        (post_form("/admin/groups", csrf, html! {
            (Input::new("name", "Name").kind("text").render())
            (Input::new("branch", "Branch (optional)").kind("text").render())
            (Input::new("key", "Join key (optional)").kind("text").render())
        }, "Create"))
        h2 { "Add a member" }
        (post_form("/admin/groups/members", csrf, html! {
            (Input::new("group", "Group").kind("text").render())
            (Input::new("username", "Username").kind("text").render())
        }, "Add"))
        h2 { "Give a group a course" }
        p { "Its members, present and future, are enrolled." }
        (post_form("/admin/groups/courses", csrf, html! {
            (Input::new("course_group", "Group").kind("text").render())
            (Input::new("course_code", "Course code").kind("text").render())
        }, "Give course"))
    };
    Ok(layout(&user, "Groups", body))
}

#[derive(Deserialize)]
pub(super) struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    branch: String,
    #[serde(default)]
    key: String,
}

pub(super) async fn group_create(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<GroupForm>,
) -> Result<Response, PageError> {
    let input = NewGroup {
        name: f.name.trim().to_owned(),
        description: String::new(),
        branch: non_empty(&f.branch),
        key: non_empty(&f.key),
    };
    state.service.add_group(user.ctx(), input).await?;
    Ok(Redirect::to("/admin/groups").into_response())
}

#[derive(Deserialize)]
pub(super) struct MemberForm {
    #[serde(default)]
    group: String,
    #[serde(default)]
    username: String,
}

pub(super) async fn member_add(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<MemberForm>,
) -> Result<Response, PageError> {
    let member = UserKey::Username(f.username.trim().to_owned());
    state
        .service
        .add_group_members(user.ctx(), f.group.trim(), &[member])
        .await?;
    Ok(Redirect::to("/admin/groups").into_response())
}

#[derive(Deserialize)]
pub(super) struct GroupCourseForm {
    #[serde(default)]
    course_group: String,
    #[serde(default)]
    course_code: String,
}

pub(super) async fn course_add(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<GroupCourseForm>,
) -> Result<Response, PageError> {
    state
        .service
        .add_group_course(user.ctx(), f.course_group.trim(), f.course_code.trim())
        .await?;
    Ok(Redirect::to("/admin/groups").into_response())
}
