//! Authentication: API and SCIM tokens, sessions, sign-in throttling, SAML request and
//! assertion ids, and set-password links.

use super::{PasswordToken, SessionRecord, SignInFailureTally, SignInFailures};
use crate::Result;
use crate::domain::*;
use async_trait::async_trait;

#[async_trait]
pub trait AuthReads: Send {
    async fn token_by_lookup(&mut self, lookup: &str) -> Result<Option<Token>>;
    async fn token_by_id(&mut self, id: i64) -> Result<Option<Token>>;
    async fn token_by_name(&mut self, name_key: &str) -> Result<Option<Token>>;
    async fn tokens(&mut self) -> Result<Vec<Token>>;
    async fn session(&mut self, id_hash: &str) -> Result<Option<SessionRecord>>;
    /// Whether a password token of this purpose was issued to the user since `since`.
    async fn recent_password_token(&mut self, user: UserId, purpose: &str, since: Millis) -> Result<bool>;
}

#[async_trait]
pub trait AuthTx: AuthReads {
    /// A taken name surfaces as `Conflict { code: "token_exists" }`.
    async fn insert_token(&mut self, t: &Token) -> Result<i64>;
    async fn revoke_token(&mut self, id: i64, at: Millis) -> Result<()>;
    /// Revokes every live token of the user; returns how many.
    async fn revoke_user_tokens(&mut self, user: UserId, at: Millis) -> Result<u64>;

    async fn insert_session(&mut self, s: &SessionRecord) -> Result<()>;
    async fn touch_session(&mut self, id_hash: &str, at: Millis) -> Result<()>;
    async fn delete_session(&mut self, id_hash: &str) -> Result<()>;
    /// Ends every session of the user; returns how many.
    async fn delete_user_sessions(&mut self, user: UserId) -> Result<u64>;
    /// Ends all but the user's `keep` newest sessions; returns how many ended.
    async fn trim_user_sessions(&mut self, user: UserId, keep: i64) -> Result<u64>;
    /// Deletes sessions past their absolute end (`expires_at <= now`) or unused since
    /// `idle_since`; returns how many.
    async fn prune_sessions(&mut self, now: Millis, idle_since: Millis) -> Result<u64>;

    /// Counts one more attempt under `key` in a single statement (so concurrent attempts
    /// all count) and returns the record after it. A key blocked at `now` is left as it is
    /// (a refused attempt doesn't count); one whose window began at or before
    /// `window_started_by` starts a new window with this attempt, unblocked.
    async fn reserve_sign_in_attempt(
        &mut self,
        key: &str,
        now: Millis,
        window_started_by: Millis,
    ) -> Result<SignInFailures>;
    async fn block_sign_in(&mut self, key: &str, until: Millis) -> Result<()>;
    async fn clear_sign_in_failures(&mut self, key: &str) -> Result<()>;
    /// Takes back one attempt counted under `key` (it turned out to succeed).
    async fn release_sign_in_attempt(&mut self, key: &str) -> Result<()>;
    /// Counts one failed sign-in for `account` from `address` in the window starting at
    /// `window_start` (the tally the audit log is written from).
    async fn tally_sign_in_failure(
        &mut self,
        account: &str,
        address: &str,
        window_start: Millis,
        user: Option<UserId>,
        now: Millis,
    ) -> Result<()>;
    /// Removes and returns up to `limit` tallies whose window began before
    /// `window_started_before`, oldest window first.
    async fn take_sign_in_failure_tallies(
        &mut self,
        window_started_before: Millis,
        limit: i64,
    ) -> Result<Vec<SignInFailureTally>>;
    /// Deletes sign-in failure rows whose window began at or before `window_started_by`
    /// and that block nothing at `now`; returns how many.
    async fn prune_sign_in_failures(&mut self, window_started_by: Millis, now: Millis) -> Result<u64>;

    /// Remembers an AuthnRequest id until `expires_at` (and forgets expired ones).
    async fn insert_sso_request(&mut self, id: &str, expires_at: Millis, now: Millis) -> Result<()>;
    /// Consumes an outstanding, unexpired AuthnRequest id; false when there is none.
    async fn take_sso_request(&mut self, id: &str, now: Millis) -> Result<bool>;
    /// Records an assertion id as used until `expires_at`; false when it was already used.
    async fn record_sso_assertion(&mut self, id: &str, expires_at: Millis, now: Millis) -> Result<bool>;
    /// Deletes expired SAML request and assertion ids; returns how many.
    async fn prune_sso_state(&mut self, now: Millis) -> Result<u64>;

    async fn insert_password_token(&mut self, t: &PasswordToken) -> Result<()>;
    /// Marks a set-password or reset token used, if it is unused and unexpired; returns its
    /// user and purpose.
    async fn use_password_token(&mut self, token_hash: &str, now: Millis) -> Result<Option<(UserId, String)>>;
    /// Marks every unused token of this purpose used (a new one replaces them).
    async fn retire_password_tokens(&mut self, user: UserId, purpose: &str, at: Millis) -> Result<()>;
    /// Ends every unused link of the user (their address changed).
    async fn retire_all_password_tokens(&mut self, user: UserId, at: Millis) -> Result<()>;
}
