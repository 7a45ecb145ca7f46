//! The acting party of every service call, and what it is allowed to do.
//!
//! Channels only *identify* the caller (a [`Context`]); the service turns that into a
//! [`Principal`] inside the transaction, from the caller's *current* user type and branches,
//! and every decision is taken from the principal.

use crate::domain::{Area, AreaSet, BaseRole, BranchId, User, UserId, UserType};
use crate::{Entity, Error, Result};

/// Who is acting, as the channel established it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// Someone with shell access to the server and its database: the CLI.
    Operator,
    /// A signed-in user (console session).
    User(UserId),
    /// An API token; it acts with its user's current permissions.
    ApiToken { token_id: i64, user_id: UserId },
    /// An identity provider's SCIM client.
    ScimClient { token_id: i64 },
    /// SAML just-in-time provisioning.
    Sso,
    /// A scheduled job of the server itself.
    System { job: &'static str },
}

impl Actor {
    /// The actor as stored with work that outlives the request (a background job), so it
    /// can act again later with whatever permissions it has then. A system job has no
    /// stored form: it is not resumed on someone's behalf.
    pub fn stored(&self) -> Option<String> {
        match self {
            Actor::Operator => Some("operator".into()),
            Actor::User(u) => Some(format!("user:{}", u.0)),
            Actor::ApiToken { token_id, user_id } => Some(format!("token:{token_id}:{}", user_id.0)),
            Actor::ScimClient { token_id } => Some(format!("scim:{token_id}")),
            Actor::Sso => Some("sso".into()),
            Actor::System { .. } => None,
        }
    }

    pub fn from_stored(s: &str) -> Option<Actor> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |i: usize| parts.get(i)?.parse::<i64>().ok();
        match parts[0] {
            "operator" if parts.len() == 1 => Some(Actor::Operator),
            "sso" if parts.len() == 1 => Some(Actor::Sso),
            "user" if parts.len() == 2 => Some(Actor::User(UserId(num(1)?))),
            "token" if parts.len() == 3 => Some(Actor::ApiToken {
                token_id: num(1)?,
                user_id: UserId(num(2)?),
            }),
            "scim" if parts.len() == 2 => Some(Actor::ScimClient { token_id: num(1)? }),
            _ => None,
        }
    }
}

/// The channel a change arrived through (recorded in the audit log and as a user's origin).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Console,
    Api,
    Cli,
    Csv,
    Scim,
    Sso,
    System,
    /// A daily job acting on its own (the idle policy): its entries' actor is the job.
    Job,
}

impl Channel {
    pub const ALL: [Channel; 8] = [
        Channel::Console,
        Channel::Api,
        Channel::Cli,
        Channel::Csv,
        Channel::Scim,
        Channel::Sso,
        Channel::System,
        Channel::Job,
    ];
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Console => "console",
            Channel::Api => "api",
            Channel::Cli => "cli",
            Channel::Csv => "csv",
            Channel::Scim => "scim",
            Channel::Sso => "sso",
            Channel::System => "system",
            Channel::Job => "job",
        }
    }
    pub fn origin(self) -> crate::domain::Origin {
        use crate::domain::Origin;
        match self {
            Channel::Console => Origin::Console,
            Channel::Api => Origin::Api,
            Channel::Cli | Channel::System | Channel::Job => Origin::Cli,
            Channel::Csv => Origin::Csv,
            Channel::Scim => Origin::Scim,
            Channel::Sso => Origin::Sso,
        }
    }
}

/// Everything a service call knows about its caller.
#[derive(Clone, Debug)]
pub struct Context {
    pub actor: Actor,
    pub channel: Channel,
    pub request_id: Option<String>,
    pub source: Option<String>,
}

impl Context {
    pub fn new(actor: Actor, channel: Channel) -> Context {
        Context {
            actor,
            channel,
            request_id: None,
            source: None,
        }
    }
    pub fn cli() -> Context {
        Context::new(Actor::Operator, Channel::Cli)
    }
    pub fn system(job: &'static str) -> Context {
        Context::new(Actor::System { job }, Channel::System)
    }
    /// A daily job acting by its own rules (the idle policy): audited with the job as
    /// actor and channel `job`.
    pub fn job(job: &'static str) -> Context {
        Context::new(Actor::System { job }, Channel::Job)
    }
}

