//! Background jobs and the import wizard's uploads.

use super::*;

#[async_trait]
impl JobReads for SqlTx {
    async fn job(&mut self, id: i64) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row: Option<JobRow> = self.fetch_optional(AssertSqlSafe(sql), &args![id]).await?;
        Ok(row.map(JobRecord::from))
    }

    async fn pending_job_items(&mut self, job: i64, after: i64, limit: i64) -> Result<Vec<(i64, UserId)>> {
        const SQL: &str = "SELECT seq, user_id FROM job_items WHERE job_id = $1 AND seq > $2 AND outcome IS NULL \
             ORDER BY seq LIMIT $3";
        let rows: Vec<(i64, i64)> = self.fetch_all(SQL, &args![job, after, limit]).await?;
        Ok(rows.into_iter().map(|(seq, user)| (seq, UserId(user))).collect())
    }

    async fn job_outcomes(&mut self, job: i64, after: i64, limit: i64) -> Result<Vec<(i64, String)>> {
        const SQL: &str = "SELECT seq, outcome FROM job_items WHERE job_id = $1 AND seq > $2 AND outcome IS NOT NULL \
             ORDER BY seq LIMIT $3";
        self.fetch_all(SQL, &args![job, after, limit]).await
    }

    async fn import_upload(&mut self, id_hash: &str) -> Result<Option<(UserId, Millis, Vec<u8>)>> {
        const SQL: &str = "SELECT user_id, created_at, body FROM import_uploads WHERE id_hash = $1";
        let row: Option<(i64, i64, Vec<u8>)> = self.fetch_optional(SQL, &args![id_hash]).await?;
        Ok(row.map(|(u, at, body)| (UserId(u), at, body)))
    }

    async fn daily_run(&mut self, job: &str, period: &str) -> Result<Option<DailyRunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM job_runs WHERE job = $1 AND period = $2");
        let row: Option<RunRow> = self.fetch_optional(AssertSqlSafe(sql), &args![job, period]).await?;
        Ok(row.map(RunRow::into_record))
    }

    async fn latest_daily_run(&mut self, job: &str) -> Result<Option<DailyRunRecord>> {
        let sql =
            format!("SELECT {RUN_COLUMNS} FROM job_runs WHERE job = $1 ORDER BY started_at DESC, id DESC LIMIT 1");
        let row: Option<RunRow> = self.fetch_optional(AssertSqlSafe(sql), &args![job]).await?;
        Ok(row.map(RunRow::into_record))
    }

    async fn daily_run_counts(&mut self) -> Result<Vec<(String, String, i64)>> {
        const SQL: &str = "SELECT job, COALESCE(outcome, 'running'), COUNT(*) FROM job_runs GROUP BY job, COALESCE(outcome, 'running') ORDER BY job";
        self.fetch_all(SQL, &[]).await
    }

    async fn job_lease(&mut self, job: &str, now: Millis) -> Result<Option<(String, Millis)>> {
        const SQL: &str = "SELECT holder, lease_until FROM job_leases WHERE job = $1 AND lease_until > $2";
        self.fetch_optional(SQL, &args![job, now]).await
    }
}

const RUN_COLUMNS: &str = "id, job, period, holder, started_at, finished_at, outcome, detail, attempts";

type RunRow = (
    i64,
    String,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
);

trait IntoRecord {
    fn into_record(self) -> DailyRunRecord;
}

impl IntoRecord for RunRow {
    fn into_record(self) -> DailyRunRecord {
        let (id, job, period, holder, started_at, finished_at, outcome, detail, attempts) = self;
        DailyRunRecord {
            id,
            job,
            period,
            holder,
            started_at,
            finished_at,
            outcome,
            detail,
            attempts,
        }
    }
}

#[async_trait]
impl JobTx for SqlTx {
    async fn insert_job(&mut self, j: &JobRecord) -> Result<i64> {
        const SQL: &str = "INSERT INTO jobs (kind, status, created_by, total, done, failed, results, created_at, finished_at, \
             action, actor, channel, request_id, lease_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id";
        let (id,): (i64,) = self
            .fetch_one(
                SQL,
                &args![
                    j.kind.as_str(),
                    j.status.as_str(),
                    j.created_by,
                    j.total,
                    j.done,
                    j.failed,
                    j.results.as_str(),
                    j.created_at,
                    j.finished_at,
                    j.action.as_deref(),
                    j.actor.as_deref(),
                    j.channel.as_deref(),
                    j.request_id.as_deref(),
                    j.lease_until
                ],
            )
            .await?;
        Ok(id)
    }

    async fn update_job(&mut self, j: &JobRecord) -> Result<()> {
        const SQL: &str = "UPDATE jobs SET status = $2, done = $3, failed = $4, results = $5, finished_at = $6, \
             lease_until = $7 WHERE id = $1";
        self.execute(
            SQL,
            &args![
                j.id,
                j.status.as_str(),
                j.done,
                j.failed,
                j.results.as_str(),
                j.finished_at,
                j.lease_until
            ],
        )
        .await
        .map(drop)
    }

    async fn claim_job_lease(&mut self, job: &str, holder: &str, now: Millis, lease_until: Millis) -> Result<bool> {
        // One statement on the job's row: of two instances claiming at once, the second
        // waits for the first's row and then finds the lease held.
        const SQL: &str = "INSERT INTO job_leases (job, holder, lease_until) VALUES ($1, $2, $4) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until \
             WHERE job_leases.lease_until <= $3";
        Ok(self.execute(SQL, &args![job, holder, now, lease_until]).await? == 1)
    }

    async fn release_job_lease(&mut self, job: &str, holder: &str) -> Result<()> {
        const SQL: &str = "DELETE FROM job_leases WHERE job = $1 AND holder = $2";
        self.execute(SQL, &args![job, holder]).await.map(drop)
    }

