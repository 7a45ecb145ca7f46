//! Accounts: the user rows, their passwords, sort keys and identity-provider links.

use super::*;

/// A unique-index violation on inserting `users`, as the error callers understand, naming
/// the user (the callers checked the keys first, so this is a concurrent insert's race;
/// with several users the first stands for them).
fn users_conflict(e: sqlx::Error, users: &[(User<Unsaved>, Option<String>)]) -> Error {
    match users.first() {
        Some((first, _)) => user_conflict(e, first),
        None => db_err(e),
    }
}

/// A unique-index violation on users, as the error callers understand.
fn user_conflict<I>(e: sqlx::Error, user: &User<I>) -> Error {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        let what = format!("{} {}", d.constraint().unwrap_or_default(), d.message());
        if what.contains("username_key") {
            return Error::UsernameTaken(user.username.to_string());
        }
        if what.contains("email_key") {
            return Error::EmailTaken(user.email.to_string());
        }
    }
    db_err(e)
}

impl SqlTx {
    /// The user `clause` selects (its placeholders bound to `args`).
    async fn user_where(&mut self, clause: &str, args: &[Arg<'_>]) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE {clause}");
        let row: Option<UserRow> = self.fetch_optional(AssertSqlSafe(sql), args).await?;
        row.map(UserRow::into_user).transpose()
    }
}

#[async_trait]
impl UserReads for SqlTx {
    async fn user_by_id(&mut self, id: UserId) -> Result<Option<User>> {
        self.user_where("u.id = $1", &args![id]).await
    }

    async fn user_by_username(&mut self, key: &str) -> Result<Option<User>> {
        self.user_where("u.username_key = $1", &args![key]).await
    }

    async fn user_by_email(&mut self, key: &str) -> Result<Option<User>> {
        self.user_where("u.email_key = $1", &args![key]).await
    }

    async fn users_by_keys(&mut self, username_keys: &[String], email_keys: &[String]) -> Result<Vec<User>> {
        let mut found = vec![];
        for (column, keys) in [("username_key", username_keys), ("email_key", email_keys)] {
            for chunk in keys.chunks(rows_per_statement(1)) {
                let mut f = Filter::default();
                let ps: Vec<String> = chunk.iter().map(|k| f.arg(k.clone())).collect();
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users u WHERE u.{column} IN ({})",
                    ps.join(", ")
                );
                let rows: Vec<UserRow> = self.fetch_all(AssertSqlSafe(sql), &f.args).await?;
                for r in rows {
                    let u = r.into_user()?;
                    if !found.iter().any(|f: &User| f.id == u.id) {
                        found.push(u);
                    }
                }
            }
        }
        Ok(found)
    }

