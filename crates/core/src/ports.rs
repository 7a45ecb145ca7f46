//! The storage port: what the service layer needs from a database. `rollcall-store`
//! implements it once for SQLite and PostgreSQL.
//!
//! Every method runs inside a [`Tx`]; a service opens one transaction per call, so a change
//! and its audit entry commit together or not at all.

use crate::Result;
use crate::domain::*;
use async_trait::async_trait;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A transaction that will write. On SQLite it takes the write lock at once, so
    /// concurrent writers queue (up to the busy timeout) instead of failing mid-way.
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    /// A transaction that only reads.
    async fn begin_read(&self) -> Result<Box<dyn Tx>>;
    /// Readiness: the database answers.
    async fn ping(&self) -> Result<()>;
}

/// Filters of a user list; all optional, combined with AND.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    /// `None`: active and deactivated (never the trash unless asked for).
    pub status: Option<UserStatus>,
    pub type_id: Option<UserTypeId>,
    pub branch: Option<BranchId>,
    pub group: Option<GroupId>,
    /// Idle: never signed in, or last signed in before this time.
    pub idle_before: Option<Millis>,
    pub never_logged_in: bool,
    /// Substring of username, email, first or last name, case-insensitive.
    pub search: Option<String>,
    /// Branch scope of a branch administrator: only users in one of these.
    pub scope: Option<Vec<BranchId>>,
    /// The order of the list; every order ends with the id.
    pub order: UserOrder,
    /// Keyset pagination: users after this one in `order`. The store answers
    /// `InvalidInput` on `cursor` when that user no longer exists (erased from the trash).
    pub after: Option<UserCursor>,
    pub limit: i64,
    /// Offset pagination (SCIM's `startIndex`), applied after `after`.
    pub offset: Option<i64>,
    /// A structured condition (SCIM filters), translated to SQL by the store.
    pub predicate: Option<Pred<UserField>>,
    /// Only accounts the identity provider manages (or only those it doesn't).
    pub scim_linked: Option<bool>,
}

/// A condition over one kind of record, built by a channel (SCIM filters) and translated
/// to SQL by the store — never evaluated in memory.
#[derive(Clone, Debug, PartialEq)]
pub enum Pred<F> {
    And(Vec<Pred<F>>),
    Or(Vec<Pred<F>>),
    Not(Box<Pred<F>>),
    Cmp(F, CmpOp, PredValue),
    /// The field has a value.
    Present(F),
    Const(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    /// Contains.
    Co,
    /// Starts with.
    Sw,
    /// Ends with.
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PredValue {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// User fields a predicate can test. Text comparisons on `UserName`, `Email`, names, type
/// and department ignore case; `ExternalId` is case-exact (RFC 7643).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserField {
    Id,
    UserName,
    Email,
    GivenName,
    FamilyName,
    ExternalId,
    Active,
    /// The user type's name.
    UserType,
    /// The name of a branch the user is in.
    Department,
    /// Milliseconds since the epoch.
    Created,
    LastModified,
    /// The id of a group the user is in.
    GroupId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupField {
    Id,
    DisplayName,
    ExternalId,
    /// The id of a member.
    MemberId,
    Created,
    LastModified,
}

/// Filters of a group list (SCIM).
#[derive(Clone, Debug, Default)]
pub struct GroupQuery {
    pub predicate: Option<Pred<GroupField>>,
    pub scim_linked: Option<bool>,
    pub offset: Option<i64>,
    pub limit: i64,
}

/// Filters of the audit list.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub since: Option<Millis>,
    pub actor_user: Option<UserId>,
    pub target_user: Option<UserId>,
    /// Exactly this action (`user.deactivate` …).
    pub action: Option<String>,
    /// Entries with a smaller id (newest first).
    pub before: Option<i64>,
    pub limit: i64,
}

/// An audit entry about to be written.
#[derive(Clone, Debug)]
pub struct NewAuditEntry {
    pub at: Millis,
    pub actor_kind: String,
    pub actor_user_id: Option<UserId>,
    pub actor_ref: Option<String>,
    pub channel: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<i64>,
    pub request_id: Option<String>,
    /// SHA-256 of salt and personal data; the chain covers this, not the data.
    pub personal_digest: String,
    pub salt: String,
    /// JSON: actor and target names, changed values, source address.
    pub personal: String,
}

/// An audit entry as stored, with its personal data if not erased.
#[derive(Clone, Debug)]
pub struct AuditRow {
    pub id: i64,
    pub at: Millis,
    pub actor_kind: String,
    pub actor_user_id: Option<UserId>,
    pub actor_ref: Option<String>,
    pub channel: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<i64>,
    pub request_id: Option<String>,
    pub personal_digest: String,
    /// HMAC under the audit key, written with the entry (see `audit::AuditKey`).
    pub tag: Option<String>,
    /// Set when the sealer refused the row (no valid tag); it is never sealed.
    pub refused_at: Option<Millis>,
    pub chain_seq: Option<i64>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
    /// `None` when the personal-data row is missing (which verification reports).
    pub personal: Option<PersonalData>,
}

#[derive(Clone, Debug)]
pub struct PersonalData {
    /// `None` once erased by a purge.
    pub salt: Option<String>,
    pub data: Option<String>,
    pub erased_at: Option<Millis>,
}

/// A sign-in session, stored by the SHA-256 of its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: String,
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub expires_at: Millis,
}

/// Failed sign-ins under one key (an account or an address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInFailures {
    pub failures: i64,
    pub last_failure_at: Millis,
    pub blocked_until: Millis,
}

