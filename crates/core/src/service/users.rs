//! Users: create, read, list, update, and the lifecycle (activate, deactivate, delete,
//! restore, purge, scheduled deactivation; the daily reactivations are in `schedule.rs`).

use super::{Change, Service, System, failpoint};
use crate::actor::{Context, Principal};
use crate::audit::AuditAction;
use crate::domain::user::LifecycleAction;
use crate::domain::*;
use crate::ports::{ReadTx, Tx, UserQuery};
use crate::{ConflictCode, Entity, Error, Result, RuleCode, password};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

/// A request to create a user, as any channel receives it (names not yet validated).
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password: Option<String>,
    /// A type name; default: the first branch's default type, else Learner.
    pub user_type: Option<String>,
    pub branches: Vec<String>,
    pub groups: Vec<String>,
    /// false: created deactivated (holds no seat).
    pub active: bool,
    pub external_id: Option<String>,
    pub exclude_from_emails: bool,
    pub deactivate_at: Option<Millis>,
    /// Leave of absence: reactivate on this date (a deactivated account only).
    pub reactivate_at: Option<Millis>,
    /// Whether to send the welcome email (`None`: yes, unless the setting is off).
    pub send_welcome: Option<bool>,
    /// The idle policy never warns or deactivates this account.
    pub idle_exempt: bool,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    /// A new login name (identity providers rename accounts when a UPN changes).
    pub username: Option<String>,
    pub user_type: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password: Option<String>,
    pub add_branches: Vec<String>,
    pub remove_branches: Vec<String>,
    pub add_groups: Vec<String>,
    pub remove_groups: Vec<String>,
    pub external_id: Option<Option<String>>,
    pub exclude_from_emails: Option<bool>,
    /// `Some(None)` clears a scheduled deactivation.
    pub deactivate_at: Option<Option<Millis>>,
    /// `Some(None)` clears a scheduled reactivation.
    pub reactivate_at: Option<Option<Millis>>,
    /// Links the account to this NameID at the configured identity provider; `Some(None)`
    /// (or an empty string) unlinks it.
    pub sso_subject: Option<Option<String>>,
    /// Exempts the account from the idle policy (or ends the exemption).
    pub idle_exempt: Option<bool>,
}

/// List filters by name, as channels receive them.
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    pub status: Option<UserStatus>,
    pub user_type: Option<String>,
    pub branch: Option<String>,
    pub group: Option<String>,
    pub idle_days: Option<i64>,
    /// Never signed in, or last signed in before this time.
    pub last_login_before: Option<Millis>,
    pub never_logged_in: bool,
    pub search: Option<String>,
    /// `username`, `name`, `email`, `last_login` or `created` (the default); a leading
    /// `-` for descending.
    pub sort: Option<String>,
    /// The page after this cursor (`next_cursor` of a page).
    pub cursor: Option<String>,
    /// The page before this cursor (`prev_cursor` of a page); not with `cursor`.
    pub before: Option<String>,
    pub limit: Option<i64>,
}

/// A user as every channel shows it (CONTRACT.md's REST shape).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub user_type: String,
    pub branches: Vec<String>,
    pub groups: Vec<String>,
    pub status: UserStatus,
    pub origin: Origin,
    pub external_id: Option<String>,
    pub exclude_from_emails: bool,
    pub created_at: String,
    pub last_login_at: Option<String>,
    pub deactivated_at: Option<String>,
    pub deleted_at: Option<String>,
    pub deactivate_at: Option<String>,
    /// The idle policy never warns or deactivates this account.
    pub idle_exempt: bool,
    /// The deactivation date the idle policy's warning named, while it stands.
    pub idle_deadline: Option<String>,
    /// Scheduled reactivation (end of a leave of absence).
    pub reactivate_at: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the page after this one; absent on the last.
    pub next_cursor: Option<String>,
    /// Pass as `before` for the page before this one; absent on the first.
    pub prev_cursor: Option<String>,
}

pub const MAX_PAGE: i64 = 500;

impl UserView {
    fn new(u: &User, user_type: &str, branches: Vec<String>, groups: Vec<String>) -> UserView {
        UserView {
            id: u.id.0,
            username: u.username.to_string(),
            email: u.email.to_string(),
            first_name: u.first_name.to_string(),
            last_name: u.last_name.to_string(),
            user_type: user_type.to_owned(),
            branches,
            groups,
            status: u.status,
            origin: u.origin,
            external_id: u.external_id.clone(),
            exclude_from_emails: u.exclude_from_emails,
            created_at: format_millis(u.created_at),
            last_login_at: u.last_login_at.map(format_millis),
            deactivated_at: u.deactivated_at.map(format_millis),
            deleted_at: u.deleted_at.map(format_millis),
            deactivate_at: u.deactivate_at.map(format_millis),
            idle_exempt: u.idle_exempt,
            idle_deadline: u.idle_deadline.map(format_millis),
            reactivate_at: u.reactivate_at.map(format_millis),
        }
    }
}

/// How a user is named in a call: by id (REST, SCIM) or username (CLI, console).
#[derive(Clone, Debug)]
pub enum UserKey {
    Id(UserId),
    Username(String),
}

impl From<&str> for UserKey {
    fn from(s: &str) -> UserKey {
        UserKey::Username(s.to_owned())
    }
}

impl std::fmt::Display for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserKey::Id(id) => write!(f, "#{id}"),
            UserKey::Username(u) => f.write_str(u),
        }
    }
}

/// A user within the caller's reach, with what decisions about them need.
#[derive(Clone)]
pub(crate) struct Reached {
    pub(crate) user: User,
    pub(crate) user_type: UserType,
    pub(crate) branches: Vec<Branch>,
}

