//! The start page and the dashboard: seats, idle accounts, active accounts over 90 days (an
//! inline SVG from `seat_history`, which the minute job keeps) and the latest changes.

use axum::extract::State;
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::domain::Area;
use rollcall_core::service::AuditFilter;

use super::chart::{SeatChart, seat_chart};
use super::ui::{layout, table};
use super::{ConsoleUser, PageError};
use crate::AppState;

/// Who is signed in, and where to start.
pub(super) async fn home(user: ConsoleUser) -> Markup {
    let body = html! {
        h1 { "Welcome" }
        p { "Signed in as " strong { (user.info.user.username) } " (" (user.info.user.user_type) ")." }
        @if user.holds(Area::ReportsAll) {
            p { a href="/admin" { "Open the dashboard" } }
        } @else if user.holds(Area::CoursesTake) {
            p { a href="/learn" { "Go to your courses" } }
        }
    };
    layout(&user, "Home", body)
}

pub(super) async fn dashboard(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    let ctx = user.ctx();
    let seats = state.service.seat_report(ctx).await?;
    // Idle active accounts, counted (not listed): each holds a seat deactivation would free.
    let mut idle = vec![];
    for days in [30, 90] {
        idle.push((days, state.service.idle_count(ctx, Some(days)).await?));
    }
    // A branch administrator's dashboard has no platform-wide history or log: the core
    // refuses those to them, and the page shows them empty.
    let recent = AuditFilter {
        limit: Some(10),
        ..AuditFilter::default()
    };
    let audit = allowed(state.service.list_audit(ctx, &recent).await)?;
    let history = allowed(state.service.seat_history(ctx, 90).await)?;
    let today = state.service.system().now().div_euclid(rollcall_core::domain::DAY_MS);
    let reached_on = seats
        .forecast
        .as_ref()
        .and_then(|f| f.limit_reached_on.as_deref())
        .and_then(|d| rollcall_core::domain::parse_time("limit_reached_on", d).ok())
        .map(|t| t.div_euclid(rollcall_core::domain::DAY_MS));
    let body = html! {
        h1 { "Dashboard" }
        div class="cards" {
            section class="card" {
                h2 { "Seats" }
                @match seats.limit {
                    Some(limit) => {
                        p {
                            label for="seats" { "Seats used" }
                            meter id="seats" min="0" max=(limit) value=(seats.used) high=(limit * 9 / 10) {
                                (seats.used) " of " (limit)
                            }
                            " " (seats.used) " of " (limit)
                        }
                        p { "Free seats: " strong { (seats.free.unwrap_or(0)) } }
                    }
                    None => p { "Seats used in your branches: " strong { (seats.used) } },
                }
            }
            @if let Some(next) = &seats.scheduled {
                section class="card" {
                    h2 { "Next 30 days" }
                    p { "Scheduled deactivations: " strong { (next.deactivations.len()) } }
                    p { "Ends of leave (reactivations): " strong { (next.reactivations.len()) } }
                    p { a href="/admin/idle-policy" { "Idle policy" } " deactivations unless they sign in: " strong { (next.idle_deactivations.len()) } }
                    p { "Seats used if all happen: " strong { (next.used_in_30_days) } }
                }
            }
            section class="card" {
                h2 { "Idle accounts" }
                @for (days, n) in idle {
                    p {
                        a href={ "/admin/users?status=active&last_login=" (days) } { "Idle " (days) " days" }
                        ": " strong { (n) } " active, holding " (n) " " (if n == 1 { "seat" } else { "seats" })
                    }
                }
            }
        }
        h2 { "Seats used, last 90 days" }
        (seat_chart(&SeatChart {
            title: "Seats used",
            points: &history,
            limit: seats.limit.map(|l| (l, "plan limit")),
            reached_on,
            today,
            days: 90,
        }))
        @if let Some(f) = &seats.forecast {
            p {
                "Change over 30 days: " strong { (signed(f.change_30_days)) } "; over 90 days: " strong { (signed(f.change_90_days)) } ". "
                @match &f.limit_reached_on {
                    Some(d) => { "At the current rate the limit is reached on " strong { (d) } "." }
                    None => { "At the current rate the limit is not reached within a year." }
                }
                " " small { "(" (f.method) ")" }
            }
        }
        h2 { "Recent changes" }
        (table(&["When", "Who", "What", "Target"], html! {
            @for e in &audit {
                tr {
                    td { (e.at) }
                    td { (e.actor.as_deref().unwrap_or(&e.actor_kind)) }
                    td { (e.action) }
                    td { (e.target.as_deref().unwrap_or("")) }
                }
            }
        }))
    };
    Ok(layout(&user, "Dashboard", body))
}

/// What the caller may see of something the core may refuse them: nothing, if refused.
fn allowed<T: Default>(result: Result<T, Error>) -> Result<T, Error> {
    match result {
        Err(Error::Forbidden(_)) => Ok(T::default()),
        other => other,
    }
}

/// A change with its sign ("+3", "-2", "0"), or "no history".
fn signed(change: Option<i64>) -> String {
    match change {
        Some(n) if n > 0 => format!("+{n}"),
        Some(n) => n.to_string(),
        None => "no history".into(),
    }
}
