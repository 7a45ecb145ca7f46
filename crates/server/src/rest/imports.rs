//! `POST /api/v1/imports` and `GET /api/v1/users/export.csv`.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiQuery, Caller};
use super::users::ListUsersQuery;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollcall_core::Error;
use rollcall_core::service::{ImportOptions, ImportSummary, Parsed, RosterSync, RowReport};
use rollcall_csv::ReadOptions;
use serde::{Deserialize, Serialize};
use std::io::Write;
use utoipa::{IntoParams, ToSchema};

/// Largest import file accepted over HTTP.
pub const IMPORT_LIMIT: usize = 256 * 1024 * 1024;

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Write nothing; report what each row would do.
    pub dry_run: Option<bool>,
    /// Write the good rows even when others are refused.
    pub partial: Option<bool>,
    /// Update users matched by username instead of refusing them.
    pub update_existing: Option<bool>,
    /// Only update existing users: a row naming no account is refused.
    pub update_only: Option<bool>,
    /// Skip columns rollcall doesn't know instead of refusing the file; the summary's
    /// `ignored_columns` names them.
    pub ignore_unknown_columns: Option<bool>,
    /// `false`: no welcome emails.
    pub send_welcome: Option<bool>,
    /// Roster sync: the file is the whole list of who should be active; the active
    /// accounts in scope it doesn't list are deactivated (never deleted).
    pub sync: Option<bool>,
    /// Sync only within this branch.
    pub scope_branch: Option<String>,
    /// Sync: reactivate deactivated accounts the file lists.
    pub reactivate: Option<bool>,
    /// Sync: deactivate even past the deletion guard (settings `sync_max_deactivation_share`,
    /// `sync_max_deactivations`).
    pub allow_large_deactivation: Option<bool>,
    /// Sync: include accounts the identity provider manages over SCIM.
    pub include_scim: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    pub summary: ImportSummary,
    pub rows: Vec<RowReport>,
}

/// Copies the upload (a CSV body, or the first file of a multipart form) to a temporary
/// file, so the import can read it twice without holding it in memory.
async fn spool(request: Request) -> ApiResult<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new().map_err(Error::internal)?;
    let mut written = 0usize;
    let mut write = |chunk: &[u8]| -> ApiResult<()> {
        written += chunk.len();
        if written > IMPORT_LIMIT {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the import file is larger than 256 MiB",
            ));
        }
        file.write_all(chunk).map_err(|e| Error::internal(e).into())
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, &())
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let mut field = loop {
            match form
                .next_field()
                .await
                .map_err(|e| ApiError::bad_request(e.body_text()))?
            {
                Some(f) if f.file_name().is_some() || f.name() == Some("file") => break f,
                Some(_) => continue,
                None => return Err(ApiError::bad_request("the form has no file field")),
            }
        };
        while let Some(chunk) = field.chunk().await.map_err(|e| ApiError::bad_request(e.body_text()))? {
            write(&chunk)?;
        }
    } else if content_type.starts_with("text/csv") || content_type.starts_with("text/plain") {
        use http_body_util::BodyExt;
        let mut body = request.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiError::bad_request(format!("can't read the body: {e}")))?;
            if let Ok(chunk) = frame.into_data() {
                write(&chunk)?;
            }
        }
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file as text/csv, or as multipart/form-data with a file field",
        ));
    }
    file.flush().map_err(Error::internal)?;
    Ok(file)
}

/// Import users from a CSV file
#[utoipa::path(post, path = "/imports", tag = "import and export", params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The CSV file (or multipart/form-data with a `file` field). Columns: username, email, first_name, last_name (required); password, user_type, branches, groups, status, deactivation_date, reactivation_date, exclude_from_emails; TalentLMS's import headers are accepted as they are."),
    responses((status = 200, body = ImportResult, description = "every row's outcome; `summary.written` says whether anything was written"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn import(c: Caller, ApiQuery(q): ApiQuery<ImportQuery>, request: Request) -> ApiResult<Json> {
    c.service
        .require_area(&c.ctx, rollcall_core::domain::Area::ImportRun)
        .await?;
    let file = spool(request).await?;
    // A bad header is a bad request, reported before any row.
    let read = ReadOptions {
        ignore_unknown_columns: q.ignore_unknown_columns.unwrap_or(false),
    };
    drop(
        rollcall_csv::read_with(std::fs::File::open(file.path()).map_err(Error::internal)?, read)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
    );
    let opts = ImportOptions {
        partial: q.partial.unwrap_or(false),
        update_existing: q.update_existing.unwrap_or(false),
        update_only: q.update_only.unwrap_or(false),
        dry_run: q.dry_run.unwrap_or(false),
        send_welcome: q.send_welcome,
        sync: RosterSync::from_flags(
            q.sync.unwrap_or(false),
            q.scope_branch,
            q.reactivate.unwrap_or(false),
            q.allow_large_deactivation.unwrap_or(false),
            q.include_scim.unwrap_or(false),
        )?,
        atomic_rows: None,
    };
    Ok(axum::Json(
        import_file(&c.service, &c.ctx, file.path(), read, opts).await?,
    ))
}

/// Imports the CSV file at `path` through the CSV channel: every row's outcome and the
/// summary. Shared by the API and the console's import wizard.
pub(crate) async fn import_file(
    service: &rollcall_core::Service,
    ctx: &rollcall_core::Context,
    path: &std::path::Path,
    read: ReadOptions,
    opts: ImportOptions,
) -> rollcall_core::Result<ImportResult> {
    let mut ignored = vec![];
    let mut source = || -> rollcall_core::Result<Box<dyn Iterator<Item = Parsed> + Send>> {
        let f = std::fs::File::open(path).map_err(Error::internal)?;
        let rows = rollcall_csv::read_with(f, read).map_err(|e| Error::invalid("file", e.to_string()))?;
        ignored = rows.ignored().to_vec();
        Ok(Box::new(rows))
    };
    let mut ctx = ctx.clone();
    ctx.channel = rollcall_core::Channel::Csv;
    let mut rows = vec![];
    let mut summary = service
        .import_users(&ctx, &mut source, opts, &mut |r| rows.push(r))
        .await?;
    summary.ignored_columns = ignored;
    Ok(ImportResult { summary, rows })
}

type Json = axum::Json<ImportResult>;

/// Export users as CSV
#[utoipa::path(get, path = "/users/export.csv", tag = "import and export", params(ListUsersQuery),
    responses((status = 200, content_type = "text/csv", body = String, description = "users in the import columns; formula-like cells escaped"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn export(c: Caller, ApiQuery(q): ApiQuery<ListUsersQuery>) -> ApiResult<Response> {
    let filter = q.into_filter()?;
    let body = super::stream::users(c, filter, super::stream::Csv).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"users.csv\""),
        ],
        body,
    )
        .into_response())
}