    async fn password_hash(&mut self, id: UserId) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = self
            .fetch_optional("SELECT password_hash FROM users WHERE id = $1", &args![id])
            .await?;
        Ok(row.and_then(|(h,)| h))
    }

    async fn list_users(&mut self, q: &UserQuery) -> Result<Vec<User>> {
        if let (Some(after), Some(column)) = (q.after, sort_column(q.order.by)) {
            // The seek reads the cursor's user's key, so that user must be one the caller
            // may see: otherwise a hand-made cursor would tell where an unseen user's email
            // or name sorts. Gone, out of reach or keyless, the answer is the same.
            let mut f = Filter::default();
            let p = f.arg(after.id);
            f.push(format!("u.id = {p} AND {column} IS NOT NULL"));
            push_scope(&mut f, q.scope.as_deref());
            let sql = format!("SELECT u.id FROM users u{}", f.sql());
            let found: Option<(i64,)> = self.fetch_optional(AssertSqlSafe(sql), &f.args).await?;
            if found.is_none() {
                return Err(Error::invalid(
                    "cursor",
                    "this page can't be continued (its users changed); start again from the first page",
                ));
            }
        }
        let (sql, args) = list_users_sql(q);
        let rows: Vec<UserRow> = self.fetch_all(AssertSqlSafe(sql), &args).await?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn count_users(&mut self, q: &UserQuery) -> Result<i64> {
        let f = user_filter(q);
        let sql = format!("SELECT COUNT(*) FROM users u{}", f.sql());
        self.fetch_i64(AssertSqlSafe(sql), &f.args).await
    }

    async fn count_active_of_type(&mut self, type_id: UserTypeId) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM users WHERE user_type_id = $1 AND status = 'active'";
        self.fetch_i64(SQL, &args![type_id]).await
    }

    async fn users_due_for_deactivation(&mut self, now: Millis, limit: i64) -> Result<Vec<UserId>> {
        const SQL: &str = "SELECT id FROM users WHERE deactivate_at IS NOT NULL AND deactivate_at <= $1 \
             AND status = 'active' ORDER BY deactivate_at LIMIT $2";
        Ok(self
            .ids(SQL, &args![now, limit])
            .await?
            .into_iter()
            .map(UserId)
            .collect())
    }

    async fn users_due_for_reactivation(&mut self, threshold: Millis, limit: i64) -> Result<Vec<UserId>> {
        const SQL: &str = "SELECT id FROM users WHERE reactivate_at IS NOT NULL AND reactivate_at <= $1 \
             AND status = 'deactivated' ORDER BY reactivate_at, id LIMIT $2";
        Ok(self
            .ids(SQL, &args![threshold, limit])
            .await?
            .into_iter()
            .map(UserId)
            .collect())
    }

    async fn scheduled_between(
        &mut self,
        reactivations: bool,
        from: Millis,
        to: Millis,
        limit: i64,
    ) -> Result<Vec<(String, Millis)>> {
        const DEACTIVATIONS: &str = "SELECT username, deactivate_at FROM users WHERE status = 'active' \
             AND deactivate_at IS NOT NULL AND deactivate_at >= $1 AND deactivate_at <= $2 \
             ORDER BY deactivate_at, id LIMIT $3";
        const REACTIVATIONS: &str = "SELECT username, reactivate_at FROM users WHERE status = 'deactivated' \
             AND reactivate_at IS NOT NULL AND reactivate_at >= $1 AND reactivate_at <= $2 \
             ORDER BY reactivate_at, id LIMIT $3";
        let sql = if reactivations { REACTIVATIONS } else { DEACTIVATIONS };
        self.fetch_all(sql, &args![from, to, limit]).await
    }

    async fn trash_due_for_purge(&mut self, cutoff: Millis, limit: i64) -> Result<Vec<UserId>> {
        const SQL: &str =
            "SELECT id FROM users WHERE status = 'trash' AND deleted_at < $1 ORDER BY deleted_at LIMIT $2";
        Ok(self
            .ids(SQL, &args![cutoff, limit])
            .await?
            .into_iter()
            .map(UserId)
            .collect())
    }

    async fn usernames_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>> {
        // Chunks keep each statement well under the backends' bind-parameter limits.
        let mut out = Vec::with_capacity(users.len());
        for chunk in users.chunks(1000) {
            out.extend(
                self.names_of("SELECT u.id, u.username FROM users u", "u.id", "u.id", chunk)
                    .await?,
            );
        }
        Ok(out)
    }

    async fn sso_link(&mut self, user: UserId) -> Result<Option<(String, String)>> {
        let row: Option<(Option<String>, Option<String>)> = self
            .fetch_optional("SELECT sso_issuer, sso_subject FROM users WHERE id = $1", &args![user])
            .await?;
        Ok(match row {
            Some((Some(issuer), Some(subject))) => Some((issuer, subject)),
            _ => None,
        })
    }

    async fn user_by_sso_link(&mut self, issuer: &str, subject: &str) -> Result<Option<User>> {
        self.user_where("u.sso_issuer = $1 AND u.sso_subject = $2", &args![issuer, subject])
            .await
    }

    async fn idle_candidates(&mut self, q: &IdleQuery) -> Result<Vec<IdleCandidate>> {
        self.find_idle_candidates(q).await
    }

    async fn idle_warned(&mut self, q: &IdleQuery) -> Result<Vec<IdleCandidate>> {
        self.find_idle_warned(q).await
    }
}

