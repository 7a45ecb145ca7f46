//! Courses and learning records: who may create, enroll, progress and grade, and what
//! lifecycle moves do to the records.

use super::admin::AuditEntryView;
use super::users::{UserKey, UserView};
use super::{AuditFilter, Change, Public, Service};
use crate::actor::{Context, Principal};
use crate::audit;
use crate::audit::AuditAction;
use crate::domain::course::{self, new_certificate_code};
use crate::domain::*;
use crate::ports::{ReadTx, Tx};
use crate::{ConflictCode, Entity, Error, Result, RuleCode};
use serde::Serialize;
use serde_json::json;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CourseView {
    pub code: String,
    pub name: String,
    pub description: String,
    pub status: CourseStatus,
    pub owner: String,
    pub units: i64,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentView {
    pub user_id: i64,
    pub username: String,
    pub course: String,
    pub course_name: String,
    pub role: CourseRole,
    pub enrolled_at: String,
    pub units_completed: i64,
    pub units: i64,
    pub progress_pct: i64,
    pub completed_at: Option<String>,
    pub grade: Option<i64>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateView {
    pub code: String,
    pub course: String,
    pub course_name: String,
    pub holder: String,
    pub issued_at: String,
}

/// Everything held about one person (subject access): profile, learning records, and the
/// audit entries about them.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubjectExport {
    pub profile: UserView,
    pub enrollments: Vec<EnrollmentView>,
    pub certificates: Vec<CertificateView>,
    pub audit: Vec<AuditEntryView>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OffboardReport {
    pub user: UserView,
    pub courses_reassigned: u64,
    pub new_owner: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct NewCourse {
    pub code: String,
    pub name: String,
    pub description: String,
    /// Default: the caller.
    pub owner: Option<String>,
    pub units: i64,
    pub status: Option<String>,
}

impl Service {
    async fn course_view(&self, tx: &mut dyn ReadTx, c: &Course) -> Result<CourseView> {
        let owner = tx
            .user_by_id(c.owner_id)
            .await?
            .map(|u| u.username.to_string())
            .unwrap_or_default();
        Ok(CourseView {
            code: c.code.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            status: c.status,
            owner,
            units: c.units,
            created_at: format_millis(c.created_at),
        })
    }

    pub(crate) async fn course(&self, tx: &mut dyn ReadTx, code: &str) -> Result<Course> {
        tx.course_by_code(&name_key(code.trim()))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Course, code))
    }

    /// A user within the caller's branch scope (a course owner, or an owner asked for).
    async fn seen_user(&self, tx: &mut dyn ReadTx, who: &Principal, key: &UserKey) -> Result<User> {
        let user = self
            .user_by_key(tx, key)
            .await?
            .filter(|u| u.status != UserStatus::Trash)
            .ok_or_else(|| Error::not_found(Entity::User, key))?;
        let branches: Vec<BranchId> = tx.user_branches(user.id).await?.into_iter().map(|b| b.id).collect();
        if !who.sees(&branches) {
            return Err(Error::not_found(Entity::User, key));
        }
        Ok(user)
    }

    /// The user a course action names, within the caller's reach. Those who manage users
    /// reach them as for any change (a branch administrator: only users all of whose
    /// branches are theirs). Everyone else — an instructor acting on their own course —
    /// learns nothing about accounts they couldn't otherwise see: they enroll active
    /// learners named by username, and record progress or grades only for users enrolled in
    /// the course; anything else is "not found", whether the account exists or not.
    async fn course_member(&self, tx: &mut dyn Tx, who: &Principal, key: &UserKey, purpose: MemberFor) -> Result<User> {
        let not_found = || Error::not_found(Entity::User, key);
        let own = matches!(key, UserKey::Id(id) if who.user_id == Some(*id));
        let manages_users = who.areas.contains(Area::UsersManage);
        if !manages_users && !own && matches!((key, purpose), (UserKey::Id(_), MemberFor::Enroll)) {
            return Err(Error::invalid("username", "name the learner to enroll by username"));
        }
        let user = self
            .user_by_key(tx, key)
            .await?
            .filter(|u| u.status != UserStatus::Trash)
            .ok_or_else(not_found)?;
        if who.user_id == Some(user.id) {
            return Ok(user);
        }
        if manages_users {
            let branches: Vec<BranchId> = tx.user_branches(user.id).await?.into_iter().map(|b| b.id).collect();
            if !who.sees(&branches) {
                return Err(not_found());
            }
            let t = self.type_by_id(tx, user.user_type_id).await?;
            who.require_change(&user, &t, &branches)?;
            return Ok(user);
        }
        let reachable = match purpose {
            MemberFor::Enroll => {
                user.status == UserStatus::Active
                    && self.type_by_id(tx, user.user_type_id).await?.base == BaseRole::Learner
            }
            MemberFor::Enrolled(course) => tx.enrollment(user.id, course).await?.is_some(),
        };
        if reachable { Ok(user) } else { Err(not_found()) }
    }

    /// Whether the caller manages `c`: all courses (administrators; branch administrators for
    /// owners in their branches), or their own.
    pub(crate) async fn manages(&self, tx: &mut dyn ReadTx, who: &Principal, c: &Course) -> Result<bool> {
        if who.areas.contains(Area::CoursesManageAll) {
            let owner_branches: Vec<BranchId> = tx.user_branches(c.owner_id).await?.into_iter().map(|b| b.id).collect();
            return Ok(who.sees(&owner_branches));
        }
        Ok(who.areas.contains(Area::CoursesEditOwn) && who.user_id == Some(c.owner_id))
    }

    async fn require_manages(&self, tx: &mut dyn Tx, who: &Principal, c: &Course) -> Result<()> {
        if self.manages(tx, who, c).await? {
            Ok(())
        } else {
            Err(Error::forbidden(format!("course '{}' is not one you manage", c.code)))
        }
    }

    /// A user who can own courses: active, of a type that creates or manages courses.
    async fn course_owner(&self, tx: &mut dyn Tx, who: &Principal, key: &UserKey) -> Result<User> {
        let owner = self.seen_user(tx, who, key).await?;
        let t = self.type_by_id(tx, owner.user_type_id).await?;
        if !owner.status.holds_seat()
            || !(t.areas.contains(Area::CoursesCreate) || t.areas.contains(Area::CoursesManageAll))
        {
            return Err(Error::rule(
                RuleCode::NotACourseOwner,
                format!(
                    "'{}' can't own courses: an owner is an active instructor or administrator",
                    owner.username
                ),
            ));
        }
        Ok(owner)
    }

    pub async fn create_course(&self, ctx: &Context, input: NewCourse) -> Result<CourseView> {
        let code = course::validate_code(&input.code)?;
        let name = org::validate_org_name("name", &input.name)?;
        let units = course::validate_units(input.units)?;
        let status = input
            .status
            .as_deref()
            .map(CourseStatus::parse)
            .transpose()?
            .unwrap_or(CourseStatus::Published);
        self.write(ctx, Some(Area::CoursesCreate), async |tx, who| {
            let owner_key = match (&input.owner, who.user_id) {
                (Some(o), _) => UserKey::from(o.as_str()),
                (None, Some(me)) => UserKey::Id(me),
                (None, None) => return Err(Error::invalid("owner", "name the course's owner")),
            };
            let owner = self.course_owner(&mut **tx, who, &owner_key).await?;
            if Some(owner.id) != who.user_id {
                who.require(Area::CoursesManageAll)?;
            }
            if tx.course_by_code(&name_key(&code)).await?.is_some() {
                return Err(Error::conflict(
                    ConflictCode::CourseExists,
                    format!("a course with code '{code}' already exists"),
                ));
            }
            let now = self.now();
            let c: Course<Unsaved> = Course {
                id: Unsaved,
                code,
                name,
                description: input.description.trim().to_owned(),
                status,
                owner_id: owner.id,
                units,
                created_at: now,
                updated_at: now,
            };
            let id = tx.insert_course(&c).await?;
            let c = c.saved(id);
            let changes = json!({ "code": c.code, "name": c.name, "owner": audit::person(owner.id), "units": units });
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::other(AuditAction::CourseCreate, "course", Some(c.id.0), &c.code, changes),
            )
            .await?;
            let view = self.course_view(&mut **tx, &c).await?;
            Ok(view)
        })
        .await
    }

    /// Courses the caller may see: all (managers), their own (instructors), or the ones
    /// they are enrolled in (learners). `orphaned`: only courses whose owner isn't active.
    pub async fn list_courses(&self, ctx: &Context, owner: Option<&str>, orphaned: bool) -> Result<Vec<CourseView>> {
        self.read(ctx, None, async |tx, who| {
            if orphaned {
                who.require(Area::ReportsAll)?;
            }
            let owner_id = match owner {
                Some(o) => {
                    // Only those who see others' courses may ask by owner (no probing for users).
                    if !who.areas.contains(Area::CoursesManageAll) && !who.areas.contains(Area::ReportsAll) {
                        return Err(Error::forbidden(
                            "listing courses by owner needs the 'courses.manage_all' permission",
                        ));
                    }
                    Some(self.seen_user(&mut **tx, who, &UserKey::from(o)).await?.id)
                }
                None => None,
            };
            let mut out = vec![];
            let courses = tx.list_courses(owner_id, orphaned).await?;
            let enrolled: Vec<CourseId> = match who.user_id {
                Some(me) => tx
                    .enrollments_of_user(me)
                    .await?
                    .into_iter()
                    .map(|e| e.course_id)
                    .collect(),
                None => vec![],
            };
            for c in courses {
                if self.manages(&mut **tx, who, &c).await? || enrolled.contains(&c.id) {
                    out.push(self.course_view(&mut **tx, &c).await?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// The caller's own courses with their enrollments, for grading: one read. Any type
    /// with grading may ask (an instructor too, who can't list courses by owner).
    pub async fn teaching(&self, ctx: &Context) -> Result<Vec<(CourseView, Vec<EnrollmentView>)>> {
        self.read(ctx, Some(Area::Grading), async |tx, who| {
            let me = who
                .user_id
                .ok_or_else(|| Error::forbidden("only a user owns courses"))?;
            let mut out = vec![];
            for c in tx.list_courses(Some(me), false).await? {
                let enrollments = self.course_enrollment_views(&mut **tx, &c).await?;
                out.push((self.course_view(&mut **tx, &c).await?, enrollments));
            }
            Ok(out)
        })
        .await
    }

    /// One course, when the caller may see it as `list_courses` would list it; to anyone
    /// else it doesn't exist, so course codes can't be probed.
    pub async fn get_course(&self, ctx: &Context, code: &str) -> Result<CourseView> {
        self.read(ctx, None, async |tx, who| {
            let c = self.course(&mut **tx, code).await?;
            let enrolled = match who.user_id {
                Some(me) => tx.enrollment(me, c.id).await?.is_some(),
                None => false,
            };
            if !(enrolled || self.manages(&mut **tx, who, &c).await?) {
                return Err(Error::not_found(Entity::Course, code));
            }
            self.course_view(&mut **tx, &c).await
        })
        .await
    }

    async fn enrollment_view(&self, tx: &mut dyn ReadTx, e: &Enrollment, c: &Course) -> Result<EnrollmentView> {
        let username = tx
            .user_by_id(e.user_id)
            .await?
            .map(|u| u.username.to_string())
            .unwrap_or_default();
        Ok(EnrollmentView::new(e, c, username))
    }
}

impl EnrollmentView {
    fn new(e: &Enrollment, c: &Course, username: String) -> EnrollmentView {
        EnrollmentView {
            user_id: e.user_id.0,
            username,
            course: c.code.clone(),
            course_name: c.name.clone(),
            role: e.role,
            enrolled_at: format_millis(e.enrolled_at),
            units_completed: e.units_completed,
            units: c.units,
            progress_pct: e.progress_pct(c.units),
            completed_at: e.completed_at.map(format_millis),
            grade: e.grade,
        }
    }
}

/// What a course action wants of the user it names.
#[derive(Clone, Copy)]
enum MemberFor {
    /// Enrolling them.
    Enroll,
    /// Recording progress or a grade in this course, where they must be enrolled.
    Enrolled(CourseId),
}

impl Service {
    /// Enrolls inside `tx` (no permission check: the caller decided). Returns whether new.
    pub(crate) async fn enroll_in(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        user: &User,
        c: &Course,
        role: CourseRole,
    ) -> Result<bool> {
        let e = Enrollment {
            user_id: user.id,
            course_id: c.id,
            role,
            enrolled_at: self.now(),
            units_completed: 0,
            completed_at: None,
            grade: None,
        };
        let new = tx.insert_enrollment(&e).await?;
        if new {
            let change = Change::user(
                AuditAction::CourseEnroll,
                user,
                json!({ "course": c.code, "role": role.as_str() }),
            );
            self.record(tx, ctx, who, change).await?;
        }
        Ok(new)
    }

    /// Enrols each (user id, username) in each course as a learner, as [`Service::enroll_in`]
    /// does one pair, with multi-row statements (an import's batch): a pair already enrolled
    /// is left as it is, each new enrolment audited.
    pub(crate) async fn enroll_all_in(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        pairs: &[(UserId, &str, &Course)],
    ) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        let pairs: Vec<&(UserId, &str, &Course)> = pairs.iter().filter(|(u, _, c)| seen.insert((*u, c.id))).collect();
        if pairs.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let rows: Vec<Enrollment> = pairs
            .iter()
            .map(|(user_id, _, c)| Enrollment {
                user_id: *user_id,
                course_id: c.id,
                role: CourseRole::Learner,
                enrolled_at: now,
                units_completed: 0,
                completed_at: None,
                grade: None,
            })
            .collect();
        let written: std::collections::HashSet<(UserId, CourseId)> =
            tx.insert_enrollments(&rows).await?.into_iter().collect();
        let changes = pairs
            .iter()
            .filter(|(u, _, c)| written.contains(&(*u, c.id)))
            .map(|(u, name, c)| {
                let change = json!({ "course": c.code, "role": CourseRole::Learner.as_str() });
                Change::of_user(AuditAction::CourseEnroll, *u, name, change)
            })
            .collect();
        self.record_all(tx, ctx, who, changes).await
    }

    /// Enrolls a group's new member in the group's courses.
    pub(crate) async fn enroll_in_group_courses(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        group: GroupId,
        user: &User,
    ) -> Result<()> {
        for id in tx.group_course_ids(group).await? {
            if let Some(c) = tx.course_by_id(id).await? {
                self.enroll_in(tx, ctx, who, user, &c, CourseRole::Learner).await?;
            }
        }
        Ok(())
    }

    pub async fn enroll(&self, ctx: &Context, user: &UserKey, code: &str, role: CourseRole) -> Result<EnrollmentView> {
        self.write(ctx, None, async |tx, who| {
            if !who.areas.contains(Area::CoursesManageAll) {
                who.require(Area::CoursesEnrollLearners)?;
            }
            let c = self.course(&mut **tx, code).await?;
            self.require_manages(&mut **tx, who, &c).await?;
            if role == CourseRole::Instructor {
                who.require(Area::CoursesManageAll)?;
            }
            let user = self.course_member(&mut **tx, who, user, MemberFor::Enroll).await?;
            self.enroll_in(&mut **tx, ctx, who, &user, &c, role).await?;
            let e = tx
                .enrollment(user.id, c.id)
                .await?
                .ok_or_else(|| Error::internal("enrollment vanished"))?;
            let view = self.enrollment_view(&mut **tx, &e, &c).await?;
            Ok(view)
        })
        .await
    }

    pub async fn course_enrollments(&self, ctx: &Context, code: &str) -> Result<Vec<EnrollmentView>> {
        self.read(ctx, None, async |tx, who| {
            let c = self.course(&mut **tx, code).await?;
            if !(self.manages(&mut **tx, who, &c).await?
                && (who.areas.contains(Area::LearnersViewOwn) || who.areas.contains(Area::CoursesManageAll)))
            {
                return Err(Error::forbidden(format!("course '{}' is not one you manage", c.code)));
            }
            let mut views = self.course_enrollment_views(&mut **tx, &c).await?;
            // A branch administrator manages courses whose owner is in their branches, but
            // sees only the learners of their branches among those enrolled.
            if let Some(mine) = who.branch_ids() {
                let my_names: std::collections::HashSet<String> = tx
                    .branches()
                    .await?
                    .into_iter()
                    .filter(|b| mine.contains(&b.id))
                    .map(|b| b.name)
                    .collect();
                let ids: Vec<UserId> = views.iter().map(|v| UserId(v.user_id)).collect();
                let seen: std::collections::HashSet<i64> = tx
                    .branch_names_of(&ids)
                    .await?
                    .into_iter()
                    .filter(|(_, name)| my_names.contains(name))
                    .map(|(u, _)| u.0)
                    .collect();
                views.retain(|v| seen.contains(&v.user_id));
            }
            Ok(views)
        })
        .await
    }

    /// A course's enrollments with their usernames, looked up in one read.
    async fn course_enrollment_views(&self, tx: &mut dyn ReadTx, c: &Course) -> Result<Vec<EnrollmentView>> {
        let enrollments = tx.enrollments_of_course(c.id).await?;
        let ids: Vec<UserId> = enrollments.iter().map(|e| e.user_id).collect();
        let names: std::collections::HashMap<UserId, String> = tx.usernames_of(&ids).await?.into_iter().collect();
        Ok(enrollments
            .iter()
            .map(|e| EnrollmentView::new(e, c, names.get(&e.user_id).cloned().unwrap_or_default()))
            .collect())
    }

    /// Records unit `unit` done. Learners complete their own units, in order; course managers
    /// may record them for anyone enrolled. The last unit completes the course and issues
    /// the certificate.
    pub async fn complete_unit(&self, ctx: &Context, user: &UserKey, code: &str, unit: i64) -> Result<EnrollmentView> {
        self.write(ctx, None, async |tx, who| {
            let c = self.course(&mut **tx, code).await?;
            // Permission before the user lookup, so a learner can't probe who exists.
            let names_self = match (user, who.user_id) {
                (UserKey::Id(id), Some(me)) => *id == me,
                _ => false,
            };
            if !names_self {
                self.require_manages(&mut **tx, who, &c).await?;
            }
            let target = self
                .course_member(&mut **tx, who, user, MemberFor::Enrolled(c.id))
                .await?;
            let own = who.user_id == Some(target.id);
            if own {
                who.require(Area::CoursesTake)?;
            } else {
                self.require_manages(&mut **tx, who, &c).await?;
            }
            let mut e = tx.lock_enrollment(target.id, c.id).await?.ok_or_else(|| {
                Error::rule(
                    RuleCode::NotEnrolled,
                    format!("'{}' is not enrolled in '{}'", target.username, c.code),
                )
            })?;
            if !(1..=c.units).contains(&unit) {
                return Err(Error::invalid(
                    "unit",
                    format!("course '{}' has units 1 to {}", c.code, c.units),
                ));
            }
            if unit > e.units_completed + 1 {
                return Err(Error::rule(
                    RuleCode::UnitOrder,
                    format!(
                        "units are taken in order: complete unit {} first",
                        e.units_completed + 1
                    ),
                ));
            }
            let now = self.now();
            if tx.complete_unit(target.id, c.id, unit, now).await? {
                e.units_completed = e.units_completed.max(unit);
                let mut changes = json!({ "course": c.code, "unit": unit });
                if e.units_completed == c.units && e.completed_at.is_none() {
                    e.completed_at = Some(now);
                    let cert = Certificate {
                        id: 0,
                        code: new_certificate_code(),
                        user_id: target.id,
                        course_id: c.id,
                        issued_at: now,
                    };
                    tx.insert_certificate(&cert).await?;
                    changes["completed"] = json!(true);
                    changes["certificate"] = json!(cert.code);
                }
                tx.update_enrollment(&e).await?;
                self.record(
                    &mut **tx,
                    ctx,
                    who,
                    Change::user(AuditAction::CourseUnitComplete, &target, changes),
                )
                .await?;
            }
            let view = self.enrollment_view(&mut **tx, &e, &c).await?;
            Ok(view)
        })
        .await
    }

    /// Grades an enrollment: the course's owner or a manager; never one's own.
    pub async fn grade(&self, ctx: &Context, user: &UserKey, code: &str, grade: i64) -> Result<EnrollmentView> {
        let grade = course::validate_grade(grade)?;
        self.write(ctx, Some(Area::Grading), async |tx, who| {
            let c = self.course(&mut **tx, code).await?;
            self.require_manages(&mut **tx, who, &c).await?;
            let target = self
                .course_member(&mut **tx, who, user, MemberFor::Enrolled(c.id))
                .await?;
            if who.user_id == Some(target.id) {
                return Err(Error::forbidden("nobody grades themselves"));
            }
            let mut e = tx.lock_enrollment(target.id, c.id).await?.ok_or_else(|| {
                Error::rule(
                    RuleCode::NotEnrolled,
                    format!("'{}' is not enrolled in '{}'", target.username, c.code),
                )
            })?;
            let before = e.grade;
            e.grade = Some(grade);
            tx.update_enrollment(&e).await?;
            let changes = json!({ "course": c.code, "grade": [before, grade] });
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::user(AuditAction::CourseGrade, &target, changes),
            )
            .await?;
            let view = self.enrollment_view(&mut **tx, &e, &c).await?;
            Ok(view)
        })
        .await
    }

    /// The caller's own courses, with progress.
    pub async fn my_courses(&self, ctx: &Context) -> Result<Vec<EnrollmentView>> {
        self.read(ctx, Some(Area::ProgressViewOwn), async |tx, who| {
            let me = who
                .user_id
                .ok_or_else(|| Error::invalid("user", "only a signed-in user has courses of their own"))?;
            let mut out = vec![];
            for e in tx.enrollments_of_user(me).await? {
                if let Some(c) = tx.course_by_id(e.course_id).await? {
                    out.push(self.enrollment_view(&mut **tx, &e, &c).await?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn certificate_view(&self, tx: &mut dyn ReadTx, cert: &Certificate) -> Result<CertificateView> {
        let c = tx
            .course_by_id(cert.course_id)
            .await?
            .ok_or_else(|| Error::internal("certificate without a course"))?;
        let holder = tx
            .user_by_id(cert.user_id)
            .await?
            .map(|u| format!("{} {}", u.first_name, u.last_name))
            .unwrap_or_default();
        Ok(CertificateView {
            code: cert.code.clone(),
            course: c.code,
            course_name: c.name,
            holder,
            issued_at: format_millis(cert.issued_at),
        })
    }

    /// Puts a course on a group: its members (and everyone who joins later) are enrolled.
    pub async fn add_group_course(&self, ctx: &Context, group: &str, code: &str) -> Result<usize> {
        self.write(ctx, Some(Area::GroupsManage), async |tx, who| {
            let g = self.group_by_name(&mut **tx, group).await?;
            if who.branch_ids().is_some() && !g.branch_id.is_some_and(|b| who.sees(&[b])) {
                return Err(Error::not_found(Entity::Group, group));
            }
            let c = self.course(&mut **tx, code).await?;
            self.require_manages(&mut **tx, who, &c).await?;
            let mut enrolled = 0;
            if tx.add_group_course(g.id, c.id).await? {
                self.record(
                    &mut **tx,
                    ctx,
                    who,
                    Change::other(
                        AuditAction::GroupAddCourse,
                        "group",
                        Some(g.id.0),
                        &g.name,
                        json!({ "course": c.code }),
                    ),
                )
                .await?;
                for id in tx.group_member_ids(g.id).await? {
                    let Some(u) = tx.user_by_id(id).await? else {
                        continue;
                    };
                    // A branch administrator's course reaches only the members they could
                    // enroll one by one: not those who also belong to other branches.
                    if who.branch_ids().is_some() {
                        let branches: Vec<BranchId> = tx.user_branches(u.id).await?.into_iter().map(|b| b.id).collect();
                        let t = self.type_by_id(&mut **tx, u.user_type_id).await?;
                        if who.require_change(&u, &t, &branches).is_err() {
                            continue;
                        }
                    }
                    if self.enroll_in(&mut **tx, ctx, who, &u, &c, CourseRole::Learner).await? {
                        enrolled += 1;
                    }
                }
            }
            Ok(enrolled)
        })
        .await
    }

    /// A learner joins a group by its key, and so its courses.
    pub async fn join_group(&self, ctx: &Context, key: &str) -> Result<Vec<EnrollmentView>> {
        self.write(ctx, Some(Area::CoursesSelfEnroll), async |tx, who| {
            let me = who
                .user_id
                .ok_or_else(|| Error::invalid("user", "only a user joins a group by its key"))?;
            let g = tx
                .group_by_join_key(key.trim())
                .await?
                .ok_or_else(|| Error::not_found(Entity::GroupKey, "(the key given)"))?;
            let user = tx.user_by_id(me).await?.ok_or(Error::Unauthenticated)?;
            if tx.add_group_member(g.id, me).await? {
                self.record(
                    &mut **tx,
                    ctx,
                    who,
                    Change::user(AuditAction::GroupJoin, &user, json!({ "group": g.name })),
                )
                .await?;
                self.enroll_in_group_courses(&mut **tx, ctx, who, g.id, &user).await?;
            }
            let mut out = vec![];
            for e in tx.enrollments_of_user(me).await? {
                if let Some(c) = tx.course_by_id(e.course_id).await? {
                    out.push(self.enrollment_view(&mut **tx, &e, &c).await?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Moves the courses `user` owns to `to` (or the acting user), inside `tx`.
    pub(crate) async fn reassign_owned_courses(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        user: &User,
        to: Option<&UserKey>,
    ) -> Result<(u64, Option<User>)> {
        if tx.count_owned_courses(user.id).await? == 0 {
            return Ok((0, None));
        }
        let key = match (to, who.user_id) {
            (Some(k), _) => k.clone(),
            (None, Some(me)) => UserKey::Id(me),
            (None, None) => {
                return Err(Error::invalid(
                    "reassign_courses_to",
                    format!(
                        "'{}' owns courses: name their new owner (--reassign-courses-to)",
                        user.username
                    ),
                ));
            }
        };
        let new_owner = self.course_owner(tx, who, &key).await?;
        if new_owner.id == user.id {
            return Err(Error::invalid(
                "reassign_courses_to",
                "the new owner must be someone else",
            ));
        }
        let n = tx.reassign_courses(user.id, new_owner.id).await?;
        let change = json!({ "courses_reassigned": n, "to": audit::person(new_owner.id) });
        self.record(tx, ctx, who, Change::user(AuditAction::CourseReassign, user, change))
            .await?;
        Ok((n, Some(new_owner)))
    }

    /// Deactivates, reassigns owned courses, and revokes tokens — one transaction.
    pub async fn offboard(
        &self,
        ctx: &Context,
        key: &UserKey,
        reassign_to: Option<&UserKey>,
    ) -> Result<OffboardReport> {
        self.write(ctx, None, async |tx, who| {
            let reached = self.reach_to_change(&mut **tx, who, key).await?;
            let unchanged = reached.user.clone();
            let user = self
                .transition(
                    &mut **tx,
                    ctx,
                    who,
                    reached,
                    crate::domain::user::LifecycleAction::Deactivate,
                )
                .await?
                .unwrap_or(unchanged);
            let (n, new_owner) = self
                .reassign_owned_courses(&mut **tx, ctx, who, &user, reassign_to)
                .await?;
            tx.revoke_user_tokens(user.id, self.now()).await?;
            let change =
                json!({ "courses_reassigned": n, "new_owner": new_owner.as_ref().map(|o| audit::person(o.id)) });
            let new_owner = new_owner.map(|o| o.username.to_string());
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::user(AuditAction::UserOffboard, &user, change),
            )
            .await?;
            let view = self.view_of(&mut **tx, &user).await?;
            Ok(OffboardReport {
                user: view,
                courses_reassigned: n,
                new_owner,
            })
        })
        .await
    }

    /// A user's courses and certificates: one's own (with the own-progress area), or a user
    /// within reach for those who manage users.
    pub async fn learning_record(
        &self,
        ctx: &Context,
        key: &UserKey,
    ) -> Result<(Vec<EnrollmentView>, Vec<CertificateView>)> {
        let id = {
            let mut txb = self.store.begin_read().await?;
            let who = self.principal(txb.as_mut(), ctx).await?;
            match (key, who.user_id) {
                (UserKey::Id(id), Some(me)) if *id == me => {
                    who.require(Area::ProgressViewOwn)?;
                    me
                }
                _ => {
                    who.require(Area::UsersManage)?;
                    // Reached through get_user: out of scope reads as not found.
                    UserId(self.get_user(ctx, key).await?.id)
                }
            }
        };
        let mut txb = self.store.begin_read().await?;
        self.records_of(txb.as_mut(), id).await
    }

    /// A user's enrollments and certificates, unchecked: callers decide who may see them.
    async fn records_of(&self, tx: &mut dyn ReadTx, id: UserId) -> Result<(Vec<EnrollmentView>, Vec<CertificateView>)> {
        let mut enrollments = vec![];
        for e in tx.enrollments_of_user(id).await? {
            if let Some(c) = tx.course_by_id(e.course_id).await? {
                enrollments.push(self.enrollment_view(tx, &e, &c).await?);
            }
        }
        let mut certificates = vec![];
        for cert in tx.certificates_of_user(id).await? {
            certificates.push(self.certificate_view(tx, &cert).await?);
        }
        Ok((enrollments, certificates))
    }

    /// Everything held about a user, as one document (for whoever may read the audit log).
    pub async fn export_subject(&self, ctx: &Context, key: &UserKey) -> Result<SubjectExport> {
        {
            let mut tx = self.store.begin_read().await?;
            self.principal(tx.as_mut(), ctx).await?.require(Area::AuditView)?;
        }
        let profile = self.get_user(ctx, key).await?;
        let mut txb = self.store.begin_read().await?;
        let tx = txb.as_mut();
        let (enrollments, certificates) = self.records_of(tx, UserId(profile.id)).await?;
        drop(txb);
        let mut audit = vec![];
        let mut filter = AuditFilter {
            target: Some(profile.username.clone()),
            limit: Some(1000),
            ..AuditFilter::default()
        };
        loop {
            // With the caller's own rights: an export never shows more than they may see.
            let page = self.list_audit(ctx, &filter).await?;
            let last = page.last().map(|e| e.id);
            let full = page.len() == 1000;
            audit.extend(page);
            match (full, last) {
                (true, Some(l)) => filter.before = Some(l),
                _ => break,
            }
        }
        Ok(SubjectExport {
            profile,
            enrollments,
            certificates,
            audit,
        })
    }
}

impl Public<'_> {
    /// Confirms a certificate by its code, to anyone who has the code (no sign-in).
    pub async fn verify_certificate(self, code: &str) -> Result<CertificateView> {
        let code = code.trim().to_ascii_uppercase();
        if code.len() != 20 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::not_found(Entity::Certificate, code));
        }
        let mut tx = self.service.store.begin_read().await?;
        let cert = tx
            .certificate_by_code(&code)
            .await?
            .ok_or_else(|| Error::not_found(Entity::Certificate, &code))?;
        self.service.certificate_view(tx.as_mut(), &cert).await
    }
}