impl Service {
    /// Finds a user the caller may act on. Users outside a branch administrator's branches
    /// are "not found"; users of a higher type are forbidden.
    /// The user a key names, if any (no scope, no lock).
    pub(crate) async fn user_by_key(&self, tx: &mut dyn ReadTx, key: &UserKey) -> Result<Option<User>> {
        match key {
            UserKey::Id(id) => tx.user_by_id(*id).await,
            UserKey::Username(name) => tx.user_by_username(&name_key(name.trim())).await,
        }
    }

    async fn reach(&self, tx: &mut dyn ReadTx, who: &Principal, key: &UserKey) -> Result<Reached> {
        let found = self.user_by_key(tx, key).await?;
        self.reached(tx, who, key, found).await
    }

    /// [`Self::reach`] for a change: the row is read under a lock, so concurrent changes to
    /// one user (two deactivations, an edit racing a deactivation) apply one after the other
    /// and the seat counters can't drift.
    pub(crate) async fn reach_locked(&self, tx: &mut dyn Tx, who: &Principal, key: &UserKey) -> Result<Reached> {
        let found = match self.user_by_key(tx, key).await? {
            Some(u) => tx.lock_user(u.id).await?,
            None => None,
        };
        self.reached(tx, who, key, found).await
    }

    async fn reached(
        &self,
        tx: &mut dyn ReadTx,
        who: &Principal,
        key: &UserKey,
        found: Option<User>,
    ) -> Result<Reached> {
        let user = found.ok_or_else(|| Error::not_found(Entity::User, key))?;
        let branches = tx.user_branches(user.id).await?;
        let ids: Vec<_> = branches.iter().map(|b| b.id).collect();
        if !who.sees(&ids) {
            return Err(Error::not_found(Entity::User, key));
        }
        let user_type = self.type_by_id(tx, user.user_type_id).await?;
        Ok(Reached {
            user,
            user_type,
            branches,
        })
    }

    pub(crate) async fn reach_to_change(&self, tx: &mut dyn Tx, who: &Principal, key: &UserKey) -> Result<Reached> {
        who.require(Area::UsersManage)?;
        let r = self.reach_locked(tx, who, key).await?;
        let branches: Vec<BranchId> = r.branches.iter().map(|b| b.id).collect();
        who.require_change(&r.user, &r.user_type, &branches)?;
        Ok(r)
    }

    pub(crate) async fn reach_user(&self, tx: &mut dyn Tx, who: &Principal, key: &UserKey) -> Result<User> {
        Ok(self.reach_to_change(tx, who, key).await?.user)
    }

    pub(crate) async fn view_of(&self, tx: &mut dyn ReadTx, user: &User) -> Result<UserView> {
        self.view(tx, user).await
    }

    async fn view(&self, tx: &mut dyn ReadTx, user: &User) -> Result<UserView> {
        let t = self.type_by_id(tx, user.user_type_id).await?;
        let branches = tx.user_branches(user.id).await?.into_iter().map(|b| b.name).collect();
        let groups = tx.user_groups(user.id).await?.into_iter().map(|g| g.name).collect();
        Ok(UserView::new(user, &t.name, branches, groups))
    }

    /// A type the caller may give: it exists, the plan allows it, it is not above the caller.
    async fn grantable_type(&self, tx: &mut dyn Tx, who: &Principal, name: &str) -> Result<UserType> {
        let t = self.type_by_name(tx, name).await?;
        who.require_rank(&t, "grant the type of")?;
        if !t.builtin {
            tx.plan().await?.require(Feature::CustomUserTypes)?;
        }
        Ok(t)
    }

    async fn reachable_branch(&self, tx: &mut dyn ReadTx, who: &Principal, name: &str) -> Result<Branch> {
        let b = self.branch_by_name(tx, name).await?;
        who.require_branch(b.id, name)?;
        Ok(b)
    }

    async fn reachable_group(&self, tx: &mut dyn ReadTx, who: &Principal, name: &str) -> Result<Group> {
        let g = self.group_by_name(tx, name).await?;
        if who.branch_ids().is_some() && !g.branch_id.is_some_and(|b| who.sees(&[b])) {
            return Err(Error::not_found(Entity::Group, name));
        }
        Ok(g)
    }

    async fn take_seat(&self, tx: &mut dyn Tx) -> Result<()> {
        self.take_seats(tx, 1).await
    }

    async fn take_seats(&self, tx: &mut dyn Tx, n: i64) -> Result<()> {
        if tx.try_take_seats(n).await? {
            return Ok(());
        }
        let plan = tx.plan().await?;
        Err(Error::SeatLimitReached {
            used: plan.seats_used,
            limit: plan.seat_limit,
        })
    }

    async fn take_branch_seat(&self, tx: &mut dyn Tx, branch: &Branch) -> Result<()> {
        self.take_branch_seats(tx, branch, 1).await
    }

    async fn take_branch_seats(&self, tx: &mut dyn Tx, branch: &Branch, n: i64) -> Result<()> {
        if tx.try_take_branch_seats(branch.id, n).await? {
            Ok(())
        } else {
            Err(Error::BranchSeatCapReached {
                branch: branch.name.clone(),
                cap: branch.seat_cap.unwrap_or_default(),
            })
        }
    }

    /// The last active platform administrator can't stop being one, by any channel. Runs
    /// after the change, once the plan-row lock serialises it with concurrent changes.
    async fn guard_last_admin(&self, tx: &mut dyn Tx) -> Result<()> {
        if tx.count_active_of_type(BaseRole::Administrator.builtin_id()).await? == 0 {
            return Err(Error::rule(
                RuleCode::LastAdministrator,
                "this is the last active administrator; make another user an administrator first",
            ));
        }
        Ok(())
    }