/// A message in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMail {
    pub id: i64,
    pub user_id: Option<UserId>,
    pub to_address: String,
    pub template: String,
    pub subject: String,
    pub body: String,
    /// `pending`, `sent` or `dead` (given up after repeated failures).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
    /// `set` or `reset`: the body holds a link of this purpose, minted when it is sent.
    pub link_purpose: Option<String>,
}

/// A set-password or reset link, stored as the SHA-256 of its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordToken {
    pub user_id: UserId,
    /// `set` or `reset`.
    pub purpose: String,
    pub token_hash: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// A background job (a large bulk action) and its progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    pub id: i64,
    pub kind: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    pub created_by: Option<UserId>,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    /// JSON array of per-user outcomes.
    pub results: String,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
    /// What resuming it needs: the action (JSON), who asked and through which channel.
    pub action: Option<String>,
    pub actor: Option<String>,
    pub channel: Option<String>,
    pub request_id: Option<String>,
    /// The instance running the job renews this; past it, another instance takes it over.
    pub lease_until: Option<Millis>,
}

/// The sealed end of the audit chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
    /// Positions from here on are keyed (authenticated); below it, sealed by a version of
    /// rollcall that had no audit key. Set by the migration, never by the service.
    pub keyed_from: i64,
    /// The sealer's HMAC over the head (see `audit::AuditKey::head_tag`).
    pub tag: Option<String>,
}

#[async_trait]
pub trait Tx: Send {
    async fn commit(self: Box<Self>) -> Result<()>;