    async fn start_daily_run(&mut self, job: &str, period: &str, holder: &str, at: Millis) -> Result<Option<i64>> {
        const SQL: &str = "INSERT INTO job_runs (job, period, holder, started_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (job, period) DO UPDATE SET holder = excluded.holder, started_at = excluded.started_at, \
             attempts = job_runs.attempts + 1 WHERE job_runs.finished_at IS NULL RETURNING id";
        let row: Option<(i64,)> = self.fetch_optional(SQL, &args![job, period, holder, at]).await?;
        Ok(row.map(|(id,)| id))
    }

    async fn start_manual_run(&mut self, job: &str, holder: &str, at: Millis) -> Result<i64> {
        const SQL: &str =
            "INSERT INTO job_runs (job, period, holder, started_at) VALUES ($1, NULL, $2, $3) RETURNING id";
        let (id,): (i64,) = self.fetch_one(SQL, &args![job, holder, at]).await?;
        Ok(id)
    }

    async fn finish_daily_run(
        &mut self,
        run: i64,
        holder: &str,
        at: Millis,
        outcome: &str,
        detail: &str,
    ) -> Result<bool> {
        const SQL: &str = "UPDATE job_runs SET finished_at = $3, outcome = $4, detail = $5 \
             WHERE id = $1 AND holder = $2 AND finished_at IS NULL";
        Ok(self.execute(SQL, &args![run, holder, at, outcome, detail]).await? == 1)
    }

    async fn insert_job_items(&mut self, job: i64, users: &[UserId]) -> Result<()> {
        // Many rows per statement: a million-user job is written in seconds.
        const ROWS: usize = 300;
        for (n, chunk) in users.chunks(ROWS).enumerate() {
            let mut args = vec![Arg::from(job)];
            let mut values = Vec::with_capacity(chunk.len());
            for (i, user) in chunk.iter().enumerate() {
                args.push(Arg::from((n * ROWS + i) as i64));
                args.push(Arg::from(*user));
                values.push(format!("($1, ${}, ${})", args.len() - 1, args.len()));
            }
            let sql = format!(
                "INSERT INTO job_items (job_id, seq, user_id) VALUES {}",
                values.join(", ")
            );
            self.execute(AssertSqlSafe(sql), &args).await.map(drop)?;
        }
        Ok(())
    }

    async fn finish_job_items(&mut self, job: i64, outcomes: &[(i64, bool, String)]) -> Result<(i64, i64)> {
        const SQL: &str =
            "UPDATE job_items SET outcome = $3, ok = $4 WHERE job_id = $1 AND seq = $2 AND outcome IS NULL";
        let (mut done, mut failed) = (0, 0);
        for (seq, ok, outcome) in outcomes {
            let n = self
                .execute(SQL, &args![job, *seq, outcome.as_str(), *ok])
                .await
                .map(|n| n as i64)?;
            done += n;
            if !ok {
                failed += n;
            }
        }
        Ok((done, failed))
    }

    async fn advance_job(
        &mut self,
        job: i64,
        held: Millis,
        (done, failed): (i64, i64),
        lease_until: Millis,
        finished_at: Option<Millis>,
    ) -> Result<bool> {
        const SQL: &str = "UPDATE jobs SET done = done + $3, failed = failed + $4, lease_until = $5, \
             status = CASE WHEN $6 IS NULL THEN status ELSE 'done' END, \
             finished_at = COALESCE($6, finished_at) \
             WHERE id = $1 AND lease_until = $2 AND status = 'running'";
        let args = args![job, held, done, failed, lease_until, finished_at];
        Ok(self.execute(SQL, &args).await? == 1)
    }

    async fn fail_job(&mut self, job: i64, held: Millis, at: Millis) -> Result<bool> {
        const SQL: &str = "UPDATE jobs SET status = 'failed', finished_at = $3 WHERE id = $1 AND lease_until = $2 AND status = 'running'";
        Ok(self.execute(SQL, &args![job, held, at]).await? == 1)
    }

    async fn claim_abandoned_job(&mut self, now: Millis, lease_until: Millis) -> Result<Option<JobRecord>> {
        // The outer condition is checked again on the row itself, so of two instances
        // racing for one job only the first changes it; the other changes nothing.
        let sql = format!(
            "UPDATE jobs SET lease_until = $2 WHERE id = (SELECT id FROM jobs WHERE status = 'running' \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY id LIMIT 1) \
             AND status = 'running' AND (lease_until IS NULL OR lease_until < $1) RETURNING {JOB_COLUMNS}"
        );
        let row: Option<JobRow> = self
            .fetch_optional(AssertSqlSafe(sql), &args![now, lease_until])
            .await?;
        Ok(row.map(JobRecord::from))
    }

    async fn insert_import_upload(&mut self, id_hash: &str, user: UserId, at: Millis, body: &[u8]) -> Result<()> {
        const SQL: &str = "INSERT INTO import_uploads (id_hash, user_id, created_at, body) VALUES ($1, $2, $3, $4)";
        self.execute(SQL, &args![id_hash, user, at, body]).await.map(drop)
    }

    async fn delete_import_uploads(
        &mut self,
        id_hash: Option<&str>,
        user: Option<UserId>,
        before: Millis,
    ) -> Result<u64> {
        // One id, or a user's older uploads, or every upload older than `before`.
        const SQL: &str = "DELETE FROM import_uploads WHERE ($1 IS NULL OR id_hash = $1) \
             AND ($2 IS NULL OR user_id = $2) AND created_at < $3";
        self.execute(SQL, &args![id_hash, user, before]).await
    }
}
