//! Background jobs and the import wizard's uploads.

use super::*;

#[async_trait]
impl JobReads for SqlTx {
    async fn job(&mut self, id: i64) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row: Option<JobRow> =
            on_conn!(self, c => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(c).await).map_err(db_err)?;
        Ok(row.map(JobRecord::from))
    }

    async fn pending_job_items(&mut self, job: i64, after: i64, limit: i64) -> Result<Vec<(i64, UserId)>> {
        const SQL: &str = "SELECT seq, user_id FROM job_items WHERE job_id = $1 AND seq > $2 AND outcome IS NULL \
             ORDER BY seq LIMIT $3";
        let rows: Vec<(i64, i64)> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(job).bind(after).bind(limit).fetch_all(c).await)
                .map_err(db_err)?;
        Ok(rows.into_iter().map(|(seq, user)| (seq, UserId(user))).collect())
    }

    async fn job_outcomes(&mut self, job: i64, after: i64, limit: i64) -> Result<Vec<(i64, String)>> {
        const SQL: &str = "SELECT seq, outcome FROM job_items WHERE job_id = $1 AND seq > $2 AND outcome IS NOT NULL \
             ORDER BY seq LIMIT $3";
        on_conn!(self, c => sqlx::query_as(SQL).bind(job).bind(after).bind(limit).fetch_all(c).await).map_err(db_err)
    }

    async fn import_upload(&mut self, id_hash: &str) -> Result<Option<(UserId, Millis, Vec<u8>)>> {
        const SQL: &str = "SELECT user_id, created_at, body FROM import_uploads WHERE id_hash = $1";
        let row: Option<(i64, i64, Vec<u8>)> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(id_hash).fetch_optional(c).await).map_err(db_err)?;
        Ok(row.map(|(u, at, body)| (UserId(u), at, body)))
    }
}

#[async_trait]
impl JobTx for SqlTx {
    async fn insert_job(&mut self, j: &JobRecord) -> Result<i64> {
        const SQL: &str = "INSERT INTO jobs (kind, status, created_by, total, done, failed, results, created_at, finished_at, \
             action, actor, channel, request_id, lease_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id";
        let (id,): (i64,) = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(j.kind.as_str())
            .bind(j.status.as_str())
            .bind(j.created_by.map(|u| u.0))
            .bind(j.total)
            .bind(j.done)
            .bind(j.failed)
            .bind(j.results.as_str())
            .bind(j.created_at)
            .bind(j.finished_at)
            .bind(j.action.as_deref())
            .bind(j.actor.as_deref())
            .bind(j.channel.as_deref())
            .bind(j.request_id.as_deref())
            .bind(j.lease_until)
            .fetch_one(c)
            .await)
        .map_err(db_err)?;
        Ok(id)
    }

    async fn update_job(&mut self, j: &JobRecord) -> Result<()> {
        const SQL: &str = "UPDATE jobs SET status = $2, done = $3, failed = $4, results = $5, finished_at = $6, \
             lease_until = $7 WHERE id = $1";
        on_conn!(self, c => sqlx::query(SQL)
            .bind(j.id)
            .bind(j.status.as_str())
            .bind(j.done)
            .bind(j.failed)
            .bind(j.results.as_str())
            .bind(j.finished_at)
            .bind(j.lease_until)
            .execute(c)
            .await
            .map(drop))
        .map_err(db_err)
    }

    async fn insert_job_items(&mut self, job: i64, users: &[UserId]) -> Result<()> {
        // Many rows per statement: a million-user job is written in seconds.
        const ROWS: usize = 300;
        for (n, chunk) in users.chunks(ROWS).enumerate() {
            let mut args = vec![Arg::from(job)];
            let mut values = Vec::with_capacity(chunk.len());
            for (i, user) in chunk.iter().enumerate() {
                args.push(Arg::from((n * ROWS + i) as i64));
                args.push(Arg::from(user.0));
                values.push(format!("($1, ${}, ${})", args.len() - 1, args.len()));
            }
            let sql = format!(
                "INSERT INTO job_items (job_id, seq, user_id) VALUES {}",
                values.join(", ")
            );
            on_conn!(self, c => bind_args!(sqlx::query(AssertSqlSafe(sql)), &args).execute(c).await.map(drop))
                .map_err(db_err)?;
        }
        Ok(())
    }

    async fn finish_job_items(&mut self, job: i64, outcomes: &[(i64, bool, String)]) -> Result<(i64, i64)> {
        const SQL: &str =
            "UPDATE job_items SET outcome = $3, ok = $4 WHERE job_id = $1 AND seq = $2 AND outcome IS NULL";
        let (mut done, mut failed) = (0, 0);
        for (seq, ok, outcome) in outcomes {
            let n = on_conn!(self, c => sqlx::query(SQL)
                .bind(job)
                .bind(*seq)
                .bind(outcome.as_str())
                .bind(*ok)
                .execute(c)
                .await
                .map(|r| r.rows_affected() as i64))
            .map_err(db_err)?;
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
             status = CASE WHEN $6 > 0 THEN 'done' ELSE status END, \
             finished_at = CASE WHEN $6 > 0 THEN $6 ELSE finished_at END \
             WHERE id = $1 AND lease_until = $2 AND status = 'running'";
        let args = [
            Arg::from(job),
            Arg::from(held),
            Arg::from(done),
            Arg::from(failed),
            Arg::from(lease_until),
            Arg::from(finished_at.unwrap_or(0)),
        ];
        Ok(self.execute(SQL, &args).await? == 1)
    }

    async fn fail_job(&mut self, job: i64, held: Millis, at: Millis) -> Result<bool> {
        const SQL: &str = "UPDATE jobs SET status = 'failed', finished_at = $3 WHERE id = $1 AND lease_until = $2 AND status = 'running'";
        Ok(self
            .execute(SQL, &[Arg::from(job), Arg::from(held), Arg::from(at)])
            .await?
            == 1)
    }

    async fn claim_abandoned_job(&mut self, now: Millis, lease_until: Millis) -> Result<Option<JobRecord>> {
        // The outer condition is checked again on the row itself, so of two instances
        // racing for one job only the first changes it; the other changes nothing.
        let sql = format!(
            "UPDATE jobs SET lease_until = $2 WHERE id = (SELECT id FROM jobs WHERE status = 'running' \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY id LIMIT 1) \
             AND status = 'running' AND (lease_until IS NULL OR lease_until < $1) RETURNING {JOB_COLUMNS}"
        );
        let row: Option<JobRow> = on_conn!(self, c => sqlx::query_as(AssertSqlSafe(sql))
            .bind(now)
            .bind(lease_until)
            .fetch_optional(c)
            .await)
        .map_err(db_err)?;
        Ok(row.map(JobRecord::from))
    }

    async fn insert_import_upload(&mut self, id_hash: &str, user: UserId, at: Millis, body: &[u8]) -> Result<()> {
        const SQL: &str = "INSERT INTO import_uploads (id_hash, user_id, created_at, body) VALUES ($1, $2, $3, $4)";
        on_conn!(self, c => sqlx::query(SQL).bind(id_hash).bind(user.0).bind(at).bind(body).execute(c).await.map(drop))
            .map_err(db_err)
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
        on_conn!(self, c => sqlx::query(SQL)
            .bind(id_hash)
            .bind(user.map(|u| u.0))
            .bind(before)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)
    }
}