    // --- users ---
    /// Inserts and returns the new id. A taken username or email surfaces as
    /// `UsernameTaken`/`EmailTaken` even when a concurrent insert won the race.
    async fn insert_user(&mut self, user: &User, password_hash: Option<&str>) -> Result<UserId>;
    async fn user_by_id(&mut self, id: UserId) -> Result<Option<User>>;
    /// Reads the user and locks the row until the transaction ends (PostgreSQL; SQLite's
    /// write transactions hold the database lock already).
    async fn lock_user(&mut self, id: UserId) -> Result<Option<User>>;
    async fn user_by_username(&mut self, key: &str) -> Result<Option<User>>;
    async fn user_by_email(&mut self, key: &str) -> Result<Option<User>>;
    /// Writes every mutable field of `user` (matched by id).
    async fn update_user(&mut self, user: &User) -> Result<()>;
    async fn set_password_hash(&mut self, id: UserId, hash: Option<&str>) -> Result<()>;
    /// The stored PHC string, for verification only; never leaves the service layer.
    async fn password_hash(&mut self, id: UserId) -> Result<Option<String>>;
    /// Erases the row and everything that hangs off it (memberships).
    async fn purge_user(&mut self, id: UserId) -> Result<()>;
    async fn list_users(&mut self, query: &UserQuery) -> Result<Vec<User>>;
    /// Writes the sort keys of up to 1,000 users stored without them (by a version from
    /// before they existed, during a rolling upgrade); returns how many (0: none left).
    async fn fill_missing_sort_keys(&mut self) -> Result<u64>;
    async fn count_users(&mut self, query: &UserQuery) -> Result<i64>;
    /// Active users of one type (the last-administrator guard).
    async fn count_active_of_type(&mut self, type_id: UserTypeId) -> Result<i64>;
    /// Active users whose scheduled deactivation time has passed.
    async fn users_due_for_deactivation(&mut self, now: Millis, limit: i64) -> Result<Vec<UserId>>;
    /// Trashed users deleted before `cutoff`.
    async fn trash_due_for_purge(&mut self, cutoff: Millis, limit: i64) -> Result<Vec<UserId>>;

    // --- memberships ---
    async fn user_branches(&mut self, id: UserId) -> Result<Vec<Branch>>;
    async fn user_groups(&mut self, id: UserId) -> Result<Vec<Group>>;
    /// Branch names of many users at once (one query per page of a list, not per user).
    async fn branch_names_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>>;
    async fn group_names_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>>;
    /// Returns false when the membership already existed.
    async fn add_user_branch(&mut self, user: UserId, branch: BranchId) -> Result<bool>;
    async fn remove_user_branch(&mut self, user: UserId, branch: BranchId) -> Result<bool>;
    async fn add_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool>;
    async fn remove_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool>;

    // --- seats ---
    async fn plan(&mut self) -> Result<PlanState>;
    /// Atomically takes `n` seats if that stays within the limit; false otherwise.
    /// On PostgreSQL this also locks the plan row until commit: the serialisation point
    /// of every change to who is active.
    async fn try_take_seats(&mut self, n: i64) -> Result<bool>;
    /// Takes `n` seats for a writer that will use them over several transactions (an
    /// import's batches); false when they aren't free.
    async fn reserve_seats(&mut self, id: &str, n: i64, lease_until: Millis) -> Result<bool>;
    /// Gives `n` of a reservation's seats back to the plan, for the transaction's own
    /// writes to take again, and renews its lease; false when it doesn't hold that many.
    async fn draw_reserved_seats(&mut self, id: &str, n: i64, lease_until: Millis) -> Result<bool>;
    /// Ends a reservation, giving back the seats it still holds (returned).
    async fn end_seat_reservation(&mut self, id: &str) -> Result<i64>;
    /// Ends reservations whose lease ran out (their writer died), giving their seats back.
    async fn end_lapsed_seat_reservations(&mut self, now: Millis) -> Result<i64>;
    async fn release_seats(&mut self, n: i64) -> Result<()>;
    /// Takes the plan-row lock without changing seats (for changes that must be
    /// serialised with activations, such as demoting an administrator).
    async fn lock_seats(&mut self) -> Result<()>;
    /// Sets the plan if the seats in use fit the new limit; false otherwise.
    async fn set_plan(&mut self, tier: PlanTier, seat_limit: i64) -> Result<bool>;
    /// Atomically counts one more active user in the branch, within its cap.
    async fn try_take_branch_seat(&mut self, branch: BranchId) -> Result<bool>;
    async fn release_branch_seat(&mut self, branch: BranchId) -> Result<()>;
    /// Active users per user type id.
    async fn active_by_type(&mut self) -> Result<Vec<(UserTypeId, i64)>>;

