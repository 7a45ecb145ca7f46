//! The mail outbox.

use super::*;

#[async_trait]
impl OutboxReads for SqlTx {
    async fn list_mail(&mut self, limit: i64) -> Result<Vec<OutboxMail>> {
        let sql = format!("SELECT {MAIL_COLUMNS} FROM mail_outbox ORDER BY id DESC LIMIT $1");
        let rows: Vec<MailRow> =
            on_conn!(self, c => sqlx::query_as(AssertSqlSafe(sql)).bind(limit).fetch_all(c).await).map_err(db_err)?;
        Ok(rows.into_iter().map(OutboxMail::from).collect())
    }

    async fn due_mail(&mut self, now: Millis, limit: i64) -> Result<Vec<OutboxMail>> {
        let sql = format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        );
        let rows: Vec<MailRow> =
            on_conn!(self, c => sqlx::query_as(AssertSqlSafe(sql)).bind(now).bind(limit).fetch_all(c).await)
                .map_err(db_err)?;
        Ok(rows.into_iter().map(OutboxMail::from).collect())
    }

    async fn recent_link_mail(&mut self, user: UserId, purpose: &str, since: Millis) -> Result<bool> {
        const SQL: &str =
            "SELECT COUNT(*) FROM mail_outbox WHERE user_id = $1 AND link_purpose = $2 AND created_at >= $3";
        self.any_since(SQL, user, purpose, since).await
    }
}

#[async_trait]
impl OutboxTx for SqlTx {
    async fn enqueue_mail(&mut self, m: &OutboxMail) -> Result<i64> {
        const SQL: &str = "INSERT INTO mail_outbox (user_id, to_address, template, subject, body, status, attempts, \
             next_attempt_at, created_at, link_purpose) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8) RETURNING id";
        let (id,): (i64,) = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(m.user_id.map(|u| u.0))
            .bind(m.to_address.as_str())
            .bind(m.template.as_str())
            .bind(m.subject.as_str())
            .bind(m.body.as_str())
            .bind(m.next_attempt_at)
            .bind(m.created_at)
            .bind(m.link_purpose.as_deref())
            .fetch_one(c)
            .await)
        .map_err(db_err)?;
        Ok(id)
    }

    async fn claim_mail(&mut self, id: i64, seen_next_attempt: Millis, until: Millis) -> Result<bool> {
        const SQL: &str =
            "UPDATE mail_outbox SET next_attempt_at = $3 WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2";
        Ok(self
            .execute(SQL, &[Arg::from(id), Arg::from(seen_next_attempt), Arg::from(until)])
            .await?
            == 1)
    }

    async fn update_mail(&mut self, m: &OutboxMail, lease: Millis) -> Result<bool> {
        const SQL: &str = "UPDATE mail_outbox SET status = $2, attempts = $3, next_attempt_at = $4, last_error = $5, \
             sent_at = $6 WHERE id = $1 AND next_attempt_at = $7";
        on_conn!(self, c => sqlx::query(SQL)
            .bind(m.id)
            .bind(m.status.as_str())
            .bind(m.attempts)
            .bind(m.next_attempt_at)
            .bind(m.last_error.as_deref())
            .bind(m.sent_at)
            .bind(lease)
            .execute(c)
            .await
            .map(|r| r.rows_affected() == 1))
        .map_err(db_err)
    }

    async fn drop_mail_body(&mut self, id: i64) -> Result<()> {
        self.execute("UPDATE mail_outbox SET body = '' WHERE id = $1", &[Arg::from(id)])
            .await
            .map(drop)
    }
}