    pub async fn create_user(&self, ctx: &Context, input: NewUser) -> Result<UserView> {
        // Hash before the transaction: argon2 takes tens of milliseconds, and the write
        // lock must not wait for it.
        let password_hash = password::hash_off_thread(input.password.clone()).await?;
        self.write(ctx, None, async |tx, who| {
            let view = self.create_in(&mut **tx, ctx, who, input, password_hash).await?;
            Ok(view)
        })
        .await
    }

    /// Creates a user inside `tx`. `password_hash` is the hash of `input.password`, made
    /// outside any transaction.
    pub(crate) async fn create_in(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        input: NewUser,
        password_hash: Option<String>,
    ) -> Result<UserView> {
        let mut views = self.create_all_in(tx, ctx, who, vec![(input, password_hash)]).await?;
        views
            .pop()
            .ok_or_else(|| Error::internal("a created user went missing"))
    }

    /// Creates users inside `tx` (an import's batch), each with the hash of its password:
    /// every rule of a single create, with the writes of all of them made together — one
    /// statement for the seats, one read for taken names, one multi-row insert each for the
    /// users, their memberships and their audit entries — so a batch costs about what one
    /// create does. Any user refused refuses the whole batch.
    pub(crate) async fn create_all_in(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        inputs: Vec<(NewUser, Option<String>)>,
    ) -> Result<Vec<UserView>> {
        who.require(Area::UsersManage)?;
        let mut known = Resolved::default();
        let mut prepared = Vec::with_capacity(inputs.len());
        for (input, hash) in inputs {
            prepared.push(self.prepare_user(tx, ctx, who, input, hash, &mut known).await?);
        }

        let username_keys: Vec<String> = prepared.iter().map(|p| p.user.username.key()).collect();
        let email_keys: Vec<String> = prepared.iter().map(|p| p.user.email.key()).collect();
        let taken = tx.users_by_keys(&username_keys, &email_keys).await?;
        for p in &prepared {
            if taken.iter().any(|t| t.username.key() == p.user.username.key()) {
                return Err(Error::UsernameTaken(p.user.username.to_string()));
            }
            if taken.iter().any(|t| t.email.key() == p.user.email.key()) {
                return Err(Error::EmailTaken(p.user.email.to_string()));
            }
        }

        let rows: Vec<(User<Unsaved>, Option<String>)> =
            prepared.iter_mut().map(|p| (p.user.clone(), p.hash.take())).collect();
        let ids = tx.insert_users(&rows).await?;
        drop(rows);
        failpoint("user.after-write")?;
        let users: Vec<User> = prepared
            .iter()
            .zip(&ids)
            .map(|(p, id)| p.user.clone().saved(*id))
            .collect();
        let memberships: Vec<(UserId, BranchId)> = prepared
            .iter()
            .zip(&users)
            .flat_map(|(p, u)| p.branches.iter().map(|b| (u.id, b.id)))
            .collect();
        tx.add_user_branches(&memberships).await?;
        let members: Vec<(GroupId, UserId)> = prepared
            .iter()
            .zip(&users)
            .flat_map(|(p, u)| p.groups.iter().map(|g| (g.id, u.id)))
            .collect();
        tx.add_group_members(&members).await?;
        for (p, user) in prepared.iter().zip(&users) {
            for g in &p.groups {
                if known.group_has_courses(tx, g.id).await? {
                    self.enroll_in_group_courses(tx, ctx, who, g.id, user).await?;
                }
            }
        }

        let mut changes = Vec::with_capacity(users.len());
        let mut views = Vec::with_capacity(users.len());
        let (mut seated, mut per_branch): (i64, Vec<(Branch, i64)>) = (0, vec![]);
        for (p, user) in prepared.into_iter().zip(users) {
            let branch_names: Vec<String> = p.branches.iter().map(|b| b.name.clone()).collect();
            let group_names: Vec<String> = p.groups.iter().map(|g| g.name.clone()).collect();
            let change = json!({
                "username": user.username.as_str(),
                "email": user.email.as_str(),
                "first_name": user.first_name.as_str(),
                "last_name": user.last_name.as_str(),
                "user_type": p.user_type,
                "branches": json!(branch_names),
                "groups": json!(group_names),
                "status": user.status.as_str(),
                "password": if user.has_password { Some("[redacted]") } else { None },
                "external_id": user.external_id,
                "deactivate_at": user.deactivate_at.map(format_millis),
                "idle_exempt": user.idle_exempt,
                "reactivate_at": user.reactivate_at.map(format_millis),
            });
            self.welcome(tx, &user, super::mail::Welcome(p.send_welcome)).await?;
            changes.push(Change::user(AuditAction::UserCreate, &user, change));
            views.push(UserView::new(&user, &p.user_type, branch_names, group_names));
            if user.status.holds_seat() {
                seated += 1;
                for b in p.branches {
                    match per_branch.iter_mut().find(|(x, _)| x.id == b.id) {
                        Some((_, n)) => *n += 1,
                        None => per_branch.push((b, 1)),
                    }
                }
            }
        }
        failpoint("user.after-outbox")?;
        self.record_all(tx, ctx, who, changes).await?;
        failpoint("user.after-audit")?;
        // The seats last: the plan's row (and a branch's) is what every concurrent create
        // waits for, so it is locked for the end of the transaction only.
        if seated > 0 {
            self.take_seats(tx, seated).await?;
            for (b, n) in &per_branch {
                self.take_branch_seats(tx, b, *n).await?;
            }
        }
        Ok(views)
    }

