//! Courses: the list, creating one, enrolling a learner, and one course with everyone
//! enrolled in it.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::domain::CourseRole;
use rollcall_core::service::{NewCourse, UserKey};
use serde::Deserialize;

use super::ui::{Input, layout, post_form, table};
use super::{ConsoleUser, CsrfForm, PageError, non_empty, url_part};
use crate::AppState;

pub(super) async fn list(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    let list = state.service.list_courses(user.ctx(), None, false).await?;
    let body = html! {
        h1 { "Courses" }
        (table(&["Code", "Name", "Owner", "Units", "Status"], html! {
            @for c in &list {
                tr {
                    td { a href={ "/admin/courses/" (url_part(&c.code)) } { (c.code) } }
                    td { (c.name) }
                    td { (c.owner) }
                    td { (c.units) }
                    td { (c.status) }
                }
            }
        }))
        h2 { "New course" }
        (post_form("/admin/courses", user.csrf(), html! {
            (Input::new("code", "Code").kind("text").render())
            (Input::new("name", "Name").kind("text").render())
            (Input::new("units", "Units").kind("number").render())
            (Input::new("owner", "Owner (username; blank for you)").kind("text").render())
        }, "Create"))
        h2 { "Enroll a learner" }
        (post_form("/admin/courses/enroll", user.csrf(), html! {
            (Input::new("course_code", "Course code").kind("text").render())
            (Input::new("username", "Username").kind("text").render())
        }, "Enroll"))
    };
    Ok(layout(&user, "Courses", body))
}

#[derive(Deserialize)]
pub(super) struct CourseForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    units: String,
    #[serde(default)]
    owner: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<CourseForm>,
) -> Result<Response, PageError> {
    let units = f
        .units
        .trim()
        .parse::<i64>()
        .map_err(|_| Error::invalid("units", "a whole number of units"))?;
    let input = NewCourse {
        code: f.code.trim().to_owned(),
        name: f.name.trim().to_owned(),
        units,
        owner: Some(non_empty(&f.owner).unwrap_or_else(|| user.info.user.username.clone())),
        ..NewCourse::default()
    };
    state.service.create_course(user.ctx(), input).await?;
    Ok(Redirect::to("/admin/courses").into_response())
}

#[derive(Deserialize)]
pub(super) struct EnrollForm {
    #[serde(default)]
    course_code: String,
    #[serde(default)]
    username: String,
}

pub(super) async fn enroll(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<EnrollForm>,
) -> Result<Response, PageError> {
    let learner = UserKey::Username(f.username.trim().to_owned());
    state
        .service
        .enroll(user.ctx(), &learner, f.course_code.trim(), CourseRole::Learner)
        .await?;
    Ok(Redirect::to("/admin/courses").into_response())
}

/// One course: its owner and units, and everyone enrolled with their progress and grade.
pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(code): Path<String>,
) -> Result<Markup, PageError> {
    let course = state.service.get_course(user.ctx(), &code).await?;
    let enrollments = state.service.course_enrollments(user.ctx(), &course.code).await?;
    let body = html! {
        h1 { (course.name) " (" (course.code) ")" }
        p { "Owner: " (course.owner) ". " (course.units) " units. Status: " (course.status) "." }
        h2 { "Enrollments" }
        (table(&["User", "Role", "Progress", "Grade", "Completed"], html! {
            @for e in &enrollments {
                tr {
                    td { a href={ "/admin/users/" (e.user_id) } { (e.username) } }
                    td { (e.role) }
                    td { (e.progress_pct) "%" }
                    td { (e.grade.map_or_else(|| "—".to_owned(), |g| g.to_string())) }
                    td { (e.completed_at.as_deref().unwrap_or("—")) }
                }
            }
        }))
    };
    Ok(layout(&user, &course.name, body))
}
