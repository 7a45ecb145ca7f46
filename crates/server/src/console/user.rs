//! One user's page and what it changes: status (deactivate, activate, restore), deletion
//! (confirmed by typing the username), profile, type, branches, groups and single sign-on
//! subject, offboarding (deactivate and hand their courses on in one step), and ending
//! their sessions.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::domain::{Area, UserId, UserStatus};
use rollcall_core::service::{AuditFilter, SsoLink, UserKey, UserUpdate, UserView};
use serde::Deserialize;

use super::audit::audit_table;
use super::learning::learning_record;
use super::ui::{Input, checkbox, csrf_field, done, hidden, layout, post_form};
use super::{ConsoleUser, CsrfForm, NoFields, PageError, comma_list, non_empty};
use crate::AppState;

fn key(id: i64) -> UserKey {
    UserKey::Id(UserId(id))
}

pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<i64>,
) -> Result<Markup, PageError> {
    let ctx = user.ctx();
    let u = state.service.get_user(ctx, &key(id)).await?;
    let record = state.service.learning_record(ctx, &key(u.id)).await?;
    let trail = if user.holds(Area::AuditView) {
        let filter = AuditFilter {
            target: Some(u.username.clone()),
            limit: Some(50),
            ..AuditFilter::default()
        };
        Some(state.service.list_audit(ctx, &filter).await?)
    } else {
        None
    };
    let in_trash = u.status == "trash";
    let sso = if in_trash {
        None
    } else {
        Some(state.service.sso_link_of(ctx, &key(u.id)).await?)
    };
    let (status_action, status_button) = match u.status {
        UserStatus::Active => ("deactivate", "Deactivate (frees the seat, keeps every record)"),
        UserStatus::Deactivated => ("activate", "Activate (takes a seat)"),
        UserStatus::Trash => ("restore", "Restore from the trash"),
    };
    let csrf = user.csrf();
    let body = html! {
        h1 { (u.username) }
        dl {
            dt { "Name" } dd { (u.first_name) " " (u.last_name) }
            dt { "Email" } dd { (u.email) }
            dt { "Type" } dd { (u.user_type) }
            dt { "Branches" } dd { (u.branches.join(", ")) }
            dt { "Groups" } dd { (u.groups.join(", ")) }
            dt { "Status" } dd { (u.status) }
            dt { "Last login" } dd { (u.last_login_at.as_deref().unwrap_or("never")) }
            dt { "Idle policy" } dd {
                @if u.idle_exempt { "exempt: never warned or deactivated for being idle" } @else { "applies" }
            }
            @if let Some(d) = &u.idle_deadline {
                dt { "Idle warning" } dd { "warned: deactivated on " (d) " unless they sign in before" }
            }
            @if let Some(d) = &u.deactivate_at { dt { "Deactivates on" } dd { (day_of(Some(d))) } }
            @if let Some(d) = &u.reactivate_at { dt { "Reactivates on" } dd { (day_of(Some(d))) " (if a seat is free)" } }
        }
        h2 { "Courses" }
        (learning_record(&record))
        h2 { "Status" }
        form method="post" action={ "/admin/users/" (id) "/status" } {
            (csrf_field(csrf))
            (hidden("action", status_action))
            button type="submit" { (status_button) }
        }
        @if let Some(sso) = &sso { (change_forms(&u, sso.as_ref(), csrf)) }
        @if !in_trash {
            h2 { "Delete" }
            (post_form(&format!("/admin/users/{id}/delete"), csrf, html! {
                p { "Deleting moves the account to the trash; when the trash is purged, its enrollments, progress, grades and certificates are erased." }
                (Input::new("confirm", &format!("Type the username, {}, to confirm", u.username)).autocomplete("off").render())
                (Input::new("reassign", "Give the courses they own to (username, optional)").render())
            }, "Delete"))
        }
        h2 { "Audit trail" }
        @if let Some(entries) = &trail { (audit_table(entries)) }
    };
    Ok(layout(&user, &u.username, body))
}