    // --- user types ---
    async fn user_types(&mut self) -> Result<Vec<UserType>>;
    async fn user_type_by_key(&mut self, key: &str) -> Result<Option<UserType>>;
    async fn user_type_by_id(&mut self, id: UserTypeId) -> Result<Option<UserType>>;
    async fn insert_user_type(&mut self, t: &UserType) -> Result<UserTypeId>;
    async fn update_user_type_areas(&mut self, id: UserTypeId, areas: AreaSet) -> Result<()>;
    async fn delete_user_type(&mut self, id: UserTypeId) -> Result<()>;
    async fn type_in_use(&mut self, id: UserTypeId) -> Result<bool>;

    // --- branches and groups ---
    async fn insert_branch(&mut self, b: &Branch) -> Result<BranchId>;
    /// Writes description, default type and cap — unless the cap is below the branch's
    /// active users at that moment (checked in the same statement); returns whether it did.
    async fn update_branch(&mut self, b: &Branch) -> Result<bool>;
    async fn branches(&mut self) -> Result<Vec<Branch>>;
    async fn branch_by_key(&mut self, key: &str) -> Result<Option<Branch>>;
    async fn insert_group(&mut self, g: &Group) -> Result<GroupId>;
    /// Writes name, external id, description, link and updated time (matched by id).
    async fn update_group(&mut self, g: &Group) -> Result<()>;
    async fn delete_group(&mut self, id: GroupId) -> Result<()>;
    async fn groups(&mut self) -> Result<Vec<Group>>;
    async fn group_by_key(&mut self, name_key: &str) -> Result<Option<Group>>;
    async fn group_by_id(&mut self, id: GroupId) -> Result<Option<Group>>;
    async fn group_member_count(&mut self, group: GroupId) -> Result<i64>;
    async fn group_member_ids(&mut self, group: GroupId) -> Result<Vec<UserId>>;
    async fn list_groups(&mut self, query: &GroupQuery) -> Result<Vec<Group>>;
    async fn count_groups(&mut self, query: &GroupQuery) -> Result<i64>;
    /// Marks a user linked to (or unlinked from) the identity provider.
    async fn set_scim_linked(&mut self, user: UserId, linked: bool) -> Result<()>;

    // --- settings ---
    async fn setting(&mut self, key: &str) -> Result<Option<String>>;
    async fn set_setting(&mut self, key: &str, value: &str) -> Result<()>;

    // --- tokens ---
    /// A taken name surfaces as `Conflict { code: "token_exists" }`.
    async fn insert_token(&mut self, t: &Token) -> Result<i64>;
    async fn token_by_lookup(&mut self, lookup: &str) -> Result<Option<Token>>;
    async fn token_by_id(&mut self, id: i64) -> Result<Option<Token>>;
    async fn token_by_name(&mut self, name_key: &str) -> Result<Option<Token>>;
    async fn tokens(&mut self) -> Result<Vec<Token>>;
    async fn revoke_token(&mut self, id: i64, at: Millis) -> Result<()>;
    /// Revokes every live token of the user; returns how many.
    async fn revoke_user_tokens(&mut self, user: UserId, at: Millis) -> Result<u64>;

