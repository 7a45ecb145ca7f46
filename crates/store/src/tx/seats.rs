//! The plan and its seats.

use super::*;

impl SqlTx {
    /// Deletes the seat reservations `delete` selects and gives back exactly the seats of
    /// the rows it deleted (`RETURNING`), so two enders racing on one reservation (an import
    /// closing while another instance's minute job finds its lease lapsed) give them back once.
    async fn end_reservations(&mut self, delete: &'static str, args: &[Arg<'_>]) -> Result<i64> {
        let rows: Vec<(i64,)> = self.fetch_all(delete, args).await?;
        let held: i64 = rows.iter().map(|(n,)| n).sum();
        if held > 0 {
            self.release_seats(held).await?;
        }
        Ok(held)
    }
}

#[async_trait]
impl SeatReads for SqlTx {
    async fn plan(&mut self) -> Result<PlanState> {
        let row: PlanRow = self
            .fetch_one("SELECT tier, seat_limit, seats_used FROM plan WHERE id = 1", &[])
            .await?;
        row.into_plan()
    }

    async fn active_by_type(&mut self) -> Result<Vec<(UserTypeId, i64)>> {
        const SQL: &str = "SELECT user_type_id, COUNT(*) FROM users WHERE status = 'active' GROUP BY user_type_id ORDER BY user_type_id";
        let rows: Vec<(i64, i64)> = self.fetch_all(SQL, &[]).await?;
        Ok(rows.into_iter().map(|(t, n)| (UserTypeId(t), n)).collect())
    }

    async fn seat_history(&mut self, since_day: i64) -> Result<Vec<(i64, i64)>> {
        self.fetch_all(
            "SELECT day, active FROM seat_history WHERE day >= $1 ORDER BY day",
            &args![since_day],
        )
        .await
    }

    async fn scoped_seat_history(&mut self, kind: &str, id: i64, since_day: i64) -> Result<Vec<(i64, i64)>> {
        self.fetch_all(
            "SELECT day, active FROM seat_history_scoped WHERE kind = $1 AND scope_id = $2 AND day >= $3 ORDER BY day",
            &args![kind, id, since_day],
        )
        .await
    }

    async fn seat_alert_levels(&mut self, scope: &str) -> Result<Vec<i64>> {
        let fired: Option<(String,)> = self
            .fetch_optional("SELECT fired FROM seat_alerts WHERE scope = $1", &args![scope])
            .await?;
        fired.map_or(Ok(vec![]), |(f,)| {
            f.split(',')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    l.parse::<i64>()
                        .map_err(|e| Error::internal(format!("seat_alerts holds '{f}': {e}")))
                })
                .collect()
        })
    }
}

#[async_trait]
impl SeatTx for SqlTx {
    async fn try_take_seats(&mut self, n: i64) -> Result<bool> {
        // The check and the write are one statement: the row lock (PostgreSQL) or the
        // write lock (SQLite) makes concurrent takers see each other's seats.
        const SQL: &str = "UPDATE plan SET seats_used = seats_used + $1 WHERE id = 1 AND seats_used + $1 <= seat_limit";
        Ok(self.execute(SQL, &args![n]).await? == 1)
    }

    async fn release_seats(&mut self, n: i64) -> Result<()> {
        self.execute("UPDATE plan SET seats_used = seats_used - $1 WHERE id = 1", &args![n])
            .await
            .map(drop)
    }

    async fn lock_seats(&mut self) -> Result<()> {
        self.execute("UPDATE plan SET seats_used = seats_used WHERE id = 1", &[])
            .await
            .map(drop)
    }

    async fn set_plan(&mut self, tier: PlanTier, seat_limit: i64) -> Result<bool> {
        const SQL: &str = "UPDATE plan SET tier = $1, seat_limit = $2 WHERE id = 1 AND seats_used <= $2";
        Ok(self.execute(SQL, &args![tier.name(), seat_limit]).await? == 1)
    }

    async fn reserve_seats(&mut self, id: &str, n: i64, lease_until: Millis) -> Result<bool> {
        if !self.try_take_seats(n).await? {
            return Ok(false);
        }
        const SQL: &str = "INSERT INTO seat_reservations (id, seats, lease_until) VALUES ($1, $2, $3)";
        self.execute(SQL, &args![id, n, lease_until]).await?;
        Ok(true)
    }

    async fn draw_reserved_seats(&mut self, id: &str, n: i64, lease_until: Millis) -> Result<bool> {
        const SQL: &str =
            "UPDATE seat_reservations SET seats = seats - $2, lease_until = $3 WHERE id = $1 AND seats >= $2";
        if self.execute(SQL, &args![id, n, lease_until]).await? != 1 {
            return Ok(false);
        }
        self.release_seats(n).await?;
        Ok(true)
    }

    async fn end_seat_reservation(&mut self, id: &str) -> Result<i64> {
        const SQL: &str = "DELETE FROM seat_reservations WHERE id = $1 RETURNING seats";
        self.end_reservations(SQL, &args![id]).await
    }

    async fn end_lapsed_seat_reservations(&mut self, now: Millis) -> Result<i64> {
        const SQL: &str = "DELETE FROM seat_reservations WHERE lease_until < $1 RETURNING seats";
        self.end_reservations(SQL, &args![now]).await
    }

    async fn try_take_branch_seats(&mut self, branch: BranchId, n: i64) -> Result<bool> {
        const SQL: &str = "UPDATE branches SET active_users = active_users + $2 \
             WHERE id = $1 AND (seat_cap IS NULL OR active_users + $2 <= seat_cap)";
        Ok(self.execute(SQL, &args![branch, n]).await? == 1)
    }

    async fn release_branch_seat(&mut self, branch: BranchId) -> Result<()> {
        self.execute(
            "UPDATE branches SET active_users = active_users - 1 WHERE id = $1",
            &args![branch],
        )
        .await
        .map(drop)
    }

    async fn record_seat_day(&mut self, day: i64, active: i64) -> Result<()> {
        self.execute(
            "INSERT INTO seat_history (day, active) VALUES ($1, $2) \
             ON CONFLICT (day) DO UPDATE SET active = excluded.active",
            &args![day, active],
        )
        .await
        .map(drop)
    }

    async fn record_scoped_seat_day(&mut self, day: i64, kind: &str, id: i64, active: i64) -> Result<()> {
        self.execute(
            "INSERT INTO seat_history_scoped (day, kind, scope_id, active) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kind, scope_id, day) DO UPDATE SET active = excluded.active",
            &args![day, kind, id, active],
        )
        .await
        .map(drop)
    }

    async fn set_seat_alert_levels(&mut self, scope: &str, levels: &[i64]) -> Result<()> {
        let fired = levels.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        self.execute(
            "INSERT INTO seat_alerts (scope, fired) VALUES ($1, $2) \
             ON CONFLICT (scope) DO UPDATE SET fired = excluded.fired",
            &args![scope, fired.as_str()],
        )
        .await
        .map(drop)
    }
}
