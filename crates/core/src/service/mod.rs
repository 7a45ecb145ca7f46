//! The service layer: one entry point per use case, shared by every channel.
//!
//! Each call takes the caller's [`Context`], opens one transaction, resolves the caller to a
//! [`Principal`] from the database (so permissions are always current), decides
//! authorization, applies the domain rules, writes the change and its audit entry, and
//! commits. After commit it seals the new audit entries into the chain. [`Service::read`]
//! and [`Service::write`] do the opening, resolving, requiring and committing around a use
//! case's body. Flows without a caller are on [`Public`] and [`System`].

mod admin;
mod auth;
mod bulk;
mod catalog;
mod courses;
mod idle;
mod import;
mod mail;
mod schedule;
mod scim;
mod sso;
mod tokens;
mod users;

pub use admin::{
    AuditEntryView, AuditFilter, BranchSeatHistory, BranchSeats, FORECAST_METHOD, IdleReport, MetricsSnapshot,
    PlanView, ScheduledChange, ScheduledSeats, SeatAlert, SeatDay, SeatForecast, SeatReport, SettingView, TypeSeats,
    idle_filter,
};
pub use auth::{
    FAILURE_WINDOW_MS, LOGIN_MAX_CHARS, MAX_SESSIONS_PER_USER, Pruned, SESSION_ABSOLUTE_MS, SESSION_IDLE_MS,
    SessionInfo, SignedIn,
};
pub use bulk::{
    BulkAction, BulkActionKind, BulkArguments, BulkOutcome, BulkRun, BulkTargets, JobView, MAX_BULK, ResultsPage,
};
pub use catalog::{BranchView, GroupView, NewBranch, NewGroup, TypeView};
pub use courses::{CertificateView, CourseView, EnrollmentView, NewCourse, OffboardReport, SubjectExport};
pub use idle::{IDLE_JOB, IdlePolicyUpdate, IdlePolicyView, IdlePreview, IdleRun, IdleWarningView};
pub use import::{
    ATOMIC_ROWS, FieldChange, ImportOptions, ImportRefusal, ImportRow, ImportSummary, Outcome, Parsed, RosterSync,
    RowError, RowReport, Source, SyncKept, SyncReport,
};
pub use mail::{MAX_ATTEMPTS, MailView, Welcome};
pub use schedule::{DailyJobView, DailyRun, JOB_LEASE_MS, JobAction, JobRunReport};
pub use scim::{GroupChange, PasswordChange, SCIM_MAX_RESULTS, ScimGroupView, ScimUserState, ScimUserView};
pub use sso::{SsoConfig, SsoIdentity, SsoLink};
pub use tokens::{IssuedToken, TokenView};
pub use users::{MAX_PAGE, NewUser, UserFilter, UserKey, UserPage, UserUpdate, UserView};

use crate::actor::{Actor, Context, Principal};
use crate::audit;
pub use crate::audit::AuditAction;
use crate::clock::{Clock, SystemClock};
use crate::domain::*;
use crate::ports::{NewAuditEntry, ReadTx, Store, Tx};
use crate::{Entity, Error, Result};
use std::sync::Arc;

#[derive(Clone)]
pub struct Service {
    store: Arc<dyn Store>,
    /// The public base URL, for links in mail (never taken from a request's Host header).
    base_url: Arc<str>,
    /// Authenticates audit entries; from the configuration, never from the database. Without
    /// it the service writes no audit entry (so no change) and verifies nothing.
    pub(crate) audit_key: Option<Arc<audit::AuditKey>>,
    clock: Arc<dyn Clock>,
    /// When the daily jobs run, and what day a date falls on.
    schedule: Arc<Schedule>,
    /// This process's name as a holder of job leases (random per service).
    instance: Arc<str>,
    /// Coalesces the sealing that follows each commit (see [`Service::commit`]).
    sealer: Arc<Sealer>,
    /// Messages this service put in the outbox (whether or not their transaction then
    /// committed): a CLI command warns when it queued mail without a base URL.
    mail_queued: Arc<std::sync::atomic::AtomicU64>,
}

/// Sealing after a commit, shared by the concurrent writers of one process: a writer whose
/// entries another writer's seal already covered returns without opening a transaction, so
/// a burst of writes seals in a few transactions instead of one (or two) per write.
#[derive(Default)]
struct Sealer {
    /// Commits that have finished, numbered in the order they finished.
    committed: std::sync::atomic::AtomicU64,
    /// Held while sealing: every commit numbered up to this has been sealed.
    sealed: tokio::sync::Mutex<u64>,
}