    /// Checks a new user's input and resolves what it names (type, branches, groups),
    /// writing nothing.
    async fn prepare_user(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        input: NewUser,
        password_hash: Option<String>,
        known: &mut Resolved,
    ) -> Result<NewAccount> {
        let username = Username::parse(&input.username)?;
        let email = Email::parse(&input.email)?;
        let first_name = PersonName::parse("first_name", &input.first_name)?;
        let last_name = PersonName::parse("last_name", &input.last_name)?;
        let external_id = input.external_id.as_deref().map(validate_external_id).transpose()?;

        let mut branches = Vec::new();
        for name in &input.branches {
            let b = match known.branches.get(name) {
                Some(b) => b.clone(),
                None => {
                    let b = self.reachable_branch(tx, who, name).await?;
                    known.branches.insert(name.clone(), b.clone());
                    b
                }
            };
            if !branches.iter().any(|x: &Branch| x.id == b.id) {
                branches.push(b);
            }
        }
        // A branch administrator's users must be in one of their branches.
        if let (true, Some(mine)) = (branches.is_empty(), who.branch_ids()) {
            let all = tx.branches().await?;
            match mine {
                [only] => branches.extend(all.into_iter().filter(|b| b.id == *only)),
                _ => {
                    return Err(Error::invalid("branches", "name the branch the user belongs to"));
                }
            }
        }
        if !branches.is_empty() && !known.branches_allowed {
            tx.plan().await?.require(Feature::Branches)?;
            known.branches_allowed = true;
        }
        let type_name = match (&input.user_type, branches.first().and_then(|b| b.default_type_id)) {
            (Some(name), _) => Some(name.clone()),
            (None, Some(default)) => Some(self.type_by_id(tx, default).await?.name),
            (None, None) => None,
        };
        let user_type = match type_name {
            Some(name) => match known.types.get(&name) {
                Some(t) => t.clone(),
                None => {
                    let t = self.grantable_type(tx, who, &name).await?;
                    known.types.insert(name, t.clone());
                    t
                }
            },
            None => UserType::builtin(BaseRole::Learner),
        };
        let mut groups = Vec::new();
        for name in &input.groups {
            let g = match known.groups.get(name) {
                Some(g) => g.clone(),
                None => {
                    let g = self.reachable_group(tx, who, name).await?;
                    known.groups.insert(name.clone(), g.clone());
                    g
                }
            };
            if !groups.iter().any(|x: &Group| x.id == g.id) {
                groups.push(g);
            }
        }

        let status = if input.active {
            UserStatus::Active
        } else {
            UserStatus::Deactivated
        };
        let now = self.now();
        let user: User<Unsaved> = User {
            id: Unsaved,
            username,
            email,
            first_name,
            last_name,
            user_type_id: user_type.id,
            status,
            origin: ctx.channel.origin(),
            external_id,
            exclude_from_emails: input.exclude_from_emails,
            has_password: password_hash.is_some(),
            created_at: now,
            updated_at: now,
            last_login_at: None,
            deactivated_at: (!status.holds_seat()).then_some(now),
            deleted_at: None,
            deactivate_at: input.deactivate_at,
            reactivate_at: input.reactivate_at,
            scim_linked: ctx.channel == crate::actor::Channel::Scim,
            idle_exempt: input.idle_exempt,
            reactivated_at: None,
            idle_warned_at: None,
            idle_deadline: None,
        };
        check_leave(user.deactivate_at, user.reactivate_at)?;
        Ok(NewAccount {
            user,
            hash: password_hash,
            user_type: user_type.name,
            branches,
            groups,
            send_welcome: input.send_welcome,
        })
    }

    pub async fn get_user(&self, ctx: &Context, key: &UserKey) -> Result<UserView> {
        self.read(ctx, Some(Area::UsersManage), async |tx, who| {
            let r = self.reach(&mut **tx, who, key).await?;
            self.view(&mut **tx, &r.user).await
        })
        .await
    }

