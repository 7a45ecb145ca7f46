//! The start page and the dashboard: seats, idle accounts, active accounts over 90 days (an
//! inline SVG from `seat_history`, which the minute job keeps) and the latest changes.

use axum::extract::State;
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::domain::Area;
use rollcall_core::service::AuditFilter;

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
        h2 { "Active accounts, last 90 days" }
        (active_chart(&history, today))
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

/// Active accounts per day over 90 days as an inline SVG line (no script, no library).
fn active_chart(points: &[(i64, i64)], today: i64) -> Markup {
    let Some(&(_, latest)) = points.last() else {
        return html! { p { "No history yet: the count is recorded every minute from now on." } };
    };
    let (width, height, days) = (600.0_f64, 150.0_f64, 90.0_f64);
    let max = points.iter().map(|p| p.1).max().unwrap_or(1).max(1);
    let first_day = today - 89;
    let coords: Vec<(f64, f64)> = points
        .iter()
        .map(|&(day, active)| {
            let x = (day - first_day) as f64 / (days - 1.0) * width;
            let y = height - active as f64 / max as f64 * (height - 10.0);
            (x, y)
        })
        .collect();
    let line: Vec<String> = coords.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let lowest = points.iter().map(|p| p.1).min().unwrap_or(0);
    html! {
        svg viewBox={ "-5 -5 " (width + 10.0) " " (height + 10.0) } width="100%" class="chart" role="img" aria-labelledby="chart-title" {
            title id="chart-title" {
                "Active accounts over the last 90 days: now " (latest) ", lowest " (lowest) ", highest " (max)
            }
            line x1="0" y1=(height) x2=(width) y2=(height) stroke="#888" {}
            polyline fill="none" stroke="#0b5cad" stroke-width="2" points=(line.join(" ")) {}
            // A single day is a dot, not an invisible line.
            @if let [(x, y)] = coords.as_slice() {
                circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="3" fill="#0b5cad" {}
            }
        }
    }
}
