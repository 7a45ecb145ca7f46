//! Tokens, sessions, sign-in throttling, SAML ids and set-password links.

use super::*;

impl SqlTx {
    async fn tokens_where(&mut self, clause: &str, args: &[Arg<'_>]) -> Result<Vec<Token>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens {clause} ORDER BY id");
        let rows: Vec<TokenRow> = self.fetch_all(AssertSqlSafe(sql), args).await?;
        rows.into_iter().map(TokenRow::into_token).collect()
    }
}

#[async_trait]
impl AuthReads for SqlTx {
    async fn token_by_lookup(&mut self, lookup: &str) -> Result<Option<Token>> {
        Ok(self.tokens_where("WHERE lookup = $1", &args![lookup]).await?.pop())
    }

    async fn token_by_id(&mut self, id: i64) -> Result<Option<Token>> {
        Ok(self.tokens_where("WHERE id = $1", &args![id]).await?.pop())
    }

    async fn token_by_name(&mut self, key: &str) -> Result<Option<Token>> {
        Ok(self.tokens_where("WHERE name_key = $1", &args![key]).await?.pop())
    }

    async fn tokens(&mut self) -> Result<Vec<Token>> {
        self.tokens_where("", &[]).await
    }

    async fn session(&mut self, id_hash: &str) -> Result<Option<SessionRecord>> {
        const SQL: &str = "SELECT id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at FROM sessions WHERE id_hash = $1";
        let row: Option<(String, i64, String, i64, i64, i64)> = self.fetch_optional(SQL, &args![id_hash]).await?;
        Ok(row.map(
            |(id_hash, user, csrf_token, created_at, last_seen_at, expires_at)| SessionRecord {
                id_hash,
                user_id: UserId(user),
                csrf_token,
                created_at,
                last_seen_at,
                expires_at,
            },
        ))
    }

    async fn recent_password_token(&mut self, user: UserId, purpose: &str, since: Millis) -> Result<bool> {
        const SQL: &str =
            "SELECT COUNT(*) FROM password_tokens WHERE user_id = $1 AND purpose = $2 AND created_at >= $3";
        self.any_since(SQL, user, purpose, since).await
    }
}

#[async_trait]
impl AuthTx for SqlTx {
    async fn insert_token(&mut self, t: &Token) -> Result<i64> {
        const SQL: &str = "INSERT INTO api_tokens (name, name_key, scope, user_id, lookup, secret_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        let (id,): (i64,) = self
            .try_fetch_one(
                SQL,
                &args![
                    t.name.as_str(),
                    name_key(&t.name),
                    t.scope.as_str(),
                    t.user_id,
                    t.lookup.as_str(),
                    t.secret_hash.as_str(),
                    t.created_at,
                    t.expires_at
                ],
            )
            .await
            .map_err(|e| {
                unique_conflict(
                    e,
                    ConflictCode::TokenExists,
                    format!("a token named '{}' already exists", t.name),
                )
            })?;
        Ok(id)
    }

    async fn revoke_token(&mut self, id: i64, at: Millis) -> Result<()> {
        const SQL: &str = "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        self.execute(SQL, &args![id, at]).await.map(drop)
    }

    async fn revoke_user_tokens(&mut self, user: UserId, at: Millis) -> Result<u64> {
        const SQL: &str = "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
        self.execute(SQL, &args![user, at]).await
    }

    async fn insert_session(&mut self, s: &SessionRecord) -> Result<()> {
        const SQL: &str = "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        let args = args![
            &s.id_hash,
            s.user_id,
            &s.csrf_token,
            s.created_at,
            s.last_seen_at,
            s.expires_at
        ];
        self.execute(SQL, &args).await.map(drop)
    }

    async fn touch_session(&mut self, id_hash: &str, at: Millis) -> Result<()> {
        self.execute(
            "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1",
            &args![id_hash, at],
        )
        .await
        .map(drop)
    }

    async fn delete_session(&mut self, id_hash: &str) -> Result<()> {
        self.execute("DELETE FROM sessions WHERE id_hash = $1", &args![id_hash])
            .await
            .map(drop)
    }