/// The edit, offboard and sign-out forms; `sso` is the identity-provider subject the
/// account is linked to.
fn change_forms(u: &UserView, sso: Option<&SsoLink>, csrf: &str) -> Markup {
    let id = u.id;
    let field = |name: &'static str, label: &str, value: &str| {
        Input::new(name, label).id(&format!("e-{name}")).value(value).render()
    };
    let sso_label = match sso {
        Some(l) => format!("Single sign-on subject (NameID at {}; empty unlinks)", l.idp),
        None => "Single sign-on subject (NameID at the identity provider; empty: not linked)".to_owned(),
    };
    html! {
        h2 { "Edit" }
        (post_form(&format!("/admin/users/{id}/edit"), csrf, html! {
            (field("email", "Email", &u.email))
            (field("first_name", "First name", &u.first_name))
            (field("last_name", "Last name", &u.last_name))
            (field("user_type", "User type", &u.user_type))
            (field("branches", "Branches (comma-separated)", &u.branches.join(", ")))
            (field("groups", "Groups (comma-separated)", &u.groups.join(", ")))
            (field("sso_subject", &sso_label, sso.map_or("", |l| l.subject.as_str())))
            (hidden("idle_exempt_shown", "1"))
            (checkbox("idle_exempt", "Exempt from the idle-account policy (never warned or deactivated for being idle)", u.idle_exempt))
            (Input::new("deactivate_on", "Deactivate on (a date; empty: not scheduled)").id("e-deactivate_on").kind("date").value(day_of(u.deactivate_at.as_deref())).render())
            (Input::new("reactivate_on", "Leave of absence: reactivate on (a date, if a seat is free then; empty: not scheduled)").id("e-reactivate_on").kind("date").value(day_of(u.reactivate_at.as_deref())).render())
        }, "Save changes"))
        h2 { "Offboard" }
        (post_form(&format!("/admin/users/{id}/offboard"), csrf, html! {
            p { "Deactivates the account (its records stay) and gives the courses it owns to someone else, in one step." }
            (Input::new("reassign_to", "New owner of their courses (username)").render())
        }, "Offboard"))
        h2 { "Sessions" }
        (post_form(&format!("/admin/users/{id}/sessions"), csrf, html! {
            p { "Signs the user out of the console on every device (their API tokens are separate)." }
        }, "Sign out everywhere"))
    }
}

#[derive(Deserialize)]
pub(super) struct StatusForm {
    #[serde(default)]
    action: String,
}

pub(super) async fn status(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<StatusForm>,
) -> Result<Response, PageError> {
    let (ctx, key) = (user.ctx(), key(id));
    match f.action.as_str() {
        "deactivate" => state.service.deactivate_user(ctx, &key).await?,
        "activate" => state.service.activate_user(ctx, &key).await?,
        "restore" => state.service.restore_user(ctx, &key).await?,
        other => return Err(Error::invalid("action", format!("unknown action '{other}'")).into()),
    };
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    reassign: String,
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<DeleteForm>,
) -> Result<Response, PageError> {
    let reassign = non_empty(&f.reassign).map(UserKey::Username);
    state
        .service
        .delete_user(user.ctx(), &key(id), Some(&f.confirm), false, reassign.as_ref())
        .await?;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

#[derive(Deserialize)]
pub(super) struct EditForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    user_type: String,
    #[serde(default)]
    branches: String,
    #[serde(default)]
    groups: String,
    /// Absent from a form that doesn't show it: then left as it is.
    sso_subject: Option<String>,
    /// Present when the form showed the exemption checkbox (an unticked box sends nothing).
    idle_exempt_shown: Option<String>,
    idle_exempt: Option<String>,
    /// Scheduled dates (YYYY-MM-DD); empty clears, absent leaves as is.
    deactivate_on: Option<String>,
    reactivate_on: Option<String>,
}

/// The day part of a stored time, as a date input shows it.
fn day_of(time: Option<&str>) -> &str {
    time.map_or("", |t| t.get(..10).unwrap_or(t))
}

