//! The transaction type and the one implementation of the core's transaction traits for
//! both backends, one file per aggregate (`users.rs`, `org.rs` … as in `rollcall_core::ports`).
//!
//! Every statement is written once, with `$N` placeholders, and its values are passed as a
//! slice of [`Arg`] to one of `SqlTx`'s runners (`execute`, `fetch_one`, `fetch_optional`,
//! `fetch_all`), which bind them the same way on either driver (`on_conn!`). Where the
//! backends differ is `dialect.rs`.

mod audit;
mod auth;
pub(crate) mod copy;
mod courses;
pub(crate) mod dialect;
mod filter;
mod idle;
mod jobs;
mod org;
mod outbox;
mod seats;
mod settings;
mod users;

use crate::db_err;
use crate::rows::*;
use async_trait::async_trait;
use filter::*;
use rollcall_core::domain::*;
use rollcall_core::ports::prelude::*;
use rollcall_core::ports::{
    AuditHead, AuditQuery, AuditRow, AuditSeal, DailyRunRecord, GroupQuery, IdleQuery, JobRecord, NewAuditEntry,
    OutboxMail, PasswordToken, SessionRecord, SignInFailureTally, SignInFailures, UserQuery,
};
use rollcall_core::{ConflictCode, Error, Result};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, FromRow, SqlSafeStr};
use std::borrow::Cow;

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

/// A value bound to a `$N` placeholder. A NULL keeps its type (`Int(None)`, `Text(None)`):
/// PostgreSQL takes a parameter's type from the value bound, so a NULL compared with a
/// column (`$1 IS NULL OR id_hash = $1`) must say what it would have been.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<Cow<'a, str>>),
    Bool(Option<bool>),
    Bytes(Option<Cow<'a, [u8]>>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(Some(v))
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Some(Cow::Owned(v)))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(Some(Cow::Borrowed(v)))
    }
}

/// Ids bind as their integer, absent ones as a NULL integer.
macro_rules! id_args {
    ($($id:ty),*) => {$(
        impl From<$id> for Arg<'_> {
            fn from(v: $id) -> Self {
                Arg::Int(Some(v.0))
            }
        }
        impl From<Option<$id>> for Arg<'_> {
            fn from(v: Option<$id>) -> Self {
                Arg::Int(v.map(|v| v.0))
            }
        }
    )*};
}
id_args!(UserId, BranchId, GroupId, CourseId, UserTypeId);

/// `[Arg; N]` from values of any type an `Arg` is made from.
macro_rules! args {
    ($($v:expr),* $(,)?) => { [$($crate::tx::Arg::from($v)),*] };
}
pub(crate) use args;

/// Binds `Arg`s in order onto a query of either driver.
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(s) => q.bind(s.as_deref()),
                Arg::Bool(b) => q.bind(*b),
                Arg::Bytes(b) => q.bind(b.as_deref()),
            };
        }
        q
    }};
}

/// What both drivers can decode a result row into.
pub(crate) trait Row: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}
impl<T> Row for T where T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}

