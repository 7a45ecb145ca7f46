//! SQL assembled at run time: `WHERE` clauses with their arguments, the predicates of SCIM
//! filters, and the keyset page of a user list.

use super::*;
use rollcall_core::ports::{CmpOp, GroupField, Pred, PredValue, UserField};

/// `WHERE` clauses and their arguments, numbering `$N` placeholders as they are added.
#[derive(Default)]
pub(super) struct Filter {
    clauses: Vec<String>,
    pub(super) args: Vec<Arg<'static>>,
}

impl Filter {
    pub(super) fn arg(&mut self, a: impl Into<Arg<'static>>) -> String {
        self.args.push(a.into());
        format!("${}", self.args.len())
    }
    pub(super) fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }
    pub(super) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn like_pattern(s: &str) -> String {
    format!("%{}%", like_escape(s))
}

/// The conditions of a user list (not its page: see `list_users_sql`).
pub(super) fn user_filter(q: &UserQuery) -> Filter {
    let mut f = Filter::default();
    match q.status {
        Some(s) => {
            let p = f.arg(s.as_str());
            f.push(format!("u.status = {p}"));
        }
        None => f.push("u.status <> 'trash'".into()),
    }
    if let Some(t) = q.type_id {
        let p = f.arg(t);
        f.push(format!("u.user_type_id = {p}"));
    }
    if let Some(b) = q.branch {
        let p = f.arg(b);
        f.push(format!(
            "u.id IN (SELECT ub.user_id FROM user_branches ub WHERE ub.branch_id = {p})"
        ));
    }
    if let Some(g) = q.group {
        let p = f.arg(g);
        f.push(format!(
            "u.id IN (SELECT gm.user_id FROM group_members gm WHERE gm.group_id = {p})"
        ));
    }
    if q.never_logged_in {
        f.push("u.last_login_at IS NULL".into());
    }
    if let Some(t) = q.idle_before {
        let p = f.arg(t);
        f.push(format!("(u.last_login_at IS NULL OR u.last_login_at < {p})"));
    }
    if let Some(s) = &q.search {
        let p = f.arg(like_pattern(s));
        // Names through `name_key` (last, tab, first, tab, id — lowercased by rollcall, so
        // any script matches on both backends, where SQLite's lower() folds ASCII only);
        // the match must end before a tab, so it lies within a name, never in the id.
        let names = f.arg(format!("%{}%\t%", like_escape(s)));
        f.push(format!(
            "(u.username_key LIKE {p} ESCAPE '\\' OR u.email_key LIKE {p} ESCAPE '\\' \
             OR u.name_key LIKE {names} ESCAPE '\\')"
        ));
    }
    push_scope(&mut f, q.scope.as_deref());
    if let Some(linked) = q.scim_linked {
        let value = if linked { "TRUE" } else { "FALSE" };
        // With a filter, the filter's own index leads (`userName eq` is a unique key) and the
        // link is checked on the rows it finds: `IS` is not an index condition, so PostgreSQL
        // can't be led by statistics taken before a sync linked most users to scan the link
        // index instead (that made every lookup read all the linked users).
        let op = if q.predicate.is_some() { "IS" } else { "=" };
        f.push(format!("u.scim_linked {op} {value}"));
    }
    if let Some(p) = &q.predicate {
        let clause = pred_sql(p, &mut f);
        f.push(clause);
    }
    f
}

/// Only users in one of these branches (a branch administrator's reach), when given.
pub(super) fn push_scope(f: &mut Filter, scope: Option<&[BranchId]>) {
    match scope {
        None => {}
        Some([]) => f.push("1 = 0".into()),
        Some(branches) => {
            let ps: Vec<String> = branches.iter().map(|b| f.arg(*b)).collect();
            f.push(format!(
                "u.id IN (SELECT ub.user_id FROM user_branches ub WHERE ub.branch_id IN ({}))",
                ps.join(", ")
            ));
        }
    }
}

/// The stored, unique key a sorted user list is ordered by (`User::name_key` …); each has
/// an index of its own and one after the status (migrations 0001 and 0011).
pub(super) fn sort_column(by: UserSort) -> Option<&'static str> {
    match by {
        UserSort::Created => None,
        UserSort::Username => Some("u.username_key"),
        UserSort::Name => Some("u.name_key"),
        UserSort::Email => Some("u.email_key"),
        UserSort::LastLogin => Some("u.login_key"),
    }
}

