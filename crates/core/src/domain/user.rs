//! Users and their lifecycle.

use super::Millis;
use super::access::UserTypeId;
use super::names::{Email, PersonName, Username};
use crate::{ConflictCode, Error, Result};

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

wire_string!(UserStatus);

impl UserStatus {
    pub const ALL: &'static [UserStatus] = &[UserStatus::Active, UserStatus::Deactivated, UserStatus::Trash];
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
                ConflictCode::InTrash,
                "the user is in the trash; restore them first (rollcall user restore)",
            )),
            (Delete, Trash) => Err(Error::conflict(
                ConflictCode::InTrash,
                "the user is already in the trash",
            )),
            (Restore, Active | Deactivated) => Err(Error::conflict(
                ConflictCode::NotInTrash,
                "the user is not in the trash",
            )),
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

wire_string!(Origin);

impl Origin {
    pub const ALL: &'static [Origin] = &[
        Origin::Console,
        Origin::Api,
        Origin::Cli,
        Origin::Csv,
        Origin::Scim,
        Origin::Sso,
    ];
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
        Origin::ALL
            .iter()
            .copied()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| Error::internal(format!("unknown origin '{s}' in storage")))
    }
}

/// A user as stored. The password hash is deliberately absent: it is read only by sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User<I = UserId> {
    /// [`Unsaved`](super::Unsaved) until the row is written.
    pub id: I,
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
    /// Scheduled reactivation (the end of a leave of absence): the system reactivates the
    /// account on this date, if a seat is free.
    pub reactivate_at: Option<Millis>,
    /// Managed by the identity provider over SCIM (SCIM sees only linked accounts).
    pub scim_linked: bool,
    /// The idle policy never warns or deactivates this account.
    pub idle_exempt: bool,
    /// The last move from deactivated back to active (the idle policy's grace counts from it).
    pub reactivated_at: Option<Millis>,
    /// The idle warning mailed to this account, and the deactivation date it named. A
    /// sign-in or any status change ends it.
    pub idle_warned_at: Option<Millis>,
    pub idle_deadline: Option<Millis>,
}

impl User<super::Unsaved> {
    /// The row as written, under the id the store gave it.
    pub fn saved(self, id: UserId) -> User {
        User {
            id,
            username: self.username,
            email: self.email,
            first_name: self.first_name,
            last_name: self.last_name,
            user_type_id: self.user_type_id,
            status: self.status,
            origin: self.origin,
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
        }
    }
}

/// The stored key a list sorted by last sign-in is ordered by: the time, then the id, as
/// fixed-width digits, so the key is unique and orders the same in any collation. Never
/// signed in sorts as the oldest sign-in.
pub fn login_key(last_login_at: Option<Millis>, id: UserId) -> String {
    format!("{:020}{:020}", last_login_at.unwrap_or(0).max(0), id.0)
}

impl<I> User<I> {
    /// What idleness counts from: the last sign-in, else the creation, or the last
    /// reactivation when that is later. Stored (`users.activity_at`) so the idle policy
    /// finds idle accounts through one index range.
    pub fn activity_at(&self) -> Millis {
        let seen = self.last_login_at.unwrap_or(self.created_at);
        self.reactivated_at.map_or(seen, |r| r.max(seen))
    }
}

impl User {
    /// The stored key a list sorted by name is ordered by: last name, then first name,
    /// ignoring case, then the id, so it is unique. Tabs separate the parts because names
    /// can't contain one.
    pub fn name_key(&self) -> String {
        let names = super::name_key(&format!("{}\t{}", self.last_name.as_str(), self.first_name.as_str()));
        format!("{names}\t{:020}", self.id.0)
    }

    pub fn login_key(&self) -> String {
        login_key(self.last_login_at, self.id)
    }
}

/// A column a user list can be ordered by; every order ends with the id, so it is total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserSort {
    /// Creation order (the id): the default.
    #[default]
    Created,
    Username,
    Name,
    Email,
    LastLogin,
}