#[async_trait]
impl UserTx for SqlTx {
    async fn insert_users(&mut self, users: &[(User<Unsaved>, Option<String>)]) -> Result<Vec<UserId>> {
        let mut ids = Vec::with_capacity(users.len());
        for chunk in users.chunks(rows_per_statement(25)) {
            let (values, args) = values_list(chunk.iter().map(|(u, password_hash)| {
                args![
                    u.username.as_str(),
                    u.username.key(),
                    u.email.as_str(),
                    u.email.key(),
                    u.first_name.as_str(),
                    u.last_name.as_str(),
                    u.user_type_id,
                    u.status.as_str(),
                    u.origin.as_str(),
                    u.external_id.as_deref(),
                    u.exclude_from_emails,
                    password_hash.as_deref(),
                    u.created_at,
                    u.updated_at,
                    u.last_login_at,
                    u.deactivated_at,
                    u.deleted_at,
                    u.deactivate_at,
                    u.scim_linked,
                    u.idle_exempt,
                    u.reactivated_at,
                    u.activity_at(),
                    u.idle_warned_at,
                    u.idle_deadline,
                    u.reactivate_at,
                ]
                .to_vec()
            }));
            let sql = format!(
                "INSERT INTO users (username, username_key, email, email_key, first_name, last_name, user_type_id, \
                 status, origin, external_id, exclude_from_emails, password_hash, created_at, updated_at, last_login_at, \
                 deactivated_at, deleted_at, deactivate_at, scim_linked, idle_exempt, reactivated_at, activity_at, \
                 idle_warned_at, idle_deadline, reactivate_at) VALUES {values} RETURNING id, username_key"
            );
            let rows: Vec<(i64, String)> = self
                .try_fetch_all(AssertSqlSafe(sql), &args)
                .await
                .map_err(|e| users_conflict(e, chunk))?;
            // RETURNING's order is not promised: the username key names each row.
            let by_key: std::collections::HashMap<String, i64> = rows.into_iter().map(|(id, k)| (k, id)).collect();
            let stored: Vec<User> = chunk
                .iter()
                .map(|(u, _)| {
                    by_key
                        .get(&u.username.key())
                        .map(|id| u.clone().saved(UserId(*id)))
                        .ok_or_else(|| Error::internal("an inserted user was not returned"))
                })
                .collect::<Result<_>>()?;
            // The sort keys end in the id, known only now.
            let (values, args) = values_list(stored.iter().map(|u| args![u.id, u.name_key(), u.login_key()].to_vec()));
            let sql = format!(
                "UPDATE users SET name_key = v.column2, login_key = v.column3 \
                 FROM (VALUES {values}) AS v WHERE users.id = v.column1"
            );
            self.execute(AssertSqlSafe(sql), &args).await?;
            ids.extend(stored.iter().map(|u| u.id));
        }
        Ok(ids)
    }

    async fn lock_user(&mut self, id: UserId) -> Result<Option<User>> {
        let clause = format!("u.id = $1{}", self.for_update());
        self.user_where(&clause, &args![id]).await
    }

