//! The transaction type and the one implementation of `Tx` for both backends.

use crate::db_err;
use crate::rows::*;
use async_trait::async_trait;
use rollcall_core::domain::*;
use rollcall_core::ports::{
    AuditHead, AuditQuery, AuditRow, CmpOp, GroupField, GroupQuery, JobRecord, NewAuditEntry, OutboxMail,
    PasswordToken, Pred, PredValue, SessionRecord, SignInFailures, Tx, UserField, UserQuery,
};
use rollcall_core::{Error, Result};
use sqlx::AssertSqlSafe;

pub(crate) enum Inner {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

pub(crate) struct SqlTx {
    pub(crate) inner: Inner,
}

/// Runs `$body` with `$c` bound to the transaction's connection, compiled once per driver.
/// This is how a query is written once for both databases.
macro_rules! on_conn {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx.inner {
            Inner::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            Inner::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// A bind value of a query assembled at run time.
enum Arg {
    I64(i64),
    Text(String),
}

/// Binds `Arg`s in order onto a query of either driver.
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::I64(v) => q.bind(*v),
                Arg::Text(s) => q.bind(s.clone()),
            };
        }
        q
    }};
}

/// `WHERE` clauses and their arguments, numbering `$N` placeholders as they are added.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Filter {
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }
    fn push(&mut self, clause: String) {
        self.clauses.push(clause);
    }
    fn sql(&self) -> String {
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
fn user_filter(q: &UserQuery) -> Filter {
    let mut f = Filter::default();
    match q.status {
        Some(s) => {
            let p = f.arg(Arg::Text(s.as_str().into()));
            f.push(format!("u.status = {p}"));
        }
        None => f.push("u.status <> 'trash'".into()),
    }
    if let Some(t) = q.type_id {
        let p = f.arg(Arg::I64(t.0));
        f.push(format!("u.user_type_id = {p}"));
    }
    if let Some(b) = q.branch {
        let p = f.arg(Arg::I64(b.0));
        f.push(format!(
            "u.id IN (SELECT ub.user_id FROM user_branches ub WHERE ub.branch_id = {p})"
        ));
    }
    if let Some(g) = q.group {
        let p = f.arg(Arg::I64(g.0));
        f.push(format!(
            "u.id IN (SELECT gm.user_id FROM group_members gm WHERE gm.group_id = {p})"
        ));
    }
    if q.never_logged_in {
        f.push("u.last_login_at IS NULL".into());
    }
    if let Some(t) = q.idle_before {
        let p = f.arg(Arg::I64(t));
        f.push(format!("(u.last_login_at IS NULL OR u.last_login_at < {p})"));
    }
    if let Some(s) = &q.search {
        let p = f.arg(Arg::Text(like_pattern(s)));
        // Names through `name_key` (last, tab, first, tab, id — lowercased by rollcall, so
        // any script matches on both backends, where SQLite's lower() folds ASCII only);
        // the match must end before a tab, so it lies within a name, never in the id.
        let names = f.arg(Arg::Text(format!("%{}%\t%", like_escape(s))));
        f.push(format!(
            "(u.username_key LIKE {p} ESCAPE '\\' OR u.email_key LIKE {p} ESCAPE '\\' \
             OR u.name_key LIKE {names} ESCAPE '\\')"
        ));
    }
    push_scope(&mut f, q.scope.as_deref());
    if let Some(linked) = q.scim_linked {
        f.push(format!("u.scim_linked = {}", if linked { "TRUE" } else { "FALSE" }));
    }
    if let Some(p) = &q.predicate {
        let clause = pred_sql(p, &mut f);
        f.push(clause);
    }
    f
}

/// Only users in one of these branches (a branch administrator's reach), when given.
fn push_scope(f: &mut Filter, scope: Option<&[BranchId]>) {
    match scope {
        None => {}
        Some([]) => f.push("1 = 0".into()),
        Some(branches) => {
            let ps: Vec<String> = branches.iter().map(|b| f.arg(Arg::I64(b.0))).collect();
            f.push(format!(
                "u.id IN (SELECT ub.user_id FROM user_branches ub WHERE ub.branch_id IN ({}))",
                ps.join(", ")
            ));
        }
    }
}

/// The stored, unique key a sorted user list is ordered by (`User::name_key` …); each has
/// an index of its own and one after the status (migrations 0001 and 0011).
fn sort_column(by: UserSort) -> Option<&'static str> {
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
fn list_users_sql(q: &UserQuery) -> (String, Vec<Arg>) {
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
        let p = f.arg(Arg::I64(after.id.0));
        f.push(match sort_column(q.order.by) {
            Some(col) => format!("{col} {beyond} (SELECT {col} FROM users u WHERE u.id = {p})"),
            None => format!("u.id {beyond} {p}"),
        });
    }
    let lim = f.arg(Arg::I64(q.limit));
    let off = f.arg(Arg::I64(q.offset.unwrap_or(0)));
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u{} ORDER BY {column} {dir} LIMIT {lim} OFFSET {off}",
        f.sql()
    );
    (sql, f.args)
}

fn group_filter(q: &GroupQuery) -> Filter {
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
        CmpOp::Ne => return format!("({expr} IS NULL OR {expr} <> {})", f.arg(Arg::Text(value))),
        CmpOp::Co => ("LIKE", like_pattern(&value)),
        CmpOp::Sw => ("LIKE", format!("{}%", like_escape(&value))),
        CmpOp::Ew => ("LIKE", format!("%{}", like_escape(&value))),
        CmpOp::Gt => (">", value),
        CmpOp::Ge => (">=", value),
        CmpOp::Lt => ("<", value),
        CmpOp::Le => ("<=", value),
    };
    let p = f.arg(Arg::Text(arg));
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
    let like = format!("u.name_key LIKE {} ESCAPE '\\'", f.arg(Arg::Text(pattern)));
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
    format!("{expr} {sql_op} {}", f.arg(Arg::I64(n)))
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

/// A unique-index violation on users, as the error callers understand.
fn user_conflict(e: sqlx::Error, user: &User) -> Error {
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

fn unique_conflict(e: sqlx::Error, code: &'static str, message: String) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::conflict(code, message),
        _ => db_err(e),
    }
}

impl SqlTx {
    async fn write_sort_keys(&mut self, u: &User) -> Result<u64> {
        let args = [Arg::I64(u.id.0), Arg::Text(u.name_key()), Arg::Text(u.login_key())];
        self.execute("UPDATE users SET name_key = $2, login_key = $3 WHERE id = $1", &args)
            .await
    }

