//! User types, branches and groups.

use super::users::UserKey;
use super::{Change, Service};
use crate::actor::Context;
use crate::audit::AuditAction;
use crate::domain::access::type_key;
use crate::domain::org::{slugify, validate_group_key, validate_org_name};
use crate::domain::*;
use crate::ports::ReadTx;
use crate::{ConflictCode, Entity, Error, Result, RuleCode};
use serde::Serialize;
use serde_json::json;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TypeView {
    pub id: i64,
    pub name: String,
    pub key: String,
    pub base: BaseRole,
    pub builtin: bool,
    pub areas: Vec<Area>,
}

impl From<&UserType> for TypeView {
    fn from(t: &UserType) -> TypeView {
        TypeView {
            id: t.id.0,
            name: t.name.clone(),
            key: t.key(),
            base: t.base,
            builtin: t.builtin,
            areas: t.areas.iter().collect(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct NewBranch {
    pub name: String,
    pub description: String,
    pub default_type: Option<String>,
    pub seat_cap: Option<i64>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BranchView {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub default_type: Option<String>,
    pub seat_cap: Option<i64>,
    pub active_users: i64,
}

#[derive(Clone, Debug, Default)]
pub struct NewGroup {
    pub name: String,
    pub description: String,
    pub branch: Option<String>,
    pub key: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub branch: Option<String>,
    pub key: Option<String>,
    pub members: i64,
}

fn check_seat_cap(cap: Option<i64>) -> Result<()> {
    match cap {
        Some(c) if !(1..=10_000_000).contains(&c) => {
            Err(Error::invalid("seat_cap", "must be between 1 and 10,000,000"))
        }
        _ => Ok(()),
    }
}

impl Service {
    pub async fn list_types(&self, ctx: &Context) -> Result<Vec<TypeView>> {
        self.read(ctx, None, async |tx, who| {
            if !who.areas.contains(Area::UserTypesManage) {
                who.require(Area::UsersManage)?;
            }
            Ok(tx.user_types().await?.iter().map(TypeView::from).collect())
        })
        .await
    }

    /// Clones a built-in type (the base), minus the `deny`ed areas.
    pub async fn create_type(&self, ctx: &Context, name: &str, base: &str, deny: &[Area]) -> Result<TypeView> {
        let base = BaseRole::from_key(base).ok_or_else(|| {
            Error::invalid(
                "base",
                format!("unknown base '{base}'; use administrator, branch-administrator, instructor or learner"),
            )
        })?;
        UserType::validate_custom(name)?;
        self.write(ctx, Some(Area::UserTypesManage), async |tx, who| {
            tx.plan().await?.require(Feature::CustomUserTypes)?;
            let name = name.trim();
            if tx.user_type_by_key(&type_key(name)).await?.is_some() {
                return Err(Error::conflict(
                    ConflictCode::TypeExists,
                    format!("a user type named '{name}' already exists"),
                ));
            }
            let areas = deny.iter().fold(base.areas(), |s, a| s.without(*a));
            UserType::check_areas(base, areas)?;
            let t: UserType<Unsaved> = UserType {
                id: Unsaved,
                name: name.to_owned(),
                base,
                builtin: false,
                areas,
            };
            let id = tx.insert_user_type(&t).await?;
            let t = t.saved(id);
            let changes = json!({ "name": t.name, "base": base.key(), "areas": t.areas.to_names() });
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::other(AuditAction::UserTypeCreate, "user_type", Some(t.id.0), &t.name, changes),
            )
            .await?;
            Ok(TypeView::from(&t))
        })
        .await
    }

    pub async fn edit_type(&self, ctx: &Context, name: &str, allow: &[Area], deny: &[Area]) -> Result<TypeView> {
        self.write(ctx, Some(Area::UserTypesManage), async |tx, who| {
            let mut t = self.type_by_name(&mut **tx, name).await?;
            let areas = t.edited(allow, deny)?;
            if areas != t.areas {
                tx.plan().await?.require(Feature::CustomUserTypes)?;
                tx.update_user_type_areas(t.id, areas).await?;
                let changes = json!({ "areas": [t.areas.to_names(), areas.to_names()] });
                t.areas = areas;
                self.record(
                    &mut **tx,
                    ctx,
                    who,
                    Change::other(AuditAction::UserTypeEdit, "user_type", Some(t.id.0), &t.name, changes),
                )
                .await?;
            }
            Ok(TypeView::from(&t))
        })
        .await
    }

    pub async fn delete_type(&self, ctx: &Context, name: &str) -> Result<()> {
        self.write(ctx, Some(Area::UserTypesManage), async |tx, who| {
            let t = self.type_by_name(&mut **tx, name).await?;
            if t.builtin {
                return Err(Error::rule(
                    RuleCode::BuiltinType,
                    format!("the built-in type {} can't be deleted", t.name),
                ));
            }
            if tx.type_in_use(t.id).await? {
                return Err(Error::rule(
                    RuleCode::TypeInUse,
                    format!(
                        "user type '{}' is still given to users or used as a branch default; change those first",
                        t.name
                    ),
                ));
            }
            tx.delete_user_type(t.id).await?;
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::other(
                    AuditAction::UserTypeDelete,
                    "user_type",
                    Some(t.id.0),
                    &t.name,
                    json!({}),
                ),
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn branch_view(&self, tx: &mut dyn ReadTx, b: &Branch) -> Result<BranchView> {
        let default_type = match b.default_type_id {
            Some(id) => Some(self.type_by_id(tx, id).await?.name),
            None => None,
        };
        Ok(BranchView {
            id: b.id.0,
            name: b.name.clone(),
            slug: b.slug.clone(),
            description: b.description.clone(),
            default_type,
            seat_cap: b.seat_cap,
            active_users: b.active_users,
        })
    }

    pub async fn add_branch(&self, ctx: &Context, input: NewBranch) -> Result<BranchView> {
        let name = validate_org_name("name", &input.name)?;
        check_seat_cap(input.seat_cap)?;
        self.write(ctx, Some(Area::BranchesManage), async |tx, who| {
            tx.plan().await?.require(Feature::Branches)?;
            if tx.branch_by_key(&name_key(&name)).await?.is_some() {
                return Err(Error::conflict(
                    ConflictCode::BranchExists,
                    format!("a branch named '{name}' already exists"),
                ));
            }
            let default_type_id = match &input.default_type {
                Some(t) => Some(self.type_by_name(&mut **tx, t).await?.id),
                None => None,
            };
            let base_slug = slugify(&name);
            let taken: Vec<String> = tx.branches().await?.into_iter().map(|b| b.slug).collect();
            let slug = (1..)
                .map(|n| {
                    if n == 1 {
                        base_slug.clone()
                    } else {
                        format!("{base_slug}-{n}")
                    }
                })
                .find(|s| !taken.contains(s))
                .expect("an unused slug exists");
            let b: Branch<Unsaved> = Branch {
                id: Unsaved,
                name,
                slug,
                description: input.description.trim().to_owned(),
                default_type_id,
                seat_cap: input.seat_cap,
                active_users: 0,
            };
            let id = tx.insert_branch(&b).await?;
            let b = b.saved(id);
            let view = self.branch_view(&mut **tx, &b).await?;
            let changes = json!({ "name": b.name, "default_type": view.default_type, "seat_cap": b.seat_cap });
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::other(AuditAction::BranchCreate, "branch", Some(b.id.0), &b.name, changes),
            )
            .await?;
            Ok(view)
        })
        .await
    }

    /// Changes a branch's default type or seat cap. A cap below the branch's active users
    /// is refused, saying how many must be deactivated first.
    pub async fn set_branch(
        &self,
        ctx: &Context,
        name: &str,
        default_type: Option<Option<String>>,
        seat_cap: Option<Option<i64>>,
    ) -> Result<BranchView> {
        let mut txb = self.store.begin().await?;
        let tx = txb.as_mut();
        let who = self.principal(tx, ctx).await?;
        who.require(Area::BranchesManage)?;
        let mut b = self.branch_by_name(tx, name).await?;
        let mut changes = serde_json::Map::new();
        if let Some(t) = default_type {
            let id = match &t {
                Some(t) => Some(self.type_by_name(tx, t).await?.id),
                None => None,
            };
            if id != b.default_type_id {
                changes.insert("default_type".into(), json!(t));
                b.default_type_id = id;
            }
        }
        if let Some(cap) = seat_cap {
            check_seat_cap(cap)?;
            if cap != b.seat_cap {
                changes.insert("seat_cap".into(), json!([b.seat_cap, cap]));
                b.seat_cap = cap;
            }
        }
        if changes.is_empty() {
            let view = self.branch_view(tx, &b).await?;
            txb.commit().await?;
            return Ok(view);
        }
        // The cap is checked against the active users in the same statement that sets it.
        if !tx.update_branch(&b).await? {
            let active = self.branch_by_name(tx, &b.name).await?.active_users;
            let cap = b.seat_cap.unwrap_or_default();
            return Err(Error::conflict(
                ConflictCode::SeatsInUse,
                format!(
                    "branch '{}' has {active} active users; deactivate {} of them before capping it at {cap}",
                    b.name,
                    active - cap
                ),
            ));
        }
        self.record(
            tx,
            ctx,
            &who,
            Change::other(
                AuditAction::BranchUpdate,
                "branch",
                Some(b.id.0),
                &b.name,
                changes.into(),
            ),
        )
        .await?;
        let view = self.branch_view(tx, &b).await?;
        self.commit(txb).await?;
        Ok(view)
    }

    pub async fn list_branches(&self, ctx: &Context) -> Result<Vec<BranchView>> {
        self.read(ctx, None, async |tx, who| {
            if !who.areas.contains(Area::BranchesManage) {
                who.require(Area::UsersManage)?;
            }
            let mut out = vec![];
            for b in tx.branches().await?.into_iter().filter(|b| who.sees(&[b.id])) {
                out.push(self.branch_view(&mut **tx, &b).await?);
            }
            Ok(out)
        })
        .await
    }

    pub async fn add_group(&self, ctx: &Context, input: NewGroup) -> Result<GroupView> {
        let name = validate_org_name("name", &input.name)?;
        let key = input.key.as_deref().map(validate_group_key).transpose()?;
        self.write(ctx, Some(Area::GroupsManage), async |tx, who| {
            let branch = match &input.branch {
                Some(b) => {
                    let b = self.branch_by_name(&mut **tx, b).await?;
                    who.require_branch(b.id, &b.name)?;
                    Some(b)
                }
                None if who.branch_ids().is_some() => {
                    return Err(Error::invalid(
                        "branch",
                        "a branch administrator's groups belong to one of their branches",
                    ));
                }
                None => None,
            };
            if tx.group_by_key(&name_key(&name)).await?.is_some() {
                return Err(Error::conflict(
                    ConflictCode::GroupExists,
                    format!("a group named '{name}' already exists"),
                ));
            }
            let now = self.now();
            let g: Group<Unsaved> = Group {
                id: Unsaved,
                name,
                branch_id: branch.as_ref().map(|b| b.id),
                key,
                description: input.description.trim().to_owned(),
                external_id: None,
                scim_linked: ctx.channel == crate::actor::Channel::Scim,
                created_at: now,
                updated_at: now,
            };
            let id = tx.insert_group(&g).await?;
            let g = g.saved(id);
            let changes = json!({ "name": g.name, "branch": branch.as_ref().map(|b| &b.name), "key": g.key.as_ref().map(|_| "[set]") });
            self.record(
                &mut **tx,
                ctx,
                who,
                Change::other(AuditAction::GroupCreate, "group", Some(g.id.0), &g.name, changes),
            )
            .await?;
            Ok(GroupView {
                id: g.id.0,
                name: g.name,
                description: g.description,
                branch: branch.map(|b| b.name),
                key: g.key,
                members: 0,
            })
        })
        .await
    }

    pub async fn list_groups(&self, ctx: &Context) -> Result<Vec<GroupView>> {
        self.read(ctx, None, async |tx, who| {
            if !who.areas.contains(Area::GroupsManage) {
                who.require(Area::UsersManage)?;
            }
            let branches = tx.branches().await?;
            let mut out = vec![];
            for g in tx.groups().await? {
                if who.branch_ids().is_some() && !g.branch_id.is_some_and(|b| who.sees(&[b])) {
                    continue;
                }
                let members = tx.group_member_count(g.id).await?;
                out.push(GroupView {
                    id: g.id.0,
                    branch: g
                        .branch_id
                        .and_then(|id| branches.iter().find(|b| b.id == id))
                        .map(|b| b.name.clone()),
                    name: g.name,
                    description: g.description,
                    key: g.key,
                    members,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Adds users to a group; each must be within the caller's reach. Returns how many
    /// were added (members already in the group are left as they are).
    pub async fn add_group_members(&self, ctx: &Context, group: &str, users: &[UserKey]) -> Result<usize> {
        self.change_group_members(ctx, group, users, true).await
    }

    pub async fn remove_group_members(&self, ctx: &Context, group: &str, users: &[UserKey]) -> Result<usize> {
        self.change_group_members(ctx, group, users, false).await
    }

    async fn change_group_members(&self, ctx: &Context, group: &str, users: &[UserKey], add: bool) -> Result<usize> {
        self.write(ctx, Some(Area::GroupsManage), async |tx, who| {
            let g = self.group_by_name(&mut **tx, group).await?;
            if who.branch_ids().is_some() && !g.branch_id.is_some_and(|b| who.sees(&[b])) {
                return Err(Error::not_found(Entity::Group, group));
            }
            let mut changed = 0;
            for key in users {
                let user = self.reach_user(&mut **tx, who, key).await?;
                if user.status == UserStatus::Trash {
                    return Err(Error::conflict(
                        ConflictCode::InTrash,
                        format!("user '{}' is in the trash", user.username),
                    ));
                }
                let did = if add {
                    tx.add_group_member(g.id, user.id).await?
                } else {
                    tx.remove_group_member(g.id, user.id).await?
                };
                if did {
                    changed += 1;
                    if add {
                        self.enroll_in_group_courses(&mut **tx, ctx, who, g.id, &user).await?;
                    }
                    let action = if add {
                        AuditAction::GroupAddMember
                    } else {
                        AuditAction::GroupRemoveMember
                    };
                    self.record(
                        &mut **tx,
                        ctx,
                        who,
                        Change::user(action, &user, json!({ "group": g.name })),
                    )
                    .await?;
                }
            }
            Ok(changed)
        })
        .await
    }
}