/// A changed date field: `Some(None)` clears it, `Some(Some(t))` sets it.
fn changed_date(
    field: &str,
    now: Option<&str>,
    wanted: Option<&str>,
) -> Result<Option<Option<rollcall_core::domain::Millis>>, Error> {
    match wanted.map(str::trim) {
        Some(w) if w != day_of(now) => match w {
            "" => Ok(Some(None)),
            d => Ok(Some(Some(rollcall_core::domain::parse_time(field, d)?))),
        },
        _ => Ok(None),
    }
}

/// What to add and what to remove to go from `now` to `wanted` (names compared without case).
fn diff(now: &[String], wanted: &[String]) -> (Vec<String>, Vec<String>) {
    let has = |set: &[String], x: &String| set.iter().any(|y| y.eq_ignore_ascii_case(x));
    let add = wanted.iter().filter(|w| !has(now, w)).cloned().collect();
    let remove = now.iter().filter(|n| !has(wanted, n)).cloned().collect();
    (add, remove)
}

fn changed(now: &str, wanted: &str) -> Option<String> {
    (wanted.trim() != now).then(|| wanted.trim().to_owned())
}

pub(super) async fn edit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<EditForm>,
) -> Result<Response, PageError> {
    let (ctx, key) = (user.ctx(), key(id));
    let u = state.service.get_user(ctx, &key).await?;
    let (add_branches, remove_branches) = diff(&u.branches, &comma_list(&f.branches));
    let (add_groups, remove_groups) = diff(&u.groups, &comma_list(&f.groups));
    let linked = state.service.sso_link_of(ctx, &key).await?;
    let sso_subject = match f.sso_subject.as_deref().map(str::trim) {
        Some(wanted) if wanted != linked.as_ref().map_or("", |l| l.subject.as_str()) => {
            Some((!wanted.is_empty()).then(|| wanted.to_owned()))
        }
        _ => None,
    };
    let update = UserUpdate {
        email: changed(&u.email, &f.email),
        first_name: changed(&u.first_name, &f.first_name),
        last_name: changed(&u.last_name, &f.last_name),
        user_type: (!f.user_type.trim().eq_ignore_ascii_case(&u.user_type)).then(|| f.user_type.trim().to_owned()),
        add_branches,
        remove_branches,
        add_groups,
        remove_groups,
        sso_subject,
        idle_exempt: f
            .idle_exempt_shown
            .is_some()
            .then_some(f.idle_exempt.is_some())
            .filter(|x| *x != u.idle_exempt),
        deactivate_at: changed_date("deactivate_on", u.deactivate_at.as_deref(), f.deactivate_on.as_deref())?,
        reactivate_at: changed_date("reactivate_on", u.reactivate_at.as_deref(), f.reactivate_on.as_deref())?,
        ..UserUpdate::default()
    };
    state.service.update_user(ctx, &key, update).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

#[derive(Deserialize)]
pub(super) struct OffboardForm {
    #[serde(default)]
    reassign_to: String,
}

pub(super) async fn offboard(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, form: f }: CsrfForm<OffboardForm>,
) -> Result<Markup, PageError> {
    let to = non_empty(&f.reassign_to).map(UserKey::Username);
    let report = state.service.offboard(user.ctx(), &key(id), to.as_ref()).await?;
    let body = html! {
        h1 { (report.user.username) " offboarded" }
        (done(format!(
            "The account is {}; {} course(s) now belong to {}.",
            report.user.status,
            report.courses_reassigned,
            report.new_owner.as_deref().unwrap_or("nobody")
        )))
        p { a href={ "/admin/users/" (id) } { "Back to the user" } }
    };
    Ok(layout(&user, "Offboarded", body))
}

/// Signs a user out everywhere (an administrator acting for them).
pub(super) async fn end_sessions(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Result<Markup, PageError> {
    let ended = state.service.end_sessions(user.ctx(), &key(id)).await?;
    let body = html! {
        h1 { "Signed out" }
        (done(format!("{ended} session(s) ended.")))
        p { a href={ "/admin/users/" (id) } { "Back to the user" } }
    };
    Ok(layout(&user, "Signed out", body))
}
