//! The idle-account policy's page: its settings, the preview (who would be warned and
//! deactivated, the seats freed, whether the safety cap holds the run), the warned accounts
//! with their deadlines, and a run — with a button naming the count past the cap.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::service::{IdlePolicyUpdate, IdlePreview};
use serde::Deserialize;

use super::ui::{Input, alert, checkbox, csrf_field, done, hidden, layout, table};
use super::{ConsoleUser, CsrfForm, PageError, comma_list};
use crate::AppState;

#[derive(Deserialize, Default)]
pub(super) struct PageQuery {
    /// What the last run did: `held`, or `ran`.
    result: Option<String>,
    #[serde(default)]
    warned: usize,
    #[serde(default)]
    deactivated: usize,
}

fn names(v: &[String]) -> String {
    if v.is_empty() { "nobody".into() } else { v.join(", ") }
}

pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<PageQuery>,
) -> Result<Markup, PageError> {
    let ctx = user.ctx();
    let p = state.service.idle_policy(ctx).await?;
    let preview = state.service.idle_preview(ctx).await?;
    let csrf = user.csrf();
    let number = |name: &'static str, label: &'static str, v: i64| {
        let s = v.to_string();
        Input::new(name, label).kind("number").value(&s).render()
    };
    let body = html! {
        h1 { "Idle-account policy" }
        @match q.result.as_deref() {
            Some("held") => (alert("The run was held back by the safety cap: nothing was changed. Check the preview, then confirm below.")),
            Some("ran") => (done(format!("The run warned {} account(s) and deactivated {}.", q.warned, q.deactivated))),
            _ => {}
        }
        p {
            "Active accounts nobody uses hold paid seats. With the policy on, the daily job warns each idle account by email "
            "(the date, and that signing in keeps it), then deactivates it on that date unless it signed in; records are kept. "
            "An account is idle when its last sign-in (else its creation, or its last reactivation if later) is that many days ago; 0 means at once."
        }
        h2 { "Settings" }
        form method="post" action="/admin/idle-policy" {
            (csrf_field(csrf))
            (checkbox("enabled", "The policy is on", p.enabled))
            (number("idle_days", "Idle after this many days without a sign-in", p.idle_days))
            (number("never_signed_in_days", "Idle after this many days for accounts that never signed in (from their creation)", p.never_signed_in_days))
            (number("warn_days", "Warn this many days before deactivating (0: no warning)", p.warn_days))
            (number("grace_days", "Leave a reactivated account alone this many days", p.grace_days))
            (number("max_share", "Hold a run that would deactivate more than this percentage of active accounts", p.max_share))
            (Input::new("exempt_types", "Exempt user types (comma-separated)").value(&p.exempt_types.join(", ")).render())
            (Input::new("exempt_groups", "Exempt groups (comma-separated)").value(&p.exempt_groups.join(", ")).render())
            (Input::new("exempt_branches", "Exempt branches (comma-separated)").value(&p.exempt_branches.join(", ")).render())
            p { "Single accounts are exempted on their own page." }
            p { button type="submit" { "Save the policy" } }
        }
        h2 { "Preview: what a run would do now" }
        @if !preview.enabled { p { "The policy is off; this is what it would do if it were on." } }
        dl {
            dt { "Would warn (" (preview.warn.len()) ")" } dd { (names(&preview.warn)) }
            dt { "Would deactivate (" (preview.deactivate.len()) ")" } dd { (names(&preview.deactivate)) }
            dt { "Seats freed" } dd { (preview.seats_freed) }
            @if !preview.withdraw.is_empty() {
                dt { "Warnings withdrawn" } dd { (names(&preview.withdraw)) }
            }
            @if !preview.spared.is_empty() {
                dt { "Kept as the last administrator" } dd { (names(&preview.spared)) }
            }
            dt { "Safety cap" } dd {
                (cap_text(&preview))
            }
        }
        @if preview.enabled {
            @if preview.held {
                (alert(format!(
                    "{} of {} active accounts is more than the safety cap allows ({}): a run changes nothing until confirmed.",
                    preview.deactivate.len(), preview.active, preview.cap
                )))
                form method="post" action="/admin/idle-policy/run" {
                    (csrf_field(csrf))
                    (hidden("confirm", "1"))
                    p { button type="submit" { "Deactivate " (preview.deactivate.len()) " accounts now" } }
                }
            } @else {
                form method="post" action="/admin/idle-policy/run" {
                    (csrf_field(csrf))
                    p { button type="submit" { "Run now" } }
                }
            }
        }
        h2 { "Warned accounts" }
        @if preview.warned.is_empty() {
            p { "No account holds a warning." }
        } @else {
            (table(&["Account", "Deactivated on, unless they sign in"], html! {
                @for w in &preview.warned {
                    tr { td { (w.username) } td { (w.deadline) } }
                }
            }))
        }
    };
    Ok(layout(&user, "Idle-account policy", body))
}

fn cap_text(p: &IdlePreview) -> String {
    format!(
        "{} of {} active accounts may be deactivated without confirmation; {}",
        p.cap,
        p.active,
        if p.held {
            "this run is past it"
        } else {
            "this run is within it"
        }
    )
}

#[derive(Deserialize)]
pub(super) struct PolicyForm {
    enabled: Option<String>,
    #[serde(default)]
    idle_days: String,
    #[serde(default)]
    never_signed_in_days: String,
    #[serde(default)]
    warn_days: String,
    #[serde(default)]
    grace_days: String,
    #[serde(default)]
    max_share: String,
    #[serde(default)]
    exempt_types: String,
    #[serde(default)]
    exempt_groups: String,
    #[serde(default)]
    exempt_branches: String,
}

/// A number field: empty leaves the setting as it is.
fn number(field: &'static str, s: &str) -> Result<Option<i64>, Error> {
    let s = s.trim().trim_end_matches('%').trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| Error::invalid(field, format!("'{s}' is not a whole number")))
}

/// A comma-separated list: empty empties it.
fn list(s: &str) -> Option<Vec<String>> {
    Some(comma_list(s))
}

pub(super) async fn save(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<PolicyForm>,
) -> Result<Response, PageError> {
    let upd = IdlePolicyUpdate {
        enabled: Some(f.enabled.is_some()),
        idle_days: number("idle_days", &f.idle_days)?,
        never_signed_in_days: number("never_signed_in_days", &f.never_signed_in_days)?,
        warn_days: number("warn_days", &f.warn_days)?,
        grace_days: number("grace_days", &f.grace_days)?,
        max_share: number("max_share", &f.max_share)?,
        exempt_types: list(&f.exempt_types),
        exempt_groups: list(&f.exempt_groups),
        exempt_branches: list(&f.exempt_branches),
    };
    state.service.set_idle_policy(user.ctx(), upd).await?;
    Ok(Redirect::to("/admin/idle-policy").into_response())
}

#[derive(Deserialize)]
pub(super) struct RunForm {
    confirm: Option<String>,
}

pub(super) async fn run(
    State(state): State<AppState>,
    CsrfForm { user, form: f }: CsrfForm<RunForm>,
) -> Result<Response, PageError> {
    let r = state.service.run_idle_policy(user.ctx(), f.confirm.is_some()).await?;
    let to = if r.held {
        "/admin/idle-policy?result=held".to_owned()
    } else {
        format!(
            "/admin/idle-policy?result=ran&warned={}&deactivated={}",
            r.warned.len(),
            r.deactivated.len()
        )
    };
    Ok(Redirect::to(&to).into_response())
}
