//! The mail outbox.

use super::*;

#[async_trait]
impl OutboxReads for SqlTx {
    async fn list_mail(&mut self, limit: i64) -> Result<Vec<OutboxMail>> {
        let sql = format!("SELECT {MAIL_COLUMNS} FROM mail_outbox ORDER BY id DESC LIMIT $1");
        let rows: Vec<MailRow> = self.fetch_all(AssertSqlSafe(sql), &args![limit]).await?;
        Ok(rows.into_iter().map(OutboxMail::from).collect())
    }

    async fn mail_backlog(&mut self) -> Result<(i64, i64)> {
        // Two index range counts (mail_outbox_due leads with status); sent mail, the bulk
        // of the table, is never read.
        let pending = self
            .fetch_i64("SELECT COUNT(*) FROM mail_outbox WHERE status = 'pending'", &[])
            .await?;
        let dead = self
            .fetch_i64("SELECT COUNT(*) FROM mail_outbox WHERE status = 'dead'", &[])
            .await?;
        Ok((pending, dead))
    }

    async fn due_mail(&mut self, now: Millis, limit: i64) -> Result<Vec<OutboxMail>> {
        let sql = format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        );
        let rows: Vec<MailRow> = self.fetch_all(AssertSqlSafe(sql), &args![now, limit]).await?;
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
        let (id,): (i64,) = self
            .fetch_one(
                SQL,
                &args![
                    m.user_id,
                    m.to_address.as_str(),
                    m.template.as_str(),
                    m.subject.as_str(),
                    m.body.as_str(),
                    m.next_attempt_at,
                    m.created_at,
                    m.link_purpose.as_deref()
                ],
            )
            .await?;
        Ok(id)
    }

    async fn claim_mail(&mut self, id: i64, seen_next_attempt: Millis, until: Millis) -> Result<bool> {
        const SQL: &str =
            "UPDATE mail_outbox SET next_attempt_at = $3 WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2";
        Ok(self.execute(SQL, &args![id, seen_next_attempt, until]).await? == 1)
    }

    async fn update_mail(&mut self, m: &OutboxMail, lease: Millis) -> Result<bool> {
        const SQL: &str = "UPDATE mail_outbox SET status = $2, attempts = $3, next_attempt_at = $4, last_error = $5, \
             sent_at = $6 WHERE id = $1 AND next_attempt_at = $7";
        self.execute(
            SQL,
            &args![
                m.id,
                m.status.as_str(),
                m.attempts,
                m.next_attempt_at,
                m.last_error.as_deref(),
                m.sent_at,
                lease
            ],
        )
        .await
        .map(|n| n == 1)
    }

    async fn drop_mail_body(&mut self, id: i64) -> Result<()> {
        self.execute("UPDATE mail_outbox SET body = '' WHERE id = $1", &args![id])
            .await
            .map(drop)
    }
}
