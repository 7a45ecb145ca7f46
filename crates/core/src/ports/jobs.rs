//! Background jobs (large bulk actions), their items, and the import wizard's uploads.

use super::JobRecord;
use crate::Result;
use crate::domain::*;
use async_trait::async_trait;

#[async_trait]
pub trait JobReads: Send {
    async fn job(&mut self, id: i64) -> Result<Option<JobRecord>>;
    /// Users of the job not done yet with a `seq` above `after`, in order.
    async fn pending_job_items(&mut self, job: i64, after: i64, limit: i64) -> Result<Vec<(i64, UserId)>>;
    /// Outcomes recorded so far with a `seq` above `after`, in order, with their `seq`.
    async fn job_outcomes(&mut self, job: i64, after: i64, limit: i64) -> Result<Vec<(i64, String)>>;
    async fn import_upload(&mut self, id_hash: &str) -> Result<Option<(UserId, Millis, Vec<u8>)>>;
}

#[async_trait]
pub trait JobTx: JobReads {
    async fn insert_job(&mut self, job: &JobRecord) -> Result<i64>;
    async fn update_job(&mut self, job: &JobRecord) -> Result<()>;
    /// The job's users, in order (`seq` from 0).
    async fn insert_job_items(&mut self, job: i64, users: &[UserId]) -> Result<()>;
    /// Records outcomes (whether it succeeded, and the JSON) by `seq`; an item keeps the
    /// first outcome recorded for it. Returns how many were recorded, and how many of
    /// those failed.
    async fn finish_job_items(&mut self, job: i64, outcomes: &[(i64, bool, String)]) -> Result<(i64, i64)>;
    /// Adds progress to a running job and moves its lease from `held` to `lease_until`
    /// (finishing it at `finished_at`) — only if its lease is still `held`: `false` when
    /// another instance has taken the job over.
    async fn advance_job(
        &mut self,
        job: i64,
        held: Millis,
        progress: (i64, i64),
        lease_until: Millis,
        finished_at: Option<Millis>,
    ) -> Result<bool>;
    /// Marks a running job failed, if its lease is still `held`.
    async fn fail_job(&mut self, job: i64, held: Millis, at: Millis) -> Result<bool>;
    /// Takes over one running job whose lease ended before `now`, leasing it until
    /// `lease_until`; `None` when there is none. Two instances never take the same job.
    async fn claim_abandoned_job(&mut self, now: Millis, lease_until: Millis) -> Result<Option<JobRecord>>;
    /// The console's import wizard keeps an upload between preview and commit.
    async fn insert_import_upload(&mut self, id_hash: &str, user: UserId, at: Millis, body: &[u8]) -> Result<()>;
    /// Deletes uploads older than `before`: all of them, or only this one, or only this user's.
    async fn delete_import_uploads(
        &mut self,
        id_hash: Option<&str>,
        user: Option<UserId>,
        before: Millis,
    ) -> Result<u64>;
}
