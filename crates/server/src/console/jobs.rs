//! Console daily jobs: each job with its latest run, outcome and next run, and buttons to
//! run it now or to see what it would do (a dry run). The core decides who may and keeps
//! two runs of one job apart.

use axum::extract::{Path, State};
use maud::{Markup, html};
use rollcall_core::service::JobRunReport;
use serde::Deserialize;

use super::ui::{done, hidden, layout, post_form, table};
use super::{ConsoleUser, CsrfForm, PageError};
use crate::AppState;

pub(super) async fn page(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    let jobs = state.service.list_jobs(user.ctx()).await?;
    let schedule = state.service.schedule();
    Ok(layout(&user, "Daily jobs", list(&user, &jobs, schedule, None)))
}

fn list(
    user: &ConsoleUser,
    jobs: &[rollcall_core::service::DailyJobView],
    schedule: &rollcall_core::domain::Schedule,
    report: Option<Markup>,
) -> Markup {
    html! {
        h1 { "Daily jobs" }
        @if let Some(r) = report { (r) }
        p {
            "Each job runs once a day at " (format!("{:02}:00", schedule.hour())) " in " (schedule.time_zone_name())
            ", on one instance however many serve this database. Running a job here does not replace the day's scheduled run."
        }
        (table(&["Job", "Last run", "Outcome", "Next run", "Run"], html! {
            @for j in jobs {
                tr {
                    td { (j.name) }
                    td { (j.last_run.as_deref().unwrap_or("never")) }
                    td { (j.outcome.as_deref().unwrap_or("—")) }
                    td { (j.next_run) }
                    td {
                        (post_form(&format!("/admin/jobs/{}/run", j.name), user.csrf(), hidden("dry_run", "on"), &format!("Dry run {}", j.name)))
                        (post_form(&format!("/admin/jobs/{}/run", j.name), user.csrf(), html! {}, &format!("Run {} now", j.name)))
                    }
                }
            }
        }))
    }
}

fn report_markup(r: &JobRunReport) -> Markup {
    let verb = if r.dry_run { "would do" } else { "did" };
    html! {
        (done(format!("{} ({}, {}): {} {} thing(s).", r.name, r.period, if r.dry_run { "dry run" } else { r.outcome.as_str() }, verb, r.actions.len())))
        @if !r.actions.is_empty() {
            (table(&["Action", "Target", "Note"], html! {
                @for a in &r.actions {
                    tr { td { (a.action) } td { (a.target) } td { (a.note.as_deref().unwrap_or("")) } }
                }
            }))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct RunForm {
    dry_run: Option<String>,
}

pub(super) async fn run(
    State(state): State<AppState>,
    Path(name): Path<String>,
    CsrfForm { user, form }: CsrfForm<RunForm>,
) -> Result<Markup, PageError> {
    let report = state.service.run_job(user.ctx(), &name, form.dry_run.is_some()).await?;
    let jobs = state.service.list_jobs(user.ctx()).await?;
    let schedule = state.service.schedule();
    Ok(layout(
        &user,
        "Daily jobs",
        list(&user, &jobs, schedule, Some(report_markup(&report))),
    ))
}
