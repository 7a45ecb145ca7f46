//! Row types as both drivers decode them, and their conversion to domain types. Stored
//! values are re-parsed on the way out, so a hand-edited database can't smuggle in a value
//! the domain would refuse.

use rollcall_core::Result;
use rollcall_core::domain::*;
use rollcall_core::ports::{AuditRow, PersonalData};

pub(crate) const USER_COLUMNS: &str = "u.id, u.username, u.email, u.first_name, u.last_name, u.user_type_id, u.status, \
     u.origin, u.external_id, u.exclude_from_emails, u.password_hash IS NOT NULL AS has_password, \
     u.created_at, u.updated_at, u.last_login_at, u.deactivated_at, u.deleted_at, u.deactivate_at, u.reactivate_at, u.scim_linked, u.idle_exempt, u.reactivated_at, u.idle_warned_at, u.idle_deadline";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    username: String,
    email: String,
    first_name: String,
    last_name: String,
    user_type_id: i64,
    status: String,
    origin: String,
    external_id: Option<String>,
    exclude_from_emails: bool,
    has_password: bool,
    created_at: i64,
    updated_at: i64,
    last_login_at: Option<i64>,
    deactivated_at: Option<i64>,
    deleted_at: Option<i64>,
    deactivate_at: Option<i64>,
    reactivate_at: Option<i64>,
    scim_linked: bool,
    idle_exempt: bool,
    reactivated_at: Option<i64>,
    idle_warned_at: Option<i64>,
    idle_deadline: Option<i64>,
}

impl UserRow {
    pub(crate) fn into_user(self) -> Result<User> {
        Ok(User {
            id: UserId(self.id),
            username: Username::parse(&self.username)?,
            email: Email::parse(&self.email)?,
            first_name: PersonName::parse("first_name", &self.first_name)?,
            last_name: PersonName::parse("last_name", &self.last_name)?,
            user_type_id: UserTypeId(self.user_type_id),
            status: UserStatus::parse(&self.status)?,
            origin: Origin::parse(&self.origin)?,
            external_id: self.external_id,
            exclude_from_emails: self.exclude_from_emails,
            has_password: self.has_password,
            created_at: self.created_at,
            updated_at: self.updated_at,
            last_login_at: self.last_login_at,
            deactivated_at: self.deactivated_at,
            deleted_at: self.deleted_at,
            deactivate_at: self.deactivate_at,
            reactivate_at: self.reactivate_at,
            scim_linked: self.scim_linked,
            idle_exempt: self.idle_exempt,
            reactivated_at: self.reactivated_at,
            idle_warned_at: self.idle_warned_at,
            idle_deadline: self.idle_deadline,
        })
    }
}

pub(crate) const TYPE_COLUMNS: &str = "id, name, base, builtin, areas";

#[derive(sqlx::FromRow)]
pub(crate) struct TypeRow {
    id: i64,
    name: String,
    base: String,
    builtin: bool,
    areas: String,
}

impl TypeRow {
    pub(crate) fn into_type(self) -> Result<UserType> {
        let base = BaseRole::from_key(&self.base)
            .ok_or_else(|| rollcall_core::Error::internal(format!("unknown base '{}' in storage", self.base)))?;
        if self.builtin {
            return Ok(UserType::builtin(base));
        }
        Ok(UserType {
            id: UserTypeId(self.id),
            name: self.name,
            base,
            builtin: false,
            areas: AreaSet::parse_names(&self.areas)?,
        })
    }
}

pub(crate) const BRANCH_COLUMNS: &str =
    "b.id, b.name, b.slug, b.description, b.default_type_id, b.seat_cap, b.active_users";

#[derive(sqlx::FromRow)]
pub(crate) struct BranchRow {
    id: i64,
    name: String,
    slug: String,
    description: String,
    default_type_id: Option<i64>,
    seat_cap: Option<i64>,
    active_users: i64,
}