    async fn delete_user_sessions(&mut self, user: UserId) -> Result<u64> {
        self.execute("DELETE FROM sessions WHERE user_id = $1", &args![user])
            .await
    }

    async fn trim_user_sessions(&mut self, user: UserId, keep: i64) -> Result<u64> {
        const SQL: &str = "DELETE FROM sessions WHERE user_id = $1 AND id_hash NOT IN \
             (SELECT id_hash FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id_hash DESC LIMIT $2)";
        self.execute(SQL, &args![user, keep]).await
    }

    async fn prune_sessions(&mut self, now: Millis, idle_since: Millis) -> Result<u64> {
        self.execute(
            "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
            &args![now, idle_since],
        )
        .await
    }

    async fn reserve_sign_in_attempt(
        &mut self,
        key: &str,
        now: Millis,
        window_started_by: Millis,
    ) -> Result<SignInFailures> {
        // One statement: blocked rows stay as they are, expired windows restart unblocked
        // (a NULL `blocked_until` is never past `now`, so it reads as not blocked).
        const SQL: &str = "INSERT INTO sign_in_failures (key, failures, window_start, last_failure_at, blocked_until) \
             VALUES ($1, 1, $2, $2, NULL) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN sign_in_failures.blocked_until > $2 THEN sign_in_failures.failures \
                 WHEN sign_in_failures.window_start <= $3 THEN 1 ELSE sign_in_failures.failures + 1 END, \
             window_start = CASE WHEN sign_in_failures.blocked_until > $2 THEN sign_in_failures.window_start \
                 WHEN sign_in_failures.window_start <= $3 THEN $2 ELSE sign_in_failures.window_start END, \
             last_failure_at = CASE WHEN sign_in_failures.blocked_until > $2 THEN sign_in_failures.last_failure_at \
                 ELSE $2 END, \
             blocked_until = CASE WHEN sign_in_failures.blocked_until > $2 THEN sign_in_failures.blocked_until \
                 WHEN sign_in_failures.window_start <= $3 THEN NULL ELSE sign_in_failures.blocked_until END \
             RETURNING failures, last_failure_at, blocked_until";
        let (failures, last_failure_at, blocked_until): (i64, i64, Option<i64>) =
            self.fetch_one(SQL, &args![key, now, window_started_by]).await?;
        Ok(SignInFailures {
            failures,
            last_failure_at,
            blocked_until,
        })
    }

    async fn block_sign_in(&mut self, key: &str, until: Millis) -> Result<()> {
        const SQL: &str = "UPDATE sign_in_failures SET blocked_until = $2 WHERE key = $1 \
             AND (blocked_until IS NULL OR blocked_until < $2)";
        self.execute(SQL, &args![key, until]).await.map(drop)
    }

    async fn clear_sign_in_failures(&mut self, key: &str) -> Result<()> {
        self.execute("DELETE FROM sign_in_failures WHERE key = $1", &args![key])
            .await
            .map(drop)
    }

    async fn release_sign_in_attempt(&mut self, key: &str) -> Result<()> {
        self.execute(
            "UPDATE sign_in_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0",
            &args![key],
        )
        .await
        .map(drop)
    }

    async fn tally_sign_in_failure(
        &mut self,
        account: &str,
        address: &str,
        window_start: Millis,
        user: Option<UserId>,
        now: Millis,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO sign_in_failure_tally \
             (account, address, window_start, user_id, failures, last_failure_at) VALUES ($1, $2, $3, $4, 1, $5) \
             ON CONFLICT (account, address, window_start) DO UPDATE SET \
             failures = sign_in_failure_tally.failures + 1, last_failure_at = $5";
        self.execute(SQL, &args![account, address, window_start, user.map(|u| u.0), now])
            .await
            .map(drop)
    }

