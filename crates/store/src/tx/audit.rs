//! The audit log and its chain head.

use super::*;

impl SqlTx {
    async fn audit_where(&mut self, f: Filter, order: &str, limit: i64) -> Result<Vec<AuditRow>> {
        let mut f = f;
        let lim = f.arg(limit);
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log a LEFT JOIN audit_personal p ON p.entry_id = a.id{} ORDER BY {order} LIMIT {lim}",
            f.sql()
        );
        let rows: Vec<AuditRowRaw> = self.fetch_all(AssertSqlSafe(sql), &f.args).await?;
        Ok(rows.into_iter().map(AuditRow::from).collect())
    }

    async fn head(&mut self) -> Result<AuditHead> {
        const SQL: &str = "SELECT seq, hash, keyed_from, tag FROM audit_head WHERE id = 1";
        let (seq, hash, keyed_from, tag): (i64, String, i64, Option<String>) = self.fetch_one(SQL, &[]).await?;
        Ok(AuditHead {
            seq,
            hash,
            keyed_from,
            tag,
        })
    }
}

#[async_trait]
impl AuditReads for SqlTx {
    async fn list_audit(&mut self, q: &AuditQuery) -> Result<Vec<AuditRow>> {
        let mut f = Filter::default();
        if let Some(t) = q.since {
            let p = f.arg(t);
            f.push(format!("a.at >= {p}"));
        }
        if let Some(u) = q.actor_user {
            let p = f.arg(u);
            f.push(format!("a.actor_user_id = {p}"));
        }
        if let Some(u) = q.target_user {
            let p = f.arg(u);
            f.push(format!("a.target_kind = 'user' AND a.target_id = {p}"));
        }
        if let Some(action) = &q.action {
            let p = f.arg(action.clone());
            f.push(format!("a.action = {p}"));
        }
        if let Some(b) = q.before {
            let p = f.arg(b);
            f.push(format!("a.id < {p}"));
        }
        self.audit_where(f, "a.id DESC", q.limit).await
    }

    async fn audit_head(&mut self) -> Result<AuditHead> {
        self.head().await
    }

    async fn unsealed_audit(&mut self, limit: i64) -> Result<Vec<AuditRow>> {
        let mut f = Filter::default();
        f.push("a.chain_seq IS NULL AND a.refused_at IS NULL".into());
        self.audit_where(f, "a.id", limit).await
    }

    async fn count_unsealed_audit(&mut self) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM audit_log WHERE chain_seq IS NULL AND refused_at IS NULL";
        self.fetch_i64(SQL, &[]).await
    }

    async fn refused_audit(&mut self, limit: i64) -> Result<Vec<AuditRow>> {
        let mut f = Filter::default();
        f.push("a.chain_seq IS NULL AND a.refused_at IS NOT NULL".into());
        self.audit_where(f, "a.id", limit).await
    }

    async fn audit_chain(&mut self, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let mut f = Filter::default();
        let p = f.arg(after_seq);
        f.push(format!("a.chain_seq > {p}"));
        self.audit_where(f, "a.chain_seq", limit).await
    }
}