    // --- courses and learning records ---
    async fn insert_course(&mut self, c: &Course) -> Result<CourseId>;
    async fn update_course(&mut self, c: &Course) -> Result<()>;
    async fn course_by_code(&mut self, code_key: &str) -> Result<Option<Course>>;
    async fn course_by_id(&mut self, id: CourseId) -> Result<Option<Course>>;
    /// Courses, optionally only those owned by `owner`, or whose owner isn't active.
    async fn list_courses(&mut self, owner: Option<UserId>, orphaned: bool) -> Result<Vec<Course>>;
    /// Moves every course `from` owns to `to`; returns how many.
    async fn reassign_courses(&mut self, from: UserId, to: UserId) -> Result<u64>;
    async fn count_owned_courses(&mut self, owner: UserId) -> Result<i64>;
    /// Returns false when the user was already enrolled.
    async fn insert_enrollment(&mut self, e: &Enrollment) -> Result<bool>;
    async fn update_enrollment(&mut self, e: &Enrollment) -> Result<()>;
    async fn enrollment(&mut self, user: UserId, course: CourseId) -> Result<Option<Enrollment>>;
    async fn enrollments_of_user(&mut self, user: UserId) -> Result<Vec<Enrollment>>;
    async fn enrollments_of_course(&mut self, course: CourseId) -> Result<Vec<Enrollment>>;
    /// The usernames of these users (those that exist), in one read however many.
    async fn usernames_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>>;
    /// Records a completed unit; false if it already was.
    async fn complete_unit(&mut self, user: UserId, course: CourseId, unit: i64, at: Millis) -> Result<bool>;
    async fn insert_certificate(&mut self, c: &Certificate) -> Result<()>;
    async fn certificate_by_code(&mut self, code: &str) -> Result<Option<Certificate>>;
    async fn certificates_of_user(&mut self, user: UserId) -> Result<Vec<Certificate>>;
    async fn add_group_course(&mut self, group: GroupId, course: CourseId) -> Result<bool>;
    async fn group_course_ids(&mut self, group: GroupId) -> Result<Vec<CourseId>>;
    async fn group_by_join_key(&mut self, key: &str) -> Result<Option<Group>>;