    /// Resolves list filters (names to ids, days to a cutoff) within the caller's scope.
    pub(crate) async fn user_query(&self, tx: &mut dyn ReadTx, who: &Principal, f: &UserFilter) -> Result<UserQuery> {
        let mut q = UserQuery {
            status: f.status,
            never_logged_in: f.never_logged_in,
            scope: who.branch_ids().map(<[BranchId]>::to_vec),
            limit: f.limit.unwrap_or(100).clamp(1, MAX_PAGE),
            ..UserQuery::default()
        };
        if let Some(t) = &f.user_type {
            q.type_id = Some(self.type_by_name(tx, t).await?.id);
        }
        if let Some(b) = &f.branch {
            q.branch = Some(self.reachable_branch(tx, who, b).await?.id);
        }
        if let Some(g) = &f.group {
            q.group = Some(self.reachable_group(tx, who, g).await?.id);
        }
        if let Some(days) = f.idle_days {
            if !(0..=36_500).contains(&days) {
                return Err(Error::invalid("idle_days", "must be between 0 and 36500"));
            }
            q.idle_before = Some(self.now() - days * DAY_MS);
        }
        if let Some(t) = f.last_login_before {
            q.idle_before = Some(q.idle_before.map_or(t, |d| d.min(t)));
        }
        if let Some(s) = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            if s.chars().count() > 200 || s.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "search",
                    "at most 200 characters, no control characters",
                ));
            }
            q.search = Some(s.to_lowercase());
        }
        if let Some(s) = f.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            q.order = UserOrder::parse(s)?;
        }
        if let Some(c) = &f.cursor {
            q.after = Some(UserCursor::decode(c, q.order)?);
        }
        Ok(q)
    }

    pub async fn list_users(&self, ctx: &Context, filter: &UserFilter) -> Result<UserPage> {
        self.read(ctx, Some(Area::UsersManage), async |tx, who| {
            let mut q = self.user_query(&mut **tx, who, filter).await?;
            let order = q.order;
            // A page backwards is the page after the cursor in the reverse order, turned round.
            let backwards = match &filter.before {
                Some(_) if filter.cursor.is_some() => {
                    return Err(Error::invalid("before", "give either a cursor or before, not both"));
                }
                Some(token) => {
                    q.after = Some(UserCursor::decode(token, order)?);
                    q.order.descending = !order.descending;
                    true
                }
                None => false,
            };
            let (mut users, mut more) = page_of(&mut **tx, &q, backwards).await?;
            // Nobody left past the cursor (they were deleted meanwhile): show the nearest end
            // of the list instead of an empty page with nowhere to go.
            let mut at_end = false;
            let mut backwards = backwards;
            if users.is_empty() && q.after.is_some() {
                q.after = None;
                backwards = !backwards;
                q.order.descending = order.descending != backwards;
                (users, more) = page_of(&mut **tx, &q, backwards).await?;
                at_end = true;
            }
            let types = tx.user_types().await?;
            let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
            // By user, so a page costs its rows, not its rows times its memberships.
            let by_user = |pairs: Vec<(UserId, String)>| {
                let mut map: HashMap<UserId, Vec<String>> = HashMap::new();
                for (u, name) in pairs {
                    map.entry(u).or_default().push(name);
                }
                map
            };
            let mut branches = by_user(tx.branch_names_of(&ids).await?);
            let mut groups = by_user(tx.group_names_of(&ids).await?);
            let items = users
                .iter()
                .map(|u| {
                    let type_name = types
                        .iter()
                        .find(|t| t.id == u.user_type_id)
                        .map_or("?", |t| t.name.as_str());
                    let branches = branches.remove(&u.id).unwrap_or_default();
                    let groups = groups.remove(&u.id).unwrap_or_default();
                    UserView::new(u, type_name, branches, groups)
                })
                .collect();
            let cursor_at = |u: Option<&User>| u.map(|u| UserCursor { id: u.id }.encode(order));
            // Forwards, there is a page before unless this is the first; backwards, there is
            // the page we came from after this one — except at either end of the list.
            let (more_after, more_before) = if backwards {
                (!at_end, more)
            } else {
                (more, filter.cursor.is_some() && !at_end)
            };
            Ok(UserPage {
                items,
                next_cursor: more_after.then(|| cursor_at(users.last())).flatten(),
                prev_cursor: more_before.then(|| cursor_at(users.first())).flatten(),
            })
        })
        .await
    }
}

/// A page of users in list order (read backwards from the query's order when `backwards`),
/// and whether more follow in the direction read: one row past the page tells.
async fn page_of(tx: &mut dyn ReadTx, q: &UserQuery, backwards: bool) -> Result<(Vec<User>, bool)> {
    let mut q = q.clone();
    let limit = q.limit;
    q.limit += 1;
    let mut users = tx.list_users(&q).await?;
    let more = users.len() as i64 > limit;
    users.truncate(limit as usize);
    if backwards {
        users.reverse();
    }
    Ok((users, more))
}

impl Service {
    pub async fn count_users(&self, ctx: &Context, filter: &UserFilter) -> Result<i64> {
        self.read(ctx, Some(Area::UsersManage), async |tx, who| {
            let q = self.user_query(&mut **tx, who, filter).await?;
            tx.count_users(&q).await
        })
        .await
    }

    pub async fn update_user(&self, ctx: &Context, key: &UserKey, upd: UserUpdate) -> Result<UserView> {
        let password_hash = password::hash_off_thread(upd.password.clone()).await?;
        self.write(ctx, None, async |tx, who| {
            let reached = self.reach_to_change(&mut **tx, who, key).await?;
            let user = self
                .update_in(&mut **tx, ctx, who, reached, &upd, password_hash)
                .await?;
            let view = self.view(&mut **tx, &user).await?;
            Ok(view)
        })
        .await
    }