    async fn take_sign_in_failure_tallies(
        &mut self,
        window_started_before: Millis,
        limit: i64,
    ) -> Result<Vec<SignInFailureTally>> {
        const SQL: &str = "SELECT account, address, window_start, user_id, failures, last_failure_at \
             FROM sign_in_failure_tally WHERE window_start < $1 \
             ORDER BY window_start, account, address LIMIT $2";
        let rows: Vec<(String, String, i64, Option<i64>, i64, i64)> =
            self.fetch_all(SQL, &args![window_started_before, limit]).await?;
        for (account, address, window_start, ..) in &rows {
            self.execute(
                "DELETE FROM sign_in_failure_tally WHERE account = $1 AND address = $2 AND window_start = $3",
                &args![account, address, *window_start],
            )
            .await?;
        }
        Ok(rows
            .into_iter()
            .map(
                |(account, address, window_start, user_id, failures, last_failure_at)| SignInFailureTally {
                    account,
                    address,
                    window_start,
                    user_id: user_id.map(UserId),
                    failures,
                    last_failure_at,
                },
            )
            .collect())
    }

    async fn prune_sign_in_failures(&mut self, window_started_by: Millis, now: Millis) -> Result<u64> {
        self.execute(
            "DELETE FROM sign_in_failures WHERE window_start <= $1 AND (blocked_until IS NULL OR blocked_until <= $2)",
            &args![window_started_by, now],
        )
        .await
    }

    async fn insert_sso_request(&mut self, id: &str, expires_at: Millis, now: Millis) -> Result<()> {
        self.execute("DELETE FROM sso_requests WHERE expires_at <= $1", &args![now])
            .await?;
        self.execute(
            "INSERT INTO sso_requests (id, expires_at) VALUES ($1, $2)",
            &args![id, expires_at],
        )
        .await
        .map(drop)
    }

    async fn take_sso_request(&mut self, id: &str, now: Millis) -> Result<bool> {
        // One DELETE: of two instances consuming the same id, only one sees a row.
        self.execute(
            "DELETE FROM sso_requests WHERE id = $1 AND expires_at > $2",
            &args![id, now],
        )
        .await
        .map(|n| n == 1)
    }

    async fn record_sso_assertion(&mut self, id: &str, expires_at: Millis, now: Millis) -> Result<bool> {
        self.execute("DELETE FROM sso_assertions WHERE expires_at <= $1", &args![now])
            .await?;
        self.execute(
            "INSERT INTO sso_assertions (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            &args![id, expires_at],
        )
        .await
        .map(|n| n == 1)
    }

    async fn prune_sso_state(&mut self, now: Millis) -> Result<u64> {
        let requests = self
            .execute("DELETE FROM sso_requests WHERE expires_at <= $1", &args![now])
            .await?;
        let assertions = self
            .execute("DELETE FROM sso_assertions WHERE expires_at <= $1", &args![now])
            .await?;
        Ok(requests + assertions)
    }

    async fn insert_password_token(&mut self, t: &PasswordToken) -> Result<()> {
        const SQL: &str = "INSERT INTO password_tokens (user_id, purpose, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)";
        let args = args![t.user_id, &t.purpose, &t.token_hash, t.created_at, t.expires_at];
        self.execute(SQL, &args).await.map(drop)
    }

    async fn use_password_token(&mut self, token_hash: &str, now: Millis) -> Result<Option<(UserId, String)>> {
        const SQL: &str = "UPDATE password_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id, purpose";
        let row: Option<(i64, String)> = self.fetch_optional(SQL, &args![token_hash, now]).await?;
        Ok(row.map(|(u, p)| (UserId(u), p)))
    }

    async fn retire_password_tokens(&mut self, user: UserId, purpose: &str, at: Millis) -> Result<()> {
        const SQL: &str =
            "UPDATE password_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL";
        self.execute(SQL, &args![user, purpose, at]).await.map(drop)
    }

    async fn retire_all_password_tokens(&mut self, user: UserId, at: Millis) -> Result<()> {
        const SQL: &str = "UPDATE password_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL";
        self.execute(SQL, &args![user, at]).await.map(drop)
    }
}
