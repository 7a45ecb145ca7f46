//! The mail outbox.

use super::OutboxMail;
use crate::Result;
use crate::domain::*;
use async_trait::async_trait;

#[async_trait]
pub trait OutboxReads: Send {
    /// Newest first.
    async fn list_mail(&mut self, limit: i64) -> Result<Vec<OutboxMail>>;
    /// Pending messages whose next attempt is due.
    async fn due_mail(&mut self, now: Millis, limit: i64) -> Result<Vec<OutboxMail>>;
    /// How many messages wait to go out (`pending`) and how many were given up (`dead`).
    async fn mail_backlog(&mut self) -> Result<(i64, i64)>;
    /// Whether a message carrying a link of `purpose` was queued for the user since then.
    async fn recent_link_mail(&mut self, user: UserId, purpose: &str, since: Millis) -> Result<bool>;
}

#[async_trait]
pub trait OutboxTx: OutboxReads {
    async fn enqueue_mail(&mut self, m: &OutboxMail) -> Result<i64>;
    /// Leases a due message to this sender until `until`, if no other sender took it first.
    async fn claim_mail(&mut self, id: i64, seen_next_attempt: Millis, until: Millis) -> Result<bool>;
    /// Saves a delivery outcome — only while this sender still holds the lease it took.
    async fn update_mail(&mut self, m: &OutboxMail, lease: Millis) -> Result<bool>;
    /// Empties a message's body once it is sent or given up.
    async fn drop_mail_body(&mut self, id: i64) -> Result<()>;
}