    /// Applies `upd` to a user already reached (and locked) inside `tx`; returns the user
    /// as changed. Shared by the plain update and by SCIM, which combines it with lifecycle
    /// moves in one transaction.
    pub(crate) async fn update_in(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        reached: Reached,
        upd: &UserUpdate,
        password_hash: Option<String>,
    ) -> Result<User> {
        let username = upd.username.as_deref().map(Username::parse).transpose()?;
        let email = upd.email.as_deref().map(Email::parse).transpose()?;
        let first_name = upd
            .first_name
            .as_deref()
            .map(|s| PersonName::parse("first_name", s))
            .transpose()?;
        let last_name = upd
            .last_name
            .as_deref()
            .map(|s| PersonName::parse("last_name", s))
            .transpose()?;
        let external_id = upd
            .external_id
            .as_ref()
            .map(|e| e.as_deref().map(validate_external_id).transpose())
            .transpose()?;
        let Reached {
            mut user,
            user_type,
            branches,
        } = reached;
        if user.status == UserStatus::Trash {
            return Err(Error::conflict(
                ConflictCode::InTrash,
                "the user is in the trash; restore them first",
            ));
        }
        let before = user.clone();
        let mut changes = serde_json::Map::new();
        let active = user.status.holds_seat();

        if let Some(name) = &upd.user_type {
            let t = self.grantable_type(tx, who, name).await?;
            if t.id != user.user_type_id {
                if who.user_id == Some(user.id) {
                    return Err(Error::forbidden("you can't change your own user type"));
                }
                user.user_type_id = t.id;
                changes.insert("user_type".into(), json!([user_type.name, t.name]));
            }
        }
        if let Some(n) = username.filter(|n| *n != user.username) {
            if n.key() != user.username.key() && tx.user_by_username(&n.key()).await?.is_some() {
                return Err(Error::UsernameTaken(n.to_string()));
            }
            changes.insert("username".into(), json!([user.username.as_str(), n.as_str()]));
            user.username = n;
        }
        if let Some(e) = email {
            if e.key() != user.email.key() && tx.user_by_email(&e.key()).await?.is_some() {
                return Err(Error::EmailTaken(e.to_string()));
            }
            if e != user.email {
                changes.insert("email".into(), json!([user.email.as_str(), e.as_str()]));
                user.email = e;
            }
        }
        for (field, new, slot) in [
            ("first_name", first_name, &mut user.first_name),
            ("last_name", last_name, &mut user.last_name),
        ] {
            if let Some(n) = new.filter(|n| n != slot) {
                changes.insert(field.into(), json!([slot.as_str(), n.as_str()]));
                *slot = n;
            }
        }
        if let Some(e) = external_id.filter(|e| *e != user.external_id) {
            changes.insert("external_id".into(), json!([user.external_id, e]));
            user.external_id = e;
        }
        if let Some(x) = upd.exclude_from_emails.filter(|x| *x != user.exclude_from_emails) {
            changes.insert("exclude_from_emails".into(), json!([user.exclude_from_emails, x]));
            user.exclude_from_emails = x;
        }
        if let Some(d) = upd.deactivate_at.filter(|d| *d != user.deactivate_at) {
            changes.insert(
                "deactivate_at".into(),
                json!([user.deactivate_at.map(format_millis), d.map(format_millis)]),
            );
            user.deactivate_at = d;
        }
        if let Some(x) = upd.idle_exempt.filter(|x| *x != user.idle_exempt) {
            changes.insert("idle_exempt".into(), json!([user.idle_exempt, x]));
            user.idle_exempt = x;
            if x {
                // An exempt account is not deactivated: a warning it was sent is void.
                user.idle_warned_at = None;
                user.idle_deadline = None;
            }
        }
        if let Some(d) = upd.reactivate_at.filter(|d| *d != user.reactivate_at) {
            changes.insert(
                "reactivate_at".into(),
                json!([user.reactivate_at.map(format_millis), d.map(format_millis)]),
            );
            user.reactivate_at = d;
        }
        check_leave(user.deactivate_at, user.reactivate_at)?;
        if let Some(h) = &password_hash {
            tx.set_password_hash(user.id, Some(h)).await?;
            user.has_password = true;
            changes.insert("password".into(), json!("[redacted]"));
        }

        let mut member_of: Vec<BranchId> = branches.iter().map(|b| b.id).collect();
        for name in &upd.add_branches {
            let b = self.reachable_branch(tx, who, name).await?;
            tx.plan().await?.require(Feature::Branches)?;
            if tx.add_user_branch(user.id, b.id).await? {
                if active {
                    self.take_branch_seat(tx, &b).await?;
                }
                member_of.push(b.id);
                changes.insert(format!("branch:{}", b.name), json!("added"));
            }
        }
        for name in &upd.remove_branches {
            let b = self.reachable_branch(tx, who, name).await?;
            if tx.remove_user_branch(user.id, b.id).await? {
                if active {
                    tx.release_branch_seat(b.id).await?;
                }
                member_of.retain(|x| *x != b.id);
                changes.insert(format!("branch:{}", b.name), json!("removed"));
            }
        }
        if who.branch_ids().is_some() && !who.sees(&member_of) {
            return Err(Error::rule(
                RuleCode::OutsideYourBranches,
                "the user would leave all of your branches; a branch administrator keeps users in one of theirs",
            ));
        }
        for name in &upd.add_groups {
            let g = self.reachable_group(tx, who, name).await?;
            if tx.add_group_member(g.id, user.id).await? {
                self.enroll_in_group_courses(tx, ctx, who, g.id, &user).await?;
                changes.insert(format!("group:{}", g.name), json!("added"));
            }
        }
        for name in &upd.remove_groups {
            let g = self.reachable_group(tx, who, name).await?;
            if tx.remove_group_member(g.id, user.id).await? {
                changes.insert(format!("group:{}", g.name), json!("removed"));
            }
        }

        if let Some(subject) = &upd.sso_subject {
            let t = self.type_by_id(tx, user.user_type_id).await?;
            self.set_sso_subject_in(tx, ctx, who, &user, &t, subject.as_deref())
                .await?;
        }

        if changes.is_empty() {
            return Ok(user);
        }
        if user.user_type_id != before.user_type_id || password_hash.is_some() {
            // A new type means new permissions, a new password new credentials: sessions
            // signed in under the old ones end.
            tx.delete_user_sessions(user.id).await?;
        }
        if user.email.key() != before.email.key() {
            // Links already sent went to the old address: none of them works any more (and
            // queued mail to it is given up when its turn comes).
            tx.retire_all_password_tokens(user.id, self.now()).await?;
        }
        let was_admin = active && before.user_type_id == BaseRole::Administrator.builtin_id();
        if was_admin && user.user_type_id != before.user_type_id {
            tx.lock_seats().await?;
        }
        user.updated_at = self.now();
        tx.update_user(&user).await?;
        if was_admin && user.user_type_id != before.user_type_id {
            self.guard_last_admin(tx).await?;
        }
        self.record(
            tx,
            ctx,
            who,
            Change::user(AuditAction::UserUpdate, &user, changes.into()),
        )
        .await?;
        Ok(user)
    }

