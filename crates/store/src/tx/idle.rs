//! The idle policy's reads: the accounts a run may act on, found through the `users_idle`
//! index range (status, exemption flag, activity time), and the accounts holding a warning
//! through `users_idle_deadline`.

use super::*;

#[derive(sqlx::FromRow)]
struct CandidateRow {
    id: i64,
    username: String,
    user_type_id: i64,
    last_login_at: Option<i64>,
    activity_at: i64,
    reactivated_at: Option<i64>,
    idle_deadline: Option<i64>,
    exempt: bool,
}

impl From<CandidateRow> for IdleCandidate {
    fn from(r: CandidateRow) -> IdleCandidate {
        IdleCandidate {
            id: UserId(r.id),
            username: r.username,
            user_type_id: UserTypeId(r.user_type_id),
            last_login_at: r.last_login_at,
            // A sign-in through an instance of a version before the idle policy (during a
            // rolling upgrade) moved only `last_login_at`: it counts all the same.
            activity_at: r.last_login_at.map_or(r.activity_at, |l| l.max(r.activity_at)),
            reactivated_at: r.reactivated_at,
            idle_deadline: r.idle_deadline,
            exempt: r.exempt,
        }
    }
}

const CANDIDATE_COLUMNS: &str = "u.id, u.username, u.user_type_id, u.last_login_at, u.activity_at, u.reactivated_at, \
     u.idle_deadline";

/// `col IN ($a, $b …)` over ids, or `None` for an empty list.
fn id_list(f: &mut Filter, col: &str, ids: &[i64]) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    let ps: Vec<String> = ids.iter().map(|i| f.arg(*i)).collect();
    Some(format!("{col} IN ({})", ps.join(", ")))
}

/// The conditions under which an account is exempt by its type, a group or a branch (not
/// its flag), joined with OR; `None` when the policy exempts none.
fn exemption(f: &mut Filter, q: &IdleQuery) -> Option<String> {
    let types: Vec<i64> = q.exempt_types.iter().map(|t| t.0).collect();
    let groups: Vec<i64> = q.exempt_groups.iter().map(|g| g.0).collect();
    let branches: Vec<i64> = q.exempt_branches.iter().map(|b| b.0).collect();
    let mut or = vec![];
    if let Some(c) = id_list(f, "u.user_type_id", &types) {
        or.push(c);
    }
    if let Some(c) = id_list(f, "gm.group_id", &groups) {
        or.push(format!(
            "EXISTS (SELECT 1 FROM group_members gm WHERE gm.user_id = u.id AND {c})"
        ));
    }
    if let Some(c) = id_list(f, "ub.branch_id", &branches) {
        or.push(format!(
            "EXISTS (SELECT 1 FROM user_branches ub WHERE ub.user_id = u.id AND {c})"
        ));
    }
    (!or.is_empty()).then(|| format!("({})", or.join(" OR ")))
}

impl SqlTx {
    pub(super) async fn find_idle_candidates(&mut self, q: &IdleQuery) -> Result<Vec<IdleCandidate>> {
        let mut f = Filter::default();
        let latest = f.arg(q.signed_in_before.max(q.never_before));
        let signed = f.arg(q.signed_in_before);
        let never = f.arg(q.never_before);
        // The first three conditions are the index range; the kind's own cutoff is checked
        // on the rows it yields.
        f.push("u.status = 'active'".into());
        f.push("u.idle_exempt = FALSE".into());
        f.push(format!("u.activity_at <= {latest}"));
        f.push(format!(
            "((u.last_login_at IS NOT NULL AND u.activity_at <= {signed}) OR (u.last_login_at IS NULL AND u.activity_at <= {never}))"
        ));
        if let Some(c) = exemption(&mut f, q) {
            f.push(format!("NOT {c}"));
        }
        let sql = format!("SELECT {CANDIDATE_COLUMNS}, FALSE AS exempt FROM users u{}", f.sql());
        let rows: Vec<CandidateRow> = self.fetch_all(AssertSqlSafe(sql), &f.args).await?;
        Ok(rows.into_iter().map(IdleCandidate::from).collect())
    }

    pub(super) async fn find_idle_warned(&mut self, q: &IdleQuery) -> Result<Vec<IdleCandidate>> {
        let mut f = Filter::default();
        f.push("u.idle_deadline IS NOT NULL".into());
        f.push("u.status = 'active'".into());
        let exempt = match exemption(&mut f, q) {
            Some(c) => format!("CASE WHEN u.idle_exempt OR {c} THEN TRUE ELSE FALSE END"),
            None => "u.idle_exempt".into(),
        };
        let sql = format!("SELECT {CANDIDATE_COLUMNS}, {exempt} AS exempt FROM users u{}", f.sql());
        let rows: Vec<CandidateRow> = self.fetch_all(AssertSqlSafe(sql), &f.args).await?;
        Ok(rows.into_iter().map(IdleCandidate::from).collect())
    }
}