    async fn update_user(&mut self, u: &User) -> Result<()> {
        const SQL: &str = "UPDATE users SET email = $2, email_key = $3, first_name = $4, last_name = $5, user_type_id = $6, \
             status = $7, external_id = $8, exclude_from_emails = $9, updated_at = $10, last_login_at = $11, \
             deactivated_at = $12, deleted_at = $13, deactivate_at = $14, scim_linked = $15, username = $16, \
             username_key = $17, name_key = $18, login_key = $19, idle_exempt = $20, reactivated_at = $21, \
             activity_at = $22, idle_warned_at = $23, idle_deadline = $24, reactivate_at = $25 WHERE id = $1";
        let args = args![
            u.id,
            u.email.as_str(),
            u.email.key(),
            u.first_name.as_str(),
            u.last_name.as_str(),
            u.user_type_id,
            u.status.as_str(),
            u.external_id.as_deref(),
            u.exclude_from_emails,
            u.updated_at,
            u.last_login_at,
            u.deactivated_at,
            u.deleted_at,
            u.deactivate_at,
            u.scim_linked,
            u.username.as_str(),
            u.username.key(),
            u.name_key(),
            u.login_key(),
            u.idle_exempt,
            u.reactivated_at,
            u.activity_at(),
            u.idle_warned_at,
            u.idle_deadline,
            u.reactivate_at,
        ];
        self.try_execute(SQL, &args).await.map_err(|e| user_conflict(e, u))?;
        Ok(())
    }

    async fn set_password_hash(&mut self, id: UserId, hash: Option<&str>) -> Result<()> {
        self.execute("UPDATE users SET password_hash = $2 WHERE id = $1", &args![id, hash])
            .await
            .map(drop)
    }

    async fn purge_user(&mut self, id: UserId) -> Result<()> {
        self.execute("DELETE FROM users WHERE id = $1", &args![id])
            .await
            .map(drop)
    }

    // In Rust, so the keys match what `insert_user` writes. The rows are found through the
    // keys' indexes, in id order, so instances filling at once wait for each other instead
    // of deadlocking.
    async fn fill_missing_sort_keys(&mut self) -> Result<u64> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id IN (SELECT id FROM users WHERE name_key IS NULL \
             UNION SELECT id FROM users WHERE login_key IS NULL) ORDER BY u.id LIMIT 1000"
        );
        let rows: Vec<UserRow> = self.fetch_all(AssertSqlSafe(sql), &[]).await?;
        // Only if the row still holds what the keys were computed from: a sign-in or a
        // rename committed meanwhile wrote its own keys, which must not be overwritten.
        const SQL: &str = "UPDATE users SET name_key = $2, login_key = $3 WHERE id = $1 \
             AND first_name = $4 AND last_name = $5 AND last_login_at IS NOT DISTINCT FROM $6";
        let mut filled = 0;
        for row in rows {
            let u = row.into_user()?;
            let args = args![
                u.id,
                u.name_key(),
                u.login_key(),
                u.first_name.as_str(),
                u.last_name.as_str(),
                u.last_login_at,
            ];
            filled += self.execute(SQL, &args).await?;
        }
        Ok(filled)
    }

    async fn set_scim_linked(&mut self, user: UserId, linked: bool) -> Result<()> {
        self.execute("UPDATE users SET scim_linked = $2 WHERE id = $1", &args![user, linked])
            .await
            .map(drop)
    }

    async fn set_last_login(&mut self, user: UserId, at: Millis) -> Result<()> {
        // A sign-in is the latest activity there is (the clock doesn't go back), and it
        // keeps the account: a standing idle warning ends.
        self.execute(
            "UPDATE users SET last_login_at = $2, login_key = $3, \
             activity_at = CASE WHEN activity_at IS NULL OR activity_at < $2 THEN $2 ELSE activity_at END, \
             idle_warned_at = NULL, idle_deadline = NULL WHERE id = $1",
            &args![user, at, login_key(Some(at), user)],
        )
        .await
        .map(drop)
    }

    async fn set_sso_link(&mut self, user: UserId, link: Option<(&str, &str)>) -> Result<()> {
        let (issuer, subject) = link.unzip();
        const SQL: &str = "UPDATE users SET sso_issuer = $2, sso_subject = $3 WHERE id = $1";
        self.execute(SQL, &args![user, issuer, subject]).await.map(drop)
    }
}
