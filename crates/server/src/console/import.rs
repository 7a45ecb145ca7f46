//! The import wizard: choose a file, see what the import would do (a dry run on the upload
//! the service keeps under a random id, `stash_import_upload`, for its uploader only, one
//! hour — never carried in the page), then commit it.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request, State};
use maud::{Markup, html};
use rollcall_core::Error;
use rollcall_core::domain::Area;
use rollcall_core::service::{ImportOptions, RosterSync};
use serde::Deserialize;

use super::ui::{Input, alert, checkbox, csrf_field, done, hidden, layout, table};
use super::{ConsoleUser, CsrfForm, PageError};
use crate::AppState;
use crate::rest::imports::ImportResult;

/// Import options as form fields, carried from the upload to the commit.
#[derive(Deserialize, Default)]
pub(super) struct ImportFields {
    /// The id under which the service keeps the uploaded file (never the file itself:
    /// it may hold passwords, and the page would keep them in the browser).
    #[serde(default)]
    upload: String,
    partial: Option<String>,
    update_existing: Option<String>,
    update_only: Option<String>,
    ignore_unknown_columns: Option<String>,
    send_welcome: Option<String>,
    /// Roster sync: the file is who should be active.
    sync: Option<String>,
    #[serde(default)]
    scope_branch: String,
    reactivate: Option<String>,
    include_scim: Option<String>,
    /// Set by the preview's confirmation, never by the first form.
    allow_large_deactivation: Option<String>,
}

impl ImportFields {
    fn options(&self, dry_run: bool) -> Result<ImportOptions, Error> {
        Ok(ImportOptions {
            partial: self.partial.is_some(),
            update_existing: self.update_existing.is_some(),
            update_only: self.update_only.is_some(),
            dry_run,
            send_welcome: Some(self.send_welcome.is_some()),
            sync: RosterSync::from_flags(
                self.sync.is_some(),
                Some(self.scope_branch.clone()),
                self.reactivate.is_some(),
                self.allow_large_deactivation.is_some(),
                self.include_scim.is_some(),
            )?,
            atomic_rows: None,
        })
    }

    fn hidden(&self) -> Markup {
        let flags = [
            ("partial", &self.partial),
            ("update_existing", &self.update_existing),
            ("update_only", &self.update_only),
            ("ignore_unknown_columns", &self.ignore_unknown_columns),
            ("send_welcome", &self.send_welcome),
            ("sync", &self.sync),
            ("reactivate", &self.reactivate),
            ("include_scim", &self.include_scim),
            ("allow_large_deactivation", &self.allow_large_deactivation),
        ];
        html! {
            @for (name, on) in flags {
                @if on.is_some() { (hidden(name, "1")) }
            }
            @if !self.scope_branch.trim().is_empty() { (hidden("scope_branch", &self.scope_branch)) }
            (hidden("upload", &self.upload))
        }
    }
}

/// The uploaded form (`multipart/form-data`) of step 1 and its sender, once its CSRF token
/// has matched the session's, as [`CsrfForm`] does for plain forms.
pub(super) struct ImportUpload {
    user: ConsoleUser,
    fields: ImportFields,
    csv: Option<Bytes>,
}