/// The transaction a use case's body runs in (see [`Service::read`]). A named type rather
/// than `&mut dyn Tx`, whose object lifetime would make the combinators' futures not `Send`.
pub(crate) struct Txn(Box<dyn Tx + 'static>);

/// The read-only transaction a reading use case's body runs in (see [`Service::read`]).
pub(crate) struct ReadTxn(Box<dyn ReadTx + 'static>);

impl std::ops::Deref for Txn {
    type Target = dyn Tx;
    fn deref(&self) -> &(dyn Tx + 'static) {
        self.0.as_ref()
    }
}

impl std::ops::DerefMut for Txn {
    fn deref_mut(&mut self) -> &mut (dyn Tx + 'static) {
        self.0.as_mut()
    }
}

impl std::ops::Deref for ReadTxn {
    type Target = dyn ReadTx;
    fn deref(&self) -> &(dyn ReadTx + 'static) {
        self.0.as_ref()
    }
}

impl std::ops::DerefMut for ReadTxn {
    fn deref_mut(&mut self) -> &mut (dyn ReadTx + 'static) {
        self.0.as_mut()
    }
}

/// The use cases that run before authentication: see [`Service::public`].
#[derive(Clone, Copy)]
pub struct Public<'a> {
    service: &'a Service,
}

/// rollcall's own jobs and bookkeeping: see [`Service::system`].
#[derive(Clone, Copy)]
pub struct System<'a> {
    service: &'a Service,
}

/// One audit entry's content, before the actor and time are added.
pub(crate) struct Change {
    pub action: AuditAction,
    pub target_kind: Option<&'static str>,
    pub target_id: Option<i64>,
    pub target_label: Option<String>,
    pub changes: serde_json::Value,
}

impl Change {
    pub fn user(action: AuditAction, user: &User, changes: serde_json::Value) -> Change {
        Change::of_user(action, user.id, user.username.as_str(), changes)
    }
    /// [`Change::user`] of the user with this id and username.
    pub fn of_user(action: AuditAction, id: UserId, username: &str, changes: serde_json::Value) -> Change {
        Change {
            action,
            target_kind: Some("user"),
            target_id: Some(id.0),
            target_label: Some(username.to_owned()),
            changes,
        }
    }
    pub fn other(
        action: AuditAction,
        kind: &'static str,
        id: Option<i64>,
        label: &str,
        changes: serde_json::Value,
    ) -> Change {
        Change {
            action,
            target_kind: Some(kind),
            target_id: id,
            target_label: Some(label.to_owned()),
            changes,
        }
    }
}

impl Service {
    pub fn new(store: Arc<dyn Store>) -> Service {
        Service {
            store,
            base_url: "http://127.0.0.1:8080".into(),
            audit_key: None,
            clock: Arc::new(SystemClock),
            schedule: Arc::new(Schedule::default()),
            instance: hex::encode(rand::random::<[u8; 8]>()).into(),
            sealer: Arc::default(),
            mail_queued: Arc::default(),
        }
    }

