//! Learning: a learner's courses (completing the next unit) and certificates, an
//! instructor's courses with their learners' progress and grading, and the learning record
//! shown on a user's page.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::domain::UserId;
use rollcall_core::service::{CertificateView, EnrollmentView, UserKey};
use serde::Deserialize;

use super::ui::{csrf_field, hidden, layout, table};
use super::{ConsoleUser, CsrfForm, PageError};
use crate::AppState;

pub(super) async fn learn(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    let courses = state.service.my_courses(user.ctx()).await?;
    let (_, certificates) = state.service.learning_record(user.ctx(), &user.me()).await?;
    let body = html! {
        h1 { "My courses" }
        @if courses.is_empty() {
            p { "You are not enrolled in any course yet." }
        } @else {
            ul {
                @for c in &courses {
                    @let id = format!("p-{}", c.course);
                    li {
                        strong { (c.course_name) } " (" (c.role) ") — "
                        label for=(id) { "progress" } " "
                        progress id=(id) max="100" value=(c.progress_pct) { (c.progress_pct) "%" }
                        " " (c.progress_pct) "%"
                        @if c.completed_at.is_some() { " · completed, certificate issued" }
                        @if c.role == "learner" && c.completed_at.is_none() && c.units_completed < c.units {
                            " "
                            form method="post" action="/learn/complete" class="inline" {
                                (csrf_field(user.csrf()))
                                (hidden("course", &c.course))
                                (hidden("unit", &(c.units_completed + 1).to_string()))
                                button type="submit" { "Complete unit " (c.units_completed + 1) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "My certificates" }
        (certificate_list(&certificates))
    };
    Ok(layout(&user, "My courses", body))
}

#[derive(Deserialize)]
pub(super) struct CompleteForm {
    #[serde(default)]
    course: String,
    #[serde(default)]
    unit: i64,
}

pub(super) async fn complete_unit(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<CompleteForm>,
) -> Result<Response, PageError> {
    state
        .service
        .complete_unit(user.ctx(), &user.me(), &f.course, f.unit)
        .await?;
    Ok(Redirect::to("/learn").into_response())
}

/// An instructor's courses, their learners' progress, and grading.
pub(super) async fn teach(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    let courses = state.service.teaching(user.ctx()).await?;
    let body = html! {
        h1 { "Teaching" }
        @if courses.is_empty() { p { "You don't own any course yet." } }
        @for (c, enrollments) in &courses {
            h2 { (c.name) " (" (c.code) ")" }
            (table(&["Learner", "Progress", "Grade", "Grade it"], html! {
                @for e in enrollments.iter().filter(|e| e.role == "learner") {
                    @let id = format!("g-{}-{}", c.code, e.user_id);
                    tr {
                        td { (e.username) }
                        td { (e.progress_pct) "%" }
                        td { (grade_text(e.grade)) }
                        td {
                            form method="post" action="/teach/grade" {
                                (csrf_field(user.csrf()))
                                (hidden("course", &c.code))
                                (hidden("user_id", &e.user_id.to_string()))
                                label for=(id) { "Grade for " (e.username) }
                                " "
                                input id=(id) name="grade" type="number" min="0" max="100" required;
                                " "
                                button type="submit" { "Save" }
                            }
                        }
                    }
                }
            }))
        }
    };
    Ok(layout(&user, "Teaching", body))
}

#[derive(Deserialize)]
pub(super) struct GradeForm {
    #[serde(default)]
    course: String,
    #[serde(default)]
    user_id: i64,
    grade: Option<i64>,
}

pub(super) async fn grade(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<GradeForm>,
) -> Result<Response, PageError> {
    let grade = f
        .grade
        .ok_or_else(|| Error::invalid("grade", "enter a grade from 0 to 100"))?;
    state
        .service
        .grade(user.ctx(), &UserKey::Id(UserId(f.user_id)), &f.course, grade)
        .await?;
    Ok(Redirect::to("/teach").into_response())
}

fn grade_text(grade: Option<i64>) -> String {
    grade.map_or_else(|| "—".to_owned(), |g| g.to_string())
}

fn certificate_list(certificates: &[CertificateView]) -> Markup {
    html! {
        @if certificates.is_empty() {
            p { "No certificates yet." }
        } @else {
            ul {
                @for c in certificates {
                    li { (c.course_name) " — issued " (c.issued_at) " — code " code { (c.code) } }
                }
            }
        }
    }
}

/// A user's courses with progress and grade, then their certificates.
pub(super) fn learning_record((courses, certificates): &(Vec<EnrollmentView>, Vec<CertificateView>)) -> Markup {
    html! {
        (table(&["Course", "Role", "Progress", "Grade"], html! {
            @for e in courses {
                tr {
                    td { (e.course_name) }
                    td { (e.role) }
                    td { (e.progress_pct) "%" }
                    td { (grade_text(e.grade)) }
                }
            }
        }))
        h3 { "Certificates" }
        (certificate_list(certificates))
    }
}
