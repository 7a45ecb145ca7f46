//! `/api/v1/users` and `/api/v1/jobs`.

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::{double_option, parse_opt_time};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rollcall_core::domain::{UserId, UserStatus};
use rollcall_core::service::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Bulk requests naming at most this many users are done at once; larger ones become jobs.
pub const SYNC_BULK_LIMIT: usize = 100;

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// `active`, `deactivated` or `trash`; default: active and deactivated.
    pub status: Option<String>,
    /// A user type name.
    pub user_type: Option<String>,
    pub branch: Option<String>,
    pub group: Option<String>,
    /// Text search over username, email, first and last name: `search`, as the CLI's
    /// `--search` and the console's box call it (`q` is read too).
    #[serde(alias = "q")]
    pub search: Option<String>,
    /// Never signed in, or last signed in before this date (YYYY-MM-DD or RFC 3339).
    pub last_login_before: Option<String>,
    /// Never signed in, or not in this many days.
    pub idle_days: Option<i64>,
    pub never_logged_in: Option<bool>,
    /// Order: `username`, `name` (last, then first), `email`, `last_login` (never signed
    /// in counts as oldest) or `created` (default); a leading `-` for descending. Pages stay
    /// in this order: pass the same `sort` with each `cursor`.
    pub sort: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `prev_cursor` of a page: the page before it (not with `cursor`).
    pub before: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<i64>,
}

impl ListUsersQuery {
    pub fn into_filter(self) -> ApiResult<UserFilter> {
        Ok(UserFilter {
            status: self.status.as_deref().map(UserStatus::parse).transpose()?,
            user_type: self.user_type,
            branch: self.branch,
            group: self.group,
            idle_days: self.idle_days,
            last_login_before: parse_opt_time("last_login_before", self.last_login_before.as_deref())?,
            never_logged_in: self.never_logged_in.unwrap_or(false),
            search: self.search,
            sort: self.sort,
            cursor: self.cursor,
            before: self.before,
            limit: self.limit,
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// 8 to 1,024 bytes; omit for SSO-only or invited users.
    pub password: Option<String>,
    /// A user type name (default: the first branch's default type, else Learner).
    pub user_type: Option<String>,
    #[serde(default)]
    pub branches: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Whether to send the welcome email (default: yes, unless the `welcome_email` setting
    /// is off or the user is excluded from emails).
    pub send_welcome: Option<bool>,
    pub external_id: Option<String>,
    #[serde(default)]
    pub exclude_from_emails: bool,
    /// Scheduled deactivation (YYYY-MM-DD or RFC 3339).
    pub deactivate_at: Option<String>,
    /// The idle-account policy never warns or deactivates this account.
    #[serde(default)]
    pub idle_exempt: bool,
    /// End of a leave of absence: the account is reactivated on this date, a day in the
    /// configured time zone (YYYY-MM-DD, or an RFC 3339 time), if a seat is free. Must
    /// follow `deactivate_at`.
    pub reactivate_at: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// A new username (unique, case-insensitive).
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password: Option<String>,
    pub user_type: Option<String>,
    #[serde(default)]
    pub add_branches: Vec<String>,
    #[serde(default)]
    pub remove_branches: Vec<String>,
    #[serde(default)]
    pub add_groups: Vec<String>,
    #[serde(default)]
    pub remove_groups: Vec<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
    pub exclude_from_emails: Option<bool>,
    /// Scheduled deactivation (YYYY-MM-DD or RFC 3339); `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub deactivate_at: Option<Option<String>>,
    /// End of a leave of absence (YYYY-MM-DD or RFC 3339): a deactivated account is
    /// reactivated on this day, if a seat is free; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub reactivate_at: Option<Option<String>>,
    /// Links the account to this NameID at the configured SAML identity provider, so
    /// single sign-on finds it; `null` or `""` unlinks it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub sso_subject: Option<Option<String>>,
    /// Exempts the account from the idle-account policy (or ends the exemption).
    pub idle_exempt: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// The user's username, to confirm.
    pub confirm: Option<String>,
    /// Erase at once instead of moving to the trash.
    pub purge: Option<bool>,
    /// Who takes over the courses the deleted user owns, by id or username (default: the
    /// caller).
    pub reassign_courses_to: Option<String>,
}

/// A list filter inside a bulk request (the same fields as the list's query string).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    pub status: Option<String>,
    pub user_type: Option<String>,
    pub branch: Option<String>,
    pub group: Option<String>,
    /// Text search, as in the list (`q` is read too).
    #[serde(alias = "q")]
    pub search: Option<String>,
    pub last_login_before: Option<String>,
    pub idle_days: Option<i64>,
    pub never_logged_in: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub action: BulkActionKind,
    /// The users, by id; or give `filter` instead.
    pub ids: Option<Vec<i64>>,
    /// Every user the filter matches.
    pub filter: Option<BulkFilter>,
    /// For add_to_group / remove_from_group.
    pub group: Option<String>,
    /// For add_to_branch / remove_from_branch.
    pub branch: Option<String>,
    /// For change_type.
    pub user_type: Option<String>,
    /// For delete: the number of users it will delete.
    pub confirm: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub results: Vec<BulkOutcome>,
}

#[derive(Serialize, ToSchema)]
pub struct JobAccepted {
    pub job_id: i64,
    pub total: usize,
    /// Poll this for progress and per-user outcomes.
    pub status_url: String,
}

/// A user named in a path or a query: a number is an id, anything else a username.
fn key(id: &str) -> UserKey {
    UserRef::parse(id).key()
}

/// A user as a request body names them: by id (a JSON number) or by username (a string).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UserRef {
    Id(i64),
    Username(String),
}

impl UserRef {
    /// How a path segment or query value names a user: all digits is an id, anything else a
    /// username (so an all-digit username is reached by its id).
    pub fn parse(s: &str) -> UserRef {
        match s.parse::<i64>() {
            Ok(id) if s.bytes().all(|b| b.is_ascii_digit()) => UserRef::Id(id),
            _ => UserRef::Username(s.to_owned()),
        }
    }

    pub fn key(&self) -> UserKey {
        match self {
            UserRef::Id(id) => UserKey::Id(UserId(*id)),
            UserRef::Username(name) => UserKey::Username(name.clone()),
        }
    }
}

/// List users, filtered, sorted and paged
#[utoipa::path(get, path = "/users", tag = "users", params(ListUsersQuery),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_users(c: Caller, ApiQuery(q): ApiQuery<ListUsersQuery>) -> ApiResult<Json<UserPage>> {
    Ok(Json(c.service.list_users(&c.ctx, &q.into_filter()?).await?))
}

/// Create a user
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_user(c: Caller, ApiJson(b): ApiJson<CreateUser>) -> ApiResult<(StatusCode, Json<UserView>)> {
    let input = NewUser {
        username: b.username,
        email: b.email,
        first_name: b.first_name,
        last_name: b.last_name,
        password: b.password,
        user_type: b.user_type,
        branches: b.branches,
        groups: b.groups,
        active: true,
        external_id: b.external_id,
        exclude_from_emails: b.exclude_from_emails,
        deactivate_at: parse_opt_time("deactivate_at", b.deactivate_at.as_deref())?,
        reactivate_at: parse_opt_time("reactivate_at", b.reactivate_at.as_deref())?,
        send_welcome: b.send_welcome,
        idle_exempt: b.idle_exempt,
    };
    Ok((StatusCode::CREATED, Json(c.service.create_user(&c.ctx, input).await?)))
}

/// One user
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = String, Path, description = "the user's id, or their username")),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_user(c: Caller, ApiPath(id): ApiPath<String>) -> ApiResult<Json<UserView>> {
    Ok(Json(c.service.get_user(&c.ctx, &key(&id)).await?))
}

