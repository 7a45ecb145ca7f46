//! The audit log, its personal data and the chain head.

use super::AuditSeal;
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
    /// Inserts the entries and their personal data, then stores `tag(id, entry)` as each
    /// one's tag, in a few multi-row statements; returns the ids in order.
    async fn insert_audits(
        &mut self,
        entries: &[NewAuditEntry],
        tag: &(dyn for<'e> Fn(i64, &'e NewAuditEntry) -> String + Send + Sync),
    ) -> Result<Vec<i64>>;
    /// Erases the personal data of every entry by or about the user (purge).
    async fn erase_audit_personal(&mut self, user: UserId, at: Millis) -> Result<u64>;
    /// Locks and returns the chain head (the sealer's serialisation point).
    async fn lock_audit_head(&mut self) -> Result<AuditHead>;
    async fn set_audit_head(&mut self, head: &AuditHead) -> Result<()>;
    /// Marks an unsealed row refused: the sealer passes over it from then on.
    async fn refuse_audit(&mut self, id: i64, at: Millis) -> Result<()>;
    /// Links unsealed entries into the chain, in one statement per few hundred; an entry
    /// sealed already is an error (two sealers at once).
    async fn seal_audits(&mut self, seals: &[AuditSeal]) -> Result<()>;
}