/// The statement runners: every query of the store goes through one of these. The `try_`
/// forms leave the driver's error to the caller (to recognise a unique-index violation).
impl SqlTx {
    async fn try_execute(&mut self, sql: impl SqlSafeStr + Send, args: &[Arg<'_>]) -> sqlx::Result<u64> {
        on_conn!(self, c => bind_args!(sqlx::query(sql), args).execute(c).await.map(|r| r.rows_affected()))
    }

    async fn try_fetch_all<T: Row>(&mut self, sql: impl SqlSafeStr + Send, args: &[Arg<'_>]) -> sqlx::Result<Vec<T>> {
        on_conn!(self, c => bind_args!(sqlx::query_as(sql), args).fetch_all(c).await)
    }

    async fn try_fetch_one<T: Row>(&mut self, sql: impl SqlSafeStr + Send, args: &[Arg<'_>]) -> sqlx::Result<T> {
        on_conn!(self, c => bind_args!(sqlx::query_as(sql), args).fetch_one(c).await)
    }

    /// Runs a statement; returns how many rows it changed.
    async fn execute(&mut self, sql: impl SqlSafeStr + Send, args: &[Arg<'_>]) -> Result<u64> {
        self.try_execute(sql, args).await.map_err(db_err)
    }

    async fn fetch_one<T: Row>(&mut self, sql: impl SqlSafeStr + Send, args: &[Arg<'_>]) -> Result<T> {
        self.try_fetch_one(sql, args).await.map_err(db_err)
    }

    async fn fetch_optional<T: Row>(&mut self, sql: impl SqlSafeStr + Send, args: &[Arg<'_>]) -> Result<Option<T>> {
        on_conn!(self, c => bind_args!(sqlx::query_as(sql), args).fetch_optional(c).await).map_err(db_err)
    }

    async fn fetch_all<T: Row>(&mut self, sql: impl SqlSafeStr + Send, args: &[Arg<'_>]) -> Result<Vec<T>> {
        on_conn!(self, c => bind_args!(sqlx::query_as(sql), args).fetch_all(c).await).map_err(db_err)
    }

    /// The single integer a query selects (a count).
    async fn fetch_i64(&mut self, sql: impl SqlSafeStr + Send, args: &[Arg<'_>]) -> Result<i64> {
        let (n,): (i64,) = self.fetch_one(sql, args).await?;
        Ok(n)
    }

    /// The first column of every row, as integers (ids).
    async fn ids(&mut self, sql: impl SqlSafeStr + Send, args: &[Arg<'_>]) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = self.fetch_all(sql, args).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

#[async_trait]
impl Transaction for SqlTx {
    async fn commit(self: Box<Self>) -> Result<()> {
        match self.inner {
            Inner::Sqlite(t) => t.commit().await,
            Inner::Postgres(t) => t.commit().await,
        }
        .map_err(db_err)
    }
}

/// Reads more than one aggregate uses.
impl SqlTx {
    /// Whether `count` (a COUNT over user $1, purpose $2, since $3) finds any row.
    async fn any_since(&mut self, count: &'static str, user: UserId, purpose: &str, since: Millis) -> Result<bool> {
        Ok(self.fetch_i64(count, &args![user, purpose, since]).await? > 0)
    }

    /// A name per user of `users` (`select` yields user id and name), in one statement.
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
        let ps: Vec<String> = users.iter().map(|u| f.arg(*u)).collect();
        let sql = format!(
            "{select} WHERE {user_col} IN ({}) ORDER BY {user_col}, {order}",
            ps.join(", ")
        );
        let rows: Vec<(i64, String)> = self.fetch_all(AssertSqlSafe(sql), &f.args).await?;
        Ok(rows.into_iter().map(|(u, n)| (UserId(u), n)).collect())
    }
}

/// A unique-index violation as a conflict the caller understands.
fn unique_conflict(e: sqlx::Error, code: ConflictCode, message: String) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Error::conflict(code, message),
        _ => db_err(e),
    }
}

/// Rows per multi-row statement of `columns` values each. Small: SQLite's driver looks each
/// bound parameter up by name among all of the statement's, so binding costs grow with the
/// square of the parameters, and past a few hundred that outweighs the round trips saved.
pub(crate) const fn rows_per_statement(columns: usize) -> usize {
    let rows = 256 / columns;
    if rows == 0 { 1 } else { rows }
}

/// The `VALUES` list of a multi-row statement: `($1, $2), ($3, $4)` for `rows`, and their
/// arguments in order. Every row must have the same number of values.
fn values_list<'a>(rows: impl IntoIterator<Item = Vec<Arg<'a>>>) -> (String, Vec<Arg<'a>>) {
    let mut sql = String::new();
    let mut args = Vec::new();
    for row in rows {
        if !args.is_empty() {
            sql.push_str(", ");
        }
        sql.push('(');
        for (i, a) in row.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            args.push(a);
            sql.push_str(&format!("${}", args.len()));
        }
        sql.push(')');
    }
    (sql, args)
}

#[cfg(test)]
mod values_tests {
    use super::*;

    #[test]
    fn a_values_list_numbers_its_placeholders_in_order() {
        let (sql, args) = values_list([args![1i64, "a"].to_vec(), args![2i64, "b"].to_vec()]);
        assert_eq!(sql, "($1, $2), ($3, $4)");
        assert_eq!(args, args![1i64, "a", 2i64, "b"].to_vec());
    }
}
