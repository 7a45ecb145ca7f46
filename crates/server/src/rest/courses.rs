//! `/api/v1/courses`, enrollments and progress, `/api/v1/me/courses`,
//! `/api/v1/certificates/{code}` (no sign-in), group courses and keys, offboarding, the
//! subject export, and the orphaned-courses report.

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rollcall_core::domain::{CourseRole, UserId};
use rollcall_core::service::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A user named in a path: a number is an id, anything else a username.
fn key(id: &str) -> UserKey {
    super::users::UserRef::parse(id).key()
}

#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CourseListQuery {
    /// Only courses this username owns.
    pub owner: Option<String>,
    /// Only courses whose owner isn't active.
    pub orphaned: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCourse {
    pub code: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The owner's username (default: the caller).
    pub owner: Option<String>,
    /// How many units, taken in order (1 to 500).
    pub units: i64,
    /// draft, published (default) or archived.
    pub status: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Enroll {
    /// The learner by id (for those who manage users) …
    pub user_id: Option<i64>,
    /// … or by username (instructors name learners by username).
    pub username: Option<String>,
    /// learner (default) or instructor.
    pub role: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetGrade {
    /// 0 to 100.
    pub grade: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupCourse {
    pub course: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinGroup {
    pub key: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Offboard {
    /// Who takes over the courses the user owns, by id or username (default: the caller).
    pub reassign_courses_to: Option<super::users::UserRef>,
}

#[derive(Serialize, ToSchema)]
pub struct Enrolled {
    /// How many members were newly enrolled.
    pub enrolled: usize,
}

/// List courses
#[utoipa::path(get, path = "/courses", tag = "courses", params(CourseListQuery),
    responses((status = 200, body = Vec<CourseView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_courses(c: Caller, ApiQuery(q): ApiQuery<CourseListQuery>) -> ApiResult<Json<Vec<CourseView>>> {
    Ok(Json(
        c.service
            .list_courses(&c.ctx, q.owner.as_deref(), q.orphaned.unwrap_or(false))
            .await?,
    ))
}

/// Create a course
#[utoipa::path(post, path = "/courses", tag = "courses", request_body = CreateCourse,
    responses((status = 201, body = CourseView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_course(c: Caller, ApiJson(b): ApiJson<CreateCourse>) -> ApiResult<(StatusCode, Json<CourseView>)> {
    let input = NewCourse {
        code: b.code,
        name: b.name,
        description: b.description,
        owner: b.owner,
        units: b.units,
        status: b.status,
    };
    Ok((StatusCode::CREATED, Json(c.service.create_course(&c.ctx, input).await?)))
}

#[utoipa::path(get, path = "/courses/{code}", tag = "courses", params(("code" = String, Path)),
    responses((status = 200, body = CourseView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
/// A course its managers or its enrolled users may see; 404 to anyone else.
pub async fn get_course(c: Caller, ApiPath(code): ApiPath<String>) -> ApiResult<Json<CourseView>> {
    Ok(Json(c.service.get_course(&c.ctx, &code).await?))
}

/// A course's enrolments
#[utoipa::path(get, path = "/courses/{code}/enrollments", tag = "courses", params(("code" = String, Path)),
    responses((status = 200, body = Vec<EnrollmentView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_enrollments(c: Caller, ApiPath(code): ApiPath<String>) -> ApiResult<Json<Vec<EnrollmentView>>> {
    Ok(Json(c.service.course_enrollments(&c.ctx, &code).await?))
}

/// Enroll a user in a course
#[utoipa::path(post, path = "/courses/{code}/enrollments", tag = "courses", params(("code" = String, Path)), request_body = Enroll,
    responses((status = 200, body = EnrollmentView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn enroll(
    c: Caller,
    ApiPath(code): ApiPath<String>,
    ApiJson(b): ApiJson<Enroll>,
) -> ApiResult<Json<EnrollmentView>> {
    let role = b
        .role
        .as_deref()
        .map(CourseRole::parse)
        .transpose()?
        .unwrap_or(CourseRole::Learner);
    let user = match (b.user_id, b.username) {
        (Some(id), None) => UserKey::Id(UserId(id)),
        (None, Some(name)) => UserKey::Username(name),
        _ => {
            return Err(rollcall_core::Error::invalid("user_id", "give either user_id or username").into());
        }
    };
    Ok(Json(c.service.enroll(&c.ctx, &user, &code, role).await?))
}

/// Record a completed unit
#[utoipa::path(post, path = "/courses/{code}/enrollments/{user_id}/units/{unit}", tag = "courses",
    params(("code" = String, Path), ("user_id" = String, Path, description = "the learner's id, or their username"), ("unit" = i64, Path)),
    responses((status = 200, body = EnrollmentView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn complete_unit(
    c: Caller,
    ApiPath((code, user_id, unit)): ApiPath<(String, String, i64)>,
) -> ApiResult<Json<EnrollmentView>> {
    Ok(Json(
        c.service.complete_unit(&c.ctx, &key(&user_id), &code, unit).await?,
    ))
}

/// Set a learner's grade
#[utoipa::path(put, path = "/courses/{code}/enrollments/{user_id}/grade", tag = "courses",
    params(("code" = String, Path), ("user_id" = String, Path, description = "the learner's id, or their username")), request_body = SetGrade,
    responses((status = 200, body = EnrollmentView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn grade(
    c: Caller,
    ApiPath((code, user_id)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<SetGrade>,
) -> ApiResult<Json<EnrollmentView>> {
    Ok(Json(c.service.grade(&c.ctx, &key(&user_id), &code, b.grade).await?))
}

/// The caller's own courses and progress
#[utoipa::path(get, path = "/me/courses", tag = "courses",
    responses((status = 200, body = Vec<EnrollmentView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn my_courses(c: Caller) -> ApiResult<Json<Vec<EnrollmentView>>> {
    Ok(Json(c.service.my_courses(&c.ctx).await?))
}

/// Anyone holding a certificate's code can confirm it; no sign-in.
#[utoipa::path(get, path = "/certificates/{code}", tag = "courses", params(("code" = String, Path)),
    responses((status = 200, body = CertificateView), (status = 404, body = ErrorBody)),
    security(()))]
pub async fn verify_certificate(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<CertificateView>> {
    Ok(Json(state.service.public().verify_certificate(&code).await?))
}

/// Put a course on a group
#[utoipa::path(post, path = "/groups/{name}/courses", tag = "groups", params(("name" = String, Path)), request_body = GroupCourse,
    responses((status = 200, body = Enrolled), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_group_course(
    c: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(b): ApiJson<GroupCourse>,
) -> ApiResult<Json<Enrolled>> {
    Ok(Json(Enrolled {
        enrolled: c.service.add_group_course(&c.ctx, &name, &b.course).await?,
    }))
}

/// Join a group with its key
#[utoipa::path(post, path = "/groups/join", tag = "groups", request_body = JoinGroup,
    responses((status = 200, body = Vec<EnrollmentView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn join_group(c: Caller, ApiJson(b): ApiJson<JoinGroup>) -> ApiResult<Json<Vec<EnrollmentView>>> {
    Ok(Json(c.service.join_group(&c.ctx, &b.key).await?))
}

/// Offboard a user: deactivate, hand over courses, end access
#[utoipa::path(post, path = "/users/{id}/offboard", tag = "users", params(("id" = String, Path, description = "the user's id, or their username")), request_body = Offboard,
    responses((status = 200, body = OffboardReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn offboard(
    c: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<Offboard>,
) -> ApiResult<Json<OffboardReport>> {
    let to = b.reassign_courses_to.as_ref().map(super::users::UserRef::key);
    Ok(Json(c.service.offboard(&c.ctx, &key(&id), to.as_ref()).await?))
}

/// Everything held about a user
#[utoipa::path(get, path = "/users/{id}/export", tag = "users", params(("id" = String, Path, description = "the user's id, or their username")),
    responses((status = 200, body = SubjectExport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn export_subject(c: Caller, ApiPath(id): ApiPath<String>) -> ApiResult<Json<SubjectExport>> {
    Ok(Json(c.service.export_subject(&c.ctx, &key(&id)).await?))
}

/// Courses whose owner is not active
#[utoipa::path(get, path = "/reports/orphaned-courses", tag = "courses",
    responses((status = 200, body = Vec<CourseView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn orphaned_courses(c: Caller) -> ApiResult<Json<Vec<CourseView>>> {
    Ok(Json(c.service.list_courses(&c.ctx, None, true).await?))
}