    async fn user_where(&mut self, clause: &str, arg: Arg) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE {clause}");
        let args = [arg];
        let row: Option<UserRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), &args).fetch_optional(c).await)
                .map_err(db_err)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn execute(&mut self, sql: &'static str, args: &[Arg]) -> Result<u64> {
        on_conn!(self, c => bind_args!(sqlx::query(sql), args).execute(c).await.map(|r| r.rows_affected()))
            .map_err(db_err)
    }

    /// Whether `count` (a COUNT over user $1, purpose $2, since $3) finds any row.
    async fn any_since(&mut self, count: &'static str, user: UserId, purpose: &str, since: Millis) -> Result<bool> {
        let args = [Arg::I64(user.0), Arg::Text(purpose.into()), Arg::I64(since)];
        Ok(self.fetch_i64(count.into(), &args).await? > 0)
    }

    /// Deletes the seat reservations `delete` selects and gives back exactly the seats of
    /// the rows it deleted (`RETURNING`), so two enders racing on one reservation (an import
    /// closing while another instance's minute job finds its lease lapsed) give them back once.
    async fn end_reservations(&mut self, delete: &'static str, args: &[Arg]) -> Result<i64> {
        let rows: Vec<(i64,)> =
            on_conn!(self, c => bind_args!(sqlx::query_as(delete), args).fetch_all(c).await).map_err(db_err)?;
        let held: i64 = rows.iter().map(|(n,)| n).sum();
        if held > 0 {
            self.release_seats(held).await?;
        }
        Ok(held)
    }

    async fn fetch_i64(&mut self, sql: String, args: &[Arg]) -> Result<i64> {
        let (n,): (i64,) = on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_one(c).await)
            .map_err(db_err)?;
        Ok(n)
    }

    async fn ids(&mut self, sql: &'static str, args: &[Arg]) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> =
            on_conn!(self, c => bind_args!(sqlx::query_as(sql), args).fetch_all(c).await).map_err(db_err)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn types_where(&mut self, clause: &str, args: &[Arg]) -> Result<Vec<UserType>> {
        let sql = format!("SELECT {TYPE_COLUMNS} FROM user_types {clause} ORDER BY id");
        let rows: Vec<TypeRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(c).await)
                .map_err(db_err)?;
        rows.into_iter().map(TypeRow::into_type).collect()
    }

    async fn branches_where(&mut self, clause: &str, args: &[Arg]) -> Result<Vec<Branch>> {
        let sql = format!("SELECT {BRANCH_COLUMNS} FROM branches b {clause} ORDER BY b.name_key");
        let rows: Vec<BranchRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(c).await)
                .map_err(db_err)?;
        Ok(rows.into_iter().map(Branch::from).collect())
    }

    async fn groups_where(&mut self, clause: &str, args: &[Arg]) -> Result<Vec<Group>> {
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups g {clause} ORDER BY g.name_key");
        let rows: Vec<GroupRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(c).await)
                .map_err(db_err)?;
        Ok(rows.into_iter().map(Group::from).collect())
    }

    async fn audit_where(&mut self, f: Filter, order: &str, limit: i64) -> Result<Vec<AuditRow>> {
        let mut f = f;
        let lim = f.arg(Arg::I64(limit));
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log a LEFT JOIN audit_personal p ON p.entry_id = a.id{} ORDER BY {order} LIMIT {lim}",
            f.sql()
        );
        let rows: Vec<AuditRowRaw> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), &f.args).fetch_all(c).await)
                .map_err(db_err)?;
        Ok(rows.into_iter().map(AuditRow::from).collect())
    }

    async fn names_of(
        &mut self,
        select: &str,
        user_col: &str,
        order: &str,
        users: &[UserId],
    ) -> Result<Vec<(UserId, String)>> {
        if users.is_empty() {
            return Ok(vec![]);
        }
        let mut f = Filter::default();
        let ps: Vec<String> = users.iter().map(|u| f.arg(Arg::I64(u.0))).collect();
        let sql = format!(
            "{select} WHERE {user_col} IN ({}) ORDER BY {user_col}, {order}",
            ps.join(", ")
        );
        let rows: Vec<(i64, String)> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), &f.args).fetch_all(c).await)
                .map_err(db_err)?;
        Ok(rows.into_iter().map(|(u, n)| (UserId(u), n)).collect())
    }

    async fn courses_where(&mut self, clause: &str, args: &[Arg]) -> Result<Vec<Course>> {
        let sql = format!("SELECT {COURSE_COLUMNS} FROM courses c {clause} ORDER BY c.code_key");
        let rows: Vec<CourseRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(c).await)
                .map_err(db_err)?;
        rows.into_iter().map(CourseRow::into_course).collect()
    }

    async fn enrollments_where(&mut self, clause: &str, args: &[Arg]) -> Result<Vec<Enrollment>> {
        let sql = format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments {clause} ORDER BY course_id, user_id");
        let rows: Vec<EnrollmentRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(c).await)
                .map_err(db_err)?;
        rows.into_iter().map(EnrollmentRow::into_enrollment).collect()
    }

    async fn certificates_where(&mut self, clause: &str, args: &[Arg]) -> Result<Vec<Certificate>> {
        let sql = format!("SELECT id, code, user_id, course_id, issued_at FROM certificates {clause} ORDER BY id");
        let rows: Vec<CertificateRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(c).await)
                .map_err(db_err)?;
        Ok(rows.into_iter().map(Certificate::from).collect())
    }

    async fn tokens_where(&mut self, clause: &str, args: &[Arg]) -> Result<Vec<Token>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens {clause} ORDER BY id");
        let rows: Vec<TokenRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(c).await)
                .map_err(db_err)?;
        rows.into_iter().map(TokenRow::into_token).collect()
    }

    async fn head(&mut self) -> Result<AuditHead> {
        const SQL: &str = "SELECT seq, hash, keyed_from, tag FROM audit_head WHERE id = 1";
        let (seq, hash, keyed_from, tag): (i64, String, i64, Option<String>) =
            on_conn!(self, c => sqlx::query_as(SQL).fetch_one(c).await).map_err(db_err)?;
        Ok(AuditHead {
            seq,
            hash,
            keyed_from,
            tag,
        })
    }
}

#[async_trait]
impl Tx for SqlTx {
    async fn commit(self: Box<Self>) -> Result<()> {
        match self.inner {
            Inner::Sqlite(t) => t.commit().await,
            Inner::Postgres(t) => t.commit().await,
        }
        .map_err(db_err)
    }

