//! Background jobs (large bulk actions), their items, the daily jobs' leases and runs, and
//! the import wizard's uploads.

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
    /// A daily job's run of `period` (a day, `YYYY-MM-DD`).
    async fn daily_run(&mut self, job: &str, period: &str) -> Result<Option<DailyRunRecord>>;
    /// A daily job's most recent run, scheduled or asked for.
    async fn latest_daily_run(&mut self, job: &str) -> Result<Option<DailyRunRecord>>;
    /// How many runs each daily job has recorded, by outcome (`ok`, `failed`, or `running`
    /// for one not finished): (job, outcome, runs).
    async fn daily_run_counts(&mut self) -> Result<Vec<(String, String, i64)>>;
    /// Who holds a daily job's run lease and until when, if anyone does after `now`.
    async fn job_lease(&mut self, job: &str, now: Millis) -> Result<Option<(String, Millis)>>;
}

/// One run of a daily job, as stored (`job_runs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyRunRecord {
    pub id: i64,
    pub job: String,
    /// The day it ran for; `None` for a run asked for by hand.
    pub period: Option<String>,
    pub holder: String,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    /// `ok` or `failed`, once finished.
    pub outcome: Option<String>,
    pub detail: Option<String>,
    /// How many instances started it (more than one: taken over after a lease ran out).
    pub attempts: i64,
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
    /// Takes a daily job's run lease for `holder` until `lease_until`, if nobody holds it
    /// after `now` (free, released, or run out). `false`: another run holds it.
    async fn claim_job_lease(&mut self, job: &str, holder: &str, now: Millis, lease_until: Millis) -> Result<bool>;
    /// Ends `holder`'s lease on the job (nothing if it has lost it).
    async fn release_job_lease(&mut self, job: &str, holder: &str) -> Result<()>;
    /// Starts (or takes over, if unfinished) the run of `period`, for the lease holder;
    /// `None` when that period's run has finished. Returns the run's id.
    async fn start_daily_run(&mut self, job: &str, period: &str, holder: &str, at: Millis) -> Result<Option<i64>>;
    /// Records a run asked for by hand (no period); returns its id.
    async fn start_manual_run(&mut self, job: &str, holder: &str, at: Millis) -> Result<i64>;
    /// Records a run's end, if `holder` still has it unfinished; `false` otherwise (it was
    /// taken over after the lease ran out).
    async fn finish_daily_run(
        &mut self,
        run: i64,
        holder: &str,
        at: Millis,
        outcome: &str,
        detail: &str,
    ) -> Result<bool>;
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
