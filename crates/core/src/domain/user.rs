//! Users and their lifecycle.

use super::Millis;
use super::access::UserTypeId;
use super::names::{Email, PersonName, Username};
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub i64);

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where an account stands. Only `Active` holds a seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UserStatus {
    Active,
    Deactivated,
    /// Deleted, restorable until purged; no seat, no login, hidden from lists and SCIM.
    Trash,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Deactivated => "deactivated",
            UserStatus::Trash => "trash",
        }
    }
    pub fn parse(s: &str) -> Result<UserStatus> {
        match s.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(UserStatus::Active),
            "deactivated" | "inactive" => Ok(UserStatus::Deactivated),
            "trash" | "deleted" => Ok(UserStatus::Trash),
            _ => Err(Error::invalid(
                "status",
                format!("unknown status '{s}'; use active, deactivated or trash"),
            )),
        }
    }
    pub fn holds_seat(self) -> bool {
        self == UserStatus::Active
    }
}

/// A lifecycle move, as the diagram in DESIGN.md draws it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleAction {
    Activate,
    Deactivate,
    Delete,
    Restore,
}

impl LifecycleAction {
    pub fn verb(self) -> &'static str {
        match self {
            LifecycleAction::Activate => "activate",
            LifecycleAction::Deactivate => "deactivate",
            LifecycleAction::Delete => "delete",
            LifecycleAction::Restore => "restore",
        }
    }

    /// The status after the move, or `None` when the user is already there (a no-op, so
    /// repeated requests from identity providers and bulk actions are idempotent).
    pub fn apply(self, from: UserStatus) -> Result<Option<UserStatus>> {
        use LifecycleAction::*;
        use UserStatus::*;
        match (self, from) {
            (Activate, Active) | (Deactivate, Deactivated) => Ok(None),
            (Activate, Deactivated) => Ok(Some(Active)),
            (Deactivate, Active) => Ok(Some(Deactivated)),
            (Delete, Active | Deactivated) => Ok(Some(Trash)),
            (Restore, Trash) => Ok(Some(Deactivated)),
            (Activate | Deactivate, Trash) => Err(Error::conflict(
                "in_trash",
                "the user is in the trash; restore them first (rollcall user restore)",
            )),
            (Delete, Trash) => Err(Error::conflict("in_trash", "the user is already in the trash")),
            (Restore, Active | Deactivated) => Err(Error::conflict("not_in_trash", "the user is not in the trash")),
        }
    }
}

/// How an account came to be; recorded once, at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Console,
    Api,
    Cli,
    Csv,
    Scim,
    Sso,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Console => "console",
            Origin::Api => "api",
            Origin::Cli => "cli",
            Origin::Csv => "csv",
            Origin::Scim => "scim",
            Origin::Sso => "sso",
        }
    }
    pub fn parse(s: &str) -> Result<Origin> {
        [
            Origin::Console,
            Origin::Api,
            Origin::Cli,
            Origin::Csv,
            Origin::Scim,
            Origin::Sso,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| Error::internal(format!("unknown origin '{s}' in storage")))
    }
}

/// A user as stored. The password hash is deliberately absent: it is read only by sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub user_type_id: UserTypeId,
    pub status: UserStatus,
    pub origin: Origin,
    pub external_id: Option<String>,
    pub exclude_from_emails: bool,
    pub has_password: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_login_at: Option<Millis>,
    pub deactivated_at: Option<Millis>,
    pub deleted_at: Option<Millis>,
    /// Scheduled deactivation: the system deactivates the account at this time.
    pub deactivate_at: Option<Millis>,
    /// Managed by the identity provider over SCIM (SCIM sees only linked accounts).
    pub scim_linked: bool,
}

/// A plain active learner for unit tests.
#[cfg(test)]
pub(crate) fn sample_user(name: &str) -> User {
    use super::names::{Email, PersonName, Username};
    User {
        id: UserId(1),
        username: Username::parse(name).unwrap(),
        email: Email::parse(&format!("{name}@example.org")).unwrap(),
        first_name: PersonName::parse("first_name", "Ada").unwrap(),
        last_name: PersonName::parse("last_name", "Lovelace").unwrap(),
        user_type_id: super::BaseRole::Learner.builtin_id(),
        status: UserStatus::Active,
        origin: Origin::Cli,
        external_id: None,
        exclude_from_emails: false,
        has_password: false,
        created_at: 0,
        updated_at: 0,
        last_login_at: None,
        deactivated_at: None,
        deleted_at: None,
        deactivate_at: None,
        scim_linked: false,
    }
}

#[cfg(test)]
mod tests {
    use super::LifecycleAction::*;
    use super::UserStatus::*;
    use super::*;

    #[test]
    fn lifecycle_follows_the_diagram() {
        assert_eq!(Deactivate.apply(Active).unwrap(), Some(Deactivated));
        assert_eq!(Activate.apply(Deactivated).unwrap(), Some(Active));
        assert_eq!(Delete.apply(Active).unwrap(), Some(Trash));
        assert_eq!(Delete.apply(Deactivated).unwrap(), Some(Trash));
        assert_eq!(
            Restore.apply(Trash).unwrap(),
            Some(Deactivated),
            "restore never re-activates"
        );
    }

    #[test]
    fn repeated_moves_are_no_ops() {
        assert_eq!(Deactivate.apply(Deactivated).unwrap(), None);
        assert_eq!(Activate.apply(Active).unwrap(), None);
    }

    #[test]
    fn trash_is_reached_and_left_only_by_delete_and_restore() {
        assert_eq!(Activate.apply(Trash).unwrap_err().code(), "in_trash");
        assert_eq!(Deactivate.apply(Trash).unwrap_err().code(), "in_trash");
        assert_eq!(Delete.apply(Trash).unwrap_err().code(), "in_trash");
        assert_eq!(Restore.apply(Active).unwrap_err().code(), "not_in_trash");
    }

    #[test]
    fn only_active_accounts_hold_seats() {
        assert!(Active.holds_seat());
        assert!(!Deactivated.holds_seat());
        assert!(!Trash.holds_seat());
        assert_eq!(UserStatus::parse("Deleted").unwrap(), Trash);
        assert!(UserStatus::parse("gone").is_err());
    }
}
