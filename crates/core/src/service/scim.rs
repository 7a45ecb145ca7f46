//! SCIM provisioning rules: linking, the default type, department → branch, DELETE, and
//! group membership written row by row. The JSON, filters and PATCH semantics live in
//! `rollcall-scim`; this is what they mean for rollcall's users and groups.

use super::users::{NewUser, Reached, UserKey, UserUpdate};
use super::{Change, Service};
use crate::actor::{Context, Principal};
use crate::audit::AuditAction;
use crate::domain::user::LifecycleAction;
use crate::domain::*;
use crate::ports::{GroupField, GroupQuery, Pred, ReadTx, Tx, UserField, UserQuery};
use crate::{ConflictCode, Entity, Error, Result, password};
use serde_json::json;

/// A user as SCIM reads and writes it: every attribute rollcall maps.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScimUserState {
    pub user_name: String,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    pub active: bool,
    pub external_id: Option<String>,
    /// `None`: the SCIM default type (setting `scim_default_type`).
    pub user_type: Option<String>,
    /// The name of the branch the department maps to.
    pub department: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordChange {
    Keep,
    Set(String),
    Clear,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimUserView {
    pub id: i64,
    pub state: ScimUserState,
    pub created: Millis,
    pub last_modified: Millis,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimGroupView {
    pub id: i64,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<i64>,
    pub created: Millis,
    pub last_modified: Millis,
}

/// One change to a group, as a PATCH operation or a PUT decomposes into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupChange {
    Rename(String),
    ExternalId(Option<String>),
    AddMembers(Vec<i64>),
    RemoveMembers(Vec<i64>),
    RemoveAllMembers,
    /// The member list becomes exactly these (rows removed and added, never rewritten).
    ReplaceMembers(Vec<i64>),
}

/// Most results one SCIM list page returns (advertised in ServiceProviderConfig).
pub const SCIM_MAX_RESULTS: i64 = 200;

impl Service {
    async fn scim_default_type(&self, tx: &mut dyn ReadTx) -> Result<UserType> {
        let name = match tx.setting(Setting::ScimDefaultType.key()).await? {
            Some(v) => v,
            None => Setting::ScimDefaultType.default_value().to_string(),
        };
        match tx.user_type_by_key(&access::type_key(&name)).await? {
            Some(t) => Ok(t),
            None => Ok(UserType::builtin(BaseRole::Learner)),
        }
    }

    /// The type a SCIM `userType` asks for: a known type the identity provider may give,
    /// else the default. Asking for an administrator type is refused, not defaulted.
    async fn scim_type(&self, tx: &mut dyn Tx, who: &Principal, name: Option<&str>) -> Result<UserType> {
        let found = match name {
            Some(n) => tx.user_type_by_key(&access::type_key(n)).await?,
            None => None,
        };
        match found {
            Some(t) => {
                who.require_rank(&t, "give the type of")?;
                if !t.builtin {
                    tx.plan().await?.require(Feature::CustomUserTypes)?;
                }
                Ok(t)
            }
            None => self.scim_default_type(tx).await,
        }
    }

    /// The branch a department maps to, per setting `scim_department`.
    async fn scim_branch(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        department: &str,
    ) -> Result<Option<Branch>> {
        let mode = tx
            .setting(Setting::ScimDepartment.key())
            .await?
            .unwrap_or_else(|| "create".into());
        if mode == "off" {
            return Ok(None);
        }
        if let Some(b) = tx.branch_by_key(&name_key(department.trim())).await? {
            return Ok(Some(b));
        }
        if mode != "create" {
            return Err(Error::invalid(
                "department",
                format!("no branch named '{department}' exists"),
            ));
        }
        tx.plan().await?.require(Feature::Branches)?;
        let name = org::validate_org_name("department", department)?;
        let taken: Vec<String> = tx.branches().await?.into_iter().map(|b| b.slug).collect();
        let base = org::slugify(&name);
        let slug = (1..)
            .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
            .find(|s| !taken.contains(s))
            .expect("an unused slug exists");
        let b: Branch<Unsaved> = Branch {
            id: Unsaved,
            name,
            slug,
            description: String::new(),
            default_type_id: None,
            seat_cap: None,
            active_users: 0,
        };
        let id = tx.insert_branch(&b).await?;
        let b = b.saved(id);
        let change = Change::other(
            AuditAction::BranchCreate,
            "branch",
            Some(b.id.0),
            &b.name,
            json!({ "name": b.name, "from": "scim department" }),
        );
        self.record(tx, ctx, who, change).await?;
        Ok(Some(b))
    }

    async fn scim_view(&self, tx: &mut dyn ReadTx, user: &User) -> Result<ScimUserView> {
        let default = self.scim_default_type(tx).await?;
        let branches = tx.user_branches(user.id).await?;
        self.scim_view_of(tx, user, &branches, &default).await
    }

    /// [`Service::scim_view`] of a user whose branches and the default type the caller has
    /// read already (once per request, not once per user).
    async fn scim_view_of(
        &self,
        tx: &mut dyn ReadTx,
        user: &User,
        branches: &[Branch],
        default: &UserType,
    ) -> Result<ScimUserView> {
        let user_type = if user.user_type_id == default.id {
            None
        } else {
            Some(self.type_by_id(tx, user.user_type_id).await?.name)
        };
        Ok(ScimUserView {
            id: user.id.0,
            state: ScimUserState {
                user_name: user.username.to_string(),
                given_name: user.first_name.to_string(),
                family_name: user.last_name.to_string(),
                email: user.email.to_string(),
                active: user.status.holds_seat(),
                external_id: user.external_id.clone(),
                user_type,
                department: branches.first().map(|b| b.name.clone()),
            },
            created: user.created_at,
            last_modified: user.updated_at,
        })
    }

    /// A user SCIM may act on: linked to the identity provider, not in the trash, within
    /// scope — read under a lock, whatever their type. Anything else is "not found", alike.
    /// What SCIM may then do to a user above its rank is decided by the caller: only take
    /// access away.
    async fn scim_reach(&self, tx: &mut dyn Tx, who: &Principal, id: i64) -> Result<Reached> {
        who.require(Area::UsersManage)?;
        let found = match tx.user_by_id(UserId(id)).await? {
            Some(u) => tx.lock_user(u.id).await?,
            None => None,
        };
        let user = found
            .filter(|u| u.scim_linked && u.status != UserStatus::Trash)
            .ok_or_else(|| Error::not_found(Entity::User, id))?;
        let branches = tx.user_branches(user.id).await?;
        let ids: Vec<BranchId> = branches.iter().map(|b| b.id).collect();
        if !who.sees(&ids) {
            return Err(Error::not_found(Entity::User, id));
        }
        let user_type = self.type_by_id(tx, user.user_type_id).await?;
        Ok(Reached {
            user,
            user_type,
            branches,
        })
    }

    /// A write to a user an administrator has given a type above the identity provider's
    /// rank: taking access away (deactivation) needs no rank, anything that would add or
    /// change access is refused. Attributes the request leaves out (`userType`,
    /// `department`, `externalId`) count as unchanged.
    async fn scim_take_away(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        reached: Reached,
        state: &ScimUserState,
        password: &PasswordChange,
    ) -> Result<User> {
        let current = self.scim_view(tx, &reached.user).await?.state;
        // Taking access away wins over everything else the request says: an identity
        // provider deprovisioning a user sends its whole picture of them (another type, a
        // new name), and none of that may keep the account active.
        if !state.active && current.active {
            let unchanged_user = reached.user.clone();
            return Ok(self
                .transition(tx, ctx, who, reached, LifecycleAction::Deactivate)
                .await?
                .unwrap_or(unchanged_user));
        }
        let same_name = |a: &Option<String>, b: &Option<String>| match a {
            None => true,
            Some(a) => b.as_deref().is_some_and(|b| name_key(a.trim()) == name_key(b.trim())),
        };
        let unchanged = name_key(state.user_name.trim()) == name_key(current.user_name.trim())
            && state.given_name.trim() == current.given_name
            && state.family_name.trim() == current.family_name
            && state.email.trim().eq_ignore_ascii_case(&current.email)
            && (state.external_id.is_none() || state.external_id == current.external_id)
            && (state.user_type.is_none()
                || state.user_type.as_deref().map(access::type_key) == Some(access::type_key(&reached.user_type.name)))
            && same_name(&state.department, &current.department)
            && *password == PasswordChange::Keep
            && (!state.active || current.active);
        if !unchanged {
            who.require_rank(&reached.user_type, "change")?;
        }
        let unchanged_user = reached.user.clone();
        if !state.active && current.active {
            return Ok(self
                .transition(tx, ctx, who, reached, LifecycleAction::Deactivate)
                .await?
                .unwrap_or(unchanged_user));
        }
        Ok(unchanged_user)
    }

    /// The types an identity provider may send as `userType` besides the default, as the
    /// SCIM schema publishes them: each type its rank lets it give (as [`Service::scim_type`]
    /// decides), the default type excepted.
    pub async fn scim_grantable_types(&self, ctx: &Context) -> Result<Vec<String>> {
        self.read(ctx, Some(Area::UsersManage), async |tx, who| {
            let default = self.scim_default_type(&mut **tx).await?;
            Ok(tx
                .user_types()
                .await?
                .into_iter()
                .filter(|t| t.id != default.id && who.require_rank(t, "give the type of").is_ok())
                .map(|t| t.name)
                .collect())
        })
        .await
    }

    pub async fn scim_get_user(&self, ctx: &Context, id: i64) -> Result<ScimUserView> {
        self.read(ctx, Some(Area::UsersManage), async |tx, who| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            let user = tx
                .user_by_id(UserId(id))
                .await?
                .filter(|u| u.scim_linked && u.status != UserStatus::Trash);
            let user = user.ok_or_else(|| Error::not_found(Entity::User, id))?;
            let branches = tx.user_branches(user.id).await?;
            let ids: Vec<BranchId> = branches.iter().map(|b| b.id).collect();
            if !who.sees(&ids) {
                return Err(Error::not_found(Entity::User, id));
            }
            let default = self.scim_default_type(&mut **tx).await?;
            self.scim_view_of(&mut **tx, &user, &branches, &default).await
        })
        .await
    }

    /// One page of linked users matching `predicate`, from the 0-based `offset`; and the total.
    pub async fn scim_list_users(
        &self,
        ctx: &Context,
        predicate: Option<Pred<UserField>>,
        offset: i64,
        count: i64,
    ) -> Result<(i64, Vec<ScimUserView>)> {
        self.read(ctx, Some(Area::UsersManage), async |tx, who| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            let q = UserQuery {
                predicate,
                scim_linked: Some(true),
                scope: who.branch_ids().map(<[BranchId]>::to_vec),
                offset: Some(offset.max(0)),
                limit: count.clamp(0, SCIM_MAX_RESULTS),
                ..UserQuery::default()
            };
            let total = tx.count_users(&q).await?;
            let mut page = vec![];
            if q.limit > 0 {
                let default = self.scim_default_type(&mut **tx).await?;
                for u in tx.list_users(&q).await? {
                    let branches = tx.user_branches(u.id).await?;
                    page.push(self.scim_view_of(&mut **tx, &u, &branches, &default).await?);
                }
            }
            Ok((total, page))
        })
        .await
    }

    /// POST /Users. A userName that exists is a conflict — unless that account is unlinked
    /// and came from SCIM (or linking is allowed), in which case it is re-linked, updated and
    /// reactivated.
    pub async fn scim_create_user(
        &self,
        ctx: &Context,
        state: ScimUserState,
        password: Option<String>,
    ) -> Result<ScimUserView> {
        let username = Username::parse(&state.user_name)?;
        let existing = self
            .read(ctx, Some(Area::UsersManage), async |tx, _| {
                tx.plan().await?.require(Feature::IdentityIntegration)?;
                let link_existing = matches!(
                    tx.setting(Setting::ScimLinkExisting.key()).await?.as_deref(),
                    Some("on")
                );
                Ok(match tx.user_by_username(&username.key()).await? {
                    None => None,
                    Some(u) if u.scim_linked || u.status == UserStatus::Trash => {
                        return Err(Error::UsernameTaken(username.to_string()));
                    }
                    // An account SCIM provisioned (and a DELETE unlinked) comes back; another
                    // only when linking is on — and never one above the identity provider's
                    // rank, whichever channel made it: an administrator's account is not the
                    // identity provider's to take.
                    Some(u) if u.origin == Origin::Scim || link_existing => {
                        let t = self.type_by_id(&mut **tx, u.user_type_id).await?;
                        if t.base > BaseRole::Instructor {
                            tracing::warn!(user = u.id.0, "SCIM may not link an account above the Instructor rank");
                            return Err(Error::UsernameTaken(username.to_string()));
                        }
                        Some(u.id)
                    }
                    Some(_) => return Err(Error::UsernameTaken(username.to_string())),
                })
            })
            .await?;
        if let Some(id) = existing {
            let change = if password.is_some() {
                PasswordChange::Set(password.unwrap_or_default())
            } else {
                PasswordChange::Keep
            };
            return self.scim_write_user(ctx, id.0, state, change, true).await;
        }
        // Hashed before the transaction, which then does the whole create (type, branch,
        // user, audit) and reads the view back: one write per request.
        let password_hash = password::hash_off_thread(password.clone()).await?;
        self.write(ctx, Some(Area::UsersManage), async |tx, who| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            let user_type = self.scim_type(&mut **tx, who, state.user_type.as_deref()).await?;
            let branch = match &state.department {
                Some(d) => self.scim_branch(&mut **tx, ctx, who, d).await?,
                None => None,
            };
            let input = NewUser {
                username: state.user_name,
                email: state.email,
                first_name: state.given_name,
                last_name: state.family_name,
                password,
                user_type: Some(user_type.name),
                branches: branch.map(|b| b.name).into_iter().collect(),
                groups: vec![],
                active: state.active,
                external_id: state.external_id,
                exclude_from_emails: false,
                idle_exempt: false,
                deactivate_at: None,
                reactivate_at: None,
                send_welcome: None,
            };
            let created = self.create_in(&mut **tx, ctx, who, input, password_hash).await?;
            let user = tx
                .user_by_id(UserId(created.id))
                .await?
                .ok_or_else(|| Error::internal("a user created in this transaction is missing"))?;
            self.scim_view(&mut **tx, &user).await
        })
        .await
    }

    /// PUT or PATCH of a user: make it `state`, in one transaction — activation first (so a
    /// full plan refuses before anything changes), then the attributes, then deactivation.
    pub async fn scim_update_user(
        &self,
        ctx: &Context,
        id: i64,
        state: ScimUserState,
        password: PasswordChange,
    ) -> Result<ScimUserView> {
        self.scim_write_user(ctx, id, state, password, false).await
    }

    async fn scim_write_user(
        &self,
        ctx: &Context,
        id: i64,
        state: ScimUserState,
        password: PasswordChange,
        relink: bool,
    ) -> Result<ScimUserView> {
        let new_hash = match &password {
            PasswordChange::Set(p) => password::hash_off_thread(Some(p.clone())).await?,
            PasswordChange::Keep | PasswordChange::Clear => None,
        };
        self.write(ctx, Some(Area::UsersManage), async |tx, who| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            let mut reached = if relink {
                let mut r = self.reach_to_change(&mut **tx, who, &UserKey::Id(UserId(id))).await?;
                tx.set_scim_linked(r.user.id, true).await?;
                r.user.scim_linked = true;
                self.record(
                    &mut **tx,
                    ctx,
                    who,
                    Change::user(AuditAction::UserScimLink, &r.user, json!({})),
                )
                .await?;
                r
            } else {
                let r = self.scim_reach(&mut **tx, who, id).await?;
                if who.require_rank(&r.user_type, "change").is_err() {
                    let user = self.scim_take_away(&mut **tx, ctx, who, r, &state, &password).await?;
                    let view = self.scim_view(&mut **tx, &user).await?;
                    return Ok(view);
                }
                r
            };
            if state.active
                && !reached.user.status.holds_seat()
                && let Some(user) = self
                    .transition(&mut **tx, ctx, who, reached.clone(), LifecycleAction::Activate)
                    .await?
            {
                reached.user = user;
            }
            let t = self.scim_type(&mut **tx, who, state.user_type.as_deref()).await?;
            let current_department = reached.branches.first().cloned();
            let mut upd = UserUpdate {
                username: Some(state.user_name),
                user_type: Some(t.name),
                email: Some(state.email),
                first_name: Some(state.given_name),
                last_name: Some(state.family_name),
                external_id: Some(state.external_id),
                ..UserUpdate::default()
            };
            let wanted = match &state.department {
                Some(d) => self.scim_branch(&mut **tx, ctx, who, d).await?,
                None => None,
            };
            let mode_off = matches!(tx.setting(Setting::ScimDepartment.key()).await?.as_deref(), Some("off"));
            if !mode_off && wanted.as_ref().map(|b| b.id) != current_department.as_ref().map(|b| b.id) {
                if let Some(cur) = current_department {
                    upd.remove_branches.push(cur.name);
                }
                if let Some(w) = wanted {
                    upd.add_branches.push(w.name);
                }
            }
            let mut user = self.update_in(&mut **tx, ctx, who, reached, &upd, new_hash).await?;
            if password == PasswordChange::Clear {
                tx.set_password_hash(user.id, None).await?;
                tx.delete_user_sessions(user.id).await?;
                self.record(
                    &mut **tx,
                    ctx,
                    who,
                    Change::user(AuditAction::UserUpdate, &user, json!({ "password": "[cleared]" })),
                )
                .await?;
            }
            if !state.active && user.status.holds_seat() {
                let r = self.reach_to_change(&mut **tx, who, &UserKey::Id(user.id)).await?;
                if let Some(u) = self
                    .transition(&mut **tx, ctx, who, r, LifecycleAction::Deactivate)
                    .await?
                {
                    user = u;
                }
            }
            let view = self.scim_view(&mut **tx, &user).await?;
            Ok(view)
        })
        .await
    }

    /// DELETE /Users: by default deactivates and unlinks (records kept; SCIM then answers
    /// 404); with `scim_delete = delete`, moves the account to the trash.
    pub async fn scim_delete_user(&self, ctx: &Context, id: i64) -> Result<()> {
        self.write(ctx, Some(Area::UsersManage), async |tx, who| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            let reached = self.scim_reach(&mut **tx, who, id).await?;
            // Deleting leads to erasure once the trash's retention runs out: above the identity
            // provider's rank it only deactivates and unlinks, as taking access away needs no
            // rank but erasing records does.
            let delete = matches!(tx.setting(Setting::ScimDelete.key()).await?.as_deref(), Some("delete"))
                && who.require_rank(&reached.user_type, "delete").is_ok();
            let user_id = reached.user.id;
            let action = if delete {
                LifecycleAction::Delete
            } else {
                LifecycleAction::Deactivate
            };
            let user = self
                .transition(&mut **tx, ctx, who, reached.clone(), action)
                .await?
                .unwrap_or(reached.user);
            tx.set_scim_linked(user_id, false).await?;
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::user(AuditAction::UserScimUnlink, &user, json!({})),
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn scim_group_view(&self, tx: &mut dyn ReadTx, g: &Group) -> Result<ScimGroupView> {
        Ok(ScimGroupView {
            id: g.id.0,
            display_name: g.name.clone(),
            external_id: g.external_id.clone(),
            members: tx.group_member_ids(g.id).await?.into_iter().map(|u| u.0).collect(),
            created: g.created_at,
            last_modified: g.updated_at,
        })
    }

    async fn scim_group(&self, tx: &mut dyn ReadTx, id: i64) -> Result<Group> {
        let all = self.scim_sees_all_groups(tx).await?;
        tx.group_by_id(GroupId(id))
            .await?
            .filter(|g| g.scim_linked || all)
            .ok_or_else(|| Error::not_found(Entity::Group, id))
    }

    /// A group made in rollcall, linked to the identity provider at its first SCIM write
    /// (setting `scim_link_existing_groups`); a linked group is returned as it is.
    async fn scim_adopt_group(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        g: Group,
        external_id: Option<String>,
    ) -> Result<Group> {
        if g.scim_linked {
            return Ok(g);
        }
        let g = Group {
            scim_linked: true,
            external_id: external_id.or(g.external_id.clone()),
            updated_at: self.now(),
            ..g
        };
        tx.update_group(&g).await?;
        let change = Change::other(
            AuditAction::GroupUpdate,
            "group",
            Some(g.id.0),
            &g.name,
            json!({ "scim_linked": [false, true] }),
        );
        self.record(tx, ctx, who, change).await?;
        Ok(g)
    }

    /// Setting `scim_link_existing_groups`: SCIM sees every group, not only its own.
    async fn scim_sees_all_groups(&self, tx: &mut dyn ReadTx) -> Result<bool> {
        Ok(matches!(
            tx.setting(Setting::ScimLinkExistingGroups.key()).await?.as_deref(),
            Some("on")
        ))
    }

    pub async fn scim_get_group(&self, ctx: &Context, id: i64) -> Result<ScimGroupView> {
        self.read(ctx, Some(Area::GroupsManage), async |tx, _| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            let g = self.scim_group(&mut **tx, id).await?;
            self.scim_group_view(&mut **tx, &g).await
        })
        .await
    }

    pub async fn scim_list_groups(
        &self,
        ctx: &Context,
        predicate: Option<Pred<GroupField>>,
        offset: i64,
        count: i64,
    ) -> Result<(i64, Vec<ScimGroupView>)> {
        self.read(ctx, Some(Area::GroupsManage), async |tx, _| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            let all = self.scim_sees_all_groups(&mut **tx).await?;
            let q = GroupQuery {
                predicate,
                scim_linked: (!all).then_some(true),
                offset: Some(offset.max(0)),
                limit: count.clamp(0, SCIM_MAX_RESULTS),
            };
            let total = tx.count_groups(&q).await?;
            let mut page = vec![];
            if q.limit > 0 {
                for g in tx.list_groups(&q).await? {
                    page.push(self.scim_group_view(&mut **tx, &g).await?);
                }
            }
            Ok((total, page))
        })
        .await
    }

    pub async fn scim_create_group(
        &self,
        ctx: &Context,
        display_name: &str,
        external_id: Option<String>,
        members: Vec<i64>,
    ) -> Result<ScimGroupView> {
        let name = org::validate_org_name("displayName", display_name)?;
        self.write(ctx, Some(Area::GroupsManage), async |tx, who| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            if let Some(existing) = tx.group_by_key(&name_key(&name)).await? {
                // A group made in rollcall becomes the identity provider's when linking is
                // on; one already linked is a duplicate either way.
                if existing.scim_linked || !self.scim_sees_all_groups(&mut **tx).await? {
                    return Err(Error::conflict(
                        ConflictCode::GroupExists,
                        format!("a group named '{name}' already exists"),
                    ));
                }
                let mut g = self
                    .scim_adopt_group(&mut **tx, ctx, who, existing, external_id)
                    .await?;
                self.apply_group_changes(&mut **tx, ctx, who, &mut g, vec![GroupChange::AddMembers(members)])
                    .await?;
                return self.scim_group_view(&mut **tx, &g).await;
            }
            let now = self.now();
            let g: Group<Unsaved> = Group {
                id: Unsaved,
                name,
                branch_id: None,
                key: None,
                description: String::new(),
                external_id,
                scim_linked: true,
                created_at: now,
                updated_at: now,
            };
            let id = tx.insert_group(&g).await?;
            let mut g = g.saved(id);
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::other(
                    AuditAction::GroupCreate,
                    "group",
                    Some(g.id.0),
                    &g.name,
                    json!({ "name": g.name }),
                ),
            )
            .await?;
            self.apply_group_changes(&mut **tx, ctx, who, &mut g, vec![GroupChange::AddMembers(members)])
                .await?;
            let view = self.scim_group_view(&mut **tx, &g).await?;
            Ok(view)
        })
        .await
    }

    /// PATCH or PUT of a group: each change applied in order, in one transaction, each
    /// membership written as its own row so concurrent changes by others are kept.
    pub async fn scim_change_group(&self, ctx: &Context, id: i64, changes: Vec<GroupChange>) -> Result<ScimGroupView> {
        self.write(ctx, Some(Area::GroupsManage), async |tx, who| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            let g = self.scim_group(&mut **tx, id).await?;
            let mut g = self.scim_adopt_group(&mut **tx, ctx, who, g, None).await?;
            self.apply_group_changes(&mut **tx, ctx, who, &mut g, changes).await?;
            let view = self.scim_group_view(&mut **tx, &g).await?;
            Ok(view)
        })
        .await
    }

    async fn apply_group_changes(
        &self,
        tx: &mut dyn Tx,
        ctx: &Context,
        who: &Principal,
        g: &mut Group,
        changes: Vec<GroupChange>,
    ) -> Result<()> {
        let mut touched = false;
        for change in changes {
            match change {
                GroupChange::Rename(name) => {
                    let name = org::validate_org_name("displayName", &name)?;
                    if name != g.name {
                        if name_key(&name) != name_key(&g.name) && tx.group_by_key(&name_key(&name)).await?.is_some() {
                            return Err(Error::conflict(
                                ConflictCode::GroupExists,
                                format!("a group named '{name}' already exists"),
                            ));
                        }
                        let c = json!({ "name": [g.name, name] });
                        g.name = name;
                        touched = true;
                        self.record(
                            tx,
                            ctx,
                            who,
                            Change::other(AuditAction::GroupUpdate, "group", Some(g.id.0), &g.name, c),
                        )
                        .await?;
                    }
                }
                GroupChange::ExternalId(e) => {
                    if e != g.external_id {
                        g.external_id = e;
                        touched = true;
                    }
                }
                GroupChange::AddMembers(ids) => {
                    for id in ids {
                        let user = self.group_member(tx, who, id).await?;
                        if tx.add_group_member(g.id, user.id).await? {
                            touched = true;
                            self.enroll_in_group_courses(tx, ctx, who, g.id, &user).await?;
                            self.record(
                                tx,
                                ctx,
                                who,
                                Change::user(AuditAction::GroupAddMember, &user, json!({ "group": g.name })),
                            )
                            .await?;
                        }
                    }
                }
                GroupChange::RemoveMembers(ids) => {
                    for id in ids {
                        if tx.remove_group_member(g.id, UserId(id)).await? {
                            touched = true;
                            let change = Change::other(
                                AuditAction::GroupRemoveMember,
                                "user",
                                Some(id),
                                &id.to_string(),
                                json!({ "group": g.name }),
                            );
                            self.record(tx, ctx, who, change).await?;
                        }
                    }
                }
                GroupChange::RemoveAllMembers => {
                    let current: Vec<i64> = tx.group_member_ids(g.id).await?.into_iter().map(|u| u.0).collect();
                    Box::pin(self.apply_group_changes(tx, ctx, who, g, vec![GroupChange::RemoveMembers(current)]))
                        .await?;
                }
                GroupChange::ReplaceMembers(ids) => {
                    let current: Vec<i64> = tx.group_member_ids(g.id).await?.into_iter().map(|u| u.0).collect();
                    let gone: Vec<i64> = current.iter().copied().filter(|c| !ids.contains(c)).collect();
                    let new: Vec<i64> = ids.into_iter().filter(|i| !current.contains(i)).collect();
                    let steps = vec![GroupChange::RemoveMembers(gone), GroupChange::AddMembers(new)];
                    Box::pin(self.apply_group_changes(tx, ctx, who, g, steps)).await?;
                }
            }
        }
        if touched {
            g.updated_at = self.now();
            tx.update_group(g).await?;
        }
        Ok(())
    }

    /// A user who can be made a member: one the identity provider manages (SCIM-linked, not
    /// in the trash, within reach). An id that doesn't exist, is out of scope or isn't
    /// SCIM-linked gets the same error. Membership adds access, so a user above the identity
    /// provider's rank is refused.
    async fn group_member(&self, tx: &mut dyn Tx, who: &Principal, id: i64) -> Result<User> {
        let unknown = || Error::invalid("members", "a member is not a user this identity provider manages");
        let user = tx
            .user_by_id(UserId(id))
            .await?
            .filter(|u| u.scim_linked && u.status != UserStatus::Trash)
            .ok_or_else(unknown)?;
        let branches: Vec<BranchId> = tx.user_branches(user.id).await?.into_iter().map(|b| b.id).collect();
        if !who.sees(&branches) {
            return Err(unknown());
        }
        let t = self.type_by_id(tx, user.user_type_id).await?;
        who.require_rank(&t, "change the groups of")?;
        Ok(user)
    }

    pub async fn scim_delete_group(&self, ctx: &Context, id: i64) -> Result<()> {
        self.write(ctx, Some(Area::GroupsManage), async |tx, who| {
            tx.plan().await?.require(Feature::IdentityIntegration)?;
            let g = self.scim_group(&mut **tx, id).await?;
            tx.delete_group(g.id).await?;
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::other(AuditAction::GroupDelete, "group", Some(g.id.0), &g.name, json!({})),
            )
            .await?;
            Ok(())
        })
        .await
    }
}
