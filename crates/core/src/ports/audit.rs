//! The audit log, its personal data and the chain head.

use super::{AuditHead, AuditQuery, AuditRow, NewAuditEntry};
use crate::Result;
use crate::domain::*;
use async_trait::async_trait;

#[async_trait]
pub trait AuditReads: Send {
    async fn list_audit(&mut self, query: &AuditQuery) -> Result<Vec<AuditRow>>;
    /// Reads the chain head without locking it (verification).
    async fn audit_head(&mut self) -> Result<AuditHead>;
    /// Unsealed entries not refused, oldest first.
    async fn unsealed_audit(&mut self, limit: i64) -> Result<Vec<AuditRow>>;
    async fn count_unsealed_audit(&mut self) -> Result<i64>;
    /// Rows the sealer refused, oldest first.
    async fn refused_audit(&mut self, limit: i64) -> Result<Vec<AuditRow>>;
    /// Sealed entries in chain order, from chain position `after_seq + 1`.
    async fn audit_chain(&mut self, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>>;
}

#[async_trait]
pub trait AuditTx: AuditReads {
    /// Inserts the entry and its personal data, then stores `tag(id)` as its tag.
    async fn insert_audit(&mut self, entry: &NewAuditEntry, tag: &(dyn Fn(i64) -> String + Send + Sync))
    -> Result<i64>;
    /// Erases the personal data of every entry by or about the user (purge).
    async fn erase_audit_personal(&mut self, user: UserId, at: Millis) -> Result<u64>;
    /// Locks and returns the chain head (the sealer's serialisation point).
    async fn lock_audit_head(&mut self) -> Result<AuditHead>;
    async fn set_audit_head(&mut self, head: &AuditHead) -> Result<()>;
    /// Marks an unsealed row refused: the sealer passes over it from then on.
    async fn refuse_audit(&mut self, id: i64, at: Millis) -> Result<()>;
    async fn seal_audit(&mut self, id: i64, seq: i64, prev_hash: &str, hash: &str) -> Result<()>;
}