    // --- sessions and sign-in ---
    async fn insert_session(&mut self, s: &SessionRecord) -> Result<()>;
    async fn session(&mut self, id_hash: &str) -> Result<Option<SessionRecord>>;
    async fn touch_session(&mut self, id_hash: &str, at: Millis) -> Result<()>;
    async fn delete_session(&mut self, id_hash: &str) -> Result<()>;
    /// Ends every session of the user; returns how many.
    async fn delete_user_sessions(&mut self, user: UserId) -> Result<u64>;
    /// Ends all but the user's `keep` newest sessions; returns how many ended.
    async fn trim_user_sessions(&mut self, user: UserId, keep: i64) -> Result<u64>;
    /// Deletes sessions past their absolute end (`expires_at <= now`) or unused since
    /// `idle_since`; returns how many.
    async fn prune_sessions(&mut self, now: Millis, idle_since: Millis) -> Result<u64>;
    /// Deletes sign-in failure rows whose window began at or before `window_started_by`
    /// and that block nothing at `now`; returns how many.
    async fn prune_sign_in_failures(&mut self, window_started_by: Millis, now: Millis) -> Result<u64>;
    /// Deletes expired SAML request and assertion ids; returns how many.
    async fn prune_sso_state(&mut self, now: Millis) -> Result<u64>;
    async fn set_last_login(&mut self, user: UserId, at: Millis) -> Result<()>;
    /// The identity-provider link of a user: (IdP entity id, NameID).
    async fn sso_link(&mut self, user: UserId) -> Result<Option<(String, String)>>;
    /// Links a user to (IdP entity id, NameID), or unlinks with `None`.
    async fn set_sso_link(&mut self, user: UserId, link: Option<(&str, &str)>) -> Result<()>;
    /// The user linked to (IdP entity id, NameID), whatever their username.
    async fn user_by_sso_link(&mut self, issuer: &str, subject: &str) -> Result<Option<User>>;
    /// Sets the day's count of active accounts (days since the epoch, UTC).
    async fn record_seat_day(&mut self, day: i64, active: i64) -> Result<()>;
    /// Days from `since_day` on with their counts, oldest first.
    async fn seat_history(&mut self, since_day: i64) -> Result<Vec<(i64, i64)>>;
    /// Remembers an AuthnRequest id until `expires_at` (and forgets expired ones).
    async fn insert_sso_request(&mut self, id: &str, expires_at: Millis, now: Millis) -> Result<()>;
    /// Consumes an outstanding, unexpired AuthnRequest id; false when there is none.
    async fn take_sso_request(&mut self, id: &str, now: Millis) -> Result<bool>;
    /// Records an assertion id as used until `expires_at`; false when it was already used.
    async fn record_sso_assertion(&mut self, id: &str, expires_at: Millis, now: Millis) -> Result<bool>;
    /// Marks a set-password or reset token used, if it is unused and unexpired; returns its
    /// user and purpose.
    async fn use_password_token(&mut self, token_hash: &str, now: Millis) -> Result<Option<(UserId, String)>>;
    /// Counts one more attempt under `key` in a single statement (so concurrent attempts
    /// all count) and returns the record after it. A key blocked at `now` is left as it is
    /// (a refused attempt doesn't count); one whose window began at or before
    /// `window_started_by` starts a new window with this attempt.
    async fn reserve_sign_in_attempt(
        &mut self,
        key: &str,
        now: Millis,
        window_started_by: Millis,
    ) -> Result<SignInFailures>;
    async fn block_sign_in(&mut self, key: &str, until: Millis) -> Result<()>;
    /// Whether a password token of this purpose was issued to the user since `since`.
    async fn recent_password_token(&mut self, user: UserId, purpose: &str, since: Millis) -> Result<bool>;
    /// Marks every unused token of this purpose used (a new one replaces them).
    async fn retire_password_tokens(&mut self, user: UserId, purpose: &str, at: Millis) -> Result<()>;
    /// Ends every unused link of the user (their address changed).
    async fn retire_all_password_tokens(&mut self, user: UserId, at: Millis) -> Result<()>;
    /// Whether a message carrying a link of `purpose` was queued for the user since then.
    async fn recent_link_mail(&mut self, user: UserId, purpose: &str, since: Millis) -> Result<bool>;
    /// The console's import wizard keeps an upload between preview and commit.
    async fn insert_import_upload(&mut self, id_hash: &str, user: UserId, at: Millis, body: &[u8]) -> Result<()>;
    async fn import_upload(&mut self, id_hash: &str) -> Result<Option<(UserId, Millis, Vec<u8>)>>;
    /// Deletes uploads older than `before`: all of them, or only this one, or only this user's.
    async fn delete_import_uploads(
        &mut self,
        id_hash: Option<&str>,
        user: Option<UserId>,
        before: Millis,
    ) -> Result<u64>;
    /// Empties a message's body once it is sent or given up.
    async fn drop_mail_body(&mut self, id: i64) -> Result<()>;
    /// The enrollment, its row locked until the transaction ends (PostgreSQL).
    async fn lock_enrollment(&mut self, user: UserId, course: CourseId) -> Result<Option<Enrollment>>;
    async fn clear_sign_in_failures(&mut self, key: &str) -> Result<()>;
    /// Takes back one attempt counted under `key` (it turned out to succeed).
    async fn release_sign_in_attempt(&mut self, key: &str) -> Result<()>;

    // --- mail ---
    async fn enqueue_mail(&mut self, m: &OutboxMail) -> Result<i64>;
    /// Newest first.
    async fn list_mail(&mut self, limit: i64) -> Result<Vec<OutboxMail>>;
    /// Pending messages whose next attempt is due.
    async fn due_mail(&mut self, now: Millis, limit: i64) -> Result<Vec<OutboxMail>>;
    /// Leases a due message to this sender until `until`, if no other sender took it first.
    async fn claim_mail(&mut self, id: i64, seen_next_attempt: Millis, until: Millis) -> Result<bool>;
    /// Saves a delivery outcome — only while this sender still holds the lease it took.
    async fn update_mail(&mut self, m: &OutboxMail, lease: Millis) -> Result<bool>;
    async fn insert_password_token(&mut self, t: &PasswordToken) -> Result<()>;