    /// Applies one lifecycle move inside `tx`: seats, branch caps, the last-administrator
    /// guard, timestamps and the audit entry. `Ok(None)` when the user was already there.
    pub(crate) async fn transition(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        reached: Reached,
        action: LifecycleAction,
    ) -> Result<Option<User>> {
        let Reached {
            mut user,
            user_type,
            branches,
        } = reached;
        let Some(to) = action.apply(user.status)? else {
            return Ok(None);
        };
        let from = user.status;
        let now = self.now();
        let mut tokens_revoked = 0;
        if to.holds_seat() && !from.holds_seat() {
            self.take_seat(tx).await?;
            for b in &branches {
                self.take_branch_seat(tx, b).await?;
            }
        } else if from.holds_seat() && !to.holds_seat() {
            if who.user_id == Some(user.id) {
                return Err(Error::forbidden(format!(
                    "you can't {} your own account",
                    action.verb()
                )));
            }
            tx.release_seats(1).await?;
            for b in &branches {
                tx.release_branch_seat(b.id).await?;
            }
            // Access ends with the seat: the user's tokens are revoked, not merely idle, and
            // their sessions end.
            tokens_revoked = tx.revoke_user_tokens(user.id, now).await?;
            tx.delete_user_sessions(user.id).await?;
        }
        user.status = to;
        user.updated_at = now;
        // Any status change ends an idle warning: the account left, or came back.
        user.idle_warned_at = None;
        user.idle_deadline = None;
        match to {
            UserStatus::Active => {
                // Back from a leave (on its date or earlier, by hand): the date is spent.
                user.deactivated_at = None;
                user.reactivated_at = Some(now);
                user.reactivate_at = None;
            }
            UserStatus::Deactivated if from == UserStatus::Active => {
                user.deactivated_at = Some(now);
                user.deactivate_at = None;
            }
            UserStatus::Deactivated => user.deleted_at = None,
            UserStatus::Trash => {
                user.deleted_at = Some(now);
                if from == UserStatus::Active {
                    user.deactivated_at = Some(now);
                }
                user.deactivate_at = None;
                user.reactivate_at = None;
            }
        }
        tx.update_user(&user).await?;
        if from.holds_seat() && !to.holds_seat() && user_type.base == BaseRole::Administrator {
            self.guard_last_admin(tx).await?;
        }
        let action_name = match action {
            LifecycleAction::Activate => AuditAction::UserActivate,
            LifecycleAction::Deactivate => AuditAction::UserDeactivate,
            LifecycleAction::Delete => AuditAction::UserDelete,
            LifecycleAction::Restore => AuditAction::UserRestore,
        };
        let changes = json!({ "status": [from.as_str(), to.as_str()], "tokens_revoked": tokens_revoked });
        self.record(tx, ctx, who, Change::user(action_name, &user, changes))
            .await?;
        Ok(Some(user))
    }

    async fn lifecycle(&self, ctx: &Context, key: &UserKey, action: LifecycleAction) -> Result<UserView> {
        self.write(ctx, None, async |tx, who| {
            let reached = self.reach_to_change(&mut **tx, who, key).await?;
            let unchanged = reached.user.clone();
            let user = self
                .transition(&mut **tx, ctx, who, reached, action)
                .await?
                .unwrap_or(unchanged);
            let view = self.view(&mut **tx, &user).await?;
            Ok(view)
        })
        .await
    }

    /// Signs the user out of every console session (a lost laptop, a shared computer). Anyone
    /// may do it for themselves; for others it takes the right to change that user. API
    /// tokens are not sessions: they are revoked on their own.
    pub async fn end_sessions(&self, ctx: &Context, key: &UserKey) -> Result<u64> {
        self.write(ctx, None, async |tx, who| {
            // Oneself needs no right over users; anyone else is reached as for any change.
            let me = match who.user_id {
                Some(id) => tx.user_by_id(id).await?,
                None => None,
            };
            let names_me = |me: &User| match key {
                UserKey::Id(id) => *id == me.id,
                UserKey::Username(name) => name_key(name.trim()) == me.username.key(),
            };
            let user = match me {
                Some(me) if names_me(&me) => me,
                _ => self.reach_user(&mut **tx, who, key).await?,
            };
            let ended = tx.delete_user_sessions(user.id).await?;
            if ended > 0 {
                self.record(
                    &mut **tx,
                    ctx,
                    who,
                    Change::user(AuditAction::UserSessionsEnd, &user, json!({ "sessions": ended })),
                )
                .await?;
            }
            Ok(ended)
        })
        .await
    }

    /// Frees the seat and keeps every record; the user can no longer sign in or use tokens.
    pub async fn deactivate_user(&self, ctx: &Context, key: &UserKey) -> Result<UserView> {
        self.lifecycle(ctx, key, LifecycleAction::Deactivate).await
    }

    /// Needs a free seat; restores access and all history.
    pub async fn activate_user(&self, ctx: &Context, key: &UserKey) -> Result<UserView> {
        self.lifecycle(ctx, key, LifecycleAction::Activate).await
    }

    /// Back from the trash, deactivated (reactivation is a separate, seat-taking step).
    pub async fn restore_user(&self, ctx: &Context, key: &UserKey) -> Result<UserView> {
        self.lifecycle(ctx, key, LifecycleAction::Restore).await
    }