impl UserSort {
    pub const ALL: [UserSort; 5] = [
        UserSort::Created,
        UserSort::Username,
        UserSort::Name,
        UserSort::Email,
        UserSort::LastLogin,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            UserSort::Created => "created",
            UserSort::Username => "username",
            UserSort::Name => "name",
            UserSort::Email => "email",
            UserSort::LastLogin => "last_login",
        }
    }
}

/// An order of a user list: a column, ascending or descending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserOrder {
    pub by: UserSort,
    pub descending: bool,
}

impl UserOrder {
    /// `username`, `-last_login` (descending), …
    pub fn parse(s: &str) -> Result<UserOrder> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let by = UserSort::ALL.into_iter().find(|c| c.as_str() == name).ok_or_else(|| {
            let names: Vec<&str> = UserSort::ALL.iter().map(|c| c.as_str()).collect();
            Error::invalid(
                "sort",
                format!(
                    "'{s}' is not a sort; use one of {}, with a leading '-' for descending",
                    names.join(", ")
                ),
            )
        })?;
        Ok(UserOrder { by, descending })
    }
    pub fn as_param(self) -> String {
        format!("{}{}", if self.descending { "-" } else { "" }, self.by.as_str())
    }
}

/// Where the next page of a sorted list starts: after this user, wherever the order puts
/// them. The cursor names the user, not their key, so it carries no personal data (no
/// email or name in URLs) and can't disagree with what is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserCursor {
    pub id: UserId,
}

impl UserCursor {
    /// A URL-safe token naming the order too, so a token can't be replayed against
    /// another order. Creation order keeps the plain id older clients hold.
    pub fn encode(&self, order: UserOrder) -> String {
        if order == UserOrder::default() {
            self.id.0.to_string()
        } else {
            format!("{}.{}", order.as_param(), self.id.0)
        }
    }

    pub fn decode(token: &str, order: UserOrder) -> Result<UserCursor> {
        let bad = || Error::invalid("cursor", "not a cursor this server issued for this sort");
        let id = if order == UserOrder::default() {
            token
        } else {
            match token.split_once('.') {
                Some((o, id)) if o == order.as_param() => id,
                _ => return Err(bad()),
            }
        };
        Ok(UserCursor {
            id: UserId(id.parse().map_err(|_| bad())?),
        })
    }
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
        reactivate_at: None,
        scim_linked: false,
        idle_exempt: false,
        reactivated_at: None,
        idle_warned_at: None,
        idle_deadline: None,
    }
}

#[cfg(test)]
mod tests {
    use super::LifecycleAction::*;
    use super::UserStatus::*;
    use super::*;

    #[test]
    fn cursors_round_trip_and_name_their_order() {
        let mut u = sample_user("ada");
        u.id = UserId(42);
        u.last_login_at = Some(1_700_000_000_000);
        for by in UserSort::ALL {
            for descending in [false, true] {
                let order = UserOrder { by, descending };
                assert_eq!(UserOrder::parse(&order.as_param()).unwrap(), order);
                let cursor = UserCursor { id: u.id };
                let token = cursor.encode(order);
                assert!(
                    token.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)),
                    "{token}"
                );
                assert!(!token.contains("ada"), "no personal data in {token}");
                assert_eq!(UserCursor::decode(&token, order).unwrap(), cursor);
                let other = UserOrder {
                    by,
                    descending: !descending,
                };
                assert!(
                    UserCursor::decode(&token, other).is_err(),
                    "{token} replayed against {other:?}"
                );
            }
        }
        assert_eq!(UserCursor { id: u.id }.encode(UserOrder::default()), "42");
        assert!(UserOrder::parse("password").is_err());
        assert!(UserCursor::decode("username.x", UserOrder::parse("username").unwrap()).is_err());
        assert_eq!(u.name_key(), "lovelace\tada\t00000000000000000042");
        assert_eq!(
            u.login_key(),
            "00000001700000000000".to_owned() + "00000000000000000042"
        );
        u.last_login_at = None;
        assert!(
            u.login_key() < login_key(Some(1), UserId(1)),
            "never signed in sorts first"
        );
    }

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
