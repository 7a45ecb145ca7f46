//! The plan and its seats: the platform counter, branch caps, import reservations and the
//! daily history.

use crate::Result;
use crate::domain::*;
use async_trait::async_trait;

#[async_trait]
pub trait SeatReads: Send {
    async fn plan(&mut self) -> Result<PlanState>;
    /// Active users per user type id.
    async fn active_by_type(&mut self) -> Result<Vec<(UserTypeId, i64)>>;
    /// Days from `since_day` on with their counts, oldest first.
    async fn seat_history(&mut self, since_day: i64) -> Result<Vec<(i64, i64)>>;
    /// One branch's (`kind` "branch") or user type's ("type") days from `since_day` on.
    async fn scoped_seat_history(&mut self, kind: &str, id: i64, since_day: i64) -> Result<Vec<(i64, i64)>>;
    /// The alert levels of `scope` that fired and have not re-armed, ascending.
    async fn seat_alert_levels(&mut self, scope: &str) -> Result<Vec<i64>>;
}

#[async_trait]
pub trait SeatTx: SeatReads {
    /// Atomically takes `n` seats if that stays within the limit; false otherwise.
    /// On PostgreSQL this also locks the plan row until commit: the serialisation point
    /// of every change to who is active.
    async fn try_take_seats(&mut self, n: i64) -> Result<bool>;
    async fn release_seats(&mut self, n: i64) -> Result<()>;
    /// Takes the plan-row lock without changing seats (for changes that must be
    /// serialised with activations, such as demoting an administrator).
    async fn lock_seats(&mut self) -> Result<()>;
    /// Sets the plan if the seats in use fit the new limit; false otherwise.
    async fn set_plan(&mut self, tier: PlanTier, seat_limit: i64) -> Result<bool>;
    /// Takes `n` seats for a writer that will use them over several transactions (an
    /// import's batches); false when they aren't free.
    async fn reserve_seats(&mut self, id: &str, n: i64, lease_until: Millis) -> Result<bool>;
    /// Gives `n` of a reservation's seats back to the plan, for the transaction's own
    /// writes to take again, and renews its lease; false when it doesn't hold that many.
    async fn draw_reserved_seats(&mut self, id: &str, n: i64, lease_until: Millis) -> Result<bool>;
    /// Ends a reservation, giving back the seats it still holds (returned).
    async fn end_seat_reservation(&mut self, id: &str) -> Result<i64>;
    /// Ends reservations whose lease ran out (their writer died), giving their seats back.
    async fn end_lapsed_seat_reservations(&mut self, now: Millis) -> Result<i64>;
    /// Atomically counts one more active user in the branch, within its cap.
    /// Takes `n` seats of the branch's cap at once, or none when fewer are left.
    async fn try_take_branch_seats(&mut self, branch: BranchId, n: i64) -> Result<bool>;
    async fn release_branch_seat(&mut self, branch: BranchId) -> Result<()>;
    /// Sets the day's count of active accounts (days since the epoch, UTC).
    async fn record_seat_day(&mut self, day: i64, active: i64) -> Result<()>;
    /// Sets the day's count of one branch or user type.
    async fn record_scoped_seat_day(&mut self, day: i64, kind: &str, id: i64, active: i64) -> Result<()>;
    async fn set_seat_alert_levels(&mut self, scope: &str, levels: &[i64]) -> Result<()>;
}
