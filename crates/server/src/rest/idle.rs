//! `/api/v1/idle-policy`: the idle-account policy, its preview, a run, the warned accounts.

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, Caller};
use axum::Json;
use rollcall_core::service::{IdlePolicyUpdate, IdlePolicyView, IdlePreview, IdleRun, IdleWarningView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The idle-account policy
#[utoipa::path(get, path = "/idle-policy", tag = "idle policy",
    responses((status = 200, body = IdlePolicyView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_idle_policy(c: Caller) -> ApiResult<Json<IdlePolicyView>> {
    Ok(Json(c.service.idle_policy(&c.ctx).await?))
}

/// Changes to the policy; a field left out stays as it is. A list given replaces the
/// stored one (`[]` empties it).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SetIdlePolicy {
    pub enabled: Option<bool>,
    /// Idle after this many days without a sign-in (0: at once).
    pub idle_days: Option<i64>,
    /// Idle after this many days for an account that never signed in (from its creation).
    pub never_signed_in_days: Option<i64>,
    /// The warning mail goes this many days before the deactivation (0: none).
    pub warn_days: Option<i64>,
    /// A reactivated account is left alone this many days.
    pub grace_days: Option<i64>,
    /// Percent of the active accounts a run may deactivate without confirmation (0–100).
    pub max_share: Option<i64>,
    /// User type names.
    pub exempt_types: Option<Vec<String>>,
    pub exempt_groups: Option<Vec<String>>,
    pub exempt_branches: Option<Vec<String>>,
}

/// Change the idle-account policy
#[utoipa::path(patch, path = "/idle-policy", tag = "idle policy", request_body = SetIdlePolicy,
    responses((status = 200, body = IdlePolicyView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_idle_policy(c: Caller, ApiJson(b): ApiJson<SetIdlePolicy>) -> ApiResult<Json<IdlePolicyView>> {
    let upd = IdlePolicyUpdate {
        enabled: b.enabled,
        idle_days: b.idle_days,
        never_signed_in_days: b.never_signed_in_days,
        warn_days: b.warn_days,
        grace_days: b.grace_days,
        max_share: b.max_share,
        exempt_types: b.exempt_types,
        exempt_groups: b.exempt_groups,
        exempt_branches: b.exempt_branches,
    };
    Ok(Json(c.service.set_idle_policy(&c.ctx, upd).await?))
}

/// Whom a run of the idle policy would warn and deactivate
#[utoipa::path(get, path = "/idle-policy/preview", tag = "idle policy",
    responses((status = 200, body = IdlePreview), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn preview(c: Caller) -> ApiResult<Json<IdlePreview>> {
    Ok(Json(c.service.idle_preview(&c.ctx).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RunIdlePolicy {
    /// Deactivate even past the safety cap (`max_share`).
    #[serde(default)]
    pub confirm: bool,
}

/// Run the idle policy now
#[utoipa::path(post, path = "/idle-policy/run", tag = "idle policy", request_body = RunIdlePolicy,
    responses((status = 200, body = IdleRun, description = "the run; `held` when the safety cap held it back and nothing was written"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody, description = "the policy is off")),
    security(("bearer" = [])))]
pub async fn run(c: Caller, ApiJson(b): ApiJson<RunIdlePolicy>) -> ApiResult<Json<IdleRun>> {
    Ok(Json(c.service.run_idle_policy(&c.ctx, b.confirm).await?))
}

#[derive(Serialize, ToSchema)]
pub struct WarnedPage {
    /// Soonest deadline first.
    pub items: Vec<IdleWarningView>,
    /// Always null: the list comes whole.
    pub next_cursor: Option<String>,
}

/// Accounts warned, with their deadlines
#[utoipa::path(get, path = "/idle-policy/warned", tag = "idle policy",
    responses((status = 200, body = WarnedPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn warned(c: Caller) -> ApiResult<Json<WarnedPage>> {
    Ok(Json(WarnedPage {
        items: c.service.idle_warnings(&c.ctx).await?,
        next_cursor: None,
    }))
}