/// The page query of a user list and its arguments. Keys are unique, so a page after a
/// cursor is one index seek past it.
pub(super) fn list_users_sql(q: &UserQuery) -> (String, Vec<Arg<'static>>) {
    let mut f = user_filter(q);
    let (dir, beyond) = if q.order.descending {
        ("DESC", "<")
    } else {
        ("ASC", ">")
    };
    let column = sort_column(q.order.by).unwrap_or("u.id");
    if let Some(after) = &q.after {
        // Past the cursor's user, wherever the order puts them now: the key is read from
        // the row (one primary-key lookup), never carried in the cursor.
        let p = f.arg(after.id);
        f.push(match sort_column(q.order.by) {
            Some(col) => format!("{col} {beyond} (SELECT {col} FROM users u WHERE u.id = {p})"),
            None => format!("u.id {beyond} {p}"),
        });
    }
    let lim = f.arg(q.limit);
    let off = f.arg(q.offset.unwrap_or(0));
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u{} ORDER BY {column} {dir} LIMIT {lim} OFFSET {off}",
        f.sql()
    );
    (sql, f.args)
}

pub(super) fn group_filter(q: &GroupQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(linked) = q.scim_linked {
        f.push(format!("g.scim_linked = {}", if linked { "TRUE" } else { "FALSE" }));
    }
    if let Some(p) = &q.predicate {
        let clause = pred_sql(p, &mut f);
        f.push(clause);
    }
    f
}

/// How a field of a predicate becomes SQL.
trait FieldSql: Copy {
    /// The comparison `field op value` as a boolean SQL expression.
    fn compare(self, f: &mut Filter, op: CmpOp, v: &PredValue) -> String;
    /// `field pr` as a boolean SQL expression.
    fn present(self) -> String;
}

const TRUE: &str = "1 = 1";
const FALSE: &str = "1 = 0";

fn pred_sql<F: FieldSql>(p: &Pred<F>, f: &mut Filter) -> String {
    let join = |ps: &[Pred<F>], sep: &str, empty: &str, f: &mut Filter| {
        if ps.is_empty() {
            return empty.to_owned();
        }
        let parts: Vec<String> = ps.iter().map(|p| pred_sql(p, f)).collect();
        format!("({})", parts.join(sep))
    };
    match p {
        Pred::And(ps) => join(ps, " AND ", TRUE, f),
        Pred::Or(ps) => join(ps, " OR ", FALSE, f),
        Pred::Not(p) => format!("NOT ({})", pred_sql(p, f)),
        Pred::Cmp(field, op, v) => field.compare(f, *op, v),
        Pred::Present(field) => field.present(),
        Pred::Const(true) => TRUE.to_owned(),
        Pred::Const(false) => FALSE.to_owned(),
    }
}

fn value_text(v: &PredValue) -> String {
    match v {
        PredValue::Text(s) => s.clone(),
        PredValue::Int(i) => i.to_string(),
        PredValue::Bool(b) => b.to_string(),
    }
}

/// A text comparison; `ci` compares lowercased (the expression must already be lowercase).
fn text_cmp(expr: &str, ci: bool, f: &mut Filter, op: CmpOp, v: &PredValue) -> String {
    let raw = value_text(v);
    let value = if ci { raw.to_lowercase() } else { raw };
    let (sql_op, arg) = match op {
        CmpOp::Eq => ("=", value),
        CmpOp::Ne => return format!("({expr} IS NULL OR {expr} <> {})", f.arg(value)),
        CmpOp::Co => ("LIKE", like_pattern(&value)),
        CmpOp::Sw => ("LIKE", format!("{}%", like_escape(&value))),
        CmpOp::Ew => ("LIKE", format!("%{}", like_escape(&value))),
        CmpOp::Gt => (">", value),
        CmpOp::Ge => (">=", value),
        CmpOp::Lt => ("<", value),
        CmpOp::Le => ("<=", value),
    };
    let p = f.arg(arg);
    let escape = if sql_op == "LIKE" { " ESCAPE '\\'" } else { "" };
    format!("{expr} {sql_op} {p}{escape}")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NamePart {
    First,
    Last,
}

/// A first- or last-name comparison through `name_key` (last, tab, first, tab, id,
/// lowercased by rollcall), so case is ignored in every script on both backends, where
/// SQLite's lower() folds ASCII only. Names hold no tabs, so the tabs around a part pin a
/// pattern to it: the first name lies between the two tabs, the last name before both.
/// Ordering operators compare the column itself.
fn name_part_cmp(part: NamePart, f: &mut Filter, op: CmpOp, v: &PredValue) -> String {
    let value = like_escape(&value_text(v).to_lowercase());
    let inner = match op {
        CmpOp::Eq | CmpOp::Ne => value,
        CmpOp::Co => format!("%{value}%"),
        CmpOp::Sw => format!("{value}%"),
        CmpOp::Ew => format!("%{value}"),
        CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le => {
            let column = match part {
                NamePart::First => "lower(u.first_name)",
                NamePart::Last => "lower(u.last_name)",
            };
            return text_cmp(column, true, f, op, v);
        }
    };
    let pattern = match part {
        NamePart::First => format!("%\t{inner}\t%"),
        NamePart::Last => format!("{inner}\t%\t%"),
    };
    let like = format!("u.name_key LIKE {} ESCAPE '\\'", f.arg(pattern));
    if op == CmpOp::Ne {
        format!("(u.name_key IS NULL OR NOT ({like}))")
    } else {
        like
    }
}

/// A numeric comparison; substring operators never match a number.
fn int_cmp(expr: &str, f: &mut Filter, op: CmpOp, v: &PredValue) -> String {
    let n = match v {
        PredValue::Int(n) => *n,
        PredValue::Text(s) => match s.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return if op == CmpOp::Ne { TRUE.into() } else { FALSE.into() },
        },
        PredValue::Bool(_) => return FALSE.into(),
    };
    let sql_op = match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "<>",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Co | CmpOp::Sw | CmpOp::Ew => return FALSE.into(),
    };
    format!("{expr} {sql_op} {}", f.arg(n))
}