    // --- background jobs ---
    async fn insert_job(&mut self, job: &JobRecord) -> Result<i64>;
    async fn job(&mut self, id: i64) -> Result<Option<JobRecord>>;
    async fn update_job(&mut self, job: &JobRecord) -> Result<()>;
    /// The job's users, in order (`seq` from 0).
    async fn insert_job_items(&mut self, job: i64, users: &[UserId]) -> Result<()>;
    /// Users of the job not done yet with a `seq` above `after`, in order.
    async fn pending_job_items(&mut self, job: i64, after: i64, limit: i64) -> Result<Vec<(i64, UserId)>>;
    /// Records outcomes (whether it succeeded, and the JSON) by `seq`; an item keeps the
    /// first outcome recorded for it. Returns how many were recorded, and how many of
    /// those failed.
    async fn finish_job_items(&mut self, job: i64, outcomes: &[(i64, bool, String)]) -> Result<(i64, i64)>;
    /// Adds progress to a running job and moves its lease from `held` to `lease_until`
    /// (finishing it at `finished_at`) — only if its lease is still `held`: `false` when
    /// another instance has taken the job over.
    async fn advance_job(
        &mut self,
        job: i64,
        held: Millis,
        progress: (i64, i64),
        lease_until: Millis,
        finished_at: Option<Millis>,
    ) -> Result<bool>;
    /// Marks a running job failed, if its lease is still `held`.
    async fn fail_job(&mut self, job: i64, held: Millis, at: Millis) -> Result<bool>;
    /// Outcomes recorded so far with a `seq` above `after`, in order, with their `seq`.
    async fn job_outcomes(&mut self, job: i64, after: i64, limit: i64) -> Result<Vec<(i64, String)>>;
    /// Takes over one running job whose lease ended before `now`, leasing it until
    /// `lease_until`; `None` when there is none. Two instances never take the same job.
    async fn claim_abandoned_job(&mut self, now: Millis, lease_until: Millis) -> Result<Option<JobRecord>>;

    // --- audit ---
    /// Inserts the entry and its personal data, then stores `tag(id)` as its tag.
    async fn insert_audit(&mut self, entry: &NewAuditEntry, tag: &(dyn Fn(i64) -> String + Send + Sync))
    -> Result<i64>;
    async fn list_audit(&mut self, query: &AuditQuery) -> Result<Vec<AuditRow>>;
    /// Erases the personal data of every entry by or about the user (purge).
    async fn erase_audit_personal(&mut self, user: UserId, at: Millis) -> Result<u64>;
    /// Locks and returns the chain head (the sealer's serialisation point).
    async fn lock_audit_head(&mut self) -> Result<AuditHead>;
    /// Reads the chain head without locking it (verification).
    async fn audit_head(&mut self) -> Result<AuditHead>;
    async fn set_audit_head(&mut self, head: &AuditHead) -> Result<()>;
    /// Unsealed entries not refused, oldest first.
    async fn unsealed_audit(&mut self, limit: i64) -> Result<Vec<AuditRow>>;
    async fn count_unsealed_audit(&mut self) -> Result<i64>;
    /// Marks an unsealed row refused: the sealer passes over it from then on.
    async fn refuse_audit(&mut self, id: i64, at: Millis) -> Result<()>;
    /// Rows the sealer refused, oldest first.
    async fn refused_audit(&mut self, limit: i64) -> Result<Vec<AuditRow>>;
    async fn seal_audit(&mut self, id: i64, seq: i64, prev_hash: &str, hash: &str) -> Result<()>;
    /// Sealed entries in chain order, from chain position `after_seq + 1`.
    async fn audit_chain(&mut self, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>>;
}