/// Change a user
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = String, Path, description = "the user's id, or their username")), request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_user(
    c: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    let deactivate_at = match b.deactivate_at {
        None => None,
        Some(d) => Some(parse_opt_time("deactivate_at", d.as_deref())?),
    };
    let reactivate_at = match b.reactivate_at {
        None => None,
        Some(d) => Some(parse_opt_time("reactivate_at", d.as_deref())?),
    };
    let upd = UserUpdate {
        username: b.username,
        user_type: b.user_type,
        email: b.email,
        first_name: b.first_name,
        last_name: b.last_name,
        password: b.password,
        add_branches: b.add_branches,
        remove_branches: b.remove_branches,
        add_groups: b.add_groups,
        remove_groups: b.remove_groups,
        external_id: b.external_id,
        exclude_from_emails: b.exclude_from_emails,
        deactivate_at,
        reactivate_at,
        sso_subject: b.sso_subject,
        idle_exempt: b.idle_exempt,
    };
    Ok(Json(c.service.update_user(&c.ctx, &key(&id), upd).await?))
}

/// Move a user to the trash, or erase them
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = String, Path, description = "the user's id, or their username"), DeleteQuery),
    responses((status = 200, body = UserView, description = "moved to the trash"), (status = 204, description = "purged"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_user(
    c: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> ApiResult<Response> {
    let purge = q.purge.unwrap_or(false);
    Ok(
        match c
            .service
            .delete_user(
                &c.ctx,
                &key(&id),
                q.confirm.as_deref(),
                purge,
                q.reassign_courses_to.as_deref().map(key).as_ref(),
            )
            .await?
        {
            Some(view) => Json(view).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

#[derive(Serialize, ToSchema)]
pub struct SessionsEnded {
    /// How many console sessions ended.
    pub ended: u64,
}

/// Signs the user out of every console session (their API tokens stay). Anyone may do it
/// for themselves; for others it takes the right to change that user.
#[utoipa::path(delete, path = "/users/{id}/sessions", tag = "users", params(("id" = String, Path, description = "the user's id, or their username")),
    responses((status = 200, body = SessionsEnded), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn end_sessions(c: Caller, ApiPath(id): ApiPath<String>) -> ApiResult<Json<SessionsEnded>> {
    let ended = c.service.end_sessions(&c.ctx, &key(&id)).await?;
    Ok(Json(SessionsEnded { ended }))
}

macro_rules! lifecycle_route {
    ($name:ident, $path:literal, $method:ident, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "users", params(("id" = String, Path, description = "the user's id, or their username")),
            responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
            security(("bearer" = [])))]
        pub async fn $name(c: Caller, ApiPath(id): ApiPath<String>) -> ApiResult<Json<UserView>> {
            Ok(Json(c.service.$method(&c.ctx, &key(&id)).await?))
        }
    };
}

lifecycle_route!(
    deactivate_user,
    "/users/{id}/deactivate",
    deactivate_user,
    "Frees the seat; keeps every record."
);
lifecycle_route!(
    activate_user,
    "/users/{id}/activate",
    activate_user,
    "Needs a free seat."
);
lifecycle_route!(
    restore_user,
    "/users/{id}/restore",
    restore_user,
    "Back from the trash, deactivated."
);

/// Act on many users at once (a job past 100)
#[utoipa::path(post, path = "/users/bulk", tag = "users", request_body = BulkRequest,
    responses((status = 200, body = BulkResult, description = "done at once (up to 100 users)"), (status = 202, body = JobAccepted, description = "running as a background job"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn bulk(c: Caller, ApiJson(b): ApiJson<BulkRequest>) -> ApiResult<Response> {
    let args = BulkArguments {
        group: b.group,
        branch: b.branch,
        user_type: b.user_type,
    };
    let action = BulkAction::new(b.action, args)?;
    let targets = match (b.ids, b.filter) {
        (Some(ids), None) => BulkTargets::Ids(ids),
        (None, Some(f)) => BulkTargets::Filter(
            ListUsersQuery {
                status: f.status,
                user_type: f.user_type,
                branch: f.branch,
                group: f.group,
                search: f.search,
                last_login_before: f.last_login_before,
                idle_days: f.idle_days,
                never_logged_in: f.never_logged_in,
                ..ListUsersQuery::default()
            }
            .into_filter()?,
        ),
        _ => return Err(ApiError::bad_request("give either \"ids\" or \"filter\"")),
    };
    let ids = c.service.bulk_targets(&c.ctx, &action, &targets, b.confirm).await?;
    if ids.len() <= SYNC_BULK_LIMIT {
        let results = c.service.bulk_apply(&c.ctx, &action, &ids).await;
        let failed = results.iter().filter(|r| !r.ok).count();
        return Ok(Json(BulkResult {
            total: results.len(),
            succeeded: results.len() - failed,
            failed,
            results,
        })
        .into_response());
    }
    let (job, run) = c.service.start_bulk_job(&c.ctx, &action, &ids).await?;
    let (service, job_id, total) = (c.service.clone(), job.id, ids.len());
    // Run here; should this instance stop, another takes the job over (see jobs.rs).
    tokio::spawn(async move {
        if let Err(e) = service.system().run_bulk_job(run).await {
            tracing::error!(job = job_id, error = %e, "bulk job failed");
        }
    });
    let accepted = JobAccepted {
        job_id,
        total,
        status_url: format!("/api/v1/jobs/{job_id}"),
    };
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// `results_next` of the previous response: the next page of per-user outcomes.
    pub results_after: Option<i64>,
    /// Outcomes per page, 1 to 10,000 (default 1,000).
    pub results_limit: Option<i64>,
}

/// A bulk job's progress and outcomes
#[utoipa::path(get, path = "/jobs/{id}", tag = "users", params(("id" = i64, Path), JobQuery),
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_job(
    c: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> ApiResult<Json<JobView>> {
    let page = ResultsPage {
        after: q.results_after,
        limit: q.results_limit,
    };
    Ok(Json(c.service.job(&c.ctx, id, page).await?))
}