impl FromRequest<AppState> for ImportUpload {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<ImportUpload, PageError> {
        let (mut parts, body) = req.into_parts();
        let user = ConsoleUser::from_request_parts(&mut parts, state).await?;
        let mut form = Multipart::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(PageError::malformed)?;
        let mut fields = ImportFields::default();
        let (mut csrf, mut csv) = (String::new(), None);
        while let Some(field) = form.next_field().await.map_err(PageError::malformed)? {
            let name = field.name().unwrap_or("").to_owned();
            let bytes = field.bytes().await.map_err(PageError::malformed)?;
            if name == "file" {
                csv = Some(bytes);
                continue;
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            match name.as_str() {
                "csrf" => csrf = text,
                "partial" => fields.partial = Some(text),
                "update_existing" => fields.update_existing = Some(text),
                "update_only" => fields.update_only = Some(text),
                "ignore_unknown_columns" => fields.ignore_unknown_columns = Some(text),
                "send_welcome" => fields.send_welcome = Some(text),
                "sync" => fields.sync = Some(text),
                "scope_branch" => fields.scope_branch = text,
                "reactivate" => fields.reactivate = Some(text),
                "include_scim" => fields.include_scim = Some(text),
                _ => {}
            }
        }
        user.check_token(&csrf)?;
        Ok(ImportUpload { user, fields, csv })
    }
}

pub(super) async fn upload_page(State(state): State<AppState>, user: ConsoleUser) -> Result<Markup, PageError> {
    // The form calls nothing until it is sent: ask the core now whether it would be taken.
    state.service.require_area(user.ctx(), Area::ImportRun).await?;
    let body = html! {
        h1 { "Import users" }
        p { "Step 1 of 3: choose a CSV file (rollcall's columns or TalentLMS's export). Nothing is written until you confirm." }
        form method="post" action="/admin/import/preview" enctype="multipart/form-data" {
            (csrf_field(user.csrf()))
            p {
                label for="file" { "CSV file" }
                input id="file" name="file" type="file" accept=".csv,text/csv" required;
            }
            (checkbox("update_existing", "Update users that already exist", false))
            (checkbox("update_only", "Only update users that already exist; create none", false))
            (checkbox("ignore_unknown_columns", "Skip columns rollcall doesn't know (a full TalentLMS export's time zone, last login …)", false))
            (checkbox("partial", "Import the good rows even if some are refused", false))
            (checkbox("send_welcome", "Send welcome emails", true))
            fieldset {
                legend { "Roster sync" }
                (checkbox("sync", "The file is everyone who should be active: deactivate active users it doesn't list (never deleted; records kept; accounts your identity provider manages over SCIM are left to it)", false))
                (Input::new("scope_branch", "Only within this branch (optional)").render())
                (checkbox("reactivate", "Reactivate deactivated users the file lists", false))
                (checkbox("include_scim", "Also deactivate accounts the identity provider manages over SCIM", false))
            }
            p { button type="submit" { "Preview" } }
        }
    };
    Ok(layout(&user, "Import users", body))
}

/// Runs the import (or its dry run) on the kept upload through the same code as the API.
async fn run_import(
    state: &AppState,
    user: &ConsoleUser,
    fields: &ImportFields,
    dry_run: bool,
) -> Result<ImportResult, Error> {
    let csv = state.service.import_upload(user.ctx(), &fields.upload).await?;
    let mut file = tempfile::NamedTempFile::new().map_err(Error::internal)?;
    std::io::Write::write_all(&mut file, &csv).map_err(Error::internal)?;
    let read = rollcall_csv::ReadOptions {
        ignore_unknown_columns: fields.ignore_unknown_columns.is_some(),
    };
    drop(
        rollcall_csv::read_with(std::fs::File::open(file.path()).map_err(Error::internal)?, read)
            .map_err(|e| Error::invalid("file", e.to_string()))?,
    );
    crate::rest::imports::import_file(&state.service, user.ctx(), file.path(), read, fields.options(dry_run)?).await
}

fn report(result: &ImportResult) -> Markup {
    let s = &result.summary;
    html! {
        (done(format!(
            "{} rows: {} created, {} updated, {} unchanged, {} refused, {} skipped.",
            s.rows, s.created, s.updated, s.unchanged, s.refused, s.skipped
        )))
        @if !s.ignored_columns.is_empty() {
            p { "Columns read and not kept: " (s.ignored_columns.join(", ")) "." }
        }
        @if let Some(refusal) = &s.refusal {
            (alert(format!(
                "The import {}: {}",
                if s.dry_run { "would be refused" } else { "was refused" },
                refusal.message
            )))
        }
        @if let Some(sync) = &s.sync {
            h2 { "Roster sync" }
            @let verb = if s.dry_run || sync.held { "would deactivate" } else { "deactivated" };
            p { "Of the " (sync.active_in_scope) " active users in scope, the sync " (verb) " "
                (sync.deactivate.len()) ":" }
            @if !sync.deactivate.is_empty() {
                ul { @for name in &sync.deactivate { li { (name) } } }
            }
            @for k in &sync.kept {
                (alert(format!("{} stays active: {}", k.username, k.reason)))
            }
        }
        (table(&["Line", "Username", "Outcome", "Reason"], html! {
            @for r in &result.rows {
                tr {
                    td { (r.line) }
                    td { (r.username) }
                    td { (format!("{:?}", r.outcome)) }
                    td {
                        ([r.column.as_deref(), r.reason.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(": "))
                        @if !r.changes.is_empty() {
                            ul { @for c in &r.changes { li { (c) } } }
                        }
                    }
                }
            }
        }))
    }
}

pub(super) async fn preview(
    State(state): State<AppState>,
    ImportUpload { user, mut fields, csv }: ImportUpload,
) -> Result<Markup, PageError> {
    let csv = csv.ok_or_else(|| Error::invalid("file", "choose a CSV file"))?;
    fields.upload = state.service.stash_import_upload(user.ctx(), &csv).await?;
    let result = run_import(&state, &user, &fields, true).await?;
    let s = &result.summary;
    let can_commit = s.can_commit();
    let held = s.sync.as_ref().filter(|sync| sync.held);
    let body = html! {
        h1 { "Import preview" }
        p { "Step 2 of 3: what the import would do. Nothing has been written yet." }
        @if s.seats_needed > s.seats_free && s.refusal.is_none() {
            (alert(format!(
                "This import needs {} seats and {} are free: free seats or move to a larger plan first.",
                s.seats_needed, s.seats_free
            )))
        } @else {
            p { "Seats needed: " (s.seats_needed) " of " (s.seats_free) " free." }
        }
        (report(&result))
        @if let Some(sync) = held {
            (alert(sync.reason.as_deref().unwrap_or("the deletion guard holds this sync back")))
            form method="post" action="/admin/import/commit" {
                (csrf_field(user.csrf()))
                (fields.hidden())
                (hidden("allow_large_deactivation", "1"))
                p {
                    @let n = sync.deactivate.len();
                    button type="submit" { "Deactivate " (n) (if n == 1 { " user" } else { " users" }) " and import" }
                    " " a href="/admin/import" { "Start again" }
                }
            }
        } @else if can_commit {
            form method="post" action="/admin/import/commit" {
                (csrf_field(user.csrf()))
                (fields.hidden())
                p {
                    button type="submit" { "Import " (s.created + s.updated) " users" }
                    " " a href="/admin/import" { "Start again" }
                }
            }
        } @else {
            p {
                "Nothing can be imported as it stands: correct the file (or allow a partial import) and "
                a href="/admin/import" { "start again" } "."
            }
        }
    };
    Ok(layout(&user, "Import preview", body))
}

pub(super) async fn commit(
    State(state): State<AppState>,
    CsrfForm { user, form: fields }: CsrfForm<ImportFields>,
) -> Result<Markup, PageError> {
    let result = run_import(&state, &user, &fields, false).await?;
    if result.summary.written {
        state.service.discard_import_upload(user.ctx(), &fields.upload).await?;
    }
    let written = if result.summary.written {
        "The import is done."
    } else {
        "Nothing was written."
    };
    let body = html! {
        h1 { "Import report" }
        p { "Step 3 of 3. " (written) }
        (report(&result))
        p { a href="/admin/users" { "Users" } }
    };
    Ok(layout(&user, "Import report", body))
}
