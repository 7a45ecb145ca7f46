//! The audit log: filtered by actor, target, action and date, and the same entries as CSV.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::service::{AuditAction, AuditEntryView, AuditFilter};
use serde::Deserialize;

use super::ui::{Input, layout, table};
use super::{ConsoleUser, PageError, non_empty};
use crate::AppState;

/// Entries with who did what, through which channel, to whom, and the changes.
pub(super) fn audit_table(entries: &[AuditEntryView]) -> Markup {
    table(
        &["When", "Who", "Channel", "What", "Target", "Changes"],
        html! {
            @for e in entries {
                tr {
                    td { (e.at) }
                    td { (e.actor.as_deref().unwrap_or(&e.actor_kind)) }
                    td { (e.channel) }
                    td { (e.action) }
                    td { (e.target.as_deref().unwrap_or("")) }
                    td { code { (e.changes.to_string()) } }
                }
            }
        },
    )
}

#[derive(Deserialize, Default)]
pub(super) struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    target: String,
    /// A date (or RFC 3339 time): entries from then on.
    #[serde(default)]
    since: String,
    #[serde(default)]
    action: String,
}

impl AuditQuery {
    fn filter(&self, limit: i64) -> Result<AuditFilter, Error> {
        let since = match non_empty(&self.since) {
            Some(s) => Some(rollcall_core::domain::parse_time("since", &s)?),
            None => None,
        };
        Ok(AuditFilter {
            actor: non_empty(&self.actor),
            target: non_empty(&self.target),
            action: non_empty(&self.action).as_deref().map(AuditAction::parse).transpose()?,
            since,
            limit: Some(limit),
            ..AuditFilter::default()
        })
    }

    fn query_string(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("actor", &self.actor)
            .append_pair("target", &self.target)
            .append_pair("action", &self.action)
            .append_pair("since", &self.since);
        q.finish()
    }
}

/// The filtered audit log as CSV (formula-safe cells), for spreadsheets and auditors.
pub(super) async fn csv(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let entries = state.service.list_audit(user.ctx(), &q.filter(10_000)?).await?;
    let mut out = String::from("at,actor,channel,action,target,changes,source\n");
    for e in &entries {
        let cells = [
            e.at.clone(),
            e.actor.clone().unwrap_or_else(|| e.actor_kind.clone()),
            e.channel.clone(),
            e.action.clone(),
            e.target.clone().unwrap_or_default(),
            e.changes.to_string(),
            e.source.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = cells
            .iter()
            .map(|c| format!("\"{}\"", rollcall_csv::formula_safe(c).replace('"', "\"\"")))
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"audit.csv\""),
        ],
        out,
    )
        .into_response())
}

pub(super) async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<AuditQuery>,
) -> Result<Markup, PageError> {
    let entries = state.service.list_audit(user.ctx(), &q.filter(200)?).await?;
    let body = html! {
        h1 { "Audit log" }
        form class="filters" method="get" action="/admin/audit" {
            (Input::new("actor", "Actor").value(&q.actor).render())
            (Input::new("target", "Target").value(&q.target).render())
            (Input::new("action", "Action").value(&q.action).placeholder("user.deactivate").render())
            (Input::new("since", "Since (date)").kind("date").value(&q.since).render())
            p { button type="submit" { "Filter" } }
        }
        p { a href={ "/admin/audit.csv?" (q.query_string()) } { "Export these entries as CSV" } }
        (audit_table(&entries))
    };
    Ok(layout(&user, "Audit log", body))
}
