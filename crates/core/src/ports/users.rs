//! Accounts: the user rows, their passwords, sort keys and identity-provider links.

use super::{IdleQuery, UserQuery};
use crate::Result;
use crate::domain::*;
use async_trait::async_trait;

#[async_trait]
pub trait UserReads: Send {
    async fn user_by_id(&mut self, id: UserId) -> Result<Option<User>>;
    async fn user_by_username(&mut self, key: &str) -> Result<Option<User>>;
    async fn user_by_email(&mut self, key: &str) -> Result<Option<User>>;
    /// The users holding any of the username keys or email keys, in one read (an import
    /// checks its rows a batch at a time).
    async fn users_by_keys(&mut self, username_keys: &[String], email_keys: &[String]) -> Result<Vec<User>>;
    /// The stored PHC string, for verification only; never leaves the service layer.
    async fn password_hash(&mut self, id: UserId) -> Result<Option<String>>;
    async fn list_users(&mut self, query: &UserQuery) -> Result<Vec<User>>;
    async fn count_users(&mut self, query: &UserQuery) -> Result<i64>;
    /// Active users of one type (the last-administrator guard).
    async fn count_active_of_type(&mut self, type_id: UserTypeId) -> Result<i64>;
    /// Active users whose scheduled deactivation time has passed.
    async fn users_due_for_deactivation(&mut self, now: Millis, limit: i64) -> Result<Vec<UserId>>;
    /// Deactivated users whose scheduled reactivation is at or before `threshold`.
    async fn users_due_for_reactivation(&mut self, threshold: Millis, limit: i64) -> Result<Vec<UserId>>;
    /// Active users with a deactivation date, or deactivated ones with a reactivation date
    /// (`reactivations`), in `from..=to`: (username, date), soonest first.
    async fn scheduled_between(
        &mut self,
        reactivations: bool,
        from: Millis,
        to: Millis,
        limit: i64,
    ) -> Result<Vec<(String, Millis)>>;
    /// Trashed users deleted before `cutoff`.
    async fn trash_due_for_purge(&mut self, cutoff: Millis, limit: i64) -> Result<Vec<UserId>>;
    /// The usernames of these users (those that exist), in one read however many.
    async fn usernames_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>>;
    /// The identity-provider link of a user: (IdP entity id, NameID).
    async fn sso_link(&mut self, user: UserId) -> Result<Option<(String, String)>>;
    /// The user linked to (IdP entity id, NameID), whatever their username.
    async fn user_by_sso_link(&mut self, issuer: &str, subject: &str) -> Result<Option<User>>;
    /// Active accounts the idle policy may act on: not exempt (by their flag, type, a
    /// group or a branch) and last active at or before the cutoff of their kind. Through
    /// the `users_idle` index range, never a scan of the table.
    async fn idle_candidates(&mut self, q: &IdleQuery) -> Result<Vec<IdleCandidate>>;
    /// Active accounts holding an idle warning, exempt or not (`IdleCandidate::exempt`).
    async fn idle_warned(&mut self, q: &IdleQuery) -> Result<Vec<IdleCandidate>>;
}

#[async_trait]
pub trait UserTx: UserReads {
    /// Inserts the users (each with its password hash) and returns their new ids, in order,
    /// in a few multi-row statements. A taken username or email surfaces as
    /// `UsernameTaken`/`EmailTaken` even when a concurrent insert won the race.
    async fn insert_users(&mut self, users: &[(User<Unsaved>, Option<String>)]) -> Result<Vec<UserId>>;
    /// Reads the user and locks the row until the transaction ends (PostgreSQL; SQLite's
    /// write transactions hold the database lock already).
    async fn lock_user(&mut self, id: UserId) -> Result<Option<User>>;
    /// Writes every mutable field of `user` (matched by id).
    async fn update_user(&mut self, user: &User) -> Result<()>;
    async fn set_password_hash(&mut self, id: UserId, hash: Option<&str>) -> Result<()>;
    /// Erases the row and everything that hangs off it (memberships).
    async fn purge_user(&mut self, id: UserId) -> Result<()>;
    /// Writes the sort keys of up to 1,000 users stored without them (by a version from
    /// before they existed, during a rolling upgrade); returns how many (0: none left).
    async fn fill_missing_sort_keys(&mut self) -> Result<u64>;
    /// Marks a user linked to (or unlinked from) the identity provider.
    async fn set_scim_linked(&mut self, user: UserId, linked: bool) -> Result<()>;
    /// Records a sign-in; it also ends an idle warning the account holds (signing in keeps
    /// the account).
    async fn set_last_login(&mut self, user: UserId, at: Millis) -> Result<()>;
    /// Links a user to (IdP entity id, NameID), or unlinks with `None`.
    async fn set_sso_link(&mut self, user: UserId, link: Option<(&str, &str)>) -> Result<()>;
}