#[async_trait]
impl AuditTx for SqlTx {
    async fn insert_audits(
        &mut self,
        entries: &[NewAuditEntry],
        tag: &(dyn for<'e> Fn(i64, &'e NewAuditEntry) -> String + Send + Sync),
    ) -> Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(entries.len());
        for chunk in entries.chunks(rows_per_statement(10)) {
            let (values, args) = values_list(chunk.iter().map(|e| {
                args![
                    e.at,
                    e.actor_kind.as_str(),
                    e.actor_user_id,
                    e.actor_ref.as_deref(),
                    e.channel.as_str(),
                    e.action.as_str(),
                    e.target_kind.as_deref(),
                    e.target_id,
                    e.request_id.as_deref(),
                    e.personal_digest.as_str()
                ]
                .to_vec()
            }));
            // Each digest covers a fresh random salt, so it names its row among the
            // returned ones (the order of RETURNING is not promised).
            let sql = format!(
                "INSERT INTO audit_log (at, actor_kind, actor_user_id, actor_ref, channel, action, target_kind, \
                 target_id, request_id, personal_digest) VALUES {values} RETURNING id, personal_digest"
            );
            let rows: Vec<(i64, String)> = self.fetch_all(AssertSqlSafe(sql), &args).await?;
            let by_digest: std::collections::HashMap<&str, i64> =
                rows.iter().map(|(id, d)| (d.as_str(), *id)).collect();
            let chunk_ids: Vec<i64> = chunk
                .iter()
                .map(|e| {
                    by_digest
                        .get(e.personal_digest.as_str())
                        .copied()
                        .ok_or_else(|| Error::internal("an inserted audit entry was not returned"))
                })
                .collect::<Result<_>>()?;
            let (values, args) = values_list(
                chunk
                    .iter()
                    .zip(&chunk_ids)
                    .map(|(e, id)| args![*id, e.salt.as_str(), e.personal.as_str()].to_vec()),
            );
            let sql = format!("INSERT INTO audit_personal (entry_id, salt, data) VALUES {values}");
            self.execute(AssertSqlSafe(sql), &args).await?;
            // The tag covers the id, which the database has only just given.
            let (values, args) = values_list(
                chunk
                    .iter()
                    .zip(&chunk_ids)
                    .map(|(e, id)| args![*id, tag(*id, e)].to_vec()),
            );
            let sql = format!(
                "UPDATE audit_log SET tag = v.column2 FROM (VALUES {values}) AS v WHERE audit_log.id = v.column1"
            );
            self.execute(AssertSqlSafe(sql), &args).await?;
            ids.extend(chunk_ids);
        }
        Ok(ids)
    }

    async fn erase_audit_personal(&mut self, user: UserId, at: Millis) -> Result<u64> {
        const SQL: &str = "UPDATE audit_personal SET salt = NULL, data = NULL, erased_at = $2 \
             WHERE erased_at IS NULL AND entry_id IN \
             (SELECT id FROM audit_log WHERE (target_kind = 'user' AND target_id = $1) OR actor_user_id = $1)";
        self.execute(SQL, &args![user, at]).await
    }

    async fn lock_audit_head(&mut self) -> Result<AuditHead> {
        // A no-op write takes the row lock on PostgreSQL; SQLite's write lock is held already.
        self.execute("UPDATE audit_head SET seq = seq WHERE id = 1", &[])
            .await?;
        self.head().await
    }

    async fn set_audit_head(&mut self, head: &AuditHead) -> Result<()> {
        // keyed_from is the migration's to set; the sealer writes position, hash and tag.
        const SQL: &str = "UPDATE audit_head SET seq = $1, hash = $2, tag = $3 WHERE id = 1";
        self.execute(SQL, &args![head.seq, &head.hash, head.tag.as_deref()])
            .await
            .map(drop)
    }

    async fn refuse_audit(&mut self, id: i64, at: Millis) -> Result<()> {
        const SQL: &str = "UPDATE audit_log SET refused_at = $2 WHERE id = $1 AND chain_seq IS NULL";
        self.execute(SQL, &args![id, at]).await.map(drop)
    }

    async fn seal_audits(&mut self, seals: &[AuditSeal]) -> Result<()> {
        for chunk in seals.chunks(rows_per_statement(4)) {
            let (values, args) = values_list(
                chunk
                    .iter()
                    .map(|s| args![s.id, s.seq, s.prev_hash.as_str(), s.hash.as_str()].to_vec()),
            );
            let sql = format!(
                "UPDATE audit_log SET chain_seq = v.column2, prev_hash = v.column3, hash = v.column4 \
                 FROM (VALUES {values}) AS v WHERE audit_log.id = v.column1 AND audit_log.chain_seq IS NULL"
            );
            let n = self.execute(AssertSqlSafe(sql), &args).await?;
            if n != chunk.len() as u64 {
                return Err(Error::internal("audit entries were sealed concurrently"));
            }
        }
        Ok(())
    }
}