    async fn insert_user(&mut self, u: &User, password_hash: Option<&str>) -> Result<UserId> {
        const SQL: &str = "INSERT INTO users (username, username_key, email, email_key, first_name, last_name, user_type_id, \
             status, origin, external_id, exclude_from_emails, password_hash, created_at, updated_at, last_login_at, \
             deactivated_at, deleted_at, deactivate_at, scim_linked) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id";
        let (id,): (i64,) = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(u.username.as_str())
            .bind(u.username.key())
            .bind(u.email.as_str())
            .bind(u.email.key())
            .bind(u.first_name.as_str())
            .bind(u.last_name.as_str())
            .bind(u.user_type_id.0)
            .bind(u.status.as_str())
            .bind(u.origin.as_str())
            .bind(u.external_id.as_deref())
            .bind(u.exclude_from_emails)
            .bind(password_hash)
            .bind(u.created_at)
            .bind(u.updated_at)
            .bind(u.last_login_at)
            .bind(u.deactivated_at)
            .bind(u.deleted_at)
            .bind(u.deactivate_at)
            .bind(u.scim_linked)
            .fetch_one(c)
            .await)
        .map_err(|e| user_conflict(e, u))?;
        // The sort keys end in the id, known only now.
        let stored = User {
            id: UserId(id),
            ..u.clone()
        };
        self.write_sort_keys(&stored).await?;
        Ok(UserId(id))
    }

    async fn user_by_id(&mut self, id: UserId) -> Result<Option<User>> {
        self.user_where("u.id = $1", Arg::I64(id.0)).await
    }

    async fn lock_user(&mut self, id: UserId) -> Result<Option<User>> {
        // The one dialect difference of row locking: SQLite has no FOR UPDATE, and needs none.
        let clause = match self.inner {
            Inner::Sqlite(_) => "u.id = $1",
            Inner::Postgres(_) => "u.id = $1 FOR UPDATE",
        };
        self.user_where(clause, Arg::I64(id.0)).await
    }

    async fn user_by_username(&mut self, key: &str) -> Result<Option<User>> {
        self.user_where("u.username_key = $1", Arg::Text(key.into())).await
    }

    async fn user_by_email(&mut self, key: &str) -> Result<Option<User>> {
        self.user_where("u.email_key = $1", Arg::Text(key.into())).await
    }

    async fn update_user(&mut self, u: &User) -> Result<()> {
        const SQL: &str = "UPDATE users SET email = $2, email_key = $3, first_name = $4, last_name = $5, user_type_id = $6, \
             status = $7, external_id = $8, exclude_from_emails = $9, updated_at = $10, last_login_at = $11, \
             deactivated_at = $12, deleted_at = $13, deactivate_at = $14, scim_linked = $15, username = $16, \
             username_key = $17, name_key = $18, login_key = $19 WHERE id = $1";
        on_conn!(self, c => sqlx::query(SQL)
            .bind(u.id.0)
            .bind(u.email.as_str())
            .bind(u.email.key())
            .bind(u.first_name.as_str())
            .bind(u.last_name.as_str())
            .bind(u.user_type_id.0)
            .bind(u.status.as_str())
            .bind(u.external_id.as_deref())
            .bind(u.exclude_from_emails)
            .bind(u.updated_at)
            .bind(u.last_login_at)
            .bind(u.deactivated_at)
            .bind(u.deleted_at)
            .bind(u.deactivate_at)
            .bind(u.scim_linked)
            .bind(u.username.as_str())
            .bind(u.username.key())
            .bind(u.name_key())
            .bind(u.login_key())
            .execute(c)
            .await
            .map(drop))
        .map_err(|e| user_conflict(e, u))?;
        Ok(())
    }

    async fn set_password_hash(&mut self, id: UserId, hash: Option<&str>) -> Result<()> {
        let args = [
            Arg::I64(id.0),
            hash.map_or(Arg::Text(String::new()), |h| Arg::Text(h.into())),
        ];
        if hash.is_some() {
            self.execute("UPDATE users SET password_hash = $2 WHERE id = $1", &args)
                .await?;
        } else {
            self.execute("UPDATE users SET password_hash = NULL WHERE id = $1", &args[..1])
                .await?;
        }
        Ok(())
    }

    async fn password_hash(&mut self, id: UserId) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            on_conn!(self, c => sqlx::query_as("SELECT password_hash FROM users WHERE id = $1").bind(id.0).fetch_optional(c).await)
                .map_err(db_err)?;
        Ok(row.and_then(|(h,)| h))
    }

    async fn purge_user(&mut self, id: UserId) -> Result<()> {
        self.execute("DELETE FROM users WHERE id = $1", &[Arg::I64(id.0)])
            .await
            .map(drop)
    }

    async fn list_users(&mut self, q: &UserQuery) -> Result<Vec<User>> {
        if let (Some(after), Some(column)) = (q.after, sort_column(q.order.by)) {
            // The seek reads the cursor's user's key, so that user must be one the caller
            // may see: otherwise a hand-made cursor would tell where an unseen user's email
            // or name sorts. Gone, out of reach or keyless, the answer is the same.
            let mut f = Filter::default();
            let p = f.arg(Arg::I64(after.id.0));
            f.push(format!("u.id = {p} AND {column} IS NOT NULL"));
            push_scope(&mut f, q.scope.as_deref());
            let sql = format!("SELECT u.id FROM users u{}", f.sql());
            let found: Option<(i64,)> =
                on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), &f.args).fetch_optional(c).await)
                    .map_err(db_err)?;
            if found.is_none() {
                return Err(Error::invalid(
                    "cursor",
                    "this page can't be continued (its users changed); start again from the first page",
                ));
            }
        }
        let (sql, args) = list_users_sql(q);
        let rows: Vec<UserRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), &args).fetch_all(c).await)
                .map_err(db_err)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    // In Rust, so the keys match what `insert_user` writes. The rows are found through the
    // keys' indexes, in id order, so instances filling at once wait for each other instead
    // of deadlocking.
    async fn fill_missing_sort_keys(&mut self) -> Result<u64> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id IN (SELECT id FROM users WHERE name_key IS NULL \
             UNION SELECT id FROM users WHERE login_key IS NULL) ORDER BY u.id LIMIT 1000"
        );
        let rows: Vec<UserRow> =
            on_conn!(self, c => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(c).await).map_err(db_err)?;
        // Only if the row still holds what the keys were computed from: a sign-in or a
        // rename committed meanwhile wrote its own keys, which must not be overwritten.
        const SQL: &str = "UPDATE users SET name_key = $2, login_key = $3 WHERE id = $1 \
             AND first_name = $4 AND last_name = $5 AND last_login_at IS NOT DISTINCT FROM $6";
        let mut filled = 0;
        for row in rows {
            let u = row.into_user()?;
            filled += on_conn!(self, c => sqlx::query(SQL)
                .bind(u.id.0)
                .bind(u.name_key())
                .bind(u.login_key())
                .bind(u.first_name.as_str())
                .bind(u.last_name.as_str())
                .bind(u.last_login_at)
                .execute(c)
                .await
                .map(|r| r.rows_affected()))
            .map_err(db_err)?;
        }
        Ok(filled)
    }

    async fn count_users(&mut self, q: &UserQuery) -> Result<i64> {
        let f = user_filter(q);
        self.fetch_i64(format!("SELECT COUNT(*) FROM users u{}", f.sql()), &f.args)
            .await
    }

    async fn count_active_of_type(&mut self, type_id: UserTypeId) -> Result<i64> {
        self.fetch_i64(
            "SELECT COUNT(*) FROM users WHERE user_type_id = $1 AND status = 'active'".into(),
            &[Arg::I64(type_id.0)],
        )
        .await
    }

    async fn users_due_for_deactivation(&mut self, now: Millis, limit: i64) -> Result<Vec<UserId>> {
        const SQL: &str = "SELECT id FROM users WHERE deactivate_at IS NOT NULL AND deactivate_at <= $1 \
             AND status = 'active' ORDER BY deactivate_at LIMIT $2";
        Ok(self
            .ids(SQL, &[Arg::I64(now), Arg::I64(limit)])
            .await?
            .into_iter()
            .map(UserId)
            .collect())
    }

    async fn trash_due_for_purge(&mut self, cutoff: Millis, limit: i64) -> Result<Vec<UserId>> {
        const SQL: &str =
            "SELECT id FROM users WHERE status = 'trash' AND deleted_at < $1 ORDER BY deleted_at LIMIT $2";
        Ok(self
            .ids(SQL, &[Arg::I64(cutoff), Arg::I64(limit)])
            .await?
            .into_iter()
            .map(UserId)
            .collect())
    }

    async fn user_branches(&mut self, id: UserId) -> Result<Vec<Branch>> {
        self.branches_where(
            "JOIN user_branches ub ON ub.branch_id = b.id WHERE ub.user_id = $1",
            &[Arg::I64(id.0)],
        )
        .await
    }

    async fn user_groups(&mut self, id: UserId) -> Result<Vec<Group>> {
        self.groups_where(
            "JOIN group_members gm ON gm.group_id = g.id WHERE gm.user_id = $1",
            &[Arg::I64(id.0)],
        )
        .await
    }

    async fn branch_names_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>> {
        self.names_of(
            "SELECT ub.user_id, b.name FROM user_branches ub JOIN branches b ON b.id = ub.branch_id",
            "ub.user_id",
            "b.name_key",
            users,
        )
        .await
    }

    async fn group_names_of(&mut self, users: &[UserId]) -> Result<Vec<(UserId, String)>> {
        self.names_of(
            "SELECT gm.user_id, g.name FROM group_members gm JOIN groups g ON g.id = gm.group_id",
            "gm.user_id",
            "g.name_key",
            users,
        )
        .await
    }

    async fn add_user_branch(&mut self, user: UserId, branch: BranchId) -> Result<bool> {
        const SQL: &str = "INSERT INTO user_branches (user_id, branch_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        Ok(self.execute(SQL, &[Arg::I64(user.0), Arg::I64(branch.0)]).await? == 1)
    }

    async fn remove_user_branch(&mut self, user: UserId, branch: BranchId) -> Result<bool> {
        const SQL: &str = "DELETE FROM user_branches WHERE user_id = $1 AND branch_id = $2";
        Ok(self.execute(SQL, &[Arg::I64(user.0), Arg::I64(branch.0)]).await? == 1)
    }

    async fn add_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool> {
        const SQL: &str = "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        Ok(self.execute(SQL, &[Arg::I64(group.0), Arg::I64(user.0)]).await? == 1)
    }

    async fn remove_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool> {
        const SQL: &str = "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2";
        Ok(self.execute(SQL, &[Arg::I64(group.0), Arg::I64(user.0)]).await? == 1)
    }

    async fn plan(&mut self) -> Result<PlanState> {
        let row: PlanRow =
            on_conn!(self, c => sqlx::query_as("SELECT tier, seat_limit, seats_used FROM plan WHERE id = 1").fetch_one(c).await)
                .map_err(db_err)?;
        row.into_plan()
    }

    async fn try_take_seats(&mut self, n: i64) -> Result<bool> {
        // The check and the write are one statement: the row lock (PostgreSQL) or the
        // write lock (SQLite) makes concurrent takers see each other's seats.
        const SQL: &str = "UPDATE plan SET seats_used = seats_used + $1 WHERE id = 1 AND seats_used + $1 <= seat_limit";
        Ok(self.execute(SQL, &[Arg::I64(n)]).await? == 1)
    }

    async fn reserve_seats(&mut self, id: &str, n: i64, lease_until: Millis) -> Result<bool> {
        if !self.try_take_seats(n).await? {
            return Ok(false);
        }
        const SQL: &str = "INSERT INTO seat_reservations (id, seats, lease_until) VALUES ($1, $2, $3)";
        self.execute(SQL, &[Arg::Text(id.into()), Arg::I64(n), Arg::I64(lease_until)])
            .await?;
        Ok(true)
    }

    async fn draw_reserved_seats(&mut self, id: &str, n: i64, lease_until: Millis) -> Result<bool> {
        const SQL: &str =
            "UPDATE seat_reservations SET seats = seats - $2, lease_until = $3 WHERE id = $1 AND seats >= $2";
        if self
            .execute(SQL, &[Arg::Text(id.into()), Arg::I64(n), Arg::I64(lease_until)])
            .await?
            != 1
        {
            return Ok(false);
        }
        self.release_seats(n).await?;
        Ok(true)
    }

    async fn end_seat_reservation(&mut self, id: &str) -> Result<i64> {
        const SQL: &str = "DELETE FROM seat_reservations WHERE id = $1 RETURNING seats";
        self.end_reservations(SQL, &[Arg::Text(id.into())]).await
    }

    async fn end_lapsed_seat_reservations(&mut self, now: Millis) -> Result<i64> {
        const SQL: &str = "DELETE FROM seat_reservations WHERE lease_until < $1 RETURNING seats";
        self.end_reservations(SQL, &[Arg::I64(now)]).await
    }

    async fn release_seats(&mut self, n: i64) -> Result<()> {
        self.execute(
            "UPDATE plan SET seats_used = seats_used - $1 WHERE id = 1",
            &[Arg::I64(n)],
        )
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
        Ok(self
            .execute(SQL, &[Arg::Text(tier.name().into()), Arg::I64(seat_limit)])
            .await?
            == 1)
    }

    async fn try_take_branch_seat(&mut self, branch: BranchId) -> Result<bool> {
        const SQL: &str = "UPDATE branches SET active_users = active_users + 1 \
             WHERE id = $1 AND (seat_cap IS NULL OR active_users < seat_cap)";
        Ok(self.execute(SQL, &[Arg::I64(branch.0)]).await? == 1)
    }

    async fn release_branch_seat(&mut self, branch: BranchId) -> Result<()> {
        self.execute(
            "UPDATE branches SET active_users = active_users - 1 WHERE id = $1",
            &[Arg::I64(branch.0)],
        )
        .await
        .map(drop)
    }

    async fn active_by_type(&mut self) -> Result<Vec<(UserTypeId, i64)>> {
        const SQL: &str = "SELECT user_type_id, COUNT(*) FROM users WHERE status = 'active' GROUP BY user_type_id ORDER BY user_type_id";
        let rows: Vec<(i64, i64)> = on_conn!(self, c => sqlx::query_as(SQL).fetch_all(c).await).map_err(db_err)?;
        Ok(rows.into_iter().map(|(t, n)| (UserTypeId(t), n)).collect())
    }

    async fn user_types(&mut self) -> Result<Vec<UserType>> {
        self.types_where("", &[]).await
    }

    async fn user_type_by_key(&mut self, key: &str) -> Result<Option<UserType>> {
        Ok(self
            .types_where("WHERE name_key = $1", &[Arg::Text(key.into())])
            .await?
            .pop())
    }

    async fn user_type_by_id(&mut self, id: UserTypeId) -> Result<Option<UserType>> {
        Ok(self.types_where("WHERE id = $1", &[Arg::I64(id.0)]).await?.pop())
    }

    async fn insert_user_type(&mut self, t: &UserType) -> Result<UserTypeId> {
        const SQL: &str =
            "INSERT INTO user_types (name, name_key, base, builtin, areas) VALUES ($1, $2, $3, FALSE, $4) RETURNING id";
        let (id,): (i64,) = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(t.name.as_str())
            .bind(t.key())
            .bind(t.base.key())
            .bind(t.areas.to_names())
            .fetch_one(c)
            .await)
        .map_err(|e| {
            unique_conflict(
                e,
                "type_exists",
                format!("a user type named '{}' already exists", t.name),
            )
        })?;
        Ok(UserTypeId(id))
    }

    async fn update_user_type_areas(&mut self, id: UserTypeId, areas: AreaSet) -> Result<()> {
        const SQL: &str = "UPDATE user_types SET areas = $2 WHERE id = $1 AND NOT builtin";
        self.execute(SQL, &[Arg::I64(id.0), Arg::Text(areas.to_names())])
            .await
            .map(drop)
    }

    async fn delete_user_type(&mut self, id: UserTypeId) -> Result<()> {
        self.execute(
            "DELETE FROM user_types WHERE id = $1 AND NOT builtin",
            &[Arg::I64(id.0)],
        )
        .await
        .map(drop)
    }

    async fn type_in_use(&mut self, id: UserTypeId) -> Result<bool> {
        let n = self
            .fetch_i64(
                "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE user_type_id = $1 LIMIT 1) x) \
                 + (SELECT COUNT(*) FROM branches WHERE default_type_id = $1)"
                    .into(),
                &[Arg::I64(id.0)],
            )
            .await?;
        Ok(n > 0)
    }

    async fn insert_branch(&mut self, b: &Branch) -> Result<BranchId> {
        const SQL: &str = "INSERT INTO branches (name, name_key, slug, description, default_type_id, seat_cap, active_users) \
             VALUES ($1, $2, $3, $4, $5, $6, 0) RETURNING id";
        let (id,): (i64,) = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(b.name.as_str())
            .bind(name_key(&b.name))
            .bind(b.slug.as_str())
            .bind(b.description.as_str())
            .bind(b.default_type_id.map(|t| t.0))
            .bind(b.seat_cap)
            .fetch_one(c)
            .await)
        .map_err(|e| {
            unique_conflict(
                e,
                "branch_exists",
                format!("a branch named '{}' already exists", b.name),
            )
        })?;
        Ok(BranchId(id))
    }

    async fn update_branch(&mut self, b: &Branch) -> Result<bool> {
        const SQL: &str = "UPDATE branches SET description = $2, default_type_id = $3, seat_cap = $4 \
             WHERE id = $1 AND ($4 IS NULL OR active_users <= $4)";
        let n = on_conn!(self, c => sqlx::query(SQL)
            .bind(b.id.0)
            .bind(b.description.as_str())
            .bind(b.default_type_id.map(|t| t.0))
            .bind(b.seat_cap)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn branches(&mut self) -> Result<Vec<Branch>> {
        self.branches_where("", &[]).await
    }

    async fn branch_by_key(&mut self, key: &str) -> Result<Option<Branch>> {
        Ok(self
            .branches_where("WHERE b.name_key = $1", &[Arg::Text(key.into())])
            .await?
            .pop())
    }

    async fn insert_group(&mut self, g: &Group) -> Result<GroupId> {
        const SQL: &str = "INSERT INTO groups (name, name_key, branch_id, join_key, description, external_id, scim_linked, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let (id,): (i64,) = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(g.name.as_str())
            .bind(name_key(&g.name))
            .bind(g.branch_id.map(|b| b.0))
            .bind(g.key.as_deref())
            .bind(g.description.as_str())
            .bind(g.external_id.as_deref())
            .bind(g.scim_linked)
            .bind(g.created_at)
            .bind(g.updated_at)
            .fetch_one(c)
            .await)
        .map_err(|e| {
            unique_conflict(
                e,
                "group_exists",
                format!("a group named '{}' or with that key already exists", g.name),
            )
        })?;
        Ok(GroupId(id))
    }

    async fn update_group(&mut self, g: &Group) -> Result<()> {
        const SQL: &str = "UPDATE groups SET name = $2, name_key = $3, description = $4, external_id = $5, \
             scim_linked = $6, updated_at = $7 WHERE id = $1";
        on_conn!(self, c => sqlx::query(SQL)
            .bind(g.id.0)
            .bind(g.name.as_str())
            .bind(name_key(&g.name))
            .bind(g.description.as_str())
            .bind(g.external_id.as_deref())
            .bind(g.scim_linked)
            .bind(g.updated_at)
            .execute(c)
            .await
            .map(drop))
        .map_err(|e| unique_conflict(e, "group_exists", format!("a group named '{}' already exists", g.name)))
    }

    async fn delete_group(&mut self, id: GroupId) -> Result<()> {
        self.execute("DELETE FROM groups WHERE id = $1", &[Arg::I64(id.0)])
            .await
            .map(drop)
    }

    async fn group_by_id(&mut self, id: GroupId) -> Result<Option<Group>> {
        Ok(self.groups_where("WHERE g.id = $1", &[Arg::I64(id.0)]).await?.pop())
    }

    async fn group_member_ids(&mut self, group: GroupId) -> Result<Vec<UserId>> {
        const SQL: &str = "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id";
        Ok(self
            .ids(SQL, &[Arg::I64(group.0)])
            .await?
            .into_iter()
            .map(UserId)
            .collect())
    }

    async fn list_groups(&mut self, q: &GroupQuery) -> Result<Vec<Group>> {
        let mut f = group_filter(q);
        let lim = f.arg(Arg::I64(q.limit));
        let off = f.arg(Arg::I64(q.offset.unwrap_or(0)));
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups g{} ORDER BY g.id LIMIT {lim} OFFSET {off}",
            f.sql()
        );
        let rows: Vec<GroupRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), &f.args).fetch_all(c).await)
                .map_err(db_err)?;
        Ok(rows.into_iter().map(Group::from).collect())
    }

    async fn count_groups(&mut self, q: &GroupQuery) -> Result<i64> {
        let f = group_filter(q);
        self.fetch_i64(format!("SELECT COUNT(*) FROM groups g{}", f.sql()), &f.args)
            .await
    }

    async fn set_scim_linked(&mut self, user: UserId, linked: bool) -> Result<()> {
        on_conn!(self, c => sqlx::query("UPDATE users SET scim_linked = $2 WHERE id = $1")
            .bind(user.0)
            .bind(linked)
            .execute(c)
            .await
            .map(drop))
        .map_err(db_err)
    }

    async fn groups(&mut self) -> Result<Vec<Group>> {
        self.groups_where("", &[]).await
    }

    async fn group_by_key(&mut self, key: &str) -> Result<Option<Group>> {
        Ok(self
            .groups_where("WHERE g.name_key = $1", &[Arg::Text(key.into())])
            .await?
            .pop())
    }

    async fn group_member_count(&mut self, group: GroupId) -> Result<i64> {
        self.fetch_i64(
            "SELECT COUNT(*) FROM group_members WHERE group_id = $1".into(),
            &[Arg::I64(group.0)],
        )
        .await
    }

    async fn setting(&mut self, key: &str) -> Result<Option<String>> {
        let row: Option<(String,)> =
            on_conn!(self, c => sqlx::query_as("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(c).await)
                .map_err(db_err)?;
        Ok(row.map(|(v,)| v))
    }

    async fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        const SQL: &str =
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        self.execute(SQL, &[Arg::Text(key.into()), Arg::Text(value.into())])
            .await
            .map(drop)
    }

    async fn insert_token(&mut self, t: &Token) -> Result<i64> {
        const SQL: &str = "INSERT INTO api_tokens (name, name_key, scope, user_id, lookup, secret_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        let (id,): (i64,) = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(t.name.as_str())
            .bind(name_key(&t.name))
            .bind(t.scope.as_str())
            .bind(t.user_id.map(|u| u.0))
            .bind(t.lookup.as_str())
            .bind(t.secret_hash.as_str())
            .bind(t.created_at)
            .bind(t.expires_at)
            .fetch_one(c)
            .await)
        .map_err(|e| unique_conflict(e, "token_exists", format!("a token named '{}' already exists", t.name)))?;
        Ok(id)
    }

    async fn token_by_lookup(&mut self, lookup: &str) -> Result<Option<Token>> {
        Ok(self
            .tokens_where("WHERE lookup = $1", &[Arg::Text(lookup.into())])
            .await?
            .pop())
    }

    async fn token_by_id(&mut self, id: i64) -> Result<Option<Token>> {
        Ok(self.tokens_where("WHERE id = $1", &[Arg::I64(id)]).await?.pop())
    }

    async fn token_by_name(&mut self, key: &str) -> Result<Option<Token>> {
        Ok(self
            .tokens_where("WHERE name_key = $1", &[Arg::Text(key.into())])
            .await?
            .pop())
    }

    async fn tokens(&mut self) -> Result<Vec<Token>> {
        self.tokens_where("", &[]).await
    }

    async fn revoke_token(&mut self, id: i64, at: Millis) -> Result<()> {
        const SQL: &str = "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";
        self.execute(SQL, &[Arg::I64(id), Arg::I64(at)]).await.map(drop)
    }

    async fn revoke_user_tokens(&mut self, user: UserId, at: Millis) -> Result<u64> {
        const SQL: &str = "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
        self.execute(SQL, &[Arg::I64(user.0), Arg::I64(at)]).await
    }

    async fn insert_course(&mut self, c: &Course) -> Result<CourseId> {
        const SQL: &str = "INSERT INTO courses (code, code_key, name, description, status, owner_id, units, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let (id,): (i64,) = on_conn!(self, c2 => sqlx::query_as(SQL)
            .bind(c.code.as_str())
            .bind(name_key(&c.code))
            .bind(c.name.as_str())
            .bind(c.description.as_str())
            .bind(c.status.as_str())
            .bind(c.owner_id.0)
            .bind(c.units)
            .bind(c.created_at)
            .bind(c.updated_at)
            .fetch_one(c2)
            .await)
        .map_err(|e| {
            unique_conflict(
                e,
                "course_exists",
                format!("a course with code '{}' already exists", c.code),
            )
        })?;
        Ok(CourseId(id))
    }

    async fn update_course(&mut self, c: &Course) -> Result<()> {
        const SQL: &str = "UPDATE courses SET name = $2, description = $3, status = $4, owner_id = $5, units = $6, \
             updated_at = $7 WHERE id = $1";
        let args = [
            Arg::I64(c.id.0),
            Arg::Text(c.name.clone()),
            Arg::Text(c.description.clone()),
            Arg::Text(c.status.as_str().into()),
            Arg::I64(c.owner_id.0),
            Arg::I64(c.units),
            Arg::I64(c.updated_at),
        ];
        self.execute(SQL, &args).await.map(drop)
    }

    async fn course_by_code(&mut self, code_key: &str) -> Result<Option<Course>> {
        Ok(self
            .courses_where("WHERE c.code_key = $1", &[Arg::Text(code_key.into())])
            .await?
            .pop())
    }

    async fn course_by_id(&mut self, id: CourseId) -> Result<Option<Course>> {
        Ok(self.courses_where("WHERE c.id = $1", &[Arg::I64(id.0)]).await?.pop())
    }

    async fn list_courses(&mut self, owner: Option<UserId>, orphaned: bool) -> Result<Vec<Course>> {
        match (owner, orphaned) {
            (Some(o), false) => self.courses_where("WHERE c.owner_id = $1", &[Arg::I64(o.0)]).await,
            (Some(o), true) => {
                self.courses_where(
                    "JOIN users o ON o.id = c.owner_id WHERE c.owner_id = $1 AND o.status <> 'active'",
                    &[Arg::I64(o.0)],
                )
                .await
            }
            (None, true) => {
                self.courses_where("JOIN users o ON o.id = c.owner_id WHERE o.status <> 'active'", &[])
                    .await
            }
            (None, false) => self.courses_where("", &[]).await,
        }
    }

    async fn reassign_courses(&mut self, from: UserId, to: UserId) -> Result<u64> {
        self.execute(
            "UPDATE courses SET owner_id = $2 WHERE owner_id = $1",
            &[Arg::I64(from.0), Arg::I64(to.0)],
        )
        .await
    }

    async fn count_owned_courses(&mut self, owner: UserId) -> Result<i64> {
        self.fetch_i64(
            "SELECT COUNT(*) FROM courses WHERE owner_id = $1".into(),
            &[Arg::I64(owner.0)],
        )
        .await
    }

    async fn insert_enrollment(&mut self, e: &Enrollment) -> Result<bool> {
        const SQL: &str = "INSERT INTO enrollments (user_id, course_id, role, enrolled_at, units_completed) \
             VALUES ($1, $2, $3, $4, 0) ON CONFLICT DO NOTHING";
        let args = [
            Arg::I64(e.user_id.0),
            Arg::I64(e.course_id.0),
            Arg::Text(e.role.as_str().into()),
            Arg::I64(e.enrolled_at),
        ];
        Ok(self.execute(SQL, &args).await? == 1)
    }

    async fn update_enrollment(&mut self, e: &Enrollment) -> Result<()> {
        const SQL: &str = "UPDATE enrollments SET role = $3, units_completed = $4, completed_at = $5, grade = $6 \
             WHERE user_id = $1 AND course_id = $2";
        on_conn!(self, c => sqlx::query(SQL)
            .bind(e.user_id.0)
            .bind(e.course_id.0)
            .bind(e.role.as_str())
            .bind(e.units_completed)
            .bind(e.completed_at)
            .bind(e.grade)
            .execute(c)
            .await
            .map(drop))
        .map_err(db_err)
    }

    async fn enrollment(&mut self, user: UserId, course: CourseId) -> Result<Option<Enrollment>> {
        Ok(self
            .enrollments_where(
                "WHERE user_id = $1 AND course_id = $2",
                &[Arg::I64(user.0), Arg::I64(course.0)],
            )
            .await?
            .pop())
    }

    async fn enrollments_of_user(&mut self, user: UserId) -> Result<Vec<Enrollment>> {
        self.enrollments_where("WHERE user_id = $1", &[Arg::I64(user.0)]).await
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

    async fn enrollments_of_course(&mut self, course: CourseId) -> Result<Vec<Enrollment>> {
        self.enrollments_where("WHERE course_id = $1", &[Arg::I64(course.0)])
            .await
    }

    async fn complete_unit(&mut self, user: UserId, course: CourseId, unit: i64, at: Millis) -> Result<bool> {
        const SQL: &str = "INSERT INTO unit_completions (user_id, course_id, unit, completed_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
        Ok(self
            .execute(
                SQL,
                &[Arg::I64(user.0), Arg::I64(course.0), Arg::I64(unit), Arg::I64(at)],
            )
            .await?
            == 1)
    }

    async fn insert_certificate(&mut self, c: &Certificate) -> Result<()> {
        const SQL: &str = "INSERT INTO certificates (code, user_id, course_id, issued_at) VALUES ($1, $2, $3, $4)";
        let args = [
            Arg::Text(c.code.clone()),
            Arg::I64(c.user_id.0),
            Arg::I64(c.course_id.0),
            Arg::I64(c.issued_at),
        ];
        self.execute(SQL, &args).await.map(drop)
    }

    async fn certificate_by_code(&mut self, code: &str) -> Result<Option<Certificate>> {
        Ok(self
            .certificates_where("WHERE code = $1", &[Arg::Text(code.into())])
            .await?
            .pop())
    }

    async fn certificates_of_user(&mut self, user: UserId) -> Result<Vec<Certificate>> {
        self.certificates_where("WHERE user_id = $1", &[Arg::I64(user.0)]).await
    }

    async fn add_group_course(&mut self, group: GroupId, course: CourseId) -> Result<bool> {
        const SQL: &str = "INSERT INTO group_courses (group_id, course_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        Ok(self.execute(SQL, &[Arg::I64(group.0), Arg::I64(course.0)]).await? == 1)
    }

    async fn group_course_ids(&mut self, group: GroupId) -> Result<Vec<CourseId>> {
        const SQL: &str = "SELECT course_id FROM group_courses WHERE group_id = $1 ORDER BY course_id";
        Ok(self
            .ids(SQL, &[Arg::I64(group.0)])
            .await?
            .into_iter()
            .map(CourseId)
            .collect())
    }

    async fn group_by_join_key(&mut self, key: &str) -> Result<Option<Group>> {
        Ok(self
            .groups_where("WHERE g.join_key = $1", &[Arg::Text(key.into())])
            .await?
            .pop())
    }

    async fn insert_session(&mut self, s: &SessionRecord) -> Result<()> {
        const SQL: &str = "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        let args = [
            Arg::Text(s.id_hash.clone()),
            Arg::I64(s.user_id.0),
            Arg::Text(s.csrf_token.clone()),
            Arg::I64(s.created_at),
            Arg::I64(s.last_seen_at),
            Arg::I64(s.expires_at),
        ];
        self.execute(SQL, &args).await.map(drop)
    }

    async fn session(&mut self, id_hash: &str) -> Result<Option<SessionRecord>> {
        const SQL: &str = "SELECT id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at FROM sessions WHERE id_hash = $1";
        let row: Option<(String, i64, String, i64, i64, i64)> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(id_hash).fetch_optional(c).await).map_err(db_err)?;
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

    async fn touch_session(&mut self, id_hash: &str, at: Millis) -> Result<()> {
        self.execute(
            "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1",
            &[Arg::Text(id_hash.into()), Arg::I64(at)],
        )
        .await
        .map(drop)
    }

    async fn delete_session(&mut self, id_hash: &str) -> Result<()> {
        self.execute("DELETE FROM sessions WHERE id_hash = $1", &[Arg::Text(id_hash.into())])
            .await
            .map(drop)
    }

    async fn delete_user_sessions(&mut self, user: UserId) -> Result<u64> {
        self.execute("DELETE FROM sessions WHERE user_id = $1", &[Arg::I64(user.0)])
            .await
    }

    async fn trim_user_sessions(&mut self, user: UserId, keep: i64) -> Result<u64> {
        const SQL: &str = "DELETE FROM sessions WHERE user_id = $1 AND id_hash NOT IN \
             (SELECT id_hash FROM sessions WHERE user_id = $1 ORDER BY created_at DESC, id_hash DESC LIMIT $2)";
        self.execute(SQL, &[Arg::I64(user.0), Arg::I64(keep)]).await
    }

    async fn prune_sessions(&mut self, now: Millis, idle_since: Millis) -> Result<u64> {
        self.execute(
            "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
            &[Arg::I64(now), Arg::I64(idle_since)],
        )
        .await
    }

    async fn prune_sign_in_failures(&mut self, window_started_by: Millis, now: Millis) -> Result<u64> {
        self.execute(
            "DELETE FROM sign_in_failures WHERE window_start <= $1 AND blocked_until <= $2",
            &[Arg::I64(window_started_by), Arg::I64(now)],
        )
        .await
    }

    async fn prune_sso_state(&mut self, now: Millis) -> Result<u64> {
        let requests = self
            .execute("DELETE FROM sso_requests WHERE expires_at <= $1", &[Arg::I64(now)])
            .await?;
        let assertions = self
            .execute("DELETE FROM sso_assertions WHERE expires_at <= $1", &[Arg::I64(now)])
            .await?;
        Ok(requests + assertions)
    }

    async fn record_seat_day(&mut self, day: i64, active: i64) -> Result<()> {
        self.execute(
            "INSERT INTO seat_history (day, active) VALUES ($1, $2) \
             ON CONFLICT (day) DO UPDATE SET active = excluded.active",
            &[Arg::I64(day), Arg::I64(active)],
        )
        .await
        .map(drop)
    }

    async fn seat_history(&mut self, since_day: i64) -> Result<Vec<(i64, i64)>> {
        on_conn!(self, c => sqlx::query_as("SELECT day, active FROM seat_history WHERE day >= $1 ORDER BY day")
            .bind(since_day)
            .fetch_all(c)
            .await)
        .map_err(db_err)
    }

    async fn insert_sso_request(&mut self, id: &str, expires_at: Millis, now: Millis) -> Result<()> {
        self.execute("DELETE FROM sso_requests WHERE expires_at <= $1", &[Arg::I64(now)])
            .await?;
        self.execute(
            "INSERT INTO sso_requests (id, expires_at) VALUES ($1, $2)",
            &[Arg::Text(id.into()), Arg::I64(expires_at)],
        )
        .await
        .map(drop)
    }

    async fn take_sso_request(&mut self, id: &str, now: Millis) -> Result<bool> {
        // One DELETE: of two instances consuming the same id, only one sees a row.
        self.execute(
            "DELETE FROM sso_requests WHERE id = $1 AND expires_at > $2",
            &[Arg::Text(id.into()), Arg::I64(now)],
        )
        .await
        .map(|n| n == 1)
    }

    async fn record_sso_assertion(&mut self, id: &str, expires_at: Millis, now: Millis) -> Result<bool> {
        self.execute("DELETE FROM sso_assertions WHERE expires_at <= $1", &[Arg::I64(now)])
            .await?;
        self.execute(
            "INSERT INTO sso_assertions (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            &[Arg::Text(id.into()), Arg::I64(expires_at)],
        )
        .await
        .map(|n| n == 1)
    }

    async fn sso_link(&mut self, user: UserId) -> Result<Option<(String, String)>> {
        let row: Option<(Option<String>, Option<String>)> = on_conn!(self, c => sqlx::query_as(
            "SELECT sso_issuer, sso_subject FROM users WHERE id = $1"
        ).bind(user.0).fetch_optional(c).await)
        .map_err(db_err)?;
        Ok(match row {
            Some((Some(issuer), Some(subject))) => Some((issuer, subject)),
            _ => None,
        })
    }

    async fn set_sso_link(&mut self, user: UserId, link: Option<(&str, &str)>) -> Result<()> {
        let (issuer, subject) = link.map_or((None, None), |(i, s)| (Some(i.to_owned()), Some(s.to_owned())));
        on_conn!(self, c => sqlx::query("UPDATE users SET sso_issuer = $2, sso_subject = $3 WHERE id = $1")
            .bind(user.0)
            .bind(issuer)
            .bind(subject)
            .execute(c)
            .await
            .map(drop))
        .map_err(db_err)
    }

    async fn user_by_sso_link(&mut self, issuer: &str, subject: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.sso_issuer = $1 AND u.sso_subject = $2");
        let args = [Arg::Text(issuer.into()), Arg::Text(subject.into())];
        let row: Option<UserRow> =
            on_conn!(self, c => bind_args!(sqlx::query_as(AssertSqlSafe(sql)), &args).fetch_optional(c).await)
                .map_err(db_err)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn set_last_login(&mut self, user: UserId, at: Millis) -> Result<()> {
        self.execute(
            "UPDATE users SET last_login_at = $2, login_key = $3 WHERE id = $1",
            &[Arg::I64(user.0), Arg::I64(at), Arg::Text(login_key(Some(at), user))],
        )
        .await
        .map(drop)
    }

    async fn use_password_token(&mut self, token_hash: &str, now: Millis) -> Result<Option<(UserId, String)>> {
        const SQL: &str = "UPDATE password_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id, purpose";
        let row: Option<(i64, String)> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(token_hash).bind(now).fetch_optional(c).await)
                .map_err(db_err)?;
        Ok(row.map(|(u, p)| (UserId(u), p)))
    }

    async fn reserve_sign_in_attempt(
        &mut self,
        key: &str,
        now: Millis,
        window_started_by: Millis,
    ) -> Result<SignInFailures> {
        // One statement: blocked rows stay as they are, expired windows restart.
        const SQL: &str = "INSERT INTO sign_in_failures (key, failures, window_start, last_failure_at, blocked_until) \
             VALUES ($1, 1, $2, $2, 0) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN sign_in_failures.blocked_until > $2 THEN sign_in_failures.failures \
                 WHEN sign_in_failures.window_start <= $3 THEN 1 ELSE sign_in_failures.failures + 1 END, \
             window_start = CASE WHEN sign_in_failures.blocked_until > $2 THEN sign_in_failures.window_start \
                 WHEN sign_in_failures.window_start <= $3 THEN $2 ELSE sign_in_failures.window_start END, \
             last_failure_at = CASE WHEN sign_in_failures.blocked_until > $2 THEN sign_in_failures.last_failure_at \
                 ELSE $2 END, \
             blocked_until = CASE WHEN sign_in_failures.blocked_until > $2 THEN sign_in_failures.blocked_until \
                 WHEN sign_in_failures.window_start <= $3 THEN 0 ELSE sign_in_failures.blocked_until END \
             RETURNING failures, last_failure_at, blocked_until";
        let (failures, last_failure_at, blocked_until): (i64, i64, i64) = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(key)
            .bind(now)
            .bind(window_started_by)
            .fetch_one(c)
            .await)
        .map_err(db_err)?;
        Ok(SignInFailures {
            failures,
            last_failure_at,
            blocked_until,
        })
    }

    async fn block_sign_in(&mut self, key: &str, until: Millis) -> Result<()> {
        const SQL: &str = "UPDATE sign_in_failures SET blocked_until = $2 WHERE key = $1 AND blocked_until < $2";
        self.execute(SQL, &[Arg::Text(key.into()), Arg::I64(until)])
            .await
            .map(drop)
    }

    async fn recent_password_token(&mut self, user: UserId, purpose: &str, since: Millis) -> Result<bool> {
        const SQL: &str =
            "SELECT COUNT(*) FROM password_tokens WHERE user_id = $1 AND purpose = $2 AND created_at >= $3";
        self.any_since(SQL, user, purpose, since).await
    }

    async fn recent_link_mail(&mut self, user: UserId, purpose: &str, since: Millis) -> Result<bool> {
        const SQL: &str =
            "SELECT COUNT(*) FROM mail_outbox WHERE user_id = $1 AND link_purpose = $2 AND created_at >= $3";
        self.any_since(SQL, user, purpose, since).await
    }

    async fn insert_import_upload(&mut self, id_hash: &str, user: UserId, at: Millis, body: &[u8]) -> Result<()> {
        const SQL: &str = "INSERT INTO import_uploads (id_hash, user_id, created_at, body) VALUES ($1, $2, $3, $4)";
        on_conn!(self, c => sqlx::query(SQL).bind(id_hash).bind(user.0).bind(at).bind(body).execute(c).await.map(drop))
            .map_err(db_err)
    }

    async fn import_upload(&mut self, id_hash: &str) -> Result<Option<(UserId, Millis, Vec<u8>)>> {
        const SQL: &str = "SELECT user_id, created_at, body FROM import_uploads WHERE id_hash = $1";
        let row: Option<(i64, i64, Vec<u8>)> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(id_hash).fetch_optional(c).await).map_err(db_err)?;
        Ok(row.map(|(u, at, body)| (UserId(u), at, body)))
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

    async fn drop_mail_body(&mut self, id: i64) -> Result<()> {
        self.execute("UPDATE mail_outbox SET body = '' WHERE id = $1", &[Arg::I64(id)])
            .await
            .map(drop)
    }

    async fn retire_all_password_tokens(&mut self, user: UserId, at: Millis) -> Result<()> {
        const SQL: &str = "UPDATE password_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL";
        self.execute(SQL, &[Arg::I64(user.0), Arg::I64(at)]).await.map(drop)
    }

    async fn retire_password_tokens(&mut self, user: UserId, purpose: &str, at: Millis) -> Result<()> {
        const SQL: &str =
            "UPDATE password_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL";
        self.execute(SQL, &[Arg::I64(user.0), Arg::Text(purpose.into()), Arg::I64(at)])
            .await
            .map(drop)
    }

    async fn lock_enrollment(&mut self, user: UserId, course: CourseId) -> Result<Option<Enrollment>> {
        let lock = match self.inner {
            Inner::Sqlite(_) => "",
            Inner::Postgres(_) => " FOR UPDATE",
        };
        let sql = format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE user_id = $1 AND course_id = $2{lock}");
        let row: Option<EnrollmentRow> =
            on_conn!(self, c => sqlx::query_as(AssertSqlSafe(sql)).bind(user.0).bind(course.0).fetch_optional(c).await)
                .map_err(db_err)?;
        row.map(EnrollmentRow::into_enrollment).transpose()
    }

    async fn clear_sign_in_failures(&mut self, key: &str) -> Result<()> {
        self.execute("DELETE FROM sign_in_failures WHERE key = $1", &[Arg::Text(key.into())])
            .await
            .map(drop)
    }

    async fn release_sign_in_attempt(&mut self, key: &str) -> Result<()> {
        self.execute(
            "UPDATE sign_in_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0",
            &[Arg::Text(key.into())],
        )
        .await
        .map(drop)
    }

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

    async fn claim_mail(&mut self, id: i64, seen_next_attempt: Millis, until: Millis) -> Result<bool> {
        const SQL: &str =
            "UPDATE mail_outbox SET next_attempt_at = $3 WHERE id = $1 AND status = 'pending' AND next_attempt_at = $2";
        Ok(self
            .execute(SQL, &[Arg::I64(id), Arg::I64(seen_next_attempt), Arg::I64(until)])
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

    async fn insert_password_token(&mut self, t: &PasswordToken) -> Result<()> {
        const SQL: &str = "INSERT INTO password_tokens (user_id, purpose, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)";
        let args = [
            Arg::I64(t.user_id.0),
            Arg::Text(t.purpose.clone()),
            Arg::Text(t.token_hash.clone()),
            Arg::I64(t.created_at),
            Arg::I64(t.expires_at),
        ];
        self.execute(SQL, &args).await.map(drop)
    }

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

    async fn job(&mut self, id: i64) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row: Option<JobRow> =
            on_conn!(self, c => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(c).await).map_err(db_err)?;
        Ok(row.map(JobRecord::from))
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
            let mut args = vec![Arg::I64(job)];
            let mut values = Vec::with_capacity(chunk.len());
            for (i, user) in chunk.iter().enumerate() {
                args.push(Arg::I64((n * ROWS + i) as i64));
                args.push(Arg::I64(user.0));
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

    async fn pending_job_items(&mut self, job: i64, after: i64, limit: i64) -> Result<Vec<(i64, UserId)>> {
        const SQL: &str = "SELECT seq, user_id FROM job_items WHERE job_id = $1 AND seq > $2 AND outcome IS NULL \
             ORDER BY seq LIMIT $3";
        let rows: Vec<(i64, i64)> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(job).bind(after).bind(limit).fetch_all(c).await)
                .map_err(db_err)?;
        Ok(rows.into_iter().map(|(seq, user)| (seq, UserId(user))).collect())
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
            Arg::I64(job),
            Arg::I64(held),
            Arg::I64(done),
            Arg::I64(failed),
            Arg::I64(lease_until),
            Arg::I64(finished_at.unwrap_or(0)),
        ];
        Ok(self.execute(SQL, &args).await? == 1)
    }

    async fn fail_job(&mut self, job: i64, held: Millis, at: Millis) -> Result<bool> {
        const SQL: &str = "UPDATE jobs SET status = 'failed', finished_at = $3 WHERE id = $1 AND lease_until = $2 AND status = 'running'";
        Ok(self
            .execute(SQL, &[Arg::I64(job), Arg::I64(held), Arg::I64(at)])
            .await?
            == 1)
    }

    async fn job_outcomes(&mut self, job: i64, after: i64, limit: i64) -> Result<Vec<(i64, String)>> {
        const SQL: &str = "SELECT seq, outcome FROM job_items WHERE job_id = $1 AND seq > $2 AND outcome IS NOT NULL \
             ORDER BY seq LIMIT $3";
        on_conn!(self, c => sqlx::query_as(SQL).bind(job).bind(after).bind(limit).fetch_all(c).await).map_err(db_err)
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

    async fn insert_audit(&mut self, e: &NewAuditEntry, tag: &(dyn Fn(i64) -> String + Send + Sync)) -> Result<i64> {
        const SQL: &str = "INSERT INTO audit_log (at, actor_kind, actor_user_id, actor_ref, channel, action, target_kind, \
             target_id, request_id, personal_digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
        let (id,): (i64,) = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(e.at)
            .bind(e.actor_kind.as_str())
            .bind(e.actor_user_id.map(|u| u.0))
            .bind(e.actor_ref.as_deref())
            .bind(e.channel.as_str())
            .bind(e.action.as_str())
            .bind(e.target_kind.as_deref())
            .bind(e.target_id)
            .bind(e.request_id.as_deref())
            .bind(e.personal_digest.as_str())
            .fetch_one(c)
            .await)
        .map_err(db_err)?;
        const PERSONAL: &str = "INSERT INTO audit_personal (entry_id, salt, data) VALUES ($1, $2, $3)";
        self.execute(
            PERSONAL,
            &[Arg::I64(id), Arg::Text(e.salt.clone()), Arg::Text(e.personal.clone())],
        )
        .await?;
        // The tag covers the id, which the database has only just given.
        self.execute(
            "UPDATE audit_log SET tag = $2 WHERE id = $1",
            &[Arg::I64(id), Arg::Text(tag(id))],
        )
        .await?;
        Ok(id)
    }

    async fn list_audit(&mut self, q: &AuditQuery) -> Result<Vec<AuditRow>> {
        let mut f = Filter::default();
        if let Some(t) = q.since {
            let p = f.arg(Arg::I64(t));
            f.push(format!("a.at >= {p}"));
        }
        if let Some(u) = q.actor_user {
            let p = f.arg(Arg::I64(u.0));
            f.push(format!("a.actor_user_id = {p}"));
        }
        if let Some(u) = q.target_user {
            let p = f.arg(Arg::I64(u.0));
            f.push(format!("a.target_kind = 'user' AND a.target_id = {p}"));
        }
        if let Some(action) = &q.action {
            let p = f.arg(Arg::Text(action.clone()));
            f.push(format!("a.action = {p}"));
        }
        if let Some(b) = q.before {
            let p = f.arg(Arg::I64(b));
            f.push(format!("a.id < {p}"));
        }
        self.audit_where(f, "a.id DESC", q.limit).await
    }

    async fn erase_audit_personal(&mut self, user: UserId, at: Millis) -> Result<u64> {
        const SQL: &str = "UPDATE audit_personal SET salt = NULL, data = NULL, erased_at = $2 \
             WHERE erased_at IS NULL AND entry_id IN \
             (SELECT id FROM audit_log WHERE (target_kind = 'user' AND target_id = $1) OR actor_user_id = $1)";
        self.execute(SQL, &[Arg::I64(user.0), Arg::I64(at)]).await
    }

    async fn lock_audit_head(&mut self) -> Result<AuditHead> {
        // A no-op write takes the row lock on PostgreSQL; SQLite's write lock is held already.
        self.execute("UPDATE audit_head SET seq = seq WHERE id = 1", &[])
            .await?;
        self.head().await
    }

    async fn audit_head(&mut self) -> Result<AuditHead> {
        self.head().await
    }

    async fn set_audit_head(&mut self, head: &AuditHead) -> Result<()> {
        // keyed_from is the migration's to set; the sealer writes position, hash and tag.
        const SQL: &str = "UPDATE audit_head SET seq = $1, hash = $2, tag = $3 WHERE id = 1";
        let tag = Arg::Text(head.tag.clone().unwrap_or_default());
        self.execute(SQL, &[Arg::I64(head.seq), Arg::Text(head.hash.clone()), tag])
            .await
            .map(drop)
    }

    async fn unsealed_audit(&mut self, limit: i64) -> Result<Vec<AuditRow>> {
        let mut f = Filter::default();
        f.push("a.chain_seq IS NULL AND a.refused_at IS NULL".into());
        self.audit_where(f, "a.id", limit).await
    }

    async fn count_unsealed_audit(&mut self) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM audit_log WHERE chain_seq IS NULL AND refused_at IS NULL";
        self.fetch_i64(SQL.into(), &[]).await
    }

    async fn refuse_audit(&mut self, id: i64, at: Millis) -> Result<()> {
        const SQL: &str = "UPDATE audit_log SET refused_at = $2 WHERE id = $1 AND chain_seq IS NULL";
        self.execute(SQL, &[Arg::I64(id), Arg::I64(at)]).await.map(drop)
    }

    async fn refused_audit(&mut self, limit: i64) -> Result<Vec<AuditRow>> {
        let mut f = Filter::default();
        f.push("a.chain_seq IS NULL AND a.refused_at IS NOT NULL".into());
        self.audit_where(f, "a.id", limit).await
    }

    async fn seal_audit(&mut self, id: i64, seq: i64, prev_hash: &str, hash: &str) -> Result<()> {
        const SQL: &str =
            "UPDATE audit_log SET chain_seq = $2, prev_hash = $3, hash = $4 WHERE id = $1 AND chain_seq IS NULL";
        let n = self
            .execute(
                SQL,
                &[
                    Arg::I64(id),
                    Arg::I64(seq),
                    Arg::Text(prev_hash.into()),
                    Arg::Text(hash.into()),
                ],
            )
            .await?;
        if n != 1 {
            return Err(Error::internal(format!("audit entry {id} was sealed concurrently")));
        }
        Ok(())
    }

    async fn audit_chain(&mut self, after_seq: i64, limit: i64) -> Result<Vec<AuditRow>> {
        let mut f = Filter::default();
        let p = f.arg(Arg::I64(after_seq));
        f.push(format!("a.chain_seq > {p}"));
        self.audit_where(f, "a.chain_seq", limit).await
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
        match &mut tx.inner {
            Inner::Sqlite(c) => {
                let rows: Vec<(i64, i64, i64, String)> = bind_args!(
                    sqlx::query_as(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}"))),
                    &args
                )
                .fetch_all(&mut **c)
                .await
                .unwrap();
                rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
            }
            Inner::Postgres(c) => {
                // With sorting priced out, a plan still sorts only if no index gives the order.
                for set in ["SET LOCAL enable_sort = off", "SET LOCAL enable_incremental_sort = off"] {
                    sqlx::query(set).execute(&mut **c).await.unwrap();
                }
                let rows: Vec<(String,)> = bind_args!(sqlx::query_as(AssertSqlSafe(format!("EXPLAIN {sql}"))), &args)
                    .fetch_all(&mut **c)
                    .await
                    .unwrap();
                rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n")
            }
        }
    }

    // A page of a sorted list must read its rows from an index in order, never sort the
    // table, and a page after a cursor must seek to it rather than walk up to it: that is
    // what keeps every page cheap at a million users.
    both_backends!(every_user_list_order_reads_an_index_in_order, |db: TestDb| async move {
        let store = SqlStore::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let mut tx = SqlTx {
            inner: store.begin_inner().await.unwrap(),
        };
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
