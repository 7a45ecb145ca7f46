//! `/api/v1/user-types`, `/api/v1/branches`, `/api/v1/groups`.

use super::double_option;
use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::users::ListUsersQuery;
use axum::Json;
use axum::http::StatusCode;
use rollcall_core::domain::Area;
use rollcall_core::service::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn areas(names: &[String]) -> ApiResult<Vec<Area>> {
    Ok(names
        .iter()
        .map(|n| Area::parse(n))
        .collect::<rollcall_core::Result<_>>()?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateType {
    pub name: String,
    /// The built-in type it is cloned from: `administrator`, `branch-administrator` (with
    /// areas denied, a limited administrator), `instructor` or `learner`.
    pub base: String,
    /// Feature areas of the base to switch off.
    #[serde(default)]
    pub deny: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditType {
    /// Areas to switch on (never beyond the base).
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub deny: Vec<String>,
}

/// List user types and their feature areas
#[utoipa::path(get, path = "/user-types", tag = "user types",
    responses((status = 200, body = Vec<TypeView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_types(c: Caller) -> ApiResult<Json<Vec<TypeView>>> {
    Ok(Json(c.service.list_types(&c.ctx).await?))
}

/// Create a custom user type
#[utoipa::path(post, path = "/user-types", tag = "user types", request_body = CreateType,
    responses((status = 201, body = TypeView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_type(c: Caller, ApiJson(b): ApiJson<CreateType>) -> ApiResult<(StatusCode, Json<TypeView>)> {
    let t = c
        .service
        .create_type(&c.ctx, &b.name, &b.base, &areas(&b.deny)?)
        .await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Switch a custom type's feature areas on or off
#[utoipa::path(patch, path = "/user-types/{name}", tag = "user types", params(("name" = String, Path)), request_body = EditType,
    responses((status = 200, body = TypeView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn edit_type(
    c: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<EditType>,
) -> ApiResult<Json<TypeView>> {
    Ok(Json(
        c.service
            .edit_type(&c.ctx, &name, &areas(&b.allow)?, &areas(&b.deny)?)
            .await?,
    ))
}

/// Delete an unused custom user type
#[utoipa::path(delete, path = "/user-types/{name}", tag = "user types", params(("name" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_type(c: Caller, ApiPath(name): ApiPath<String>) -> ApiResult<StatusCode> {
    c.service.delete_type(&c.ctx, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBranch {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub default_type: Option<String>,
    pub seat_cap: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBranch {
    /// A type name; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub default_type: Option<Option<String>>,
    /// `null` removes the cap.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub seat_cap: Option<Option<i64>>,
}

/// List branches
#[utoipa::path(get, path = "/branches", tag = "branches",
    responses((status = 200, body = Vec<BranchView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_branches(c: Caller) -> ApiResult<Json<Vec<BranchView>>> {
    Ok(Json(c.service.list_branches(&c.ctx).await?))
}

/// Create a branch
#[utoipa::path(post, path = "/branches", tag = "branches", request_body = CreateBranch,
    responses((status = 201, body = BranchView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_branch(c: Caller, ApiJson(b): ApiJson<CreateBranch>) -> ApiResult<(StatusCode, Json<BranchView>)> {
    let input = NewBranch {
        name: b.name,
        description: b.description,
        default_type: b.default_type,
        seat_cap: b.seat_cap,
    };
    Ok((StatusCode::CREATED, Json(c.service.add_branch(&c.ctx, input).await?)))
}

/// Change a branch's default type or seat cap
#[utoipa::path(patch, path = "/branches/{name}", tag = "branches", params(("name" = String, Path)), request_body = UpdateBranch,
    responses((status = 200, body = BranchView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_branch(
    c: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<UpdateBranch>,
) -> ApiResult<Json<BranchView>> {
    Ok(Json(
        c.service.set_branch(&c.ctx, &name, b.default_type, b.seat_cap).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub branch: Option<String>,
    /// The code a learner types to join.
    pub key: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Members {
    /// The users, each by id (a number) or by username (a string).
    pub user_ids: Vec<super::users::UserRef>,
}

#[derive(Serialize, ToSchema)]
pub struct MembersChanged {
    /// How many memberships changed (members already in, or already out, are left alone).
    pub changed: usize,
}

/// List groups
#[utoipa::path(get, path = "/groups", tag = "groups",
    responses((status = 200, body = Vec<GroupView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_groups(c: Caller) -> ApiResult<Json<Vec<GroupView>>> {
    Ok(Json(c.service.list_groups(&c.ctx).await?))
}

/// Create a group
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = CreateGroup,
    responses((status = 201, body = GroupView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_group(c: Caller, ApiJson(b): ApiJson<CreateGroup>) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let input = NewGroup {
        name: b.name,
        description: b.description,
        branch: b.branch,
        key: b.key,
    };
    Ok((StatusCode::CREATED, Json(c.service.add_group(&c.ctx, input).await?)))
}

/// A group's members
#[utoipa::path(get, path = "/groups/{name}/members", tag = "groups", params(("name" = String, Path), ListUsersQuery),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_members(
    c: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListUsersQuery>,
) -> ApiResult<Json<UserPage>> {
    let mut filter = q.into_filter()?;
    filter.group = Some(name);
    Ok(Json(c.service.list_users(&c.ctx, &filter).await?))
}

fn keys(ids: &[super::users::UserRef]) -> Vec<UserKey> {
    ids.iter().map(super::users::UserRef::key).collect()
}

/// Add members to a group
#[utoipa::path(post, path = "/groups/{name}/members", tag = "groups", params(("name" = String, Path)), request_body = Members,
    responses((status = 200, body = MembersChanged), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_members(
    c: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<Members>,
) -> ApiResult<Json<MembersChanged>> {
    let changed = c.service.add_group_members(&c.ctx, &name, &keys(&b.user_ids)).await?;
    Ok(Json(MembersChanged { changed }))
}

/// Take a member out of a group
#[utoipa::path(delete, path = "/groups/{name}/members/{user_id}", tag = "groups", params(("name" = String, Path), ("user_id" = String, Path, description = "the member's id, or their username")),
    responses((status = 200, body = MembersChanged), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_member(
    c: Caller,
    ApiPath((name, user_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<MembersChanged>> {
    let changed = c
        .service
        .remove_group_members(&c.ctx, &name, &keys(&[super::users::UserRef::parse(&user_id)]))
        .await?;
    Ok(Json(MembersChanged { changed }))
}
