//! The storage port: what the service layer needs from a database. `rollcall-store`
//! implements it once for SQLite and PostgreSQL.
//!
//! Every method runs inside a transaction; a service opens one per call, so a change and
//! its audit entry commit together or not at all. The methods are grouped by aggregate, one
//! file each, and each aggregate has a read half (`UserReads` …) and a write half that
//! extends it (`UserTx` …). [`ReadTx`], what [`Store::begin_read`] returns, is every read
//! half; [`Tx`], what [`Store::begin`] returns, is everything (both blanket-implemented
//! for whatever implements the parts). A helper asks for the narrowest it needs
//! (`&mut dyn ReadTx`, or one aggregate's trait, such as [`audit::claim_key`] taking
//! `&mut dyn SettingTx`), so a unit test can hand it a small in-memory fake; `&mut dyn Tx`
//! coerces to any of them. An implementation names the traits through [`prelude`].
//!
//! [`audit::claim_key`]: crate::audit::claim_key

use crate::Result;
use crate::domain::*;
use async_trait::async_trait;

mod audit;
mod auth;
mod courses;
mod jobs;
mod org;
mod outbox;
mod seats;
mod settings;
mod users;

pub use audit::{AuditReads, AuditTx};
pub use auth::{AuthReads, AuthTx};
pub use courses::{CourseReads, CourseTx};
pub use jobs::{DailyRunRecord, JobReads, JobTx};
pub use org::{OrgReads, OrgTx};
pub use outbox::{OutboxReads, OutboxTx};
pub use seats::{SeatReads, SeatTx};
pub use settings::{SettingReads, SettingTx};
pub use users::{UserReads, UserTx};

/// Every transaction trait, for an implementation (the store, a test's fake) to name.
pub mod prelude {
    pub use super::{
        AuditReads, AuditTx, AuthReads, AuthTx, CourseReads, CourseTx, JobReads, JobTx, OrgReads, OrgTx, OutboxReads,
        OutboxTx, ReadTx, SeatReads, SeatTx, SettingReads, SettingTx, Transaction, Tx, UserReads, UserTx,
    };
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A transaction that will write. On SQLite it takes the write lock at once, so
    /// concurrent writers queue (up to the busy timeout) instead of failing mid-way.
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    /// A transaction that only reads, from one snapshot.
    async fn begin_read(&self) -> Result<Box<dyn ReadTx>>;
    /// Readiness: the database answers.
    async fn ping(&self) -> Result<()>;
    /// After a large write (an import, and along the way through a long one). SQLite
    /// checkpoints its write-ahead log into the database and truncates it, so a million-row
    /// import does not leave a gigabyte of log behind. PostgreSQL refreshes the planner's
    /// statistics of the tables an import fills: a table the statistics still call empty is
    /// scanned whole by every lookup (and by plans every connection has cached), which made
    /// an import slow down with the square of its size.
    async fn after_bulk_write(&self) -> Result<()>;
    /// Every minute: PostgreSQL analyzes the tables changed by more than a tenth since
    /// their statistics were taken — what autovacuum would do, for servers where it is off
    /// or behind: plans made from stale statistics (a column the statistics say no row
    /// holds) scanned a 20,000-row table for every SCIM lookup. Returns the tables
    /// analyzed. SQLite's planner keeps no statistics here (it prefers indexes without
    /// them): nothing to do.
    async fn refresh_statistics(&self) -> Result<Vec<String>>;
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

/// What the idle policy looks for (see `UserReads::idle_candidates`).
#[derive(Clone, Debug, Default)]
pub struct IdleQuery {
    /// Accounts that signed in before: last active at or before this time.
    pub signed_in_before: Millis,
    /// Accounts that never signed in: created (or reactivated) at or before this time.
    pub never_before: Millis,
    pub exempt_types: Vec<UserTypeId>,
    pub exempt_groups: Vec<GroupId>,
    pub exempt_branches: Vec<BranchId>,
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

/// An entry's place in the chain, as the sealer computed it.
#[derive(Clone, Debug)]
pub struct AuditSeal {
    pub id: i64,
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
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
    /// `None` while the key is not blocked.
    pub blocked_until: Option<Millis>,
}

/// The failed sign-ins of one account (or of the logins naming none, together) from one address in one
/// window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInFailureTally {
    /// `user:<id>`, or `login:unknown` for all logins that name no account.
    pub account: String,
    /// `""` when the address is unknown.
    pub address: String,
    pub window_start: Millis,
    pub user_id: Option<UserId>,
    pub failures: i64,
    pub last_failure_at: Millis,
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

/// The end of a transaction. Dropping one without committing rolls it back.
#[async_trait]
pub trait Transaction: Send {
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// A transaction that only reads: the read half of every aggregate.
pub trait ReadTx:
    Transaction
    + UserReads
    + OrgReads
    + SeatReads
    + SettingReads
    + AuthReads
    + CourseReads
    + OutboxReads
    + JobReads
    + AuditReads
{
}

impl<T> ReadTx for T where
    T: Transaction
        + UserReads
        + OrgReads
        + SeatReads
        + SettingReads
        + AuthReads
        + CourseReads
        + OutboxReads
        + JobReads
        + AuditReads
{
}

/// A transaction that writes: every aggregate, reads and writes.
pub trait Tx: ReadTx + UserTx + OrgTx + SeatTx + SettingTx + AuthTx + CourseTx + OutboxTx + JobTx + AuditTx {}

impl<T> Tx for T where T: ReadTx + UserTx + OrgTx + SeatTx + SettingTx + AuthTx + CourseTx + OutboxTx + JobTx + AuditTx {}