/// Which users a principal may see and change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    /// A branch administrator: only users in at least one of these branches.
    Branches(Vec<BranchId>),
}

/// The caller resolved: its areas, its rank (the highest base it may grant), its scope.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: Option<UserId>,
    /// How the audit log names the caller: a username, `operator`, `scim` …
    pub label: String,
    pub areas: AreaSet,
    pub rank: BaseRole,
    pub scope: Scope,
}

impl Principal {
    /// Full authority: the CLI operator and the server's own jobs.
    pub fn superuser() -> Principal {
        Principal {
            user_id: None,
            label: "operator".into(),
            areas: BaseRole::Administrator.areas(),
            rank: BaseRole::Administrator,
            scope: Scope::All,
        }
    }

    /// An identity provider (SCIM, SSO): manages users and groups, never above Instructor.
    pub fn identity_provider(label: &str) -> Principal {
        Principal {
            user_id: None,
            label: label.into(),
            areas: AreaSet::of(&[Area::UsersManage, Area::GroupsManage]),
            rank: BaseRole::Instructor,
            scope: Scope::All,
        }
    }

    /// A user acting directly or through a token, from their current type and branches.
    /// A user who is not active has no authority at all.
    pub fn for_user(user: &User, user_type: &UserType, branches: Vec<BranchId>) -> Result<Principal> {
        if !user.status.holds_seat() {
            return Err(Error::Unauthenticated);
        }
        let scope = match user_type.base {
            BaseRole::BranchAdministrator => Scope::Branches(branches),
            _ => Scope::All,
        };
        Ok(Principal {
            user_id: Some(user.id),
            label: user.username.to_string(),
            areas: user_type.areas,
            rank: user_type.base,
            scope,
        })
    }

    pub fn require(&self, area: Area) -> Result<()> {
        if self.areas.contains(area) {
            Ok(())
        } else {
            Err(Error::forbidden(format!("this needs the '{area}' permission")))
        }
    }

    pub fn branch_ids(&self) -> Option<&[BranchId]> {
        match &self.scope {
            Scope::All => None,
            Scope::Branches(b) => Some(b),
        }
    }

    /// Whether a user in `branches` is within reach. Out-of-scope users are reported as
    /// not found, so a branch administrator can't learn who exists elsewhere.
    pub fn sees(&self, branches: &[BranchId]) -> bool {
        match &self.scope {
            Scope::All => true,
            Scope::Branches(mine) => branches.iter().any(|b| mine.contains(b)),
        }
    }

    pub fn require_branch(&self, branch: BranchId, name: &str) -> Result<()> {
        if self.sees(&[branch]) {
            Ok(())
        } else {
            Err(Error::not_found(Entity::Branch, name))
        }
    }

    /// Whether every branch of a user in `branches` is one the caller manages: what a
    /// *change* to that user needs. Seeing a user takes one shared branch ([`sees`]);
    /// changing them takes all of theirs, so a branch administrator can't reach into
    /// another branch through a user who belongs to both.
    ///
    /// [`sees`]: Principal::sees
    pub fn manages_all(&self, branches: &[BranchId]) -> bool {
        match &self.scope {
            Scope::All => true,
            Scope::Branches(mine) => !branches.is_empty() && branches.iter().all(|b| mine.contains(b)),
        }
    }

