//! `/api/v1/plan`, `/api/v1/reports/…`, `/api/v1/audit`, `/api/v1/settings`, `/api/v1/tokens`,
//! `/api/v1/daily-jobs`.

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::parse_opt_time;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollcall_core::domain::{PlanTier, TokenScope};
use rollcall_core::service::*;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// The plan and its seats
#[utoipa::path(get, path = "/plan", tag = "plan and seats",
    responses((status = 200, body = PlanView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_plan(c: Caller) -> ApiResult<Json<PlanView>> {
    Ok(Json(c.service.plan(&c.ctx).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPlan {
    /// free, core, grow, pro or enterprise.
    pub plan: String,
    /// Enterprise only.
    pub seats: Option<i64>,
}

/// Record the plan bought
#[utoipa::path(put, path = "/plan", tag = "plan and seats", request_body = SetPlan,
    responses((status = 200, body = PlanView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_plan(c: Caller, ApiJson(b): ApiJson<SetPlan>) -> ApiResult<Json<PlanView>> {
    let tier = PlanTier::parse(&b.plan)?;
    Ok(Json(c.service.set_plan(&c.ctx, tier, b.seats).await?.into()))
}

/// Seats used and free, the trend and the forecast
#[utoipa::path(get, path = "/reports/seats", tag = "plan and seats",
    responses((status = 200, body = SeatReport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn seat_report(c: Caller) -> ApiResult<Json<SeatReport>> {
    Ok(Json(c.service.seat_report(&c.ctx).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IdleQuery {
    /// Not signed in for this many days; omit for never signed in.
    pub days: Option<i64>,
}

/// Active accounts not signed in lately
#[utoipa::path(get, path = "/reports/idle", tag = "plan and seats", params(IdleQuery),
    responses((status = 200, body = IdleReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn idle_report(c: Caller, ApiQuery(q): ApiQuery<IdleQuery>) -> ApiResult<Response> {
    // Streamed, as a million idle accounts would not fit in memory: `seats_held` comes
    // after `users`, counted from the rows sent.
    let mut open = serde_json::Map::new();
    open.insert("days".into(), q.days.into());
    let format = super::stream::JsonObject {
        open,
        key: "users",
        close: |rows: u64| serde_json::Map::from_iter([("seats_held".to_owned(), rows.into())]),
    };
    let body = super::stream::users(c, idle_filter(q.days), format).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditListQuery {
    /// YYYY-MM-DD or RFC 3339.
    pub since: Option<String>,
    /// Username of the acting user.
    pub actor: Option<String>,
    /// Username of the user acted on.
    pub target: Option<String>,
    /// Exactly this action, such as `user.deactivate`.
    pub action: Option<String>,
    /// Entries older than this entry id (for paging back).
    pub before: Option<i64>,
    /// 1 to 1,000 (default 100).
    pub limit: Option<i64>,
}

/// The audit log, newest first
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditListQuery),
    responses((status = 200, body = Vec<AuditEntryView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_audit(c: Caller, ApiQuery(q): ApiQuery<AuditListQuery>) -> ApiResult<Json<Vec<AuditEntryView>>> {
    let filter = AuditFilter {
        since: parse_opt_time("since", q.since.as_deref())?,
        actor: q.actor,
        target: q.target,
        action: q.action.as_deref().map(AuditAction::parse).transpose()?,
        before: q.before,
        limit: q.limit,
    };
    Ok(Json(c.service.list_audit(&c.ctx, &filter).await?))
}

/// Every setting with its value and default
#[utoipa::path(get, path = "/settings", tag = "settings",
    responses((status = 200, body = Vec<SettingView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_settings(c: Caller) -> ApiResult<Json<Vec<SettingView>>> {
    Ok(Json(c.service.settings(&c.ctx).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSetting {
    pub value: String,
}

/// Change a setting
#[utoipa::path(put, path = "/settings/{key}", tag = "settings", params(("key" = String, Path)), request_body = SetSetting,
    responses((status = 200, body = SettingView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_setting(
    c: Caller,
    ApiPath(key): ApiPath<String>,
    ApiJson(b): ApiJson<SetSetting>,
) -> ApiResult<Json<SettingView>> {
    Ok(Json(c.service.set_setting(&c.ctx, &key, &b.value).await?))
}

/// List API and SCIM tokens (never their secrets)
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    responses((status = 200, body = Vec<TokenView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tokens(c: Caller) -> ApiResult<Json<Vec<TokenView>>> {
    Ok(Json(c.service.list_tokens(&c.ctx).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// `api` (acts as `user_id`) or `scim` (acts as the identity provider).
    pub scope: String,
    /// The user an API token acts as, by id (a number) or username (a string).
    pub user_id: Option<super::users::UserRef>,
    /// YYYY-MM-DD or RFC 3339; default: never expires.
    pub expires_at: Option<String>,
}

/// Issue a token (shown once)
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, body = IssuedToken, description = "the token is in this response and nowhere else"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_token(c: Caller, ApiJson(b): ApiJson<CreateToken>) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    let scope = TokenScope::parse(&b.scope)?;
    let user = b.user_id.as_ref().map(super::users::UserRef::key);
    let expires_at = parse_opt_time("expires_at", b.expires_at.as_deref())?;
    let issued = c
        .service
        .create_token(&c.ctx, &b.name, scope, user.as_ref(), expires_at)
        .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Revoke a token
#[utoipa::path(delete, path = "/tokens/{name}", tag = "tokens", params(("name" = String, Path)),
    responses((status = 200, body = TokenView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_token(c: Caller, ApiPath(name): ApiPath<String>) -> ApiResult<Json<TokenView>> {
    Ok(Json(c.service.revoke_token(&c.ctx, &name).await?))
}

/// The daily jobs: last run, outcome, next run
#[utoipa::path(get, path = "/daily-jobs", tag = "daily jobs",
    responses((status = 200, body = Vec<DailyJobView>, description = "each daily job: its latest run, that run's outcome and its next run"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_daily_jobs(c: Caller) -> ApiResult<Json<Vec<DailyJobView>>> {
    Ok(Json(c.service.list_jobs(&c.ctx).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RunDailyJob {
    /// Report what the job would do, and write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Run a daily job now
#[utoipa::path(post, path = "/daily-jobs/{name}/run", tag = "daily jobs",
    params(("name" = String, Path, description = "scheduled-lifecycle, trash-purge, seat-snapshot, idle-policy or seat-alerts")),
    request_body = RunDailyJob,
    responses((status = 200, body = JobRunReport, description = "what the run did (or would do)"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "job_running: another run of the job holds its lease"), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn run_daily_job(
    c: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<RunDailyJob>,
) -> ApiResult<Json<JobRunReport>> {
    Ok(Json(c.service.run_job(&c.ctx, &name, b.dry_run).await?))
}