    /// The clock every use case reads the time from (the system's unless given one).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Service {
        self.clock = clock;
        self
    }

    /// The current time, from the service's clock.
    pub(crate) fn now(&self) -> Millis {
        self.clock.now()
    }

    /// The key audit entries are authenticated with. Every process writing to one database
    /// must use the same key.
    pub fn with_audit_key(mut self, key: audit::AuditKey) -> Service {
        self.audit_key = Some(Arc::new(key));
        self
    }

    pub(crate) fn audit_key(&self) -> Result<&audit::AuditKey> {
        self.audit_key
            .as_deref()
            .ok_or_else(|| Error::internal("no audit key configured: the service can't write or check audit entries"))
    }

    /// Sets the public base URL used in links.
    pub fn with_base_url(mut self, base_url: &str) -> Service {
        self.base_url = base_url.trim_end_matches('/').into();
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// How many messages this service (and its clones) queued.
    pub fn mail_queued(&self) -> u64 {
        self.mail_queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The flows that run before anyone is signed in (password and single sign-on, password
    /// links, certificate checks, token authentication). They take no [`Context`]: each
    /// establishes who the caller is, or needs nobody.
    pub fn public(&self) -> Public<'_> {
        Public { service: self }
    }

    /// Scheduled work and bookkeeping run by rollcall itself (jobs, leases on mail and bulk
    /// jobs, metrics, the audit key and chain, the first start). Not for channels that
    /// serve a caller.
    pub fn system(&self) -> System<'_> {
        System { service: self }
    }

    /// Checks that the caller holds `area`, before a channel does costly work for them (such
    /// as spooling an upload); the use case itself checks again.
    pub async fn require_area(&self, ctx: &Context, area: crate::domain::Area) -> Result<()> {
        let mut tx = self.store.begin_read().await?;
        self.principal(tx.as_mut(), ctx).await?.require(area)
    }

    /// Runs a use case that only reads: opens a read transaction, resolves the caller,
    /// requires `area` of them (when given) and runs `body` with both.
    pub(crate) async fn read<T>(
        &self,
        ctx: &Context,
        area: Option<Area>,
        body: impl AsyncFnOnce(&mut ReadTxn, &Principal) -> Result<T>,
    ) -> Result<T> {
        let mut tx = ReadTxn(self.store.begin_read().await?);
        let who = self.principal(&mut *tx, ctx).await?;
        if let Some(area) = area {
            who.require(area)?;
        }
        body(&mut tx, &who).await
    }

    /// Runs a use case that writes: as [`Service::read`] in a write transaction, which is
    /// committed (and its audit entries sealed) when `body` succeeds and dropped, so rolled
    /// back, when it fails.
    pub(crate) async fn write<T>(
        &self,
        ctx: &Context,
        area: Option<Area>,
        body: impl AsyncFnOnce(&mut Txn, &Principal) -> Result<T>,
    ) -> Result<T> {
        let mut tx = Txn(self.store.begin().await?);
        let who = self.principal(&mut *tx, ctx).await?;
        if let Some(area) = area {
            who.require(area)?;
        }
        let out = body(&mut tx, &who).await?;
        self.commit(tx.0).await?;
        Ok(out)
    }

    /// Resolves the caller from the database, inside the call's transaction.
    pub(crate) async fn principal(&self, tx: &mut dyn ReadTx, ctx: &Context) -> Result<Principal> {
        let user_id = match &ctx.actor {
            Actor::Operator | Actor::System { .. } => return Ok(Principal::superuser()),
            Actor::ScimClient { .. } => return Ok(Principal::identity_provider("scim")),
            Actor::Sso => return Ok(Principal::identity_provider("sso")),
            Actor::User(id) => *id,
            Actor::ApiToken { token_id, user_id } => {
                // Re-checked on every call, so revoking a token stops work already under way
                // (a background bulk job) at its next step.
                let live = tx
                    .token_by_id(*token_id)
                    .await?
                    .is_some_and(|t| t.is_usable(self.now()));
                if !live {
                    return Err(Error::Unauthenticated);
                }
                *user_id
            }
        };
        let user = tx.user_by_id(user_id).await?.ok_or(Error::Unauthenticated)?;
        let user_type = self.type_by_id(tx, user.user_type_id).await?;
        let branches = tx.user_branches(user.id).await?.into_iter().map(|b| b.id).collect();
        Principal::for_user(&user, &user_type, branches)
    }

    /// Writes one audit entry inside the caller's transaction, tagged with the audit key.
    /// Anyone else the entry concerns, besides its actor and target, goes into `changes` as
    /// [`audit::person`] (an id), never by name: a purge erases names only from entries by
    /// or about the purged user.
    pub(crate) async fn record(&self, tx: &mut dyn Tx, ctx: &Context, who: &Principal, change: Change) -> Result<()> {
        self.record_all(tx, ctx, who, vec![change]).await
    }

    /// Writes the entries of several changes at once (an import's batch), as [`Service::record`].
    pub(crate) async fn record_all(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        changes: Vec<Change>,
    ) -> Result<()> {
        let key = self.audit_key()?.clone();
        let entries: Vec<NewAuditEntry> = changes.into_iter().map(|c| self.audit_entry(ctx, who, c)).collect();
        let tag = |id: i64, entry: &NewAuditEntry| key.entry_tag(&audit::new_entry_digest(id, entry));
        tx.insert_audits(&entries, &tag).await?;
        Ok(())
    }

    fn audit_entry(&self, ctx: &Context, who: &Principal, change: Change) -> NewAuditEntry {
        let (actor_kind, actor_user_id, actor_ref) = match &ctx.actor {
            Actor::Operator => ("operator", None, None),
            Actor::User(id) => ("user", Some(*id), None),
            Actor::ApiToken { token_id, user_id } => ("api_token", Some(*user_id), Some(token_id.to_string())),
            Actor::ScimClient { token_id } => ("scim", None, Some(token_id.to_string())),
            Actor::Sso => ("sso", None, None),
            Actor::System { job } => ("system", None, Some((*job).to_owned())),
        };
        let personal = serde_json::json!({
            "actor": who.label,
            "target": change.target_label,
            "changes": change.changes,
            "source": ctx.source,
        })
        .to_string();
        let salt = audit::new_salt();
        NewAuditEntry {
            at: self.now(),
            actor_kind: actor_kind.into(),
            actor_user_id,
            actor_ref,
            channel: ctx.channel.as_str().into(),
            action: change.action.as_str().into(),
            target_kind: change.target_kind.map(Into::into),
            target_id: change.target_id,
            request_id: ctx.request_id.clone(),
            personal_digest: audit::personal_digest(&salt, &personal),
            salt,
            personal,
        }
    }

    /// Commits, then sees the new audit entries sealed before returning. A sealing failure
    /// is logged, not returned: the change is committed, and the next seal picks the entries
    /// up. Concurrent writers share seals: a seal that began after this commit finished
    /// covers its entries, so the writer waits for it rather than sealing again.
    pub(crate) async fn commit(&self, tx: Box<dyn Tx>) -> Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        failpoint("commit.before")?;
        tx.commit().await?;
        failpoint("commit.after")?;
        let mine = self.sealer.committed.fetch_add(1, SeqCst) + 1;
        let mut sealed = self.sealer.sealed.lock().await;
        if *sealed >= mine {
            return Ok(());
        }
        // Every commit numbered up to `upto` has finished, so the seal below sees its entries.
        let upto = self.sealer.committed.load(SeqCst);
        match self.system().seal_audit().await {
            Ok(_) => *sealed = upto,
            Err(e) => tracing::warn!(error = %e, "audit sealing deferred"),
        }
        Ok(())
    }

    // --- lookups shared by the use cases ---

    pub(crate) async fn type_by_id(&self, tx: &mut dyn ReadTx, id: UserTypeId) -> Result<UserType> {
        tx.user_type_by_id(id)
            .await?
            .ok_or_else(|| Error::internal(format!("user type {} missing", id.0)))
    }

    pub(crate) async fn type_by_name(&self, tx: &mut dyn ReadTx, name: &str) -> Result<UserType> {
        tx.user_type_by_key(&access::type_key(name))
            .await?
            .ok_or_else(|| Error::not_found(Entity::UserType, name))
    }

    /// The active users of the built-in Administrator type (at most 1,000): who hears of
    /// what the system did or refused.
    pub(crate) async fn active_administrators(&self, tx: &mut dyn ReadTx) -> Result<Vec<User>> {
        tx.list_users(&crate::ports::UserQuery {
            status: Some(UserStatus::Active),
            type_id: Some(BaseRole::Administrator.builtin_id()),
            limit: 1000,
            ..crate::ports::UserQuery::default()
        })
        .await
    }

    pub(crate) async fn branch_by_name(&self, tx: &mut dyn ReadTx, name: &str) -> Result<Branch> {
        tx.branch_by_key(&name_key(name.trim()))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Branch, name))
    }

    pub(crate) async fn group_by_name(&self, tx: &mut dyn ReadTx, name: &str) -> Result<Group> {
        tx.group_by_key(&name_key(name.trim()))
            .await?
            .ok_or_else(|| Error::not_found(Entity::Group, name))
    }
}

impl System<'_> {
    pub async fn ready(self) -> Result<()> {
        self.service.store.ping().await
    }

    /// The current time, from the service's clock: what channels show relative to today
    /// must agree with the time the use cases see (a test's clock included).
    pub fn now(self) -> Millis {
        self.service.now()
    }
}

/// A named failpoint (the `fail` crate) for the crash-consistency tests, which make it fail
/// (`return`) or crash (`panic`) to show a write is all or nothing; without the
/// `failpoints` feature it compiles to nothing. The names are listed in ARCHITECTURE.md.
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
pub(crate) fn failpoint(name: &str) -> Result<()> {
    fail::fail_point!(name, |_| Err(Error::internal(format!("failpoint {name}"))));
    Ok(())
}