/// `EXISTS (… AND inner)` for a multi-valued field; `ne` means no value equals.
fn exists_cmp(from: &str, expr: &str, ci: bool, f: &mut Filter, op: CmpOp, v: &PredValue, numeric: bool) -> String {
    let (positive, op) = if op == CmpOp::Ne {
        (false, CmpOp::Eq)
    } else {
        (true, op)
    };
    let inner = if numeric {
        int_cmp(expr, f, op, v)
    } else {
        text_cmp(expr, ci, f, op, v)
    };
    format!("{}EXISTS ({from} AND {inner})", if positive { "" } else { "NOT " })
}

const USER_BRANCHES: &str =
    "SELECT 1 FROM user_branches ub JOIN branches b ON b.id = ub.branch_id WHERE ub.user_id = u.id";
const USER_GROUPS: &str = "SELECT 1 FROM group_members gm WHERE gm.user_id = u.id";
const GROUP_MEMBERS: &str = "SELECT 1 FROM group_members gm WHERE gm.group_id = g.id";

impl FieldSql for UserField {
    fn compare(self, f: &mut Filter, op: CmpOp, v: &PredValue) -> String {
        match self {
            UserField::Id => int_cmp("u.id", f, op, v),
            UserField::UserName => text_cmp("u.username_key", true, f, op, v),
            UserField::Email => text_cmp("u.email_key", true, f, op, v),
            UserField::GivenName => name_part_cmp(NamePart::First, f, op, v),
            UserField::FamilyName => name_part_cmp(NamePart::Last, f, op, v),
            UserField::ExternalId => text_cmp("u.external_id", false, f, op, v),
            UserField::UserType => text_cmp(
                "(SELECT lower(t.name) FROM user_types t WHERE t.id = u.user_type_id)",
                true,
                f,
                op,
                v,
            ),
            UserField::Created => int_cmp("u.created_at", f, op, v),
            UserField::LastModified => int_cmp("u.updated_at", f, op, v),
            UserField::Active => match (op, v) {
                (CmpOp::Eq, PredValue::Bool(b)) | (CmpOp::Ne, PredValue::Bool(b)) => {
                    let want = *b == (op == CmpOp::Eq);
                    if want {
                        "u.status = 'active'".into()
                    } else {
                        "u.status <> 'active'".into()
                    }
                }
                _ => FALSE.into(),
            },
            UserField::Department => exists_cmp(USER_BRANCHES, "b.name_key", true, f, op, v, false),
            UserField::GroupId => exists_cmp(USER_GROUPS, "gm.group_id", false, f, op, v, true),
        }
    }

    fn present(self) -> String {
        match self {
            UserField::ExternalId => "u.external_id IS NOT NULL".into(),
            UserField::Department => format!("EXISTS ({USER_BRANCHES})"),
            UserField::GroupId => format!("EXISTS ({USER_GROUPS})"),
            UserField::Id
            | UserField::UserName
            | UserField::Email
            | UserField::GivenName
            | UserField::FamilyName
            | UserField::Active
            | UserField::UserType
            | UserField::Created
            | UserField::LastModified => TRUE.into(),
        }
    }
}