    /// Nobody can grant a type above their own, nor act on someone of a higher type. A
    /// branch administrator's authority is strictly below their own rank: they never grant
    /// Branch Administrator (or a type based on it) nor act on another branch administrator.
    /// Whether the caller may give users the type `t`, or act on a user of that type: its
    /// base ranks below what the caller may grant (or level with it, for a caller over all
    /// branches), and — for a person — it holds no permission the caller lacks, so a limited
    /// administrator (a type based on Administrator with areas taken away) can neither make
    /// nor act on a full one. Identity providers are held to their rank alone.
    pub fn require_rank(&self, t: &UserType, what: &str) -> Result<()> {
        self.require_base(t.base, what)?;
        if self.user_id.is_some() {
            let lacking: Vec<&str> = t
                .areas
                .iter()
                .filter(|a| !self.areas.contains(*a))
                .map(Area::name)
                .collect();
            if !lacking.is_empty() {
                return Err(Error::forbidden(format!(
                    "you can't {what} the type {}: it holds permissions you don't ({})",
                    t.name,
                    lacking.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn require_base(&self, base: BaseRole, what: &str) -> Result<()> {
        let allowed = match self.scope {
            Scope::All => base <= self.rank,
            Scope::Branches(_) => base < self.rank,
        };
        if allowed {
            Ok(())
        } else if base == self.rank {
            Err(Error::forbidden(format!(
                "only an {} can {what} a {}",
                BaseRole::Administrator.display_name(),
                base.display_name()
            )))
        } else {
            Err(Error::forbidden(format!(
                "only an {} can {what} an {}",
                BaseRole::Administrator.display_name(),
                base.display_name()
            )))
        }
    }

    /// What a change to another user needs once they are found within sight: every branch
    /// they belong to is the caller's, and their type ranks below what the caller may act on.
    pub fn require_change(&self, target: &User, target_type: &UserType, branches: &[BranchId]) -> Result<()> {
        if self.user_id == Some(target.id) {
            // One's own account: the use case decides (nobody changes their own type or
            // deactivates themselves), and one's own branches are all one's own.
            return Ok(());
        }
        if !self.manages_all(branches) {
            return Err(Error::forbidden(format!(
                "'{}' also belongs to branches you don't manage; only an administrator of all of them can change this user",
                target.username
            )));
        }
        self.require_rank(target_type, "change")
    }

    /// Erasing records at once is for platform administrators: never a branch administrator
    /// or an identity provider.
    pub fn require_platform_admin(&self, what: &str) -> Result<()> {
        // Every permission, too: a limited administrator is no platform administrator.
        if self.scope == Scope::All
            && self.rank == BaseRole::Administrator
            && self.areas == BaseRole::Administrator.areas()
        {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "only a platform {} can {what}",
                BaseRole::Administrator.display_name()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;

    fn user(status: UserStatus) -> User {
        User {
            id: UserId(7),
            user_type_id: BaseRole::BranchAdministrator.builtin_id(),
            status,
            ..crate::domain::user::sample_user("bob")
        }
    }

    #[test]
    fn actors_are_stored_and_read_back() {
        let actors = [
            Actor::Operator,
            Actor::User(UserId(3)),
            Actor::ApiToken {
                token_id: 9,
                user_id: UserId(3),
            },
            Actor::ScimClient { token_id: 4 },
            Actor::Sso,
        ];
        for a in actors {
            assert_eq!(Actor::from_stored(&a.stored().unwrap()), Some(a));
        }
        assert_eq!(Actor::System { job: "x" }.stored(), None);
        for bad in ["", "user", "user:x", "token:1", "operator:1", "root"] {
            assert_eq!(Actor::from_stored(bad), None, "{bad}");
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn branch_administrators_see_only_their_branches() {
        let t = UserType::builtin(BaseRole::BranchAdministrator);
        let p = Principal::for_user(&user(UserStatus::Active), &t, vec![BranchId(1)]).unwrap();
        assert!(p.sees(&[BranchId(2), BranchId(1)]));
        assert!(!p.sees(&[BranchId(2)]));
        assert!(
            !p.sees(&[]),
            "a user in no branch is outside every branch administrator's reach"
        );
        assert_eq!(p.require_branch(BranchId(2), "South").unwrap_err().code(), "not_found");
        assert!(p.require(Area::SettingsManage).is_err());
        assert!(p.require(Area::UsersManage).is_ok());
    }

    #[test]
    fn nobody_grants_above_their_own_type() {
        let t = UserType::builtin(BaseRole::BranchAdministrator);
        let p = Principal::for_user(&user(UserStatus::Active), &t, vec![]).unwrap();
        assert!(
            p.require_rank(&UserType::builtin(BaseRole::Administrator), "create")
                .is_err()
        );
        assert!(
            p.require_rank(&UserType::builtin(BaseRole::BranchAdministrator), "create")
                .is_err(),
            "a branch administrator never grants their own rank"
        );
        assert!(
            p.require_rank(&UserType::builtin(BaseRole::Instructor), "create")
                .is_ok()
        );
        let idp = Principal::identity_provider("scim");
        assert!(
            idp.require_rank(&UserType::builtin(BaseRole::BranchAdministrator), "create")
                .is_err()
        );
        assert!(
            idp.require_rank(&UserType::builtin(BaseRole::Instructor), "create")
                .is_ok()
        );
        assert!(
            Principal::superuser()
                .require_rank(&UserType::builtin(BaseRole::Administrator), "create")
                .is_ok()
        );
    }

    #[test]
    fn changing_a_user_takes_every_one_of_their_branches() {
        let t = UserType::builtin(BaseRole::BranchAdministrator);
        let p = Principal::for_user(&user(UserStatus::Active), &t, vec![BranchId(1), BranchId(3)]).unwrap();
        let target = User {
            id: UserId(8),
            ..crate::domain::user::sample_user("carol")
        };
        assert!(
            p.require_change(&target, &UserType::builtin(BaseRole::Learner), &[BranchId(1)])
                .is_ok()
        );
        assert!(
            p.require_change(
                &target,
                &UserType::builtin(BaseRole::Learner),
                &[BranchId(1), BranchId(3)]
            )
            .is_ok()
        );
        let e = p
            .require_change(
                &target,
                &UserType::builtin(BaseRole::Learner),
                &[BranchId(1), BranchId(2)],
            )
            .unwrap_err();
        assert_eq!(e.code(), "forbidden");
        assert!(
            p.require_change(&target, &UserType::builtin(BaseRole::Learner), &[])
                .is_err()
        );
        assert!(
            p.require_change(
                &target,
                &UserType::builtin(BaseRole::BranchAdministrator),
                &[BranchId(1)]
            )
            .is_err(),
            "a peer branch administrator is out of reach"
        );
        let me = user(UserStatus::Active);
        assert!(
            p.require_change(&me, &UserType::builtin(BaseRole::BranchAdministrator), &[BranchId(1)])
                .is_ok()
        );
        assert!(p.require_platform_admin("purge").is_err());
        assert!(
            Principal::identity_provider("scim")
                .require_platform_admin("purge")
                .is_err()
        );
        assert!(Principal::superuser().require_platform_admin("purge").is_ok());
        let all = Principal::superuser();
        assert!(
            all.require_change(&target, &UserType::builtin(BaseRole::Administrator), &[BranchId(2)])
                .is_ok()
        );
    }

    #[test]
    fn a_limited_administrator_neither_makes_nor_touches_a_full_one() {
        let help_desk = UserType {
            id: crate::domain::UserTypeId(9),
            name: "Help desk".into(),
            base: BaseRole::Administrator,
            builtin: false,
            areas: BaseRole::Administrator
                .areas()
                .without(Area::SettingsManage)
                .without(Area::UserTypesManage),
        };
        let p = Principal::for_user(&user(UserStatus::Active), &help_desk, vec![]).unwrap();
        let admin = UserType::builtin(BaseRole::Administrator);
        let e = p.require_rank(&admin, "give the type of").unwrap_err();
        assert_eq!(e.code(), "forbidden");
        assert!(e.to_string().contains("settings.manage"), "{e}");
        let target = User {
            id: UserId(8),
            ..crate::domain::user::sample_user("boss")
        };
        assert!(
            p.require_change(&target, &admin, &[]).is_err(),
            "a full administrator is out of reach"
        );
        assert!(p.require_change(&target, &help_desk, &[]).is_ok(), "a peer is not");
        for base in [BaseRole::BranchAdministrator, BaseRole::Instructor, BaseRole::Learner] {
            assert!(p.require_rank(&UserType::builtin(base), "give the type of").is_ok());
        }
        assert!(p.require(Area::UsersManage).is_ok() && p.require(Area::SettingsManage).is_err());
        assert!(p.require_platform_admin("purge").is_err(), "no platform administrator");
        // Identity providers answer to their rank alone.
        let idp = Principal::identity_provider("scim");
        assert!(idp.require_rank(&UserType::builtin(BaseRole::Learner), "give").is_ok());
    }

    #[test]
    fn inactive_users_have_no_authority() {
        let t = UserType::builtin(BaseRole::Administrator);
        assert!(matches!(
            Principal::for_user(&user(UserStatus::Deactivated), &t, vec![]),
            Err(Error::Unauthenticated)
        ));
        assert!(matches!(
            Principal::for_user(&user(UserStatus::Trash), &t, vec![]),
            Err(Error::Unauthenticated)
        ));
    }
}
