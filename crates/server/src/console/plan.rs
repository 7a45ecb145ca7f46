//! The plan and its seats, by type and by branch.

use axum::extract::State;
use maud::{Markup, html};
use rollcall_core::service::PlanView;

use super::ui::{layout, table};
use super::{ConsoleUser, PageError};
use crate::AppState;

pub(super) async fn page(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    let plan = PlanView::from(state.service.plan(user.ctx()).await?);
    let seats = state.service.seat_report(user.ctx()).await?;
    let body = html! {
        h1 { "Plan and seats" }
        p {
            "Plan: " strong { (plan.plan) } ". "
            (plan.seats_used) " of " (plan.seat_limit) " seats used, " (plan.seats_free) " free."
        }
        p { "Change the plan with " code { "rollcall plan set" } "." }
        h2 { "By type" }
        (table(&["Type", "Seats"], html! {
            @for t in &seats.by_type { tr { td { (t.user_type) } td { (t.active) } } }
        }))
        h2 { "By branch" }
        (table(&["Branch", "Seats"], html! {
            @for b in &seats.by_branch { tr { td { (b.branch) } td { (b.active) } } }
        }))
    };
    Ok(layout(&user, "Plan", body))
}