impl From<BranchRow> for Branch {
    fn from(r: BranchRow) -> Branch {
        Branch {
            id: BranchId(r.id),
            name: r.name,
            slug: r.slug,
            description: r.description,
            default_type_id: r.default_type_id.map(UserTypeId),
            seat_cap: r.seat_cap,
            active_users: r.active_users,
        }
    }
}

pub(crate) const GROUP_COLUMNS: &str =
    "g.id, g.name, g.branch_id, g.join_key, g.description, g.external_id, g.scim_linked, g.created_at, g.updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    id: i64,
    name: String,
    branch_id: Option<i64>,
    join_key: Option<String>,
    description: String,
    external_id: Option<String>,
    scim_linked: bool,
    created_at: i64,
    updated_at: i64,
}

impl From<GroupRow> for Group {
    fn from(r: GroupRow) -> Group {
        Group {
            id: GroupId(r.id),
            name: r.name,
            branch_id: r.branch_id.map(BranchId),
            key: r.join_key,
            description: r.description,
            external_id: r.external_id,
            scim_linked: r.scim_linked,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PlanRow {
    pub tier: String,
    pub seat_limit: i64,
    pub seats_used: i64,
}

impl PlanRow {
    pub(crate) fn into_plan(self) -> Result<PlanState> {
        Ok(PlanState {
            tier: PlanTier::parse(&self.tier)?,
            seat_limit: self.seat_limit,
            seats_used: self.seats_used,
        })
    }
}

pub(crate) const AUDIT_COLUMNS: &str = "a.id, a.at, a.actor_kind, a.actor_user_id, a.actor_ref, a.channel, a.action, \
     a.target_kind, a.target_id, a.request_id, a.personal_digest, a.tag, a.refused_at, a.chain_seq, a.prev_hash, a.hash, \
     p.entry_id AS personal_entry, p.salt, p.data, p.erased_at";

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRowRaw {
    id: i64,
    at: i64,
    actor_kind: String,
    actor_user_id: Option<i64>,
    actor_ref: Option<String>,
    channel: String,
    action: String,
    target_kind: Option<String>,
    target_id: Option<i64>,
    request_id: Option<String>,
    personal_digest: String,
    tag: Option<String>,
    refused_at: Option<i64>,
    chain_seq: Option<i64>,
    prev_hash: Option<String>,
    hash: Option<String>,
    personal_entry: Option<i64>,
    salt: Option<String>,
    data: Option<String>,
    erased_at: Option<i64>,
}

impl From<AuditRowRaw> for AuditRow {
    fn from(r: AuditRowRaw) -> AuditRow {
        AuditRow {
            id: r.id,
            at: r.at,
            actor_kind: r.actor_kind,
            actor_user_id: r.actor_user_id.map(UserId),
            actor_ref: r.actor_ref,
            channel: r.channel,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            request_id: r.request_id,
            personal_digest: r.personal_digest,
            tag: r.tag,
            refused_at: r.refused_at,
            chain_seq: r.chain_seq,
            prev_hash: r.prev_hash,
            hash: r.hash,
            personal: r.personal_entry.map(|_| PersonalData {
                salt: r.salt,
                data: r.data,
                erased_at: r.erased_at,
            }),
        }
    }
}

pub(crate) const TOKEN_COLUMNS: &str =
    "id, name, scope, user_id, lookup, secret_hash, created_at, expires_at, revoked_at";

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    id: i64,
    name: String,
    scope: String,
    user_id: Option<i64>,
    lookup: String,
    secret_hash: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenRow {
    pub(crate) fn into_token(self) -> Result<Token> {
        Ok(Token {
            id: self.id,
            name: self.name,
            scope: TokenScope::parse(&self.scope)?,
            user_id: self.user_id.map(UserId),
            lookup: self.lookup,
            secret_hash: self.secret_hash,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        })
    }
}

pub(crate) const JOB_COLUMNS: &str = "id, kind, status, created_by, total, done, failed, results, created_at, finished_at, \
     action, actor, channel, request_id, lease_until";

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: i64,
    kind: String,
    status: String,
    created_by: Option<i64>,
    total: i64,
    done: i64,
    failed: i64,
    results: String,
    created_at: i64,
    finished_at: Option<i64>,
    action: Option<String>,
    actor: Option<String>,
    channel: Option<String>,
    request_id: Option<String>,
    lease_until: Option<i64>,
}

impl From<JobRow> for rollcall_core::ports::JobRecord {
    fn from(r: JobRow) -> Self {
        rollcall_core::ports::JobRecord {
            id: r.id,
            kind: r.kind,
            status: r.status,
            created_by: r.created_by.map(UserId),
            total: r.total,
            done: r.done,
            failed: r.failed,
            results: r.results,
            created_at: r.created_at,
            finished_at: r.finished_at,
            action: r.action,
            actor: r.actor,
            channel: r.channel,
            request_id: r.request_id,
            lease_until: r.lease_until,
        }
    }
}

pub(crate) const MAIL_COLUMNS: &str = "id, user_id, to_address, template, subject, body, status, attempts, next_attempt_at, \
     last_error, created_at, sent_at, link_purpose";

#[derive(sqlx::FromRow)]
pub(crate) struct MailRow {
    id: i64,
    user_id: Option<i64>,
    to_address: String,
    template: String,
    subject: String,
    body: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
    link_purpose: Option<String>,
}

impl From<MailRow> for rollcall_core::ports::OutboxMail {
    fn from(r: MailRow) -> Self {
        rollcall_core::ports::OutboxMail {
            id: r.id,
            user_id: r.user_id.map(UserId),
            to_address: r.to_address,
            template: r.template,
            subject: r.subject,
            body: r.body,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
            link_purpose: r.link_purpose,
        }
    }
}

pub(crate) const COURSE_COLUMNS: &str =
    "c.id, c.code, c.name, c.description, c.status, c.owner_id, c.units, c.created_at, c.updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct CourseRow {
    id: i64,
    code: String,
    name: String,
    description: String,
    status: String,
    owner_id: i64,
    units: i64,
    created_at: i64,
    updated_at: i64,
}

impl CourseRow {
    pub(crate) fn into_course(self) -> Result<Course> {
        Ok(Course {
            id: CourseId(self.id),
            code: self.code,
            name: self.name,
            description: self.description,
            status: CourseStatus::parse(&self.status)?,
            owner_id: UserId(self.owner_id),
            units: self.units,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

pub(crate) const ENROLLMENT_COLUMNS: &str =
    "user_id, course_id, role, enrolled_at, units_completed, completed_at, grade";

#[derive(sqlx::FromRow)]
pub(crate) struct EnrollmentRow {
    user_id: i64,
    course_id: i64,
    role: String,
    enrolled_at: i64,
    units_completed: i64,
    completed_at: Option<i64>,
    grade: Option<i64>,
}

impl EnrollmentRow {
    pub(crate) fn into_enrollment(self) -> Result<Enrollment> {
        Ok(Enrollment {
            user_id: UserId(self.user_id),
            course_id: CourseId(self.course_id),
            role: CourseRole::parse(&self.role)?,
            enrolled_at: self.enrolled_at,
            units_completed: self.units_completed,
            completed_at: self.completed_at,
            grade: self.grade,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CertificateRow {
    id: i64,
    code: String,
    user_id: i64,
    course_id: i64,
    issued_at: i64,
}

impl From<CertificateRow> for Certificate {
    fn from(r: CertificateRow) -> Certificate {
        Certificate {
            id: r.id,
            code: r.code,
            user_id: UserId(r.user_id),
            course_id: CourseId(r.course_id),
            issued_at: r.issued_at,
        }
    }
}