    /// Moves the user to the trash — or erases them at once with `purge`. The caller must
    /// confirm with the username.
    pub async fn delete_user(
        &self,
        ctx: &Context,
        key: &UserKey,
        confirm: Option<&str>,
        purge: bool,
        reassign_courses_to: Option<&UserKey>,
    ) -> Result<Option<UserView>> {
        let mut txb = self.store.begin().await?;
        let tx = txb.as_mut();
        let who = self.principal(tx, ctx).await?;
        if purge {
            who.require_platform_admin("erase a user's records now")?;
        }
        let reached = self.reach_to_change(tx, &who, key).await?;
        let username = reached.user.username.clone();
        if confirm.map(|c| name_key(c.trim())) != Some(username.key()) {
            return Err(Error::ConfirmationRequired(format!(
                "deleting erases records after the retention period; confirm with the username: --confirm {username}"
            )));
        }
        // Courses the user owns move to the named owner (default: the acting user) first.
        self.reassign_owned_courses(tx, ctx, &who, &reached.user, reassign_courses_to)
            .await?;
        let user = if reached.user.status == UserStatus::Trash && purge {
            reached.user
        } else {
            let unchanged = reached.user.clone();
            self.transition(tx, ctx, &who, reached, LifecycleAction::Delete)
                .await?
                .unwrap_or(unchanged)
        };
        if purge {
            self.purge_in(tx, ctx, &who, &user).await?;
            self.commit(txb).await?;
            return Ok(None);
        }
        let view = self.view(tx, &user).await?;
        self.commit(txb).await?;
        Ok(Some(view))
    }

    /// Erases a trashed user: the row, memberships, and the personal data of every audit
    /// entry by or about them. The chain stays verifiable; entries keep only the user's id.
    async fn purge_in(&self, tx: &mut dyn Tx, ctx: &Context, who: &Principal, user: &User) -> Result<()> {
        debug_assert_eq!(user.status, UserStatus::Trash);
        if tx.count_owned_courses(user.id).await? > 0 {
            return Err(Error::rule(
                RuleCode::OwnsCourses,
                format!(
                    "'{}' still owns courses; restore and delete again naming a new owner",
                    user.username
                ),
            ));
        }
        let now = self.now();
        tx.erase_audit_personal(user.id, now).await?;
        tx.purge_user(user.id).await?;
        let change = Change {
            action: AuditAction::UserPurge,
            target_kind: Some("user"),
            target_id: Some(user.id.0),
            target_label: None,
            changes: json!({}),
        };
        self.record(tx, ctx, who, change).await
    }
}

/// A leave of absence ends after it begins: a reactivation date on or before the
/// deactivation date would never take effect.
fn check_leave(deactivate_at: Option<Millis>, reactivate_at: Option<Millis>) -> Result<()> {
    match (deactivate_at, reactivate_at) {
        (Some(d), Some(r)) if r <= d => Err(Error::invalid(
            "reactivate_at",
            format!(
                "the reactivation date {} is not after the deactivation date {}",
                format_millis(r),
                format_millis(d)
            ),
        )),
        _ => Ok(()),
    }
}

fn validate_external_id(s: &str) -> Result<String> {
    if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
        return Err(Error::invalid("external_id", "1 to 256 bytes, no control characters"));
    }
    Ok(s.to_owned())
}

impl System<'_> {
    /// Purges users who have been in the trash longer than `deletion_retention_days`.
    pub async fn purge_expired_trash(self) -> Result<usize> {
        Ok(self.purge_trash(false).await?.len())
    }

    /// Purges (or with `dry`, lists) the users past the trash's retention period.
    pub(crate) async fn purge_trash(self, dry: bool) -> Result<Vec<super::schedule::JobAction>> {
        let ctx = Context::system("trash_retention");
        let who = Principal::superuser();
        let days = match self.service.setting_value(Setting::DeletionRetentionDays).await? {
            SettingValue::Days(d) => d,
            _ => 30,
        };
        let due = {
            let mut tx = self.service.store.begin_read().await?;
            tx.trash_due_for_purge(self.service.now() - days * DAY_MS, 1000).await?
        };
        let mut done = Vec::new();
        if dry {
            let mut tx = self.service.store.begin_read().await?;
            for id in due {
                if let Some(u) = tx.user_by_id(id).await? {
                    done.push(super::schedule::JobAction {
                        action: "purge".into(),
                        target: u.username.to_string(),
                        note: None,
                    });
                }
            }
            return Ok(done);
        }
        for id in due {
            // The row lock makes a second instance running the job wait, then find the user
            // gone; one failure (a user who still owns courses) doesn't stop the others.
            let mut tx = self.service.store.begin().await?;
            match tx.lock_user(id).await? {
                Some(u) if u.status == UserStatus::Trash => {
                    let purged = super::schedule::JobAction {
                        action: "purge".into(),
                        target: u.username.to_string(),
                        note: None,
                    };
                    match self.service.purge_in(tx.as_mut(), &ctx, &who, &u).await {
                        Ok(()) => {
                            self.service.commit(tx).await?;
                            done.push(purged);
                        }
                        Err(e) => tracing::warn!(user = id.0, error = %e, "purge after the retention period refused"),
                    }
                }
                _ => {}
            }
        }
        Ok(done)
    }
}

/// A new user checked and resolved, not yet written.
struct NewAccount {
    user: User<Unsaved>,
    hash: Option<String>,
    user_type: String,
    branches: Vec<Branch>,
    groups: Vec<Group>,
    send_welcome: Option<bool>,
}

/// What a batch of creates has looked up once already, by the name it was given.
#[derive(Default)]
struct Resolved {
    branches: HashMap<String, Branch>,
    groups: HashMap<String, Group>,
    types: HashMap<String, UserType>,
    branches_allowed: bool,
    group_courses: HashMap<GroupId, bool>,
}

impl Resolved {
    async fn group_has_courses(&mut self, tx: &mut dyn Tx, group: GroupId) -> Result<bool> {
        if let Some(has) = self.group_courses.get(&group) {
            return Ok(*has);
        }
        let has = !tx.group_course_ids(group).await?.is_empty();
        self.group_courses.insert(group, has);
        Ok(has)
    }
}
