//! Bulk actions from the user list: on the users selected or on every match of the list's
//! filter; deleting is confirmed first on a page that names how many.

use axum::extract::State;
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::service::{BulkAction, BulkArguments, BulkTargets};

use super::ui::{alert, done, hidden, layout, table};
use super::users::UsersQuery;
use super::{CsrfForm, FormPairs, PageError};
use crate::AppState;

pub(super) async fn apply(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<FormPairs>,
) -> Result<Markup, PageError> {
    // The console's one text box names the group, branch or type, whichever the action takes.
    let value = Some(form.first("value").to_owned());
    let args = BulkArguments {
        group: value.clone(),
        branch: value.clone(),
        user_type: value,
    };
    let action = BulkAction::parse(form.first("action"), args)?;
    let targets = if form.first("all_matching") == "1" {
        let mut filter = UsersQuery::from_form(&form).filter()?;
        filter.limit = None;
        BulkTargets::Filter(filter)
    } else {
        let ids = form
            .all("ids")
            .iter()
            .map(|s| s.parse::<i64>())
            .collect::<Result<Vec<i64>, _>>()
            .map_err(|_| Error::invalid("ids", "not a user id"))?;
        if ids.is_empty() {
            return Err(Error::invalid("ids", "select at least one user").into());
        }
        BulkTargets::Ids(ids)
    };
    let ctx = user.ctx();
    // Deleting is confirmed on a page that names how many; the core checks that count.
    let confirm = match (&action, form.first("confirm_count")) {
        (BulkAction::Delete, "") => {
            let n = state
                .service
                .bulk_targets(ctx, &BulkAction::Deactivate, &targets, None)
                .await?
                .len();
            let body = html! {
                h1 { "Delete " (n) " users?" }
                (alert(format!(
                    "Deleting moves {n} users to the trash; when the trash is purged their enrollments, \
                     progress, grades and certificates are erased. Deactivating keeps every record."
                )))
                form method="post" action="/admin/users/bulk" {
                    // The form as it was sent (its token included), and the count confirmed.
                    @for (k, v) in form.iter() { (hidden(k, v)) }
                    (hidden("confirm_count", &n.to_string()))
                    p { button type="submit" { "Delete " (n) " users" } " " a href="/admin/users" { "Cancel" } }
                }
            };
            return Ok(layout(&user, "Confirm deletion", body));
        }
        (BulkAction::Delete, n) => Some(
            n.parse::<i64>()
                .map_err(|_| Error::invalid("confirm_count", "not a number"))?,
        ),
        _ => None,
    };
    let ids = state.service.bulk_targets(ctx, &action, &targets, confirm).await?;
    let outcomes = state.service.bulk_apply(ctx, &action, &ids).await;
    let changed = outcomes.iter().filter(|o| o.ok).count();
    let body = html! {
        h1 { "Bulk " (action.name()) }
        (done(format!("{changed} of {} users changed.", outcomes.len())))
        (table(&["User id", "Outcome", "Detail"], html! {
            @for o in &outcomes {
                tr {
                    td { (o.id) }
                    td { (if o.ok { "done" } else { "refused" }) }
                    td { (o.message.as_deref().or(o.status.as_deref()).unwrap_or("")) }
                }
            }
        }))
        p { a href="/admin/users" { "Back to users" } }
    };
    Ok(layout(&user, "Bulk action", body))
}