impl FieldSql for GroupField {
    fn compare(self, f: &mut Filter, op: CmpOp, v: &PredValue) -> String {
        match self {
            GroupField::Id => int_cmp("g.id", f, op, v),
            GroupField::DisplayName => text_cmp("g.name_key", true, f, op, v),
            GroupField::ExternalId => text_cmp("g.external_id", false, f, op, v),
            GroupField::MemberId => exists_cmp(GROUP_MEMBERS, "gm.user_id", false, f, op, v, true),
            GroupField::Created => int_cmp("g.created_at", f, op, v),
            GroupField::LastModified => int_cmp("g.updated_at", f, op, v),
        }
    }

    fn present(self) -> String {
        match self {
            GroupField::ExternalId => "g.external_id IS NOT NULL".into(),
            GroupField::MemberId => format!("EXISTS ({GROUP_MEMBERS})"),
            GroupField::Id | GroupField::DisplayName | GroupField::Created | GroupField::LastModified => TRUE.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqlStore;
    use rollcall_testkit::{TestDb, both_backends};

    /// The plan of a user-list page, one line per step.
    async fn plan(tx: &mut SqlTx, q: &UserQuery) -> String {
        let (sql, args) = list_users_sql(q);
        if matches!(tx.inner, Inner::Sqlite(_)) {
            // SQLite: EXPLAIN QUERY PLAN's fourth column describes each step.
            let rows: Vec<(i64, i64, i64, String)> = tx
                .fetch_all(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")), &args)
                .await
                .unwrap();
            rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
        } else {
            // With sorting priced out, a plan still sorts only if no index gives the order.
            for set in ["SET LOCAL enable_sort = off", "SET LOCAL enable_incremental_sort = off"] {
                tx.execute(set, &[]).await.unwrap();
            }
            let rows: Vec<(String,)> = tx
                .fetch_all(AssertSqlSafe(format!("EXPLAIN {sql}")), &args)
                .await
                .unwrap();
            rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
        }
    }

    // A page of a sorted list must read its rows from an index in order, never sort the
    // table, and a page after a cursor must seek to it rather than walk up to it: that is
    // what keeps every page cheap at a million users.
    both_backends!(every_user_list_order_reads_an_index_in_order, |db: TestDb| async move {
        let store = SqlStore::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let mut tx = store.pool.begin_write().await.unwrap();
        // A populated table with statistics, so the planner chooses as it would in use:
        // a tenth deactivated, a third never signed in, names repeating.
        const FILL: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000) \
            INSERT INTO users (username, username_key, email, email_key, first_name, last_name, user_type_id, \
            status, origin, created_at, updated_at, last_login_at, name_key, login_key) \
            SELECT 'u' || x, 'u' || x, 'u' || x || '@example.org', 'u' || x || '@example.org', 'F', 'L', 4, \
            CASE WHEN x % 10 = 0 THEN 'deactivated' ELSE 'active' END, 'cli', 0, 0, \
            CASE WHEN x % 3 = 0 THEN NULL ELSE 1700000000000 + x END, 'l' || (x % 1000) || '-' || x, \
            CASE WHEN x % 3 = 0 THEN '0' ELSE '17' END || '-' || x FROM c";
        tx.execute(FILL, &[]).await.unwrap();
        tx.execute("ANALYZE", &[]).await.unwrap();
        for by in UserSort::ALL {
            for descending in [false, true] {
                let order = UserOrder { by, descending };
                for status in [None, Some(UserStatus::Active)] {
                    for after in [None, Some(UserCursor { id: UserId(7) })] {
                        let q = UserQuery {
                            order,
                            status,
                            after,
                            limit: 50,
                            ..UserQuery::default()
                        };
                        let cursor = q.after.is_some();
                        let plan = plan(&mut tx, &q).await;
                        assert!(
                            !plan.contains("TEMP B-TREE") && !plan.contains("Sort  "),
                            "{order:?} {status:?} sorts instead of reading an index:\n{plan}"
                        );
                        let seeks = if plan.contains("SEARCH") || plan.contains("SCAN") {
                            !plan
                                .lines()
                                .any(|l| l.trim_start_matches(['|', '`', '-', ' ']).starts_with("SCAN u"))
                        } else {
                            plan.matches("Index Cond").count() >= plan.matches("Index Scan").count()
                        };
                        assert!(
                            seeks || !cursor,
                            "{order:?} {status:?} walks to the cursor instead of seeking it:\n{plan}"
                        );
                    }
                }
            }
        }
    });
}
